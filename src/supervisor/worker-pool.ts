// An app version's Python workers (none for a command app): one slot each, sharing one back-off
// (a crash loop is the app's, not one worker's). A worker is up once it reports READY and, when
// app.yaml has `health:`, passes its probe; it is recycled (a replacement first, then it drains)
// past max_requests or max_memory; out of rotation it ends after its websockets (an ASGI app's,
// worker-drain.ts). When the instance starts and stops them is the instance's.
import { noLatency, RequestTally } from '../admin/request-tally.js';
import type { HealthStatus, WorkerStatus } from '../admin/status-types.js';
import { commandEnvironment, restoreForSpawn } from '../environment/app-env.js';
import type { GatewayError } from '../errors.js';
import { Backoff } from './backoff.js';
import { spanOf } from '../count.js';
import type { PoolContext, PoolOptions } from './pool-context.js';
import { probeWorker } from './probe.js';
import { EARLY_RECYCLES, EARLY_REQUESTS, leakPastNote, memoryLimitReached, overLimitAfterImport, overLimitAtFirstRequests, readRssBytes, requestLimitReached, type RecycleLimits } from './recycle.js';
import { Slot } from './slot.js';
import type { WorkerUpstream } from './upstream-rotation.js';
import { WorkerDrain } from './worker-drain.js';
import { HUNG_AFTER_ENV, HUNG_AFTER_MS, Worker } from './worker.js';
import { testKnob } from '../test-knob.js';

export interface WorkerPoolOptions extends PoolOptions {
  workers: number;
  threads: number;
  development: boolean;
  /** Recycle a worker after so many requests; 0 = never. */
  maxRequests?: number;
  /** Recycle a worker whose RSS grows past this many bytes; 0 = never. */
  maxMemory?: number;
  /** How often RSS is read when maxMemory is set. */
  memoryCheckMs?: number;
  /** How long a worker has to answer its health probe. */
  probeTimeoutMs?: number;
  /** Under --max-workers: room for a recycle's replacement beside the worker it replaces (slot.ts). */
  roomForReplacement?: () => Promise<boolean>;
  /** What the caller calls that bound (--max-workers, maxWorkers), for what is said of it. */
  maxWorkersKey?: string;
}

const DEFAULT_MEMORY_CHECK_MS = 3000;
/** The suite's period, so that a test of what a memory check does (or does not do) waits a check, not seconds. */
export const MEMORY_CHECK_ENV = 'APPPKG_TEST_MEMORY_CHECK_MS';
/** The niceness a woken app's workers start at (worker.ts startNice). */
const WAKE_NICE = 10;
const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/**
 * How long an ASGI worker's loop has to answer a PING after one of its requests got a 504
 * before the worker counts as stuck: the heartbeat's bound for a hung worker (a free loop
 * answers within a millisecond; one busy with many tasks still answers between two of them).
 */
const LOOP_ANSWER_MS = HUNG_AFTER_MS;
/** Durations kept per worker for its percentiles: fewer than an app's (LATENCY_WINDOW), as it answers a share of them. */
const WORKER_LATENCY_WINDOW = 512;

export class WorkerPool {
  readonly slots: Array<Slot<Worker>> = [];
  /** The last health probe of a worker, for status. */
  lastProbe: HealthStatus | null = null;
  /** How its workers out of rotation end: after their websockets (worker-drain.ts). */
  readonly workerDrain: WorkerDrain;
  private readonly recycleLimits: RecycleLimits;
  private memoryTimer: NodeJS.Timeout | null = null;
  /**
   * Set once a worker was over max_memory as it went live, or several at their first requests:
   * recycles at max_memory are off, and only a worker past twice what the app takes is recycled
   * (recycle.ts leakPastNote).
   */
  private memoryNote: string | null = null;
  /** The RSS the note was given with: what the app takes, for leakPastNote. */
  private noteRss = 0;
  /** Each worker's RSS as it went live (with max_memory set): what it took after the app's import. */
  private readonly liveRss = new WeakMap<Worker, number>();
  /** Memory recycles in a row of workers that had served EARLY_REQUESTS or fewer. */
  private earlyMemoryRecycles = 0;
  /** Workers already counted there: one being replaced is seen over the limit again until its replacement is up. */
  private readonly countedForMemory = new WeakSet<Worker>();
  /** The slot each worker fills (or filled): its restarts and last exit are the slot's. */
  private readonly slotOf = new WeakMap<Worker, Slot<Worker>>();
  /** ASGI workers whose loop is being asked whether it answers (judgeTimedOut). */
  private readonly loopsAsked = new WeakSet<Worker>();
  /** Each worker's answers since it started; they count toward the version's too. */
  private readonly tallyOf = new WeakMap<Worker, RequestTally>();

  /** `waking`: the app wakes from sleep now (its workers start behind the apps serving). */
  constructor(private readonly opts: WorkerPoolOptions, private readonly ctx: PoolContext, private readonly waking: () => boolean) {
    this.workerDrain = new WorkerDrain(opts.desc.name, opts.say);
    this.recycleLimits = { maxRequests: opts.maxRequests ?? 0, maxMemory: opts.maxMemory ?? 0 };
    const workerBackoff = new Backoff();
    for (let i = 0; i < opts.workers; i++) {
      const slot: Slot<Worker> = new Slot<Worker>({
        app: opts.desc.name,
        spawn: () => this.spawn(slot, i + 1),
        bringUp: (w) => this.bringUp(w),
        label: (w) => `worker ${w.pid ?? '?'}`,
        backoff: workerBackoff,
        say: opts.say,
        onLive: (w) => {
          this.judgeImportMemory(w);
          ctx.rotation.publish(w, this.upstream(w, slot));
        },
        onRetired: (w) => ctx.rotation.unpublish(w),
        drain: (w) => ctx.members.stopOnce(w, () => this.workerDrain.drain(w, 'recycled', ctx.drainMs(), ctx.websocketDrainMs())),
        onExited: ctx.onExited,
        onRecycleFailed: () => ctx.rotation.changed(),
        roomForReplacement: opts.roomForReplacement,
        maxWorkersKey: opts.maxWorkersKey,
      });
      this.slots.push(slot);
    }
  }

  /** The workers its slots hold room for under --max-workers: a recycled one counts until it has exited (slot.ts). */
  get held(): number {
    return this.slots.reduce((sum, slot) => sum + slot.held, 0);
  }

  /** Requests the workers in rotation have taken, for the idle check. */
  get requestsSeen(): number {
    return this.slots.reduce((sum, slot) => sum + (slot.current?.link?.requests ?? 0), 0);
  }

  /** When its workers last took or ended a request or websocket (performance.now()); 0 if they have taken none. */
  get lastRequestAt(): number {
    return this.slots.reduce((last, slot) => Math.max(last, slot.current?.link?.lastOpenedAt ?? 0, slot.current?.link?.lastSettledAt ?? 0), 0);
  }

  /**
   * Its workers, in rotation or not. `outOfRotation`: the whole instance drains. rssBytes and
   * cpuPercent are the sampler's to fill (null here).
   */
  status(outOfRotation = false): WorkerStatus[] {
    const rows = this.ctx.members.workers().map((w): WorkerStatus => {
      const slot = this.slotOf.get(w);
      const answered = this.tallyOf.get(w)?.figures();
      // A worker out of rotation finishes what it holds: not `ready` for anything new. One that
      // said READY and is still being probed has not been in rotation yet: it is starting.
      const probing = w.state === 'ready' && slot?.bringingUp === w;
      const draining = w.state === 'ready' && !probing && (outOfRotation || slot?.current !== w);
      return {
        pid: w.pid ?? null,
        state: probing ? 'starting' : draining ? 'draining' : w.state,
        inFlight: w.running,
        queued: w.waiting,
        websockets: w.link?.openWebsockets ?? 0,
        requests: w.requests,
        failed: answered?.failed ?? 0,
        latency: answered?.latency ?? noLatency(),
        startedAt: new Date(this.ctx.members.spawnedAtOf(w) ?? Date.now()).toISOString(),
        stoppingSince: w.state === 'stopping' && w.stoppingSince !== null ? new Date(w.stoppingSince).toISOString() : null,
        stoppedStarting: w.state === 'stopping' ? w.stoppedStarting : null,
        rssBytes: null,
        cpuPercent: null,
        restarts: slot?.restarts ?? 0,
        lastExit: slot?.lastExit ?? null,
        recycled: slot?.recycled ?? 0,
        lastRecycle: slot?.lastRecycle ?? null,
        memoryNote: this.memoryNote,
      };
    });
    return rows;
  }

  /**
   * A row for each slot with no worker, waiting out its back-off to start one again: a crash
   * loop shows its workers' restarts and last exit, not none (pid null, no figures).
   */
  waitingSlots(): WorkerStatus[] {
    const rows: WorkerStatus[] = [];
    const starting = new Set(this.ctx.members.workers().filter((w) => w.state === 'starting').map((w) => this.slotOf.get(w)));
    for (const slot of this.slots) {
      // A halted slot (the app asleep) waits for no back-off: its next start is the app's wake.
      if (slot.halted || slot.current !== null || slot.lastExit === null || starting.has(slot) || slot.bringingUp !== null) continue;
      rows.push({
        pid: null,
        state: slot.crashLooping ? 'crash-loop' : 'restarting',
        inFlight: 0, queued: 0, websockets: 0, requests: 0, failed: 0, latency: noLatency(),
        startedAt: slot.lastExit.at,
        stoppingSince: null,
        stoppedStarting: null,
        rssBytes: null, cpuPercent: null,
        restarts: slot.restarts,
        lastExit: slot.lastExit,
        recycled: slot.recycled,
        lastRecycle: slot.lastRecycle,
        memoryNote: this.memoryNote,
      });
    }
    return rows;
  }

  watchMemory(): void {
    if (this.recycleLimits.maxMemory <= 0) return;
    this.memoryTimer = setInterval(() => {
      if (this.memoryNote !== null) {
        this.recycleLeaks();
        return;
      }
      for (const slot of this.slots) {
        const worker = slot.current;
        if (worker === null || worker.pid === undefined) continue;
        const rss = readRssBytes(worker.pid);
        const why = memoryLimitReached(rss, worker.requests, this.recycleLimits);
        if (why === null || rss === null) {
          // A worker that served more than a few and is still under it: no loop.
          if (worker.requests > EARLY_REQUESTS) this.earlyMemoryRecycles = 0;
          continue;
        }
        if (!this.countedForMemory.has(worker)) {
          this.countedForMemory.add(worker);
          this.earlyMemoryRecycles = worker.requests <= EARLY_REQUESTS ? this.earlyMemoryRecycles + 1 : 0;
        }
        if (this.earlyMemoryRecycles >= EARLY_RECYCLES) {
          // Workers that go over it at once, one after the other: a loop, not a leak.
          this.noteMemory(overLimitAtFirstRequests(rss, this.recycleLimits), rss);
          return;
        }
        slot.recycle(why);
      }
    }, this.opts.memoryCheckMs ?? testKnob(MEMORY_CHECK_ENV, DEFAULT_MEMORY_CHECK_MS));
    this.memoryTimer.unref();
  }

  /**
   * A worker over max_memory as it goes live (its import and probe done, no request yet) is over
   * it because of what the app imports: said once for the version, in its log and status, and
   * no worker of it recycled for its memory, where each was recycled after its first request.
   */
  private judgeImportMemory(worker: Worker): void {
    // Without max_memory nothing is read: this runs at every worker's start.
    if (this.recycleLimits.maxMemory <= 0 || worker.pid === undefined) return;
    const rss = readRssBytes(worker.pid);
    if (rss !== null) this.liveRss.set(worker, rss);
    if (this.memoryNote !== null) return;
    const note = overLimitAfterImport(rss, this.recycleLimits);
    if (note !== null) this.noteMemory(note, rss!);
  }

  /** Said once for the version, in both logs; from then on its workers are recycled only past twice what it takes. */
  private noteMemory(note: string, rss: number): void {
    if (this.memoryNote !== null) return;
    this.memoryNote = note;
    this.noteRss = rss;
    this.opts.say(`${this.opts.desc.name}: ${note}`);
  }

  /** Under a note: a worker that grows as it serves (a leak) is still recycled, past leakPastNote's ceiling. */
  private recycleLeaks(): void {
    for (const slot of this.slots) {
      const worker = slot.current;
      if (worker === null || worker.pid === undefined) continue;
      const takes = Math.max(this.noteRss, this.liveRss.get(worker) ?? 0);
      const why = leakPastNote(readRssBytes(worker.pid), worker.requests, takes, this.recycleLimits);
      if (why !== null) slot.recycle(why);
    }
  }

  stopWatchingMemory(): void {
    if (this.memoryTimer !== null) clearInterval(this.memoryTimer);
    this.memoryTimer = null;
  }

  /** `number`: its slot's, from 1, as a folded import failure names it (`worker 2 failed the same way`). */
  private spawn(slot: Slot<Worker>, number: number): Worker {
    const { appEnv, desc } = this.opts;
    restoreForSpawn(appEnv, this.opts.uid === undefined ? undefined : { uid: this.opts.uid, gid: this.opts.gid! });
    const worker = new Worker({
      python: appEnv.python,
      // Its commands' PATH and PYTHONPATH (the app's `python` first): a subprocess it starts runs
      // on the app's interpreter with the app's sys.path, as it does under `run`.
      env: commandEnvironment(appEnv),
      cwd: desc.dir,
      app: desc.app!,
      kind: desc.kind === 'asgi' ? 'asgi' : 'wsgi',
      sysPath: appEnv.sysPath,
      threads: this.opts.threads,
      multiprocess: this.opts.workers > 1,
      development: this.opts.development,
      name: desc.name,
      venvDir: appEnv.venvDir,
      commandWords: this.opts.commandWords,
      maxMemory: this.recycleLimits.maxMemory,
      stdout: this.ctx.output.stdout,
      stderr: this.ctx.output.stderr,
      throttle: this.ctx.output.throttle,
      loadFailure: (traceback) => this.ctx.output.loadFailure(traceback, `worker ${number}`),
      uid: this.opts.uid,
      gid: this.opts.gid,
      // A wake's workers start behind the apps already serving (their p99 stays as it was).
      startNice: this.waking() ? WAKE_NICE : undefined,
      // Slot 1's worker while none serves: the one of a start (or of a start again after a
      // crash), not a replacement beside workers already serving, nor slots 2 and on.
      firstOfStart: number === 1 && !this.slots.some((s) => s.current?.state === 'ready'),
    });
    this.ctx.members.enlist(worker);
    this.slotOf.set(worker, slot);
    this.tallyOf.set(worker, new RequestTally(this.ctx.tally, WORKER_LATENCY_WINDOW));
    worker.on('killing', (why: string, fix?: string) => this.opts.say(`${desc.name}: worker ${worker.pid ?? '?'} ${why}; killing it${fix ? `: ${fix}` : ''}`));
    worker.on('silent', (silentMs: number, inFlight: number) => this.opts.say(silentLine(desc.name, worker, silentMs, inFlight)));
    worker.on('answering', (silentMs: number) => {
      // One recycled for its silence may answer as it leaves: it takes nothing again.
      if (slot.current !== worker || slot.isBeingReplaced(worker)) return;
      this.opts.say(`${desc.name}: worker ${worker.pid ?? '?'} answers again after ${spanOf(silentMs)} without a word; it takes requests again`);
    });
    return worker;
  }

  /** READY, then the health probe when app.yaml has `health:`. Not in rotation yet. */
  private async bringUp(worker: Worker): Promise<void> {
    // One bound for the import and the probe, as a process's port and probe share one (command-process.ts).
    const deadline = performance.now() + this.opts.startTimeoutMs;
    const { app, kind } = this.opts.desc;
    // An ASGI worker says LIFESPAN_STARTUP between its import and READY: a startup waiting for
    // its database must not read as a slow import.
    const step = this.ctx.startSteps()?.begin('import', () => `worker ${worker.pid ?? '(spawning)'} to import ${app}, then ${kind === 'asgi' ? 'run its lifespan startup' : 'say READY'}`);
    if (kind === 'asgi') worker.once('lifespan-startup', () => step?.to('lifespan', () => `worker ${worker.pid ?? '?'} to finish its lifespan startup (${app}), then say READY`));
    try {
      await worker.start(this.opts.startTimeoutMs);
      const health = this.opts.desc.health;
      if (!health) return;
      step?.to('probe', () => `worker ${worker.pid ?? '?'}'s health probe GET ${health} to answer 2xx or 3xx`);
      const at = new Date().toISOString();
      const refused = (status: number): void => {
        this.lastProbe = { path: health, at: new Date().toISOString(), ok: false, status, error: `GET ${health} answered ${status}; asked again until it answers 2xx or 3xx`, pid: worker.pid ?? null };
        step?.probeFailed(status, null);
      };
      try {
        const status = await probeWorker(worker, this.opts.desc.name, health, { deadline, timeoutMs: this.opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, onRefused: refused });
        this.lastProbe = { path: health, at, ok: true, status, error: null, pid: worker.pid ?? null };
      } catch (err) {
        const details = (err as GatewayError).details ?? {};
        const status = typeof details.status === 'number' ? details.status : null;
        this.lastProbe = { path: health, at, ok: false, status, error: (err as Error).message, pid: worker.pid ?? null };
        throw err;
      }
    } finally {
      step?.end();
    }
  }

  /**
   * Requests of `worker` got their 504. A WSGI worker has a thread stuck in the app, which
   * nothing can interrupt: it is replaced. An ASGI worker had each request's task cancelled by
   * the 504's ABORT, and its loop goes on serving the rest (its websockets too): it is
   * replaced only when the loop does not answer a PING, that is when sync code in an
   * `async def` holds the loop itself (the heartbeat does not judge a worker with requests in
   * flight). docs/architecture.md, "Timeouts".
   *
   * The PING here overlaps the silence rule (WsgiUpstream.judgeSilence: a link silent past
   * `timeout`, whatever it holds), and is kept for what that rule is slow to see: a loop held
   * late in a request (sync code after an await), silent for less than `timeout` when the 504
   * comes, is replaced LOOP_ANSWER_MS after it instead of up to a whole `timeout` later. The
   * silence rule covers what no 504 ever judges: a loop held after a stream's head, and requests
   * sent in the beat before the silence was seen (test/proxy/asgi-late-block.test.ts,
   * test/proxy/asgi-blocked-loop.test.ts).
   */
  private judgeTimedOut(worker: Worker, slot: Slot<Worker>, why: string): void {
    if (slot.current !== worker) return;
    if (worker.kind === 'wsgi') {
      slot.recycle(why);
      return;
    }
    const link = worker.link;
    if (link === null || this.loopsAsked.has(worker)) return;
    this.loopsAsked.add(worker);
    const withinMs = testKnob(HUNG_AFTER_ENV, LOOP_ANSWER_MS);
    void link.answersPing(withinMs).then((answered) => {
      this.loopsAsked.delete(worker);
      if (!answered && !link.closed && slot.current === worker) {
        slot.recycle(`${why}, and its event loop did not answer for ${withinMs / 1000} s (a blocking call in an async function holds it)`);
      }
    });
  }

  private upstream(worker: Worker, slot: Slot<Worker>): WorkerUpstream {
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
      tally: this.tallyOf.get(worker)!,
      beingReplaced: () => slot.isBeingReplaced(worker),
      requestsTimedOut: (why) => this.judgeTimedOut(worker, slot, why),
      // No PING to ask first, as judgeTimedOut asks an ASGI loop: the silence is the answer.
      silentPastTimeout: (why) => {
        if (slot.current === worker) slot.recycle(`${why}: ${silenceCause(worker)}`);
      },
    };
  }
}

/**
 * What the log says of a worker whose link went a heartbeat's beat without a word (Worker
 * 'silent'). It names the request the worker had held longest then, as the 504 meanwhile does:
 * the gateway cannot see which one holds it, but that one was sent before it stopped answering.
 */
function silentLine(app: string, worker: Worker, silentMs: number, inFlight: number): string {
  const held = inFlight === 1 ? '1 request' : `${inFlight} requests`;
  const oldest = worker.link?.oldestWhenSilent?.heldFor?.(performance.now());
  const longest = oldest === undefined ? '' : ` (held longest: ${oldest})`;
  return `${app}: worker ${worker.pid ?? '?'} has not answered the heartbeat for ${spanOf(silentMs)}, with ${held} in flight${longest}: ${silenceCause(worker)}; no new request goes to it until it answers`;
}

/** What keeps a worker from answering the heartbeat, and the fix: its threads would answer it. */
function silenceCause(worker: Worker): string {
  return worker.kind === 'asgi'
    ? 'its event loop is held (a blocking call in an async function: run sync code with loop.run_in_executor, or make the handler a plain def where the framework runs those in threads)'
    : 'it reads nothing (a call that holds the GIL)';
}
