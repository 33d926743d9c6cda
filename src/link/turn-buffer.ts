// The frames a link writes in one event-loop turn, staged in one buffer that is written again
// turn after turn. A REQUEST frame is written straight into it (worker-link.ts writeRequest):
// a Buffer of its own per request, then a copy of them all per turn (Buffer.concat), was a
// hello's frame twice over, and the frame's buffer object (docs/performance.md, 2026-12-06, H222).
//
// Reusing it is safe only once the socket is done with the bytes it was given: a write to a
// net.Socket (the worker's socketpair) that the kernel takes whole completes before write()
// returns (node:internal/stream_base_commons afterWriteDispatched calls back at once when the
// write was not async), and only then is the socket's writableLength 0; a write the kernel took
// part of holds the buffer (libuv writes the rest from it later), and writableLength stays above
// 0 until it is done. So the buffer starts again from its beginning only after a flush that
// left writableLength at 0; otherwise the next turn stages after the bytes still being written,
// and a new buffer is made when this one is full. Any other Duplex (a test's) may keep the
// chunk itself: its bytes are never written over.

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Enough for a turn of ~40 hellos; a larger turn takes a buffer of its own. */
const SIZE = 16 * 1024;
/** Larger writes (a body's pieces) are not copied: the staged bytes go before them as a view. */
const COPY_LIMIT = 4 * 1024;
/** Writes smaller than this (per turn, in all) are joined into one buffer; larger ones corked. */
const JOIN_LIMIT = 64 * 1024;

export class TurnBuffer {
  private buffer: Buffer | null = null;
  /** This turn's bytes are buffer[start, end). */
  private start = 0;
  private end = 0;
  /** What leaves before the bytes staged now: views of earlier staged bytes and large writes, in order. */
  private before: Buffer[] = [];
  private beforeBytes = 0;
  private readonly reusable: boolean;

  constructor(private readonly socket: Duplex) {
    this.reusable = socket instanceof Socket;
  }

  /** Whether anything waits for the next flush. */
  get pending(): boolean {
    return this.end > this.start || this.before.length > 0;
  }

  /** `buf`, after what was staged before it. */
  push(buf: Buffer): void {
    if (buf.length > COPY_LIMIT) {
      this.seal();
      this.before.push(buf);
      this.beforeBytes += buf.length;
      return;
    }
    const at = this.reserve(buf.length);
    buf.copy(this.buffer!, at);
  }

  /** `size` bytes staged after what was before; returns where they start in target(). */
  reserve(size: number): number {
    if (this.buffer === null || this.end + size > this.buffer.length) {
      this.seal();
      this.buffer = Buffer.allocUnsafeSlow(Math.max(SIZE, size));
      this.start = this.end = 0;
    }
    const at = this.end;
    this.end += size;
    return at;
  }

  /** The buffer reserve()'s offsets are in (until the next reserve()). */
  get target(): Buffer {
    return this.buffer!;
  }

  /** Everything staged, to the socket, in order. */
  flush(): void {
    const socket = this.socket;
    if (this.before.length === 0) {
      if (this.end > this.start) socket.write(this.buffer!.subarray(this.start, this.end));
    } else {
      this.seal();
      const out = this.before;
      const bytes = this.beforeBytes;
      this.before = [];
      this.beforeBytes = 0;
      if (out.length === 1) {
        socket.write(out[0]);
      } else if (bytes <= JOIN_LIMIT) {
        socket.write(Buffer.concat(out, bytes));
      } else {
        socket.cork();
        for (const buf of out) socket.write(buf);
        socket.uncork();
      }
    }
    // See the top of the file: 0 here means the kernel has every byte this buffer ever held.
    if (this.reusable && socket.writableLength === 0) this.start = this.end = 0;
    else this.start = this.end;
  }

  /** Nothing staged leaves (the link failed). */
  drop(): void {
    this.before = [];
    this.beforeBytes = 0;
    this.start = this.end;
  }

  /** The bytes staged so far go before what comes next, as a view of the buffer. */
  private seal(): void {
    if (this.end === this.start) return;
    this.before.push(this.buffer!.subarray(this.start, this.end));
    this.beforeBytes += this.end - this.start;
    this.start = this.end;
  }
}
