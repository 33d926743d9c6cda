// What a version being started waits for now, for status: an app that takes long to start said
// only `starting`, whether the gateway waited for pip, a hook, room under --max-workers, an
// import, a health probe answering 503 (seen only at the refusal, 60 s on) or a port. Each step
// is told as it begins and as it ends by whoever runs it (the judge, the pools), never polled;
// status shows the step under way that has waited longest, which is what holds the start.
import type { FailedProbes, WaitingForStatus } from '../admin/status-types.js';
import { wallTimeOf } from '../wall-clock.js';

export type StartStepKind = 'environment' | 'services' | 'venv' | 'hook' | 'room' | 'import' | 'lifespan' | 'probe' | 'listen';

/**
 * One step under way. `what` is read when status is built: a worker's pid is known only once
 * it is spawned, after its step began.
 */
export class StartStep {
  since = performance.now();
  failedProbes: FailedProbes | null = null;

  constructor(
    private readonly owner: StartSteps,
    public kind: StartStepKind,
    public what: () => string,
  ) {}

  /** The same worker or process moves on to its next step (its lifespan startup, its probe). */
  to(kind: StartStepKind, what: () => string): void {
    this.kind = kind;
    this.what = what;
    this.since = performance.now();
    this.failedProbes = null;
  }

  /** An answer of the health probe other than 2xx/3xx (`status` null: none, `error` says why). */
  probeFailed(status: number | null, error: string | null): void {
    this.failedProbes = { count: (this.failedProbes?.count ?? 0) + 1, status, error, at: new Date().toISOString() };
  }

  end(): void {
    this.owner.ended(this);
  }
}

export class StartSteps {
  private readonly steps = new Set<StartStep>();
  /** The judge's own step (environment, venv, hook, room), one at a time. */
  private judged: StartStep | null = null;
  private closed = false;

  /**
   * A step of a worker or process (its import, its probe, its port), ended by its owner. After
   * close() (the version serves or is refused), a step begun by a restart is not shown.
   */
  begin(kind: StartStepKind, what: () => string): StartStep {
    const step = new StartStep(this, kind, what);
    if (!this.closed) this.steps.add(step);
    return step;
  }

  /** The judge's next step, in place of its last; the same step said anew (room: another reason) keeps its since. */
  judge(kind: StartStepKind, what: string): void {
    if (this.judged === null) this.judged = this.begin(kind, () => what);
    else if (this.judged.kind === kind) this.judged.what = () => what;
    else this.judged.to(kind, () => what);
  }

  /** The judge hands the start to the workers and processes. */
  judgeDone(): void {
    this.judged?.end();
    this.judged = null;
  }

  ended(step: StartStep): void {
    this.steps.delete(step);
  }

  /** The version serves, or was refused: nothing more is shown or kept. */
  close(): void {
    this.closed = true;
    this.steps.clear();
    this.judged = null;
  }

  /**
   * The step under way that has waited longest, a probe failing before any other (it says why
   * the start may end in a refusal); null between two steps.
   */
  status(): WaitingForStatus | null {
    let oldest: StartStep | null = null;
    for (const step of this.steps) {
      const failing = step.failedProbes !== null;
      const oldestFailing = oldest?.failedProbes != null;
      if (oldest === null || (failing && !oldestFailing) || (failing === oldestFailing && step.since < oldest.since)) oldest = step;
    }
    if (oldest === null) return null;
    return { for: oldest.kind, what: oldest.what(), since: new Date(wallTimeOf(oldest.since)).toISOString(), failedProbes: oldest.failedProbes };
  }
}
