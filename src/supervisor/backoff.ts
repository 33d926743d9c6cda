// Restart delay and crash-loop detection, pure: no timers inside, so it is testable and the
// supervisor owns every timer it starts.

export interface BackoffPolicy {
  /** First delay after an unexpected exit. */
  initialMs: number;
  maxMs: number;
  /** A worker that stayed up this long is considered healthy again: the delay resets. */
  stableMs: number;
  /** This many exits within `windowMs` is a crash loop (shown in status, logged once). */
  loopCount: number;
  windowMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 500,
  maxMs: 30_000,
  stableMs: 30_000,
  loopCount: 5,
  windowMs: 60_000,
};

export class Backoff {
  private attempt = 0;
  private exits: number[] = [];
  private lastExitAt = -Infinity;

  constructor(private readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  /** Records an exit of a worker that had been up `uptimeMs`; returns the delay before restarting. */
  recordExit(now: number, uptimeMs: number): number {
    if (uptimeMs >= this.policy.stableMs) this.attempt = 0;
    this.exits = this.exits.filter((t) => now - t < this.policy.windowMs);
    this.exits.push(now);
    this.lastExitAt = now;
    const delay = Math.min(this.policy.maxMs, this.policy.initialMs * 2 ** this.attempt);
    this.attempt++;
    return delay;
  }

  /**
   * Many exits within the window; or, once the delay has reached its cap (a few exits apart by
   * it never make `loopCount` in the window), until a process has stayed up for `stableMs`
   * after the last exit: an app that dies at every start is still one at a 30 s delay.
   */
  isCrashLooping(now: number): boolean {
    if (this.exits.filter((t) => now - t < this.policy.windowMs).length >= this.policy.loopCount) return true;
    const atCap = this.attempt > 0 && this.policy.initialMs * 2 ** (this.attempt - 1) >= this.policy.maxMs;
    return atCap && now - this.lastExitAt < this.policy.maxMs + this.policy.stableMs;
  }

  get restarts(): number {
    return this.attempt;
  }
}
