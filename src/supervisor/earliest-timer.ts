// A callback due at the earliest of the bounds it is given. A process asked to stop again while
// it stops (the gateway stops during a drain) keeps the sooner deadline: a drain's longer grace
// must not hold the gateway's stop, and a shorter one brings the step forward, never back.

export class EarliestTimer {
  /** performance.now(): after a step back of the wall clock, a longer bound looked the sooner. */
  private at = Infinity;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly due: () => void) {}

  /** `due` runs within `ms` from now, if that is sooner than it would have. */
  within(ms: number): void {
    const at = performance.now() + ms;
    if (at >= this.at) return;
    this.at = at;
    if (this.timer !== null) clearTimeout(this.timer);
    // Neither keeps the gateway's event loop alive: the stop it belongs to awaits its own end.
    this.timer = setTimeout(this.due, ms).unref();
  }

  /** `due` will not run (what it would have ended ended first). */
  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
