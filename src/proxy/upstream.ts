// An upstream as the proxy sees it: a worker's link or a process's port, with one question that
// decides whether it gets a new request, `available` = ready && !full (caddy's
// Upstream.Available), and least-in-flight selection among those that are. A WSGI upstream
// also keeps the app's timeout on its link (504, and the supervisor told; a link silent past
// it, and the supervisor told), and an ASGI app's
// takes websockets, which are held to no limit but the rotation; an HTTP one owns the
// connection pool to its process.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher, Pool } from 'undici';
import { afterNextPoll } from '../net/after-next-poll.js';
import type { ProcessEndpoint, WorkerEndpoint } from './backend.js';
import { forwardHttp } from './forward-http.js';
import type { WebsocketOptions } from './forward-websocket.js';
import { expireRequests, expireSilent, forwardWsgi, reclaimWaiting, tallyOnceSettled, type ForwardOptions } from './forward-wsgi.js';
import { tellingHeadBegun } from './head-begun.js';
import { interimConnector } from './interim-answers.js';
import type { InvalidAnswerKind } from './invalid-answer.js';
import type { ClosableWebsocket, OpenWebsockets } from './open-websockets.js';
import type { RequestRoute } from './request-route.js';
import { markServedBy } from './served-by.js';
import type { WebsocketModules } from './websocket-modules.js';

export interface Upstream {
  readonly inFlight: number;
  /** Ready and not full: it should get a new request now. */
  readonly available: boolean;
  /** Out of rotation (its version was switched out, or its process retired). */
  retire(): void;
}

/** Least in flight among the available upstreams, random tie-break; null when none is. */
export function selectUpstream<U extends Upstream>(upstreams: readonly U[], except: U | null = null): U | null {
  let best: U | null = null;
  let ties = 0;
  for (const u of upstreams) {
    if (u === except || !u.available) continue;
    if (best === null || u.inFlight < best.inFlight) {
      best = u;
      ties = 1;
    } else if (u.inFlight === best.inFlight && Math.random() * ++ties < 1) {
      best = u;
    }
  }
  return best;
}

/**
 * Requests a worker may hold beyond its threads, sent and waiting there for a thread. A worker
 * reads every frame that has arrived in one go and runs the requests back to back, answering
 * them in one write: with requests waiting there, each wake-up of the worker (and of the
 * gateway) serves a batch. Measured on 2 cores (docs/architecture.md, "Pipelining"): with
 * `threads: 1` and 32 clients, 9.5k req/s with none waiting, 27k with 16; the CPU per request
 * fell from 148 to 50 µs. They count against the app's `queue` like requests waiting here.
 */
export const PIPELINE_DEPTH = 16;

/** Least in flight among the upstreams that may take one more to wait in the worker; null when none may. */
export function selectForPipeline(upstreams: readonly WsgiUpstream[], except: WsgiUpstream | null = null): WsgiUpstream | null {
  let best: WsgiUpstream | null = null;
  for (const u of upstreams) {
    if (u !== except && u.canPipeline && (best === null || u.inFlight < best.inFlight)) best = u;
  }
  return best;
}

/**
 * The worker for a new websocket: fewest websockets among those in rotation, random tie-break.
 * Not `available`: a websocket holds no thread, so neither the requests in flight nor the
 * app's queue decide (docs/protocol.md §8).
 */
export function selectForWebsocket(upstreams: readonly WsgiUpstream[]): WsgiUpstream | null {
  let best: WsgiUpstream | null = null;
  let ties = 0;
  for (const u of upstreams) {
    if (!u.takesWebsockets) continue;
    const open = u.link.openWebsockets;
    if (best === null || open < best.link.openWebsockets) {
      best = u;
      ties = 1;
    } else if (open === best.link.openWebsockets && Math.random() * ++ties < 1) {
      best = u;
    }
  }
  return best;
}

/** A Python worker, through its link. */
export class WsgiUpstream implements Upstream {
  private retired = false;
  private sweeper: NodeJS.Timeout | null = null;
  /** The silence (WorkerLink.silentSince) already told to the supervisor as past the timeout. */
  private silenceTold = 0;

  constructor(
    readonly endpoint: WorkerEndpoint,
    /** A request finished here: a thread is free for what waits. */
    onSettled: () => void,
    timeoutMs: number,
  ) {
    const link = endpoint.link;
    link.onSettled = onSettled;
    if (timeoutMs > 0) this.startSweeper(timeoutMs);
  }

  get link() {
    return this.endpoint.link;
  }

  get inFlight(): number {
    return this.endpoint.link.inFlight;
  }

  get available(): boolean {
    const link = this.endpoint.link;
    // At most `capacity` at once: the rest wait in the app's queue, where a version switch can
    // hand them to the new version instead of a draining worker. None while it is silent: sent
    // there, a request waits unread for as long as its loop is held, where nothing can move it.
    return !this.retired && link.accepting && link.inFlight < this.endpoint.capacity && link.silentSince === 0 && this.endpoint.beingReplaced?.() !== true;
  }

  /** It takes new requests when it has room: not leaving (killed, stopping, being replaced). */
  get inRotation(): boolean {
    return !this.retired && this.endpoint.link.accepting && this.endpoint.beingReplaced?.() !== true;
  }

  /** Every thread is busy, but one more may wait in the worker (PIPELINE_DEPTH). */
  get canPipeline(): boolean {
    const link = this.endpoint.link;
    return !this.retired && link.accepting && link.inFlight < this.endpoint.capacity + PIPELINE_DEPTH && link.silentSince === 0 && this.endpoint.beingReplaced?.() !== true;
  }

  /** Requests sent to it that wait for a thread (beyond its capacity). */
  get waiting(): number {
    return Math.max(0, this.endpoint.link.inFlight - this.endpoint.capacity);
  }

  /** False when the link refused it before anything was sent (the caller tries another). */
  forward(req: IncomingMessage, res: ServerResponse, route: RequestRoute, options: ForwardOptions): boolean {
    if (!forwardWsgi(this.endpoint.link, req, res, route, options)) return false;
    markServedBy(res, tallyOnceSettled(res, this.endpoint.tally));
    return true;
  }

  /** In rotation and its link open: it may take a new websocket (an ASGI app's worker). */
  get takesWebsockets(): boolean {
    return !this.retired && this.endpoint.link.accepting;
  }

  /** A websocket for the app; false when the link refused it before anything was sent (the caller tries another). */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute, options: WebsocketOptions, modules: WebsocketModules): boolean {
    return modules.forwardWebsocket(this.endpoint.link, req, socket, head, route, options);
  }

  /** Out of rotation: what waits in it for a thread is asked back, to go elsewhere (RECLAIM). */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    reclaimWaiting(this.endpoint.link, this.endpoint.capacity);
  }

  /**
   * The 504 clock: one interval per worker advances the link's tick counter, and requests
   * past the timeout without a response head get their 504 (no timer per request). It runs
   * as long as the link does, retired or not: a draining worker's requests are timed too.
   */
  private startSweeper(timeoutMs: number): void {
    const link = this.endpoint.link;
    const tickMs = Math.min(1000, Math.max(20, Math.round(timeoutMs / 10)));
    const limitTicks = Math.ceil(timeoutMs / tickMs);
    this.sweeper = setInterval(() => {
      link.ticks++;
      if (link.inFlight > 0 && expireRequests(link, limitTicks, timeoutMs, this.endpoint.capacity) > 0) {
        this.endpoint.requestsTimedOut(`a request got no response head within ${timeoutMs / 1000} s`);
      }
      if (link.silentSince !== 0 && link.silentSince !== this.silenceTold && performance.now() - link.silentSince > timeoutMs) this.judgeSilence(timeoutMs);
    }, tickMs);
    this.sweeper.unref();
    link.once('close', () => {
      if (this.sweeper !== null) clearInterval(this.sweeper);
      this.sweeper = null;
    });
  }

  /**
   * The link's silence has lasted past the app's timeout. The timeout alone never ends it: a
   * request whose head is out (a stream) has no 504 to give, and one sent while the loop was
   * held waits unread. Told once per silence, after the poll: a PONG that waited in the kernel
   * through a stall of the gateway's own loop is read first. Its requests without a head are
   * answered then, not at their own timeouts: nothing on it will run before it is gone.
   */
  private judgeSilence(timeoutMs: number): void {
    const link = this.endpoint.link;
    const since = link.silentSince;
    this.silenceTold = since;
    afterNextPoll(() => {
      if (link.silentSince !== since || link.closed) return;
      // A request answered 504 meanwhile is held all the same: its task has not seen its cancel.
      const count = link.inFlight + link.releasedRequests;
      const held = count === 1 ? '1 request' : `${count} requests`;
      this.endpoint.silentPastTimeout(`it has not answered the heartbeat within the app's timeout (${timeoutMs / 1000} s), with ${held} in it`);
      expireSilent(link, timeoutMs);
    });
  }
}

/** Connections open to one process at once; more requests wait in the app's queue. */
const POOL_CONNECTIONS = 32;

// undici costs ~60 ms to load: only gateways whose apps have serving processes pay it, once.
let undiciLoad: Promise<typeof import('undici')> | null = null;

/** A process that speaks HTTP itself, through a connection pool of its own. */
export class HttpUpstream implements Upstream {
  inFlight = 0;
  private retired = false;
  private pool: Pool | null = null;
  /** The pool as requests are sent through it: told when each answer's head begins (head-begun.ts). */
  private dispatcher: Dispatcher | null = null;
  private readonly poolReady: Promise<Dispatcher>;

  /** The kinds of invalid answer this process gave that the app's log has been told of. */
  private readonly told = new Set<InvalidAnswerKind>();

  constructor(
    readonly endpoint: ProcessEndpoint,
    private readonly onSettled: () => void,
    private readonly timeoutMs: number,
    private readonly development: boolean,
    /** A line for the app's log (Backend.report). */
    private readonly report?: (line: string) => void,
  ) {
    undiciLoad ??= import('undici');
    this.poolReady = undiciLoad.then(({ Pool, buildConnector }) => {
      this.pool = new Pool(`http://127.0.0.1:${endpoint.port}`, {
        connect: interimConnector(buildConnector),
        connections: POOL_CONNECTIONS,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      if (this.retired) void this.pool.close().catch(() => {});
      this.dispatcher = tellingHeadBegun(this.pool);
      return this.dispatcher;
    });
  }

  get available(): boolean {
    return !this.retired && this.inFlight < POOL_CONNECTIONS;
  }

  /**
   * Once per kind for this process, as a worker's shim says a dropped hop-by-hop header once
   * per name: a server that answers one request so answers them all, and the log needs the
   * fix, not a line per request (the access log has those).
   */
  private readonly reportOnce = (kind: InvalidAnswerKind, line: string): void => {
    if (this.told.has(kind)) return;
    this.told.add(kind);
    this.report?.(line);
  };

  forward(req: IncomingMessage, res: ServerResponse, route: RequestRoute): void {
    this.inFlight++;
    this.endpoint.held.opened(false);
    markServedBy(res, this.endpoint.tally);
    // The process is not told that a request's client left until it writes (a sync server
    // sleeping in a view does not notice the aborted connection): until the answer the proxy
    // would have waited for, it may still be busy with it.
    const abandonedUntil = performance.now() + this.timeoutMs;
    res.once('close', () => {
      this.inFlight--;
      if (!res.headersSent) this.endpoint.held.abandoned?.(abandonedUntil);
      this.endpoint.held.closed(false);
      this.onSettled();
    });
    const options = { timeoutMs: this.timeoutMs, label: this.endpoint.label, development: this.development, answered: this.endpoint.held.answered, say: this.endpoint.say, reportOnce: this.reportOnce };
    if (this.dispatcher !== null) forwardHttp(this.dispatcher, req, res, route, options);
    else void this.poolReady.then((dispatcher) => forwardHttp(dispatcher, req, res, route, options));
  }

  /**
   * `open`: the front's websockets, which it closes 1001 when the gateway stops, before it cuts
   * the connections left: the process's own stop comes after that cut, too late for a close frame.
   */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute, modules: WebsocketModules, open?: OpenWebsockets): void {
    let tunnel: ClosableWebsocket | null = null;
    if (!socket.destroyed) {
      this.endpoint.held.opened(true);
      // One listener for both: a websocket's socket carries more than Node's default ten.
      socket.once('close', () => {
        this.endpoint.held.closed(true);
        if (tunnel !== null) open?.delete(tunnel);
      });
    }
    const held = this.endpoint.held;
    modules.forwardUpgrade(req, socket, head, this.endpoint.port, route, {
      timeoutMs: this.timeoutMs,
      label: this.endpoint.label,
      reportOnce: this.reportOnce,
      say: this.endpoint.say,
      onWebsocket:
        held.websocket === undefined && open === undefined
          ? undefined
          : (opened) => {
              held.websocket?.(opened, socket);
              if (open === undefined || socket.destroyed) return;
              tunnel = opened;
              open.add(opened);
            },
    });
  }

  /** Out of rotation; the pool closes once the requests it holds are done. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    void this.pool?.close().catch(() => {});
  }
}
