// Each app is judged by itself: a slow start (an install hook, an import that hangs) holds back
// no other app's start, deploy or removal. An app whose judging is under way when a later look
// at the directory asks for it again is judged once more after it ends, however many looks
// asked; a few apps are judged at once (start-slots.ts), under --max-workers as well: the worker
// budget, not this queue, keeps their workers within it (worker-budget.ts), so an app whose
// import hangs holds only its own workers' room (probe-k finding 2).
import { availableParallelism } from 'node:os';
import type { AppRecord } from './app-record.js';
import { StartSlots } from './start-slots.js';

/** Apps judged at once: about the cores (start-slots.ts), at least four. */
const START_CONCURRENCY = Math.max(4, availableParallelism());
/** After this, a start that is still going gives its slot to the next app (start-slots.ts). */
const START_SLOT_HOLD_MS = 5000;

export interface JudgingQueueOptions {
  /** Judges one app (VersionJudge.converge), holding a start slot. */
  converge: (record: AppRecord) => Promise<void>;
  /** After each judging, its slot given back: what the registry does then (publish). */
  judged: (record: AppRecord) => void;
  /** A judging threw: a fault of ours, for the log. */
  failed: (err: unknown) => void;
  /** Has the registry begun stopping? Then nothing more is judged. */
  stopped: () => boolean;
}

export class JudgingQueue {
  /** The judging under way per app, and whether a later look asked for another once it ends. */
  private readonly judging = new Map<AppRecord, { done: Promise<void>; again: boolean }>();
  private readonly slots = new StartSlots(START_CONCURRENCY, START_SLOT_HOLD_MS);

  constructor(private readonly opts: JudgingQueueOptions) {}

  /** Judges `record` now, or again once its judging under way ends; resolves when it is judged. */
  judge(record: AppRecord): Promise<void> {
    const current = this.judging.get(record);
    if (current !== undefined) {
      current.again = true;
      return current.done;
    }
    const entry = { done: Promise.resolve(), again: true };
    entry.done = (async () => {
      while (entry.again && !this.opts.stopped()) {
        entry.again = false;
        const release = await this.slots.take();
        try {
          if (!this.opts.stopped()) await this.opts.converge(record);
        } catch (err) {
          this.opts.failed(err);
        } finally {
          release();
        }
        this.opts.judged(record);
      }
      this.judging.delete(record);
    })();
    this.judging.set(record, entry);
    return entry.done;
  }

  /** Is `record` being judged (its versions maybe starting)? */
  isJudging(record: AppRecord): boolean {
    return this.judging.has(record);
  }

  /** Is any app being judged? */
  get busy(): boolean {
    return this.judging.size > 0;
  }

  /** Resolves once the judgings under way now have ended. */
  ended(): Promise<void> {
    return Promise.all([...this.judging.values()].map((j) => j.done)).then(() => undefined);
  }
}
