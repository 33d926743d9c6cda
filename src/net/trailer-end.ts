// SPEC 5.8 (RFC 9110 §6.5.1, RFC 9112 §7.1.2): fields not allowed in a trailer (Content-Length,
// Transfer-Encoding, Host, ...) never reach the app, and the request is served with its trailer
// dropped, as the lean lane (net/chunked-body.ts) and nginx serve it. llhttp reads a trailer's
// fields by a head's rules and refuses Content-Length there (beside chunked) and a
// Transfer-Encoding that does not end in chunked; the body is all in by then, so the message is
// ended where the trailer section ends, and the parser starts over after it (net/node-parser.ts).
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { holdBytes, maxHeaderSizeOf, restartParser, type NodeParser, type ParsedSocket } from './node-parser.js';

/** llhttp's refusals of a trailer field that are a head's rule, not a broken trailer. */
const HEAD_RULES = new Set(['HPE_INVALID_CONTENT_LENGTH', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING']);
/**
 * The same code for the head's own Transfer-Encoding (`chunked<HTAB>`, which llhttp reads as
 * no chunked), given once node:http has made the request, before any body: never a trailer's.
 * Taken for one, the body (`X: y<CRLF><CRLF>GET /other ...`) was read as a trailer section, the
 * request served with an empty body and what followed as the next request: smuggling. Told by
 * llhttp's reason, and by where it stopped: at the head's last LF, where a trailer field's
 * refusal stops inside its line.
 */
const HEAD_TRANSFER_ENCODING = 'Request has invalid `Transfer-Encoding`';
const SECTION_END = Buffer.from('\r\n\r\n', 'latin1');
const LF = 0x0a;
/** A field line (RFC 9110 §5.1, §5.5: a token, a colon, visible octets, spaces and tabs). */
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
/** The end of one, begun in an earlier read. */
const FIELD_LINE_PART = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Errors endAtTrailerSection gave back to node:http's handling: the trailer they were in was no trailer to end. */
const refusedLater = new WeakSet<object>();

/**
 * node:http refused a field in a chunked request's trailer by a head's rule: the request ends
 * where the trailer section ends, its trailer dropped, and what follows the section is read as
 * the next request (true). A section whose end is in a later read is held until it comes
 * (net/node-parser.ts holdBytes). False leaves the refusal to the caller: the error was not in a
 * trailer, or a line in the section is no field line ending in CRLF (then also when found in a
 * later read: the error is handed to the server's 'clientError' then, and nothing after is read).
 */
export function endAtTrailerSection(err: { code?: string; reason?: unknown; rawPacket?: unknown; bytesParsed?: unknown }, socket: Socket): boolean {
  if (!HEAD_RULES.has(err.code ?? '') || err.reason === HEAD_TRANSFER_ENCODING || refusedLater.has(err)) return false;
  const parser = (socket as ParsedSocket).parser;
  const req = parser?.incoming;
  // In a body: node:http read the head whole (it made the request) and the message is not over.
  if (parser == null || req == null || req.complete || req.headers['transfer-encoding'] === undefined) return false;
  const packet = err.rawPacket as Buffer;
  if (packet[(err.bytesParsed as number) - 1] === LF) return false;
  // From the start of the refused field's line (or of the read, which is within it) to the first
  // empty line; every line between must be a field line ending in CRLF, as the lane requires
  // (net/chunked-body.ts), or the end found would not be the section's: a bare LF, a fold, and
  // the rest is left to node:http's refusal.
  const from = packet.lastIndexOf(LF, (err.bytesParsed as number) - 1) + 1;
  const section = Buffer.from(packet.subarray(from));
  const fieldLines = (text: string): boolean => text === '' || text.split('\r\n').every((line, i) => (i === 0 && from === 0 ? FIELD_LINE_PART : FIELD_LINE).test(line));
  const end = section.indexOf(SECTION_END);
  if (end !== -1) {
    if (!fieldLines(section.toString('latin1', 0, end))) return false;
    return endRequest(parser) && restartParser(socket, section.subarray(end + SECTION_END.length));
  }
  // The lines all in so far must be field lines (the last may be partial), as must the rest.
  if (!fieldLines(section.toString('latin1', 0, section.lastIndexOf(LF) + 1).replace(/\r\n$/, ''))) return false;
  return holdBytes(socket, section, false, (bytes) => {
    const at = bytes.indexOf(SECTION_END);
    const complete = at === -1 ? bytes.lastIndexOf(LF) + 1 : at;
    const whole = bytes.toString('latin1', 0, complete).replace(/\r\n$/, '');
    if (!fieldLines(whole) || bytes.length > maxHeaderSizeOf(socket)) {
      refusedLater.add(err);
      (socket as Socket & { server?: EventEmitter }).server?.emit('clientError', err, socket);
      return null;
    }
    if (at === -1) return undefined;
    endRequest(parser);
    return bytes.subarray(at + SECTION_END.length);
  });
}

/** The request whose trailer is being read ends here, without it. */
function endRequest(parser: NodeParser): boolean {
  parser._headers = []; // the fields read so far: no trailer reaches the app (R6.10)
  (parser as unknown as Record<number, (this: unknown) => void>)[parser.constructor.kOnMessageComplete].call(parser);
  return true;
}
