// Where a listener listens (SPEC §3: `PORT`, `HOST:PORT` or `unix:/path`; on the command line,
// its `http://HOST:PORT/` URL too), parsed once and written back the same way in messages and
// URLs. Below the CLI, so that the gateway, the admin listener and the library take the same
// value the CLI does.
import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { GatewayError, givenAs } from '../errors.js';

export type ListenAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/** `PORT`, `HOST:PORT`, `[v6]:PORT` or `unix:/path`; `key` names the flag in the error. */
export function parseAddr(text: string, key = 'address', defaultHost = '127.0.0.1'): ListenAddress {
  const bad = () => new GatewayError('APPPKG_ADDR_INVALID', { key, found: text });
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (path === '') throw bad();
    if (!path.startsWith('/') && !path.startsWith('.')) throw relativeUnixPath(key, text, path);
    return { kind: 'unix', path };
  }
  let host = defaultHost;
  let portText = text;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (!isIPv6(host)) throw badHost(key, text, host);
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host === '' || host.includes(':')) throw bad();
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) throw bad();
  if (!v6 && !isHostSyntax(host)) throw badHost(key, text, host);
  return { kind: 'tcp', host, port };
}

/**
 * Whether `host` can name an address at all: an IPv4 address or a host name (letters, digits,
 * `-` and `_` in dot-separated labels). Anything else (`bad host`, `256.1.1.1`) was a bind's
 * ENOTFOUND (exit 1, "give an address of this host"), and for `status --admin` a URL that
 * could not be built, said as "no gateway answers ... start one": it is bad usage. A well-formed
 * name that does not resolve is left to the resolver, which says so. Numbers alone stay
 * the resolver's too: `0:8000` is 0.0.0.0 to getaddrinfo, as Django's runserver takes it.
 */
export function isHostSyntax(host: string): boolean {
  if (isIPv4(host)) return true;
  if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/.test(host) || host.length > 253) return false;
  // Four numbers are an IPv4 address or nothing (`256.1.1.1`, `10.0.0.300`).
  return !/^\d+\.\d+\.\d+\.\d+$/.test(host);
}

function badHost(key: string, text: string, host: string): GatewayError {
  const as = (value: string) => givenAs(key, value);
  const port = /:(\d+)$/.exec(text)?.[1] ?? '8000';
  return new GatewayError('APPPKG_ADDR_INVALID', {
    key,
    found: text,
    expected: `HOST:PORT with HOST an IP address or a host name (${JSON.stringify(host)} is neither)`,
    // The admin listener stays on loopback (0.0.0.0 needs a token): not offered there.
    fix: `write e.g. ${as(`127.0.0.1:${port}`)}, ${isAdminKey(key) ? '' : `${as(`0.0.0.0:${port}`)} (every interface), `}${as(`[::1]:${port}`)} or ${as(`localhost:${port}`)}`,
  });
}

/**
 * `unix:gateway.sock`: SPEC's form is `unix:/path`, and a relative path is taken only as `./`
 * says it, so that `unix:run/gw.sock`, a slash lost, does not become a socket under whatever
 * directory the command ran in. The fix writes both readings out.
 */
function relativeUnixPath(key: string, text: string, path: string): GatewayError {
  const as = (value: string) => givenAs(key, value);
  const fromRoot = path.includes('/') ? ` or ${as(`unix:/${path}`)} (from the root)` : '';
  return new GatewayError('APPPKG_ADDR_INVALID', {
    key,
    found: text,
    expected: 'unix: and an absolute path, or a relative one beginning with ./',
    fix: `write ${as(`unix:./${path}`)} (relative to the directory the command runs in)${fromRoot}`,
  });
}

/**
 * parseAddr's forms, and an address as a URL names it: `http://HOST:PORT` with or without its
 * `/`, or `HOST:PORT/`, as the gateway's own `listening on` and `admin on` lines print it, which
 * a user copies. Another scheme (`https://`) or a path is refused with the address to write;
 * `pathWhy` says why a path has no place there (the admin listener answers at its root).
 */
export function parseUrlAddr(text: string, key: string, pathWhy: string): ListenAddress {
  if (text.startsWith('unix:')) return parseAddr(text, key);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  const rest = scheme === null ? text : text.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  let addr: ListenAddress;
  try {
    addr = parseAddr(slash < 0 ? rest : rest.slice(0, slash), key);
  } catch (err) {
    // Named as it was written, with what parseAddr found wrong in it (a host that is none).
    const { expected, fix } = err instanceof GatewayError ? err.details : {};
    throw new GatewayError('APPPKG_ADDR_INVALID', { key, found: text, expected, fix });
  }
  // Named as it was written: the URL, not the HOST:PORT taken from it.
  const named = (reason: string, fix: string): GatewayError => new GatewayError('APPPKG_USAGE', { reason: `${key}: ${reason} in ${JSON.stringify(text)}`, fix });
  if (scheme !== null && scheme[1].toLowerCase() !== 'http') {
    throw named(`expected http:// or no scheme (plain HTTP is spoken there), found ${scheme[1]}://`, `write ${givenAs(key, formatAddr(addr))} (or ${addrUrl(addr)}/)`);
  }
  if (slash >= 0 && rest.slice(slash) !== '/') {
    throw named(`${pathWhy}, found the path ${JSON.stringify(rest.slice(slash))}`, `write ${givenAs(key, formatAddr(addr))} (or ${addrUrl(addr)}/)`);
  }
  return addr;
}

/** An address as a user writes it: `127.0.0.1:8000`, `[::1]:80`, `unix:/run/x.sock`. */
export function formatAddr(addr: ListenAddress): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return `${host}:${addr.port}`;
}

/** The URL a client uses to reach `addr` (a wildcard host is reached on loopback). */
export function addrUrl(addr: ListenAddress): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  const host = addr.host === '0.0.0.0' || addr.host === '::' ? '127.0.0.1' : addr.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
}

/**
 * What a wildcard host listens on, as a line that prints a loopback URL for it says beside that
 * URL (`0.0.0.0` read as 127.0.0.1 alone hid that the admin listener is open to the network);
 * null for any other host.
 */
export function wildcardReach(addr: ListenAddress): string | null {
  if (addr.kind !== 'tcp') return null;
  // Node listens on :: dual-stack (ipv6Only is never set), so IPv4 clients reach it too.
  if (addr.host === '::') return 'every address of this host, IPv4 and IPv6';
  return addr.host === '0.0.0.0' ? 'every IPv4 address of this host' : null;
}

/**
 * Whether two listeners would want the same socket, so the second one's bind fails with
 * EADDRINUSE and reads as if another process held it: the same address, or a wildcard host and
 * another on the same port (`::` takes IPv4 too, Node listening dual-stack). Port 0 is never
 * shared: each listener gets a free port of its own.
 */
export function addressesOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && resolve(a.path) === resolve(b.path);
  if (a.port !== b.port || a.port === 0) return false;
  const covers = (wild: string, other: string) => wild === '::' || (wild === '0.0.0.0' && !other.includes(':'));
  return a.host === b.host || covers(a.host, b.host) || covers(b.host, a.host);
}

/**
 * `addr` or its text, parsed; the library accepts either, and the URL forms the CLI takes: a
 * gateway's own `urls[0]` or `adminUrl`, given to the next one started on that address, was
 * refused as no ADDR.
 */
export function toAddr(value: string | number | ListenAddress, key: string): ListenAddress {
  if (typeof value === 'object') return value;
  return parseUrlAddr(String(value), key, isAdminKey(key) ? 'the admin listener answers at its root' : 'a listener takes no path');
}

/** The admin listener's option: the CLI's `--admin`, the library's `admin`. */
export const isAdminKey = (key: string): boolean => key === '--admin' || key === 'admin';

/**
 * Two listeners on one address: the second's bind failed with EADDRINUSE, reported as "another
 * process listens" when it was our own first one. Said as the usage error it is, before any bind.
 */
export function checkAddressesApart(listeners: Array<{ addr: ListenAddress; flag: string }>): void {
  listeners.forEach(({ addr, flag }, i) => {
    const earlier = listeners.slice(0, i).find((l) => addressesOverlap(l.addr, addr));
    if (earlier === undefined) return;
    const address = formatAddr(addr);
    const other = formatAddr(earlier.addr);
    const wild = [earlier.addr, addr].find((a) => a.kind === 'tcp' && (a.host === '0.0.0.0' || a.host === '::'));
    throw new GatewayError('APPPKG_ADDR_TWICE', {
      first: earlier.flag, second: flag, address, other, same: address === other, admin: [earlier.flag, flag].find(isAdminKey),
      why: wild?.kind === 'tcp' ? `${wild.host} takes port ${wild.port} on every ${wild.host === '::' ? '' : 'IPv4 '}address of this host` : 'the same socket',
    });
  });
}
