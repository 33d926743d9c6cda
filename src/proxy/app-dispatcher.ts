// One app's requests from the router to an upstream: which group of upstreams a path belongs
// to (a process's route, else the WSGI workers, else a command app's web process), which
// upstream of it is available, the bounded queue when none is (503 past it), one retry of a
// request that provably never reached a worker, and the hand-over when a new version is
// published: what waits stays here and goes to the new version's upstreams. An upgrade takes
// the same path to its group: a process's route, or an ASGI app's workers (a websocket, held
// to no thread, so neither the queue nor the limit per worker applies; with no worker in
// rotation it waits for one, up to `timeout`, as a request waits in the queue), else 501.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WorkerLink } from '../link/worker-link.js';
import type { Backend, Endpoint } from './backend.js';
import { isGatewayError } from '../errors.js';
import { CLI_COMMAND_WORDS } from '../command-words.js';
import { answerFailure, refuseUpgrade, refuseUpgradeFor, wakeFailedDetail, wakeRetryWords } from './error-response.js';
import { markServedBy, REFUSED_FOR_ROOM } from './served-by.js';
import type { WebsocketOptions } from './forward-websocket.js';
import { handshakeProblem, refuseHandshake } from './handshake-check.js';
import { loadWebsocketModules, preloadWebsocketModules, websocketModules, type WebsocketModules } from './websocket-modules.js';
import { BODY_ANNOUNCED, bodySizeKnown } from '../net/announced-body.js';
import { asksToContinue } from '../net/expect-continue.js';
import { bodyPastMax, refusalAtWorker, refuseTooLarge, type ForwardOptions, type Redispatch } from './forward-wsgi.js';
import type { OpenWebsockets } from './open-websockets.js';
import type { RequestRoute } from './request-route.js';
import { staticMounts, type StaticMount } from './static-files.js';
import { HttpUpstream, selectForPipeline, selectForWebsocket, selectUpstream, WsgiUpstream } from './upstream.js';

/** The upstreams that take one kind of path: the WSGI workers, or one process. */
class UpstreamGroup<U extends WsgiUpstream | HttpUpstream = WsgiUpstream | HttpUpstream> {
  upstreams: U[] = [];
  /** Requests of this group waiting in the app's queue. */
  waiting = 0;

  constructor(
    /** null: the WSGI workers; else the process's name. */
    readonly process: string | null,
    /** Its route (null: every path no other route takes). */
    readonly route: string | null,
    /** "processes.live of chat", for error bodies. */
    readonly label: string,
  ) {}

  /**
   * With nothing running, wait for it (workers restart, and a request can wait for one) or
   * answer 503 at once (a process restarting: as a proxy in front of it would).
   */
  get queueWhenEmpty(): boolean {
    return this.process === null;
  }
}

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  route: RequestRoute;
  group: UpstreamGroup;
  /**
   * When it began to wait (performance.now(): a step of the wall clock, NTP after a VM resumes,
   * must not 504 the whole queue at once): it waits at most the app's `timeout`, then 504.
   */
  since: number;
  /** Hears its chunked body's size lines while it waits (one past max_body refuses it then); null when not listening. */
  announced: ((total: number) => void) | null;
}

/** A websocket handshake waiting for a worker to take it (none in rotation: restarting). */
interface HeldUpgrade {
  req: IncomingMessage;
  socket: Socket;
  head: Buffer;
  route: RequestRoute;
  /** Its `timeout`: then 504, as a request waiting in the queue gets. */
  timer: NodeJS.Timeout | null;
  /** Its client gave up: it waits no more. */
  dropped: () => void;
}

/** How often the queue is looked at for requests waiting past the app's `timeout`. */
const QUEUE_SWEEP_MS = 500;

const kRetried = Symbol('apppkg.retried');
/** When a handshake began to wait for a worker (performance.now()): waiting again (released, then no worker took it) keeps its deadline. */
const kHeldSince = Symbol('apppkg.heldSince');
type HeldSocket = Socket & { [kHeldSince]?: number };
type Retried = IncomingMessage & { [kRetried]?: true };

/** Retry-After for a 503 whose cause lasts until `at` (Date.now() ms): the seconds left, at least 1. */
function retryAfterUntil(at: number | null | undefined): Record<string, string> | undefined {
  if (at === null || at === undefined) return undefined;
  return { 'Retry-After': String(Math.max(1, Math.ceil((at - Date.now()) / 1000))) };
}

/** A chunked request whose body has not begun (no size line yet) and whose client sends it unasked (no Expect: 100-continue). */
function waitsForFirstSizeLine(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined && !bodySizeKnown(req) && !asksToContinue(req);
}

export class AppDispatcher implements Redispatch {
  backend: Backend;
  staticMounts: StaticMount[] = [];
  private workers: UpstreamGroup<WsgiUpstream> | null = null;
  /** Longest route first; the one without a route (web) last. */
  private processes: Array<UpstreamGroup<HttpUpstream>> = [];
  private readonly upstreams = new Map<Endpoint, WsgiUpstream | HttpUpstream>();
  private queue: Waiting[] = [];
  private heldUpgrades: HeldUpgrade[] = [];
  /**
   * Requests of a sleeping app with no room to wait (answerAsleep) whose answer waits for the
   * wake's room to be known: not in the queue, yet as owed an answer when the app goes (detach).
   */
  private readonly asleepAnswers = new Set<(why: string) => void>();
  /** Websocket handshakes held for the app's wake (upgrade), owed an answer as the queue is when no wake will come. */
  private readonly wakeUpgrades = new Set<Socket>();
  /** Runs while the queue holds something: answers 504 to what waited past `timeout`. */
  private queueSweeper: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Why the app is gone (detach), for what comes back to it afterwards; null while it serves. */
  private detached: string | null = null;
  /** Why no wake starts from now on (the gateway stops: gatewayStops); null while one may. */
  private noWake: string | null = null;
  private forwardOptions: ForwardOptions = {};
  /** For a request that was retried once already. */
  private lastTryOptions: ForwardOptions = {};
  /** null: the app's workers take no websocket (WSGI). */
  private websocketOptions: WebsocketOptions | null = null;
  private readonly settled = (): void => {
    if (this.queue.length > 0) this.drainQueue();
  };

  constructor(
    backend: Backend,
    /** Every websocket the gateway holds, which this app's join. */
    private readonly websockets: OpenWebsockets,
    /** Told the app's name at each handshake refused for want of room under --max-workers. */
    private readonly websocketRefusedForRoom?: (app: string) => void,
    /** What shows the operator why the app does not serve (FrontOptions.statusCall); the CLI's by default. */
    private readonly statusCall?: string,
  ) {
    this.backend = backend;
    this.attach(backend);
  }

  get name(): string {
    return this.backend.name;
  }

  /** The app's `timeout`: for a response head, and for a request body that stops arriving. */
  get timeoutMs(): number {
    return this.backend.limits.timeoutMs;
  }

  /** Requests waiting for a free thread: in this queue, or sent to a worker whose threads are busy. */
  get queued(): number {
    return this.waitingCount();
  }

  /** Of the queue, the requests waiting for the process `name` (its route's). */
  queuedFor(name: string): number {
    return this.processes.find((g) => g.process === name)?.waiting ?? 0;
  }

  /**
   * Routes to `backend` from now on (a new version takes over): the old version's upstreams
   * leave the rotation and finish what they hold, and what waits here goes to the new one.
   */
  attach(backend: Backend): void {
    this.unsubscribe?.();
    for (const upstream of this.upstreams.values()) upstream.retire();
    this.upstreams.clear();
    this.backend = backend;
    this.staticMounts = staticMounts(backend.dir, backend.static, (line) => backend.report?.(line));
    // An ASGI app (its workers take websockets) hears the client close its side (CLIENT_END),
    // and gets the header names with `_` (cgi-request.ts).
    const asgi = backend.acceptsWebsockets;
    const report = (line: string) => backend.report?.(line);
    this.forwardOptions = { development: backend.development, maxBody: backend.limits.maxBody, redispatch: this, clientEnd: asgi, asgi, report, app: backend.name };
    // Still given back when its worker leaves the rotation: each RECLAIM costs a worker's
    // recycle or a version's switch, and what waits there unrun would be cut with a 502.
    this.lastTryOptions = { ...this.forwardOptions, lastTry: true };
    this.websocketOptions = backend.acceptsWebsockets
      ? { server: null, maxPayload: backend.limits.maxMessage ?? backend.limits.maxBody, timeoutMs: backend.limits.timeoutMs, development: backend.development, open: this.websockets, report: (line: string) => backend.report?.(line) }
      : null;
    if (asgi || backend.processRoutes.length > 0) preloadWebsocketModules();
    this.workers = backend.processRoutes.some((p) => p.route === null) ? null : new UpstreamGroup<WsgiUpstream>(null, null, `${backend.name}'s workers`);
    this.processes = backend.processRoutes.map((p) => new UpstreamGroup<HttpUpstream>(p.name, p.route, `processes.${p.name} of ${backend.name}`));
    this.unsubscribe = backend.subscribe(() => this.sync());
    for (const waiting of this.queue) waiting.group = this.groupFor(waiting.route.routedPathInfo);
    this.recount();
    this.sync();
  }

  /** The app is gone: nothing more goes to it, and what waits is answered 503. */
  detach(why: string): void {
    this.detached = why;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const upstream of this.upstreams.values()) upstream.retire();
    this.upstreams.clear();
    for (const waiting of this.takeAll()) answerFailure(waiting.res, 'unavailable', { detail: why });
    for (const answer of [...this.asleepAnswers]) answer(why);
    for (const held of this.takeHeldUpgrades()) refuseUpgradeFor(held.socket, 'unavailable', why);
  }

  /** The handshakes held for a wake, refused `why` (each once: the wake's end then finds it gone and leaves it). */
  private refuseWakeUpgrades(why: string): void {
    const sockets = [...this.wakeUpgrades];
    this.wakeUpgrades.clear();
    for (const socket of sockets) if (!socket.destroyed) refuseUpgradeFor(socket, 'unavailable', why);
  }

  /**
   * The gateway stops: no wake starts during a stop, so what waits on one that has no room yet
   * (the app asleep, or its wake still asking --max-workers for room), requests and websocket
   * handshakes, is answered 503 `why` now, as what waits for a starting app is
   * (StartWaits.giveUpAll), and so is what comes for it later in the stop; left waiting, it was
   * cut at the end of --grace with no status line. A wake that has its room goes on, and what
   * waits for it is served within the grace.
   */
  gatewayStops(why: string): void {
    this.noWake = why;
    if (!this.wakeWithoutRoom) return;
    for (const waiting of this.takeAll()) answerFailure(waiting.res, 'unavailable', { detail: why });
    for (const answer of [...this.asleepAnswers]) answer(why);
    this.refuseWakeUpgrades(why);
  }

  /** Asleep, or its wake still waiting to know its room under --max-workers: no worker is on its way. */
  private get wakeWithoutRoom(): boolean {
    const state = this.backend.idleState;
    return state === 'asleep' || (state === 'waking' && (this.backend.roomForWake?.() ?? null) !== null);
  }

  /** The backend's upstreams changed: new ones join their group, gone ones retire. */
  private sync(): void {
    const { limits, development } = this.backend;
    const current = new Set(this.backend.upstreams);
    for (const [endpoint, upstream] of this.upstreams) {
      if (!current.has(endpoint)) {
        upstream.retire();
        this.upstreams.delete(endpoint);
      }
    }
    for (const endpoint of current) {
      if (this.upstreams.has(endpoint)) continue;
      this.upstreams.set(
        endpoint,
        endpoint.kind === 'worker'
          ? new WsgiUpstream(endpoint, this.settled, limits.timeoutMs)
          : new HttpUpstream(endpoint, this.settled, limits.timeoutMs, development, this.forwardOptions.report),
      );
    }
    if (this.workers !== null) this.workers.upstreams = [];
    for (const group of this.processes) group.upstreams = [];
    for (const upstream of this.upstreams.values()) {
      if (upstream instanceof WsgiUpstream) this.workers?.upstreams.push(upstream);
      else this.processes.find((g) => g.process === upstream.endpoint.name)?.upstreams.push(upstream);
    }
    if (this.queue.length > 0) this.drainQueue();
    if (this.heldUpgrades.length > 0) this.releaseUpgrades();
  }

  /**
   * The group a path belongs to: the longest process route it falls under, else the workers (or
   * web). `routed` is PATH_INFO as the router compares it (RequestRoute.routedPathInfo): a route
   * `/live` takes `/live/x`, not `/live%2Fx`, as a mount does.
   */
  private groupFor(routed: string): UpstreamGroup {
    for (const group of this.processes) {
      const route = group.route;
      if (route === null || routed === route || routed.startsWith(`${route}/`)) return group;
    }
    return this.workers ?? this.processes[this.processes.length - 1];
  }

  /** A request for `routed` (RouteMatch.routedPathInfo) goes to the app's Python workers, not to a process's route. */
  servesWithWorkers(routed: string): boolean {
    return this.workers !== null && this.groupFor(routed) === this.workers;
  }

  /**
   * Whether `req`'s Content-Length already passes the max_body of the workers that take
   * `routed`: the 413 it gets then (enqueue) is the answer whatever else its head asks.
   */
  refusesLength(req: IncomingMessage, routed: string): boolean {
    return req.headers['content-length'] !== undefined && this.servesWithWorkers(routed) && bodyPastMax(req, this.forwardOptions.maxBody) !== null;
  }

  handle(req: IncomingMessage, res: ServerResponse, route: RequestRoute): void {
    const group = this.groupFor(route.routedPathInfo);
    if (this.backend.idleState !== undefined && this.backend.idleState !== 'awake') {
      // What is refused without the app must not cost a cold start, nor start workers that
      // would serve nobody: the way to a worker's 400s, and a body known to pass max_body (enqueue).
      const refused = group === this.workers ? refusalAtWorker(req, route) : null;
      if (refused !== null) return answerFailure(res, refused.kind, { detail: refused.detail });
      if (this.noWake !== null && this.wakeWithoutRoom) return answerFailure(res, 'unavailable', { detail: this.noWake });
      const maxBody = this.forwardOptions.maxBody;
      if (group === this.workers && bodyPastMax(req, maxBody) !== null) return this.enqueue(group, req, res, route);
      // One with no room to wait (queue: 0, or full) is answered "starting from idle" at its head
      // (enqueue): waiting for its size line then woke nothing, and that answer was untrue.
      if (group === this.workers && maxBody !== undefined && waitsForFirstSizeLine(req) && this.waitingCount() < this.backend.limits.queue) {
        this.wakeAtFirstSizeLine(req, res, maxBody);
      } else {
        this.wakeBackend();
      }
    }
    // Nobody of this group waiting ahead of it: straight to an upstream if one is available.
    if (group.waiting === 0 && this.send(group, req, res, route)) return;
    this.enqueue(group, req, res, route);
  }

  /**
   * To an available upstream of `group`, else (the WSGI workers) to wait in one while the app's
   * queue has room; false when none takes it (it is unanswered then). `moving`: it waits in the
   * queue already, so its place there is the room it needs.
   */
  private send(group: UpstreamGroup, req: IncomingMessage, res: ServerResponse, route: RequestRoute, except: WsgiUpstream | null = null, moving = false): boolean {
    let upstream = selectUpstream<WsgiUpstream | HttpUpstream>(group.upstreams, except);
    if (upstream === null && group === this.workers && (moving || this.waitingCount() < this.backend.limits.queue)) {
      upstream = selectForPipeline(this.workers.upstreams, except);
    }
    if (upstream === null) return false;
    if (upstream instanceof HttpUpstream) {
      const release = this.backend.hold?.();
      if (release) res.once('close', release);
      upstream.forward(req, res, route);
      return true;
    }
    const options = (req as Retried)[kRetried] ? this.lastTryOptions : this.forwardOptions;
    if (upstream.forward(req, res, route, options)) return true;
    // Its link refused before anything was sent (its worker is stopping): another may take it.
    (req as Retried)[kRetried] = true;
    return this.send(group, req, res, route, upstream, moving);
  }

  /** Requests of this app waiting for a thread: here, and in its workers (the pipelines). */
  private waitingCount(): number {
    let n = this.queue.length;
    if (this.workers !== null) for (const u of this.workers.upstreams) n += u.waiting;
    return n;
  }

  /**
   * Why the idle app could not wake, for its client: in production a failure of the app (a
   * GatewayError: its import, its probe) by its code only, as a refused version's (its message
   * quotes the app), and when the first request wakes it again (not a refusal for good); the
   * gateway's own reasons (no room under --max-workers) and development in full.
   */
  private wakeFailedDetail(err: Error): string {
    // No room under --max-workers: its own words say to try again in a moment.
    if ((err as { noRoom?: unknown }).noRoom === true) return `${this.name} could not be started: ${err.message}`;
    const retryAt = this.backend.wakeRetryAt;
    if (isGatewayError(err) && !this.backend.development) return wakeFailedDetail(this.name, err.code, retryAt, this.statusCall);
    return `${this.name} could not be woken from idle (${wakeRetryWords(retryAt)}): ${err.message}`;
  }

  /**
   * A chunked request to the sleeping app wakes it at its body's first size line, not at its
   * head: a first line past max_body is refused (by enqueue's listener, told the same total
   * after this one) without a cold start, whether it came in the head's own read
   * (the lean lane takes a request before it reads the size lines of that read) or in a later
   * one. A client that waits for 100 Continue sends none until the app reads, and one with no
   * room to wait is answered at its head: each wakes it at once (handle). One that leaves first, or is refused meanwhile, wakes nothing; one that sends no
   * size line waits in the queue under its bound, as it would for a worker's read of its body.
   */
  private wakeAtFirstSizeLine(req: IncomingMessage, res: ServerResponse, maxBody: number): void {
    const heard = (): void => {
      res.off('close', gone);
      if (bodyPastMax(req, maxBody) === null) this.wakeBackend();
    };
    const gone = (): void => {
      req.off(BODY_ANNOUNCED, heard);
    };
    req.once(BODY_ANNOUNCED, heard);
    res.once('close', gone);
  }

  /** The idle app wakes; what waits for it is answered 503 if it cannot. */
  private wakeBackend(): void {
    const backend = this.backend;
    backend.wake?.().catch((err: Error) => {
      if (this.backend !== backend) return; // another version took over: what waits is its now
      // Until the back-off has passed every request gets this 503 at once: Retry-After says
      // how long that is (up to 30 s), not 1 s, after which a client would only meet it again.
      const headers = retryAfterUntil(backend.wakeRetryAt);
      const noRoom = (err as { noRoom?: unknown }).noRoom === true;
      for (const waiting of this.takeAll()) {
        // The app's own failure is its serving version's (its files failed the wake, README "Many
        // apps"); a want of room is the gateway's refusal, counted apart.
        markServedBy(waiting.res, noRoom ? REFUSED_FOR_ROOM : backend.answered);
        answerFailure(waiting.res, 'unavailable', { detail: this.wakeFailedDetail(err), headers });
      }
    });
  }

  /** Why a request or a websocket gets a crash loop's 503. */
  private get crashLoopDetail(): string {
    return `${this.name} is in a crash loop: its processes keep exiting (${this.statusCall ?? CLI_COMMAND_WORDS.status} and its log say why); try again later`;
  }

  /**
   * Retry-After for a crash loop's 503 (or a restart's): the seconds until its next worker starts,
   * not the 1 of a busy app, which told clients and proxies to come back 16-30 times while
   * nothing could serve.
   */
  private crashLoopRetryAfter(): Record<string, string> | undefined {
    return retryAfterUntil(this.backend.nextWorkerRestartAt);
  }

  private enqueue(group: UpstreamGroup, req: IncomingMessage, res: ServerResponse, route: RequestRoute, since = performance.now()): void {
    // A body known to pass max_body never needs a worker: refused now, as nginx refuses it,
    // not once a thread is free (the workers' max_body: a process's route has none).
    const past = group === this.workers ? bodyPastMax(req, this.forwardOptions.maxBody) : null;
    if (past !== null) {
      refuseTooLarge(req, res, this.forwardOptions, past);
      return;
    }
    const sleeping = this.backend.idleState !== undefined && this.backend.idleState !== 'awake';
    if (group.upstreams.length === 0 && !group.queueWhenEmpty && !sleeping) {
      // Its process exited and is not up again: the app's own failure, in its serving version's
      // failed as in ERRORS (README "Many apps": --max-workers bounds Python workers, never a process).
      markServedBy(res, this.backend.answered);
      answerFailure(res, 'unavailable', { detail: `${group.label} is restarting; try again` });
      return;
    }
    if (group.upstreams.length === 0 && !sleeping && this.backend.crashLooping === true) {
      // Its processes keep exiting: the app's own failure, in its serving version's failed as in ERRORS.
      markServedBy(res, this.backend.answered);
      answerFailure(res, 'unavailable', { detail: this.crashLoopDetail, headers: this.crashLoopRetryAfter() });
      return;
    }
    if (this.waitingCount() >= this.backend.limits.queue) {
      // With no room to wait (queue: 0), an app with no worker taking requests is not busy: it
      // is restarting one (killed, recycled) or waking, and says so, as the log does. Each is
      // the app's own 503, in its serving version's failed as in ERRORS: its workers did not
      // keep up with its own `queue`; the one it restarts exited, or is replaced for its own
      // max_requests, max_memory or silence, and the room it waits for is that worker's own; a
      // sleeping app has nowhere to hold a request for its wake by its own `queue: 0` and
      // `idle_timeout` (unless --max-workers leaves that wake no room: answerAsleep).
      if (sleeping) return this.answerAsleep(res);
      markServedBy(res, this.backend.answered);
      if (group === this.workers && !this.workers.upstreams.some((u) => u.inRotation)) answerFailure(res, 'unavailable', { detail: `${this.name} is restarting; try again`, headers: this.crashLoopRetryAfter() });
      else answerFailure(res, 'busy', { detail: `${this.name} is busy; try again` });
      return;
    }
    const waiting: Waiting = { req, res, route, group, since, announced: null };
    this.queue.push(waiting);
    group.waiting++;
    this.queueSweeper ??= setInterval(() => this.expireWaiting(), QUEUE_SWEEP_MS).unref();
    res.once('close', () => {
      const i = this.queue.indexOf(waiting);
      if (i >= 0) this.take(i);
    });
    const maxBody = this.forwardOptions.maxBody;
    if (group === this.workers && maxBody !== undefined && req.headers['transfer-encoding'] !== undefined) {
      // A size line read while it waits, for a thread or for the app's wake alike: both readers
      // read on within what a waiting request may hold (lean-request.ts QUEUED_BODY_BYTES,
      // node:http's highWaterMark). One past that is heard only once a worker takes the request
      // (wsgi-exchange.ts): reading on to find it would hold all the body before it, up to
      // max_body a request, since bytes read cannot be given back to the kernel.
      waiting.announced = (total: number) => {
        const i = total > maxBody ? this.queue.indexOf(waiting) : -1;
        if (i < 0) return;
        this.take(i);
        refuseTooLarge(req, res, this.forwardOptions, 'chunked');
      };
      req.on(BODY_ANNOUNCED, waiting.announced);
    }
  }

  /**
   * A request the sleeping app has no room to hold while it wakes: its own 503 ("starting from
   * idle") once its wake has room, or the gateway's refusal for room (counted apart, README
   * "Many apps") when --max-workers leaves it none. Answered at once when no room is in question
   * (no --max-workers, or the wake has it already), as before; else when the room is known,
   * which with room free is a few microtasks, and at most the wait's bound (expireWaiting's)
   * while other apps' wakes or drains keep it undecided; the app removed meanwhile, with the
   * reason detach gives what waits in the queue. Within the back-off after a wake the app
   * failed, no wake starts: it gets that failure's words and Retry-After, as a request waiting
   * in a queue does (wakeBackend), not "starting from idle; try again" with a Retry-After of 1
   * that sent its client back into the same failure.
   */
  private answerAsleep(res: ServerResponse): void {
    const backend = this.backend;
    const startingFromIdle = (): void => {
      markServedBy(res, backend.answered);
      answerFailure(res, 'unavailable', { detail: `${this.name} is starting from idle; try again` });
    };
    if (backend.wakeRetryAt !== null && backend.wakeRetryAt !== undefined && backend.wake) {
      // In that back-off wake() rejects with the app's failure at once (supervisor/idle-cycle.ts),
      // so this waits a microtask, as the queue's requests are answered from the same rejection.
      backend.wake().then(startingFromIdle, (err: Error) => {
        markServedBy(res, (err as { noRoom?: unknown }).noRoom === true ? REFUSED_FOR_ROOM : backend.answered);
        answerFailure(res, 'unavailable', { detail: this.wakeFailedDetail(err), headers: retryAfterUntil(backend.wakeRetryAt) });
      });
      return;
    }
    const room = backend.roomForWake?.() ?? null;
    if (room === null) return startingFromIdle();
    const { timeoutMs, wakeWaitMs = 0 } = backend.limits;
    const boundMs = Math.max(timeoutMs, wakeWaitMs);
    let timer: NodeJS.Timeout | null = null;
    const settle = (answer: () => void): void => {
      if (!this.asleepAnswers.delete(detached)) return; // answered already: the app went meanwhile
      if (timer !== null) clearTimeout(timer);
      res.off('close', gone);
      answer();
    };
    const detached = (why: string): void => settle(() => answerFailure(res, 'unavailable', { detail: why }));
    const gone = (): void => settle(() => {});
    this.asleepAnswers.add(detached);
    res.once('close', gone);
    const bound = boundMs > 0 ? new Promise<'late'>((resolve) => (timer = setTimeout(resolve, boundMs, 'late').unref())) : null;
    void Promise.race(bound === null ? [room] : [room, bound]).then((refused) => {
      settle(() => {
        if (refused === null || refused === 'late') return startingFromIdle();
        markServedBy(res, REFUSED_FOR_ROOM);
        answerFailure(res, 'unavailable', { detail: this.wakeFailedDetail(refused) });
      });
    });
  }

  /** Out of the queue: it no longer counts there, nor hears its body's size lines here. */
  private take(i: number): Waiting {
    const waiting = this.queue.splice(i, 1)[0];
    waiting.group.waiting--;
    if (waiting.announced !== null) waiting.req.off(BODY_ANNOUNCED, waiting.announced);
    return waiting;
  }

  /** The whole queue out, in order. */
  private takeAll(): Waiting[] {
    const all = this.queue.splice(0);
    for (const waiting of all) if (waiting.announced !== null) waiting.req.off(BODY_ANNOUNCED, waiting.announced);
    this.recount();
    return all;
  }

  /** Gives what waits, in order, to upstreams that became available; a full group keeps its place. */
  private drainQueue(): void {
    let full: Set<UpstreamGroup> | null = null;
    for (let i = 0; i < this.queue.length; ) {
      const waiting = this.queue[i];
      if (waiting.res.destroyed || waiting.res.writableEnded) {
        this.take(i);
        continue;
      }
      if (full?.has(waiting.group)) {
        i++;
        continue;
      }
      const group = waiting.group;
      const free = selectUpstream<WsgiUpstream | HttpUpstream>(group.upstreams) ?? (group === this.workers ? selectForPipeline(this.workers.upstreams) : null);
      if (free === null) {
        (full ??= new Set()).add(group);
        i++;
        continue;
      }
      this.take(i);
      if (!this.send(group, waiting.req, waiting.res, waiting.route, null, true)) this.enqueue(group, waiting.req, waiting.res, waiting.route, waiting.since);
    }
  }

  /**
   * SPEC 4: an app that does not answer in time is a 504, and a request that no worker took is
   * no answer either: workers that are all gone (restarting with back-off, an app that no longer
   * imports) must not leave requests waiting for nobody.
   */
  private expireWaiting(): void {
    const { timeoutMs, wakeWaitMs = 0 } = this.backend.limits;
    const waking = this.backend.idleState === 'waking' || this.backend.idleState === 'asleep';
    // A wake is a start: what waits for it is bounded as for an app starting, not by `timeout`.
    const boundMs = waking && wakeWaitMs > timeoutMs ? wakeWaitMs : timeoutMs;
    const now = performance.now();
    for (let i = 0; i < this.queue.length; ) {
      const waiting = this.queue[i];
      if (boundMs <= 0 || now - waiting.since < boundMs) {
        i++;
        continue;
      }
      this.take(i);
      if (this.backend.idleState === 'asleep' && waiting.group === this.workers && waitsForFirstSizeLine(waiting.req)) {
        // Nothing wakes the app for it before its body begins (wakeAtFirstSizeLine): the client
        // is late, not the app, and is answered as a worker's read of a stalled body answers it.
        answerFailure(waiting.res, 'client-timeout', { detail: `the request body did not begin: nothing of it for ${Math.round(boundMs / 1000)} s` });
      } else if (waking) {
        // Still starting from sleep: the app did not fail a request, it is not up yet. As a
        // request for an app still starting is answered: 503 with Retry-After (README). Not
        // taken within the app's own start bound, it is the app's 503 as ERRORS counts it, and
        // so its serving version's too (the want of room for which nothing could sleep is the
        // gateway's refusal, answered at once by wakeBackend, in neither).
        markServedBy(waiting.res, this.backend.answered);
        answerFailure(waiting.res, 'unavailable', { detail: `${this.name} is starting from idle and did not take the request within ${Math.round(boundMs / 1000)} s; try again` });
      } else {
        // Its workers did not take it within its own `timeout` (all busy, one restarting after an
        // exit or a recycle): the app's 504, in its serving version's failed as in ERRORS.
        markServedBy(waiting.res, this.backend.answered);
        answerFailure(waiting.res, 'timeout', { detail: `no worker of ${this.name} could take it within its timeout (${timeoutMs / 1000} s)` });
      }
    }
    if (this.queue.length === 0 && this.queueSweeper !== null) {
      clearInterval(this.queueSweeper);
      this.queueSweeper = null;
    }
  }

  private recount(): void {
    for (const group of [this.workers, ...this.processes]) if (group) group.waiting = 0;
    for (const waiting of this.queue) waiting.group.waiting++;
  }

  /**
   * A request a worker provably never ran (its link failed before sending it, or it gave it
   * back unrun): once more, to another worker (of the version now serving) or the queue.
   */
  redispatch(req: IncomingMessage, res: ServerResponse, route: RequestRoute, failed: WorkerLink): void {
    if (this.detached !== null) {
      answerFailure(res, 'unavailable', { detail: this.detached });
      return;
    }
    (req as Retried)[kRetried] = true;
    const group = this.groupFor(route.routedPathInfo);
    const except = (group.upstreams as Array<WsgiUpstream | HttpUpstream>).find((u) => u instanceof WsgiUpstream && u.link === failed) as WsgiUpstream | undefined;
    if (group.waiting === 0 && this.send(group, req, res, route, except ?? null)) return;
    this.enqueue(group, req, res, route);
  }

  /**
   * An Upgrade request (a websocket) goes to the process whose route it falls under, or to an
   * ASGI app's workers. WSGI cannot take one: a clear 501 that says what to declare, rather
   * than a hang.
   */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute): void {
    const modules = websocketModules();
    if (modules === null) {
      loadWebsocketModules().then(
        () => {
          if (!socket.destroyed) this.upgrade(req, socket, head, route);
        },
        (err: Error) => refuseUpgradeFor(socket, 'unavailable', `the gateway could not load its websocket code: ${err.message}`),
      );
      return;
    }
    const group = this.groupFor(route.routedPathInfo);
    const websocketOptions = this.websocketOptions;
    if (group.process === null && websocketOptions === null) {
      // Known from the app's kind, awake or not: a sleeping app is not woken for this refusal.
      refuseUpgrade(
        socket,
        501,
        `${this.name} serves ${route.scriptName}${route.pathInfo} with WSGI, which cannot take a websocket (or any Upgrade). ` +
          'Declare a process with a route: in app.yaml, e.g. processes: {live: {command: python live.py, route: /live}}, and connect under that route.',
      );
      return;
    }
    const backend = this.backend;
    if (backend.idleState !== undefined && backend.idleState !== 'awake' && backend.wake) {
      // Nor for the way to its workers' 400s, nor a handshake ws would refuse (forward-websocket.ts refuses the same).
      const refused = group.process === null ? refusalAtWorker(req, route) : null;
      if (refused !== null) return refuseUpgradeFor(socket, refused.kind, refused.detail);
      const problem = group.process === null ? handshakeProblem(req) : null;
      if (problem !== null) return refuseHandshake(socket, req, problem);
      // Held until the app is awake, then routed as if it had just come.
      this.wakeUpgrades.add(socket);
      // false: refused already (the stop). One whose client left stays in the
      // set until the wake ends, which the wake's own bounds limit.
      const settled = (): boolean => this.wakeUpgrades.delete(socket);
      backend.wake().then(
        () => {
          if (settled() && !socket.destroyed) this.upgrade(req, socket, head, route);
        },
        (err: Error) => {
          if (!settled()) return;
          // Counted apart as the HTTP requests so refused are (wakeBackend): the gateway's refusal.
          if ((err as { noRoom?: unknown }).noRoom === true) this.websocketRefusedForRoom?.(this.name);
          refuseUpgradeFor(socket, 'unavailable', this.wakeFailedDetail(err), retryAfterUntil(backend.wakeRetryAt));
        },
      );
      return;
    }
    if (group.process === null && websocketOptions !== null) {
      this.sendWebsocket(group as UpstreamGroup<WsgiUpstream>, req, socket, head, route, websocketOptions, modules);
      return;
    }
    const upstream = (group as UpstreamGroup<HttpUpstream>).upstreams[0];
    if (upstream === undefined) return refuseUpgradeFor(socket, 'unavailable', `${group.label} is restarting; try again`);
    const release = backend.hold?.();
    if (release) socket.once('close', release);
    upstream.upgrade(req, socket, head, route, modules, this.websockets);
  }

  /** To the worker with the fewest websockets; 503 when none is in rotation (restarting). */
  private sendWebsocket(workers: UpstreamGroup<WsgiUpstream>, req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute, options: WebsocketOptions, modules: WebsocketModules): void {
    // A link that refuses (its worker stopping) stops taking websockets: each is tried once at most.
    for (let tries = workers.upstreams.length; tries > 0; tries--) {
      const upstream = selectForWebsocket(workers.upstreams);
      if (upstream === null) break;
      if (upstream.upgrade(req, socket, head, route, options, modules)) return;
    }
    if (this.detached !== null) {
      refuseUpgradeFor(socket, 'unavailable', this.detached);
      return;
    }
    if (this.backend.crashLooping === true) {
      refuseUpgradeFor(socket, 'unavailable', this.crashLoopDetail, this.crashLoopRetryAfter());
      return;
    }
    this.holdUpgrade(req, socket, head, route, options.timeoutMs);
  }

  /**
   * No worker takes websockets now (the only one killed and restarting): the handshake waits
   * for its replacement, as a request waits in the queue, rather than a 503 to a client that
   * reconnects at once after its 1011 (a chat page). At most the app's `timeout`, then 504.
   */
  private holdUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute, timeoutMs: number): void {
    const since = ((socket as HeldSocket)[kHeldSince] ??= performance.now());
    const held: HeldUpgrade = {
      req, socket, head, route, timer: null,
      dropped: () => {
        const i = this.heldUpgrades.indexOf(held);
        if (i >= 0) this.takeHeldUpgrades(i, 1);
      },
    };
    if (timeoutMs > 0) {
      held.timer = setTimeout(() => {
        held.dropped();
        refuseUpgradeFor(socket, 'timeout', `no worker of ${this.name} could take the websocket within its timeout (${timeoutMs / 1000} s)`);
      }, Math.max(0, since + timeoutMs - performance.now())).unref();
    }
    socket.once('close', held.dropped);
    this.heldUpgrades.push(held);
  }

  private takeHeldUpgrades(start = 0, count = this.heldUpgrades.length): HeldUpgrade[] {
    const taken = this.heldUpgrades.splice(start, count);
    for (const held of taken) {
      if (held.timer !== null) clearTimeout(held.timer);
      held.socket.off('close', held.dropped);
    }
    return taken;
  }

  /** The workers changed: the held handshakes are routed again, as if they had just come. */
  private releaseUpgrades(): void {
    if (this.workers !== null && !this.workers.upstreams.some((u) => u.takesWebsockets)) return;
    for (const held of this.takeHeldUpgrades()) {
      if (!held.socket.destroyed) this.upgrade(held.req, held.socket, held.head, held.route);
    }
  }
}
