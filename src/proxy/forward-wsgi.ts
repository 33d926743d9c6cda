// A client's request as the WSGI worker gets it: Node has parsed it already, so it goes on
// pre-parsed, as one REQUEST frame of NUL-separated latin-1 fields (docs/protocol.md §3,
// cgi-request.ts), or, when the front has its body whole already (the lean lane read it with
// the head), as one REQUEST_FULL with the body in it. Its body and its response are the
// exchange's (wsgi-exchange.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeRequest, encodeRequestFull } from '../link/request-frame.js';
import { announcedBody } from '../net/announced-body.js';
import type { WorkerLink } from '../link/worker-link.js';
import { answerFailure } from './error-response.js';
import { cgiRequest } from './cgi-request.js';
import { forwardedHostProblem } from './forwarded-headers.js';
import type { WholeBodyAtDispatch } from './lean-request.js';
import type { RequestRoute } from './request-route.js';
import { tooLargeLine, WsgiExchange, type ForwardOptions } from './wsgi-exchange.js';

export { expireRequests, expireSilent, reclaimWaiting, tallyOnceSettled, type ForwardOptions, type Redispatch } from './wsgi-exchange.js';

const NO_OPTIONS: ForwardOptions = {};

/**
 * Forward one request to the worker behind `link`. Returns false, having answered nothing,
 * when the link takes no more requests (closed, or its worker stopping): the caller gives it
 * to another worker. Answers itself (and returns true) for a path with %00 (NUL separates the
 * frame's fields), 400, a trusted proxy's X-Forwarded-Host that names no host, 400, and a
 * Content-Length over maxBody, or a chunked body whose size lines read so far announce more
 * (it waited for a worker meanwhile, or comes back unrun), 413.
 */
export function forwardWsgi(
  link: WorkerLink,
  req: IncomingMessage,
  res: ServerResponse,
  route: RequestRoute,
  options: ForwardOptions = NO_OPTIONS,
): boolean {
  const refused = refusalAtWorker(req, route);
  if (refused !== null) {
    answerFailure(res, refused.kind, { detail: refused.detail });
    return true;
  }
  const { line, pairs } = cgiRequest(req, route, false, options.asgi === true);
  const body = line.body;
  if (body !== '' && options.maxBody !== undefined && (body === 'chunked' ? announcedBody(req) : Number(body)) > options.maxBody) {
    refuseTooLarge(req, res, options, body);
    return true;
  }

  const exchange = new WsgiExchange(link, req, res, route, options);
  const id = link.open(exchange);
  if (id === 0) return false;
  exchange.id = id;
  const whole = body !== '' && body !== 'chunked' ? (req as Partial<WholeBodyAtDispatch>).takeWholeBody?.() : null;
  if (whole != null) {
    // The front has the whole body now: one frame, one dispatch in the worker, where REQUEST,
    // REQUEST_BODY and REQUEST_END were three (docs/performance.md, H270).
    link.write(encodeRequestFull(id, line, pairs, whole));
    exchange.attachWhole(whole.length);
    return true;
  }
  link.write(encodeRequest(id, line, pairs));

  exchange.attach(body !== '', body === 'chunked');
  return true;
}

/**
 * Why the way to a worker refuses `req` whichever worker takes it and whatever its body: a path
 * with %00 (NUL separates the frame's fields), a trusted proxy's X-Forwarded-Host that names no
 * host; null when neither (no allocation then: every request asks). An ASGI websocket is
 * refused for the same (forward-websocket.ts); a sleeping app is not woken for either
 * (app-dispatcher.ts): its 400 needs no app.
 */
export function refusalAtWorker(req: IncomingMessage, route: RequestRoute): { kind: 'bad-path' | 'bad-forwarded-host'; detail: string } | null {
  if (route.pathInfo.includes('\0') || route.scriptName.includes('\0')) return { kind: 'bad-path', detail: 'the path contains %00' };
  const hostProblem = route.trustProxy === null ? null : forwardedHostProblem(req, route, route.trustProxy);
  return hostProblem === null ? null : { kind: 'bad-forwarded-host', detail: hostProblem };
}

/**
 * The body marker (its Content-Length, or `chunked`) of a request whose body is over maxBody
 * already, as its head says or its size lines read so far announce; null while it may pass. As
 * cgiRequest reads the framing: a Content-Length of 0 is no body.
 */
export function bodyPastMax(req: IncomingMessage, maxBody: number | undefined): string | null {
  if (maxBody === undefined) return null;
  const length = req.headers['content-length'];
  if (length !== undefined && length !== '0') return Number(length) > maxBody ? length : null;
  if (req.headers['transfer-encoding'] === undefined) return null;
  return announcedBody(req) > maxBody ? 'chunked' : null;
}

/** 413 before the app sees anything, said in the app's log with its fix; the body is not worth reading: closed after. */
export function refuseTooLarge(req: IncomingMessage, res: ServerResponse, options: ForwardOptions, body: string): void {
  options.report?.(tooLargeLine(req, options, body));
  answerFailure(res, 'too-large', { detail: `the request body is larger than ${options.maxBody} bytes` });
}
