// What npm test counts of a test process's CPU (scripts/process-cpu.mjs, scripts/test.mjs): a
// child the process waits for in its last moments is in it. Read from /proc once a second,
// typecheck.test.ts was recorded at 0 s for tsc's ~17 s (tsc reaped, the process gone, before
// the next reading). Real processes: a Node process that runs a CPU-bound child with spawnSync
// and ends at once after it. Needs /proc (Linux): skipped elsewhere.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { spawnNodeMeasured } from '../scripts/process-cpu.mjs';
import { runIf } from './helpers/skip.js';

const test = suite('a test process\'s CPU');
const withProc = runIf(test, existsSync('/proc/self/stat'), 'needs /proc (Linux) to read a process\'s CPU');

/** CPU seconds the child burns: well past a tick (0.01 s) on any host, well under the poll's second of wall time on a busy one. */
const BURN_S = 0.6;
const BURN = `const t = process.cpuUsage(); while ((({ user, system }) => user + system)(process.cpuUsage(t)) < ${BURN_S * 1e6});`;
// The child's own CPU (its Node start, ~0.05 s) is too small to pass for the burn's.
const PARENT = `require('node:child_process').spawnSync(process.execPath, ['-e', ${JSON.stringify(BURN)}], { stdio: 'inherit', timeout: 60_000 });`;

withProc('a child reaped just before the process ends is counted: its CPU as the process reports it at its exit', async () => {
  const { child, ended } = spawnNodeMeasured(['-e', PARENT], { stdio: 'ignore' });
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the measured process did not end within 90 s'));
    }, 90_000);
  });
  try {
    const { code, cpu } = await Promise.race([ended, bounded]);
    assert.is(code, 0);
    assert.ok(cpu >= BURN_S - 0.05, `counted ${cpu} s of CPU; the child burned ${BURN_S} s`);
  } finally {
    clearTimeout(timer);
  }
});

test.run();
