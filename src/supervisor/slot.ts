// One place in an app version that one process fills at a time (a WSGI worker, or one
// `processes.NAME`), and the one restart machinery both kinds share: bring a process up,
// restart it with back-off when it dies (not when it cannot load the app: exit 4, gunicorn's
// APP_LOAD_ERROR), and recycle it (a replacement first, then the old one drains; under
// --max-workers with no room for the two, the old one drains first) on request.
// What "up" means (READY and the health probe, or a port that accepts) is the owner's bringUp.
import type { EventEmitter } from 'node:events';
import type { GatewayError } from '../errors.js';
import type { ExitStatus } from '../admin/status-types.js';
import type { Backoff } from './backoff.js';
import { EXIT_REASON_WITHIN_MS, exitReason } from './exit-reason.js';
import { wallTimeOf } from '../wall-clock.js';

/** An exit with status 0 this soon after the start is likely a process that went to the background. */
const QUICK_CLEAN_EXIT_MS = 2000;
/** The last line of a Python traceback (`redis.exceptions.NoPermissionError: ...`). */
const EXCEPTION_LINE = /^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)(?::|$)/;

/** What a slot needs of a process: Worker and CommandProcess both have this shape. */
export interface SupervisedProcess extends EventEmitter {
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly state: string;
  readonly exitSignal: string | null;
  /** How it ended: `status 1`, `SIGKILL`. */
  readonly how: string;
  /** The last line it wrote on stderr with something in it (why it died, as far as it said), or null. */
  readonly lastErrorLine: string | null;
  /** When it wrote lastErrorLine (performance.now()), 0 before it wrote one. */
  readonly lastErrorLineAt: number;
  /** What the gateway found its exit to mean, with the fix (CommandProcess: a program not found), or null. */
  readonly diagnosis?: string | null;
  stop(graceMs: number): Promise<void>;
}

/** The exit status a process uses to say "the app cannot be loaded: do not restart me". */
export const EXIT_APP_LOAD_FAILED = 4;

/** After a replacement failed to start, recycling waits this long before it tries again. */
const RECYCLE_RETRY_MS = 10_000;

export interface SlotOptions<P extends SupervisedProcess> {
  /** The app's name, the prefix of every line said. */
  app: string;
  /** A new process, not started. */
  spawn: () => P;
  /** Start it and wait until it may take traffic; rejects (with the process gone) if it cannot. */
  bringUp: (proc: P) => Promise<void>;
  /** How messages name a process: `worker 123`, `processes.live 123`. */
  label: (proc: P) => string;
  /** Shared by an app's workers (a crash loop is the app's), own for each process. */
  backoff: Backoff;
  say: (line: string) => void;
  /** The process takes traffic now (publish it). */
  onLive: (proc: P) => void;
  /** The process takes no more traffic (unpublish it); it may still finish what it holds. */
  onRetired: (proc: P) => void;
  /** A recycled process, out of rotation: let it finish what it holds, then stop it. */
  drain: (proc: P) => Promise<void>;
  /** The process in rotation died unexpectedly (`what` says which and how); it is restarted. */
  onExited?: (what: string) => void;
  /** A recycle's replacement failed: the old process, which took no request meanwhile, takes them again. */
  onRecycleFailed?: () => void;
  /**
   * Under --max-workers: makes room for a recycle's replacement beside the process it replaces
   * (the slot counts both from now on, `held`); false when none can be made.
   */
  roomForReplacement?: () => Promise<boolean>;
  /** What the caller calls that bound (--max-workers, maxWorkers), for what is said of it. */
  maxWorkersKey?: string;
}

/** `: WHY (fix: ...)` when the gateway knows why `proc` exited, for the line that says it did. */
function diagnosed(proc: SupervisedProcess): string {
  return proc.diagnosis ? `: ${proc.diagnosis}` : '';
}

export class Slot<P extends SupervisedProcess> {
  /** The process in rotation, or null while it restarts. */
  current: P | null = null;
  restarts = 0;
  /** How the last process that died unexpectedly in this slot ended, and the process itself. */
  private exited: { status: Omit<ExitStatus, 'reason'>; proc: P; atMs: number } | null = null;
  /** Times a process of this slot was replaced on purpose (max_requests, max_memory, a stuck thread). */
  recycled = 0;
  /** When and why the last of those was. */
  lastRecycle: { at: string; reason: string } | null = null;
  /** The process being brought up (READY, its probe): not in rotation yet. */
  bringingUp: P | null = null;
  /** When the restart waiting out its back-off is due (performance.now() ms), or null when none waits. */
  restartAt: number | null = null;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private replacing: P | null = null;
  /** A recycle asks for room for its replacement (roomForReplacement). */
  private awaitingRoom = false;
  /** Processes recycled out of rotation and not exited yet. */
  private readonly retired = new Set<P>();
  /** Times halted: a recycle's drain that ends after a halt (and maybe a new start) starts nothing. */
  private halts = 0;
  private holdRecycleUntil = 0;
  private readonly spawnedAt = new WeakMap<P, number>();
  /** The process whose first bring-up failed last (start()), for restartFailedStart. */
  private failedStart: P | null = null;

  constructor(private readonly opts: SlotOptions<P>) {}

  /**
   * Halted (its app put to sleep by idle_timeout or --max-workers, or stopping), it restarts
   * nothing until it is started again: the back-off remembers the run before, and an app asleep
   * after a crash loop was said to be `crash-loop`, a worker of it waiting to restart.
   */
  get crashLooping(): boolean {
    return this.running && this.opts.backoff.isCrashLooping(performance.now());
  }

  /** Halted: nothing runs in it and nothing restarts until start(). */
  get halted(): boolean {
    return !this.running;
  }

  /**
   * The processes it holds room for under --max-workers: one (running, starting, or to start
   * after its back-off), and two while a recycle runs a replacement beside the old one, which
   * counts until it has exited, not until it leaves the rotation (--max-workers bounds the
   * processes, SPEC 5.6).
   */
  get held(): number {
    const replacement = this.replacing !== null || this.awaitingRoom ? 1 : 0;
    return Math.max(1, (this.current !== null ? 1 : 0) + replacement + this.retired.size);
  }

  /** The first bring-up; rejects (the process stopped) when it cannot come up. */
  async start(): Promise<void> {
    // A process halted and still on its way out (an idle app put to sleep, woken before its
    // worker has exited) is no longer the slot's: its exit is the halt's doing, and read as a
    // crash it fed the back-off and started a spare beside the one this start brings up.
    const halted = this.running ? null : this.current;
    if (halted !== null) {
      this.current = null;
      this.opts.onRetired(halted);
      if (halted.state !== 'exited') this.retired.add(halted);
    }
    this.running = true;
    const proc = this.spawn();
    try {
      await this.bringUp(proc);
    } catch (err) {
      await proc.stop(1000);
      this.failedStart = proc;
      throw err;
    }
    if (!this.running) return;
    this.admit(proc);
  }

  /**
   * The first bring-up failed (start() rejected with `err`) after its app began to serve from
   * its other workers (app-instance.ts, firstUpBeforeAnyFailure): the slot is one whose process
   * is missing, restarted with the back-off as if it had died, and a crash loop in status when
   * it keeps failing, rather than a refusal of a version that serves already.
   */
  restartFailedStart(err: GatewayError): void {
    const proc = this.failedStart;
    this.failedStart = null;
    if (!this.running || proc === null || this.current !== null || this.timer !== null) return;
    this.restartFailed(proc, err);
  }

  private spawn(): P {
    const proc = this.opts.spawn();
    // performance.now(), as every stamp the back-off reads: after a step forward of the wall clock
    // a crash-looping process looked up for hours, its back-off started again from 500 ms and
    // no crash loop was seen; after a step back, exits an hour old still counted.
    this.spawnedAt.set(proc, performance.now());
    proc.once('exit', () => this.onExit(proc));
    return proc;
  }

  private uptime(proc: P): number {
    return performance.now() - (this.spawnedAt.get(proc) ?? performance.now());
  }

  /** When the process in rotation was spawned (performance.now() ms), or null while the slot restarts. */
  get currentSince(): number | null {
    return this.current === null ? null : (this.spawnedAt.get(this.current) ?? null);
  }

  /**
   * How the last process that died unexpectedly in this slot ended. Its reason is read when
   * asked: a command's last stderr line may be read after its exit is.
   */
  get lastExit(): ExitStatus | null {
    if (this.exited === null) return null;
    const { proc, atMs } = this.exited;
    return { ...this.exited.status, reason: exitReason(proc.lastErrorLineAt >= atMs - EXIT_REASON_WITHIN_MS ? proc.lastErrorLine : null) };
  }

  /** `failedToStart`: why `proc` was never spawned (it has no pid), as the log says it. */
  private recordExit(proc: P, failedToStart: string | null = null): void {
    const atMs = performance.now();
    this.exited = {
      status: {
        pid: proc.pid ?? null,
        code: proc.exitCode,
        signal: proc.exitSignal,
        at: new Date(wallTimeOf(atMs)).toISOString(),
        uptimeSeconds: Math.round(this.uptime(proc) / 100) / 10,
        failedToStart,
        diagnosis: proc.diagnosis ?? null,
      },
      proc,
      atMs,
    };
  }

  /** opts.bringUp, with `proc` as bringingUp until it settles (a start, a restart, a replacement). */
  private bringUp(proc: P): Promise<void> {
    this.bringingUp = proc;
    return this.opts.bringUp(proc).finally(() => {
      if (this.bringingUp === proc) this.bringingUp = null;
    });
  }

  private admit(proc: P): void {
    this.current = proc;
    this.opts.onLive(proc);
  }

  private onExit(proc: P): void {
    this.retired.delete(proc);
    // Only the process in rotation is replaced here: one that was starting is its starter's
    // business, and a retired one has its replacement already.
    if (proc !== this.current) return;
    this.current = null;
    this.opts.onRetired(proc);
    if (!this.running || this.replacing !== null) return; // a recycle's replacement is on its way
    this.recordExit(proc);
    // Whatever its status: a process in rotation had imported the app and said READY, so even
    // a 4 (the shim's "the app failed to import") is the app's own exit (os._exit(4)), and a
    // worker that is not replaced leaves the app's requests waiting for nobody.
    const uptime = this.uptime(proc);
    // A command that forks into the background and exits 0 (a --daemon flag, say) looks like
    // this from here, and its restarts never end: say what to look for. Unless its last words
    // were an exception: some exit 0 on an error they cannot recover from (a Celery worker
    // refused by Redis), and the daemon hint sent their users the wrong way.
    const said = proc.lastErrorLine?.trim() ?? '';
    const quickClean = proc.how === 'status 0' && uptime < QUICK_CLEAN_EXIT_MS;
    const detached = !quickClean
      ? ''
      : EXCEPTION_LINE.test(said)
        ? `; it ended at once with status 0 after an error: ${exitReason(said)}`
        : '; it ended at once with status 0: a process must stay in the foreground (no --daemon or daemonize option), or it is restarted for ever';
    this.scheduleRestart(uptime, `${this.opts.label(proc)} exited (${proc.how})${diagnosed(proc)}${detached}`);
  }

  /** A process is missing: start another after the back-off delay, bring it up, admit it. */
  private scheduleRestart(uptimeMs: number, what: string): void {
    const now = performance.now();
    const backoff = this.opts.backoff;
    const wait = backoff.recordExit(now, uptimeMs);
    this.restarts++;
    const looping = backoff.isCrashLooping(now);
    this.opts.say(`${this.opts.app}: ${what}; restarting in ${wait} ms${looping ? ' (crash loop)' : ''}`);
    this.opts.onExited?.(`${what}; restarting in ${wait} ms${looping ? ' (crash loop)' : ''}`);
    this.restartAt = now + wait;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.restartAt = null;
      this.startNext();
    }, wait);
  }

  /** The slot has no process: start one, bring it up and admit it; a failure is a restart's. */
  private startNext(): void {
    if (!this.running) return;
    const next = this.spawn();
    this.bringUp(next).then(
      () => {
        if (this.running && this.current === null) this.admit(next);
        else void next.stop(1000);
      },
      (err: GatewayError) => {
        if (!this.running) return;
        void next.stop(1000);
        this.restartFailed(next, err);
      },
    );
  }

  /** `next` never came up (`err`): its restart, after the back-off. */
  private restartFailed(next: P, err: GatewayError): void {
    // No pid: it was never spawned (its interpreter or venv gone), which only err says; its
    // status said "exited with status null", which names nothing to fix.
    const neverSpawned = next.state === 'exited' && next.pid === undefined;
    if (next.state === 'exited') this.recordExit(next, neverSpawned ? err.message : null);
    // The app no longer imports (a file changed under the version): tried again with the
    // back-off, a crash loop in status, and it serves again once the file is fixed.
    // The same exit status for an ASGI lifespan startup that failed: the app imported, and
    // its message ("app: X failed its lifespan startup: ...") says what failed instead.
    const how = next.exitCode === EXIT_APP_LOAD_FAILED
      ? err.code === 'APPPKG_APP_LIFESPAN_FAILED'
        ? `${this.opts.label(next)} did not start: ${err.message}`
        : `${this.opts.label(next)} could not import the app: ${err.message}`
      : next.state === 'exited' && !neverSpawned
        ? `${this.opts.label(next)} exited (${next.how})${diagnosed(next)}`
        : `${this.opts.label(next)} failed to start: ${err.message}`;
    // It never came up, however long its probe was asked (start_timeout, 60 s, outlasts a
    // stable run's 30): counted as up, it started the back-off over at 0.5 s each time, and
    // a worker that never passes its probe was restarted for ever and never a crash loop.
    this.scheduleRestart(0, how);
  }

  /** A recycle's replacement for `proc` is starting. */
  isBeingReplaced(proc: P): boolean {
    return this.replacing !== null && this.current === proc;
  }

  /**
   * Replaces the current process without failing a request: the replacement comes up while the
   * old one keeps serving; then the old one leaves the rotation and drains. If the replacement
   * fails, the old one keeps serving and recycling waits a while before it tries again.
   * Under --max-workers the replacement first needs room beside the old one; with none (every
   * other app holds requests), the old one leaves the rotation and drains first, and the
   * replacement starts in its room once it has exited, as gunicorn replaces a worker past its
   * max_requests. The app's other workers serve meanwhile; an app with one worker has its
   * requests wait for the replacement, as for a restart (up to its `timeout`).
   */
  recycle(why: string): void {
    const old = this.current;
    if (!this.running || old === null || this.replacing !== null || this.awaitingRoom || performance.now() < this.holdRecycleUntil) return;
    this.opts.say(`${this.opts.app}: recycling ${this.opts.label(old)}: ${why}`);
    this.recycled++;
    this.lastRecycle = { at: new Date().toISOString(), reason: why };
    const room = this.opts.roomForReplacement;
    if (room === undefined) {
      this.replaceBeside(old);
      return;
    }
    this.awaitingRoom = true;
    room().then(
      (made) => this.roomAnswered(old, made),
      () => this.roomAnswered(old, false),
    );
  }

  private roomAnswered(old: P, made: boolean): void {
    this.awaitingRoom = false;
    // Stopped meanwhile, or the old one died (its restart is under way): nothing to replace.
    if (!this.running || this.current !== old) return;
    if (made) {
      this.replaceBeside(old);
      return;
    }
    this.opts.say(`${this.opts.app}: no room under ${this.opts.maxWorkersKey ?? '--max-workers'} for a replacement beside ${this.opts.label(old)}; it drains first, and its replacement starts once it has exited`);
    this.current = null;
    this.opts.onRetired(old);
    this.retired.add(old);
    const halts = this.halts;
    const replace = (): void => {
      if (this.halts === halts) this.startNext();
    };
    this.opts.drain(old).then(replace, replace);
  }

  /** The replacement comes up while `old` serves, then takes its place; `old` drains. */
  private replaceBeside(old: P): void {
    const next = this.spawn();
    this.replacing = next;
    this.bringUp(next).then(
      () => {
        this.replacing = null;
        if (!this.running) return void next.stop(1000);
        if (this.current === old) {
          this.current = null;
          this.opts.onRetired(old);
          if (old.state !== 'exited') this.retired.add(old);
        }
        this.admit(next);
        void this.opts.drain(old);
      },
      (err: GatewayError) => {
        this.replacing = null;
        if (!this.running) return;
        this.holdRecycleUntil = performance.now() + RECYCLE_RETRY_MS;
        void next.stop(1000);
        this.opts.onRecycleFailed?.();
        if (this.current === old) {
          this.opts.say(`${this.opts.app}: the replacement for ${this.opts.label(old)} failed (${err.message}); ${this.opts.label(old)} keeps serving`);
        } else {
          // The old one died meanwhile: nothing serves in this slot, so restart as after a crash.
          this.scheduleRestart(0, `the replacement for ${this.opts.label(old)} failed (${err.message})`);
        }
      },
    );
  }

  /** No more restarts; the processes themselves are stopped by the owner, which knows them all. */
  halt(): void {
    this.running = false;
    this.halts++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.restartAt = null;
  }
}
