// HTTP versions in a request line that llhttp does not read the way RFC 9110 §2.5 and RFC 9112
// §2.3 ask. A higher minor version (HTTP/1.2 to 1.9) is to be read as the highest the server
// speaks, 1.1; llhttp refuses it (HPE_INVALID_VERSION) unless its parser is lenient about
// versions, which node:http's options give only with every other leniency (insecureHTTPParser:
// request smuggling). The lean lane reads the first request of every connection: it reads such a
// request itself (net/plain-head.ts), and hands a request line it gives node:http over as
// HTTP/1.1. What node:http reads by itself (a later request on a connection it took, every
// request with APPPKG_LEAN_LANE=0) its parser reads lenient about the version alone
// (net/node-parser.ts readVersionsAsRfc), and restoreSentVersion serves as 1.1.
// A major version other than 1 is 505 (RFC 9110 §15.6.6), whether llhttp parsed it (2.0) or not.
// The access log keeps the version as sent (versionAsSent), as nginx logs it: none for a line
// without one (`GET /`, which llhttp reads as HTTP/0.9), `HTTP/0.9` only
// when it was written (net/node-parser.ts reads which from the bytes).
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const kSentVersion = Symbol('apppkg.sentVersion');

type Marked = { [kSentVersion]?: string };

const LF = 0x0a;
const CR = 0x0d;
const HIGHER_MINOR = ' HTTP/1.';

/**
 * `bytes` (which start with a request line) with a version HTTP/1.2-1.9 as HTTP/1.1, the version
 * sent remembered on `socket` for restoreSentVersion; else `bytes` itself.
 */
export function higherMinorAsHttp11(bytes: Buffer, socket: Socket): Buffer {
  const lineEnd = bytes.indexOf(LF);
  const end = lineEnd > 0 && bytes[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  if (end < 10) return bytes;
  const minor = bytes[end - 1];
  if (minor < 0x32 || minor > 0x39 || bytes.toString('latin1', end - 9, end - 1) !== HIGHER_MINOR) return bytes;
  const copy = Buffer.from(bytes); // the caller's may be a view of a read buffer
  copy[end - 1] = 0x31;
  (socket as Socket & Marked)[kSentVersion] = `1.${String.fromCharCode(minor)}`;
  return copy;
}

/**
 * The request node:http read from the line higherMinorAsHttp11 rewrote gets its version as sent;
 * one it read as HTTP/1.2-1.9 by itself (its parser is lenient there: net/node-parser.ts
 * readVersionsAsRfc) is served as 1.1 from here on, as the lane serves it, the version sent kept.
 */
export function restoreSentVersion(req: IncomingMessage): void {
  if (req.httpVersionMajor === 1 && req.httpVersionMinor > 1) {
    rememberSentVersion(req, req.httpVersion);
    req.httpVersion = '1.1';
    req.httpVersionMinor = 1;
  }
  const socket = req.socket as (Socket & Marked) | null;
  const sent = socket?.[kSentVersion];
  if (sent === undefined) return;
  delete socket![kSentVersion];
  (req as IncomingMessage & Marked)[kSentVersion] = sent;
}

/** The request node:http reads now on `socket` was sent as `version` (restoreSentVersion gives it to that request). */
export function rememberSocketVersion(socket: Socket, version: string): void {
  (socket as Socket & Marked)[kSentVersion] = version;
}

/** `req` (a lean request, served as 1.1) was sent as `version`. */
export function rememberSentVersion(req: object, version: string): void {
  (req as Marked)[kSentVersion] = version;
}

/**
 * The request's HTTP version as the client sent it (`1.2` where it was served as 1.1), or ''
 * when its line had none: llhttp's 0.9 is a request line without a version (whether fields
 * followed it or not: llhttp reads them), unless `HTTP/0.9` was written (net/node-parser.ts
 * marks it).
 */
export function versionAsSent(req: IncomingMessage): string {
  const sent = (req as IncomingMessage & Marked)[kSentVersion];
  if (sent !== undefined) return sent;
  return req.httpVersion === '0.9' ? '' : req.httpVersion;
}

/**
 * A request line without a version: a method, spaces, a target, the line's end. More than one
 * space before the target, as llhttp reads it (`GET  /x` is HTTP/0.9 to it; `GET  /x HTTP/1.1`
 * a request it serves, as nginx does): with one only, such a line's fields were read.
 */
const SIMPLE_REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ +[^ \r\n]+\r?\n$/;

/**
 * Whether `bytes` end with a request line without a version (in node:http's reads a line that
 * ends a read, or a read's first: with the parser in a head, its request line, since no field
 * line has this shape). That is an HTTP/0.9 request, which has no fields (RFC 1945 §4.1: `GET
 * /path` CRLF, the request whole; RFC 9112 Appendix C), whatever the client sends after it.
 * llhttp reads it as 0.9 and then reads what follows as its fields (and may refuse one of them
 * first), or waits for them until --header-timeout, a 408. Given the line alone and then the
 * empty line (EMPTY_LINE), node:http reads the request whole at once and the front refuses it,
 * 400 (HTTP/0.9 is not spoken here: net/request-head.ts), closing the connection.
 */
export function endsWithSimpleRequest(bytes: Buffer): boolean {
  if (bytes.length === 0 || bytes[bytes.length - 1] !== LF) return false;
  const from = bytes.lastIndexOf(LF, bytes.length - 2) + 1;
  return bytes.length - from <= 8192 && SIMPLE_REQUEST_LINE.test(bytes.toString('latin1', from));
}

/** The empty line that ends a head's fields: what an HTTP/0.9 request is given (endsWithSimpleRequest). */
export const EMPTY_LINE = Buffer.from('\r\n', 'latin1');

/**
 * `bytes` (which start with a request line), with the empty line after them when they are that
 * line alone and it has no version (endsWithSimpleRequest); else `bytes` itself.
 */
export function simpleRequestEnded(bytes: Buffer): Buffer {
  return bytes.indexOf(LF) === bytes.length - 1 && endsWithSimpleRequest(bytes) ? Buffer.concat([bytes, EMPTY_LINE]) : bytes;
}

const OTHER_MAJOR = /^[!-~]+ [^ \r\n]+ HTTP\/([2-9]\.\d)\r?$/;

/**
 * The version (`3.0`), when a request llhttp refused for its version (HPE_INVALID_VERSION) names
 * another major one (`HTTP/3.0`, `HTTP/9.9`): 505 then, not 400; else null. `rawPacket` is the read it failed in, and
 * `bytesParsed` where in it: the refused line is the one there, not any line of the read (a
 * `PRI /p HTTP/1.1`, a 400, was answered 505 for an `HTTP/2.0` line pipelined behind it).
 */
export function otherMajorVersion(err: { rawPacket?: unknown; bytesParsed?: unknown }): string | null {
  const packet = err.rawPacket;
  if (!Buffer.isBuffer(packet)) return null;
  const at = typeof err.bytesParsed === 'number' ? Math.min(err.bytesParsed, packet.length) : 0;
  const from = at > 0 ? packet.lastIndexOf(LF, at - 1) + 1 : 0;
  const eol = packet.indexOf(LF, at);
  return OTHER_MAJOR.exec(packet.toString('latin1', from, Math.min(eol === -1 ? packet.length : eol, from + 8192)))?.[1] ?? null;
}
