// A chunk-size line that ends in whitespace (`3 <CRLF>`), refused in a body node:http reads as
// the lean lane refuses it (net/chunked-body.ts CHUNK_WHITESPACE). RFC 9112 §7.1.1 has BWS only
// before an extension's `;` (and inside the extension), none before the line's CRLF; llhttp's
// leniency that takes `3 ;a=1` (net/node-parser.ts readVersionsAsRfc) takes `3 <CRLF>` too, so
// the two readers framed the same bytes differently, and a request served on one connection was
// a 400 on another. llhttp tells no offsets, so the bytes it reads are cut where a head may end
// (CRLF CRLF) and each body the head says is chunked is read beside it by the lane's decoder,
// which finds the line; llhttp, given the bytes up to that CR, is then stopped with the lane's
// refusal. Every other verdict on the body stays llhttp's.
import { CHUNK_WHITESPACE, ChunkedBody } from './chunked-body.js';

/** The reason of the parser error that stops llhttp there (net/request-head.ts words it). */
export const CHUNK_SIZE_SPACE_REASON = 'Whitespace before the CR of a chunk-size line';

const CR = 0x0d;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** Transfer-Encoding whose last coding is chunked (RFC 9112 §6.3 item 4): llhttp reads a chunked body. */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
const ignore = (): void => {};

/** One execute of llhttp over `piece`: bytes read, or its error (bytesParsed within `piece`). */
export type RunParser = (piece: Buffer) => number | Error;

export class ChunkSizeSpaces {
  /** The chunked body under way, read beside llhttp; null between bodies, or once its verdict is llhttp's. */
  private body: ChunkedBody | null = null;
  /**
   * Bytes of a body framed by Content-Length still to come: given to llhttp whole, not cut where
   * they hold a CRLF CRLF, since node-parser.ts finds a line after such a body by its last piece.
   */
  private lengthLeft = 0;
  /** The last bytes of the read before (up to 3): a head's CRLF CRLF may span two reads. */
  private tail = Buffer.alloc(0);
  /** llhttp stopped at the end of a head it reads no more after (an upgrade, CONNECT): node:http takes the rest. */
  private switched = false;
  /** The refusal given: llhttp's errors stay, and so does this one. */
  private refused: { code: string; reason: string } | null = null;

  /** The parser starts over at a message's start (net/node-parser.ts startOver). */
  reset(): void {
    this.body = null;
    this.lengthLeft = 0;
    this.switched = false;
    this.tail = Buffer.alloc(0);
    this.refused = null;
  }

  /** A head just ended (llhttp's headers-complete, `skip` when it reads no body after it). */
  headEnded(headers: { 'transfer-encoding'?: string; 'content-length'?: string } | undefined, skip: unknown): void {
    const te = headers?.['transfer-encoding'];
    const body = skip !== 1 && skip !== 2;
    this.body = body && te !== undefined && CHUNKED_LAST.test(te) ? new ChunkedBody() : null;
    this.switched = skip === 2;
    const length = Number(headers?.['content-length']);
    this.lengthLeft = body && te === undefined && Number.isSafeInteger(length) && length > 0 ? length : 0;
  }

  /** `data`, one read, given to llhttp by `run` in pieces; what node:http's execute returns. */
  execute(data: Buffer, run: RunParser): number | Error {
    if (this.refused !== null) return parseError(this.refused, 0);
    const ends = headEnds(this.tail, data);
    this.tail = Buffer.concat([this.tail, data.subarray(Math.max(0, data.length - 3))]).subarray(-3);
    let offset = 0;
    const runTo = (end: number): number | Error | null => {
      if (end <= offset) return null;
      const ret = run(data.subarray(offset, end));
      if (ret instanceof Error) {
        const parsed = (ret as { bytesParsed?: unknown }).bytesParsed;
        return Object.assign(ret, { bytesParsed: offset + (typeof parsed === 'number' ? parsed : 0) });
      }
      // llhttp stopped without an error (an upgrade, its head's end that of the piece, or short
      // of it): node:http takes the rest of the read from there, as from an uncut read.
      if (ret < end - offset || this.switched) {
        this.switched = false;
        return offset + ret;
      }
      offset = end;
      return null;
    };
    while (offset < data.length) {
      if (this.body !== null) {
        const body = this.body;
        const end = body.read(data, offset, ignore);
        if (body.failed) {
          this.body = null;
          const at = end - 1;
          if (body.problem === CHUNK_WHITESPACE && data[at] === CR) {
            // Up to the CR: a refusal of llhttp's before it (whitespace inside an extension) stands.
            const before = runTo(at);
            if (before !== null) return before;
            this.refused = { code: 'HPE_INVALID_CHUNK_SIZE', reason: CHUNK_SIZE_SPACE_REASON };
            return parseError(this.refused, at);
          }
          continue;
        }
        const stopped = runTo(end);
        if (stopped !== null) return stopped;
        if (body.done) this.body = null;
        continue;
      }
      if (this.lengthLeft > 0) {
        const end = Math.min(data.length, offset + this.lengthLeft);
        this.lengthLeft -= end - offset;
        const stopped = runTo(end);
        if (stopped !== null) return stopped;
        continue;
      }
      // Where a head may end: llhttp's headers-complete comes at a piece's end, and a chunked
      // body, if it said one, at the next piece's start.
      let next = data.length;
      for (const end of ends) {
        if (end > offset) {
          next = end;
          break;
        }
      }
      const stopped = runTo(next);
      if (stopped !== null) return stopped;
    }
    return data.length;
  }
}

/** Every offset in `data` just past a CRLF CRLF, one begun in `tail` (the read before) included. */
function headEnds(tail: Buffer, data: Buffer): number[] {
  const joined = tail.length === 0 ? data : Buffer.concat([tail, data.subarray(0, 3)]);
  const ends: number[] = [];
  // Those that end within the first 3 bytes of `data`, begun in `tail`.
  if (tail.length > 0) {
    for (let i = joined.indexOf(HEAD_END); i !== -1 && i < tail.length; i = joined.indexOf(HEAD_END, i + 1)) {
      const end = i + 4 - tail.length;
      if (end > 0) ends.push(end);
    }
  }
  for (let i = data.indexOf(HEAD_END); i !== -1; i = data.indexOf(HEAD_END, i + 1)) ends.push(i + 4);
  return ends;
}

function parseError(refused: { code: string; reason: string }, bytesParsed: number): Error {
  return Object.assign(new Error(`Parse Error: ${refused.reason}`), { code: refused.code, reason: refused.reason, bytesParsed });
}
