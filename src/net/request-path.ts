// The one percent-decoder of request paths. PEP 3333 wants PATH_INFO as bytes-as-latin-1; the
// router, static files, the WSGI link and the health probe all need the path the app will see,
// decoded the same way, or a path could route one way and reach the app as another.

/**
 * Percent-decodes a request path into PEP 3333's "bytes as latin-1" string (bad escapes stay
 * as they are) and removes `.` segments (RFC 3986 §5.2.4). Returns null for a path that cannot
 * be a request path: no leading slash, a NUL byte, or a `..` segment, literal or encoded
 * (`%2e%2e`, `..%2f`). Clients resolve `..` before they send (browsers, curl, undici all do), so
 * one that arrives is a traversal attempt: resolving it would route `/blog/static/../secret.txt`
 * to the app as `/secret.txt`, past anything that looked at the path as it was sent
 * (test/reliability/client-input.test.ts).
 */
export function decodeRequestPath(rawPath: string): string | null {
  const routed = routedRequestPath(rawPath);
  return routed === null ? null : routed.path;
}

/**
 * Stands for an encoded slash in the path the router compares: never a char of a decoded path
 * (those are latin-1, one per octet), and one char long as `/` is, so that the routed path and
 * the decoded one line up char for char and a mount's length splits both alike.
 */
export const ENCODED_SLASH = '\u2215';

/** A request path twice: as the router compares it, and as the app gets it. */
export interface RoutedPath {
  /** Decoded, but each `%2F` is ENCODED_SLASH: data inside a segment, not a separator. */
  route: string;
  /** `route` with each ENCODED_SLASH back as `/`: PATH_INFO's bytes (PEP 3333). */
  path: string;
}

/**
 * The path as decodeRequestPath gives it, and beside it the one routing compares. `%2F` is a
 * slash that is data, not a separator (RFC 3986 §2.2: a reserved char percent-encoded is not
 * its delimiter meaning): `/fa%2Fscope` is one segment, not under the mount `/fa`. Only the
 * segments as sent are `.` segments, so `/a/.%2Fb` keeps its `./b`; a `..` refuses the path
 * however it is spelled (`..%2f` too). Null as decodeRequestPath.
 */
export function routedRequestPath(rawPath: string): RoutedPath | null {
  let route = rawPath;
  if (route.includes('%')) {
    route = route.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
      const octet = parseInt(hex, 16);
      return octet === 0x2f ? ENCODED_SLASH : String.fromCharCode(octet);
    });
  }
  if (!route.startsWith('/') || route.includes('\0')) return null;
  if (/(^|\/)\.\.?(\/|$)/.test(route)) {
    const out: string[] = [];
    const segments = route.split('/');
    for (let i = 1; i < segments.length; i++) {
      const s = segments[i];
      if (s === '..') return null;
      if (s !== '.') out.push(s);
    }
    if (segments[segments.length - 1] === '.' && out[out.length - 1] !== '') out.push('');
    route = `/${out.join('/')}`;
  }
  if (!route.includes(ENCODED_SLASH)) return { route, path: route };
  const path = route.replaceAll(ENCODED_SLASH, '/');
  return /(^|\/)\.\.(\/|$)/.test(path) ? null : { route, path };
}

/** `/path?query` split at the first `?`: the raw path and the raw query ('' when none). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}
