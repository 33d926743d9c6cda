// One version of one app, as processes: its Python workers (worker-pool.ts) and its
// `processes:` (process-pool.ts), each in a slot that brings it up (READY and the health probe,
// or a port that accepts), restarts it with back-off when it dies and recycles it (max_requests,
// max_memory, a request stuck past the timeout: replacement first, then drain). It publishes
// which of them take traffic now (`upstreams`, `subscribe`: upstream-rotation.ts); which request
// goes where is the proxy's business. A worker that drains keeps the websockets its link holds
// (an ASGI app's) until they end or the drain time passes (worker-drain.ts). An instance with an
// idle timeout (SPEC 5.6) puts its workers and routed processes to sleep when nothing has come
// for that long and wakes them for the next request (idle-cycle.ts). This file is the version's
// life: start, stop, drain, and what the proxy, the registry and status read of it.
import { RequestTally } from '../admin/request-tally.js';
import { countOf } from '../count.js';
import { namingFixes } from '../command-words.js';
import { namingAppDir } from '../app-context.js';
import type { HealthStatus, ProcessStatus, WaitingForStatus, WorkerStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import type { GatewayError } from '../errors.js';
import { WsCloseCode } from '../link/frames.js';
import type { AppLog } from '../log/app-log.js';
import { GATEWAY_PREFIX } from '../log/log-tail.js';
import type { AppHistory } from './app-history.js';
import type { CommandProcess } from './command-process.js';
import { IdleCycle, type IdleState } from './idle-cycle.js';
import { Members, type Member } from './members.js';
import type { PoolContext } from './pool-context.js';
import { ProcessPool, type ProcessRoute } from './process-pool.js';
import { logOffset, placedMessage, reasonOf, refusalUnderApps } from './refusal.js';
import type { Slot } from './slot.js';
import { UpstreamRotation, type LiveUpstream } from './upstream-rotation.js';
import { firstUpBeforeAnyFailure } from './first-up.js';
import { drainCloseReason, killedAfterCancel, type DrainCause } from './worker-drain.js';
import { WorkerPool, type WorkerPoolOptions } from './worker-pool.js';
import { Worker } from './worker.js';
import { DEFAULT_OUTPUT_RATE, OutputThrottle } from '../log/output-throttle.js';
import { wallTimeOf } from '../wall-clock.js';

/** What the proxy holds this version to, per request (the environment file's values). */
export interface AppLimits {
  /** Requests that may wait for a free upstream before 503. */
  queue: number;
  /** No response head this long: 504 (and a worker holding it is recycled). */
  timeoutMs: number;
  /**
   * How long a request for the app waking from idle waits for the wake (start_timeout and the
   * moment a refusal takes to be published, as for an app starting), when longer than timeoutMs:
   * a wake is a start, and under timeoutMs alone an import longer than `timeout` failed every
   * request that came to the app asleep, which SPEC 5.6 has wait instead.
   */
  wakeWaitMs?: number;
  /** The largest request body, in bytes (413 past it). */
  maxBody: number;
  /** The largest websocket message from a client, in bytes (closed 1009 past it). */
  maxMessage: number;
}

/** The options of its pools (worker-pool.ts, pool-context.ts), and what the instance itself reads. */
export interface AppInstanceOptions extends WorkerPoolOptions {
  log: AppLog;
  limits: AppLimits;
  /**
   * How long this version drains once replaced (the environment file's `drain`, else the
   * gateway's); a recycled worker keeps its websockets as long. Unset: the registry's.
   */
  versionDrainMs?: number;
  /** Where deaths of its processes are recorded (the app's history, for status). */
  history?: AppHistory;
  /** Stop its workers and routed processes after this long with no request and no websocket; 0 = never. */
  idleTimeoutMs?: number;
  /** The app's other instances (a draining version) hold a request or a websocket: not idle meanwhile. */
  othersBusy?: () => boolean;
  /** Before a wake starts them again: what may have gone while it slept (its database). */
  beforeWake?: () => Promise<void>;
  /** Each wake's time (ms), as it serves (idle-cycle.ts). */
  onColdStart?: (ms: number) => void;
  /** The gateway's --max-workers: asked for room before the workers start again. */
  budget?: WorkerBudgetLike;
  /** Its version's requests (the registry keeps one per version, across restarts); else its own. */
  tally?: RequestTally;
  /** A failed wake's fix in the caller's words, as its version's refusal says it (StartAppOptions). */
  inCallersWords?: (error: GatewayError) => GatewayError;
  /** start() resolves once one worker is up (StartAppOptions.serveFromFirstWorker). */
  serveFromFirstWorker?: boolean;
}

/** What an instance asks of the gateway's worker budget (worker-budget.ts). */
export interface WorkerBudgetLike {
  /** The bound, as status names the room a wake waits for. */
  readonly max: number;
  /** What the caller calls the bound (--max-workers, maxWorkers), for what is said of it. */
  readonly maxWorkersKey: string;
  /** Makes room for `asking` to run `workers` in all (putting least recently used apps to sleep); false when it cannot. */
  makeRoom(asking: AppInstance, workers: number): Promise<boolean>;
}

export type AppState = 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';

/** The 504 sweep's interval and then some (upstream.ts ticks every 500 ms). */
const DRAIN_PAST_TIMEOUT_MS = 2000;

export class AppInstance {
  readonly desc: Description;
  state: AppState = 'starting';
  /** Why the app is failed, for status and the log. */
  failure: GatewayError | null = null;
  /** Every live process: in rotation, starting (restart, replacement) or draining. */
  private readonly members = new Members();
  private readonly rotation = new UpstreamRotation<Member>();
  private readonly workers: WorkerPool;
  private readonly processes: ProcessPool;
  private readonly idle: IdleCycle;
  /** What the pools say of the app's processes: the gateway's log and the app's own. */
  private readonly sayOwn: (line: string) => void;
  /** What its version answered, this instance and the version's others alike (status's version figures). */
  readonly tally: RequestTally;
  /**
   * What this instance's workers and routed processes answered; it feeds `tally`. Status shows it
   * for an instance draining while its version serves again from another (a restart, a rollback).
   */
  readonly answered: RequestTally;

  constructor(private readonly opts: AppInstanceOptions) {
    this.desc = opts.desc;
    this.tally = opts.tally ?? new RequestTally();
    this.answered = opts.tally ? new RequestTally(this.tally) : this.tally;
    const ctx: PoolContext = {
      tally: this.answered,
      // A wake's steps while it wakes; the version's start's before it serves (closed after: a restart's steps show nowhere).
      startSteps: () => this.idle.wakeSteps ?? opts.startSteps ?? null,
      members: this.members,
      rotation: this.rotation,
      output: {
        stdout: opts.log.stream('stdout'),
        stderr: opts.log.stream('stderr'),
        // One for all its processes: N workers flooding get one app's share, not N.
        throttle: new OutputThrottle({
          ...DEFAULT_OUTPUT_RATE,
          onSlowed: () => opts.log.note(`its output is read at most ${DEFAULT_OUTPUT_RATE.bytesPerSecond / 1024} KiB/s (after a burst of ${DEFAULT_OUTPUT_RATE.burstBytes / 1024} KiB) and it writes faster: its writes wait, nothing is lost (said once per start)`),
        }),
        // The log has each worker's traceback; the terminal (serve) the first of each kind, and a line per copy.
        loadFailure: (traceback, who) => {
          if (!opts.log.loadFailure(traceback)) opts.say(`${this.name}: ${who} failed the same way (the traceback above)`);
        },
      },
      drainMs: () => this.drainMs(),
      websocketDrainMs: () => this.opts.versionDrainMs ?? this.drainMs(),
      // A crash loop's exits differ only in their pids and back-offs: one event that counts
      // them, not fifty that push out the refusal or the deploy explaining the loop.
      onExited: (what) => opts.history?.add('exited', what, { version: opts.desc.version, alike: what.replace(/\d+/g, '#') }),
    };
    // What the pools say of the app's processes (exited, restarting, recycled, killed) goes in
    // the app's own log too: there, beside its traceback, is where its user looks.
    const say = (line: string): void => {
      opts.say(line);
      opts.log.note(line.startsWith(`${this.name}: `) ? line.slice(this.name.length + 2) : line);
    };
    this.sayOwn = say;
    const budget = opts.budget;
    // A recycle's replacement counts from before it spawns, beside the worker it replaces.
    const roomForReplacement = budget && (() => budget.makeRoom(this, this.runningWorkers));
    this.workers = new WorkerPool({ ...opts, say, roomForReplacement, maxWorkersKey: budget?.maxWorkersKey }, ctx, () => this.idle.state === 'waking');
    this.processes = new ProcessPool({ ...opts, say }, ctx);
    this.idle = new IdleCycle({
      name: this.name,
      say: opts.say,
      idleTimeoutMs: opts.idleTimeoutMs ?? 0,
      beforeWake: opts.beforeWake,
      onColdStart: opts.onColdStart,
      makeRoom: budget && (() => budget.makeRoom(this, this.workers.slots.length)),
      wakeWords: {
        room: () => `room for ${countOf(this.workers.slots.length, 'worker')} under ${budget?.maxWorkersKey ?? '--max-workers'} ${budget?.max}`,
        services: opts.desc.services?.database ? 'its database to be there (made again, empty, if it was dropped while the app slept)' : null,
      },
      maxWorkersKey: budget?.maxWorkersKey,
      ready: () => this.state === 'ready',
      workersQuiet: () => this.inFlight === 0 && this.openWebsockets === 0,
      othersBusy: opts.othersBusy,
      workerRequests: () => this.workers.requestsSeen,
      workerLastRequestAt: () => this.workers.lastRequestAt,
      sleepers: () => [...this.workers.slots, ...this.processes.servingSlots],
      members: this.members,
      rotation: this.rotation,
      drainMs: () => this.drainMs(),
      explainFrom: () => {
        // Under --apps the app's output is in its log only, as for a refused version (refusal.ts);
        // its fix in the caller's words, as a refused version's (version-judge.ts).
        const since = logOffset(opts.log.file);
        return (failed) => {
          const failure = namingAppDir(failed, opts.desc);
          const error = opts.inCallersWords ? opts.inCallersWords(failure) : opts.commandWords ? namingFixes(failure, opts.commandWords, opts.desc.dir) : failure;
          return opts.development ? error : refusalUnderApps(error, opts.log.file, since);
        };
      },
      onWakeFailed: (error, retryInMs) =>
        // Not "the next try": nothing tries by itself, the first request after the back-off does.
        opts.history?.add('wake-failed', `${this.name} could not be woken; the first request after ${Math.ceil(retryInMs / 1000)} s wakes it again: ${placedMessage(error)}`, {
          version: opts.desc.version,
          reason: reasonOf(error),
        }),
    });
  }

  get name(): string {
    return this.desc.name;
  }

  /** Its run helpers (app-env.ts): its workers, the restarted ones too, read them. */
  get runDir(): string {
    return this.opts.appEnv.runDir;
  }

  /** The venv its workers run on (a build directory, or the venv link), null without `pip:`. */
  get venvDir(): string | null {
    return this.opts.appEnv.venvDir;
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

  /** Websockets of its workers (an ASGI app's) and its routed processes whose clients hold them open now, draining ones included. */
  get openWebsockets(): number {
    let open = 0;
    for (const member of this.members.all()) open += member instanceof Worker ? (member.link?.openWebsockets ?? 0) : member.openWebsockets;
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

  /** The processes that take requests, longest route first; web (route null) last. */
  get processRoutes(): ProcessRoute[] {
    return this.processes.routes;
  }

  /** Its app.log opened again under its name (SIGUSR1): false when it could not be (said through the log's onError). */
  reopenLog(): boolean {
    return this.opts.log.reopen();
  }

  /** A line in the app's log from the gateway itself (the proxy's findings), marked as such. */
  report(line: string): void {
    this.opts.log.write(`${GATEWAY_PREFIX}${line}\n`);
  }

  /** What takes traffic now. A new array on every change; never mutated. */
  get upstreams(): readonly LiveUpstream[] {
    return this.rotation.upstreams;
  }

  /** Calls `listener` after every change of `upstreams`; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    return this.rotation.subscribe(listener);
  }

  get pids(): number[] {
    return this.members.pids;
  }

  /**
   * Starts every worker and process, and probes each worker; rejects (after stopping them
   * all) if any cannot come up (APPPKG_APP_IMPORT_FAILED, APPPKG_APP_PROBE_FAILED, ...).
   * With serveFromFirstWorker (an app no other version serves, no `processes:`, neither
   * --max-workers nor idle_timeout), resolves as soon as one worker is up before any has failed:
   * the rest join the rotation as each comes up, and one that fails then is restarted with the
   * back-off as a worker that died. Not with a worker budget or an idle timeout: either may put
   * the app to sleep while a worker of its start is still coming up, which the sleep does not
   * wait for (under --max-workers two staggered apps never settled, one asleep and one serving).
   */
  async start(): Promise<void> {
    const slots = this.slots;
    const starts = slots.map((s: Slot<Worker> | Slot<CommandProcess>) => s.start());
    // The workers of a start come up a few ms to tens of ms apart (each spawn forks the front,
    // one after the other; both interpreters share the cores with it), and the first request
    // waited for the last of them (docs/performance.md, "The start, step by step").
    const early = this.opts.serveFromFirstWorker === true && this.opts.budget === undefined && !this.opts.idleTimeoutMs && this.processes.slots.length === 0 && starts.length > 1;
    if (early && (await firstUpBeforeAnyFailure(starts)) && this.state === 'starting') {
      this.state = 'ready';
      starts.forEach((start, i) => start.catch((err: GatewayError) => slots[i].restartFailedStart(err)));
      this.workers.watchMemory();
      this.idle.watch();
      return;
    }
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed || this.state !== 'starting') {
      if (this.state === 'starting') this.state = 'failed';
      this.failure = (failed?.reason as GatewayError | undefined) ?? null;
      await this.stopAll((m) => m.stop(1000));
      throw failed?.reason ?? new Error(`${this.name} was stopped while it started`);
    }
    this.state = 'ready';
    this.workers.watchMemory();
    this.idle.watch();
  }

  /** Every slot, its workers' first. */
  private get slots(): Array<Slot<Worker> | Slot<CommandProcess>> {
    return [...this.workers.slots, ...this.processes.slots];
  }

  /** awake, asleep or waking (idle-cycle.ts); the proxy holds requests while it is not awake. */
  get idleState(): IdleState {
    return this.idle.state;
  }

  get coldStarts(): number {
    return this.idle.coldStarts;
  }

  get lastColdStartMs(): number | null {
    return this.idle.lastColdStartMs;
  }

  get coldStartMsTotal(): number {
    return this.idle.coldStartMsTotal;
  }

  get coldStartFailures(): number {
    return this.idle.coldStartFailures;
  }

  get wakeFailure(): string | null {
    return this.idle.wakeFailure;
  }

  /** The app's own reason the last wake failed (its import, its probe), until one works. */
  get wakeError(): GatewayError | null {
    return this.idle.wakeError;
  }

  /** What a wake under way waits for now (status's waitingFor on the serving row); null between two steps or with no wake. */
  get wakeWaitingFor(): WaitingForStatus | null {
    return this.idle.wakeSteps?.status() ?? null;
  }

  /** When the next wake is tried after a failed one (ISO); null when the next request may. */
  get nextWakeAt(): string | null {
    return this.idle.nextWakeAt;
  }

  /** nextWakeAt in Date.now() ms: the 503's Retry-After meanwhile. */
  get wakeRetryAt(): number | null {
    return this.idle.wakeRetryAt;
  }

  /**
   * When it last had a request or websocket. Its workers' own stamp counts to the millisecond:
   * the idle check only notices their requests once a second, and the worker budget's choice of
   * the least recently used app must not take one that served just now for one that did not.
   * In performance.now() ms; status turns it into a time of day.
   */
  get lastActive(): number {
    return Math.max(this.idle.lastActive, this.workers.lastRequestAt);
  }

  /**
   * Workers it runs now: what the worker budget counts. Asleep or draining (another version
   * took over), those still stopping count until they are gone: a worker whose lifespan
   * shutdown or last requests take their time holds its memory as long, and --max-workers
   * bounds the processes (SPEC 5.6), not the ones in rotation. So does a recycled worker, beside
   * its replacement (from before that spawns).
   */
  get runningWorkers(): number {
    const stopping = this.idle.state === 'asleep' || this.state === 'stopping' || this.state === 'stopped';
    return stopping ? this.members.workers().length : this.workers.held;
  }

  /** Resolves once every worker it has now is gone (at once when none is left). */
  async workersGone(): Promise<void> {
    await this.gone(this.members.workers());
  }

  /** Settles once its recycled workers still draining have exited; null when it has none. */
  retiredWorkersGone(): Promise<void> | null {
    if (this.state !== 'ready') return null;
    const retired = this.members.workers().filter((worker) => this.members.isStopping(worker));
    return retired.length === 0 ? null : this.gone(retired);
  }

  private async gone(workers: Worker[]): Promise<void> {
    await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
  }

  get workerCount(): number {
    return this.workers.slots.length;
  }

  /** A request or websocket goes to one of its processes (the workers count their own): not idle till released. */
  hold(): () => void {
    return this.idle.hold();
  }

  /** Nothing in flight, no websocket, in any version of the app: it may be put to sleep (idle, or for another's room). */
  get quiet(): boolean {
    return this.idle.quiet;
  }

  /** Its own workers and processes hold nothing, whatever the app's other versions hold. */
  get ownQuiet(): boolean {
    return this.idle.ownQuiet;
  }

  /** Settles when its wake under way (one that has its room) ends; null when none is. */
  wakeWithRoom(): Promise<void> | null {
    return this.idle.wakeWithRoom();
  }

  /** Stops its workers and routed processes until the next request (idle-cycle.ts). */
  sleep(why: string): Promise<void> {
    return this.idle.sleep(why);
  }

  /** While its wake asks --max-workers for room: null once had, else the noRoom error (idle-cycle.ts). */
  roomForWake(): Promise<Error | null> | null {
    return this.idle.roomForWake();
  }

  /** Starts what sleep() stopped; resolves once they take traffic, rejects when they cannot. */
  wake(): Promise<void> {
    return this.idle.wake();
  }

  /**
   * How long a retired worker may finish its requests: as long as a request may take, and a
   * little more, so that a request past its timeout is the 504 it is, not a 502 when the
   * recycled worker holding it is killed first.
   */
  private drainMs(): number {
    return Math.max(1000, this.opts.limits.timeoutMs + DRAIN_PAST_TIMEOUT_MS);
  }

  /**
   * Restarts after unexpected exits, of its workers and its processes alike: a `platform: python,
   * command` app has no worker, and its web process crashing must not read as 0 in status.
   */
  get restarts(): number {
    return this.slots.reduce((sum, s) => sum + s.restarts, 0);
  }

  /** When the first of its workers waiting out a back-off starts again (Date.now() ms), or null. */
  get nextWorkerRestartAt(): number | null {
    const due = this.workers.slots.map((s) => s.restartAt).filter((at): at is number => at !== null);
    return due.length === 0 ? null : wallTimeOf(Math.min(...due));
  }

  get crashLooping(): boolean {
    return this.workers.slots.some((s) => s.crashLooping) || this.processes.slots.some((s) => s.crashLooping) || this.idle.crashLooping;
  }

  /** A worker of it waits out a crash loop's back-off, holding room under --max-workers for none that serves. */
  get workersCrashLooping(): boolean {
    return this.workers.slots.some((s) => s.crashLooping);
  }

  /** Its workers, in rotation or not; rssBytes and cpuPercent are the sampler's to fill (null here). */
  workerStatus(): WorkerStatus[] {
    return this.workers.status(this.state === 'stopping' || this.state === 'stopped');
  }

  /** Its worker slots waiting out their back-off (worker-pool.ts waitingSlots); [] once it stops. */
  restartingWorkers(): WorkerStatus[] {
    return this.state === 'stopping' || this.state === 'stopped' ? [] : this.workers.waitingSlots();
  }

  /** The last health probe of a worker, for status; a command app's, of its processes.web. */
  get lastProbe(): HealthStatus | null {
    return this.workers.lastProbe ?? this.processes.lastProbe;
  }

  /** Requests its workers' threads and its routed processes run now (what waits in a worker is `queued`). */
  get inFlight(): number {
    let held = 0;
    for (const member of this.members.all()) held += member instanceof Worker ? member.running : member.inFlight;
    return held;
  }

  /** Requests sent ahead to its workers that wait there for a thread. */
  get queued(): number {
    let waiting = 0;
    for (const worker of this.members.workers()) waiting += worker.waiting;
    return waiting;
  }

  processStatus(): ProcessStatus[] {
    // Asleep (idle_timeout), its processes are stopped as its workers are, not restarting.
    return this.processes.status(this.state === 'stopping' || this.state === 'stopped' || this.idleState === 'asleep');
  }

  /**
   * Stops every process (SIGTERM, then SIGKILL); no restarts after. One still running a request
   * has `graceMs` to end, one with none `shutdownMs` (its own shutdown: an ASGI lifespan
   * `shutdown`, work after a response). The websockets its workers and routed processes hold
   * are closed 1001 (the gateway is going away), a drain under way included.
   */
  async stop(graceMs: number, shutdownMs = graceMs): Promise<void> {
    this.state = 'stopping';
    this.workers.workerDrain.cutShort();
    for (const worker of this.members.workers()) worker.link?.closeWebsockets(WsCloseCode.GOING_AWAY, 'the gateway is stopping');
    for (const m of this.members.all()) if (!(m instanceof Worker)) m.closeWebsockets(WsCloseCode.GOING_AWAY, 'the gateway is stopping');
    // The front has waited for its clients already: a request still held here is one whose
    // client left (or that the grace cut), which a WSGI thread may sleep on for minutes, so it
    // keeps the short bound; only a process that runs no request waits for its own shutdown.
    const bound = (m: Member): number => (m.inFlight > 0 || (m instanceof Worker && (m.link?.releasedRequests ?? 0) > 0) ? graceMs : shutdownMs);
    // A drain under way keeps its own grace (`drain`, 30 s by default): this stop bounds it too
    // (Child.stop sends no second signal), or a request the app still runs for a client long
    // gone would hold the gateway's stop for the rest of the drain.
    const draining = this.members.all().filter((m) => this.members.isStopping(m));
    const workers = this.members.all().filter((m): m is Worker => m instanceof Worker);
    await Promise.all([this.stopAll((m) => m.stop(bound(m))), ...draining.map((m) => m.stop(bound(m)))]);
    for (const worker of workers) {
      const killed = killedAfterCancel(this.name, worker, 'the end of its grace at the gateway\'s stop');
      if (killed !== null) this.sayOwn(killed);
    }
    this.state = 'stopped';
    this.opts.log.release();
  }

  /** The environment file's `drain` for this app, if it gave one (registry.ts drains with it). */
  get versionDrainMs(): number | undefined {
    return this.opts.versionDrainMs;
  }

  /**
   * The environment file read again (SIGHUP) changed what the gateway alone reads of this app
   * (environment-changes.ts LIVE_KEYS): in force from now on, its processes untouched.
   */
  applyLive(settings: { idleTimeoutMs: number; versionDrainMs: number | undefined }): void {
    this.opts.versionDrainMs = settings.versionDrainMs;
    this.idle.setIdleTimeout(settings.idleTimeoutMs);
  }

  /**
   * Out of rotation for good (another version took over, or the app was removed): each worker
   * finishes what it holds within `drainMs` (its websockets until `websocketMs`, then 1012 saying
   * `cause`), then stops.
   */
  async drain(cause: DrainCause, drainMs: number, websocketMs = drainMs): Promise<void> {
    this.state = 'stopping';
    const reason = drainCloseReason(this.name, cause);
    await this.stopAll((m) => {
      if (m instanceof Worker) return this.workers.workerDrain.drain(m, cause, drainMs, websocketMs);
      // A routed process's websockets count as requests it holds: closed now, its stop waits for none.
      if (websocketMs === 0) m.closeWebsockets(WsCloseCode.SERVICE_RESTART, reason);
      return m.stop(drainMs, reason);
    });
    this.state = 'stopped';
    this.opts.log.release();
  }

  private async stopAll(stop: (member: Member) => Promise<void>): Promise<void> {
    for (const slot of this.slots) slot.halt();
    this.workers.stopWatchingMemory();
    this.idle.stop();
    this.rotation.clear();
    await Promise.all(this.members.all().map((m) => this.members.stopOnce(m, () => stop(m))));
  }
}
