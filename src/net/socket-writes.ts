// Writes to a connection, each told when its bytes are in the kernel's hands, where a write of
// no bytes is told when the writes before it are, without a system call of its own. A response
// with a Content-Length ends with nothing left to send; handed to the socket, that empty write
// is a write(2) of 0 bytes, which on a unix socket whose client has read the whole answer and
// closed fails with EPIPE (TCP takes it): the access log then called a complete response the
// client's leaving (499) on `unix:` listeners only (probe-l finding 2).

import type { Socket } from 'node:net';

export type WriteDone = (err?: Error | null) => void;

/**
 * Told of its write as a WriteDone is, by a method: an object that is there anyway (a response)
 * makes no closure for its last write, which was ~0.1 KB of garbage per request (docs/performance.md, 2026-12-06).
 */
export interface WriteListener {
  written(err?: Error | null): void;
}

export type WriteCallback = WriteDone | WriteListener;

function tell(done: WriteCallback | undefined, err?: Error | null): void {
  if (typeof done === 'function') done(err);
  else done?.written(err);
}

export class SocketWrites {
  /**
   * The callbacks of the writes under way, oldest first: Node calls a stream's write callbacks
   * in the order of the writes (with an error for those a failure or destroy() left unsent).
   */
  private readonly pending: Array<WriteCallback | undefined> = [];
  private readonly written = (err?: Error | null): void => tell(this.pending.shift(), err);

  constructor(private readonly socket: Socket) {}

  write(data: string | Buffer, done?: WriteCallback): void {
    if (data.length === 0) {
      if (done !== undefined) this.afterPending(done);
      return;
    }
    this.pending.push(done);
    if (typeof data === 'string') this.socket.write(data, 'latin1', this.written);
    else this.socket.write(data, this.written);
  }

  /** `done` once the writes under way are in the kernel's hands (with the last one's error). */
  private afterPending(done: WriteCallback): void {
    const last = this.pending.length - 1;
    if (last < 0) {
      process.nextTick(tell, done); // as a write's callback: never before the caller's turn is over
      return;
    }
    const before = this.pending[last];
    this.pending[last] = (err) => {
      tell(before, err);
      tell(done, err);
    };
  }
}
