// Durations and deadlines are kept on the monotonic clock (performance.now()): the wall clock
// may be stepped under the gateway (NTP after a VM resumes, an admin's `date -s`), and a step
// must not expire a timeout or postpone one. What a person reads as a time of day is the wall
// clock's, so an instant kept on the monotonic clock is turned into one only to be shown.

/** The wall-clock time (Date.now() ms) of `monotonicMs`, an instant read from performance.now(). */
export function wallTimeOf(monotonicMs: number): number {
  return Date.now() - (performance.now() - monotonicMs);
}
