// Requests for an app whose first version is still starting wait here until it serves (or is
// refused), as an idle app's requests wait for its wake (SPEC 5.6), instead of a 503: apps
// start a few at a time while the listeners already answer for the apps that are up, and a
// client that came a moment early is served, not told to come back. The wait is bounded, by
// each app's own start bound (published-apps.ts startWaitMs).

interface Waiter {
  /** The client left meanwhile: nothing to retry, nothing to answer (its line is logged already). */
  gone: () => boolean;
  retry: () => void;
  giveUp: () => void;
  timer: NodeJS.Timeout;
}

export class StartWaits {
  private readonly waiting = new Map<string, Set<Waiter>>();

  /**
   * `retry` once `app` is no longer starting; `giveUp` when it still is after `limitMs`; neither
   * once `gone` says the client left.
   */
  wait(app: string, limitMs: number, gone: () => boolean, retry: () => void, giveUp: () => void): void {
    let waiters = this.waiting.get(app);
    if (waiters === undefined) this.waiting.set(app, (waiters = new Set()));
    const own = waiters;
    const waiter: Waiter = {
      gone,
      retry,
      giveUp,
      timer: setTimeout(() => {
        own.delete(waiter);
        if (own.size === 0 && this.waiting.get(app) === own) this.waiting.delete(app);
        if (!gone()) giveUp();
      }, limitMs),
    };
    own.add(waiter);
  }

  /** Retries what waits for every app of which `starting` says false (it serves, was refused, or is gone). */
  settle(starting: (app: string) => boolean): void {
    for (const [app, waiters] of this.waiting) {
      if (starting(app)) continue;
      this.waiting.delete(app);
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        if (!waiter.gone()) waiter.retry();
      }
    }
  }

  /** Answers everything that waits now (the gateway stops). */
  giveUpAll(): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiters of all) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        if (!waiter.gone()) waiter.giveUp();
      }
    }
  }
}
