// A plain request on the lean lane (lean-lane.ts, net/plain-head.ts): the part of IncomingMessage
// the way to a Python worker reads (forward-wsgi.ts, wsgi-exchange.ts, the dispatcher's queue,
// the access log), its body included. A body framed by Content-Length, or chunked (the lane
// decodes it: net/chunked-body.ts), reaches the exchange as the pieces the lane read, each
// copied once out of the shared read buffer (lean-connection.ts); node:http's Readable machinery
// around every piece (~9% of the front's CPU for a 64 KiB POST with its parser,
// docs/performance.md) is what the lane saves. As a Readable: the body flows
// once a 'data' listener is added, unless paused; what arrives while nobody takes it is held,
// and the connection stops reading the client meanwhile (TCP pushes back, as node:http's
// readStop): at once when paused, past QUEUED_BODY_BYTES before any listener.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ChunkedBody } from '../net/chunked-body.js';
import type { PlainHead } from '../net/plain-head.js';
import { rememberSentVersion } from '../net/request-line-version.js';

/**
 * How much of its body a request nobody reads yet (it waits in the app's queue) may hold before
 * its connection stops reading the client: nginx's client_body_buffer_size on 64-bit. Reading on
 * is how a chunk-size line past max_body in a later write is heard while it waits, and refused
 * then, as node:http reads on (net/announced-body.ts), whose Readable stops at 16 KiB too (its
 * highWaterMark: 64 KiB from Node 22). The bound keeps a full default queue (1024) to 16 MiB
 * beyond the read each held before. A size line past it is read once a thread takes the
 * request: bytes read cannot be given back to the kernel (Node has no MSG_PEEK), so reading on
 * to find one would hold all the body before it, up to max_body (100 MiB by default: 100 GiB
 * for a full default queue), for no client's gain but a 413 sooner.
 */
export const QUEUED_BODY_BYTES = 16 * 1024;
/**
 * What a held piece costs beside its bytes (the Buffer, its slot): counted so that a body of
 * many 1-byte chunks cannot hold thousands of pieces within QUEUED_BODY_BYTES.
 */
const HELD_PIECE_COST = 256;

/** node:http's test of a TE field (its common.chunkExpression). */
const TE_CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;

/**
 * A request whose body the front may have whole when it dispatches it: the way to a Python
 * worker takes it then, to send it in the request's own frame (REQUEST_FULL, forward-wsgi.ts).
 */
export interface WholeBodyAtDispatch {
  /** The whole body, taken: it will not come as 'data'. Null when it is not all in (or taken). */
  takeWholeBody(): Buffer | null;
}

/** The connection a request's body comes from: it reads the client only while no body is held. */
export interface BodySource {
  bodyFlowChanged(): void;
}

/**
 * EventEmitter's methods without its constructor, which gives every instance a table for its
 * listeners (a null-prototype object, ~0.2 KB): most lean requests (every GET) are never
 * listened to, and EventEmitter makes the table at the first listener when there is none.
 */
export interface QuietEmitter extends EventEmitter {}
export class QuietEmitter {
  // The fields EventEmitter's constructor sets, in the state its methods read as "no listeners yet".
  _events: object | undefined = undefined;
  _eventsCount = 0;
  _maxListeners: number | undefined = undefined;
}
Object.setPrototypeOf(QuietEmitter.prototype, EventEmitter.prototype);

export class LeanRequest extends QuietEmitter implements WholeBodyAtDispatch {
  readonly method: string;
  url: string;
  readonly headers: Record<string, string>;
  readonly rawHeaders: string[];
  readonly httpVersion: '1.0' | '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: 0 | 1;
  /** The client asked the connection to persist (HTTP/1.1: did not say close; HTTP/1.0: said keep-alive). */
  readonly keepAlive: boolean;
  /**
   * An answer of unknown length may be chunked: always in HTTP/1.1; in HTTP/1.0 only when the
   * client's TE names chunked, as node:http's ServerResponse decides (else it is close-delimited).
   */
  readonly chunkedAnswers: boolean;
  /** Body bytes the client has still to send: Infinity for a chunked body until its end. */
  remaining: number;
  /** The decoder of a chunked body; null for one framed by Content-Length (or none). */
  readonly chunks: ChunkedBody | null;
  /** Arrived while nobody took them (not listened to yet, or paused), in order. */
  private held: Buffer[] | null = null;
  /** What `held` costs: its bytes, and HELD_PIECE_COST a piece. */
  private heldCost = 0;
  /**
   * The whole body, while the connection dispatches the request (lean-connection.ts): a view of
   * its read, valid during that call only. Not taken then, it comes as pieces, each copied.
   */
  wholeBody: Buffer | null = null;
  /** As a Readable's flowing state: null until a 'data' listener or a resume(), false when paused. */
  private flowing: boolean | null = null;
  private ended = false;
  /** Its response is finished: the rest of the body is read and dropped (node:http's _dump). */
  private dumped = false;
  private flushing = false;

  constructor(
    head: PlainHead,
    readonly socket: Socket,
    private readonly source: BodySource,
  ) {
    super();
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.keepAlive = head.keepAlive;
    this.httpVersion = head.http10 ? '1.0' : '1.1';
    this.httpVersionMinor = head.http10 ? 0 : 1;
    this.chunkedAnswers = !head.http10 || (head.headers.te !== undefined && TE_CHUNKED.test(head.headers.te));
    this.chunks = head.chunked ? new ChunkedBody() : null;
    this.remaining = head.chunked ? Infinity : head.bodyLength;
    if (head.higherVersion !== undefined) rememberSentVersion(this, head.higherVersion);
  }

  /** Every byte of the body has arrived (whether or not it was read): IncomingMessage.complete. */
  get complete(): boolean {
    return this.remaining === 0;
  }

  /** The client's bytes must wait: some of this body has nowhere to go yet. */
  get holdsBack(): boolean {
    if (this.dumped) return false;
    // Never listened to yet (it waits for a thread): read on, within a bound (QUEUED_BODY_BYTES).
    if (this.flowing === null && this.remaining > 0) return this.heldCost >= QUEUED_BODY_BYTES;
    return this.held !== null || (this.remaining > 0 && this.flowing !== true);
  }

  // As Readable.on: a 'data' listener starts the flow (once() goes through on() too).
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data' && this.flowing === null) this.resume();
    return this;
  }

  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  takeWholeBody(): Buffer | null {
    const body = this.wholeBody;
    if (body === null) return null;
    this.wholeBody = null;
    this.remaining = 0;
    // Its 'end' is the frame's: a listener added later (a request given back unrun and sent
    // elsewhere with its body, wsgi-exchange.ts) must not get a second one.
    this.ended = true;
    return body;
  }

  /** The next piece of the body, from the connection (never more than `remaining`). */
  receive(chunk: Buffer): void {
    this.remaining -= chunk.length;
    if (this.dumped) return;
    if (this.flowing === true && this.held === null) this.emit('data', chunk);
    else {
      (this.held ??= []).push(chunk);
      this.heldCost += chunk.length + HELD_PIECE_COST;
    }
    this.endIfDone();
  }

  /** A chunked body's last chunk and trailers are in: the body is whole. */
  receivedAll(): void {
    this.remaining = 0;
    if (!this.dumped) this.endIfDone();
  }

  pause(): this {
    if (this.flowing !== false && !this.dumped) {
      this.flowing = false;
      this.source.bodyFlowChanged();
    }
    return this;
  }

  resume(): this {
    if (this.flowing === true || this.dumped) return this;
    this.flowing = true;
    // As a Readable, what was held flows from the next tick, not inside the caller's call.
    if (!this.flushing && (this.held !== null || this.remaining === 0)) {
      this.flushing = true;
      process.nextTick(() => this.flush());
    } else {
      this.source.bodyFlowChanged();
    }
    return this;
  }

  isPaused(): boolean {
    return this.flowing === false;
  }

  /** Its response is finished: what is held is dropped, and what still comes is read and dropped. */
  dump(): void {
    // Nothing held and nothing to come (every GET): nothing to drop, and no one to tell.
    if (this.dumped || (this.held === null && this.remaining === 0)) return;
    this.dumped = true;
    this.held = null;
    this.heldCost = 0;
    this.source.bodyFlowChanged();
  }

  private flush(): void {
    this.flushing = false;
    while (this.held !== null && this.flowing === true && !this.dumped) {
      const chunk = this.held.shift()!;
      this.heldCost -= chunk.length + HELD_PIECE_COST;
      if (this.held.length === 0) this.held = null;
      this.emit('data', chunk);
    }
    this.endIfDone();
    this.source.bodyFlowChanged();
  }

  private endIfDone(): void {
    if (this.remaining === 0 && this.held === null && this.flowing === true && !this.ended) {
      this.ended = true;
      this.emit('end');
    }
  }
}
