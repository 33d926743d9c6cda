// The front's lean lane: every client connection starts here, on the raw socket. Plain requests
// (net/plain-head.ts: HTTP/1.1 or 1.0, a body framed by Content-Length, chunked, or none) that go to an app's
// Python workers or to its static files, or that the gateway answers itself on a connection
// that goes on (404, 503: front.ts takePlain), are read and answered without node:http's
// IncomingMessage and ServerResponse (2-4 µs of the front's CPU per GET, ~40 µs per 64 KiB POST:
// docs/performance.md). The first request that is not plain, or that goes elsewhere (a
// process's route, a refusal that closes the connection), hands the connection to node:http for the rest of its life: its
// bytes go back into the socket, and node:http reads them as if it had read the connection
// from the start.
// Responses to pipelined requests leave in the order the requests came, the hand-off included.
// Here: the lane's connections and their clocks (the header and keep-alive timeouts, swept);
// what one connection reads and writes is lean-connection.ts.

import type { Socket } from 'node:net';
import { afterNextPoll } from '../net/after-next-poll.js';
import { LeanConnection, type ConnectionLane, type LeanConnectionOptions } from './lean-connection.js';
import { LinkedList } from './linked-list.js';

export { LATER } from './lean-connection.js';

export interface LeanLaneOptions extends LeanConnectionOptions {
  keepAliveTimeoutMs: number;
}

/**
 * How often idle connections are looked at: the timeouts' resolution, and small enough that
 * the connections that time out together are few (10,000 closed in one turn stall the front
 * for ~50 ms; node:http spreads its own over per-socket timers).
 */
const SWEEP_MS = 100;

export class LeanLane implements ConnectionLane {
  private readonly connections = new Set<LeanConnection>();
  /**
   * Connections waiting for their first head, and idle ones between requests, each in the
   * order their wait began (one that waits again goes to the end): a sweep stops at the first
   * that has not waited long enough.
   */
  private readonly fresh = new LinkedList<LeanConnection>();
  private readonly idle = new LinkedList<LeanConnection>();
  /** Connections whose next request take() put off (LATER), in the order they came. */
  private readonly putOff = new Set<LeanConnection>();
  closing = false;
  /** The Keep-Alive field's timeout=, as node:http writes it. */
  readonly keepAliveSeconds: number;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(readonly options: LeanLaneOptions) {
    this.keepAliveSeconds = Math.floor(options.keepAliveTimeoutMs / 1000);
  }

  accept(socket: Socket): void {
    const connection = new LeanConnection(this, socket);
    this.connections.add(connection);
    this.fresh.add(connection);
    socket.once('close', () => this.forget(connection));
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** `connection` has nothing under way from now on: its keep-alive clock starts. */
  waiting(connection: LeanConnection): void {
    this.fresh.delete(connection);
    this.idle.delete(connection);
    this.idle.add(connection);
  }

  /** `connection` has begun a head, with no answer owed: the header timeout runs from now on. */
  awaitingHead(connection: LeanConnection): void {
    if (this.fresh.has(connection)) return;
    this.idle.delete(connection);
    connection.waitingSince = performance.now();
    this.fresh.add(connection);
  }

  /** Whether the header timeout runs for `connection` (a first head, or one begun while idle). */
  timesHead(connection: LeanConnection): boolean {
    return this.fresh.has(connection);
  }

  /** `connection` read a request: no clock runs while it has answers to give. */
  busy(connection: LeanConnection): void {
    this.fresh.delete(connection);
    this.idle.delete(connection);
  }

  /** take() put off `connection`'s next request: it is asked again at askAgain(). */
  putOffUntilAsked(connection: LeanConnection): void {
    this.putOff.add(connection);
  }

  /** What take() could not tell yet, it can now: each request put off is asked about again. */
  askAgain(): void {
    const putOff = [...this.putOff];
    this.putOff.clear();
    for (const connection of putOff) connection.askAgain();
  }

  /** `connection` closed, or node:http took it: the lane keeps no clock or list for it. */
  forget(connection: LeanConnection): void {
    this.connections.delete(connection);
    this.fresh.delete(connection);
    this.idle.delete(connection);
  }

  /**
   * Closes connections idle past their bound (node:http's keepAliveTimeout, and its headersTimeout
   * for a first head). On performance.now(), as every stamp of the lane: on the wall clock a step
   * forward closed every connection waiting for a head at once. Judged at the loop's next check
   * phase, on the time the sweep's timer fired: the loop polls its sockets in between, so a head
   * that came in time and waits in the kernel after a stall of the loop (a long GC, a busy turn:
   * timers run before the poll) is read first, not answered 408 (nor an idle connection's next
   * request closed on).
   */
  private sweep(): void {
    const now = performance.now();
    afterNextPoll(() => this.expireAsOf(now));
  }

  private expireAsOf(now: number): void {
    const expire = (waits: LinkedList<LeanConnection>, limitMs: number): void => {
      for (let connection = waits.first; connection !== null; connection = waits.first) {
        if (now - connection.waitingSince < limitMs) return;
        waits.delete(connection);
        connection.timedOut();
      }
    };
    expire(this.fresh, this.options.headersTimeoutMs);
    expire(this.idle, this.options.keepAliveTimeoutMs);
  }

  /**
   * The gateway stops: idle connections close now, busy ones after the responses under way
   * (those not begun yet say Connection: close). Connections node:http took are its server's.
   */
  close(): void {
    this.closing = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const connection of this.connections) connection.closeWhenIdle();
  }
}

