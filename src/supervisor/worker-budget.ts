// --max-workers (SPEC 5.6): a bound on the Python workers of every app together, for a host of
// many mostly idle apps. An app that must start (a wake, a new version) past it first puts the
// least recently used app with nothing in flight to sleep; when none can sleep, it cannot start
// now (the proxy answers 503 with Retry-After). Room is made one app at a time, so two wakes
// at once cannot both count the same free room.
import type { AppInstance, WorkerBudgetLike } from './app-instance.js';

export class WorkerBudget implements WorkerBudgetLike {
  private readonly instances = new Set<AppInstance>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly max: number) {}

  /** An instance that serves (its workers count) until removed. */
  add(instance: AppInstance): void {
    this.instances.add(instance);
  }

  remove(instance: AppInstance): void {
    this.instances.delete(instance);
  }

  /** Workers running now, but `except`'s. */
  used(except: AppInstance | null = null): number {
    let n = 0;
    for (const instance of this.instances) if (instance !== except) n += instance.runningWorkers;
    return n;
  }

  makeRoom(asking: AppInstance, workers: number): Promise<boolean> {
    const turn = this.queue.then(() => this.makeRoomNow(asking, workers));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async makeRoomNow(asking: AppInstance, workers: number): Promise<boolean> {
    while (this.used(asking) + workers > this.max) {
      const victim = [...this.instances]
        .filter((i) => i !== asking && i.state === 'ready' && i.idleState === 'awake' && i.runningWorkers > 0 && i.quiet)
        .sort((a, b) => a.lastActive - b.lastActive)[0];
      if (victim === undefined) return false;
      await victim.sleep(`--max-workers ${this.max} reached; making room for ${asking.name}`);
    }
    return true;
  }
}
