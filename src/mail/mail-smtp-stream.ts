// smtp-server's reader of a connection's bytes (SMTPStream), with the whole of RFC 5321 4.5.2's
// transparency: "If the first character is a period and there are other characters on the
// line, the first character is deleted." smtp-server deletes it only when a second dot follows
// (`..`), so a line whose dot the client failed to double (`.foo`) reached the app as `.foo`,
// where Postfix and sendmail store `foo`. That dot is dropped here, from each chunk as it comes
// in and before smtp-server reads it: a message still streams to the spool, never held whole.
//
// It is done before smtp-server's own reading, not after it: once `..` is unstuffed, `.foo`
// from `..foo` (right as it is) and `.foo` as sent (its dot to drop) are the same bytes.
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';

const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;
const HELD_DOT = Buffer.from('.');

/**
 * Where the message's bytes read so far end:
 *   line-start  a line begins (the message's first too): a dot here is transparency's
 *   dot         a line began with a dot, held back until the next byte says what it is: with a
 *               dot, CR or LF after it, it goes to smtp-server (`..` to unstuff, the end `.CRLF`,
 *               a line of one dot), else it is dropped
 *   dot-cr      a line began with `.CR`: an LF ends the message (if that line may end it)
 *   text        within a line
 *   ended       the message has ended: what follows in the chunk is commands, as sent
 */
type Position = 'line-start' | 'dot' | 'dot-cr' | 'text' | 'ended';

export class MailSmtpStream extends SMTPStream {
  private position: Position = 'ended';
  /**
   * Whether the line begun may end the message: the first, and one after CRLF, as smtp-server's
   * end (`CRLF.CRLF`, or `.CRLF` first); not one after a bare LF.
   */
  private mayEnd = false;
  private afterCr = false;

  override startDataMode(maxBytes?: number | string | null): ReturnType<SMTPStream['startDataMode']> {
    this.position = 'line-start';
    this.mayEnd = true;
    this.afterCr = false;
    return super.startDataMode(maxBytes);
  }

  // Every byte of a connection comes here once: smtp-server's own re-reading of a chunk (after an
  // escape dot) calls _feedDataStream, and what follows a message's end comes back in command mode.
  override _write(chunk: Buffer, encoding: BufferEncoding | 'buffer', next: (err?: Error | null) => void): void {
    super._write(this._dataMode && this.position !== 'ended' ? this.dropLoneDots(chunk) : chunk, encoding, next);
  }

  /** `chunk` without the first dot of each line that RFC 5321 4.5.2 deletes; `chunk` itself if none. */
  private dropLoneDots(chunk: Buffer): Buffer {
    const kept: Buffer[] = [];
    let from = 0; // the first byte not yet in `kept`
    for (let i = 0; i < chunk.length && this.position !== 'ended'; i++) {
      const byte = chunk[i];
      switch (this.position) {
        case 'line-start':
          if (byte === DOT) {
            kept.push(chunk.subarray(from, i));
            from = i + 1;
            this.position = 'dot';
          } else {
            this.position = byte === LF ? 'line-start' : 'text';
          }
          break;
        case 'dot':
          if (byte === DOT || byte === CR || byte === LF) kept.push(HELD_DOT);
          this.position = byte === CR ? 'dot-cr' : byte === LF ? 'line-start' : 'text';
          break;
        case 'dot-cr':
          this.position = byte !== LF ? 'text' : this.mayEnd ? 'ended' : 'line-start';
          break;
        case 'text':
          if (byte === LF) this.position = 'line-start';
          break;
      }
      if (byte === LF) this.mayEnd = this.afterCr;
      this.afterCr = byte === CR;
    }
    if (kept.length === 0) return chunk;
    kept.push(chunk.subarray(from));
    return Buffer.concat(kept);
  }
}
