// One websocket an ASGI app holds (docs/protocol.md §8), from WS_CONNECT to its terminal frame:
// the app's answer completes the handshake (WS_ACCEPT: the 101, written by the `ws` library with
// the app's subprotocol and headers) or refuses it (WS_CLOSE: 403; the denial response
// extension: that response; ERROR: 500), within the app's `timeout` (504). Then whole messages
// go both ways within the credit windows of §5 (websocket-flow.ts), and each side's close is
// passed on to the other. The link id is freed on the terminal frame only (worker-link.ts).
import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { ABORT_TIMED_OUT, Frame, WsCloseCode, decodeWsAccept, decodeWsClose, encodeFrame, encodeWsClose } from '../link/frames.js';
import { encodeRequest } from '../link/request-frame.js';
import { isHttpToken } from '../net/http-token.js';
import { spanOf } from '../count.js';
import type { WebsocketLinkExchange, WorkerLink } from '../link/worker-link.js';
import type { CgiRequest } from './cgi-request.js';
import { failureStatus, refuseUpgrade, refuseUpgradeFor } from './error-response.js';
import { targetShown } from './requests-in-flight.js';
import { DENIAL_LAST_CHUNK, denialChunk, denialHasBody, denialHead } from './websocket-denial.js';
import { WebsocketFlow } from './websocket-flow.js';
import { keepAlive } from './websocket-keepalive.js';

export interface AsgiWebsocketOptions {
  /** No answer to the handshake this long: 504. */
  timeoutMs: number;
  /** A 500 before the handshake carries the traceback. */
  development: boolean;
  /** A line in the app's log from the gateway (AppInstance.report). */
  report?: (line: string) => void;
}

const enum Client {
  /** ws checks the handshake (method, key, version); the app has heard nothing yet. */
  Checking,
  /** WS_CONNECT sent: waiting for the app's answer. */
  Handshake,
  /** The app's denial response is being written, its body streamed. */
  Denying,
  /** The 101 went out: messages flow. */
  Open,
  /** Answered and closed (or closing), or the client left. */
  Gone,
}

const TIMED_OUT_PAYLOAD = Buffer.from([ABORT_TIMED_OUT]);

/** Bytes a client sends before the 101 (it should send none, RFC 6455 §4.1) kept for ws; past them it is cut. */
const EARLY_BYTES_LIMIT = 64 * 1024;

/** One websocket on a link, from WS_CONNECT to its terminal frame. */
export class AsgiWebsocket implements WebsocketLinkExchange {
  id = 0;
  openedAtFlush?: number;
  private client = Client.Checking;
  /** ws's verifyClient callback, until the app answers. */
  private answer: ((accepted: boolean) => void) | null = null;
  private accepted: { subprotocol: string; headers: Array<[string, string]> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The app knows the websocket is over: it closed it, or it was sent WS_CLOSE. */
  private appTold = false;
  /** The terminal frame came (or the link failed): the id may be reused, so nothing more is sent for it. */
  private settled = false;
  /** Its messages and credits, from WS_CONNECT on. */
  private flow: WebsocketFlow | null = null;
  /** What the client sent while the app decided, for ws to read first. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  /** The streamed denial body goes in chunks (denialHead said so), else as it comes. */
  private denialChunked = false;
  /** The request target, for the log: as the client sent it (`target`), else the origin form. */
  private path = '';
  /** performance.now() when WS_CONNECT went to the app (LinkExchange.heldSince). */
  heldSince?: number;
  /** The code ws closed the client with for breaking the protocol; its 'close' then says only 1006. */
  private protocolErrorCode = 0;

  constructor(
    private readonly link: WorkerLink,
    private readonly socket: Socket,
    private request: CgiRequest | null,
    private readonly options: AsgiWebsocketOptions,
    /** The target as the client sent it, absolute-form too: the log names it so, as the access log does. */
    private readonly target?: string,
  ) {}

  /**
   * `websocket /chat open 12 s` (or its handshake, unanswered): what the log line of a worker
   * gone silent names when the websocket is what it has held longest (WorkerLink.markSilent).
   */
  heldFor(now: number): string {
    const span = spanOf(now - (this.heldSince ?? now));
    const shown = targetShown(this.path);
    return this.client === Client.Handshake ? `websocket ${shown}, its handshake unanswered for ${span}` : `websocket ${shown} open ${span}`;
  }

  /** WS_CONNECT was sent: the app decides. */
  get asked(): boolean {
    return this.client !== Client.Checking;
  }

  /** ws found the handshake valid: ask the app (WS_CONNECT), within its timeout. */
  connect(answer: (accepted: boolean) => void): void {
    const { line, pairs } = this.request!;
    this.request = null;
    this.path = this.target ?? line.requestUri;
    this.heldSince = performance.now();
    this.client = Client.Handshake;
    this.answer = answer;
    this.flow = new WebsocketFlow(this.link, this.id);
    this.link.write(encodeRequest(this.id, { ...line, body: '' }, pairs, Frame.WS_CONNECT));
    this.timer = setTimeout(this.expire, this.options.timeoutMs);
    this.timer.unref();
    // Node leaves an upgrade's socket unread. Read it while the app decides, so that a client
    // that leaves is seen at once (and the app told); what it sends meanwhile is kept for ws.
    this.socket.on('data', this.holdEarly);
    this.socket.once('end', this.onHandshakeEnd);
    this.socket.once('close', this.onHandshakeClose);
  }

  /**
   * ws's handleProtocols, and the 101's subprotocol when the client offered none (ws asks only
   * when some were): the app's choice as it made it, offered or not, as uvicorn sends it. A
   * client fails a handshake that names one it did not offer (RFC 6455 4.1), and so fails here
   * as under uvicorn, not only behind this gateway; the app's author learns why from its log.
   * Only a subprotocol that is no token (RFC 6455 4.1, RFC 7230's token) is left out: it cannot
   * go in the header.
   */
  chooseProtocol(offered: ReadonlySet<string>): string | false {
    const chosen = this.accepted?.subprotocol ?? '';
    if (chosen === '') return false;
    if (!isHttpToken(chosen)) {
      this.options.report?.(`websocket ${this.path}: the app accepted with subprotocol ${JSON.stringify(chosen)}, which is no token (RFC 6455 4.1); the 101 went without one`);
      return false;
    }
    if (!offered.has(chosen)) {
      const asked = offered.size === 0 ? 'none' : [...offered].join(', ');
      this.options.report?.(`websocket ${this.path}: the app accepted with subprotocol "${chosen}", which the client did not offer (it offered: ${asked}); sent as the app chose, as uvicorn does, and a client fails such a handshake (RFC 6455 4.1)`);
    }
    return chosen;
  }

  /** The extra headers the app wants on the 101 (WS_ACCEPT). */
  get acceptHeaders(): ReadonlyArray<[string, string]> {
    return this.accepted?.headers ?? [];
  }

  /** The 101 went out: the client's messages and close go to the app from now on. */
  opened(ws: WebSocket): void {
    this.client = Client.Open;
    this.flow!.attach(ws);
    ws.on('message', this.onClientMessage);
    ws.on('close', this.onClientClose);
    ws.on('error', this.onClientError);
    keepAlive(ws, this.socket, (silentMs) => {
      this.options.report?.(`websocket ${this.path}: the client answered no ping for ${silentMs / 1000} s; closed (the app hears 1006)`);
    });
  }

  onFrame(type: number, payload: Buffer): void {
    switch (type) {
      case Frame.WS_APP_MESSAGE:
        return this.flow!.toClient(payload);
      case Frame.REQUEST_CREDIT:
        return this.flow!.credit(payload.readUInt32BE(0));
      case Frame.WS_ACCEPT:
        return this.accept(payload);
      case Frame.WS_APP_CLOSE:
        return this.appClosed(payload);
      case Frame.RESPONSE: {
        const head = payload.toString('latin1');
        if (this.deny(head, null)) {
          this.client = Client.Denying;
          this.denialChunked = denialHasBody(head);
        }
        return;
      }
      case Frame.RESPONSE_BODY: {
        if (this.client !== Client.Denying) return;
        const piece = this.denialChunked ? denialChunk(payload) : payload;
        if (piece !== null) this.socket.write(piece, () => this.flow!.written(payload.length));
        return;
      }
      case Frame.RESPONSE_FULL: {
        this.settle();
        const bodyStart = payload.length < 4 ? 0 : 4 + payload.readUInt32BE(0);
        if (bodyStart === 0 || bodyStart > payload.length) {
          this.link.outOfOrder(`a RESPONSE_FULL of ${payload.length} bytes for websocket ${this.id}, shorter than the head it announces`);
          return this.ended('the worker sent a malformed response frame');
        }
        if (this.deny(payload.toString('latin1', 4, bodyStart), payload.length - bodyStart)) this.socket.end(payload.subarray(bodyStart));
        else this.ended(null);
        return;
      }
      case Frame.RESPONSE_END:
      case Frame.UNRUN:
        return this.ended(null);
      case Frame.ERROR:
        return this.ended(payload.toString('utf8'));
      default:
        return;
    }
  }

  /** WS_ACCEPT: complete the handshake (ws writes the 101 and calls opened(), unless the client is gone). */
  private accept(payload: Buffer): void {
    if (this.client !== Client.Handshake) return; // too late: the client was answered, and the app told
    const answer = this.answer!;
    this.stopWaiting();
    this.accepted = decodeWsAccept(payload);
    // ws reads the socket from here on: what came early first (after `head`, which ws puts back itself).
    this.socket.removeListener('data', this.holdEarly);
    this.socket.removeListener('end', this.onHandshakeEnd);
    if (this.early.length > 0) this.socket.unshift(Buffer.concat(this.early));
    this.early = [];
    answer(true);
    if (this.client === Client.Handshake) {
      // ws found the connection half-closed and dropped it: the client left.
      this.client = Client.Gone;
      this.tellApp(WsCloseCode.ABNORMAL, '');
    }
  }

  /** The app's denial response head, instead of the 101; false when the client no longer waits for one. */
  private deny(head: string, bodyLength: number | null): boolean {
    if (this.client !== Client.Handshake) return false;
    this.stopWaiting();
    const text = denialHead(head, bodyLength);
    if (text === null) {
      this.client = Client.Gone;
      refuseUpgradeFor(this.socket, 'bad-response', 'the app\'s denial response head was invalid');
      return false;
    }
    this.client = Client.Gone;
    this.socket.write(text, 'latin1');
    return true;
  }

  /** WS_APP_CLOSE: before the accept a refusal (403), after it the client is closed with the app's code. */
  private appClosed(payload: Buffer): void {
    const { code, reason } = decodeWsClose(payload);
    this.appTold = true;
    if (this.client === Client.Handshake) {
      this.stopWaiting();
      this.client = Client.Gone;
      refuseUpgrade(this.socket, 403, reason === '' ? 'the app refused the websocket' : reason.replace(/[\r\n]/g, ' '));
    } else if (this.client === Client.Open) {
      this.flow!.close(code, reason);
    }
  }

  /**
   * The terminal frame: the app's coroutine returned (traceback null) or raised. Before any
   * answer that is a 403 or a 500; after the 101 the client is closed, 1000 or 1011, unless
   * closing already.
   */
  private ended(traceback: string | null): void {
    this.settle();
    switch (this.client) {
      case Client.Handshake:
        this.stopWaiting();
        this.client = Client.Gone;
        // Returning without an answer declines, as websocket.close would (ASGI: 403).
        if (traceback === null) refuseUpgrade(this.socket, 403, 'the app did not accept the websocket');
        else refuseUpgrade(this.socket, failureStatus('app-error'), `the app raised before accepting the websocket${this.options.development ? `\n\n${traceback}` : ''}`);
        return;
      case Client.Denying:
        this.client = Client.Gone;
        // A denial body cut short must not look complete: without its last chunk it does not.
        if (traceback === null) this.socket.end(this.denialChunked ? DENIAL_LAST_CHUNK : '');
        else this.socket.destroy();
        return;
      case Client.Open:
        this.flow!.close(traceback === null ? WsCloseCode.NORMAL : WsCloseCode.INTERNAL_ERROR, '');
        return;
      default:
        return;
    }
  }

  onLinkFailed(): void {
    this.settle();
    switch (this.client) {
      case Client.Handshake:
        this.stopWaiting();
        this.client = Client.Gone;
        refuseUpgradeFor(this.socket, 'upstream-gone', 'the app\'s worker went away before it answered');
        return;
      case Client.Denying:
        this.client = Client.Gone;
        this.socket.destroy();
        return;
      case Client.Open:
        this.flow!.close(WsCloseCode.INTERNAL_ERROR, 'the app\'s worker went away');
        return;
      default:
        return;
    }
  }

  /** The gateway ends it: the app is told (WS_CLOSE `code`) and the client closed (1012 a drain, 1001 a stop). */
  closeByGateway(code: number, reason: string): void {
    if (this.client === Client.Handshake) {
      this.stopWaiting();
      this.client = Client.Gone;
      refuseUpgradeFor(this.socket, 'unavailable', reason);
      this.tellApp(code, reason);
    } else if (this.client === Client.Open) {
      this.tellApp(code, reason);
      this.flow!.close(code, reason);
    }
  }

  private readonly onClientMessage = (data: RawData, isBinary: boolean): void => {
    // binaryType 'nodebuffer' (the default): one Buffer per message.
    if (!this.settled && !this.appTold) this.flow!.toApp(data as Buffer, isBinary);
  };

  /** A protocol error or a reset; 'close' follows. */
  private readonly onClientError = (err: Error & { code?: string }): void => {
    this.protocolErrorCode = wsErrorCloseCode(err.code);
  };

  /**
   * ws's 'close': the client's code (1005 when it gave none, 1006 when it vanished) goes to the
   * app; after a protocol error, the code the client was closed with (1007 for invalid UTF-8),
   * as the client saw it, not 1006.
   */
  private readonly onClientClose = (code: number, reason: Buffer): void => {
    this.client = Client.Gone;
    if (code === WsCloseCode.ABNORMAL && this.protocolErrorCode !== 0) this.tellApp(this.protocolErrorCode, '');
    else this.tellApp(code, reason.toString('utf8'));
  };

  private readonly holdEarly = (chunk: Buffer): void => {
    if (this.client !== Client.Handshake) return;
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > EARLY_BYTES_LIMIT) this.socket.destroy();
  };

  /** The client half-closed while the app decides: it cannot take a websocket any more. */
  private readonly onHandshakeEnd = (): void => {
    if (this.client === Client.Handshake) this.socket.destroy();
  };

  /** The client left before the 101 (or during a denial): the app is told it went away. */
  private readonly onHandshakeClose = (): void => {
    if (this.client !== Client.Handshake && this.client !== Client.Denying) return;
    this.stopWaiting();
    this.client = Client.Gone;
    this.tellApp(WsCloseCode.ABNORMAL, '');
  };

  private readonly expire = (): void => {
    this.timer = null;
    if (this.client !== Client.Handshake) return;
    this.answer = null;
    this.client = Client.Gone;
    refuseUpgradeFor(this.socket, 'timeout', `the app did not answer the websocket handshake within ${this.options.timeoutMs / 1000} s`);
    // As at an HTTP request's 504 (wsgi-exchange.ts), the app's task is cancelled, not only told
    // the client left: one stuck before its accept (a backend that never answers) would
    // otherwise hang on, unseen, for the worker's life.
    if (this.settled || this.appTold) return;
    this.appTold = true;
    this.link.write(encodeFrame(Frame.ABORT, this.id, TIMED_OUT_PAYLOAD));
  };

  private tellApp(code: number, reason: string): void {
    if (this.settled || this.appTold) return;
    this.appTold = true;
    this.link.write(encodeWsClose(this.id, code, reason));
  }

  /** The id is free: nothing more goes to the app. */
  private settle(): void {
    this.settled = true;
    this.flow?.end();
  }

  /** The handshake is answered: no timeout, no ws callback pending. */
  private stopWaiting(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.answer = null;
  }
}

/**
 * The close code ws sends a client for each of its receiver's errors (ws/lib/receiver.js), by
 * the error's documented `code`; 0 for an error that is no protocol error (a reset).
 */
function wsErrorCloseCode(code: string | undefined): number {
  if (code === undefined || !code.startsWith('WS_ERR_')) return 0;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return 1009;
  if (code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return 1008;
  return 1002;
}
