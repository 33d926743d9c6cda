// `npm run bench`'s CPU by process (bench/peer-cpu.mjs): a peer's CPU per request, every process
// of its tree, and each worker's share, which flags a run one worker served alone (uvicorn's
// two workers under wrk -t1 -c32, docs/performance.md H344). Real processes: a master (Node)
// with two worker children found as its children, as the bench finds uvicorn's, gunicorn's and
// the gateway's; the workers burn a set amount of their own CPU, so what is asserted is CPU,
// never time. Needs /proc (Linux): skipped elsewhere.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuAfter, cpuBefore, ONE_WORKER_SHARE } from '../bench/peer-cpu.mjs';
import { descendants } from '../bench/peers.mjs';
import { assertNoOrphans, within } from './helpers/process.js';
import { runIf } from './helpers/skip.js';

const test = suite('bench: a peer\'s CPU by process');
const withProc = runIf(test, existsSync('/proc/self/stat'), 'needs /proc (Linux) to read a process\'s CPU');

/** CPU seconds a worker burns when told: many clock ticks (10 ms each) on any host. */
const BURN_S = 0.4;
const WORKER = `process.stdout.write('up\\n');
process.stdin.once('data', () => {
  const t = process.cpuUsage();
  while ((({ user, system }) => user + system)(process.cpuUsage(t)) < ${BURN_S * 1e6});
  process.stdout.write('burned\\n');
});`;
// The master: its workers, marked by their last argument as the bench's regexes mark a peer's;
// "go WHO" (both, or one) on its stdin starts them burning, "late" starting a worker only then,
// as a master replaces one; it says "ready" once its workers are up (their own start's CPU
// before the first reading), "done" once the burners have burned.
const MASTER = `const { spawn } = require('node:child_process');
const worker = () => new Promise((up) => {
  const w = spawn(process.execPath, ['-e', ${JSON.stringify(WORKER)}, 'bench-test-worker'], { stdio: ['pipe', 'pipe', 'inherit'] });
  w.stdout.once('data', () => up(w));
});
(async () => {
  const workers = [await worker()];
  if (process.argv[1] !== 'late') workers.push(await worker());
  process.stdout.write('ready\\n');
  process.stdin.once('data', async (line) => {
    if (workers.length < 2) workers.push(await worker());
    const burners = String(line).includes('both') ? workers : workers.slice(0, 1);
    let left = burners.length;
    for (const w of burners) {
      w.stdout.once('data', () => { if (--left === 0) process.stdout.write('done\\n'); });
      w.stdin.write('go\\n');
    }
  });
})();`;

async function withMaster(mode: 'one' | 'both' | 'late', run: (master: ChildProcess, next: () => Promise<string>) => Promise<void>): Promise<void> {
  const master = spawn(process.execPath, ['-e', MASTER, mode], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const lines = createInterface({ input: master.stdout! })[Symbol.asyncIterator]();
  const next = async () => String((await within(60_000, 'a line from the test master', lines.next())).value);
  let pids: number[] = [];
  try {
    assert.is(await next(), 'ready');
    pids = [master.pid!, ...descendants(master.pid!)];
    await run(master, next);
  } finally {
    pids = [...new Set([...pids, ...(master.exitCode === null ? descendants(master.pid!) : [])])];
    try {
      process.kill(-master.pid!, 'SIGKILL');
    } catch {}
    await assertNoOrphans(pids);
  }
}

const workersOf = (master: ChildProcess) => () =>
  new Set(descendants(master.pid!).filter((pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bench-test-worker')));

withProc('one worker burning while the other idles: shares of ~100%/0%, flagged as one worker served', async () => {
  await withMaster('one', async (master, next) => {
    const before = cpuBefore([master.pid!], workersOf(master));
    master.stdin!.write('go one\n');
    assert.is(await next(), 'done');
    const cpu = cpuAfter(before, 1000);
    assert.is(cpu.workerShares.length, 2, 'both workers found as children of the master');
    assert.ok(Math.max(...cpu.workerShares) > ONE_WORKER_SHARE, `shares ${cpu.workerShares}`);
    assert.ok(cpu.oneWorkerServed);
    assert.not.ok(cpu.changed);
    // 1000 "requests": µs per request x 1000 is the CPU of every process of the tree, in µs.
    assert.ok(cpu.usPerRequest * 1000 >= (BURN_S - 0.05) * 1e6, `in all ${cpu.usPerRequest * 1000} µs; a worker burned ${BURN_S * 1e6}`);
    assert.ok(cpu.workersUsPerRequest <= cpu.usPerRequest);
  });
});

withProc('both workers burning alike: even shares, not flagged', async () => {
  await withMaster('both', async (master, next) => {
    const before = cpuBefore([master.pid!], workersOf(master));
    master.stdin!.write('go both\n');
    assert.is(await next(), 'done');
    const cpu = cpuAfter(before, 1000);
    assert.is(cpu.workerShares.length, 2);
    for (const share of cpu.workerShares) assert.ok(share > 0.3 && share < 0.7, `shares ${cpu.workerShares}`);
    assert.not.ok(cpu.oneWorkerServed);
    assert.ok(cpu.workersUsPerRequest * 1000 >= 2 * (BURN_S - 0.05) * 1e6, `workers ${cpu.workersUsPerRequest * 1000} µs; each burned ${BURN_S * 1e6}`);
  });
});

withProc('a worker started between the readings counts, from its start, and the run says processes came', async () => {
  await withMaster('late', async (master, next) => {
    const before = cpuBefore([master.pid!], workersOf(master));
    assert.is(before.workers.length, 1);
    master.stdin!.write('go both\n');
    assert.is(await next(), 'done');
    const cpu = cpuAfter(before, 1000);
    assert.ok(cpu.changed);
    assert.is(cpu.workerShares.length, 2, 'the late worker is one of the workers');
    assert.not.ok(cpu.oneWorkerServed, `shares ${cpu.workerShares}`);
  });
});

test.run();
