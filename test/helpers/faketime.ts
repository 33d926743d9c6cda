// A wall clock a test can step under a running gateway, as NTP or `date -s` steps the host's:
// libfaketime (Debian's faketime) preloaded into the CLI and its children, reading its offset
// from a file on every call. Only CLOCK_REALTIME is faked: the monotonic clock, on which
// durations ought to be measured, runs on untouched, so what a step breaks is what measured a
// duration on the wall clock.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './process.js';

const LIBRARY = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => existsSync(p));

export const hasFaketime = LIBRARY !== undefined;
export const NO_FAKETIME = 'needs libfaketime (apt-get install faketime)';

export interface SteppedClock {
  /** For startCli's env: the CLI and every process it starts read the stepped wall clock. */
  env: NodeJS.ProcessEnv;
  /** Moves the wall clock by `seconds` (negative: back) from where it is now. */
  step(seconds: number): void;
  remove(): void;
}

export function steppedClock(): SteppedClock {
  if (LIBRARY === undefined) throw new Error(NO_FAKETIME);
  const dir = tempDir('apppkg-faketime-');
  const file = join(dir.path, 'offset');
  let offset = 0;
  const write = () => writeFileSync(file, `${offset >= 0 ? '+' : ''}${offset}\n`);
  write();
  return {
    env: {
      LD_PRELOAD: LIBRARY,
      FAKETIME_TIMESTAMP_FILE: file,
      // Read the file at every call, not once a few seconds: a step is seen at once.
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    },
    step(seconds) {
      offset += seconds;
      write();
    },
    remove: () => dir.remove(),
  };
}
