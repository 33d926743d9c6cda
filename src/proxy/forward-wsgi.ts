// A client's request as the WSGI worker gets it: Node has parsed it already, so it goes on
// pre-parsed, as one REQUEST frame of NUL-separated latin-1 fields (docs/protocol.md §3):
// the route's split, the peer as --trust-proxy rules decide, the headers as CGI names without
// the hop-by-hop ones. Its body and its response are the exchange's (wsgi-exchange.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeRequest } from '../link/request-frame.js';
import type { WorkerLink } from '../link/worker-link.js';
import { answerFailure } from './error-response.js';
import { connectionListed, trustedView, untrustedPairs } from './forwarded-headers.js';
import { cgiName, type RequestRoute } from './request-route.js';
import { WsgiExchange, type ForwardOptions } from './wsgi-exchange.js';

export { expireRequests, reclaimWaiting, type ForwardOptions, type Redispatch } from './wsgi-exchange.js';

const NO_OPTIONS: ForwardOptions = {};

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
  const headers = req.headers;
  // Fields the client's Connection header names are hop-by-hop too (RFC 9110 7.6.1).
  let drop = headers.connection === undefined ? null : connectionListed(headers.connection);
  const trusted = route.trustProxy ? trustedView(req, route, route.trustProxy) : null;
  if (trusted !== null && trusted.host !== null) {
    drop = new Set(drop);
    drop.add('HTTP_HOST');
  }
  const raw = req.rawHeaders;
  let pairs = '';
  let body = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = cgiName(raw[i]);
    if (name === null || (drop !== null && drop.has(name))) continue;
    const value = raw[i + 1];
    if (name === 'CONTENT_LENGTH' && value !== '0') body = value;
    pairs += `\0${name}\0${value}`;
  }
  if (body === '') {
    if (headers['transfer-encoding'] !== undefined) body = 'chunked'; // Node accepts chunked as the final coding only
  } else if (options.maxBody !== undefined && Number(body) > options.maxBody) {
    // Refused before the app sees anything; the body is not worth reading: close after.
    answerFailure(res, 'too-large', { detail: `the request body is larger than ${options.maxBody} bytes` });
    return true;
  }

  const exchange = new WsgiExchange(link, req, res, route, options);
  const id = link.open(exchange);
  if (id === 0) return false;
  exchange.id = id;

  const peer = trusted ?? route;
  if (trusted === null) pairs += untrustedPairs(route, headers.host);
  else pairs += trusted.host === null ? trusted.pairs : `${trusted.pairs}\0HTTP_HOST\0${trusted.host}`;
  link.write(
    encodeRequest(
      id,
      {
        method: req.method ?? 'GET',
        scheme: peer.scheme,
        serverName: peer.serverName,
        serverPort: peer.serverPort,
        remoteAddr: peer.remoteAddr,
        remotePort: peer.remotePort,
        scriptName: route.scriptName,
        pathInfo: route.pathInfo,
        queryString: route.queryString,
        requestUri: req.url ?? '/',
        protocol: `HTTP/${req.httpVersion}`,
        body,
      },
      pairs,
    ),
  );

  exchange.attach(body !== '');
  return true;
}
