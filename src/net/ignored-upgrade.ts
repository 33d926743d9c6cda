// An Upgrade the gateway does not take (RFC 9110 §7.8: "A server MAY ignore a received Upgrade
// header field"; "MUST ignore" one in an HTTP/1.0 request): `curl --http2` offers h2c on every
// plain-text request, and a proxy configured for websockets forwards any Upgrade. node:http has
// already given such a request to the 'upgrade' event; it is served as the plain request it
// also is, from its head written again without the upgrade's fields.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const kIgnoredUpgrade = Symbol('apppkg.ignoredUpgrade');
type Marked = { [kIgnoredUpgrade]?: string };

/** The one protocol switch the gateway makes: a websocket, asked in HTTP/1.1 or later. */
export function asksForWebsocket(req: IncomingMessage): boolean {
  if (req.httpVersionMajor < 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) return false;
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.split(',').some((token) => token.trim().toLowerCase() === 'websocket');
}

/** Fields that only mean the switch: gone from the head served without it. */
const SWITCH_FIELDS = new Set(['upgrade', 'http2-settings']);

/**
 * The request's head as sent, less the upgrade (Upgrade, HTTP2-Settings, and their names in
 * Connection), latin-1 as it came: what node:http reads again as a plain request.
 */
export function headWithoutUpgrade(req: IncomingMessage, target: string): Buffer {
  const lines = [`${req.method} ${target} HTTP/${req.httpVersion}`];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (SWITCH_FIELDS.has(lower)) continue;
    if (lower === 'connection') {
      const kept = raw[i + 1].split(',').map((t) => t.trim()).filter((t) => t !== '' && !SWITCH_FIELDS.has(t.toLowerCase()));
      if (kept.length > 0) lines.push(`${raw[i]}: ${kept.join(', ')}`);
      continue;
    }
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/**
 * The request node:http reads next on `socket` is `req` served without its Upgrade (`protocols`,
 * as sent): restoreIgnoredUpgrade gives that to the request, so that a 101 a process then sends
 * it is said as the answer to an upgrade the gateway did not pass on (forward-http.ts), not to a
 * request that asked for none, which its client's was not.
 */
export function rememberIgnoredUpgrade(socket: Socket, req: IncomingMessage): void {
  (socket as Socket & Marked)[kIgnoredUpgrade] = String(req.headers.upgrade ?? '').trim();
}

/** Moves the mark rememberIgnoredUpgrade left on `req`'s socket to `req`, the request read from it. */
export function restoreIgnoredUpgrade(req: IncomingMessage): void {
  const socket = req.socket as (Socket & Marked) | null;
  const protocols = socket?.[kIgnoredUpgrade];
  if (protocols === undefined) return;
  delete socket![kIgnoredUpgrade];
  (req as IncomingMessage & Marked)[kIgnoredUpgrade] = protocols;
}

/** The Upgrade `req` was sent with and served without ("h2c"), or undefined. */
export function ignoredUpgradeOf(req: IncomingMessage): string | undefined {
  return (req as IncomingMessage & Marked)[kIgnoredUpgrade];
}
