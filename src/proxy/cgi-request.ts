// A client's request as a Python worker gets it (docs/protocol.md §3): the fields of the REQUEST
// frame (and of a websocket's WS_CONNECT, which has the same payload, §8) and its CGI pairs,
// decided in this one place: the route's split, the peer as --trust-proxy rules decide, the
// client's headers as CGI names without the hop-by-hop ones (an ASGI app's keep those with `_`),
// X-Forwarded-* as the gateway states them.
import type { IncomingMessage } from 'node:http';
import type { RequestLine } from '../link/request-frame.js';
import { connectionListed, trustedView, untrustedPairs } from './forwarded-headers.js';
import { asgiName, cgiName, type RequestRoute } from './request-route.js';

export interface CgiRequest {
  line: RequestLine;
  /** `\0NAME\0value` for each CGI variable, in the order the client sent its headers. */
  pairs: string;
}

/** `\0NAME\0` for each name met: the part of a pair before its value, made once, not per request. */
const pairPrefixes = new Map<string, string>();

function pairPrefix(name: string): string {
  let prefix = pairPrefixes.get(name);
  if (prefix === undefined) {
    prefix = `\0${name}\0`;
    // Names are the client's: bounded as request-route.ts bounds their CGI names.
    if (pairPrefixes.size >= 4096) pairPrefixes.clear();
    pairPrefixes.set(name, prefix);
  }
  return prefix;
}

/**
 * The frame fields of `req` going to `route`. `line.body` is the body marker: '' (none), the
 * client's Content-Length, or `chunked`. The caller refuses a path with NUL (it separates fields).
 * `upgrade`: a websocket's handshake, whose `Connection` and `Upgrade` an ASGI app's scope has
 * as the client sent them (uvicorn and Daphne pass them; the handshake is the app's to accept).
 * `asgi`: the app is an ASGI app, whose headers keep names with `_` (request-route.ts asgiName).
 */
export function cgiRequest(req: IncomingMessage, route: RequestRoute, upgrade = false, asgi = false): CgiRequest {
  const headers = req.headers;
  // Fields the client's Connection header names are hop-by-hop too (RFC 9110 7.6.1).
  let drop = headers.connection === undefined ? null : connectionListed(headers.connection);
  const trusted = route.trustProxy ? trustedView(req, route, route.trustProxy) : null;
  if (trusted !== null && trusted.host !== null) {
    drop = new Set(drop);
    drop.add('HTTP_HOST');
  }
  const raw = req.rawHeaders;
  const nameOf = asgi ? asgiName : cgiName;
  let pairs = '';
  let body = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = nameOf(raw[i]);
    if (name === null || (drop !== null && drop.has(name))) continue;
    const value = raw[i + 1];
    if (name === 'CONTENT_LENGTH' && value !== '0') body = value;
    pairs += pairPrefix(name) + value;
  }
  // Node accepts chunked as the final coding only.
  if (body === '' && headers['transfer-encoding'] !== undefined) body = 'chunked';
  if (upgrade) pairs += `\0HTTP_CONNECTION\0${headers.connection ?? ''}\0HTTP_UPGRADE\0${headers.upgrade ?? ''}`;

  const peer = trusted ?? route;
  if (trusted === null) pairs += untrustedPairs(route, headers.host);
  else pairs += trusted.host === null ? trusted.pairs : `${trusted.pairs}\0HTTP_HOST\0${trusted.host}`;
  // Over a unix socket an ASGI scope's `server` is [path, None] (the port '' becomes None), as
  // uvicorn --uds has it, unless a proxy we trust stated the host. A WSGI environ keeps a
  // SERVER_NAME and SERVER_PORT (PEP 3333: never empty).
  const atPath = asgi && route.listenerPath !== null && (trusted === null || !trusted.hostForwarded);
  return {
    line: {
      method: req.method ?? 'GET',
      scheme: peer.scheme,
      serverName: atPath ? route.listenerPath! : peer.serverName,
      serverPort: atPath ? '' : peer.serverPort,
      remoteAddr: peer.remoteAddr,
      // 0: no port known (a unix-socket peer, a client a trusted proxy names): sent empty, so
      // that the environ has no REMOTE_PORT rather than a "0" a log would print as a port.
      remotePort: peer.remotePort === 0 ? '' : peer.remotePort,
      scriptName: route.scriptName,
      pathInfo: route.pathInfo,
      queryString: route.queryString,
      requestUri: req.url ?? '/',
      protocol: req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`,
      body,
    },
    pairs,
  };
}
