// One version of one app: its Python workers, the choice among them for each request
// (least in flight among those `healthy && !full`), a bounded queue when all are busy, health
// probes before a worker gets traffic, restarts with back-off when one dies, and recycling
// (replacement first, then drain) for max_requests, max_memory and a thread stuck past the
// timeout.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Description } from '../description/types.js';
import { commandEnvironment, type AppEnvironment } from '../environment/app-env.js';
import type { ProcessStatus } from '../admin/status-types.js';
import type { GatewayError } from '../errors.js';
import { sendError } from '../proxy/error-response.js';
import { refuseUpgrade } from '../proxy/forward-upgrade.js';
import type { StaticMount } from '../proxy/static-files.js';
import { normalizePrefix } from '../proxy/router.js';
import type { AppLog } from '../log/app-log.js';
import { Worker, type RouteInfo } from './worker.js';
import { Backoff } from './backoff.js';
import { ProcessSet } from './process-set.js';
import { probeWorker } from './probe.js';
import { memoryLimitReached, readRssBytes, requestLimitReached, type RecycleLimits } from './recycle.js';

export interface AppInstanceOptions {
  desc: Description;
  appEnv: AppEnvironment;
  workers: number;
  threads: number;
  development: boolean;
  log: AppLog;
  /** Requests waiting for a free worker thread before the app answers 503. */
  maxQueue: number;
  /** How long a worker may take to import the app and report ready. */
  startTimeoutMs: number;
  /** The gateway's own log: one line per event of note. */
  say: (line: string) => void;
  /** The largest request body in bytes (413 past it). Default: no limit. */
  maxBody?: number;
  /** No response head this long: 504, and the worker holding the request is recycled. */
  timeoutMs?: number;
  /** Recycle a worker after so many requests; 0 = never. */
  maxRequests?: number;
  /** Recycle a worker whose RSS grows past this many bytes; 0 = never. */
  maxMemory?: number;
  /** How often RSS is read when maxMemory is set. */
  memoryCheckMs?: number;
  /** How long a worker has to answer its health probe. */
  probeTimeoutMs?: number;
  /** The Unix user and group of the workers (the gateway runs as root). */
  uid?: number;
  gid?: number;
}

export type AppState = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteInfo;
}

const DEFAULT_MEMORY_CHECK_MS = 3000;
const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** After a replacement failed to start, recycling waits this long before it tries again. */
const RECYCLE_RETRY_MS = 10_000;

export class AppInstance {
  readonly desc: Description;
  readonly staticMounts: StaticMount[];
  state: AppState = 'starting';
  /** Why the app is failed, for status and the log. */
  failure: GatewayError | null = null;
  /** Every live worker: in rotation, starting (restart, replacement) or draining. */
  private workers: Worker[] = [];
  /** The workers that get requests: started, probed, not retired. */
  private serving: Worker[] = [];
  private queue: Waiting[] = [];
  private readonly backoff = new Backoff();
  private restartTimers = new Set<NodeJS.Timeout>();
  private startedAt = new WeakMap<Worker, number>();
  private restartCount = 0;
  /** Workers whose replacement is starting. */
  private recycling = new Set<Worker>();
  private recycleHoldUntil = 0;
  private memoryTimer: NodeJS.Timeout | null = null;
  private readonly limits: RecycleLimits;
  requests = 0;
  /** `processes:` of app.yaml (a command app's server is processes.web): supervised beside the workers. */
  readonly processes: ProcessSet;

  constructor(private readonly opts: AppInstanceOptions) {
    this.desc = opts.desc;
    this.processes = new ProcessSet({
      app: opts.desc.name,
      processes: opts.desc.processes,
      env: commandEnvironment(opts.appEnv),
      cwd: opts.desc.dir,
      uid: opts.uid,
      gid: opts.gid,
      log: opts.log,
      health: opts.desc.health,
      timeoutMs: opts.timeoutMs ?? 60_000,
      startTimeoutMs: opts.startTimeoutMs,
      development: opts.development,
      say: opts.say,
    });
    this.staticMounts = Object.entries(opts.desc.static)
      .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), root: safeRealpath(join(opts.desc.dir, dir)) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
    this.limits = { maxRequests: opts.maxRequests ?? 0, maxMemory: opts.maxMemory ?? 0 };
  }

  get name(): string {
    return this.desc.name;
  }

  get development(): boolean {
    return this.opts.development;
  }

  get pids(): number[] {
    return [...this.workers.map((w) => w.pid).filter((p): p is number => typeof p === 'number'), ...this.processes.pids];
  }

  /**
   * Starts every worker and probes each; rejects (after stopping them all) if any cannot start
   * (APPPKG_APP_IMPORT_FAILED, ...) or fails its probe (APPPKG_APP_PROBE_FAILED).
   */
  async start(): Promise<void> {
    const starting = Array.from({ length: this.opts.workers }, () => this.spawnWorker());
    const results = await Promise.allSettled([...starting.map((w) => this.bringUp(w)), this.processes.start()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed || this.state !== 'starting') {
      if (this.state === 'starting') this.state = 'failed';
      this.failure = (failed?.reason as GatewayError | undefined) ?? null;
      await Promise.all([...starting.map((w) => w.stop(1000)), this.processes.stop(1000)]);
      this.workers = [];
      throw failed?.reason ?? new Error(`${this.name} was stopped while it started`);
    }
    this.serving = starting;
    this.state = 'ready';
    this.watchMemory();
  }

  /** Start, then the health probe when app.yaml has `health:`. The worker is not in rotation yet. */
  private async bringUp(worker: Worker): Promise<void> {
    await worker.start(this.opts.startTimeoutMs);
    const health = this.desc.health;
    if (health) await probeWorker(worker, this.name, health, this.opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS);
  }

  private spawnWorker(): Worker {
    const { appEnv, desc } = this.opts;
    const worker = new Worker({
      python: appEnv.python,
      env: appEnv.env,
      cwd: desc.dir,
      app: desc.app!,
      sysPath: appEnv.sysPath,
      threads: this.opts.threads,
      multiprocess: this.opts.workers > 1,
      development: this.opts.development,
      name: desc.name,
      stdout: this.opts.log,
      stderr: this.opts.log,
      uid: this.opts.uid,
      gid: this.opts.gid,
      maxBody: this.opts.maxBody,
      timeoutMs: this.opts.timeoutMs,
    });
    this.startedAt.set(worker, Date.now());
    this.workers.push(worker);
    worker.on('idle', () => this.drainQueue());
    worker.on('timeout', () => this.recycle(worker, `a request got no response head within ${(this.opts.timeoutMs ?? 0) / 1000} s`));
    worker.on('exit', (code: number | null, signal: string | null) => this.onWorkerExit(worker, code, signal));
    return worker;
  }

  /** Puts a started, probed worker in rotation and gives it what waits. */
  private admit(worker: Worker): void {
    this.serving.push(worker);
    this.drainQueue();
  }

  private onWorkerExit(worker: Worker, code: number | null, signal: string | null): void {
    this.workers = this.workers.filter((w) => w !== worker);
    const wasServing = this.serving.includes(worker);
    this.serving = this.serving.filter((w) => w !== worker);
    // Only a worker in rotation is replaced here; one that was starting is its starter's
    // business (start, restart, recycle), and a retired one has its replacement already.
    if (this.state !== 'ready' || !wasServing || worker.retired) return;
    if (code === 4) {
      // The app no longer imports (a file changed under a running worker): restarting cannot help
      // until it changes again (gunicorn's APP_LOAD_ERROR).
      this.opts.say(`${this.name}: a worker exited because the app failed to import; not restarting it`);
      return;
    }
    const uptime = Date.now() - (this.startedAt.get(worker) ?? Date.now());
    this.scheduleRestart(uptime, `worker ${worker.pid} exited (${signal ?? `status ${code}`})`);
  }

  /** A worker is missing: start another after the back-off delay, probe it, admit it. */
  private scheduleRestart(uptimeMs: number, what: string): void {
    const now = Date.now();
    const delay = this.backoff.recordExit(now, uptimeMs);
    this.restartCount++;
    const looping = this.backoff.isCrashLooping(now);
    this.opts.say(`${this.name}: ${what}; restarting in ${delay} ms${looping ? ' (crash loop)' : ''}`);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.state !== 'ready') return;
      const replacement = this.spawnWorker();
      this.bringUp(replacement).then(
        () => {
          if (this.state === 'ready') this.admit(replacement);
        },
        (err: GatewayError) => {
          if (this.state !== 'ready') return;
          if (replacement.exitCode === 4) {
            this.opts.say(`${this.name}: a worker exited because the app failed to import; not restarting it`);
            return;
          }
          void replacement.stop(1000);
          const uptime = Date.now() - (this.startedAt.get(replacement) ?? Date.now());
          const how = replacement.state === 'exited'
            ? `worker ${replacement.pid} exited (${replacement.exitSignal ?? `status ${replacement.exitCode}`})`
            : `worker ${replacement.pid} failed to start: ${err.message}`;
          this.scheduleRestart(uptime, how);
        },
      );
    }, delay);
    this.restartTimers.add(timer);
  }

  /**
   * Replaces `old` without failing a request: the replacement starts and passes its probe
   * while `old` keeps serving; then `old` leaves the rotation and drains (SIGTERM: it finishes
   * what it holds), SIGKILLed past the timeout. If the replacement fails, `old` keeps serving.
   */
  private recycle(old: Worker, why: string): void {
    if (this.state !== 'ready' || old.retired || this.recycling.has(old) || !this.serving.includes(old)) return;
    if (Date.now() < this.recycleHoldUntil) return;
    this.recycling.add(old);
    this.opts.say(`${this.name}: recycling worker ${old.pid}: ${why}`);
    const next = this.spawnWorker();
    this.bringUp(next).then(
      () => {
        this.recycling.delete(old);
        if (this.state !== 'ready') return;
        old.retired = true;
        this.serving = this.serving.filter((w) => w !== old);
        this.admit(next);
        void old.stop(this.drainMs());
      },
      (err: GatewayError) => {
        this.recycling.delete(old);
        if (this.state !== 'ready') return;
        this.recycleHoldUntil = Date.now() + RECYCLE_RETRY_MS;
        this.opts.say(`${this.name}: the replacement for worker ${old.pid} failed (${err.message}); worker ${old.pid} keeps serving`);
        void next.stop(1000);
      },
    );
  }

  /** How long a retired worker may finish its requests: as long as a request may take. */
  private drainMs(): number {
    return Math.max(1000, this.opts.timeoutMs ?? 30_000);
  }

  private watchMemory(): void {
    if (this.limits.maxMemory <= 0) return;
    this.memoryTimer = setInterval(() => {
      for (const worker of this.serving) {
        const why = worker.pid === undefined ? null : memoryLimitReached(readRssBytes(worker.pid), worker.requests, this.limits);
        if (why !== null) this.recycle(worker, why);
      }
    }, this.opts.memoryCheckMs ?? DEFAULT_MEMORY_CHECK_MS);
    this.memoryTimer.unref();
  }

  /** Least in-flight among healthy workers with a free thread, random tie-break. */
  private selectWorker(): Worker | null {
    let best: Worker | null = null;
    let ties = 0;
    for (const w of this.serving) {
      // A worker gets at most `threads` requests at once; the rest wait here, where a version
      // switch can hand them to the new version instead of a draining worker.
      if (!w.healthy || w.full) continue;
      if (best === null || w.inFlight < best.inFlight) {
        best = w;
        ties = 1;
      } else if (w.inFlight === best.inFlight && Math.random() * ++ties < 1) {
        best = w;
      }
    }
    return best;
  }

  private dispatch(worker: Worker, waiting: Waiting): void {
    worker.handle(waiting.req, waiting.res, waiting.route);
    const why = requestLimitReached(worker.requests, this.limits);
    if (why !== null) this.recycle(worker, why);
  }

  handle(req: IncomingMessage, res: ServerResponse, route: RouteInfo): void {
    this.requests++;
    // Under a process's route (any path, for a command app): that process, not the workers.
    if (this.processes.handle(req, res, route)) return;
    const worker = this.queue.length === 0 ? this.selectWorker() : null;
    if (worker) {
      this.dispatch(worker, { req, res, route });
      return;
    }
    if (this.queue.length >= this.opts.maxQueue || this.state !== 'ready') {
      sendError(res, 503, {
        detail: this.state === 'ready' ? `${this.name} is busy; try again` : `${this.name} is not running`,
        headers: { 'Retry-After': '1' },
      });
      return;
    }
    const waiting = { req, res, route };
    this.queue.push(waiting);
    res.once('close', () => {
      const i = this.queue.indexOf(waiting);
      if (i >= 0) this.queue.splice(i, 1);
    });
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const worker = this.selectWorker();
      if (!worker) return;
      const next = this.queue.shift()!;
      if (next.res.destroyed || next.res.writableEnded) continue;
      this.dispatch(worker, next);
    }
  }

  /**
   * An Upgrade request (a websocket) goes to the process whose route it falls under. WSGI
   * cannot take one: a clear 501 that says what to declare, rather than a hang.
   */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: RouteInfo): void {
    if (this.processes.upgrade(req, socket, head, route)) return;
    refuseUpgrade(
      socket,
      501,
      `${this.name} serves ${route.scriptName}${route.pathInfo} with WSGI, which cannot take a websocket (or any Upgrade). ` +
        'Declare a process with a route: in app.yaml, e.g. processes: {live: {command: python live.py, route: /live}}, and connect under that route.',
    );
  }

  /** Gives the requests still waiting here to `next` (a version switch: none is lost). */
  handOver(next: AppInstance): void {
    for (const waiting of this.queue.splice(0)) {
      if (!waiting.res.destroyed && !waiting.res.writableEnded) next.handle(waiting.req, waiting.res, waiting.route);
    }
  }

  get queued(): number {
    return this.queue.length;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get crashLooping(): boolean {
    return this.backoff.isCrashLooping(Date.now()) || this.processes.crashLooping;
  }

  workerStatus(): Array<{ pid: number | null; state: string; inFlight: number; requests: number; startedAt: string }> {
    return this.workers.map((w) => ({
      pid: w.pid ?? null,
      state: w.state,
      inFlight: w.inFlight,
      requests: w.requests,
      startedAt: new Date(this.startedAt.get(w) ?? Date.now()).toISOString(),
    }));
  }

  processStatus(): ProcessStatus[] {
    return this.processes.status();
  }

  async stop(graceMs: number): Promise<void> {
    this.state = 'stopping';
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    if (this.memoryTimer !== null) clearInterval(this.memoryTimer);
    for (const waiting of this.queue.splice(0)) {
      sendError(waiting.res, 503, { detail: `${this.name} is stopping`, headers: { 'Retry-After': '1' } });
    }
    await Promise.all([...this.workers.map((w) => w.stop(graceMs)), this.processes.stop(graceMs)]);
    this.workers = [];
    this.serving = [];
    this.state = 'stopped';
  }
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
