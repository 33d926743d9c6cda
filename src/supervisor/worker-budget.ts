// --max-workers (SPEC 5.6): a bound on the Python workers of every app together, for a host of
// many mostly idle apps. An app that must start (a wake, a new version) past it first puts the
// least recently used app with nothing in flight to sleep. Room is made one app at a time, so
// two starts at once cannot both count the same free room, and a version being started holds
// its room (a reservation) from before its workers spawn until it serves or fails: the bound
// holds while starts run side by side, and a start that hangs holds only its own room.
// When no room can be made, a wake cannot start now (the proxy answers 503 with Retry-After);
// a version to judge waits for room.
import type { AppInstance, WorkerBudgetLike } from './app-instance.js';

/**
 * A version waiting for room looks again this often: an app that stops holding requests (it
 * can then sleep) tells nobody.
 */
const RECHECK_MS = 1000;

export class WorkerBudget implements WorkerBudgetLike {
  private readonly instances = new Set<AppInstance>();
  /** Versions being started: the workers they will run, counted before they spawn. */
  private readonly reserved = new Map<AppInstance, number>();
  /** Starts waiting for room, told when some may have been given back. */
  private readonly waiting = new Set<() => void>();
  private queue: Promise<unknown> = Promise.resolve();

  /** `maxWorkersKey`: what the caller calls the bound, in what is said of it (the CLI's --max-workers, the library's maxWorkers). */
  constructor(readonly max: number, readonly maxWorkersKey = '--max-workers') {}

  /** An instance that serves (its workers count) until removed; its reservation ends. */
  add(instance: AppInstance): void {
    this.reserved.delete(instance);
    this.instances.add(instance);
    this.roomMayBeFree();
  }

  /** No longer counted: it drains or stops, or its start failed (its reservation ends). */
  remove(instance: AppInstance): void {
    this.instances.delete(instance);
    this.reserved.delete(instance);
    this.roomMayBeFree();
  }

  /** Workers running or reserved now, but `except`'s. */
  used(except: AppInstance | null = null): number {
    let n = 0;
    for (const instance of this.instances) if (instance !== except) n += instance.runningWorkers;
    for (const [instance, workers] of this.reserved) if (instance !== except) n += workers;
    return n;
  }

  /** For a wake: makes room for `workers` more now, or says it cannot (false). */
  async makeRoom(asking: AppInstance, workers: number): Promise<boolean> {
    for (;;) {
      const room = await this.inTurn(() => this.makeRoomNow(asking, workers));
      if (typeof room === 'boolean') return room;
      // Waited for outside the turn, so that other apps' room-making goes on meanwhile (a wake
      // whose import hangs holds only its own room); the asking request's wait stays bounded
      // by its start timeout.
      await Promise.race(room.map((w) => w.ended));
    }
  }

  /**
   * For a version about to start: makes room for its `workers` and holds it until add() or
   * remove(). Without room now it waits for room (`waiting` is called once when every app that
   * could sleep holds requests); rejects when `stop` aborts.
   */
  async reserve(starting: AppInstance, workers: number, waiting: (waking: string[]) => void, stop?: AbortSignal): Promise<void> {
    let told = '';
    for (;;) {
      stop?.throwIfAborted();
      const room = await this.inTurn(async () => {
        const made = await this.makeRoomNow(starting, workers);
        if (made === true) this.reserved.set(starting, workers);
        return made;
      });
      if (room === true) return;
      // Room that starts under way hold comes back when they end: said only of a wait on apps
      // that serve and hold requests, which can be long, or on other apps' wakes (then named:
      // they are put to sleep once woken, and hold no requests).
      const waking = room === false ? [] : room.filter((w) => !w.draining).map((w) => w.name);
      const why = waking.join(' ') || 'holding';
      if (told !== why && this.reserved.size === 0) {
        told = why;
        waiting(waking);
      }
      if (room === false) await this.roomGivenBack(stop);
      else await Promise.race([this.roomGivenBack(stop), ...room.map((w) => w.ended)]);
    }
  }

  /** One room-making at a time: each counts what the one before it made or took. */
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(fn);
    this.queue = turn.catch(() => {});
    return turn;
  }

  /**
   * True once there is room, false when none can be made, or the wakes and drains under way to
   * wait for before looking again.
   */
  private async makeRoomNow(asking: AppInstance, workers: number): Promise<boolean | Array<{ name: string; ended: Promise<void>; draining?: boolean }>> {
    while (this.used(asking) + workers > this.max) {
      // Another version of the asking app goes last: putting what serves it to sleep for its
      // own new version leaves the app asleep once that is judged. An app whose workers keep
      // dying goes first: its room serves nothing while it waits out its back-off (up to 30 s
      // a try), and by last use alone a healthy app slept for it at each other app's wake
      // (SPEC §4: other apps never notice a crash loop).
      const victim = [...this.instances]
        .filter((i) => i !== asking && i.state === 'ready' && i.idleState === 'awake' && i.runningWorkers > 0 && i.quiet)
        .sort((a, b) => Number(a.name === asking.name) - Number(b.name === asking.name) || Number(b.workersCrashLooping) - Number(a.workersCrashLooping) || a.lastActive - b.lastActive)[0];
      if (victim === undefined) {
        // An app put to sleep by its idle timeout meanwhile gives its room back as its workers
        // end: that is a stop under way, to wait for, not "none can be stopped" (a 503).
        const freeing = [...this.instances].filter((i) => i !== asking && i.idleState === 'asleep' && i.runningWorkers > 0);
        if (freeing.length === 0) {
          // An app woken just now serves its request as its first worker is ready, and is
          // quiet again before its other workers are: it can sleep once its wake ends, so that
          // is no "none can be stopped" either (a 503 to the next app asked right after it).
          const wakes = [...this.instances]
            .filter((i) => i !== asking)
            .map((i) => ({ name: i.name, ended: i.wakeWithRoom() }))
            .filter((w): w is { name: string; ended: Promise<void> } => w.ended !== null);
          // A version draining after a deploy or restart gives its room back as its last
          // requests end, and so does a recycled worker beside its replacement: waited for
          // outside the turn (a drain may take `drain` s, and a request it holds may itself
          // wait for another app's wake), and not named as a wake.
          const drains = [...this.instances]
            .filter((i) => i !== asking)
            .map((i) => ({ name: i.name, ended: i.state !== 'ready' ? (i.runningWorkers > 0 ? i.workersGone() : null) : i.retiredWorkersGone(), draining: true }))
            .filter((d): d is { name: string; ended: Promise<void>; draining: boolean } => d.ended !== null);
          return wakes.length + drains.length === 0 ? false : [...wakes, ...drains];
        }
        await Promise.race(freeing.map((i) => i.workersGone()));
        continue;
      }
      // The app's own new version (a deploy or restart with no room beside it) is named as
      // such: "blog: ... making room for blog" read as the gateway stopping the app for nothing.
      const forWhom = victim.name !== asking.name
        ? asking.name
        : asking.desc.version && asking.desc.version !== victim.desc.version
          ? `its version ${asking.desc.version}`
          : 'its new workers';
      await victim.sleep(`${this.maxWorkersKey} ${this.max} reached; making room for ${forWhom}`);
    }
    return true;
  }

  private roomMayBeFree(): void {
    for (const wake of this.waiting) wake();
    this.waiting.clear();
  }

  /** Resolves when room may have been given back, or after RECHECK_MS; rejects when `stop` aborts. */
  private roomGivenBack(stop?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        stop?.removeEventListener('abort', aborted);
        this.waiting.delete(done);
      };
      const done = (): void => {
        settle();
        resolve();
      };
      const aborted = (): void => {
        settle();
        reject(stop?.reason);
      };
      const timer = setTimeout(done, RECHECK_MS);
      this.waiting.add(done);
      stop?.addEventListener('abort', aborted, { once: true });
    });
  }
}
