// When the registry looks at its source: one look at a time, the calls made meanwhile
// coalesced into one more look after it (a burst of file events is two looks, not fifty), and
// a look due at a given time for versions still settling (a `cp -r` lands app.yaml seconds
// before the code: issue 13). What a look does is the registry's (Registry.reconcileOnce).

export interface ReconcileSchedulerOptions {
  /** One look at the source: what it changed is under way; resolves with each app's judging. */
  look: () => Promise<Array<Promise<void>>>;
  /** A look that failed (reconcileFailure says it). */
  failed: (err: unknown) => void;
  /** Has the registry begun stopping? Then no look is begun. */
  stopped: () => boolean;
  /** Other work that keeps the registry from being settled: apps being judged. */
  busy: () => boolean;
}

export class ReconcileScheduler {
  private running: Promise<void> | null = null;
  /** The run after the one under way, shared by every call made meanwhile. */
  private next: Promise<void> | null = null;
  /**
   * A reconcile due when the earliest settling version will have settled, `at` on the monotonic
   * clock: on the wall clock, a step forward between a long wait (a service's back-off) and a
   * short one (a deploy settling) kept the long one, and the deploy waited for it.
   */
  private settleTimer: { at: number; timer: NodeJS.Timeout; settling: boolean } | null = null;

  constructor(private readonly opts: ReconcileSchedulerOptions) {}

  /**
   * A look now, or (one is running) one more after it, shared by every call made meanwhile.
   * Resolves once the apps of the look that saw what the call asked for are judged.
   */
  run(): Promise<void> {
    // A look begun after the stop (a Gateway's rescan() or reload() once stop() resolved)
    // listed the packages it found as `starting` in status for good: the judging it led to
    // starts nothing then.
    if (this.opts.stopped()) return Promise.resolve();
    if (this.running) {
      this.next ??= this.running.then(() => {
        this.next = null;
        return this.opts.stopped() ? undefined : this.run();
      });
      return this.next;
    }
    const look = this.opts.look();
    this.running = look
      .then(
        () => undefined,
        (err) => this.opts.failed(err),
      )
      .finally(() => {
        this.running = null;
      });
    return look.then(
      (judged) => Promise.all(judged).then(() => undefined),
      () => undefined,
    );
  }

  /**
   * One reconcile `ms` from now (the earliest asked for wins): for versions still settling, or
   * (`settling` false) a version's next try after its service refused it, which settled() need
   * not wait for (see there).
   */
  runIn(ms: number, settling = true): void {
    const at = performance.now() + Math.max(0, ms);
    if (this.opts.stopped()) return;
    if (this.settleTimer !== null && this.settleTimer.at <= at) {
      this.settleTimer.settling ||= settling;
      return;
    }
    const alsoSettling = this.settleTimer?.settling ?? false;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer.timer);
    // A little past the instant: a settle wait is measured against the files' times, which
    // are the file system's.
    const timer = setTimeout(() => {
      this.settleTimer = null;
      void this.run();
    }, at - performance.now() + 50);
    this.settleTimer = { at, timer, settling: settling || alsoSettling };
  }

  /**
   * Resolves once no version is waiting to settle, no reconcile runs and no app is being judged,
   * or after `limitMs` (a directory that keeps changing is judged later, by the reconcile due then).
   */
  async settled(limitMs: number, opts: { backOff?: boolean } = {}): Promise<void> {
    // performance.now(): a step of the wall clock must not cut the wait short or hold it for the step.
    const deadline = performance.now() + limitMs;
    // `backOff: false`: a version refused because its database or Redis is down has been judged;
    // its next try is no reason to wait. Under --apps that wait held the mail listener and
    // "listening on" for the whole start bound while the other apps already served.
    const due = () => this.settleTimer !== null && (this.settleTimer.settling || opts.backOff !== false);
    while ((due() || this.running !== null || this.opts.busy()) && !this.opts.stopped() && performance.now() < deadline) {
      await (this.running ?? new Promise((r) => setTimeout(r, 50)));
    }
  }

  /** No reconcile is due any more; resolves once the one running (if any) has ended. */
  async stop(): Promise<void> {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer.timer);
    this.settleTimer = null;
    await this.running;
  }
}

/**
 * The log line of a reconcile that failed: the apps directory gone or unreadable (moved away
 * while the gateway runs) is said in words, with what happens next (a change, or `reload`: the
 * CLI's SIGHUP, the library's reload()); anything else is a fault of ours, and its stack is what
 * a report needs.
 */
export function reconcileFailure(err: unknown, reload: string): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall === 'scandir' && (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ENOTDIR')) {
    return `cannot read the apps directory ${String(e.path)} (${e.code}); the apps keep serving as they are, and it is read again at the next change or ${reload}`;
  }
  return `reconcile failed: ${e?.stack ?? String(err)}`;
}
