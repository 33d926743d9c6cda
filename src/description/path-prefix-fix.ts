// The fix for a path prefix that routing can never match as written: an environment file's
// `mount:` and an app.yaml process's `route:` are both compared with a request's decoded path.

/**
 * A prefix is compared with a request's decoded path, which a query, a fragment or a dot segment
 * never reaches (dot segments are resolved first): such a prefix was accepted and unreachable, or
 * reachable only as `/q%3Fx` for `/q?x`, `/p%2541th` for `/p%41th`. `key` is the word the fix
 * writes (`mount`, `route`).
 */
export function pathPrefixFix(key: string, value: string): string | undefined {
  if (!value.startsWith('/')) return missingSlashFix(key, value, (path) => `${key}: ${path}`);
  if (/[?#]/.test(value)) return `write the path alone, ${key}: ${value.replace(/[?#].*$/, '') || '/'} (a query or fragment never takes part in routing)`;
  if (value.includes('%')) {
    let decoded: string | null = null;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      // Not percent-encoding at all: said without an example.
    }
    const example = decoded !== null && !/[?#%]/.test(decoded) ? `, ${key}: ${decoded}` : '';
    return `write the path decoded${example} (requests are routed by their decoded path, as SCRIPT_NAME gives it)`;
  }
  if (/(^|\/)\.{1,2}(\/|$)/.test(value)) return 'write the path without "." or ".." segments (a request path has none: they are resolved before routing, as nginx does)';
  if (value.includes('//')) {
    const merged = value.replace(/\/{2,}/g, '/');
    // A SCRIPT_NAME `//x` makes every link an app builds from it (`//x/page`) a protocol-relative
    // URL naming the host x; behind nginx, which merges a request path's slashes, neither
    // `//x` nor `/x//y` is ever asked for.
    const host = /^\/\/+([^/]+)/.exec(value)?.[1];
    return host !== undefined && key === 'mount'
      ? `write ${key}: ${merged} (the app's links under ${value} would be //${host}/..., a URL of the host ${host})`
      : `write ${key}: ${merged} (nginx merges the slashes of a request path, so none behind it would reach ${value})`;
  }
  return undefined;
}

/**
 * The fix for a path written without its leading `/`; `spell` writes the key with a path. A URL
 * (`http://localhost:8000/healthz`) gets its path: with a `/` before it, `/http://...` would be
 * refused in turn (its `//`), and would never be the path meant.
 */
export function missingSlashFix(key: string, value: string, spell: (path: string) => string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? parsedUrl(value) : null;
  if (url === null) return `write ${spell(`/${value}`)}`;
  const path = url.pathname === '/' ? `/${EXAMPLE_PATHS[key] ?? key}` : url.pathname;
  return `write the path alone, without the scheme and host: ${spell(path)}`;
}

const EXAMPLE_PATHS: Record<string, string> = { mount: 'blog', route: 'live', health: 'healthz', static: 'static' };

function parsedUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}
