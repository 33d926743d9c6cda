// SPEC 5.8 (RFC 9110 §9.1 leaves the methods open): a method llhttp does not know (an app's own,
// `FOO`, `PURGE_CACHE`) is the app's to answer, as the lean lane serves it (net/plain-head.ts:
// capital letters, `_` and `-`). llhttp refuses it (HPE_INVALID_METHOD), with no leniency for it.
// So a request line given to node:http has such a method as PLACEHOLDER, which llhttp frames as
// it frames any (by Content-Length or chunked: only CONNECT differs), and the request gets its
// method back as sent before it is routed (restoreSentMethod). Where the lane hands a connection
// over, the line it hands is rewritten on the way; one node:http refused by itself is read again
// so (rereadUnknownMethod, with the restart of net/node-parser.ts).
import { METHODS, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { requestLineFrom, restartParser } from './node-parser.js';

// PRI is no method of Node's list, but llhttp knows it: it refuses it at its request line as the
// start of HTTP/2's preface (the front's 400, or 505 for the preface itself), and so must the
// line the lane hands over. Rewritten, llhttp read on to the head's end, and a 400 from the lane
// named another problem of the head (a bad field), or a 505 (HTTP/2.0), where node:http reading
// the same bytes from the start named PRI.
const KNOWN = new Set([...METHODS, 'PRI']);
/** The lane's methods (net/plain-head.ts). */
const APP_METHOD = /^[A-Z][A-Z_-]{0,31}$/;
/** A method's first bytes, as llhttp stops within them. */
const METHOD_BEGUN = /^[\r\n]*[A-Z_-]*$/;
/** Known to llhttp, framed as any but CONNECT, and without a meaning Node acts on (as HEAD's). */
const PLACEHOLDER = 'PATCH';
const SP = 0x20;
const LF = 0x0a;

const kSentMethod = Symbol('apppkg.sentMethod');
type Marked = Socket & { [kSentMethod]?: string };

/**
 * `bytes` (which start with a request line) with its method as PLACEHOLDER when llhttp would
 * refuse it and the lane serves it, remembered on `socket` for restoreSentMethod; else `bytes`.
 */
export function knownMethod(bytes: Buffer, socket: Socket): Buffer {
  const end = bytes.indexOf(SP);
  const lineEnd = bytes.indexOf(LF);
  if (end <= 0 || (lineEnd !== -1 && lineEnd < end)) return bytes;
  const method = bytes.toString('latin1', 0, end);
  if (KNOWN.has(method) || !APP_METHOD.test(method)) return bytes;
  (socket as Marked)[kSentMethod] = method;
  return Buffer.concat([Buffer.from(PLACEHOLDER, 'latin1'), bytes.subarray(end)]);
}

/** The request node:http read from a line knownMethod rewrote gets its method back (once per mark). */
export function restoreSentMethod(req: IncomingMessage): void {
  const socket = req.socket as Marked | null;
  const sent = socket?.[kSentMethod];
  if (sent === undefined) return;
  delete socket![kSentMethod];
  if (req.method === PLACEHOLDER) req.method = sent;
}

/**
 * node:http refused a request line for its method (HPE_INVALID_METHOD): its parser is started
 * over at the line's first byte, given the line with the method knownMethod makes of it. True
 * when it was; false leaves the refusal to the caller (a method the lane refuses too, as `get`,
 * or where the line began is not certain).
 */
export function rereadUnknownMethod(err: { code?: string; rawPacket?: unknown; bytesParsed?: unknown }, socket: Socket, previous: IncomingMessage | undefined): boolean {
  if (err.code !== 'HPE_INVALID_METHOD' || !Buffer.isBuffer(err.rawPacket) || typeof err.bytesParsed !== 'number') return false;
  const rest = requestLineFrom(socket, err.rawPacket, err.bytesParsed, previous, METHOD_BEGUN);
  if (rest === null) return false;
  return restartParser(socket, rest, (line) => knownMethod(line, socket));
}
