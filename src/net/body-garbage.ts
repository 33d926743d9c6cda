// Bodies that pass through the gateway are garbage as soon as they are written on: every chunk a
// socket reads is a fresh off-heap buffer, freed only when a GC finds its small JS handle dead.
// V8 starts that GC on its own heuristics (the young generation filling with handles, external
// memory past a limit of tens of MiB), so a fast 1 GiB upload grew the gateway's RSS by ~35
// MiB of buffers already sent (bench/big-bodies.mjs; issue 11 bounds it at 32). A scavenge of
// the young generation, where these handles live, costs ~0.1 ms here: asking for one every
// SWEEP_BYTES of body forwarded bounds what dead buffers can hold, at ~1 ms per 100 MiB.
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

/** Counts body bytes the gateway has passed on; every SWEEP_BYTES of them, a young-generation GC. */
export function bodyBytesPassed(bytes: number): void {
  sinceSweep += bytes;
  if (sinceSweep < SWEEP_BYTES) return;
  sinceSweep = 0;
  gc({ type: 'minor' });
}
