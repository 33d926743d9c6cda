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
  let path = rawPath;
  if (path.includes('%')) {
    path = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  if (!path.startsWith('/') || path.includes('\0')) return null;
  if (!/(^|\/)\.\.?(\/|$)/.test(path)) return path;
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    if (s === '..') return null;
    if (s !== '.') out.push(s);
  }
  if (segments[segments.length - 1] === '.' && out[out.length - 1] !== '') out.push('');
  return `/${out.join('/')}`;
}

/** `/path?query` split at the first `?`: the raw path and the raw query ('' when none). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}
