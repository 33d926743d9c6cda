// A request as the WSGI worker will see it: where it goes (SCRIPT_NAME/PATH_INFO, the peer,
// the scheme), percent-decoding to PEP 3333's bytes-as-latin-1, and which client header names
// become which CGI names (and which never reach the app). forward-wsgi.ts sends it.

import type { IncomingMessage } from 'node:http';
import { HOP_BY_HOP_HEADERS, isForwardingHeader, type TrustProxy } from './forwarded-headers.js';

/** Where the request is going, as the router and the forwarded-headers rules decided. */
export interface WsgiRoute {
  /** The mount, percent-decoded (bytes as latin-1), '' for the root; never '/'. */
  scriptName: string;
  /** The rest of the path, percent-decoded (bytes as latin-1), starting with '/' (or ''). */
  pathInfo: string;
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  serverName: string;
  serverPort: number;
  /** The raw query (after '?'); taken from req.url when absent. */
  queryString?: string;
  /**
   * `--trust-proxy` compiled (forwarded-headers.ts compileTrustProxy): when the peer is
   * trusted, X-Forwarded-For/-Proto/-Host decide REMOTE_ADDR, the scheme and the host.
   * Absent or null: no one is trusted, and the client's X-Forwarded-* are replaced.
   */
  trustProxy?: TrustProxy | null;
}

const cgiNames = new Map<string, string | null>();

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

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** Percent-decode a raw path to bytes-as-latin-1 (PEP 3333's PATH_INFO); bad escapes stay. */
export function decodePath(raw: string): string {
  let i = raw.indexOf('%');
  if (i === -1) return raw;
  let out = '';
  let last = 0;
  while (i !== -1) {
    const high = hexValue(raw.charCodeAt(i + 1));
    const low = high < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
    if (low < 0) {
      i = raw.indexOf('%', i + 1);
      continue;
    }
    out += raw.slice(last, i) + String.fromCharCode(high * 16 + low);
    last = i + 3;
    i = raw.indexOf('%', last);
  }
  return out + raw.slice(last);
}

/**
 * The route of a request served at `mount` ('' = the root) when nothing else decides:
 * address and scheme from the socket, server name from Host. The router builds its own.
 */
export function routeFromRequest(req: IncomingMessage, mount = ''): WsgiRoute {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let path = decodePath(q === -1 ? url : url.slice(0, q));
  if (mount !== '' && (path === mount || path.startsWith(`${mount}/`))) path = path.slice(mount.length);
  const socket = req.socket;
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const bracket = host.lastIndexOf(']');
  const serverName = colon > bracket ? host.slice(0, colon) : host;
  return {
    scriptName: mount,
    pathInfo: path,
    remoteAddr: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    serverName: serverName || (socket.localAddress ?? 'localhost'),
    serverPort: socket.localPort ?? 0,
  };
}
