// One version of one app, as processes: its Python workers and its `processes:`, each in a
// slot that brings it up (READY and the health probe, or a port that accepts), restarts it with
// back-off when it dies and recycles it (max_requests, max_memory, a request stuck past the
// timeout: replacement first, then drain). It publishes which of them take traffic now
// (`upstreams`, `subscribe`); which request goes where is the proxy's business. A worker that
// drains keeps the websockets its link holds (an ASGI app's) until they end or the drain time
// passes (worker-drain.ts). An instance with an idle timeout (SPEC 5.6) puts its workers and
// routed processes to sleep when nothing has come for that long (background processes keep
// running) and wakes them for the next request, which waits meanwhile in the proxy's queue.
import type { HealthStatus, ProcessStatus, WorkerStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import { commandEnvironment, type AppEnvironment } from '../environment/app-env.js';
import type { GatewayError } from '../errors.js';
import { WsCloseCode } from '../link/frames.js';
import type { WorkerLink } from '../link/worker-link.js';
import type { AppLog } from '../log/app-log.js';
import type { AppHistory } from './app-history.js';
import { Backoff } from './backoff.js';
import { CommandProcess } from './command-process.js';
import { probeWorker } from './probe.js';
import { memoryLimitReached, readRssBytes, requestLimitReached, type RecycleLimits } from './recycle.js';
import { Slot } from './slot.js';
import { WorkerDrain } from './worker-drain.js';
import type { Writable } from 'node:stream';
import { Worker } from './worker.js';

/** What the proxy holds this version to, per request (the environment file's values). */
export interface AppLimits {
  /** Requests that may wait for a free upstream before 503. */
  queue: number;
  /** No response head this long: 504 (and a worker holding it is recycled). */
  timeoutMs: number;
  /** The largest request body, in bytes (413 past it). */
  maxBody: number;
}

export interface AppInstanceOptions {
  desc: Description;
  appEnv: AppEnvironment;
  workers: number;
  threads: number;
  development: boolean;
  log: AppLog;
  limits: AppLimits;
  /** How long a worker may take to import the app and report ready (a process: to listen). */
  startTimeoutMs: number;
  /** The gateway's own log: one line per event of note. */
  say: (line: string) => void;
  /** Recycle a worker after so many requests; 0 = never. */
  maxRequests?: number;
  /** Recycle a worker whose RSS grows past this many bytes; 0 = never. */
  maxMemory?: number;
  /** How long this version drains once replaced (the environment file's `drain`); default the registry's. */
  versionDrainMs?: number;
  /** How often RSS is read when maxMemory is set. */
  memoryCheckMs?: number;
  /** How long a worker has to answer its health probe. */
  probeTimeoutMs?: number;
  /** The Unix user and group of the app's processes (the gateway runs as root). */
  uid?: number;
  gid?: number;
  /** Where deaths of its processes are recorded (the app's history, for status). */
  history?: AppHistory;
  /** Stop its workers and routed processes after this long with no request and no websocket; 0 = never. */
  idleTimeoutMs?: number;
  /** The gateway's --max-workers: asked for room before the workers start again. */
  budget?: WorkerBudgetLike;
}

/** What an instance asks of the gateway's worker budget (worker-budget.ts). */
export interface WorkerBudgetLike {
  /** Makes room for `workers` more (putting least recently used apps to sleep); false when it cannot. */
  makeRoom(asking: AppInstance, workers: number): Promise<boolean>;
}

/** awake: serving; asleep: idle, its workers stopped; waking: starting them for a request. */
export type IdleState = 'awake' | 'asleep' | 'waking';

export type AppState = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

/** A worker that takes requests: the proxy sends them down `link`. */
export interface WorkerUpstream {
  readonly kind: 'worker';
  readonly link: WorkerLink;
  /** Requests it runs at once (its threads). */
  readonly capacity: number;
  readonly pid: number | undefined;
  /** The proxy saw a request stuck in it past the timeout: replace it. */
  recycle(why: string): void;
}

/** A `processes` entry that serves: the proxy sends its requests to 127.0.0.1:port. */
export interface ProcessUpstream {
  readonly kind: 'process';
  /** The key under `processes:`. */
  readonly name: string;
  readonly port: number;
  /** "processes.live of chat", for error bodies. */
  readonly label: string;
  /** The proxy tells it of each request and websocket it sends there, and of its end. */
  readonly held: { opened(): void; closed(): void };
}

export type LiveUpstream = WorkerUpstream | ProcessUpstream;

/** A process that takes requests: web (a command app's server, `route` null) or one with a route. */
export interface ProcessRoute {
  name: string;
  route: string | null;
}

const DEFAULT_MEMORY_CHECK_MS = 3000;
/** The niceness a woken app's workers start at (worker.ts startNice). */
const WAKE_NICE = 10;
const DEFAULT_PROBE_TIMEOUT_MS = 10_000;

type Member = Worker | CommandProcess;

export class AppInstance {
  readonly desc: Description;
  state: AppState = 'starting';
  /** Why the app is failed, for status and the log. */
  failure: GatewayError | null = null;
  /** The processes that take requests, longest route first; web (route null) last. */
  readonly processRoutes: ProcessRoute[];
  private readonly workerSlots: Array<Slot<Worker>> = [];
  /** `serves`: web or a process with a route (it sleeps with the workers); else a background process. */
  private readonly processSlots: Array<{ name: string; slot: Slot<CommandProcess>; serves: boolean }> = [];
  /** Every live process: in rotation, starting (restart, replacement) or draining. */
  private readonly members = new Set<Worker | CommandProcess>();
  private readonly spawnedAt = new Map<Worker | CommandProcess, number>();
  private readonly live = new Map<Worker | CommandProcess, LiveUpstream>();
  private published: LiveUpstream[] = [];
  private readonly listeners = new Set<() => void>();
  private memoryTimer: NodeJS.Timeout | null = null;
  private readonly recycleLimits: RecycleLimits;
  /** Each member being stopped (or drained), so that a stop during a drain signals it once. */
  private readonly stopping = new Map<Member, Promise<void>>();
  /** How its workers out of rotation end: after their websockets (worker-drain.ts). */
  private readonly workerDrain: WorkerDrain;
  /** The slot each worker fills (or filled): its restarts and last exit are the slot's. */
  private readonly slotOf = new WeakMap<Worker, Slot<Worker>>();
  /** Its processes' output into the app log, stderr marked in the log's tail. */
  private readonly output: { stdout: Writable; stderr: Writable };
  /** The last health probe of a worker, for status. */
  lastProbe: HealthStatus | null = null;
  idleState: IdleState = 'awake';
  /** Wakes from sleep, and how long the last one took to serve (ms). */
  coldStarts = 0;
  lastColdStartMs: number | null = null;
  /** Why the last wake failed (its requests were answered 503), until the next one works. */
  wakeFailure: string | null = null;
  /** When it last had a request or a websocket (Date.now()). */
  lastActive = Date.now();
  private waking: Promise<void> | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Requests seen at the last idle check (workers' links, and touch() for processes). */
  private seenRequests = 0;
  private touches = 0;
  /** Requests and websockets its processes hold now (hold()). */
  private held = 0;

  constructor(private readonly opts: AppInstanceOptions) {
    this.desc = opts.desc;
    this.workerDrain = new WorkerDrain(opts.desc.name);
    this.output = { stdout: opts.log.stream('stdout'), stderr: opts.log.stream('stderr') };
    const exited = (what: string): void => opts.history?.add('exited', what, { version: opts.desc.version });
    this.recycleLimits = { maxRequests: opts.maxRequests ?? 0, maxMemory: opts.maxMemory ?? 0 };
    const workerBackoff = new Backoff();
    for (let i = 0; i < opts.workers; i++) {
      const slot: Slot<Worker> = new Slot<Worker>({
        app: this.name,
        spawn: () => this.spawnWorker(slot),
        bringUp: (w) => this.bringUpWorker(w),
        label: (w) => `worker ${w.pid ?? '?'}`,
        backoff: workerBackoff,
        say: opts.say,
        onLive: (w) => this.publish(w, this.workerUpstream(w, slot)),
        onRetired: (w) => this.unpublish(w),
        drain: (w) => this.stopOnce(w, () => this.workerDrain.drain(w, this.drainMs())),
        onExited: exited,
      });
      this.workerSlots.push(slot);
    }
    for (const [name, spec] of Object.entries(opts.desc.processes)) {
      const serves = name === 'web' || spec.route !== null;
      const slot = new Slot<CommandProcess>({
        app: this.name,
        spawn: () => this.spawnProcess(name, spec.command, serves),
        bringUp: (p) => p.start(opts.startTimeoutMs),
        label: (p) => `processes.${name} ${p.pid ?? ''}`.trimEnd(),
        backoff: new Backoff(),
        say: opts.say,
        onLive: (p) => {
          if (serves && p.port !== null) this.publish(p, { kind: 'process', name, port: p.port, label: p.label, held: p.held });
        },
        onRetired: (p) => this.unpublish(p),
        drain: (p) => this.stopOnce(p, () => p.stop(this.drainMs())),
        onExited: exited,
      });
      this.processSlots.push({ name, slot, serves });
    }
    this.processRoutes = Object.entries(opts.desc.processes)
      .filter(([name, spec]) => name === 'web' || spec.route !== null)
      .map(([name, spec]) => ({ name, route: name === 'web' ? null : spec.route }))
      .sort((a, b) => (b.route?.length ?? -1) - (a.route?.length ?? -1));
  }

  get name(): string {
    return this.desc.name;
  }

  get development(): boolean {
    return this.opts.development;
  }

  get limits(): AppLimits {
    return this.opts.limits;
  }

  /** Its workers take websockets: an ASGI app (docs/protocol.md §8). */
  get acceptsWebsockets(): boolean {
    return this.desc.kind === 'asgi';
  }

  /** Websockets its workers hold now, draining ones included. */
  get openWebsockets(): number {
    let open = 0;
    for (const member of this.members) if (member instanceof Worker) open += member.link?.openWebsockets ?? 0;
    return open;
  }

  /** The package directory, symlinks resolved (static files are served from under it). */
  get dir(): string {
    return this.desc.dir;
  }

  /** `static:` of app.yaml: URL prefix -> directory relative to `dir`. */
  get static(): Record<string, string> {
    return this.desc.static;
  }

  /** A line in the app's log from the gateway itself (the proxy's findings), marked as such. */
  report(line: string): void {
    this.opts.log.write(`[apppkg-gateway] ${line}\n`);
  }

  /** What takes traffic now. A new array on every change; never mutated. */
  get upstreams(): readonly LiveUpstream[] {
    return this.published;
  }

  /** Calls `listener` after every change of `upstreams`; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get pids(): number[] {
    return [...this.members].map((m) => m.pid).filter((p): p is number => typeof p === 'number');
  }

  /**
   * Starts every worker and process, and probes each worker; rejects (after stopping them
   * all) if any cannot come up (APPPKG_APP_IMPORT_FAILED, APPPKG_APP_PROBE_FAILED, ...).
   */
  async start(): Promise<void> {
    const slots = [...this.workerSlots, ...this.processSlots.map((p) => p.slot)];
    const results = await Promise.allSettled(slots.map((s: Slot<Worker> | Slot<CommandProcess>) => s.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed || this.state !== 'starting') {
      if (this.state === 'starting') this.state = 'failed';
      this.failure = (failed?.reason as GatewayError | undefined) ?? null;
      await this.stopAll((m) => m.stop(1000));
      throw failed?.reason ?? new Error(`${this.name} was stopped while it started`);
    }
    this.state = 'ready';
    this.watchMemory();
    this.watchIdle();
  }

  /** What sleeps when the app is idle: the workers and the processes that take requests. */
  private get sleepers(): Array<Slot<Worker> | Slot<CommandProcess>> {
    return [...this.workerSlots, ...this.processSlots.filter((p) => p.serves).map((p) => p.slot)];
  }

  /** Workers it runs now (none while asleep): what the worker budget counts. */
  get runningWorkers(): number {
    return this.idleState === 'asleep' ? 0 : this.workerSlots.length;
  }

  get workerCount(): number {
    return this.workerSlots.length;
  }

  /** A request or websocket goes to one of its processes (the workers count their own): not idle till released. */
  hold(): () => void {
    this.held++;
    this.touches++;
    this.lastActive = Date.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
      this.lastActive = Date.now();
    };
  }

  /** Nothing in flight, no websocket: it may be put to sleep (idle, or for another's room). */
  get quiet(): boolean {
    return this.inFlight === 0 && this.openWebsockets === 0 && this.held === 0;
  }

  private watchIdle(): void {
    // The budget's choice of whom to put to sleep needs lastActive too, idle timeout or not.
    const timeout = this.opts.idleTimeoutMs ?? 0;
    if (timeout <= 0 && this.opts.budget === undefined) return;
    this.idleTimer = setInterval(() => {
      if (this.state !== 'ready' || this.idleState !== 'awake') return;
      const seen = this.touches + this.workerSlots.reduce((sum, slot) => sum + (slot.current?.link?.requests ?? 0), 0);
      if (seen !== this.seenRequests || !this.quiet) {
        this.seenRequests = seen;
        this.lastActive = Date.now();
        return;
      }
      if (timeout > 0 && Date.now() - this.lastActive >= timeout) void this.sleep(`no request for ${Math.round(timeout / 1000)} s`);
    }, timeout > 0 ? Math.min(5000, Math.max(250, timeout / 4)) : 1000);
    this.idleTimer.unref();
  }

  /**
   * Stops its workers and routed processes (their slots halted, so nothing restarts them) and
   * takes them out of rotation; background processes keep running. The next request wakes it.
   */
  async sleep(why: string): Promise<void> {
    if (this.state !== 'ready' || this.idleState !== 'awake' || !this.quiet) return;
    this.idleState = 'asleep';
    this.opts.say(`${this.name}: ${why}; stopping its workers until the next request`);
    const sleeping = this.sleepers.map((slot) => slot.current).filter((m): m is Worker | CommandProcess => m !== null);
    for (const slot of this.sleepers) slot.halt();
    for (const member of sleeping) this.live.delete(member);
    this.changed();
    await Promise.all(sleeping.map((m) => this.stopOnce(m, () => m.stop(this.drainMs()))));
    this.seenRequests = 0;
  }

  /**
   * Starts what sleep() stopped; resolves once they take traffic (what waited meanwhile goes to
   * them), rejects when they cannot (no room in the budget, the app no longer starts).
   */
  wake(): Promise<void> {
    if (this.idleState === 'awake') return Promise.resolve();
    this.waking ??= this.wakeUp().finally(() => {
      this.waking = null;
    });
    return this.waking;
  }

  private async wakeUp(): Promise<void> {
    this.idleState = 'waking';
    const started = Date.now();
    const budget = this.opts.budget;
    if (budget && !(await budget.makeRoom(this, this.workerSlots.length))) {
      this.idleState = 'asleep';
      this.wakeFailure = 'the gateway runs as many workers as --max-workers allows, and every app holds requests';
      this.changed();
      throw new Error(this.wakeFailure);
    }
    const slots = this.sleepers;
    const results = await Promise.allSettled(slots.map((slot: Slot<Worker> | Slot<CommandProcess>) => slot.start()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (this.state !== 'ready') return; // stopped or replaced while waking: its stop ends what started
    if (failed) {
      for (const slot of slots) slot.halt();
      const running = slots.map((slot) => slot.current).filter((m): m is Worker | CommandProcess => m !== null);
      for (const member of running) this.live.delete(member);
      this.idleState = 'asleep';
      this.wakeFailure = (failed.reason as Error)?.message ?? String(failed.reason);
      this.changed();
      await Promise.all(running.map((m) => this.stopOnce(m, () => m.stop(1000))));
      this.opts.say(`${this.name}: could not wake it: ${this.wakeFailure}`);
      throw failed.reason;
    }
    this.idleState = 'awake';
    this.wakeFailure = null;
    this.coldStarts++;
    this.lastColdStartMs = Date.now() - started;
    this.lastActive = Date.now();
    this.opts.say(`${this.name}: woken for a request in ${this.lastColdStartMs} ms`);
    this.changed();
  }

  private spawnWorker(slot: Slot<Worker>): Worker {
    const { appEnv, desc } = this.opts;
    const worker = new Worker({
      python: appEnv.python,
      env: appEnv.env,
      cwd: desc.dir,
      app: desc.app!,
      kind: desc.kind === 'asgi' ? 'asgi' : 'wsgi',
      sysPath: appEnv.sysPath,
      threads: this.opts.threads,
      multiprocess: this.opts.workers > 1,
      development: this.opts.development,
      name: desc.name,
      stdout: this.output.stdout,
      stderr: this.output.stderr,
      uid: this.opts.uid,
      gid: this.opts.gid,
      // A wake's workers start behind the apps already serving (their p99 stays as it was).
      startNice: this.idleState === 'waking' ? WAKE_NICE : undefined,
    });
    this.enlist(worker);
    this.slotOf.set(worker, slot);
    worker.on('hung', (why: string) => this.opts.say(`${this.name}: worker ${worker.pid ?? '?'} ${why}; killing it`));
    return worker;
  }

  private spawnProcess(name: string, command: string, serves: boolean): CommandProcess {
    const { appEnv, desc } = this.opts;
    const proc = new CommandProcess({
      app: desc.name,
      name,
      command,
      serves,
      env: commandEnvironment(appEnv),
      cwd: desc.dir,
      uid: this.opts.uid,
      gid: this.opts.gid,
      log: this.output.stdout,
      stderrLog: this.output.stderr,
      health: name === 'web' ? desc.health : null,
    });
    this.enlist(proc);
    return proc;
  }

  private enlist(member: Worker | CommandProcess): void {
    this.members.add(member);
    this.spawnedAt.set(member, Date.now());
    member.once('exit', () => {
      this.members.delete(member);
      this.spawnedAt.delete(member);
    });
  }

  /** READY, then the health probe when app.yaml has `health:`. Not in rotation yet. */
  private async bringUpWorker(worker: Worker): Promise<void> {
    await worker.start(this.opts.startTimeoutMs);
    const health = this.desc.health;
    if (!health) return;
    const at = new Date().toISOString();
    try {
      const status = await probeWorker(worker, this.name, health, this.opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS);
      this.lastProbe = { path: health, at, ok: true, status, error: null, pid: worker.pid ?? null };
    } catch (err) {
      const details = (err as GatewayError).details ?? {};
      const status = typeof details.status === 'number' ? details.status : null;
      this.lastProbe = { path: health, at, ok: false, status, error: (err as Error).message, pid: worker.pid ?? null };
      throw err;
    }
  }

  private workerUpstream(worker: Worker, slot: Slot<Worker>): WorkerUpstream {
    const link = worker.link!;
    const limits = this.recycleLimits;
    if (limits.maxRequests > 0) {
      link.limitRequests(limits.maxRequests, () => slot.recycle(requestLimitReached(link.requests, limits)!));
    }
    return {
      kind: 'worker',
      link,
      capacity: worker.capacity,
      pid: worker.pid,
      recycle: (why) => {
        if (slot.current === worker) slot.recycle(why);
      },
    };
  }

  private publish(member: Worker | CommandProcess, upstream: LiveUpstream): void {
    this.live.set(member, upstream);
    this.changed();
  }

  private unpublish(member: Worker | CommandProcess): void {
    if (this.live.delete(member)) this.changed();
  }

  private changed(): void {
    this.published = [...this.live.values()];
    for (const listener of this.listeners) listener();
  }

  /** How long a retired worker may finish its requests: as long as a request may take. */
  private drainMs(): number {
    return Math.max(1000, this.opts.limits.timeoutMs);
  }

  /** Stops `member` the way `how` says, unless it is being stopped already. */
  private stopOnce(member: Member, how: () => Promise<void>): Promise<void> {
    let stopping = this.stopping.get(member);
    if (stopping === undefined) {
      stopping = how().finally(() => this.stopping.delete(member));
      this.stopping.set(member, stopping);
    }
    return stopping;
  }

  private watchMemory(): void {
    if (this.recycleLimits.maxMemory <= 0) return;
    this.memoryTimer = setInterval(() => {
      for (const slot of this.workerSlots) {
        const worker = slot.current;
        if (worker === null || worker.pid === undefined) continue;
        const why = memoryLimitReached(readRssBytes(worker.pid), worker.requests, this.recycleLimits);
        if (why !== null) slot.recycle(why);
      }
    }, this.opts.memoryCheckMs ?? DEFAULT_MEMORY_CHECK_MS);
    this.memoryTimer.unref();
  }

  /**
   * Restarts after unexpected exits, of its workers and its processes alike: a `platform: python,
   * command` app has no worker, and its web process crashing must not read as 0 in status.
   */
  get restarts(): number {
    return [...this.workerSlots, ...this.processSlots.map((p) => p.slot)].reduce((sum, s) => sum + s.restarts, 0);
  }

  get crashLooping(): boolean {
    return this.workerSlots.some((s) => s.crashLooping) || this.processSlots.some((p) => p.slot.crashLooping);
  }

  /** Its workers, in rotation or not; rssBytes and cpuPercent are the sampler's to fill (null here). */
  workerStatus(): WorkerStatus[] {
    return [...this.members]
      .filter((m): m is Worker => m instanceof Worker)
      .map((w) => {
        const slot = this.slotOf.get(w);
        return {
          pid: w.pid ?? null,
          state: w.state,
          inFlight: w.inFlight,
          websockets: w.link?.openWebsockets ?? 0,
          requests: w.requests,
          startedAt: new Date(this.spawnedAt.get(w) ?? Date.now()).toISOString(),
          rssBytes: null,
          cpuPercent: null,
          restarts: slot?.restarts ?? 0,
          lastExit: slot?.lastExit ?? null,
        };
      });
  }

  /** Requests its workers hold now. */
  get inFlight(): number {
    let held = 0;
    for (const member of this.members) if (member instanceof Worker) held += member.inFlight;
    return held;
  }

  processStatus(): ProcessStatus[] {
    const idle = this.state === 'stopping' || this.state === 'stopped' ? 'stopped' : 'restarting';
    return this.processSlots.map(({ name, slot }) => ({
      name,
      pid: slot.current?.pid ?? null,
      state: slot.crashLooping ? 'crash-loop' : (slot.current?.state ?? idle),
      route: this.desc.processes[name].route,
      port: slot.current?.port ?? null,
      restarts: slot.restarts,
      startedAt: slot.currentSince === null ? null : new Date(slot.currentSince).toISOString(),
      rssBytes: null,
      cpuPercent: null,
      lastExit: slot.lastExit,
    }));
  }

  /**
   * Stops every process (SIGTERM, `graceMs` to finish, then SIGKILL); no restarts after. The
   * websockets its workers hold are closed 1001 (the gateway is going away), a drain under way
   * included.
   */
  async stop(graceMs: number): Promise<void> {
    this.state = 'stopping';
    this.workerDrain.cutShort();
    for (const member of this.members) {
      if (member instanceof Worker) member.link?.closeWebsockets(WsCloseCode.GOING_AWAY, 'the gateway is stopping');
    }
    await this.stopAll((m) => m.stop(graceMs));
    this.state = 'stopped';
  }

  /** The environment file's `drain` for this app, if it gave one (registry.ts drains with it). */
  get versionDrainMs(): number | undefined {
    return this.opts.versionDrainMs;
  }

  /**
   * Out of rotation for good (another version took over, or the app was removed): each worker
   * finishes what it holds within `drainMs` (its websockets until then, then 1012), then stops.
   */
  async drain(drainMs: number): Promise<void> {
    this.state = 'stopping';
    await this.stopAll((m) => (m instanceof Worker ? this.workerDrain.drain(m, drainMs) : m.stop(drainMs)));
    this.state = 'stopped';
  }

  private async stopAll(stop: (member: Member) => Promise<void>): Promise<void> {
    for (const slot of this.workerSlots) slot.halt();
    for (const { slot } of this.processSlots) slot.halt();
    if (this.memoryTimer !== null) clearInterval(this.memoryTimer);
    this.memoryTimer = null;
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
    if (this.live.size > 0) {
      this.live.clear();
      this.changed();
    }
    await Promise.all([...this.members].map((m) => this.stopOnce(m, () => stop(m))));
  }
}
