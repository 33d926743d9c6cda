// A client's request as the WSGI worker gets it: Node has parsed it already, so it goes on
// pre-parsed, as one REQUEST frame of NUL-separated latin-1 fields (docs/protocol.md §3,
// cgi-request.ts). Its body and its response are the exchange's (wsgi-exchange.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkerLink } from '../link/worker-link.js';
import { answerFailure } from './error-response.js';
import { cgiRequest, reusedCgiRequest, type CgiRequest } from './cgi-request.js';
import type { RequestRoute } from './request-route.js';
import { tooLargeLine, WsgiExchange, type ForwardOptions } from './wsgi-exchange.js';

export { expireRequests, reclaimWaiting, tallyOnceSettled, type ForwardOptions, type Redispatch } from './wsgi-exchange.js';

const NO_OPTIONS: ForwardOptions = {};
/** Every request's fields, filled anew each call: the link copies them into its frame before forwardWsgi returns. */
const fields = reusedCgiRequest();
/**
 * A forwardWsgi under way. A call made within it (none is known of; link.open's max_requests
 * callback only starts a recycle) makes its own fields rather than write over the caller's.
 */
let forwarding = false;

/**
 * Forward one request to the worker behind `link`. Returns false, having answered nothing,
 * when the link takes no more requests (closed, or its worker stopping): the caller gives it
 * to another worker. Answers itself (and returns true) for a path with %00 (NUL separates the
 * frame's fields), 400, and a Content-Length over maxBody, 413.
 */
export function forwardWsgi(
  link: WorkerLink,
  req: IncomingMessage,
  res: ServerResponse,
  route: RequestRoute,
  options: ForwardOptions = NO_OPTIONS,
): boolean {
  if (route.pathInfo.includes('\0') || route.scriptName.includes('\0')) {
    answerFailure(res, 'bad-path', { detail: 'the path contains %00' });
    return true;
  }
  const outer = forwarding;
  forwarding = true;
  try {
    return forwardFields(link, req, res, route, options, cgiRequest(req, route, false, options.asgi === true, outer ? undefined : fields));
  } finally {
    forwarding = outer;
  }
}

function forwardFields(link: WorkerLink, req: IncomingMessage, res: ServerResponse, route: RequestRoute, options: ForwardOptions, { line, pairs, peerPairs }: CgiRequest): boolean {
  const body = line.body;
  if (body !== '' && body !== 'chunked' && options.maxBody !== undefined && Number(body) > options.maxBody) {
    // Refused before the app sees anything; the body is not worth reading: close after.
    options.report?.(tooLargeLine(req, options, body));
    answerFailure(res, 'too-large', { detail: `the request body is larger than ${options.maxBody} bytes` });
    return true;
  }

  const exchange = new WsgiExchange(link, req, res, route, options);
  const id = link.open(exchange);
  if (id === 0) return false;
  exchange.id = id;
  link.writeRequest(id, line, pairs, peerPairs);

  exchange.attach(body !== '');
  return true;
}
