// When an undelivered message is tried again (SPEC 5.3: "retries with back-off for up to two
// days"). Pure: the deliverer owns the clock and the timers.
//
// `retry` lists the waits between attempts, in seconds; the last one repeats. Past `giveUp`
// seconds after the message was received there is one last attempt at that moment, and a
// failure then makes it a dead letter. The defaults (host-file.ts MAIL_DEFAULTS) are
// 1 min, 5 min, 15 min, 1 h, then every 4 h, for 48 h: about 16 attempts.

export interface RetrySchedule {
  /** Seconds between attempts; the last one repeats. */
  retry: readonly number[];
  /** Seconds after receipt when the message is given up. */
  giveUp: number;
}

/**
 * After `failedAttempts` attempts (>= 1) have failed at `now` (ms), when to try next (ms on the
 * clock of `receivedAt` and `now`: the deliverer's is monotonic), or null when the message is to
 * be given up.
 */
export function nextAttemptAt(schedule: RetrySchedule, receivedAt: number, failedAttempts: number, now: number): number | null {
  const deadline = receivedAt + schedule.giveUp * 1000;
  if (now >= deadline) return null;
  const waits = schedule.retry.length > 0 ? schedule.retry : [60];
  const wait = waits[Math.min(failedAttempts - 1, waits.length - 1)] * 1000;
  return Math.min(now + wait, deadline);
}

/**
 * The longest wait between two attempts, in ms: no retry is ever scheduled further away, so a
 * spool's next attempt past it was written under a clock that has been stepped back since.
 */
export function longestWait(schedule: RetrySchedule): number {
  return Math.max(...(schedule.retry.length > 0 ? schedule.retry : [60])) * 1000;
}
