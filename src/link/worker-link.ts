// One connected worker, as the frames see it: request ids, the requests in flight, writes
// batched per event-loop turn, incoming frames dispatched to their request, the heartbeat's
// PING and PONG. Frames go to the worker on one socket and come back on another (its fd 3 and
// fd 4, docs/protocol.md §1): on one socket both ways, each read of ours woke the worker's
// reader, asleep on that socket's wait queue, for nothing. When either socket closes every
// request in flight fails, each told whether its frames provably never left (so the proxy may
// retry it elsewhere). Websockets an ASGI app holds (docs/protocol.md §8) share the ids and the
// dispatch but are kept apart from the requests in flight: they last as long as their clients
// do, so they must not look like busy threads (the proxy's limit per worker, the heartbeat's
// "nothing in flight", the 504 clock). docs/protocol.md.

import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Frame, FrameParser, encodeEmptyFrame } from './frames.js';
import { IdTable } from './id-table.js';
import { ownedPiece, readIntoSlabs } from '../net/slab-reads.js';
import { silenceTimeout } from '../net/after-next-poll.js';

/** What the link needs from one request in flight (the proxy's exchange, or a probe). */
export interface LinkExchange {
  /** A frame for this request. Terminal frames (RESPONSE_FULL, RESPONSE_END, ERROR, UNRUN) come last. */
  onFrame(type: number, payload: Buffer): void;
  /**
   * The worker is gone; no terminal frame will come. `neverSent`: none of this request's frames
   * had been handed to the socket, so the worker cannot have seen it; they are among `unsent`,
   * the link's frames never written (whole, in order), where a retry finds the body pieces it sent.
   */
  onLinkFailed(reason: string, neverSent: boolean, unsent: readonly Buffer[]): void;
  /** Set by open(): how many flushes had happened when the request was opened. */
  openedAtFlush?: number;
  /** Set by open(): it counts in `requests` (a probe does not), until an UNRUN takes it back. */
  counted?: boolean;
  /**
   * The gateway ends the request unfinished (a drain is over, its worker stopped): the worker is
   * sent ABORT; a response under way has its client connection cut, as the gateway's doing (444
   * in the access log), and a request with no head yet is answered 502. A probe has no client
   * and need not. True when it cut.
   */
  cutByGateway?(): boolean;
  /** ABORT sent: its client has its answer (the gateway's 504) or left; a cut takes nothing from it. */
  readonly aborted?: boolean;
  /**
   * Its RESPONSE_BODY pieces whole, as the worker framed them: for a reader of the link's frames
   * themselves (test/helpers/link-harness.ts). Others get each piece in parts as it is read, which
   * spares the front a copy of it (FrameParser's inParts).
   */
  readonly wholeBodyPieces?: boolean;
  /**
   * `GET /x, for 5.2 s`: the request as the gateway's log names it, and how long since the
   * front took it, at performance.now() `now`. What the log line of a silent worker names
   * (WorkerLink.oldestWhenSilent); a probe has none.
   */
  heldFor?(now: number): string;
  /**
   * performance.now() when the front took it (a websocket: when its handshake went to the app):
   * which of the requests and websockets the worker holds it has held longest (markSilent).
   * A probe has none.
   */
  readonly heldSince?: number;
}

/** A websocket on the link (openWebsocket): the gateway may end it (a drain, a stop). */
export interface WebsocketLinkExchange extends LinkExchange {
  /** Tell the app (WS_CLOSE) and the client that the gateway closes it with `code`. */
  closeByGateway(code: number, reason: string): void;
}

export interface ReadyInfo {
  pid: number;
  python: string;
  implementation?: string;
  threads: number;
  app: string;
  /** An ASGI worker's event loop (docs/protocol.md §8). */
  loop?: 'asyncio' | 'uvloop';
  /** Whether an ASGI app took the lifespan scope. */
  lifespan?: 'supported' | 'unsupported';
}

/** Writes smaller than this (per turn, in all) are joined into one buffer; larger ones corked. */
const JOIN_LIMIT = 64 * 1024;
const MAX_ID = 0xffffffff;
const PING = encodeEmptyFrame(Frame.PING, 0);
const NO_MORE = encodeEmptyFrame(Frame.NO_MORE, 0);
const CANCEL = encodeEmptyFrame(Frame.CANCEL, 0);
/** The types a worker sends (0x1_, frames.ts): any other first byte of a frame is not the shim's. */
const FROM_WORKER = new Set<number>(Object.values(Frame).filter((type) => type >= Frame.READY));

export class WorkerLink extends EventEmitter {
  private readonly exchanges = new IdTable<LinkExchange>();
  /** Websockets, by id: apart from `exchanges`, never in flight (see the top of the file). */
  private readonly websockets = new Map<number, WebsocketLinkExchange>();
  /**
   * Websockets whose client's connection is open, from openWebsocket() until clientClosed():
   * what status counts (SPEC 5.1's open sockets), as a `processes:` route's are counted. Not the
   * ids the app holds: a task that never calls receive() holds its id long after its client
   * closed, and such a websocket was counted open for as long.
   */
  private readonly clientsOpen = new Set<WebsocketLinkExchange>();
  /**
   * Requests answered for the app whose id stays the worker's until its terminal frame, but
   * which are no longer in flight (release()): an ASGI request's 504, whose task may run on.
   */
  private readonly released = new Map<number, LinkExchange>();
  private readonly parser: FrameParser;
  private nextId = 1;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Flushes that handed bytes to the socket: a request opened since the last one is still in `out`. */
  private flushes = 0;
  private closedReason: string | null = null;
  /** PINGs sent and PONGs received: the worker answers each PING, in order (answersPing). */
  private pings = 0;
  private pongs = 0;
  private limitAt = 0;
  private onLimit: (() => void) | null = null;
  /** The worker said STOPPING and we answered NO_MORE: open() refuses from now on. */
  draining = false;
  /**
   * When the PING still unanswered went out (performance.now()), once the heartbeat has seen it
   * go a whole beat without its PONG (markSilent); 0 while the worker answers. A worker that
   * reads nothing (an ASGI loop held by sync code, a process stuck with the GIL held) is sent no
   * new request meanwhile: they go to another worker, or wait in the app's queue (WsgiUpstream).
   */
  silentSince = 0;
  /**
   * What it had held longest when it went silent (markSilent), a request or a websocket: what a
   * 504 meanwhile names.
   */
  oldestWhenSilent: LinkExchange | null = null;
  ready: ReadyInfo | null = null;
  /** Requests opened since the link came up (probes not counted). */
  requests = 0;
  /** When the last of them was opened (performance.now(): the idle check's clock); 0 before any. */
  lastOpenedAt = 0;
  /**
   * When a request or websocket last ended (its terminal frame, or the gateway's own answer):
   * idle_timeout counts from there, and a long request's start is long before it.
   */
  lastSettledAt = 0;
  /** Called after a request leaves the in-flight map (its terminal frame came): a thread is free. */
  onSettled: (() => void) | null = null;
  /**
   * A coarse clock for the proxy's timeouts, advanced by its timer: requests stamp it when they
   * start, which costs nothing per request, unlike a timer each.
   */
  ticks = 0;
  /**
   * The worker's last output once it has gone (its stderr read to the end, within a bound),
   * from `since` on (performance.now(): when the failed request came): what a 502 in
   * development shows. Set by the Worker that owns the link.
   */
  lastWords: ((since?: number) => Promise<string>) | null = null;
  /** How the worker ended (`the worker exited with status 1`) once its exit is seen; set by its Worker. */
  ended: string | null = null;

  /** `toWorker` carries our frames, `fromWorker` the worker's; one socket may do both (tests). */
  constructor(
    private readonly fromWorker: Duplex,
    private readonly toWorker: Duplex = fromWorker,
  ) {
    super();
    // Read into slabs, a payload is a view of one: kept long (a slow client's), a short one would
    // hold the whole slab, so it is copied (net/slab-reads.ts).
    const inSlabs = fromWorker instanceof Socket && readIntoSlabs(fromWorker, (chunk) => this.parser.push(chunk), () => this.parser.readInto());
    this.parser = new FrameParser(
      inSlabs ? (type, id, payload) => this.dispatchSafely(type, id, ownedPiece(payload)) : (type, id, payload) => this.dispatchSafely(type, id, payload),
      (type) => FROM_WORKER.has(type),
      (type) => {
        // Not the shim's bytes: the app wrote to fd 4 (see Worker's 'garbage').
        const reason = `the worker wrote bytes that are no frames on its link (a frame began with 0x${type.toString(16).padStart(2, '0')})`;
        this.emit('garbage', reason);
        this.fail(reason);
      },
      // A body piece goes on to the client as its bytes come, each part a view of the read it came in.
      (type, id) => type === Frame.RESPONSE_BODY && this.exchanges.get(id)?.wholeBodyPieces !== true,
    );
    if (!inSlabs) fromWorker.on('data', (chunk: Buffer) => this.parser.push(chunk));
    for (const socket of toWorker === fromWorker ? [fromWorker] : [fromWorker, toWorker]) {
      socket.on('error', (err) => this.fail(`link error: ${err.message}`));
      socket.on('close', () => this.fail('the worker closed the link'));
      socket.on('end', () => this.fail('the worker closed the link'));
    }
    // Nothing comes on toWorker but its end, which 'end' only reports to a flowing stream.
    if (toWorker !== fromWorker) toWorker.resume();
  }

  get inFlight(): number {
    return this.exchanges.size;
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Requests released (release()) whose terminal frame has not come: the app may still run them. */
  get releasedRequests(): number {
    return this.released.size;
  }

  /** Websockets whose client's connection is open (clientsOpen). */
  get openWebsockets(): number {
    return this.clientsOpen.size;
  }

  /** Websockets whose id the app holds: from WS_CONNECT to their terminal frame; emits 'websockets-released' at none left. */
  get heldWebsockets(): number {
    return this.websockets.size;
  }

  /** Open, not draining: open() would take a request. */
  get accepting(): boolean {
    return this.closedReason === null && !this.draining;
  }

  /** The requests in flight, oldest first. */
  requestsInFlight(): IterableIterator<LinkExchange> {
    return this.exchanges.list(this.nextId).values();
  }

  /**
   * Register a request; its frames may be written from now on. 0 when the link takes no more
   * (closed, or draining). `counted` = false for the gateway's own requests (the health probe).
   */
  open(exchange: LinkExchange, counted = true): number {
    if (this.closedReason !== null || this.draining) return 0;
    const id = this.freeId();
    this.exchanges.set(id, exchange);
    exchange.openedAtFlush = this.flushes;
    exchange.counted = counted;
    if (counted) {
      this.lastOpenedAt = performance.now();
      if (++this.requests === this.limitAt) {
        // Once: an UNRUN may take a request back, and the count reach the limit again.
        const reached = this.onLimit;
        this.onLimit = null;
        reached?.();
      }
    }
    return id;
  }

  /**
   * Register a websocket (its WS_CONNECT may be written from now on); 0 when the link takes no
   * more (closed, or draining). Not a request in flight, nor counted against max_requests.
   */
  openWebsocket(exchange: WebsocketLinkExchange): number {
    if (this.closedReason !== null || this.draining) return 0;
    const id = this.freeId();
    this.websockets.set(id, exchange);
    this.clientsOpen.add(exchange);
    exchange.openedAtFlush = this.flushes;
    return id;
  }

  /** The client's connection of a websocket opened here closed: it is no longer counted open. */
  clientClosed(exchange: WebsocketLinkExchange): void {
    this.clientsOpen.delete(exchange);
  }

  /** Every websocket on the link is closed by the gateway with `code` (1012: a drain ended). */
  closeWebsockets(code: number, reason: string): void {
    for (const websocket of [...this.websockets.values()]) websocket.closeByGateway(code, reason);
  }

  /**
   * The drain of a stopping ASGI worker is over: every request still in flight is ended
   * (endInFlight), then the worker cancels what of the app still runs (after the ABORTs: the
   * same socket keeps their order) and shuts its lifespan down (docs/protocol.md §8). Returns
   * how many responses under way it cut.
   */
  cancelAll(): number {
    if (this.closedReason !== null) return 0;
    const cut = this.endInFlight();
    this.write(CANCEL);
    return cut;
  }

  /**
   * The drain of a stopping worker is over (a WSGI worker is killed now, an ASGI worker's tasks
   * cancelled: cancelAll): every response under way (a stream) is cut by the gateway, and every
   * request with no response yet answered 502, alike for both kinds. Returns how many it cut.
   */
  endInFlight(): number {
    if (this.closedReason !== null) return 0;
    let cut = 0;
    for (const exchange of [...this.exchanges.list(this.nextId).values()]) if (exchange.cutByGateway?.() === true) cut++;
    return cut;
  }

  /**
   * The gateway has answered request `id` itself (an ASGI request's 504: the worker cancels its
   * task): it stops counting in flight now (status, the idle stop, the heartbeat's judgement,
   * the worker's capacity), as the client's request is over. Its id stays taken until the
   * worker's terminal frame: an app that swallows the CancelledError runs on, and uvicorn too
   * leaves such a task running; the worker's stop bounds it (CANCEL, then SIGKILL).
   */
  release(id: number): void {
    const exchange = this.exchanges.get(id);
    if (exchange === undefined) return;
    this.exchanges.delete(id);
    this.released.set(id, exchange);
    this.lastSettledAt = performance.now();
    if (this.onSettled !== null) this.onSettled();
  }

  private freeId(): number {
    let id = this.nextId;
    while (!this.exchanges.canTake(id) || this.websockets.has(id) || (this.released.size > 0 && this.released.has(id))) id = id === MAX_ID ? 1 : id + 1;
    this.nextId = id === MAX_ID ? 1 : id + 1;
    return id;
  }

  /** Calls `reached` once, when the `count`th counted request is opened (max_requests). */
  limitRequests(count: number, reached: () => void): void {
    this.limitAt = count;
    this.onLimit = reached;
  }

  /** Queue one buffer; everything queued in this turn of the event loop leaves together. */
  write(buf: Buffer): void {
    if (this.closedReason !== null) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** The PING sent at `pingedAt` has gone a beat unanswered (the heartbeat's judgement): silentSince. */
  markSilent(pingedAt: number): void {
    this.silentSince = pingedAt;
    this.oldestWhenSilent = this.heldLongest();
    this.emit('silent', performance.now() - pingedAt);
  }

  /**
   * The request in flight or the websocket held longest: the oldest request, unless a websocket
   * was opened before it (a chat's socket, open for minutes, when a blocking call holds the loop:
   * the request sent meanwhile is not what the app was running).
   */
  private heldLongest(): LinkExchange | null {
    let oldest: LinkExchange | null = this.requestsInFlight().next().value ?? null;
    for (const websocket of this.websockets.values()) {
      if (websocket.heldSince !== undefined && (oldest?.heldSince === undefined || websocket.heldSince < oldest.heldSince)) oldest = websocket;
    }
    return oldest;
  }

  /** Heartbeat: the worker answers with a 'pong' event. */
  ping(): void {
    this.pings++;
    this.write(PING);
  }

  /**
   * Pings the worker now: true once it answers, false `withinMs` after the PING left or when
   * the link closes. The worker answers every PING, in order, so the answer to this one is the
   * `pings`-th PONG: one to an earlier PING (the heartbeat's) proves nothing about now.
   */
  answersPing(withinMs: number): Promise<boolean> {
    if (this.closedReason !== null) return Promise.resolve(false);
    this.ping();
    const answer = this.pings;
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const done = (answered: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.removeListener('pong', onPong);
        this.removeListener('close', onClose);
        resolve(answered);
      };
      const onPong = () => {
        if (this.pongs >= answer) done(true);
      };
      const onClose = () => done(false);
      // The bound runs from the turn's flush, an immediate queued before this one (write()): a
      // stall of the gateway's loop between the ask and the flush is time the worker did not
      // have the PING, and counted, it was judged unanswered as it left. Judged after the poll:
      // a PONG sent while the gateway's loop stalled is read first.
      setImmediate(() => {
        if (!settled) timer = silenceTimeout(() => done(false), withinMs).unref();
      });
      this.on('pong', onPong);
      this.once('close', onClose);
    });
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const out = this.out;
    if (out.length === 0 || this.closedReason !== null) return;
    this.out = [];
    const bytes = this.outBytes;
    this.outBytes = 0;
    this.flushes++;
    const socket = this.toWorker;
    if (out.length === 1) {
      socket.write(out[0]);
    } else if (bytes <= JOIN_LIMIT) {
      socket.write(Buffer.concat(out, bytes));
    } else {
      socket.cork();
      for (const buf of out) socket.write(buf);
      socket.uncork();
    }
  };

  /**
   * Drop a request (or a websocket) without waiting for its terminal frame: the link is going
   * away, or none of its frames was ever written.
   */
  forget(id: number): void {
    this.exchanges.delete(id);
    if (this.websockets.delete(id) && this.websockets.size === 0) this.emit('websockets-released');
  }

  /**
   * A frame that cannot be read (a credit of 2 bytes: a shim fault, or the app's bytes on fd 4
   * that happened to frame) breaks this link, not the gateway: thrown from a socket's read, it
   * ended the process and every app's requests with it.
   */
  private dispatchSafely(type: number, id: number, payload: Buffer): void {
    try {
      this.dispatch(type, id, payload);
    } catch (err) {
      this.outOfOrder(`a frame (type 0x${type.toString(16).padStart(2, '0')}, ${payload.length} bytes) for request ${id} that the gateway could not read (${(err as Error).message})`);
    }
  }

  private dispatch(type: number, id: number, payload: Buffer): void {
    if (id === 0) {
      this.control(type, payload);
      return;
    }
    const exchange = this.exchanges.get(id);
    if (exchange === undefined) {
      if (this.released.size > 0 && this.released.has(id)) this.dispatchReleased(type, id, payload);
      else this.dispatchWebsocket(type, id, payload);
      return;
    }
    if (type === Frame.RESPONSE_FULL || type === Frame.RESPONSE_END || type === Frame.ERROR || type === Frame.UNRUN) {
      this.exchanges.delete(id);
      this.lastSettledAt = performance.now();
      // Given back unrun (a RECLAIM's, or an ABORT's of a request no thread had started): the
      // app never saw it, so neither `requests` in status nor max_requests counts it.
      if (type === Frame.UNRUN && exchange.counted === true) this.requests--;
      exchange.onFrame(type, payload);
      if (this.onSettled !== null) this.onSettled();
      return;
    }
    exchange.onFrame(type, payload);
  }

  /** A released request's frame (its 504's STACK, its late terminal frame): the id is free again after the terminal one. */
  private dispatchReleased(type: number, id: number, payload: Buffer): void {
    const exchange = this.released.get(id)!;
    if (type === Frame.RESPONSE_FULL || type === Frame.RESPONSE_END || type === Frame.ERROR || type === Frame.UNRUN) this.released.delete(id);
    exchange.onFrame(type, payload);
  }

  /** A websocket's frame; its id is free again after its terminal frame (emits 'websockets-released' at none left). */
  private dispatchWebsocket(type: number, id: number, payload: Buffer): void {
    const websocket = this.websockets.get(id);
    if (websocket === undefined) return; // late frames of one already failed
    if (type === Frame.RESPONSE_FULL || type === Frame.RESPONSE_END || type === Frame.ERROR || type === Frame.UNRUN) {
      this.websockets.delete(id);
      this.lastSettledAt = performance.now();
      websocket.onFrame(type, payload);
      if (this.websockets.size === 0) this.emit('websockets-released');
      return;
    }
    websocket.onFrame(type, payload);
  }

  private control(type: number, payload: Buffer): void {
    if (type === Frame.PONG) {
      this.pongs++;
      const silentSince = this.silentSince;
      if (silentSince !== 0) {
        this.silentSince = 0;
        this.oldestWhenSilent = null;
        this.emit('answering', performance.now() - silentSince);
        // It takes requests again: what waits in the app's queue may come.
        if (this.onSettled !== null) this.onSettled();
      }
      this.emit('pong');
    } else if (type === Frame.READY) {
      try {
        this.ready = JSON.parse(payload.toString('utf8')) as ReadyInfo;
      } catch {
        this.ready = { pid: 0, python: 'unknown', threads: 1, app: '' };
      }
      this.emit('ready', this.ready);
    } else if (type === Frame.LIFESPAN_STARTUP) {
      this.emit('lifespan-startup');
    } else if (type === Frame.STOPPING) {
      // Whatever we queued before this goes out before NO_MORE: the worker serves it.
      this.draining = true;
      this.write(NO_MORE);
      this.emit('stopping');
    }
  }

  /**
   * The worker sent a frame where its request's protocol forbids one (a body or an end before
   * the head, a second head): a fault of the shim, or the app's bytes on fd 4 that happened to
   * frame. Nothing it sends after can be trusted, as after garbage: its requests fail, and its
   * Worker kills it ('out-of-order'). The request whose frame it was answers for itself if its terminal frame
   * took it out of the map already.
   */
  outOfOrder(what: string): void {
    if (this.closedReason !== null) return;
    this.emit('out-of-order', what);
    this.fail(`the worker sent ${what}`);
  }

  /** Close the link: every request in flight fails with `reason`. Idempotent. */
  fail(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    // Requests opened since the last flush have every frame still here: they never left.
    const unsent = this.out;
    const unsentSince = unsent.length > 0 ? this.flushes : -1;
    this.out = [];
    const exchanges = [...this.exchanges.list(this.nextId), ...this.websockets.values(), ...this.released.values()];
    this.exchanges.clear();
    this.websockets.clear();
    // Its worker is gone: what its clients still hold is closing (1011), the link's no more.
    this.clientsOpen.clear();
    this.released.clear();
    for (const exchange of exchanges) exchange.onLinkFailed(reason, exchange.openedAtFlush === unsentSince, unsent);
    this.fromWorker.destroy();
    this.toWorker.destroy();
    this.emit('close', reason);
  }
}
