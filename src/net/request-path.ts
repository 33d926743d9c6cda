// The one percent-decoder of request paths. PEP 3333 wants PATH_INFO as bytes-as-latin-1; the
// router, static files, the WSGI link and the health probe all need the path the app will see,
// decoded the same way, or a path could route one way and reach the app as another.

/**
 * Percent-decodes a request path into PEP 3333's "bytes as latin-1" string (bad escapes stay
 * as they are) and resolves its dot segments as nginx does: `/a/../b` is `/b` (RFC 3986
 * §5.2.4), and in a path with a dot segment, slashes in a row are one first (`/a//../b` is `/b`,
 * `/x//y/./z` is `/x/y/z`; a path without one keeps them as sent, as nginx passes them on), and
 * `%2e%2e` is `..` (RFC 3986 §6.2.2.2: an encoded unreserved octet is the octet), so
 * `/blog/../other/x` is routed to `other`, never to `blog` with a PATH_INFO that climbs out of
 * it. Returns null for a path that cannot be a request path: no leading slash, a NUL byte, a
 * `..` that climbs above the root (nginx's 400), or one that is a segment only once an encoded
 * slash is decoded (routedRequestPath).
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
 * its delimiter meaning): `/fa%2Fscope` is one segment, not under the mount `/fa`. So only the
 * segments as sent are dot segments: `/a/.%2Fb` keeps its `./b`, and a `..` that becomes a
 * segment only with an encoded slash decoded (`/blog/..%2fother`) refuses the path, where nginx,
 * which decodes `%2F` as a separator, would resolve it: it routed inside `/blog`, and would
 * reach the app as a PATH_INFO that leaves it. Null as decodeRequestPath.
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
      // Slashes merged first, as nginx does (merge_slashes, its default): `/a//../b` is `/b`. It
      // passes the target on as sent (proxy_pass with no URI, the shipped site), so a `location`
      // that denies `/a/` sees `/b` and lets `/a//../b` through: resolved with the empty segment
      // kept (RFC 3986 §5.2.4), it reached the app as `/a/b`.
      if (s === '' && i < segments.length - 1) continue;
      if (s === '..') {
        if (out.length === 0) return null;
        out.pop();
      } else if (s !== '.') {
        out.push(s);
      }
    }
    // A path ending in a dot segment names a directory: `/a/b/..` is `/a/`, `/a/..` is `/`.
    const last = segments[segments.length - 1];
    if (last === '.' || last === '..') out.push('');
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
