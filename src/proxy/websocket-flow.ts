// The traffic of one websocket between its client (the `ws` library's socket) and its link id:
// messages each way within a window of docs/protocol.md §5 (§8), and the close frame the client
// gets. The client's messages go to the app until 1 MiB of them is not credited back
// (REQUEST_CREDIT), then the client is not read (TCP holds it back); the app's messages go to
// the client, and are credited back to the app (RESPONSE_CREDIT) as ws reports them written, so
// a client that stops reading stops the app.
import { WebSocket } from 'ws';
import { Frame, REQUEST_WINDOW, RESPONSE_CREDIT_STEP, WsCloseCode, WsKind, encodeU32Frame, wsMessageHeader } from '../link/frames.js';
import type { WorkerLink } from '../link/worker-link.js';

/** A close frame's reason is at most 123 bytes (RFC 6455 §5.5: a control frame carries 125). */
const MAX_REASON_BYTES = 123;

/** A code a close frame may carry (RFC 6455 §7.4: not 1004-1006, 1015, nor unassigned ones; ws throws on those). */
function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export class WebsocketFlow {
  private ws: WebSocket | null = null;
  /** The id is free (its terminal frame came): no frame may be sent for it any more. */
  private ended = false;
  /** WS_MESSAGE payload bytes sent to the app, and those it credited back. */
  private sent = 0;
  private credited = 0;
  private paused = false;
  private writtenUncredited = 0;

  constructor(
    private readonly link: WorkerLink,
    private readonly id: number,
  ) {}

  /** The 101 went out: messages go both ways from now on. */
  attach(ws: WebSocket): void {
    this.ws = ws;
  }

  /** The link id is free: nothing more goes to the app. */
  end(): void {
    this.ended = true;
  }

  /** A client's message for the app. */
  toApp(message: Buffer, binary: boolean): void {
    this.link.write(wsMessageHeader(this.id, binary, message.length));
    if (message.length > 0) this.link.write(message);
    // The app credits what it takes as WS_MESSAGE payloads: the kind byte counts.
    this.sent += message.length + 1;
    if (!this.paused && this.sent - this.credited >= REQUEST_WINDOW) {
      // The app takes the messages slower than the client sends: stop reading the client.
      this.paused = true;
      this.ws?.pause();
    }
  }

  /** REQUEST_CREDIT: the app took that many bytes of the client's messages. */
  credit(bytes: number): void {
    this.credited += bytes;
    if (this.paused && this.sent - this.credited < REQUEST_WINDOW) {
      this.paused = false;
      this.ws?.resume();
    }
  }

  /** WS_APP_MESSAGE: the app's message (its kind byte, then the message) for the client. */
  toClient(payload: Buffer): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return; // the client closes or left: the app is told
    const message = payload.subarray(1);
    ws.send(message, { binary: payload[0] === WsKind.BINARY }, (err) => {
      if (!err) this.written(message.length);
    });
  }

  /** `bytes` of the app's output (a message, or a denial response's body) reached the client's socket. */
  written(bytes: number): void {
    if (this.ended) return;
    this.writtenUncredited += bytes;
    if (this.writtenUncredited >= RESPONSE_CREDIT_STEP) {
      this.link.write(encodeU32Frame(Frame.RESPONSE_CREDIT, this.id, this.writtenUncredited));
      this.writtenUncredited = 0;
    }
  }

  /** Closes the client with `code` (1000 when a close frame cannot carry it), unless it is closing already. */
  close(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    while (Buffer.byteLength(reason, 'utf8') > MAX_REASON_BYTES) reason = reason.slice(0, -1);
    ws.close(isSendableCode(code) ? code : WsCloseCode.NORMAL, reason);
  }
}
