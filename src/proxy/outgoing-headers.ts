// The headers a request carries on to a process that speaks HTTP itself (`platform: python,
// command`, `processes` with a `route:`): the client's, minus those about its connection to us
// (RFC 9110 §7.6.1) and what it claimed about proxies, plus what the gateway saw
// (X-Forwarded-For/-Proto/-Host) and where the app is mounted (X-Forwarded-Prefix: the process
// gets the full path, as a plain HTTP server behind a proxy does; SCRIPT_NAME is WSGI's).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { forwardedHostList, HOP_BY_HOP_HEADERS, isForwardingHeader } from './forwarded-headers.js';
import type { RequestRoute } from './request-route.js';

export interface OutgoingHeaderOptions {
  /** Keep Upgrade and `Connection: upgrade` (a websocket, or any protocol switch). */
  upgrade: boolean;
}

/** Fields a Connection header may not remove: they frame or route the request itself. */
const NOT_HOP_BY_HOP = new Set(['host', 'content-length', 'content-type']);

/**
 * The fields a Connection header names (lowercase): hop-by-hop too (RFC 9110 §7.6.1); its
 * `upgrade` token too, which says the answer to a handshake switched (forward-upgrade.ts).
 */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const part of joined(value).split(',')) {
    const token = part.trim().toLowerCase();
    if (token !== '' && !NOT_HOP_BY_HOP.has(token)) tokens.add(token);
  }
  return tokens;
}

function joined(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** The request headers for the process, as a fresh object (req.headers is left as it was). */
export function outgoingHeaders(req: IncomingMessage, route: Pick<RequestRoute, 'scriptName' | 'remoteAddr' | 'scheme' | 'trustProxy'>, opts: OutgoingHeaderOptions): IncomingHttpHeaders {
  const sent = req.headers;
  const listed = connectionTokens(sent.connection);
  const trusted = route.trustProxy?.trusts(route.remoteAddr) === true;
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(sent)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP_HEADERS.has(name) || listed.has(name)) continue;
    if (isForwardingHeader(name) && !trusted) continue;
    out[name] = value;
  }
  if (opts.upgrade && sent.upgrade !== undefined) {
    out.connection = 'upgrade';
    out.upgrade = sent.upgrade;
  }
  // The peer is appended to the chain, as each proxy appends its client; a unix-socket peer
  // (nginx in front) has no address to add.
  const chain = [trusted ? joined(sent['x-forwarded-for']).trim() : '', route.remoteAddr].filter((part) => part !== '');
  if (chain.length > 0) out['x-forwarded-for'] = chain.join(', ');
  if (!(trusted && sent['x-forwarded-proto'])) out['x-forwarded-proto'] = route.scheme;
  if (trusted && sent['x-forwarded-host']) out['x-forwarded-host'] = forwardedHostList(joined(sent['x-forwarded-host']));
  else if (sent.host !== undefined) out['x-forwarded-host'] = sent.host;
  const outerPrefix = trusted ? joined(sent['x-forwarded-prefix']).trim().replace(/\/+$/, '') : '';
  const prefix = `${outerPrefix}${route.scriptName}`;
  if (prefix !== '') out['x-forwarded-prefix'] = prefix;
  else delete out['x-forwarded-prefix'];
  return out;
}

/**
 * Response fields the client may see, as the process wrote them (undici's raw list: name, value,
 * name, value, in its order and case, as nginx passes them on), minus hop-by-hop ones and those
 * its Connection names; `drop`: one more lowercase name to leave out (a 204's Content-Length).
 */
export function incomingResponseHeaders(raw: readonly string[], drop?: string): string[] {
  let connection = '';
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'connection') connection += `,${raw[i + 1]}`;
  const listed = connectionTokens(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(name) || listed.has(name) || name === drop) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}
