// What a proxy must not pass on, and what it must say about the client (RFC 9110 §7.6.1).
//
// - Hop-by-hop request headers describe the client's connection to us, not the request:
//   Connection and every field it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
//   Transfer-Encoding. None of them reaches the app as HTTP_*.
// - X-Forwarded-For / -Proto / -Host are set from what the gateway saw: the peer address, the
//   scheme of the listener and the Host header. What a client sent under those names (and
//   Forwarded, X-Real-IP, the other X-Forwarded-*) is dropped, never passed on as truth.
// - Behind a proxy we trust (`--trust-proxy [ADDR,...]`), and only when the peer is that proxy,
//   those headers count: REMOTE_ADDR is the right-most address of X-Forwarded-For that we do not
//   trust (`--trust-proxy` without addresses trusts the peer, whoever it is, as one hop: the
//   right-most address), wsgi.url_scheme the right-most X-Forwarded-Proto, HTTP_HOST and
//   SERVER_NAME the right-most X-Forwarded-Host, SERVER_PORT the right-most X-Forwarded-Port
//   (as werkzeug's ProxyFix with one hop reads them), which HTTP_HOST then names too.
//   Left-most entries are whatever the client claimed: never believed past a hop we trust.

import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { GatewayError } from '../errors.js';
import { withoutEmptyPort } from '../net/request-head.js';
import { addLoopback } from '../net/loopback.js';

/** Lowercase names of the hop-by-hop request headers (RFC 9110 §7.6.1, RFC 9112 §6.1). */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Fields a Connection header may not remove: they frame or route the request itself. */
const NOT_HOP_BY_HOP = new Set(['host', 'content-length', 'content-type']);

/**
 * Headers that claim what a proxy in front of us saw. From a peer we do not trust they are
 * whatever the client wanted to claim, so they are dropped (and For/Proto/Host rebuilt).
 */
export function isForwardingHeader(lowerName: string): boolean {
  return lowerName.startsWith('x-forwarded-') || lowerName === 'forwarded' || lowerName === 'x-real-ip';
}

/** Who may tell us, through X-Forwarded-*, who the client is. */
export interface TrustProxy {
  /**
   * `--trust-proxy` without addresses: whoever connects is the proxy (the gateway is reachable
   * only through it), trusted for one hop; the addresses it reports are not proxies.
   */
  readonly all: boolean;
  /** A peer address; '' is a unix-socket peer, a local process: trusted with `loopback`. */
  trusts(address: string): boolean;
}

/**
 * `--trust-proxy` as given: false/undefined (trust no one, the default), true (trust every
 * peer: the gateway is only reachable through the proxy), or a list of addresses, CIDR ranges
 * (`10.0.0.0/8`, `fd00::/8`) and `loopback`. Returns null when no one is trusted.
 * Throws APPPKG_TRUST_PROXY_INVALID naming the first entry that is none of these, and `key`, the
 * option it came in (the library's `trustProxy`; the CLI's `--trust-proxy` by default).
 */
export function compileTrustProxy(value: boolean | readonly string[] | undefined | null, key = '--trust-proxy'): TrustProxy | null {
  if (value === true) return { all: true, trusts: () => true };
  if (!value || value.length === 0) return null;
  const list = new BlockList();
  let local = false;
  for (const raw of value) {
    const entry = raw.trim();
    if (entry === 'loopback') {
      addLoopback(list);
      local = true;
      continue;
    }
    const [address, bits, extra] = entry.split('/');
    const version = isIP(address);
    const max = version === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
    if (version === 0 || extra !== undefined || prefix < 0 || prefix > max) {
      throw new GatewayError('APPPKG_TRUST_PROXY_INVALID', { found: raw, key });
    }
    list.addSubnet(address, prefix, version === 6 ? 'ipv6' : 'ipv4');
  }
  return {
    all: false,
    trusts(addr: string): boolean {
      if (addr === '') return local;
      const version = isIP(addr);
      return version !== 0 && list.check(addr, version === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/**
 * The CGI names (HTTP_X_Y) of the fields a Connection header lists, except those that frame
 * the request, and for a name with `_` its ASGI name too (`:x_y`, request-route.ts asgiName);
 * null when it lists none (the common `keep-alive` / `close`).
 */
export function connectionListed(connection: string | undefined): Set<string> | null {
  if (connection === undefined) return null;
  let listed: Set<string> | null = null;
  for (const part of connection.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive' || HOP_BY_HOP_HEADERS.has(token) || NOT_HOP_BY_HOP.has(token)) continue;
    if (listed === null) listed = new Set();
    listed.add(`HTTP_${token.toUpperCase().replaceAll('-', '_')}`);
    if (token.includes('_')) listed.add(`:${token}`);
  }
  return listed;
}

/** An X-Forwarded-For entry as a bare address: `1.2.3.4:56` and `[::1]:80` lose the port. */
function bareAddress(entry: string): string | null {
  if (isIP(entry) !== 0) return entry;
  if (entry.startsWith('[')) {
    const end = entry.indexOf(']');
    const inner = end > 0 ? entry.slice(1, end) : '';
    return isIP(inner) === 6 ? inner : null;
  }
  const colon = entry.indexOf(':');
  if (colon > 0 && entry.indexOf(':', colon + 1) === -1) {
    const v4 = entry.slice(0, colon);
    return isIP(v4) === 4 ? v4 : null;
  }
  return null;
}

/**
 * The client behind a chain of proxies: walk X-Forwarded-For from the right, past the peer and
 * each address we trust; the first one we do not trust is the client (with `all`, the
 * right-most: one hop). When every one is trusted, the left-most. An entry that is not an
 * address ends the walk at the last address before it (we cannot know what lies beyond).
 */
export function clientAddress(forwardedFor: string, peer: string, trust: TrustProxy): string {
  if (!trust.trusts(peer)) return peer;
  const entries = forwardedFor.split(',');
  let client = peer;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i].trim();
    if (entry === '') continue;
    const address = bareAddress(entry);
    if (address === null) return client;
    client = address;
    if (trust.all || !trust.trusts(address)) return client;
  }
  return client;
}

/** The right-most non-empty element of a comma-separated header, or null. */
function lastElement(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const parts = joined.split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i].trim();
    if (part !== '') return part;
  }
  return null;
}

/**
 * A Host value we are willing to hand the app: host[:port], no spaces, slashes or controls. The
 * port may be empty (`host:`, RFC 3986 §6.2.3: the same as none), dropped before it goes on.
 */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]+)(?::\d{0,5})?$/;

/**
 * A trusted proxy's X-Forwarded-Host list as a `processes:` route's server gets it: each
 * element that is a host with an empty port (`host:`) without the colon, as the app's host is
 * (trustedView), the rest as sent. The process reads the list itself, as any server behind a
 * proxy does (werkzeug's ProxyFix x_host=N counts its elements; Django takes it whole): the
 * gateway changes only what RFC 3986 §6.2.3 says is the same host, which that host check
 * refuses with the colon (Django's DisallowedHost, a 400), and judges nothing else for it.
 */
export function forwardedHostList(value: string): string {
  if (!value.includes(':')) return value;
  return value
    .split(',')
    .map((part) => {
      const host = part.trim();
      return host.endsWith(':') && HOST_VALUE.test(host) ? part.replace(host, withoutEmptyPort(host)) : part;
    })
    .join(',');
}

/**
 * Why a request from a peer `trust` trusts cannot go to a worker: the right-most element of its
 * X-Forwarded-Host, the nearest proxy's word on the host the client asked for, is no host[:port]
 * (`a.example, x::`); null when it is one, or none is sent. A 400, as a Host that is no host is
 * (request-head.ts): the host is then unknown, and neither the proxy's own Host (the gateway's
 * address, to it) nor an element further left (the client's claim) stands in for it. Django
 * (USE_X_FORWARDED_HOST) answers DisallowedHost, a 400, and werkzeug's ProxyFix hands the app
 * the element as it is, which its Request.host refuses (3.1.7) or takes for none, '' (3.1.8),
 * building no URL from it. A `processes:` route's server reads the
 * list itself (forwardedHostList) and is not asked.
 */
export function forwardedHostProblem(req: IncomingMessage, peer: Pick<PeerView, 'remoteAddr'>, trust: TrustProxy | null | undefined): string | null {
  const sent = req.headers['x-forwarded-host'];
  if (sent === undefined || !trust || !trust.trusts(peer.remoteAddr)) return null;
  const last = lastElement(sent);
  if (last === null || HOST_VALUE.test(last)) return null;
  return 'the X-Forwarded-Host of the trusted proxy does not end in a host[:port]: its last element, the nearest proxy\'s, names no host to give the app';
}

function defaultPort(scheme: 'http' | 'https'): number {
  return scheme === 'https' ? 443 : 80;
}

/** The port a Host value names (`name:8080`, `[::1]:8080`); null when it names none or is not a Host. */
function hostPort(host: string | undefined): number | null {
  if (host === undefined || !HOST_VALUE.test(host)) return null;
  const colon = host.lastIndexOf(':');
  if (colon <= host.lastIndexOf(']') || colon === host.length - 1) return null;
  const port = Number(host.slice(colon + 1));
  return port >= 1 && port <= 65535 ? port : null;
}

/** What the gateway tells the app about the client, after the trust rules. */
export interface ForwardedView {
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  serverName: string;
  serverPort: number;
  /** The HTTP_HOST the app gets instead of the client's Host; null to keep the client's. */
  host: string | null;
  /** X-Forwarded-Host named the server: an ASGI scope over a unix listener has it, not [path, None]. */
  hostForwarded: boolean;
  /**
   * CGI pairs to add, each `\0NAME\0value`: X-Forwarded-For/-Proto/-Host as we state them,
   * plus (from a trusted peer only) the client's other forwarding headers, as sent.
   */
  pairs: string;
}

/** The route's own values, as the socket and the router saw them. */
export interface PeerView {
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  serverName: string;
  serverPort: number;
}

/**
 * From an untrusted peer: what we saw, stated in X-Forwarded-*. The fast path: no allocation
 * beyond the pairs string.
 */
export function untrustedPairs(peer: PeerView, host: string | undefined): string {
  // The last answer again when its three inputs are: a connection's requests (and a proxy's
  // or a load test's connections) mostly share them, and each new one was six joins of garbage.
  if (peer.remoteAddr === lastUntrusted.remoteAddr && peer.scheme === lastUntrusted.scheme && host === lastUntrusted.host) return lastUntrusted.pairs;
  const pairs = untrustedPairsOf(peer, host);
  lastUntrusted = { remoteAddr: peer.remoteAddr, scheme: peer.scheme, host, pairs };
  return pairs;
}

let lastUntrusted: { remoteAddr: string; scheme: string; host: string | undefined; pairs: string } = { remoteAddr: '', scheme: '', host: undefined, pairs: '' };

function untrustedPairsOf(peer: PeerView, host: string | undefined): string {
  if (peer.remoteAddr === '') {
    // A unix-socket peer has no address to state.
    return host === undefined ? `\0HTTP_X_FORWARDED_PROTO\0${peer.scheme}` : `\0HTTP_X_FORWARDED_PROTO\0${peer.scheme}\0HTTP_X_FORWARDED_HOST\0${host}`;
  }
  return host === undefined
    ? `\0HTTP_X_FORWARDED_FOR\0${peer.remoteAddr}\0HTTP_X_FORWARDED_PROTO\0${peer.scheme}`
    : `\0HTTP_X_FORWARDED_FOR\0${peer.remoteAddr}\0HTTP_X_FORWARDED_PROTO\0${peer.scheme}\0HTTP_X_FORWARDED_HOST\0${host}`;
}

/**
 * The view of a request whose peer `trust` trusts: X-Forwarded-For/-Proto/-Host count. The
 * app gets the whole For chain with the peer appended, as a proxy appends its own client.
 * Returns null when the peer is not trusted (use untrustedPairs).
 */
export function trustedView(req: IncomingMessage, peer: PeerView, trust: TrustProxy | null | undefined): ForwardedView | null {
  if (!trust || !trust.trusts(peer.remoteAddr)) return null;
  const headers = req.headers;
  const sentFor = headers['x-forwarded-for'];
  const forwardedFor = Array.isArray(sentFor) ? sentFor.join(', ') : (sentFor ?? '');
  const remoteAddr = clientAddress(forwardedFor, peer.remoteAddr, trust);
  const chain = peer.remoteAddr === '' ? forwardedFor : forwardedFor.trim() === '' ? peer.remoteAddr : `${forwardedFor}, ${peer.remoteAddr}`;

  const proto = lastElement(headers['x-forwarded-proto'])?.toLowerCase();
  // Traefik says wss (ws) for a websocket the client opened over TLS (not): the same secure
  // scheme, which the websocket's scope then says as wss again.
  const scheme = proto === 'https' || proto === 'wss' ? 'https' : proto === 'http' || proto === 'ws' ? 'http' : peer.scheme;

  const sentHost = lastElement(headers['x-forwarded-host']);
  // `host:` goes on as `host`, as the client's Host does (request-head.ts): the app's host
  // check (Django's) refuses the colon. Judged as sent first: `host:80:` is no host, a request
  // forwardedHostProblem refused before it came here.
  const forwardedHost = sentHost !== null && HOST_VALUE.test(sentHost) ? withoutEmptyPort(sentHost) : null;
  let host: string | null = null;
  let serverName = peer.serverName;
  // The listener's port says nothing of a scheme the proxy changed: the port the client's Host
  // names does, the scheme's own when it names none (as gunicorn and werkzeug read it).
  let serverPort = scheme !== peer.scheme ? (hostPort(headers.host) ?? defaultPort(scheme)) : peer.serverPort;
  if (forwardedHost !== null) {
    host = forwardedHost;
    const bracket = forwardedHost.lastIndexOf(']');
    const colon = forwardedHost.lastIndexOf(':');
    if (colon > bracket) {
      serverName = forwardedHost.slice(0, colon);
      serverPort = Number(forwardedHost.slice(colon + 1));
    } else {
      serverName = forwardedHost;
      serverPort = defaultPort(scheme);
    }
    if (serverName.startsWith('[')) serverName = serverName.slice(1, -1);
  }
  const hostForwarded = host !== null;
  // The port the client reached the proxy on (nginx: `X-Forwarded-Port $server_port`), over
  // any the hosts name, as werkzeug's ProxyFix x_port has it. Anything but a port is ignored.
  const forwardedPort = lastElement(headers['x-forwarded-port']);
  if (forwardedPort !== null && /^\d{1,5}$/.test(forwardedPort) && Number(forwardedPort) >= 1 && Number(forwardedPort) <= 65535) {
    serverPort = Number(forwardedPort);
    // Apps build their URLs from HTTP_HOST (Django's get_host, werkzeug's, Starlette's from the
    // host header), not SERVER_PORT: the host keeps the old port unless it names this one.
    host = hostNaming(host ?? headers.host, serverPort, scheme) ?? host;
  }
  const stated = host ?? headers.host;
  let pairs = chain === '' ? `\0HTTP_X_FORWARDED_PROTO\0${scheme}` : `\0HTTP_X_FORWARDED_FOR\0${chain}\0HTTP_X_FORWARDED_PROTO\0${scheme}`;
  if (stated !== undefined) pairs += `\0HTTP_X_FORWARDED_HOST\0${stated}`;
  // The trusted proxy's other statements (X-Forwarded-Port, -Prefix, Forwarded, X-Real-IP).
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (!isForwardingHeader(lower) || lower === 'x-forwarded-for' || lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    if (lower.includes('_')) continue;
    pairs += `\0HTTP_${lower.toUpperCase().replaceAll('-', '_')}\0${raw[i + 1]}`;
  }
  return {
    remoteAddr,
    remotePort: remoteAddr === peer.remoteAddr ? peer.remotePort : 0,
    scheme,
    serverName,
    serverPort,
    host,
    hostForwarded,
    pairs,
  };
}

/**
 * `host` (a Host value) naming `port` (the scheme's own port as no port, as a browser's Origin
 * and Django's CSRF check have it): null when it names that port already, or is not a Host.
 */
function hostNaming(host: string | undefined, port: number, scheme: 'http' | 'https'): string | null {
  if (host === undefined || !HOST_VALUE.test(host) || (hostPort(host) ?? defaultPort(scheme)) === port) return null;
  const colon = host.lastIndexOf(':');
  const name = colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
  return port === defaultPort(scheme) ? name : `${name}:${port}`;
}
