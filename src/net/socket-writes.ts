// Writes to a connection, each told when its bytes are in the kernel's hands, where a write of
// no bytes is told when the writes before it are, without a system call of its own. A response
// with a Content-Length ends with nothing left to send; handed to the socket, that empty write
// is a write(2) of 0 bytes, which on a unix socket whose client has read the whole answer and
// closed fails with EPIPE (TCP takes it): the access log then called a complete response the
// client's leaving (499) on `unix:` listeners only (probe-l finding 2).

import type { Socket } from 'node:net';

export type WriteDone = (err?: Error | null) => void;

export class SocketWrites {
  /**
   * The callbacks of the writes under way, oldest first: Node calls a stream's write callbacks
   * in the order of the writes (with an error for those a failure or destroy() left unsent).
   */
  private readonly pending: Array<WriteDone | undefined> = [];
  private readonly written = (err?: Error | null): void => this.pending.shift()?.(err);

  constructor(private readonly socket: Socket) {}

  write(data: string | Buffer, done?: WriteDone): void {
    if (data.length === 0) {
      if (done !== undefined) this.afterPending(done);
      return;
    }
    this.pending.push(done);
    if (typeof data === 'string') this.socket.write(data, 'latin1', this.written);
    else this.socket.write(data, this.written);
  }

  /** `done` once the writes under way are in the kernel's hands (with the last one's error). */
  private afterPending(done: WriteDone): void {
    const last = this.pending.length - 1;
    if (last < 0) {
      process.nextTick(done); // as a write's callback: never before the caller's turn is over
      return;
    }
    const before = this.pending[last];
    this.pending[last] = (err) => {
      before?.(err);
      done(err);
    };
  }
}
