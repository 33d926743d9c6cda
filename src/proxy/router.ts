// Host and path prefix -> app, and the SCRIPT_NAME / PATH_INFO split (PEP 3333).
// A request whose Host is claimed by some app's `hosts` is routed among those apps only;
// otherwise among the path mounts. Within either set the longest prefix wins. A host is
// claimed by its name, else by the longest wildcard (`*.example.com`) it falls under, as
// nginx's server_name orders them.

export interface Route<T> {
  target: T;
  /** Host name without port, `*.example.com` for every name under example.com, or null for "any host". */
  host: string | null;
  /** '' for the root, else '/prefix' with no trailing slash. */
  prefix: string;
  /**
   * A default route (an app's `NAME.localhost` or its mount `/NAME`): a route another app was
   * given for the same host and prefix (the environment file's `hosts:` or `mount:`) goes first,
   * whatever order the apps come in.
   */
  implicit?: boolean;
}

export interface RouteMatch<T> {
  target: T;
  scriptName: string;
  pathInfo: string;
  /**
   * pathInfo as routes inside the app compare it (a process's `route:`, a `static:` mount):
   * an encoded slash is ENCODED_SLASH there too, so that it splits no segment anywhere.
   */
  routedPathInfo: string;
}

export class Router<T> {
  private byHost = new Map<string, Route<T>[]>();
  /** Wildcard routes by the suffix they match, `.example.com` for `*.example.com`. */
  private bySuffix = new Map<string, Route<T>[]>();
  private anyHost: Route<T>[] = [];

  constructor(routes: Route<T>[]) {
    for (const route of routes) {
      const prefix = asOctets(normalizePrefix(route.prefix));
      const entry = { ...route, prefix };
      if (route.host === null) this.anyHost.push(entry);
      else {
        const host = route.host.toLowerCase();
        const [map, key] = host.startsWith('*.') ? [this.bySuffix, host.slice(1)] : [this.byHost, host];
        const list = map.get(key) ?? [];
        list.push(entry);
        map.set(key, list);
      }
    }
    const longestFirst = (a: Route<T>, b: Route<T>) => b.prefix.length - a.prefix.length || Number(a.implicit ?? false) - Number(b.implicit ?? false);
    this.anyHost.sort(longestFirst);
    for (const list of this.byHost.values()) list.sort(longestFirst);
    for (const list of this.bySuffix.values()) list.sort(longestFirst);
  }

  /**
   * `routed` is the decoded, dot-segment-free path that mounts are compared with, where an
   * encoded slash is not a separator (net/request-path.ts routedRequestPath); `path` the same
   * path as the app gets it, char for char (PATH_INFO is cut from it). `hostHeader` as sent.
   */
  match(hostHeader: string | undefined, routed: string, path = routed): RouteMatch<T> | null {
    const host = hostOnly(hostHeader);
    const routes = (host && (this.byHost.get(host) ?? this.underWildcard(host))) || this.anyHost;
    for (const route of routes) {
      if (route.prefix === '') return atRoot(route.target, routed, path);
      if (routed === route.prefix || routed.startsWith(`${route.prefix}/`)) {
        const cut = route.prefix.length;
        return { target: route.target, scriptName: route.prefix, pathInfo: path.slice(cut), routedPathInfo: routed.slice(cut) };
      }
    }
    return null;
  }

  /** The routes of the longest wildcard `host` is under: `a.b.example.com` tries `.b.example.com` first. */
  private underWildcard(host: string): Route<T>[] | undefined {
    if (this.bySuffix.size === 0) return undefined;
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const routes = this.bySuffix.get(host.slice(dot));
      if (routes !== undefined) return routes;
    }
    return undefined;
  }
}

/** The split of a request routed to `target` at prefix '' (its `NAME.localhost` route's). */
export function atRoot<T>(target: T, routed: string, path = routed): RouteMatch<T> {
  return { target, scriptName: '', pathInfo: path, routedPathInfo: routed };
}

/**
 * A mount as the octets a client sends for it, one latin-1 char each, as the decoded path it is
 * compared with (net/request-path.ts): `/café` is `/caf%C3%A9` on the wire (browsers send
 * UTF-8, RFC 3986 §2.5), and so `/caf\xc3\xa9` here; the app gets it so as SCRIPT_NAME (PEP 3333).
 */
function asOctets(prefix: string): string {
  return /^[\x00-\x7f]*$/.test(prefix) ? prefix : Buffer.from(prefix, 'utf8').toString('latin1');
}

export function normalizePrefix(prefix: string): string {
  let p = prefix.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  while (p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** The last Host header hostOnly read, and its answer: a client (and a proxy) sends the same one request after request. */
let lastHostHeader = '';
let lastHost: string | null = null;

/** `Example.COM:8080` -> `example.com`; `[::1]:80` -> `::1`. */
export function hostOnly(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  // Read again, it was ~0.1 KB of garbage per request (docs/performance.md, 2026-12-03).
  if (hostHeader === lastHostHeader) return lastHost;
  lastHost = hostFrom(hostHeader);
  lastHostHeader = hostHeader;
  return lastHost;
}

function hostFrom(hostHeader: string): string | null {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : null;
  }
  const colon = h.indexOf(':');
  return (colon >= 0 ? h.slice(0, colon) : h).replace(/\.$/, '') || null;
}
