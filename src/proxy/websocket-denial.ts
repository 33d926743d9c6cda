// The HTTP response an ASGI app sends instead of accepting a websocket (the ASGI "websocket
// denial response" extension, docs/protocol.md §8): written on the upgrade's raw socket, since
// an upgrade has no ServerResponse. The head comes as RESPONSE's payload (`status\0name\0value...`);
// what frames the connection is the gateway's: hop-by-hop headers dropped, `Connection: close`,
// and a Content-Length when the body is known whole, else chunked (an upgrade is HTTP/1.1), so
// that a body the app's exception cuts short cannot pass for a whole one. A Date unless the app
// gave one, as on its other responses (RFC 9110 §6.6.1: an origin server with a clock sends it).
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { HOP_BY_HOP_HEADERS } from './forwarded-headers.js';

/** The statuses whose response has no body (RFC 9110 §6.4.1): nothing to frame. */
export function denialHasBody(head: string): boolean {
  const code = Number(head.slice(0, 3));
  return code >= 200 && code !== 204 && code !== 304;
}

/**
 * The head to write for the app's `head`, with `bodyLength` as its Content-Length (null: the
 * body streams in chunks, see denialChunk); null when the head is not a valid one (a status
 * outside 100-599, a header name or value Node would refuse: CR, LF, NUL). `now` dates it.
 */
export function denialHead(head: string, bodyLength: number | null, now = new Date()): string | null {
  const fields = head.split('\0');
  const status = fields[0];
  const code = Number(status.slice(0, 3));
  if (!/^[1-5]\d\d( |$)/.test(status) || /[\r\n]/.test(status)) return null;
  const reason = status.length > 4 ? status.slice(4) : (STATUS_CODES[code] ?? 'Unknown');
  let out = `HTTP/1.1 ${code} ${reason}\r\n`;
  let dated = false;
  for (let i = 1; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (!isValidHeader(name, value)) return null;
    const lower = name.toLowerCase();
    // The gateway frames this connection: its length (when known) and its end are ours to say.
    if (HOP_BY_HOP_HEADERS.has(lower) || lower === 'content-length') continue;
    if (lower === 'date') dated = true;
    out += `${name}: ${value}\r\n`;
  }
  if (!dated) out += `Date: ${now.toUTCString()}\r\n`;
  if (bodyLength !== null) out += `Content-Length: ${bodyLength}\r\n`;
  else if (denialHasBody(status)) out += 'Transfer-Encoding: chunked\r\n';
  return `${out}Connection: close\r\n\r\n`;
}

/** A piece of a streamed denial body as its chunk; an empty piece is none (`0` would end the body). */
export function denialChunk(piece: Buffer): Buffer | null {
  return piece.length === 0 ? null : Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, CRLF]);
}

/** What ends a streamed denial body that was whole. */
export const DENIAL_LAST_CHUNK = '0\r\n\r\n';

const CRLF = Buffer.from('\r\n');


/** A header Node would write: a token name, a value without CR, LF or NUL. */
export function isValidHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}
