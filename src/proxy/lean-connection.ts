// One client connection on the lean lane (lean-lane.ts): its bytes read on the raw socket, plain
// requests parsed (net/plain-head.ts) and given to the proxy as LeanRequest and LeanResponse, their
// bodies received, their answers written in request order, a request pipelined behind answers
// not written yet kept unread until its turn, and the hand-off of the connection to node:http at
// the first request that is not plain.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { announceBody } from '../net/announced-body.js';
import { parsePlainHead, type PlainHead } from '../net/plain-head.js';
import { REQUEST_FULL_BODY_MAX } from '../link/request-frame.js';
import { ENDED_EARLY } from '../net/request-head.js';
import { escapeRawTarget } from '../net/raw-target.js';
import { higherMinorAsHttp11, simpleRequestEnded } from '../net/request-line-version.js';
import { knownMethod } from '../net/unknown-method.js';
import { endLingering } from '../net/lingering-close.js';
import { INTERIM_CONTINUE, probeAfterEnd } from '../net/leave-probe.js';
import { readAsStream, readIntoSharedBuffer, SHARED_READ_BYTES } from '../net/shared-read-buffer.js';
import { SocketWrites } from '../net/socket-writes.js';
import { shortBody, unparsableAnswer } from './error-response.js';
import { markCut } from './gateway-cut.js';
import { LeanRequest, type BodySource } from './lean-request.js';
import { LeanResponse, type ResponseOutput, type WriteCallback } from './lean-response.js';

/** What a connection is given by its lane's options (LeanLaneOptions, lean-lane.ts). */
export interface LeanConnectionOptions {
  /** Largest request head, in bytes: a larger one goes to node:http (431 there). */
  maxHeaderSize: number;
  /**
   * Time for a new connection's first request head (--header-timeout); the most a held answer
   * waits for its body's first byte (holdForBody).
   */
  headersTimeoutMs: number;
  /**
   * The proxy's answer to a plain request: true when it took it (it goes to an app's workers
   * or static files, or the gateway answers it a 404 or 503), false when node:http should read it,
   * LATER when it cannot tell yet (no route is known before the first publish): the lane keeps
   * the request's bytes unread and asks again at askAgain(). Gets the lean objects as the Node types it reads.
   */
  take(req: IncomingMessage, res: ServerResponse): boolean | typeof LATER;
  /**
   * Gives a connection to node:http (its server's connection listener); `sent` is what it
   * reads first, as the client sent it (node:http is given it rewritten: net/raw-target.ts).
   * `headSince`: performance.now() when the lane's header clock for that head started (the
   * connection's start, or the head's first byte), or null when no clock ran for it: node:http
   * starts its own clock at the hand-off, and the head must not get a second --header-timeout.
   */
  toNode(socket: Socket, sent: Buffer, headSince: number | null): void;
  /** A request line begun and never finished was answered 408: `begun` is what came of it, `since` when its clock started (performance.now()). */
  headTimedOut?(socket: Socket, begun: Buffer, since: number): void;
  /**
   * How long the body of `res`'s request may stop arriving while `res` waits for it
   * (holdForBody): the `timeout` of the app that answered, the bound its own read of the body
   * has, once its first byte is in. Without it (or for the gateway's own answers), the keep-alive timeout's.
   */
  bodyStallMs?(res: ServerResponse): number | undefined;
}

/** LeanConnectionOptions.take's "not yet": the request is asked about again at LeanLane.askAgain(). */
export const LATER = Symbol('later');

/** What a connection asks of its lane (lean-lane.ts LeanLane): its clocks, its lists, the stop. */
export interface ConnectionLane {
  readonly options: LeanConnectionOptions;
  readonly keepAliveSeconds: number;
  readonly closing: boolean;
  /** The connection has nothing under way from now on: its keep-alive clock starts. */
  waiting(connection: LeanConnection): void;
  /** It has begun a head, with no answer owed: the header timeout runs from now on. */
  awaitingHead(connection: LeanConnection): void;
  /** Whether the header timeout runs for it. */
  timesHead(connection: LeanConnection): boolean;
  /** It read a request: no clock runs while it has answers to give. */
  busy(connection: LeanConnection): void;
  /** take() put off its next request: it is asked again at askAgain(). */
  putOffUntilAsked(connection: LeanConnection): void;
  /** It closed, or node:http took it. */
  forget(connection: LeanConnection): void;
}

/**
 * Answers written on one connection and not yet in the kernel's hands (a client that pipelines
 * and does not read them) past which a request waits its turn (awaitTurn) as it waits behind an
 * answer not written yet, so that the front does not answer ahead into its memory.
 */
const MAX_UNFLUSHED = 32;
/**
 * Bytes written on one connection and not yet in the kernel's hands past which a request waits
 * the same way: 32 answers of 4 MiB were 128 MiB held for one client that reads nothing (as
 * node:http, which stops reading a pipelining client once its writes queue more than the
 * socket's highWaterMark).
 */
const MAX_UNFLUSHED_BYTES = 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const LF = 0x0a;

/**
 * An answer that is whole before its request's body is all in waits for the rest of the body, up
 * to this many bytes still to come, for as long as the body keeps arriving (holdForBody). nginx with `proxy_request_buffering
 * off` (the shipped site) that gets a whole answer while it still sends the body closes both the
 * upstream connection and the client's, after the answer and without `Connection: close`: the
 * client's next request on it fails ("closed without response"), 1-7% of POSTs followed by
 * another when the app answered without reading the body. Only the piece that completes the
 * answer waits: its head and the parts before go at once (a streamed answer's first bytes are
 * not held), since nginx goes on passing the client's body up while it passes an answer's head
 * and parts down; what it cannot keep the connection through is an answer that ended first. A
 * larger body's early answer (a 413, a 401 to an upload) goes at once: waiting for it is not
 * worth the client's time. The wait follows the app's `timeout`, restarted by each piece, as the
 * app's own read of the body would: a fixed second let a slow client's answer (a body sent over
 * more than a second, from a phone, say) go first, and nginx then closed that client's connection.
 * The body's first byte is waited for --header-timeout at most (holdForBody).
 */
export const HOLD_BODY_BYTES = 256 * 1024;

export class LeanConnection implements ResponseOutput, BodySource {
  /** Responses in request order, until each is in the kernel's hands (or the socket closed). */
  private readonly responses: LeanResponse[] = [];
  /** Index in `responses` of the one whose bytes go to the socket now; later ones keep a backlog. */
  private writer = 0;
  /** Bytes for node:http once the responses under way have all been written; null while lean. */
  private handOff: Buffer | null = null;
  /** Those bytes as the client sent them. */
  private handOffSent: Buffer | null = null;
  /** When the header clock of the head handed off started, if one ran (LeanLaneOptions.toNode). */
  private handOffHeadSince: number | null = null;
  /** The client or the app said close: nothing more is read. */
  private noMore = false;
  /** The request whose body the next bytes from the client are. */
  private receiving: LeanRequest | null = null;
  /** A byte of that body has come. */
  private receivedAny = false;
  /**
   * The start of a request line still arriving (a long URL in several TCP segments, a slow
   * client): held until its LF, since node:http could not be given its octets >= 0x80 escaped
   * (net/raw-target.ts needs the whole line). A copy; null almost always.
   */
  private partialLine: Buffer | null = null;
  /** performance.now() when that request line's first byte came: its 408's access-log duration runs from there at the latest. */
  private partialSince = 0;
  /** The lane paused the socket (a body with nowhere to go). */
  private paused = false;
  /**
   * From the head of a request take() put off (LATER) on, what the client sent, kept unread (a
   * copy) until the lane asks again; null almost always.
   */
  private putOffBytes: Buffer | null = null;
  /**
   * read() is reading putOffBytes again (askAgain), a copy already: what it keeps is a view of
   * them. Copied at each turn, a pipeline of N requests in one write cost N²/2 of their bytes.
   */
  private readingKept = false;
  /** The client's FIN came while a request was put off: it counts after that request's bytes. */
  private endedWhilePutOff = false;
  /** Reading stopped while a request was put off, the client having sent more than a head and a read's worth. */
  private pausedWhilePutOff = false;
  /**
   * The request put off waits for the answers before it (awaitTurn), not for take(): it is
   * read again once they are all written (settle), and never if one of them closes the connection.
   */
  private awaitingTurn = false;
  /** The client's FIN is being probed (probeLeave): a request that waited its turn then is not probed again. */
  private probingLeave = false;
  /** The body being received is the connection's last request's (the client, or the gateway stopping, said close). */
  private receivingLast = false;
  /**
   * The response of a request whose body broke behind answers still owed (refuseBody): at its
   * turn `refusal` goes out in its place, then the close. Null almost always.
   */
  private refused: LeanResponse | null = null;
  private refusal = '';
  /** The answer waiting for the rest of its request's body (holdForBody); null almost always. */
  private held: LeanResponse | null = null;
  private heldTimer: NodeJS.Timeout | null = null;
  /** How long its body may stop arriving once a byte of it is in (bodyStallMs). */
  private heldStallMs = 0;
  /** performance.now() when the last response went out (or the connection came): the lane's sweep reads it. */
  waitingSince = performance.now();
  /** The lane's list of connections waiting that this one is in (linked-list.ts), and its neighbours there. */
  listedIn: object | null = null;
  listPrev: LeanConnection | null = null;
  listNext: LeanConnection | null = null;
  /**
   * Reads are views of the process's one read buffer (net/shared-read-buffer.ts), valid only
   * while read() runs: what outlives it is copied. False where Node cannot: 'data' as usual.
   */
  private readonly sharedReads: boolean;
  private readonly writes: SocketWrites;

  private readonly onData = (chunk: Buffer): void => this.read(chunk);
  /**
   * The client half-closed (the listener's sockets allow half-open): what it asked is answered,
   * then the connection closes, as nginx does, rather than idling until swept (node:http does
   * the same for a connection it took: the front sets its httpAllowHalfOpen).
   */
  private readonly onEnd = (): void => {
    if (this.putOffBytes !== null) {
      this.endedWhilePutOff = true;
      // Behind the answers under way (awaitTurn): whether the client still reads them is asked now.
      if (this.awaitingTurn) this.probeLeave();
      return;
    }
    this.noMore = true;
    // A whole answer waiting for the body goes first: the body will not come now.
    if (this.held !== null) this.releaseHeld();
    // A body cut short can never be finished: the request is gone (node:http: a parse error).
    if (this.receiving !== null) this.bodyEndedEarly(this.receiving);
    else if (this.partialLine !== null) this.handOffPartialLine();
    else if (this.responses.length === 0) this.socket.destroySoon();
    else if (this.handOff === null) this.probeLeave();
  };

  /** Answers owed to whole requests: whether the client still reads them (a leave otherwise), asked once, at the FIN. */
  private probeLeave(): void {
    if (this.probingLeave) return;
    this.probingLeave = true;
    probeAfterEnd(this.socket, () => this.interim());
  }

  /** An interim 100 ahead of the answer the client waits for, if nothing of it is out yet (net/leave-probe.ts). */
  private interim(): boolean {
    const res = this.responses[this.writer];
    if (res === undefined || res.headersSent || res.backlog !== null || res.req.httpVersion !== '1.1' || this.handOff !== null) return false;
    this.writes.write(INTERIM_CONTINUE);
    return true;
  }

  constructor(
    private readonly lane: ConnectionLane,
    private readonly socket: Socket,
  ) {
    this.writes = new SocketWrites(socket);
    this.sharedReads = readIntoSharedBuffer(socket, this.onData);
    if (!this.sharedReads) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', noop); // a client's reset: 'close' follows, which cleans up
    socket.once('close', () => {
      for (const res of this.responses.splice(0)) res.closedUnfinished();
      this.writer = 0;
    });
  }

  get keepAliveSeconds(): number {
    return this.lane.keepAliveSeconds;
  }

  closesAfter(res: LeanResponse): boolean {
    return this.lane.closing && this.handOff === null && !this.awaitingTurn && this.responses[this.responses.length - 1] === res;
  }

  private read(data: Buffer): void {
    if (this.putOffBytes !== null) return this.keepPutOff(data);
    if (this.noMore) return;
    // The clock is read only for a line held now (a double per read was garbage at every request's read).
    const heldSince = this.partialLine !== null ? this.partialSince : -1;
    if (this.partialLine !== null) {
      data = Buffer.concat([this.partialLine, data]);
      this.partialLine = null;
    }
    const maxHead = this.lane.options.maxHeaderSize;
    let start = this.receiving === null ? 0 : this.receiveBody(data, 0);
    while (start < data.length && !this.noMore) {
      const end = data.indexOf(HEAD_END, start);
      if (end === -1 && data.length - start <= maxHead && data.indexOf(LF, start) === -1) {
        this.holdPartialLine(data.subarray(start), start === 0 && heldSince !== -1 ? heldSince : performance.now());
        break;
      }
      // A head split across reads after its request line, or too large: node:http reads it (and
      // times it, and answers 431), as it reads every head that is not plain.
      if (end === -1 || end - start > maxHead) return this.startHandOff(this.kept(data.subarray(start)));
      const head = parsePlainHead(data.toString('latin1', start, end));
      if (head === null) return this.startHandOff(this.kept(data.subarray(start)));
      if (this.writer < this.responses.length || this.unflushedFull()) return this.awaitTurn(this.kept(data.subarray(start)));
      const req = new LeanRequest(head, this.socket, this);
      const res = new LeanResponse(this, req, head.keepAlive);
      if (this.responses.length === 0) this.lane.busy(this);
      this.responses.push(res);
      const whole = wholeBodyIn(head, data, end + 4);
      req.wholeBody = whole;
      // The gateway's own answer (a 404, a 503) is given within take(): it must wait for the
      // body as an app's does, holdForBody asking whether its request is the one being received.
      // It went before the body, where node:http holds it, and behind nginx without request
      // buffering an answer before the body has nginx close its client's connection.
      const withBody = req.remaining > 0;
      if (withBody) {
        this.receiving = req;
        this.receivedAny = false;
      }
      const taken = this.lane.options.take(req as unknown as IncomingMessage, res as unknown as ServerResponse);
      if (taken !== true) {
        if (withBody) this.receiving = null;
        this.responses.pop();
        if (taken === LATER) return this.putOff(this.kept(data.subarray(start)));
        return this.startHandOff(this.kept(data.subarray(start)));
      }
      start = end + 4;
      if (whole !== null) {
        // Taken with its request, copied into the worker's frame (forward-wsgi.ts): no piece of it
        // is kept here. Else (queued for a worker, another kind of backend) it comes as pieces below.
        if (req.wholeBody === null) start += whole.length;
        else req.wholeBody = null;
      }
      // The proxy may say close when the client did not (the gateway stops): as node:http, the
      // lane reads nothing pipelined behind an answer that closes.
      const last = !head.keepAlive || !res.shouldKeepAlive;
      if (req.remaining > 0) {
        this.receiving = req;
        this.receivedAny = false;
        this.receivingLast = last;
        start = this.receiveBody(data, start);
      } else {
        // Taken with its body, whole, in the worker's frame.
        if (withBody) this.receiving = null;
        if (last) this.stopReading();
      }
    }
  }

  /**
   * `bytes`, from the head of a request pipelined behind answers not all written yet, are kept
   * unread until those answers are written; an answer among them that closes the connection
   * leaves them unread for good: never run, nor logged (RFC 9112 §9.6; nginx and gunicorn turn
   * to a request only when the one before is answered). A safe request waits too: whether an
   * answer closes is the app's to say (its `Connection: close`) when it answers, and a GET run
   * beside it was run behind a close (RFC 9112 §9.3.2 allows running safe ones side by side,
   * §9.6 forbids running anything after the close). It waits too while MAX_UNFLUSHED answers, or
   * MAX_UNFLUSHED_BYTES, are written and not flushed (finished), read again as one is (takeTurnIfDue).
   */
  private awaitTurn(bytes: Buffer): void {
    this.awaitingTurn = true;
    this.putOffBytes = bytes;
    this.keepPutOff(Buffer.alloc(0));
  }

  /**
   * Keeps `bytes` (a request line without its LF yet) for the next read. The header timeout
   * runs: from the connection's start for its first head, from now for a later one, or, behind
   * answers still owed, from the last one's end (finished): nginx starts client_header_timeout
   * for a pipelined request when it turns to it (front.ts times node:http's heads alike).
   */
  private holdPartialLine(bytes: Buffer, since: number): void {
    this.partialLine = Buffer.from(bytes);
    this.partialSince = since;
    if (this.responses.length === 0) this.lane.awaitingHead(this);
  }

  /**
   * The sweep found it waiting too long: a request line begun is answered 408, and logged, as
   * node:http answers a head that times out (front.ts, 'clientError'); an idle connection just
   * closes (no request came, so no access-log line either, as nginx's).
   */
  timedOut(): void {
    const begun = this.partialLine;
    if (begun === null) return this.destroy();
    this.partialLine = null;
    this.stopReading();
    endLingering(this.socket, unparsableAnswer(408));
    // Its clock may have started at the connection's start, or only at the answer before it
    // (a line pipelined behind a slow one): the line says the longer wait, as node:http's does.
    this.lane.options.headTimedOut?.(this.socket, begun, Math.min(this.waitingSince, this.partialSince));
  }

  /**
   * take() cannot tell yet where the request at the head of `bytes` goes (no route is known
   * before the first publish): rather than hand the connection to node:http for good, the lane
   * keeps the bytes unread until askAgain(), reading on meanwhile so that a client that leaves is
   * seen (front.ts then logs its request as node:http's held ones are, and routes none of it).
   */
  private putOff(bytes: Buffer): void {
    this.putOffBytes = bytes;
    this.lane.putOffUntilAsked(this);
    this.keepPutOff(Buffer.alloc(0));
  }

  private keepPutOff(data: Buffer): void {
    if (data.length > 0) this.putOffBytes = Buffer.concat([this.putOffBytes!, data]);
    // The client is held back by TCP beyond a head and a read's worth, as it is by a body with nowhere to go.
    if (this.putOffBytes!.length > this.lane.options.maxHeaderSize + SHARED_READ_BYTES && !this.pausedWhilePutOff) {
      this.pausedWhilePutOff = true;
      this.socket.pause();
    }
  }

  /** The proxy can tell now: the request put off, and what came behind it, are read as if they had just come. */
  askAgain(): void {
    const bytes = this.putOffBytes;
    if (bytes === null) return;
    this.putOffBytes = null;
    const ended = this.endedWhilePutOff;
    this.endedWhilePutOff = false;
    this.readingKept = true;
    try {
      this.read(bytes);
    } finally {
      this.readingKept = false;
    }
    // A client that left meanwhile: its requests were logged (take), and nothing more comes.
    if (this.socket.destroyed) return;
    if (this.putOffBytes !== null) {
      this.endedWhilePutOff = ended;
      return;
    }
    if (ended && this.handOff === null) this.onEnd();
    if (this.pausedWhilePutOff) {
      this.pausedWhilePutOff = false;
      // A hand-off resumes the socket once node:http listens; a body with nowhere to go keeps it paused.
      if (this.handOff === null && !this.paused) this.socket.resume();
    }
  }

  /** `bytes`, safe to keep after read() returns. */
  private kept(bytes: Buffer): Buffer {
    return this.sharedReads && !this.readingKept ? Buffer.from(bytes) : bytes;
  }

  /** The body being received takes its bytes from `data` at `start`; returns where they end. */
  private receiveBody(data: Buffer, start: number): number {
    const req = this.receiving!;
    let end: number;
    if (req.chunks === null) {
      end = Math.min(data.length, start + req.remaining);
      if (end > start) req.receive(this.kept(data.subarray(start, end)));
    } else {
      end = req.chunks.read(data, start, this.onChunk);
      if (req.chunks.failed) {
        this.refuseBody(req, req.chunks.refusal, req.chunks.problem!);
        return data.length;
      }
      // Its exchange refuses a body announced past max_body now, not once the bytes come.
      if (req.chunks.sized) announceBody(req, req.chunks.announced);
      if (req.chunks.done) req.receivedAll();
    }
    this.bodyFlowChanged(); // what nobody took yet is held: the client waits
    // Answered before its body was all in: the rest is dropped, and the keep-alive clock counts
    // from the last piece (node:http's socket timeout after a response: a stalled body closes).
    if (this.responses.length === 0) this.startWaiting();
    if (req.complete) {
      this.receiving = null;
      if (this.receivingLast) this.stopReading();
      if (this.held !== null) this.releaseHeld();
    } else if (this.held !== null && end > start) {
      // The body still comes: its stall clock starts again, the app's timeout from its first byte on.
      if (this.receivedAny) this.heldTimer!.refresh();
      else this.startHeldClock(this.heldStallMs);
    }
    if (end > start) this.receivedAny = true;
    return end;
  }

  private readonly onChunk = (piece: Buffer): void => this.receiving!.receive(this.kept(piece));

  /**
   * `req`'s chunked framing is broken: nothing after it on the connection can be read. As
   * node:http answers a parse error in a body (front.ts, 'clientError'): a 400 when its answer
   * has not begun, once the answers owed before it are out, in order (RFC 9112 §9.3.2: they
   * are answers to requests read whole; nginx, turning to a request only when the one before is
   * answered, gives them too); else the connection is cut, since an answer under way must
   * never look complete and one behind it has no request to answer. The 400 says why in its
   * body (`problem`), as the front's other refusals do (error-response.ts shortBody), and the
   * access log counts that body. The exchange hears the close and stops the app's request.
   */
  private refuseBody(req: LeanRequest, status: 400 | 431, problem: string): void {
    this.receiving = null;
    this.stopReading();
    const index = this.responses.findIndex((res) => res.req === req);
    const res = this.responses[index];
    if (index === -1) {
      this.socket.destroySoon(); // answered already: its bytes go out, then the close
    } else if (!res.headersSent) {
      // Never past the writer's: no head is read while an answer before it is unwritten
      // (awaitTurn), so the request whose body this is was the writer's when it came, and the
      // writer only moves on from there. An answer begun can no longer be swapped for this one.
      markCut(res as unknown as ServerResponse, status);
      // To a HEAD, the head a GET's refusal has, without its body (RFC 9110 §9.3.2), as
      // node:http's reader refuses a HEAD (front.ts): the two readers answer the same bytes.
      const body = shortBody(status, problem);
      const head = req.method === 'HEAD';
      res.bodyBytes = head ? 0 : Buffer.byteLength(body);
      this.refused = res;
      this.refusal = unparsableAnswer(status, body, head);
      if (index === this.writer) this.giveRefusal();
    } else if (res.writableEnded) {
      this.socket.destroySoon();
    } else {
      markCut(res as unknown as ServerResponse);
      this.destroy();
    }
  }

  /**
   * The client's FIN came inside `req`'s body. Its answer not begun, the request is refused 400
   * saying so, and logged so, once the answers owed before it are out (refuseBody), as
   * node:http answers the same parse error (front.ts, 'clientError') and as nginx logs it
   * (400); its answer begun is cut, as node:http cuts it (the client's leaving: 499).
   */
  private bodyEndedEarly(req: LeanRequest): void {
    const res = this.responses[this.writer];
    if (res?.req === req && res.headersSent) this.socket.destroy();
    else this.refuseBody(req, 400, ENDED_EARLY);
  }

  /** What a client pipelines after saying close is not read (as node:http). */
  private stopReading(): void {
    this.noMore = true;
    this.socket.removeListener('data', this.onData);
  }

  /**
   * Reads the client while nothing holds it back: a body with nowhere to go yet
   * (lean-request.ts), so what a client sends ahead waits in its own socket buffer.
   */
  bodyFlowChanged(): void {
    if (this.handOff !== null || this.noMore || this.pausedWhilePutOff) return;
    let hold = this.receiving !== null && this.receiving.holdsBack;
    for (let i = 0; i < this.responses.length && !hold; i++) hold = this.responses[i].req.holdsBack;
    if (hold === this.paused) return;
    this.paused = hold;
    if (hold) this.socket.pause();
    else this.socket.resume();
  }

  /**
   * The refused request's turn (refuseBody): its refusal goes out instead of whatever the app
   * wrote to it meanwhile, held unsent behind the answers before it, and the connection closes.
   */
  private giveRefusal(): void {
    this.refused!.backlog = null;
    this.refused = null;
    endLingering(this.socket, this.refusal);
  }

  /** A request line cut by the client's FIN: node:http answers it (400), as any head cut short. */
  private handOffPartialLine(): void {
    const rest = this.partialLine!;
    this.partialLine = null;
    this.startHandOff(rest);
  }

  /** `rest` starts with the head node:http reads first. */
  private startHandOff(rest: Buffer): void {
    this.handOffSent = rest;
    this.handOffHeadSince = this.lane.timesHead(this) ? this.waitingSince : null;
    // An HTTP/0.9 line (no version) is a whole request: node:http is given the end of its head at once.
    this.handOff = knownMethod(higherMinorAsHttp11(escapeRawTarget(simpleRequestEnded(rest), this.socket), this.socket), this.socket);
    this.socket.pause();
    this.socket.removeListener('data', this.onData);
    if (this.sharedReads) readAsStream(this.socket);
    // Paused, the socket keeps a half-close for node:http to see after the bytes given back.
    this.socket.removeListener('end', this.onEnd);
    if (this.writer === this.responses.length) this.finishHandOff();
  }

  /** Every lean response has written its last byte: node:http reads the rest. */
  private finishHandOff(): void {
    const rest = this.handOff!;
    const sent = this.handOffSent!;
    this.handOffSent = null;
    this.lane.forget(this);
    // Even when the gateway stops: a request that is not plain may be a POST, which no client
    // retries on its own; node:http answers it (Connection: close) within the stop's grace.
    const socket = this.socket;
    if (socket.readableEnded) {
      // The client half-closed while earlier answers were going out: Node emits 'end' on a
      // paused socket whose buffer is empty, and a stream takes nothing back after its end.
      // node:http is given the bytes and the end as its listeners would have had them.
      this.lane.options.toNode(socket, sent, this.handOffHeadSince);
      if (rest.length > 0) socket.emit('data', rest);
      socket.emit('end');
      return;
    }
    if (rest.length > 0) socket.unshift(rest);
    this.lane.options.toNode(socket, sent, this.handOffHeadSince);
    // node:http listens for 'data' now; the socket was paused, so the bytes given back (and
    // any that came meanwhile) flow once resumed, before anything read later.
    process.nextTick(() => socket.resume());
  }

  send(res: LeanResponse, data: string | Buffer, done?: WriteCallback): void {
    if (this.responses[this.writer] !== res || (res.req === this.receiving && this.holdForBody(res))) {
      (res.backlog ??= []).push({ data, done });
      return;
    }
    this.writes.write(data, done);
  }

  /**
   * Whether `res`'s bytes, coming before its request's body is all in, wait for the rest of that
   * body: only those that complete the answer (its head and the parts before go), and only with
   * HOLD_BODY_BYTES to come at most, chosen then. They go when the body ends (receiveBody), when
   * it has stopped arriving for the app's `timeout` (bodyStallMs; each piece restarts the clock),
   * or when none of it came within --header-timeout, when the client half-closes, or when the
   * gateway stops. A client that sends a head and holds its body back without `Expect:
   * 100-continue` may be waiting for this very answer (or send nothing): it is timed as a head
   * still coming, not as an app's read of a body begun, which held it a minute. Once the answer is whole the app wants no more of
   * the body, so what is left of it is read and dropped; until then the app may still read it
   * (an echo that answers as it reads).
   */
  private holdForBody(res: LeanResponse): boolean {
    if (res === this.held) {
      if (res.writableEnded) res.req.dump();
      return true;
    }
    if (res.bodyWaitChosen || !res.complete) return false;
    res.bodyWaitChosen = true;
    // A 408 is the verdict that the body stopped arriving: held for that body, it waited the
    // app's timeout a second time (node-body-hold.ts alike).
    if (res.req.remaining > HOLD_BODY_BYTES || res.statusCode === 408) return false;
    this.held = res;
    this.heldStallMs = this.lane.options.bodyStallMs?.(res as unknown as ServerResponse) ?? this.lane.keepAliveSeconds * 1000;
    this.startHeldClock(this.receivedAny ? this.heldStallMs : Math.min(this.heldStallMs, this.lane.options.headersTimeoutMs));
    if (res.writableEnded) res.req.dump();
    return true;
  }

  private startHeldClock(ms: number): void {
    if (this.heldTimer !== null) clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(this.releaseHeld, ms).unref();
  }

  /** The held answer leaves, and those pipelined behind it that were waiting for it. */
  private readonly releaseHeld = (): void => {
    const res = this.held;
    if (res === null) return;
    this.held = null;
    clearTimeout(this.heldTimer!);
    this.heldTimer = null;
    if (this.socket.destroyed || this.responses[this.writer] !== res) return;
    this.socket.cork();
    try {
      this.writeBacklogs();
    } finally {
      this.socket.uncork();
    }
  };

  ended(res: LeanResponse): void {
    if (this.responses[this.writer] !== res || res === this.held) return; // its backlog leaves when its turn comes
    if (res.last) {
      this.endAfter(res);
      return;
    }
    this.writer++;
    const next = this.responses[this.writer];
    if (next === undefined) return this.settle();
    if (next === this.refused) return this.giveRefusal();
    // An answer to a later request may be waiting (every response writes before it ends):
    // its bytes leave now, in order, in one writev.
    if (next.backlog === null) return;
    this.socket.cork();
    try {
      this.writeBacklogs();
    } finally {
      this.socket.uncork();
    }
  }

  private writeBacklogs(): void {
    while (this.writer < this.responses.length) {
      const next = this.responses[this.writer];
      if (next === this.refused) return this.giveRefusal();
      const backlog = next.backlog;
      next.backlog = null;
      if (backlog !== null) for (const { data, done } of backlog) this.send(next, data, done);
      if (!next.writableEnded || next === this.held) break;
      if (next.last) {
        this.endAfter(next);
        return;
      }
      this.writer++;
    }
    this.settle();
  }

  /** `res` wrote its last byte and the connection closes after it: the ones after it are dropped. */
  private endAfter(res: LeanResponse): void {
    this.noMore = true;
    this.socket.removeListener('data', this.onData);
    const index = this.responses.indexOf(res);
    for (const dropped of this.responses.splice(index + 1)) dropped.closedUnfinished();
    this.writer = this.responses.length;
    this.socket.destroySoon();
  }

  /** A response went out: take up reading, or the hand-off, or the close that waited for it. */
  private settle(): void {
    if (this.writer < this.responses.length) return;
    if (this.awaitingTurn) this.takeTurnIfDue();
    else if (this.handOff !== null) this.finishHandOff();
    // A FIN that came while requests waited (askAgain): those read again are answered first,
    // and askAgain takes the FIN up after them. Closed here, within the answer to the first
    // (a 400 the gateway gives at once, that keeps the connection), the rest went unanswered.
    else if (this.lane.closing || (this.socket.readableEnded && !this.readingKept)) this.socket.destroySoon();
  }

  /** Whether MAX_UNFLUSHED answers, or MAX_UNFLUSHED_BYTES, are written and not in the kernel's hands. */
  private unflushedFull(): boolean {
    return this.writer >= MAX_UNFLUSHED || this.socket.writableLength > MAX_UNFLUSHED_BYTES;
  }

  /** The request waiting its turn (awaitTurn) is read, once every answer before it is written and few enough are unflushed. */
  private takeTurnIfDue(): void {
    if (!this.awaitingTurn || this.writer < this.responses.length || this.unflushedFull()) return;
    this.awaitingTurn = false;
    // Not within the end() of the answer before it: that answer's caller finishes first.
    process.nextTick(() => {
      if (!this.socket.destroyed) this.askAgain();
    });
  }

  finished(res: LeanResponse): void {
    const index = this.responses.indexOf(res);
    if (index === -1) return;
    // The first, nearly always (answers finish in order): shift() leaves no array behind, where
    // splice() returns one of what it removed.
    if (index === 0) this.responses.shift();
    else this.responses.splice(index, 1);
    if (index < this.writer) this.writer--;
    if (this.responses.length === 0 && this.handOff === null && !this.noMore) {
      if (this.partialLine === null) this.startWaiting();
      else this.lane.awaitingHead(this);
    }
    // Answered without reading all of its body (an error, an app that did not read it): the rest
    // is read and dropped, and the connection goes on (node:http does the same).
    res.req.dump();
    if (this.awaitingTurn) this.takeTurnIfDue();
  }

  private startWaiting(): void {
    this.waitingSince = performance.now();
    this.lane.waiting(this);
  }

  destroy(): void {
    while (this.socket.writableCorked > 0) this.socket.uncork();
    this.socket.destroy();
  }

  /**
   * Idle: closed now. Busy: closed once its answers are out (settle); a request that comes
   * meanwhile is answered with Connection: close (front.ts takePlain), as node:http answers
   * every request during a stop. One with a request put off waits for askAgain(). One that
   * has read nothing yet was accepted a moment ago and its request may be on its way: closed
   * with that unread, the kernel resets it; the stop gives it a moment (front.ts firstRequests).
   */
  closeWhenIdle(): void {
    if (this.socket.bytesRead === 0) return;
    // The connection closes after it anyway: nothing is gained by the stop waiting for a body.
    if (this.held !== null) this.releaseHeld();
    if (this.responses.length === 0 && this.handOff === null && this.putOffBytes === null) this.socket.destroy();
  }
}

/**
 * The body of the request whose head ends at `start` of `data`, when it is all there, framed by
 * Content-Length and at most REQUEST_FULL_BODY_MAX: a view of `data`; else null.
 */
function wholeBodyIn(head: PlainHead, data: Buffer, start: number): Buffer | null {
  const length = head.bodyLength;
  if (length === 0 || head.chunked || length > REQUEST_FULL_BODY_MAX || data.length - start < length) return null;
  return data.subarray(start, start + length);
}

function noop(): void {}
