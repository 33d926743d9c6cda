// SPEC 5.8: octets >= 0x80 in a request target reach a WSGI app as latin-1 (PEP 3333), not a
// 400. The lean lane reads them as they are (net/plain-head.ts). node:http's parser refuses them
// ("Invalid char in url path", and no option makes it lenient there but insecureHTTPParser, which
// turns on request smuggling), so when the lane hands a connection to node:http, the target of
// the request line it hands over is percent-escaped on the way, and that request gets its target
// back as sent before it is routed (restoreRawTarget): the app sees the same REQUEST_URI,
// PATH_INFO and QUERY_STRING on either path. A later request with such octets that node:http
// reads by itself is refused by its parser at the first of them; rereadRawTarget then starts the
// parser over at that request line, given it escaped the same way. Where the line's start is not
// certain, the refusal stands: 400, whose body says why and what to do (RAW_TARGET_REFUSED;
// docs/reliability.md R6.8d-f).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { requestLineFrom, restartParser } from './node-parser.js';

const kRawTarget = Symbol('apppkg.rawTarget');

interface RawTarget {
  /** The target as node:http will read it. */
  escaped: string;
  /** The target as the client sent it, one latin-1 char per octet. */
  sent: string;
}

type MarkedSocket = Socket & { [kRawTarget]?: RawTarget };

const SP = 0x20;
const LF = 0x0a;
const HEX = '0123456789ABCDEF';

/**
 * `bytes` (which start with a request line) with the octets >= 0x80 of its target as `%XX`,
 * remembered on `socket` for restoreRawTarget; `bytes` itself when there are none, or when the
 * request line is not all there (node:http then answers as it does).
 */
export function escapeRawTarget(bytes: Buffer, socket: Socket): Buffer {
  const lineEnd = bytes.indexOf(LF);
  if (lineEnd === -1) return bytes;
  // llhttp reads words between runs of spaces (`GET  /caf\xe9 HTTP/1.1`, as the lane and RFC 9112
  // §3 allow): the target is what lies between them, not a space of the run.
  let from = bytes.indexOf(SP) + 1;
  if (from === 0) return bytes;
  while (bytes[from] === SP) from++;
  let to = bytes.lastIndexOf(SP, lineEnd);
  while (to > from && bytes[to - 1] === SP) to--;
  if (to < from) return bytes;
  let high = from;
  while (high < to && bytes[high] < 0x80) high++;
  if (high === to) return bytes;
  let escaped = bytes.toString('latin1', from, high);
  for (let i = high; i < to; i++) {
    const octet = bytes[i];
    escaped += octet < 0x80 ? String.fromCharCode(octet) : `%${HEX[octet >> 4]}${HEX[octet & 15]}`;
  }
  (socket as MarkedSocket)[kRawTarget] = { escaped, sent: bytes.toString('latin1', from, to) };
  return Buffer.concat([bytes.subarray(0, from), Buffer.from(escaped, 'latin1'), bytes.subarray(to)]);
}

/** The request whose target escapeRawTarget escaped gets it back as sent (once per mark). */
export function restoreRawTarget(req: IncomingMessage): void {
  const socket = req.socket as MarkedSocket | null;
  const mark = socket?.[kRawTarget];
  if (mark === undefined) return;
  delete socket![kRawTarget];
  if (req.url === mark.escaped) req.url = mark.sent;
}

/**
 * node:http refused a request line for an octet >= 0x80 in its target (refusedRawTarget): its
 * parser, stopped at that octet, is started over at the line's first byte and given the line
 * escaped (escapeRawTarget) and all that followed it, so the request is served as the lane
 * serves it (net/node-parser.ts). True when it was; false leaves the refusal to the caller: where
 * the line began is not certain (requestLineFrom: after a body with a Content-Length whose last
 * bytes could as well be the line's first, or a line begun in a read not kept).
 */
export function rereadRawTarget(err: { rawPacket?: unknown; bytesParsed?: unknown }, socket: Socket, previous: IncomingMessage | undefined): boolean {
  const rest = requestLineFrom(socket, err.rawPacket as Buffer, err.bytesParsed as number, previous);
  // A line whose target escapeRawTarget cannot find (`GET /\xe9` with no version) stays
  // refused: restartParser starts over only where the rewrite changes something.
  return rest !== null && restartParser(socket, rest, (line) => escapeRawTarget(line, socket));
}

/**
 * The body of the 400 for a target with octets >= 0x80 that node:http read by itself: the
 * limit is the gateway's, not the client's fault, so it says how to get the request through.
 */
export const RAW_TARGET_REFUSED =
  'raw octets >= 0x80 in the request target, on a connection the gateway reads with node:http, whose parser refuses them, ' +
  'where the gateway cannot tell where the request line began, or that cannot read the line even escaped; ' +
  'fix: percent-encode them in the URL (RFC 3986: /caf%C3%A9, which the app reads alike), or send the request on a new connection';

/** Whether node:http's parse error is its refusal of an octet >= 0x80 in a request target. */
export function refusedRawTarget(err: { code?: string; bytesParsed?: unknown; rawPacket?: unknown }): boolean {
  const packet = err.rawPacket;
  const at = err.bytesParsed;
  return err.code === 'HPE_INVALID_URL' && Buffer.isBuffer(packet) && typeof at === 'number' && packet[at] >= 0x80;
}
