// A timer that judges a peer's silence (no pong, no head, no answer to a probe) fires in the
// loop's timers phase, which comes before the poll for I/O. After a stall of the whole loop (a
// long GC, the host swapping, the gateway SIGSTOPped and continued) every such timer is due at
// once, and the answer the peer sent in time waits in the kernel, unread: judged then, a healthy
// worker is killed as hung, a head that came in time is answered 408. Deferred to the check
// phase, the judgement comes after the poll has read what is there.

/** Runs `judge` once the loop has polled its sockets and pipes after this turn. */
export function afterNextPoll(judge: () => void): void {
  setImmediate(judge);
}

/**
 * setTimeout whose callback runs after the next poll that follows its expiry: for a bound on
 * a peer's silence. Clearing the timer before it fires cancels it; after, the callback must
 * itself see that the answer came meanwhile (a `settled` flag, a counter).
 */
export function silenceTimeout(judge: () => void, ms: number): NodeJS.Timeout {
  return setTimeout(afterNextPoll, ms, judge);
}
