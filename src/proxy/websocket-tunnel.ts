// A websocket carried to a `processes:` route (forward-upgrade.ts) as bytes, which the gateway
// can still close itself at the end of a drain, with 1012 as it closes an ASGI app's (SPEC 5.1):
// it follows the frame boundaries of what the process sends (RFC 6455 §5.2: only the headers are
// read, the payloads pass as they are), so that its close frame goes to the client between two
// of the process's frames, never inside one. The process is then told by the end of its side of
// the connection, as when a client goes.
import type { Socket } from 'node:net';

/** How long a frame under way may take to end before the close frame can go: then both sides are cut. */
const FRAME_END_WAIT_MS = 5000;

export class WebsocketTunnel {
  /** Of the frame the process is sending, the payload bytes still to come. */
  private remaining = 0;
  /** The start of a frame header read so far (up to 14 bytes). */
  private header: Buffer = Buffer.alloc(0);
  private closing: Buffer | null = null;
  private cut = false;

  /** Takes over `fromProcess` → `client` (http-proxy piped them): every byte still passes. */
  constructor(
    private readonly client: Socket,
    private readonly fromProcess: Socket,
  ) {
    fromProcess.unpipe(client);
    fromProcess.on('data', (chunk: Buffer) => this.forward(chunk));
    // unpipe() left it paused: a 'data' listener alone does not start it again.
    fromProcess.resume();
  }

  /**
   * Closes it as the gateway: `code` and `reason` go to the client in a close frame once the
   * process's frame under way has ended, and the process's side of the connection is ended.
   */
  closeByGateway(code: number, reason: string): void {
    if (this.closing !== null || this.cut || this.client.destroyed) return;
    const text = Buffer.from(reason).subarray(0, 123);
    this.closing = Buffer.concat([Buffer.from([0x88, 2 + text.length, code >> 8, code & 0xff]), text]);
    if (this.atBoundary) this.sendClose();
    else {
      setTimeout(() => {
        if (this.cut) return;
        this.client.destroy();
        this.fromProcess.destroy();
      }, FRAME_END_WAIT_MS).unref();
    }
  }

  private get atBoundary(): boolean {
    return this.remaining === 0 && this.header.length === 0;
  }

  private forward(chunk: Buffer): void {
    if (this.cut) return;
    let sent = chunk.length;
    if (this.closing !== null) {
      sent = this.boundaryIn(chunk);
      if (sent < 0) sent = chunk.length;
    } else {
      this.track(chunk);
    }
    if (sent > 0 && !this.client.write(sent === chunk.length ? chunk : chunk.subarray(0, sent))) {
      this.fromProcess.pause();
      this.client.once('drain', () => this.fromProcess.resume());
    }
    if (this.closing !== null && this.atBoundary) this.sendClose();
  }

  /** Tracks `chunk` up to the first frame boundary it reaches: its offset, or -1 when none. */
  private boundaryIn(chunk: Buffer): number {
    let at = 0;
    while (at < chunk.length) {
      at += this.step(chunk.subarray(at));
      if (this.atBoundary) return at;
    }
    return -1;
  }

  private track(chunk: Buffer): void {
    for (let at = 0; at < chunk.length; ) at += this.step(chunk.subarray(at));
  }

  /** Reads what `bytes` holds of the current frame (its header or its payload): how many it took. */
  private step(bytes: Buffer): number {
    if (this.remaining > 0) {
      const taken = Math.min(this.remaining, bytes.length);
      this.remaining -= taken;
      return taken;
    }
    const before = this.header.length;
    const header = Buffer.concat([this.header, bytes.subarray(0, 14)]);
    if (header.length < 2) {
      this.header = header;
      return bytes.length;
    }
    const short = header[1] & 0x7f;
    const size = 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + (header[1] & 0x80 ? 4 : 0);
    if (header.length < size) {
      this.header = header;
      return header.length - before;
    }
    this.remaining = short === 126 ? header.readUInt16BE(2) : short === 127 ? Number(header.readBigUInt64BE(2)) : short;
    this.header = Buffer.alloc(0);
    return size - before;
  }

  private sendClose(): void {
    if (this.cut || this.closing === null) return;
    this.cut = true;
    this.client.unpipe(this.fromProcess);
    this.client.write(this.closing);
    // The client's answer has nowhere to go; its FIN, or ours below, ends the connection.
    this.client.resume();
    this.fromProcess.end();
    this.client.end();
  }
}
