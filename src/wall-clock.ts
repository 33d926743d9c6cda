// Durations and deadlines are kept on the monotonic clock (performance.now()): the wall clock
// may be stepped under the gateway (NTP after a VM resumes, an admin's `date -s`), and a step
// must not expire a timeout or postpone one. What a person reads as a time of day is the wall
// clock's, so an instant kept on the monotonic clock is turned into one only to be shown.

/**
 * The wall clock's reading at the monotonic clock's zero. Kept, not read anew at each call: two
 * readings of the two clocks differ by a fraction of a millisecond each time, and an instant
 * shown twice (a status's lastActive) must read the same, or /events sends a status for nothing.
 * Taken again when the clocks have drifted a second apart: the wall clock was stepped.
 */
let wallAtZero = Date.now() - performance.now();

/** The wall-clock time (Date.now() ms) of `monotonicMs`, an instant read from performance.now(). */
export function wallTimeOf(monotonicMs: number): number {
  const now = Date.now() - performance.now();
  if (Math.abs(now - wallAtZero) > 1000) wallAtZero = now;
  return wallAtZero + monotonicMs;
}
