// One request in flight on a worker's link, after its REQUEST frame (forward-wsgi.ts): the body
// goes on as REQUEST_BODY frames within a window the worker credits back as the app reads; the
// response comes back as one RESPONSE_FULL frame in the common case, or streams (RESPONSE,
// RESPONSE_BODY..., RESPONSE_END) within a window we credit back as the client takes it. Its
// failures (the worker gone, no head in time, a body too large) are answered here.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { ABORT_CLIENT_TIMED_OUT, ABORT_TIMED_OUT, Frame, REQUEST_WINDOW, RESPONSE_CREDIT_STEP, encodeEmptyFrame, encodeFrame, encodeU32Frame, frameHeader, requestBodyIn } from '../link/frames.js';
import type { LinkExchange, WorkerLink } from '../link/worker-link.js';
import { BODY_ANNOUNCED } from '../net/announced-body.js';
import { bodyBytesPassed } from '../net/body-garbage.js';
import { targetAsSent } from '../net/request-head.js';
import { spanOf } from '../count.js';
import { asksToContinue, continueWanted } from '../net/expect-continue.js';
import { answerFailure } from './error-response.js';
import { CUT_AT_DEADLINE, markCut } from './gateway-cut.js';
import type { RequestRoute } from './request-route.js';
import { kTracked, requestShown, type TrackedResponse } from './requests-in-flight.js';
import type { ResponseTally } from './served-by.js';

/** Takes a request the worker provably never saw (its link failed before sending it). */
export interface Redispatch {
  redispatch(req: IncomingMessage, res: ServerResponse, route: RequestRoute, failed: WorkerLink): void;
}

export interface ForwardOptions {
  /** Put the Python traceback in the body of a 500 (serve / APPPKG_ENV=development). */
  development?: boolean;
  /** The largest request body, in bytes (413 past it). Default: no limit. */
  maxBody?: number;
  /**
   * Where a request the worker never ran goes again (one object per app): given back unrun
   * (RECLAIM, as often as its workers leave the rotation), or its link failed before it was sent.
   */
  redispatch?: Redispatch;
  /** It went again once already after a link failure: another such failure is its 502. */
  lastTry?: boolean;
  /**
   * Tell the app when the client closes its side of the connection (CLIENT_END): an ASGI app,
   * whose receive() then says http.disconnect, as under uvicorn. A WSGI app has no way to hear it.
   */
  clientEnd?: boolean;
  /**
   * The app is an ASGI app: header names with `_` reach it (cgi-request.ts), as under uvicorn.
   * A WSGI app never gets them: in the environ `X_Forwarded_For` would pose as `X-Forwarded-For`.
   */
  asgi?: boolean;
  /** A line for the app's log: a 413 is said there with its fix, where the app's owner looks (an hg push only shows "HTTP Error 413"). */
  report?: (line: string) => void;
  /** The app's name, for the fix in `report`'s lines. */
  app?: string;
}

/** What the app's log says of a body refused for `max_body`: the request, and the key that lets it through. */
export function tooLargeLine(req: IncomingMessage, options: ForwardOptions, length: string): string {
  const size = length === 'chunked' ? 'its chunked body crossed' : `its body of ${length} bytes is over`;
  return `${req.method} ${targetAsSent(req)}: 413: ${size} max_body, ${options.maxBody} bytes; fix: a larger max_body in the environment file (apps: {${options.app ?? 'NAME'}: {max_body: 1GB}})`;
}

const enum State {
  /** Waiting for RESPONSE or RESPONSE_FULL. */
  Head,
  /** Headers written, body streaming. */
  Body,
  /** Terminal frame seen, or failed: nothing more to do. */
  Done,
}

/** Bodies up to this size go to Node as latin-1 strings: header and body leave in one write. */
const STRING_BODY_LIMIT = 4096;
/** How long a 504 in development waits for the worker's STACK: a worker whose every thread holds the GIL never answers. */
const WHERE_WAIT_MS = 500;
/** The 502's detail for a request with no head yet when its worker was stopped (cutByGateway). */
const STOPPED_AT_DRAIN_END = 'the app\'s worker was stopped at the end of its drain before it answered';
const TIMED_OUT_PAYLOAD = Buffer.from([ABORT_TIMED_OUT]);
const CLIENT_TIMED_OUT_PAYLOAD = Buffer.from([ABORT_CLIENT_TIMED_OUT]);

/** A response head as Node's writeHead wants it, parsed once per distinct head. */
interface ParsedHead {
  code: number;
  reason: string;
  /** Flat [name, value, ...]; shared between responses, never mutated. */
  headers: string[] | undefined;
  /** A 205: whatever body the app sends is dropped. */
  noContent: boolean;
}
const heads = new Map<string, ParsedHead>();

/**
 * A request body as far as it went to a worker that gave the request back unrun: what the worker
 * had of it (its UNRUN's payload) and what was sent after the RECLAIM. The next worker's exchange
 * sends it first, then takes the rest from the client. It rides on req while the request waits
 * in the app's queue for that worker.
 */
interface ReplayBody {
  pieces: Buffer[];
  /** REQUEST_END had gone too: the client's body is whole, none of it is left to read. */
  ended: boolean;
}
const kReplay = Symbol('apppkg.replayBody');
type WithReplay<T> = T & { [kReplay]?: ReplayBody };

/** [name, value, ...] without the Content-Length pairs. */
function withoutContentLength(flat: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i].toLowerCase() !== 'content-length') kept.push(flat[i], flat[i + 1]);
  return kept;
}

function parseHead(head: string): ParsedHead {
  let parsed = heads.get(head);
  if (parsed !== undefined) return parsed;
  const cut = head.indexOf('\0');
  const status = cut === -1 ? head : head.slice(0, cut);
  const code = (status.charCodeAt(0) - 48) * 100 + (status.charCodeAt(1) - 48) * 10 + (status.charCodeAt(2) - 48);
  let headers = cut === -1 ? undefined : head.slice(cut + 1).split('\0');
  // RFC 9110 §8.6: no Content-Length in a 204 (Node sends the app's, nginx clears it); the
  // body goes nowhere anyway.
  if (code === 204 && headers !== undefined) headers = withoutContentLength(headers);
  // RFC 9110 §15.3.6: a 205 has no content, but unlike a 204 a client reads its body by its
  // framing (RFC 9112 §6.3), so it says `Content-Length: 0`, and the app's body is dropped.
  if (code === 205) headers = [...withoutContentLength(headers ?? []), 'Content-Length', '0'];
  parsed = {
    code,
    reason: status.length > 4 ? status.slice(4) : (STATUS_CODES[code] ?? 'Unknown'),
    headers,
    noContent: code === 205,
  };
  if (heads.size >= 512) heads.clear();
  heads.set(head, parsed);
  return parsed;
}

// Listeners shared by every request (no closure per request): the exchange hangs off req/res.
const kExchange = Symbol('apppkg.exchange');
type WithExchange<T> = WithReplay<T> & { [kExchange]?: WsgiExchange };

function onResponseClose(this: WithExchange<ServerResponse>): void {
  this[kExchange]?.onClientClose();
}
function onRequestData(this: WithExchange<IncomingMessage>, chunk: Buffer): void {
  this[kExchange]?.onData(chunk);
}
function onRequestEnd(this: WithExchange<IncomingMessage>): void {
  this[kExchange]?.onEnd();
}
function onBodyAnnounced(this: WithExchange<IncomingMessage>, total: number): void {
  this[kExchange]?.onAnnounced(total);
}

/**
 * What counts `res` in `tally` (its worker's, which feeds its version's): the request's exchange
 * when it has one (it holds the count until the worker has settled the request), else the tally.
 */
export function tallyOnceSettled(res: ServerResponse, tally: ResponseTally | undefined): ResponseTally | undefined {
  const exchange = (res as WithExchange<ServerResponse>)[kExchange];
  return exchange === undefined || tally === undefined ? tally : exchange.countIn(tally);
}

/** One request in flight on a link. */
export class WsgiExchange implements LinkExchange, ResponseTally {
  id = 0;
  state = State.Head;
  private bodySent = 0;
  private bodyCredited = 0;
  private paused = false;
  private flushedUncredited = 0;
  /** Response body bytes handed to `res` (a head is sent with the first of them). */
  private bodyWritten = 0;
  /** The head was a 205's: body pieces are credited, never written. */
  private dropsBody = false;
  /** ABORT sent (the client went away, or we answered for the app): waiting for the terminal frame. */
  aborted = false;
  /** Its worker's tally (tallyOnceSettled), told of the request once both its response and the worker are done. */
  private tally: ResponseTally | undefined = undefined;
  /**
   * The front's count (the response closed: a client that left) while the worker has yet to
   * answer the ABORT: an UNRUN (no thread had started it) means the app never saw it, and it
   * counts in no tally, its version's included, as the worker's own count leaves it (b59aa8c).
   */
  private heldCount: { status: number; seconds: number } | null = null;
  /** The worker gave it back unrun after its ABORT. */
  private unrun = false;
  /** link.ticks when the request (or its last body piece) went to the worker: the 504 clock. */
  startTick: number;
  /** Set by open(): how many flushes the link had made (was the REQUEST sent?). */
  openedAtFlush?: number;
  /** 'data' and 'end' listeners are on req (a request with a body). */
  listening = false;
  /** RECLAIM sent: its worker leaves the rotation; UNRUN gives it back to go elsewhere. */
  private reclaiming = false;
  /**
   * The body pieces sent after the RECLAIM, which the worker drops if it gives the request back
   * (their id is no longer its): with the body its UNRUN returns, the whole body sent so far.
   * null: no RECLAIM sent, or the app read from the body (a REQUEST_CREDIT: no UNRUN will come).
   */
  private sentAfterReclaim: Buffer[] | null = null;
  /** REQUEST_END went to the worker. */
  private bodyEnded = false;
  private readonly development: boolean;
  private readonly maxBody: number;
  /** A 504 in development waiting for the worker's STACK (expire). */
  private onWhere: ((where: string) => void) | null = null;
  /** Listening for the client's FIN (options.clientEnd), until the exchange is done. */
  private onSocketEnd: (() => void) | null = null;
  /** CLIENT_END sent: an ERROR before any head is the app leaving with its client, not a 500. */
  private clientEndSent = false;

  constructor(
    private readonly link: WorkerLink,
    readonly req: WithExchange<IncomingMessage>,
    private readonly res: WithExchange<ServerResponse>,
    private readonly route: RequestRoute,
    private readonly options: ForwardOptions,
  ) {
    this.development = options.development === true;
    this.maxBody = options.maxBody ?? Infinity;
    this.startTick = link.ticks;
  }

  heldFor(now: number): string {
    const startedAt = this.heldSince;
    return startedAt === undefined ? requestShown(this.req) : `${requestShown(this.req)}, for ${spanOf(now - startedAt)}`;
  }

  get heldSince(): number | undefined {
    return (this.res as TrackedResponse)[kTracked]?.startedAt;
  }

  /**
   * Its worker leaves the rotation while this request waits there for a thread: asks for it
   * back (RECLAIM), to go to another worker or version if no thread has started it (UNRUN).
   * A request with a body too: the worker gives back what it has of the body with its UNRUN.
   */
  reclaim(): void {
    if (this.state !== State.Head || this.aborted || this.reclaiming || this.options.redispatch === undefined) return;
    this.reclaiming = true;
    // A body sent whole (REQUEST_FULL) has nothing sent after this, and comes back in the UNRUN.
    if (this.listening || this.bodyEnded) this.sentAfterReclaim = [];
    this.link.write(encodeEmptyFrame(Frame.RECLAIM, this.id));
  }

  countIn(tally: ResponseTally): ResponseTally {
    this.tally = tally;
    return this;
  }

  /** The front's count of the request, once its response closed (served-by.ts). */
  observe(status: number, seconds: number): void {
    if (this.state !== State.Done) this.heldCount = { status, seconds };
    else if (!this.unrun) this.tally?.observe(status, seconds);
  }

  /**
   * Listens to the client from now on: its body (when it has one) and its going away; a chunked
   * body's announced size too (only a chunked body announces one).
   */
  attach(hasBody: boolean, chunked = false): void {
    const { req, res } = this;
    if (hasBody) {
      req[kExchange] = this;
      this.listening = true;
      const replay = req[kReplay];
      req[kReplay] = undefined;
      if (replay?.ended !== true) {
        req.on('data', onRequestData);
        req.on('end', onRequestEnd);
        if (chunked) req.on(BODY_ANNOUNCED, onBodyAnnounced);
        // Taken over from a worker that gave it back or failed before it was sent: req was left
        // paused. Its next piece comes on a later turn, after the replayed ones below.
        if (req.isPaused()) req.resume();
      }
      if (replay !== undefined) {
        for (const piece of replay.pieces) this.onData(piece);
        if (replay.ended) this.onEnd();
      }
    }
    res[kExchange] = this;
    res.on('close', onResponseClose);
    if (this.options.clientEnd === true) this.watchClientEnd();
  }

  /**
   * As attach, for a request whose whole body of `length` bytes went in its own frame
   * (REQUEST_FULL): nothing more of it comes from the client, so nothing listens for it.
   */
  attachWhole(length: number): void {
    this.bodySent = length;
    this.bodyEnded = true;
    // The frame is garbage once written, as a piece is (the forced scavenge, body-garbage.ts).
    bodyBytesPassed(length);
    this.attach(false);
  }

  /** The client's FIN (it may have come with the request: `curl` timing out, a closed tab). */
  private watchClientEnd(): void {
    const socket = this.req.socket;
    if (socket.readableEnded) {
      this.clientEnded();
      return;
    }
    this.onSocketEnd = () => this.clientEnded();
    // One listener per request in flight on the connection, and a pipelining client may have up
    // to 32 answers not flushed yet (lean-connection.ts MAX_UNFLUSHED): not the leak Node warns of past 10.
    if (socket.getMaxListeners() < 64) socket.setMaxListeners(64);
    socket.once('end', this.onSocketEnd);
  }

  private clientEnded(): void {
    if (this.state === State.Done || this.aborted || this.clientEndSent) return;
    this.clientEndSent = true;
    this.link.write(encodeEmptyFrame(Frame.CLIENT_END, this.id));
  }

  /**
   * A HEAD's answer is its head: once that is out, the client (nginx, which then gives the
   * connection to its next request) has all of it, and nothing the app sends on is written, so
   * no failed write would ever tell that the client left. Held open until the app's end, an
   * endless stream that never listens for http.disconnect held the connection and ran in flight
   * for ever. The answer ends now, and the app is told the client went, as at an abort: a task
   * that goes on sending is cancelled (asgi_response.after_gone).
   */
  private endHeadAnswer(): void {
    // ASGI alone: a WSGI worker answers a HEAD without running its body (its head comes whole).
    if (this.options.asgi !== true || this.req.method !== 'HEAD' || this.state !== State.Body || this.aborted) return;
    this.abort();
    this.res.end();
  }

  /** `timedOut`: we answered 504 for the app, and an ASGI worker cancels its task (docs/protocol.md §4). */
  /** `why`: none when the client left; the gateway's own answer otherwise (504, an ASGI request's 408). */
  private abort(why?: Buffer): void {
    this.aborted = true;
    this.link.write(why === undefined ? encodeEmptyFrame(Frame.ABORT, this.id) : encodeFrame(Frame.ABORT, this.id, why));
  }

  /**
   * No response head within the app's timeout: 504, and the app's request is aborted. In
   * development the 504 waits (briefly) for the worker to say where the request is stuck:
   * SPEC 4's "in development, the Python traceback too".
   */
  expire(timeoutMs: number, silent = false): void {
    if (this.state !== State.Head || this.aborted) return;
    const detail = silent
      ? `its worker has not answered for longer than the app's timeout (${timeoutMs / 1000} s) and is being replaced${this.options.asgi === true ? heldLoop(this.link) : ': nothing on it could run'}`
      : `the app did not answer within ${timeoutMs / 1000} s${this.options.asgi === true ? heldLoop(this.link) : ''}`;
    // An ASGI worker cancels the task, which an app may ignore: the client's request is over at
    // the 504 all the same, so it stops counting in flight now (WorkerLink.release).
    if (this.options.asgi === true) this.link.release(this.id);
    if (!this.development) {
      this.abort(TIMED_OUT_PAYLOAD);
      answerFailure(this.res, 'timeout', { detail });
      return;
    }
    this.link.write(encodeEmptyFrame(Frame.WHERE, this.id));
    this.abort(TIMED_OUT_PAYLOAD);
    const timer = setTimeout(() => answer(), WHERE_WAIT_MS);
    const answer = (where?: string) => {
      clearTimeout(timer);
      this.onWhere = null;
      answerFailure(this.res, 'timeout', { detail, debug: where, development: true });
    };
    this.onWhere = answer;
  }

  /**
   * The client stopped sending its body (not the app stopped answering): nothing for the app's
   * timeout while the body is unfinished and the app is not behind on it. 408, and the app's
   * wsgi.input read raises ClientDisconnected, so its thread is free again; the worker is well
   * and stays (a 504 here used to recycle it: any client could restart workers at will).
   */
  expireClient(timeoutMs: number): void {
    // As at a 504 (expire), an ASGI request is over for the gateway: out of flight now, and its
    // task cancelled, since an app awaiting anything but receive() would never hear of a plain
    // ABORT (that only turns receive() into http.disconnect).
    if (this.options.asgi === true) this.link.release(this.id);
    this.abort(this.options.asgi === true ? CLIENT_TIMED_OUT_PAYLOAD : undefined);
    answerFailure(this.res, 'client-timeout', { detail: `the request body stopped arriving: nothing for ${timeoutMs / 1000} s` });
  }

  /** The request is waiting on the client: its body is unfinished and the app has not pushed back. */
  get waitingForClient(): boolean {
    if (this.req.complete || this.paused) return false;
    // A client that sent Expect: 100-continue holds its body until the app reads (CONTINUE).
    const res = this.res as ServerResponse & { _sent100?: boolean };
    return !asksToContinue(this.req) || res._sent100 === true;
  }

  onClientClose(): void {
    if (this.state === State.Done || this.aborted) return;
    this.abort();
  }

  cutByGateway(): boolean {
    if (this.state === State.Done || this.aborted) return false;
    this.abort();
    if (this.state !== State.Body && !this.res.headersSent) {
      // Its worker is stopped now and no head will come: the client is told why, as when a
      // worker goes (502), whichever kind it is, and at once (a WSGI worker that cut streams
      // is killed only after their generators' bound).
      answerFailure(this.res, 'upstream-gone', { detail: STOPPED_AT_DRAIN_END });
      return false;
    }
    markCut(this.res, CUT_AT_DEADLINE);
    this.closeConnection();
    return true;
  }

  private flushHeadAlone(): void {
    const res = this.res;
    if (this.bodyWritten === 0 && !res.writableEnded && !res.destroyed) res.flushHeaders();
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Done || this.aborted) return;
    const link = this.link;
    this.bodySent += chunk.length;
    if (this.bodySent > this.maxBody) {
      this.bodyTooLarge();
      return;
    }
    link.write(frameHeader(Frame.REQUEST_BODY, this.id, chunk.length));
    link.write(chunk);
    this.sentAfterReclaim?.push(chunk);
    bodyBytesPassed(chunk.length);
    // A long upload is not a silent app: the 504 clock counts from the last piece sent.
    this.startTick = link.ticks;
    if (!this.paused && this.bodySent - this.bodyCredited >= REQUEST_WINDOW) {
      // The app reads slower than the client sends: stop reading the client (TCP pushes back).
      this.paused = true;
      this.req.pause();
    }
  }

  /**
   * The chunked body has announced `total` bytes (net/announced-body.ts): past maxBody, it is
   * refused now, as its bytes would be when they came, rather than waited for.
   */
  onAnnounced(total: number): void {
    if (this.state === State.Done || this.aborted || total <= this.maxBody) return;
    this.bodyTooLarge();
  }

  /**
   * A chunked body crossed maxBody, or announced it will (a Content-Length over it never gets here). The app stops
   * (ABORT: its next read raises ClientDisconnected); the client gets 413 if no response has
   * started, else a cut connection. Either way the connection closes: the rest of the body
   * is not worth reading.
   */
  private bodyTooLarge(): void {
    this.abort();
    this.req.pause();
    this.options.report?.(tooLargeLine(this.req, this.options, 'chunked'));
    if (this.state === State.Head && !this.res.headersSent) {
      answerFailure(this.res, 'too-large', { detail: `the request body is larger than ${this.maxBody} bytes` });
    } else {
      this.cutConnection();
    }
  }

  onEnd(): void {
    if (this.state === State.Done || this.aborted) return;
    this.bodyEnded = true;
    this.link.write(encodeEmptyFrame(Frame.REQUEST_END, this.id));
  }

  onFrame(type: number, payload: Buffer): void {
    if (type === Frame.STACK) {
      this.onWhere?.(payload.toString('utf8'));
      return;
    }
    if (this.aborted) {
      if (type === Frame.UNRUN) this.unrun = true;
      if (type === Frame.RESPONSE_FULL || type === Frame.RESPONSE_END || type === Frame.ERROR || type === Frame.UNRUN) this.finish();
      return;
    }
    switch (type) {
      case Frame.RESPONSE_FULL: {
        // A second head (this, or a RESPONSE below), which the shim never sends: Node's writeHead
        // refused it, and it read as the app's invalid head, the worker left serving.
        if (this.state === State.Body) return this.outOfOrder('RESPONSE_FULL', 'after');
        const bodyStart = payload.length < 4 ? 0 : 4 + payload.readUInt32BE(0);
        if (bodyStart === 0 || bodyStart > payload.length) return this.brokenFrame(`a RESPONSE_FULL of ${payload.length} bytes for request ${this.id}, shorter than the head it announces`);
        const head = parseHead(payload.toString('latin1', 4, bodyStart));
        this.finish();
        if (!this.writeHead(head)) return;
        const bodyLength = payload.length - bodyStart;
        if (bodyLength === 0 || head.noContent) this.res.end();
        else if (bodyLength <= STRING_BODY_LIMIT) this.res.end(payload.toString('latin1', bodyStart), 'latin1');
        else {
          this.res.end(payload.subarray(bodyStart));
          // A large body in one frame (a WSGI app's list) is garbage once written, as a streamed one's pieces are.
          bodyBytesPassed(bodyLength);
        }
        return;
      }
      case Frame.RESPONSE: {
        if (this.state === State.Body) return this.outOfOrder('RESPONSE', 'after');
        this.state = State.Body;
        const head = parseHead(payload.toString('latin1'));
        this.dropsBody = head.noContent;
        this.writeHead(head);
        this.endHeadAnswer();
        // Node sends a head with the first body piece. That piece usually came in the same batch
        // of frames; when it did not (an ASGI app that awaits between its start and its body: a
        // server-sent event stream), the client must still see the head now.
        setImmediate(() => this.flushHeadAlone());
        return;
      }
      case Frame.RESPONSE_BODY: {
        // Written before a head, it went out under one Node makes up: a 200 the app never sent.
        if (this.state !== State.Body) return this.outOfOrder('RESPONSE_BODY', 'before');
        const length = payload.length;
        if (this.dropsBody) {
          // Credited as if sent, or the worker's window would stall a streaming app.
          this.flushed(length);
          return;
        }
        this.bodyWritten += length;
        this.res.write(payload, () => this.flushed(length));
        bodyBytesPassed(length);
        return;
      }
      case Frame.RESPONSE_END:
        if (this.state !== State.Body) return this.outOfOrder('RESPONSE_END', 'before');
        this.finish();
        this.res.end();
        return;
      case Frame.UNRUN: {
        // Given back unrun (RECLAIM): the app never saw it, so it may go elsewhere, with what
        // the worker had of its body (the payload) and what went after the RECLAIM.
        const after = this.sentAfterReclaim;
        const pieces = after === null ? [] : payload.length === 0 ? after : [payload, ...after];
        this.sendElsewhere(this.options.redispatch!, pieces);
        return;
      }
      case Frame.ERROR: {
        const started = this.state === State.Body;
        this.finish();
        if (this.clientEndSent) {
          // The app heard http.disconnect and left, its response unfinished: the client's
          // doing (the access log's 499, not a cut by the gateway), and no 500 goes to a
          // connection it closed. After what was written so far, as a cut.
          this.closeConnection();
          return;
        }
        if (started || this.res.headersSent) {
          // A truncated body must never look complete: cut the client connection (after
          // what was written so far, which Node holds corked until the next tick).
          this.cutConnection();
        } else {
          answerFailure(this.res, 'app-error', { debug: payload.toString('utf8'), development: this.development });
        }
        return;
      }
      case Frame.CONTINUE: {
        if (continueWanted(this.req, this.res)) this.res.writeContinue();
        return;
      }
      case Frame.REQUEST_CREDIT: {
        this.sentAfterReclaim = null; // the app reads its body: started, never given back
        this.bodyCredited += payload.readUInt32BE(0);
        if (this.paused && this.bodySent - this.bodyCredited < REQUEST_WINDOW) {
          this.paused = false;
          this.req.resume();
        }
        return;
      }
      default:
        return;
    }
  }

  onLinkFailed(reason: string, neverSent: boolean, unsent: readonly Buffer[] = []): void {
    const redispatch = this.options.redispatch;
    if (!this.aborted && neverSent && redispatch !== undefined && this.options.lastTry !== true && !this.res.headersSent) {
      // The worker cannot have seen it: another may take it (caddy's tryAgain). The body read
      // from the client so far is still in the link's queue with the REQUEST frame (never
      // written): it goes first, the rest as the client sends it.
      this.sendElsewhere(redispatch, this.bodySent === 0 ? [] : requestBodyIn(unsent, this.id));
      return;
    }
    const started = this.state === State.Body;
    this.finish();
    if (this.aborted) return;
    const detail = 'the app\'s worker went away before it answered';
    if (started || this.res.headersSent) this.cutConnection();
    else if (this.development && this.link.lastWords !== null) {
      // SPEC 4: in development the traceback too. A worker that dies says why on stderr (a
      // Python error, faulthandler's report of a crash) just before its link closes, and its
      // exit, seen by then, says how it ended rather than that its link closed.
      void this.link.lastWords(this.heldSince).then((words) => {
        const why = this.link.ended ?? reason;
        answerFailure(this.res, 'upstream-gone', { detail, debug: words ? `${why}\n\nThe worker's last output (the app's log has all of it):\n${words}` : why, development: true });
      });
    } else answerFailure(this.res, 'upstream-gone', { detail, debug: reason, development: this.development });
  }

  /**
   * Hands the request, which the app never saw, to `redispatch`, with the body `pieces` that
   * went to this worker (sent again first by the next exchange, attach).
   */
  private sendElsewhere(redispatch: Redispatch, pieces: Buffer[]): void {
    // Left paused for whoever takes it next (unlisten), not resumed by finish with no listener.
    this.paused = false;
    this.finish();
    this.unlisten();
    if (pieces.length > 0 || this.bodyEnded) this.req[kReplay] = { pieces, ended: this.bodyEnded };
    redispatch.redispatch(this.req, this.res, this.route, this.link);
  }

  /**
   * A frame of ours out of its order (a body or an end before our head, a second head after it):
   * the link is broken (WorkerLink.outOfOrder), this request's 502, or its cut, with it.
   */
  private outOfOrder(frame: string, where: 'before' | 'after'): void {
    this.brokenFrame(`${frame} for request ${this.id} ${where} its response head`);
  }

  /** A frame of ours the link's protocol forbids (`what` the worker sent): the link is broken, this request's 502 with it. */
  private brokenFrame(what: string): void {
    this.link.outOfOrder(what);
    // A terminal frame took us out of the link's map before we saw it: the link's failure missed us.
    if (this.state !== State.Done) this.onLinkFailed(`the worker sent ${what}`, false);
  }

  /** Takes the body listeners off req, which waits paused for whoever takes it next. */
  private unlisten(): void {
    if (!this.listening) return;
    this.listening = false;
    this.req.removeListener('data', onRequestData);
    this.req.removeListener('end', onRequestEnd);
    this.req.removeListener(BODY_ANNOUNCED, onBodyAnnounced);
    this.req.pause();
  }

  /** Closes the client connection by the gateway's doing (the access log keeps the status that went out). */
  private cutConnection(): void {
    markCut(this.res);
    this.closeConnection();
  }

  /** Closes the client connection after what was written so far, which Node holds corked until the next tick. */
  private closeConnection(): void {
    const socket = this.res.socket;
    if (socket) while (socket.writableCorked > 0) socket.uncork();
    this.res.destroy();
  }

  private flushed(length: number): void {
    if (this.state === State.Done) return;
    this.flushedUncredited += length;
    if (this.flushedUncredited >= RESPONSE_CREDIT_STEP) {
      this.link.write(encodeU32Frame(Frame.RESPONSE_CREDIT, this.id, this.flushedUncredited));
      this.flushedUncredited = 0;
    }
  }

  private finish(): void {
    this.state = State.Done;
    const held = this.heldCount;
    this.heldCount = null;
    if (held !== null && !this.unrun) this.tally?.observe(held.status, held.seconds);
    this.res.removeListener('close', onResponseClose);
    if (this.onSocketEnd !== null) {
      this.req.socket.removeListener('end', this.onSocketEnd);
      this.onSocketEnd = null;
    }
    this.res[kExchange] = undefined;
    this.req[kExchange] = undefined;
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** False (and a 502 sent) when Node refuses the head. */
  private writeHead(head: ParsedHead): boolean {
    try {
      this.res.writeHead(head.code, head.reason, head.headers);
      return true;
    } catch (err) {
      // A streamed head (RESPONSE): the exchange is still on the link, and its body pieces and
      // end are to come. Aborted, they are dropped until its terminal frame, as a gone client's
      // are; left as they were, the first piece was a body before any head, and broke the link.
      if (this.state === State.Body) this.abort();
      this.state = State.Done;
      process.emitWarning(`apppkg: the app's response head was refused by Node: ${(err as Error).message}`);
      if (!this.res.headersSent) answerFailure(this.res, 'bad-response', { detail: 'the app\'s response head was invalid', debug: (err as Error).message, development: this.development });
      else {
        markCut(this.res);
        this.res.destroy();
      }
      return false;
    }
  }

}

/**
 * Why an ASGI request got no head, when its worker's loop has not answered the heartbeat
 * (WorkerLink.silentSince): every request on it waits, read or not, behind the call that holds
 * it. The request (or websocket) it had held longest when it went silent is named: the front
 * cannot see which one holds the loop, but that one had been sent before the loop stopped answering.
 */
function heldLoop(link: WorkerLink): string {
  if (link.silentSince === 0) return '';
  const held = link.oldestWhenSilent;
  const oldest =
    held instanceof WsgiExchange ? `; the request it had held longest then: ${requestShown(held.req)}`
    // Else a websocket (asgi-websocket.ts), told by what it has rather than by its class: that
    // module brings `ws`, which the front loads at the first Upgrade only (websocket-modules.ts).
    : held?.heldFor !== undefined ? `; what it had held longest then: ${held.heldFor(performance.now())}`
    : '';
  return `: its worker's event loop has not answered for ${spanOf(performance.now() - link.silentSince)}, so nothing on that worker could run${oldest}. A blocking call in an async function holds the loop: run sync code with loop.run_in_executor (or in a plain def handler where the framework runs those in threads)`;
}

/**
 * Requests on `link` still without a response head `limitTicks` ticks after they (or their
 * last body piece) went to the worker get a 504 and are aborted in the worker. Returns how
 * many: the caller judges whether the worker holding them is stuck (a WSGI worker's thread is,
 * an ASGI worker's cancelled task is not). One whose client stopped sending its body gets a
 * 408 instead and is not counted.
 *
 * The worker starts requests in the order they came and runs at most `capacity` at once, so
 * the requests in flight past the first `capacity` wait there for a thread: their clock
 * starts when they move up (the app's timeout is the app's time, not the queue's).
 */
export function expireRequests(link: WorkerLink, limitTicks: number, timeoutMs: number, capacity: number): number {
  let expired = 0;
  let position = 0;
  const now = link.ticks;
  for (const exchange of link.requestsInFlight()) {
    if (position++ >= capacity) {
      if (exchange instanceof WsgiExchange) exchange.startTick = now;
      continue;
    }
    if (!(exchange instanceof WsgiExchange) || exchange.state !== State.Head || exchange.aborted) continue;
    if (now - exchange.startTick > limitTicks) {
      if (exchange.waitingForClient) {
        exchange.expireClient(timeoutMs); // not counted: no thread of the worker is stuck
        continue;
      }
      exchange.expire(timeoutMs);
      expired++;
    }
  }
  return expired;
}

/**
 * The worker behind `link` has been silent past the app's timeout and is being replaced: its
 * requests without a response head get their 504 now. Their own clocks would run on past the
 * recycle (a request sent in the beat before the silence was seen, an upload whose pieces keep
 * its clock young, one waiting for a thread) until the drain's end cut them with a 502. None is
 * sent elsewhere: the gateway cannot see which the worker has read, so one might run twice.
 */
export function expireSilent(link: WorkerLink, timeoutMs: number): void {
  for (const exchange of [...link.requestsInFlight()]) {
    if (exchange instanceof WsgiExchange) exchange.expire(timeoutMs, true);
  }
}

/** Asks for back every request on `link` that waits for a thread (past the first `capacity`). */
export function reclaimWaiting(link: WorkerLink, capacity: number): void {
  let position = 0;
  for (const exchange of link.requestsInFlight()) {
    if (position++ >= capacity && exchange instanceof WsgiExchange) exchange.reclaim();
  }
}
