// Each chunked body's size lines in a request node:http reads, read beside llhttp by the lean
// lane's decoder (net/chunked-body.ts), so that both readers frame and refuse the same bytes
// alike. llhttp is strict about whitespace in a chunk extension where RFC 9112 §7.1.1 has BWS
// (`3; a=1`, `3;a = 1`, `3;a= "x"`: a 400 from node:http, served by the lane, nginx and uvicorn
// with httptools), and its leniency for spaces after a size takes `3 <CRLF>` too, which has
// none. An extension carries nothing the gateway or the app uses (the app gets the decoded
// body), so llhttp is given each size line without it (`3<CRLF>`), and the decoder alone judges
// it: a size line the decoder refuses up to its CR is refused in its words, llhttp given the
// bytes before the octet refused (a refusal of llhttp's there stands). llhttp tells no offsets, so the bytes
// it reads are cut where a head may end (CRLF CRLF) and each body the head says is chunked is
// read beside it. Every other verdict on the body (its data, their CRLFs, the trailer section)
// stays llhttp's.
import type { EventEmitter } from 'node:events';
import { announceBody } from './announced-body.js';
import { ChunkedBody } from './chunked-body.js';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** Transfer-Encoding whose last coding is chunked (RFC 9112 §6.3 item 4): llhttp reads a chunked body. */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
const ignore = (): void => {};

/** One execute of llhttp over `piece`: bytes read, or its error (bytesParsed within `piece`). */
export type RunParser = (piece: Buffer) => number | Error;

export class ChunkSizeLines {
  /** The chunked body under way, read beside llhttp; null between bodies, or once its verdict is llhttp's. */
  private body: ChunkedBody | null = null;
  /** The request the body under way is of: its size lines announce its length there (net/announced-body.ts). */
  private request: EventEmitter | null = null;
  /**
   * Bytes of a body framed by Content-Length still to come: given to llhttp whole, not cut where
   * they hold a CRLF CRLF, since node-parser.ts finds a line after such a body by its last piece.
   */
  private lengthLeft = 0;
  /** The last bytes of the read before (up to 3): a head's CRLF CRLF may span two reads. */
  private tail = Buffer.alloc(0);
  /** llhttp stopped at the end of a head it reads no more after (an upgrade, CONNECT): node:http takes the rest. */
  private switched = false;
  /** The refusal given, in the lane's words: llhttp's errors stay, and so does this one. */
  private refused: string | null = null;

  /** A size line was refused here: llhttp, which has no error of its own, is not to take the client's FIN for a message cut short. */
  get refusedOne(): boolean {
    return this.refused !== null;
  }

  /** The parser starts over at a message's start (net/node-parser.ts startOver). */
  reset(): void {
    this.body = null;
    this.request = null;
    this.lengthLeft = 0;
    this.switched = false;
    this.tail = Buffer.alloc(0);
    this.refused = null;
  }

  /**
   * A head just ended (llhttp's headers-complete, `skip` when it reads no body after it), of
   * `request` (node:http's IncomingMessage: pipelined, the one llhttp is reading now).
   */
  headEnded(request: (EventEmitter & { headers?: { 'transfer-encoding'?: string; 'content-length'?: string } }) | null | undefined, skip: unknown): void {
    const headers = request?.headers;
    const te = headers?.['transfer-encoding'];
    const body = skip !== 1 && skip !== 2;
    this.body = body && te !== undefined && CHUNKED_LAST.test(te) ? new ChunkedBody() : null;
    this.request = this.body === null ? null : request!;
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
        // This read's octets of size lines after their sizes, as [from, to) runs: not llhttp's.
        const cuts: number[] = [];
        const end = body.read(data, offset, ignore, (at) => {
          if (cuts.length > 0 && cuts[cuts.length - 1] === at) cuts[cuts.length - 1] = at + 1;
          else cuts.push(at, at + 1);
        });
        for (let k = 0; k < cuts.length; k += 2) {
          const stopped = runTo(cuts[k]);
          if (stopped !== null) return stopped;
          offset = cuts[k + 1];
        }
        // Said before llhttp passes on this read's data: a body announced past max_body is
        // refused before the app gets bytes of the chunk that passes it.
        if (!body.failed && body.sized) announceBody(this.request!, body.announced);
        if (body.failed) {
          this.body = null;
          this.request = null;
          if (body.failedInSizeLine) {
            // llhttp up to the octet refused: a refusal of its own before it stands.
            const at = end - 1;
            const before = runTo(at);
            if (before !== null) return before;
            this.refused = body.problem!;
            return parseError(this.refused, at);
          }
          continue;
        }
        const stopped = runTo(end);
        if (stopped !== null) return stopped;
        if (body.done) {
          this.body = null;
          this.request = null;
        }
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

const kProblem = Symbol('apppkg.chunkSizeLineProblem');

/** Refuses a chunk-size line as llhttp refuses one, HPE_INVALID_CHUNK_SIZE, `problem` the lane's words for it. */
function parseError(problem: string, bytesParsed: number): Error {
  return Object.assign(new Error(`Parse Error: ${problem}`), { code: 'HPE_INVALID_CHUNK_SIZE', reason: problem, bytesParsed, [kProblem]: problem });
}

/** The lane's words for a chunk-size line refused here (net/request-head.ts parseErrorProblem); undefined for llhttp's own errors. */
export function chunkSizeLineProblem(err: object): string | undefined {
  return (err as { [kProblem]?: string })[kProblem];
}
