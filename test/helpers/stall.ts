// A stall of a whole process (a long GC, the host swapping), made with SIGSTOP and SIGCONT: what
// its peers send meanwhile waits in the kernel, unread, while the bounds it keeps run out. The
// tests of net/after-next-poll.ts: a bound judged before the poll after the stall took an answer
// that came in time for silence.
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from './process.js';

/** The state letter of process `pid` (proc(5): R running, S sleeping, T stopped...). */
export const processState = (pid: number): string => /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))![1];

/**
 * Stops `pid` for `ms`; `meanwhile` runs once it has stopped (what it makes a peer answer is not
 * read before the stall's end). The process is continued whatever `meanwhile` does.
 */
export async function stalled(pid: number, ms: number, meanwhile: () => void | Promise<void>): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  try {
    // The signal is sent, not yet taken: a loop still running would read the answer in time.
    await waitFor(() => processState(pid) === 'T', 10_000, `process ${pid} to stop`);
    await meanwhile();
    await delay(ms);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

/**
 * Runs `fn` with `pid` stopped; it is continued `continuedAfterMs` from now (a timer armed before
 * any stall of this loop, so its delay counts in real time), or once `fn` is done.
 */
export async function whileStopped(pid: number, continuedAfterMs: number, fn: () => Promise<void>): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const cont = setTimeout(() => process.kill(pid, 'SIGCONT'), continuedAfterMs);
  try {
    await waitFor(() => processState(pid) === 'T', 10_000, `process ${pid} to stop`);
    await fn();
  } finally {
    clearTimeout(cont);
    process.kill(pid, 'SIGCONT');
  }
}

/** Holds this process's own loop for `ms`, as a long GC does: no timer, no read, no flush runs meanwhile. */
export const holdLoop = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};
