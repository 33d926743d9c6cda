// A request as the router split it and the socket saw it: the one value every forwarder reads
// (the WSGI link's environ, a process's X-Forwarded-*, a websocket's handshake), and which
// client header names become which CGI names, or ASGI names (and which never reach the app).

import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { routedRequestPath, splitTarget } from '../net/request-path.js';
import { HOP_BY_HOP_HEADERS, isForwardingHeader, type TrustProxy } from './forwarded-headers.js';

/** Where the request is going, as the router and the forwarded-headers rules decided. */
export interface RequestRoute {
  /** The mount, percent-decoded (bytes as latin-1), '' for the root; never '/'. */
  scriptName: string;
  /** The rest of the path, percent-decoded (bytes as latin-1), starting with '/' (or ''). */
  pathInfo: string;
  /**
   * pathInfo as a process's `route:` is compared with it: each `%2F` sent is ENCODED_SLASH,
   * not a separator (net/request-path.ts routedRequestPath), as for the mounts.
   */
  routedPathInfo: string;
  /** The raw query (after '?'). */
  queryString: string;
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  serverName: string;
  serverPort: number;
  /**
   * The unix socket the request came in on (`--listen unix:PATH`); null over TCP. An ASGI
   * scope's `server` is then [PATH, None] (the ASGI spec's form for a unix socket, and what
   * uvicorn --uds gives), not a host and port no one listens on.
   */
  listenerPath: string | null;
  /**
   * `--trust-proxy` compiled (forwarded-headers.ts compileTrustProxy): when the peer is
   * trusted, X-Forwarded-For/-Proto/-Host decide REMOTE_ADDR, the scheme and the host.
   * null: no one is trusted, and the client's X-Forwarded-* are replaced.
   */
  trustProxy: TrustProxy | null;
}

const cgiNames = new Map<string, string | null>();
const asgiNames = new Map<string, string | null>();

/** A client header name as a CGI variable name; null for names we never pass on. */
export function cgiName(raw: string): string | null {
  let name = cgiNames.get(raw);
  if (name !== undefined) return name;
  const upper = raw.toUpperCase();
  const lower = raw.toLowerCase();
  if (raw.includes('_')) {
    // X_Forwarded_For would become HTTP_X_FORWARDED_FOR, the same as X-Forwarded-For:
    // a client could spoof what a proxy in front of us set. nginx and Apache drop these too.
    name = null;
  } else if (upper === 'CONTENT-TYPE' || upper === 'CONTENT-LENGTH') {
    name = upper === 'CONTENT-TYPE' ? 'CONTENT_TYPE' : 'CONTENT_LENGTH';
  } else if (upper === 'PROXY') {
    name = null; // httpoxy: HTTP_PROXY must never reach the app
  } else if (HOP_BY_HOP_HEADERS.has(lower)) {
    name = null; // RFC 9110 7.6.1: about the client's connection to us, not the request
  } else if (isForwardingHeader(lower)) {
    name = null; // stated by us below (forwarded-headers.ts), never taken from the client as is
  } else {
    name = `HTTP_${upper.replaceAll('-', '_')}`;
  }
  if (cgiNames.size >= 4096) cgiNames.clear();
  cgiNames.set(raw, name);
  return name;
}

/**
 * A client header name as an ASGI worker's pair name: the CGI name (the worker turns it back
 * into the lowercase header name), or, for a name with `_`, `:` and the name lowercased, which
 * the worker passes on as it is (python-shim/apppkg_shim/asgi_scope.py). An ASGI app's headers
 * are byte names, where `api_key` is no alias of `api-key`, and uvicorn passes them on; but
 * one whose `-` spelling we never pass on (X_Forwarded_For, Connection) is dropped all the
 * same: Django's ASGIRequest makes HTTP_X_FORWARDED_FOR of `x_forwarded_for`. null for names
 * we never pass on.
 */
export function asgiName(raw: string): string | null {
  if (!raw.includes('_')) return cgiName(raw);
  let name = asgiNames.get(raw);
  if (name !== undefined) return name;
  const lower = raw.toLowerCase();
  name = cgiName(lower.replaceAll('_', '-')) === null ? null : `:${lower}`;
  if (asgiNames.size >= 4096) asgiNames.clear();
  asgiNames.set(raw, name);
  return name;
}

/**
 * The route of a request served at `mount` ('' = the root) when no router decides (tests, the
 * bench's bare link): address and scheme from the socket, server name from Host. null for a
 * target that is not a request path (routedRequestPath).
 */
export function routeFromRequest(req: IncomingMessage, mount = '', trustProxy: TrustProxy | null = null): RequestRoute | null {
  const target = splitTarget(req.url ?? '/');
  const routed = routedRequestPath(target.path);
  if (routed === null) return null;
  let { path, route } = routed;
  // As the router: an encoded slash does not end the mount (`/fa%2Fx` is not under `/fa`).
  if (mount !== '' && (route === mount || route.startsWith(`${mount}/`))) {
    path = path.slice(mount.length);
    route = route.slice(mount.length);
  }
  const socket = req.socket;
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const bracket = host.lastIndexOf(']');
  const serverName = colon > bracket ? host.slice(0, colon) : host;
  return {
    scriptName: mount,
    pathInfo: path,
    routedPathInfo: route,
    queryString: target.query,
    remoteAddr: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    serverName: serverName || (socket.localAddress ?? 'localhost'),
    serverPort: socket.localPort ?? 0,
    listenerPath: listenerPathOf(socket),
    trustProxy,
  };
}

/**
 * SERVER_NAME and SERVER_PORT for a request that came in on a unix socket, which has no
 * address the client could have addressed: the Host it sent, with the scheme's port when Host
 * names none, as gunicorn does on a unix socket (PEP 3333 and CGI: the server the client
 * addressed, and never an empty or 0 port). No usable Host (HTTP/1.0): localhost.
 */
export function addressedServer(host: string | undefined, scheme: 'http' | 'https'): { serverName: string; serverPort: number } {
  const defaultPort = scheme === 'https' ? 443 : 80;
  const m = host === undefined ? null : /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)(?::(\d{0,5}))?$/.exec(host);
  if (m === null) return { serverName: 'localhost', serverPort: defaultPort };
  const name = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
  const port = m[2] === undefined || m[2] === '' ? defaultPort : Number(m[2]); // `host:` is allowed (RFC 3986 §3.2.3)
  return { serverName: name, serverPort: port > 0 && port < 65536 ? port : defaultPort };
}

/** The path of the unix socket `socket` was accepted on; null for a TCP connection. */
export function listenerPathOf(socket: Socket): string | null {
  // A TCP connection always has a local address; a unix one never has.
  if (socket.localAddress !== undefined) return null;
  const address = (socket as Socket & { server?: Server }).server?.address();
  return typeof address === 'string' ? address : null;
}
