// What a program wrote last, kept as it passes on to the caller's stream: a library caller's
// `output` may be a stream that keeps nothing (a sink, a log at another level), and a failure's
// fix that sent its reader to that output sent them nowhere. The error carries the tail instead.
import { Writable } from 'node:stream';

/** Enough for pip's closing ERROR lines; the rest went to the caller's stream. */
const KEEP_BYTES = 4096;
/** A line longer than this is cut: a fix quotes the tail, not a dump. */
const LINE_CHARS = 300;

export class OutputTail extends Writable {
  private kept = Buffer.alloc(0);

  constructor(private readonly to: Writable) {
    super();
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.kept = Buffer.concat([this.kept, bytes]).subarray(-KEEP_BYTES);
    // As runProgram writes to the caller's stream itself: not held back by it.
    this.to.write(bytes);
    done();
  }

  /** The last `n` lines that are not blank. */
  lines(n: number): string[] {
    return this.kept
      .toString('utf8')
      .split('\n')
      .map((line) => line.replace(/\r$/, '').trimEnd())
      .filter((line) => line.trim() !== '')
      .slice(-n)
      .map((line) => (line.length > LINE_CHARS ? `${line.slice(0, LINE_CHARS)}...` : line));
  }
}
