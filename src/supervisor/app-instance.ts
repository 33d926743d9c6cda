// One version of one app: its Python workers, the choice among them for each request, a
// bounded queue when all are busy, and restarts with back-off when one dies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Description } from '../description/types.js';
import type { AppEnvironment } from '../environment/app-env.js';
import { GatewayError } from '../errors.js';
import { sendError } from '../proxy/error-response.js';
import type { StaticMount } from '../proxy/static-files.js';
import { normalizePrefix } from '../proxy/router.js';
import type { AppLog } from '../log/app-log.js';
import { Worker, type RouteInfo } from './worker.js';
import { Backoff } from './backoff.js';

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
}

export type AppState = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

interface Waiting {
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteInfo;
}

export class AppInstance {
  readonly desc: Description;
  readonly staticMounts: StaticMount[];
  state: AppState = 'starting';
  /** Why the app is failed, for status and the log. */
  failure: GatewayError | null = null;
  private workers: Worker[] = [];
  private queue: Waiting[] = [];
  private readonly backoff = new Backoff();
  private restartTimers = new Set<NodeJS.Timeout>();
  private startedAt = new WeakMap<Worker, number>();
  private restartCount = 0;
  requests = 0;

  constructor(private readonly opts: AppInstanceOptions) {
    this.desc = opts.desc;
    this.staticMounts = Object.entries(opts.desc.static)
      .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), root: safeRealpath(join(opts.desc.dir, dir)) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }

  get name(): string {
    return this.desc.name;
  }

  get development(): boolean {
    return this.opts.development;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid).filter((p): p is number => typeof p === 'number');
  }

  /** Starts every worker; rejects (after stopping those that did start) if any cannot. */
  async start(): Promise<void> {
    const starting = Array.from({ length: this.opts.workers }, () => this.spawnWorker());
    const results = await Promise.allSettled(starting.map((w) => w.start(this.opts.startTimeoutMs)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      this.state = 'failed';
      this.failure = failed.reason as GatewayError;
      await Promise.all(starting.map((w) => w.stop(1000)));
      this.workers = [];
      throw failed.reason;
    }
    this.state = 'ready';
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
    });
    const startedAt = Date.now();
    this.startedAt.set(worker, startedAt);
    this.workers.push(worker);
    worker.on('idle', () => this.drainQueue());
    worker.on('exit', (code: number | null, signal: string | null) => this.onWorkerExit(worker, startedAt, code, signal));
    return worker;
  }

  private onWorkerExit(worker: Worker, startedAt: number, code: number | null, signal: string | null): void {
    this.workers = this.workers.filter((w) => w !== worker);
    if (this.state !== 'ready') return;
    const now = Date.now();
    if (code === 4) {
      // The app no longer imports (a file changed under a running worker): restarting cannot help
      // until it changes again (gunicorn's APP_LOAD_ERROR).
      this.opts.say(`${this.name}: a worker exited because the app failed to import; not restarting it`);
      return;
    }
    const delay = this.backoff.recordExit(now, now - startedAt);
    this.restartCount++;
    const looping = this.backoff.isCrashLooping(now);
    this.opts.say(
      `${this.name}: worker ${worker.pid} exited (${signal ?? `status ${code}`}); restarting in ${delay} ms${looping ? ' (crash loop)' : ''}`,
    );
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.state !== 'ready') return;
      const replacement = this.spawnWorker();
      replacement.start(this.opts.startTimeoutMs).then(
        () => this.drainQueue(),
        (err: GatewayError) => this.opts.say(`${this.name}: restart failed: ${err.message}`),
      );
    }, delay);
    this.restartTimers.add(timer);
  }

  /** Least in-flight among ready workers with a free thread, random tie-break. */
  private selectWorker(): Worker | null {
    let best: Worker | null = null;
    let ties = 0;
    for (const w of this.workers) {
      // A worker gets at most `threads` requests at once; the rest wait here, where a version
      // switch can hand them to the new version instead of a draining worker.
      if (!w.available || w.inFlight >= w.capacity) continue;
      if (best === null || w.inFlight < best.inFlight) {
        best = w;
        ties = 1;
      } else if (w.inFlight === best.inFlight && Math.random() * ++ties < 1) {
        best = w;
      }
    }
    return best;
  }

  handle(req: IncomingMessage, res: ServerResponse, route: RouteInfo): void {
    this.requests++;
    const worker = this.queue.length === 0 ? this.selectWorker() : null;
    if (worker) {
      worker.handle(req, res, route);
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
      worker.handle(next.req, next.res, next.route);
    }
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
    return this.backoff.isCrashLooping(Date.now());
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

  async stop(graceMs: number): Promise<void> {
    this.state = 'stopping';
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    for (const waiting of this.queue.splice(0)) {
      sendError(waiting.res, 503, { detail: `${this.name} is stopping`, headers: { 'Retry-After': '1' } });
    }
    await Promise.all(this.workers.map((w) => w.stop(graceMs)));
    this.workers = [];
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
