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
// without one (`GET /`, which llhttp reads as HTTP/0.9), `HTTP/0.9` only when it was written.
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
  if (bytes.toString('latin1', end - 9, end) === ' HTTP/0.9') (socket as Socket & Marked)[kSentVersion] = '0.9';
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

/** `req` (a lean request, served as 1.1) was sent as `version`. */
export function rememberSentVersion(req: object, version: string): void {
  (req as Marked)[kSentVersion] = version;
}

/**
 * The request's HTTP version as the client sent it (`1.2` where it was served as 1.1), or ''
 * when its line had none: llhttp's 0.9 is a request line without a version, unless the lane
 * saw `HTTP/0.9` written (higherMinorAsHttp11) or fields followed it.
 */
export function versionAsSent(req: IncomingMessage): string {
  const sent = (req as IncomingMessage & Marked)[kSentVersion];
  if (sent !== undefined) return sent;
  // llhttp reads no field after a line without a version (it is done at the line's end): a
  // 0.9 with fields had `HTTP/0.9` written, in a head node:http read by itself.
  return req.httpVersion === '0.9' && req.rawHeaders.length === 0 ? '' : req.httpVersion;
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
