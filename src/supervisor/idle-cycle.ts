// Idle apps (SPEC 5.6): an instance with an idle timeout puts its workers and routed processes
// to sleep when nothing has come for that long (background processes keep running) and wakes
// them for the next request, which waits meanwhile in the proxy's queue. Under --max-workers a
// wake first asks the worker budget for room, and the budget's choice of whom to put to sleep
// reads lastActive. A wake the app fails (its import raises now) is retried with the crash
// loop's back-off, answered 503 at once meanwhile: a client must not make the gateway fork an
// interpreter per request (SPEC §4). This is when and how; what sleeps (its slots) is the instance's.
import { GatewayError, isGatewayError } from '../errors.js';
import { wallTimeOf } from '../wall-clock.js';
import { Backoff } from './backoff.js';
import { formatRefusal } from './refusal.js';
import { StartSteps } from './start-steps.js';
import { testKnob } from '../test-knob.js';
import type { CommandProcess } from './command-process.js';
import type { Member, Members } from './members.js';
import type { Slot } from './slot.js';
import type { UpstreamRotation } from './upstream-rotation.js';
import type { Worker } from './worker.js';

/** The suite's period, so that a test of what an idle check does (or does not do) waits a check, not seconds. */
export const IDLE_CHECK_ENV = 'APPPKG_TEST_IDLE_CHECK_MS';

/** awake: serving; asleep: idle, its workers stopped; waking: starting them for a request. */
export type IdleState = 'awake' | 'asleep' | 'waking';

export interface IdleCycleOptions {
  /** The app's name, the prefix of every line said. */
  name: string;
  say: (line: string) => void;
  /** Sleep after this long with no request and no websocket; 0 = never. */
  idleTimeoutMs: number;
  /** Asks the worker budget for room for the app's workers; undefined without --max-workers. */
  makeRoom?: () => Promise<boolean>;
  /** What the caller calls the worker budget's bound (--max-workers, maxWorkers). */
  maxWorkersKey?: string;
  /** Is the instance serving (started, not stopping)? */
  ready: () => boolean;
  /** No request in its workers, no websocket. */
  workersQuiet: () => boolean;
  /**
   * The app's other instances hold a request or a websocket (a version draining after a deploy
   * or a restart keeps its own until `drain`): SPEC 5.6 counts the app's, not this instance's.
   */
  othersBusy?: () => boolean;
  /** Requests its workers in rotation have taken. */
  workerRequests: () => number;
  /** When its workers last took or ended a request or websocket (performance.now()); 0 if none. */
  workerLastRequestAt: () => number;
  /** What sleeps: the slots of its workers and of the processes that take requests. */
  sleepers: () => Array<Slot<Worker> | Slot<CommandProcess>>;
  members: Members;
  rotation: UpstreamRotation<Member>;
  /** How long a process put to sleep may finish what it holds. */
  drainMs: () => number;
  /**
   * Called as a wake begins; what it returns makes the error a failed one is told as (under
   * --apps: where the app's log explains it, from this wake on).
   */
  explainFrom: () => (error: GatewayError) => GatewayError;
  /** A wake failed for the app's own reason; the next is tried in `retryInMs`. */
  onWakeFailed: (error: GatewayError, retryInMs: number) => void;
  /**
   * Before its processes start again: what its start set up that may have gone while it slept
   * (its database, services/wake-services.ts). A rejection fails the wake, as a failed start.
   */
  beforeWake?: () => Promise<void>;
  /** A wake served, in `ms`: each one for /metrics' histogram, where status keeps the last and the sum. */
  onColdStart?: (ms: number) => void;
  /**
   * A wake's own steps in status's words (waitingFor): the room it asks for under --max-workers,
   * and what beforeWake makes ready (null: nothing the app waits for).
   */
  wakeWords?: { room: () => string; services: string | null };
}

export class IdleCycle {
  state: IdleState = 'awake';
  /** Wakes from sleep, and how long the last one took to serve (ms). */
  coldStarts = 0;
  lastColdStartMs: number | null = null;
  /** Every wake's time together: with coldStarts, the mean wake over any window of /metrics. */
  coldStartMsTotal = 0;
  /**
   * Wakes the app itself failed (import, probe, its database), which coldStarts leaves out: a
   * crash loop of wakes otherwise showed in /metrics only as 5xx answers. A wake refused for want
   * of room is not one: the app did not fail it (refusedForRoom counts it).
   */
  coldStartFailures = 0;
  /** Why the last wake failed (its requests were answered 503), until the next one works. */
  wakeFailure: string | null = null;
  /** The last wake's failure when it was the app's (not the budget's), until one works: status's problem. */
  wakeError: GatewayError | null = null;
  /** Failed wakes, as the supervisor counts a crash loop: the delay before the next try. */
  private wakeBackoff = new Backoff();
  /** Before this (performance.now()), a wake after the app's failure is not tried: wakeError at once. */
  private retryAt = 0;
  /**
   * When it last had a request or a websocket (performance.now(): a forward step of the wall
   * clock put every app to sleep at once; status shows it through wallTimeOf).
   */
  lastActive = performance.now();
  private waking: Promise<void> | null = null;
  /**
   * What the wake under way waits for now (status's waitingFor), told as a version's start tells
   * it: its room, its database, then each worker's import and probe (the pools begin those
   * steps here while it wakes). Null when no wake is under way.
   */
  wakeSteps: StartSteps | null = null;
  /** The wake under way has its room and is starting its workers. */
  private startingWorkers = false;
  /** While the wake under way asks --max-workers for room: null once it has it, else the noRoom error wake() rejects with. */
  private roomAsked: Promise<Error | null> | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Requests seen at the last idle check (workers' links, and touch() for processes). */
  private seenRequests = 0;
  private touches = 0;
  /** Requests and websockets its processes hold now (hold()). */
  private held = 0;
  /** watch() was called (the instance serves) and stop() not yet. */
  private watching = false;

  constructor(private readonly opts: IdleCycleOptions) {}

  /** A request or websocket goes to one of its processes (the workers count their own): not idle till released. */
  hold(): () => void {
    this.held++;
    this.touches++;
    this.lastActive = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
      this.lastActive = performance.now();
    };
  }

  /** This instance's own processes hold nothing: what a draining version answers othersBusy with. */
  get ownQuiet(): boolean {
    return this.opts.workersQuiet() && this.held === 0;
  }

  /**
   * Nothing in flight, no websocket, in any version of the app (SPEC 5.6): it may be put to
   * sleep, idle or for another's room. The idle clock and the worker budget read this one, so
   * that the budget never puts to sleep an app whose old version drains a websocket (its
   * clients, sent back by the drain's 1012, would find it cold) that the clock keeps awake.
   */
  get quiet(): boolean {
    return this.ownQuiet && !(this.opts.othersBusy?.() ?? false);
  }

  watch(): void {
    this.watching = true;
    // The budget's choice of whom to put to sleep needs lastActive too, idle timeout or not.
    const timeout = this.opts.idleTimeoutMs;
    if (timeout <= 0 && this.opts.makeRoom === undefined) return;
    let wasReady = false;
    this.idleTimer = setInterval(() => {
      const ready = this.opts.ready();
      // Its start is activity too: counted from the construction, an app whose import took longer
      // than idle_timeout was put to sleep at the first look after it became ready (H247).
      if (ready && !wasReady) this.lastActive = Math.max(this.lastActive, performance.now());
      wasReady = ready;
      if (!ready || this.state !== 'awake') return;
      const seen = this.touches + this.opts.workerRequests();
      // A drain's websockets were the app's too: the timeout counts from their end, up to a
      // period late, as from a request's end here.
      const quiet = this.quiet;
      if (seen !== this.seenRequests || !quiet) {
        this.seenRequests = seen;
        // Requests that came and went since the last look happened at their own time: stamped
        // with this look's, up to a period late, an app asked first could look newer than one
        // asked after it, and the worker budget would put the wrong one to sleep.
        this.lastActive = quiet ? Math.max(this.lastActive, this.opts.workerLastRequestAt()) : performance.now();
        return;
      }
      // A request running at the last look has ended since: from its end, not that look.
      this.lastActive = Math.max(this.lastActive, this.opts.workerLastRequestAt());
      if (timeout > 0 && performance.now() - this.lastActive >= timeout) void this.sleep(`no request for ${Math.round(timeout / 1000)} s`);
    }, testKnob(IDLE_CHECK_ENV, timeout > 0 ? Math.min(5000, Math.max(250, timeout / 4)) : 1000));
    this.idleTimer.unref();
  }

  /** The instance stops: no more idle checks. */
  stop(): void {
    this.watching = false;
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }

  /**
   * A new idle_timeout (SIGHUP), in force from now on: the checks run at its own period, and an
   * app quiet for longer than it already sleeps at the next. One asleep wakes at its next request.
   */
  setIdleTimeout(ms: number): void {
    if (ms === this.opts.idleTimeoutMs) return;
    this.opts.idleTimeoutMs = ms;
    if (!this.watching) return; // not serving yet: watch() reads it
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.watch();
  }

  /**
   * Stops its workers and routed processes (their slots halted, so nothing restarts them) and
   * takes them out of rotation; background processes keep running. The next request wakes it.
   */
  async sleep(why: string): Promise<void> {
    if (!this.opts.ready() || this.state !== 'awake' || !this.quiet) return;
    this.state = 'asleep';
    this.opts.say(`${this.opts.name}: ${why}; stopping its workers until the next request`);
    const sleepers = this.opts.sleepers();
    const sleeping = sleepers.map((slot) => slot.current).filter((m): m is Member => m !== null);
    for (const slot of sleepers) slot.halt();
    this.opts.rotation.withdraw(sleeping);
    await Promise.all(sleeping.map((m) => this.opts.members.stopOnce(m, () => m.stop(this.opts.drainMs()))));
    this.seenRequests = 0;
  }

  /**
   * Starts what sleep() stopped; resolves once they take traffic (what waited meanwhile goes to
   * them), rejects when they cannot (no room in the budget, the app no longer starts).
   */
  wake(): Promise<void> {
    if (this.state === 'awake') return Promise.resolve();
    if (this.waking === null && this.wakeError !== null && performance.now() < this.retryAt) return Promise.reject(this.wakeError);
    this.waking ??= this.wakeUp().finally(() => {
      this.waking = null;
      this.startingWorkers = false;
      this.roomAsked = null;
      this.wakeSteps?.close();
      this.wakeSteps = null;
    });
    return this.waking;
  }

  /**
   * Settles when a wake that has its room ends (served or failed); null when none is under way.
   * A wake still waiting for room is not one: two such waiting for each other would never end.
   */
  wakeWithRoom(): Promise<void> | null {
    if (this.waking === null || !this.startingWorkers) return null;
    return this.waking.then(
      () => {},
      () => {},
    );
  }

  /**
   * While the wake under way waits to know its room under --max-workers: settles with null once
   * it has room, or with the error (noRoom) its wake rejects with. Null when the room is no
   * question now: no bound, no wake under way, or its room had already.
   */
  roomForWake(): Promise<Error | null> | null {
    return this.startingWorkers ? null : this.roomAsked;
  }

  /** Wakes keep failing (the crash loop's rule), and status says so. */
  get crashLooping(): boolean {
    return this.wakeError !== null && this.wakeBackoff.isCrashLooping(performance.now());
  }

  /** When the next wake will be tried after the app's failure (Date.now() ms: a Retry-After's), null when it may be now. */
  get wakeRetryAt(): number | null {
    return this.wakeError !== null && performance.now() < this.retryAt ? wallTimeOf(this.retryAt) : null;
  }

  /** wakeRetryAt as status shows it (ISO). */
  get nextWakeAt(): string | null {
    const at = this.wakeRetryAt;
    return at === null ? null : new Date(at).toISOString();
  }

  private async wakeUp(): Promise<void> {
    this.state = 'waking';
    const started = performance.now();
    const explain = this.opts.explainFrom();
    const { makeRoom, rotation, wakeWords } = this.opts;
    const steps = (this.wakeSteps = new StartSteps());
    if (makeRoom && wakeWords) steps.judge('room', wakeWords.room());
    if (makeRoom) {
      const maxWorkersKey = this.opts.maxWorkersKey ?? '--max-workers';
      // noRoom: the proxy answers this 503 as the gateway's refusal, which the app's errors leave out.
      const room = makeRoom().then((had) => (had ? null : Object.assign(new Error(`the gateway runs as many workers as ${maxWorkersKey} allows, and every running app holds a request or an open websocket, so none can sleep to make room: try again in a moment, or raise ${maxWorkersKey}`), { noRoom: true })));
      this.roomAsked = room.catch(() => null);
      const refused = await room;
      if (refused !== null) {
        this.state = 'asleep';
        this.wakeFailure = refused.message;
        rotation.changed();
        throw refused;
      }
    }
    this.startingWorkers = true;
    const slots = this.opts.sleepers();
    let failed: { reason: unknown } | undefined;
    if (wakeWords?.services) steps.judge('services', wakeWords.services);
    try {
      await this.opts.beforeWake?.();
    } catch (err) {
      failed = { reason: err };
    }
    steps.judgeDone();
    if (failed === undefined && !this.opts.ready()) {
      // Stopped while it waited for room or its services (a gateway's stop frees the room of what
      // it stops): that stop has run, so what started now would run on with nothing to stop it,
      // its slots restarting it after the gateway said `stopped`.
      this.state = 'asleep';
      rotation.changed();
      throw new Error(`${this.opts.name} is stopping`);
    }
    if (failed === undefined) {
      const results = await Promise.allSettled(slots.map((slot: Slot<Worker> | Slot<CommandProcess>) => slot.start()));
      failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    }
    if (!this.opts.ready()) return; // stopped or replaced while waking: its stop ends what started
    if (failed) {
      for (const slot of slots) slot.halt();
      const running = slots.map((slot) => slot.current).filter((m): m is Member => m !== null);
      this.state = 'asleep';
      const reason: unknown = failed.reason;
      const explained = explain(isGatewayError(reason) ? reason : new GatewayError('APPPKG_WORKER_START_FAILED', { name: this.opts.name, reason: String(reason), cause: reason }));
      // A wake's: its fix says what tries it again (the first request after the back-off), not
      // a refused version's (a change to its files).
      const error = new GatewayError(explained.code, { ...explained.details, wake: true });
      const now = performance.now();
      const retryInMs = this.wakeBackoff.recordExit(now, 0);
      this.retryAt = now + retryInMs;
      this.wakeError = error;
      this.wakeFailure = error.message;
      this.coldStartFailures++;
      rotation.withdraw(running);
      await Promise.all(running.map((m) => this.opts.members.stopOnce(m, () => m.stop(1000))));
      this.opts.say(`${this.opts.name}: could not wake it (next try in ${Math.ceil(retryInMs / 1000)} s, at the next request after):\n${formatRefusal(error)}`);
      this.opts.onWakeFailed(error, retryInMs);
      throw error;
    }
    this.state = 'awake';
    this.wakeFailure = null;
    this.wakeError = null;
    this.wakeBackoff = new Backoff();
    this.coldStarts++;
    this.lastColdStartMs = Math.round(performance.now() - started);
    this.coldStartMsTotal += this.lastColdStartMs;
    this.opts.onColdStart?.(this.lastColdStartMs);
    this.lastActive = performance.now();
    this.opts.say(`${this.opts.name}: woken for a request in ${this.lastColdStartMs} ms`);
    rotation.changed();
  }
}
