// Bodies that pass through the gateway are garbage as soon as they are written on: every chunk a
// socket reads is a fresh off-heap buffer, freed only when a GC finds its small JS handle dead.
// V8 starts that GC on its own heuristics (the young generation filling with handles, external
// memory past a limit of tens of MiB), so a fast 1 GiB upload grew the gateway's RSS by ~35
// MiB of buffers already sent (bench/big-bodies.mjs; issue 11 bounds it at 32). Asking for a
// scavenge of the young generation, where these handles live, every SWEEP_BYTES of body
// forwarded bounds what dead buffers can hold. It is not free: on a 16 KiB answer's and a 64 KiB
// POST's way every young collection is one of these (~200 and ~790 per 100k requests, against
// ~65 and ~210 without), each (on a loaded 2-core machine) a pause of 0.2-0.4 ms holding every
// request in flight and 0.5-0.7 ms of CPU; a larger SWEEP_BYTES trades them for the front's
// memory (docs/performance.md, H271).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const SWEEP_BYTES = 8 * 1024 * 1024;

type GcFunction = (options: { type: 'minor' | 'major' }) => void;

// The documented way to get V8's gc() without --expose-gc on the command line, and without
// leaving it on globalThis for the rest of the process.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as GcFunction;
setFlagsFromString('--no-expose-gc');

let sinceSweep = 0;
let sweepArmed = false;

// The collection pauses the whole front. Run where the count crosses, it ran in the middle of a
// turn: among a link read's answers (a 16 KiB answer's `res.end`: ~4 more answers of the same read
// waited per sweep) or in a client's read (a POST's piece), and before the link's flush (a
// setImmediate), so that turn's REQUEST frames waited out its pause too. A setImmediate of our own
// would still come before the flushes queued after it in the turn; a timer runs in the next
// turn's timers phase, after this turn's check phase: every write of this turn has gone, and the
// workers are at work on its requests meanwhile (docs/performance.md, H281). The bytes passed
// until it runs are freed by it too, so they count from the sweep, not from the crossing.
const sweep = (): void => {
  sweepArmed = false;
  sinceSweep = 0;
  gc({ type: 'minor' });
};

/** Counts body bytes the gateway has passed on; every SWEEP_BYTES of them, a young-generation GC once the turn is done. */
export function bodyBytesPassed(bytes: number): void {
  sinceSweep += bytes;
  if (sinceSweep < SWEEP_BYTES || sweepArmed) return;
  sweepArmed = true;
  // unref: a sweep is no reason to keep a stopping gateway alive.
  setTimeout(sweep, 0).unref();
}
