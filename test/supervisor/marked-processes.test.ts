// A guarded tree's end scans /proc for the processes that carry its mark (process-group.ts).
// With 30 apps going to sleep together, each worker's stop scanned it twice, and every scan
// read every environ file of the host at once, each into a fresh 64 KiB buffer: the gateway's
// RSS grew by 0.15-0.5 MiB per cold start, glibc's heap fragmented (docs/performance.md, "Many
// apps"). Now the trees that end together share a scan, read by a few readers with buffers
// they keep.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { procScans, signalMarked } from '../../src/supervisor/marked-processes.js';
import { assertNoOrphans, isAlive, waitFor } from '../helpers/process.js';

const test = suite('marked processes');
const NAME = 'APPPKG_TEST_MARK';
const started: ChildProcess[] = [];

test.after.each(async () => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
});

function marked(value: string): ChildProcess {
  const child = spawn('sleep', ['60'], { env: { ...process.env, [NAME]: value }, stdio: 'ignore' });
  started.push(child);
  return child;
}

/** Each descriptor of this process that names an environ file of /proc now, with that file. */
function environDescriptors(): Map<string, string> {
  const held = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^\/proc\/\d+\/environ$/.test(target)) held.set(fd, target);
    } catch {
      // closed meanwhile
    }
  }
  return held;
}

/**
 * The environ files this process held open at once, at least: those two passes over its
 * descriptors both found, each under the same descriptor. One pass alone over-counts: libuv's
 * threads open and close while it reads, so a reader that moved on from a descriptor already
 * counted to one not yet read was counted twice (a pass saw 5 with 4 readers). What both passes
 * found was open from its first reading to its second, so all of them between the passes.
 */
function environFilesOpen(): number {
  const first = environDescriptors();
  let open = 0;
  for (const [fd, target] of environDescriptors()) if (first.get(fd) === target) open++;
  return open;
}

test('twenty trees ending together: one or two scans, at most four environ files open, only the marked processes signalled', async () => {
  const marks = Array.from({ length: 20 }, (_, i) => `${process.pid}.t${i}`);
  const children = marks.map(marked);
  // A mark that begins like another's is not that mark: the entry must match whole.
  const lookalike = marked(`${marks[0]}0`);
  await waitFor(() => [...children, lookalike].every((c) => c.pid !== undefined), 5000, 'the spawns');
  const pids = children.map((c) => c.pid!);

  let mostOpen = 0;
  let scanning = true;
  const watch = (async () => {
    while (scanning) {
      mostOpen = Math.max(mostOpen, environFilesOpen());
      await new Promise(setImmediate);
    }
  })();
  const scansBefore = procScans();
  await Promise.all(marks.map((mark) => signalMarked(NAME, mark, 'SIGKILL')));
  scanning = false;
  await watch;

  await assertNoOrphans(pids);
  assert.ok(isAlive(lookalike.pid!), 'the process whose mark only begins like one was signalled');
  assert.ok(mostOpen <= 4, `expected at most 4 environ files open at once, saw ${mostOpen}`);
  const scans = procScans() - scansBefore;
  assert.ok(scans >= 1 && scans <= 2, `expected the 20 requests to share 1-2 scans of /proc, got ${scans}`);
});

test('a request made while a scan runs waits for a scan that begins after it', async () => {
  const first = marked(`${process.pid}.early`);
  const late = marked(`${process.pid}.late`);
  await waitFor(() => first.pid !== undefined && late.pid !== undefined, 5000, 'the spawns');
  const scansBefore = procScans();
  const early = signalMarked(NAME, `${process.pid}.early`, 'SIGKILL');
  // The first scan is on its way once it has counted itself.
  await waitFor(() => procScans() > scansBefore, 5000, 'the first scan to begin');
  await signalMarked(NAME, `${process.pid}.late`, 'SIGKILL');
  await early;
  assert.is(procScans() - scansBefore, 2);
  await assertNoOrphans([first.pid!, late.pid!]);
});

test('an environment larger than a reader\'s buffer is read whole: a mark at its end is found', async () => {
  const child = spawn('sleep', ['60'], { env: { ...process.env, PADDING: 'x'.repeat(100_000), [NAME]: `${process.pid}.big` }, stdio: 'ignore' });
  started.push(child);
  await waitFor(() => child.pid !== undefined, 5000, 'the spawn');
  await signalMarked(NAME, `${process.pid}.big`, 'SIGKILL');
  await assertNoOrphans([child.pid!]);
});

/** Scans of a process that execs all the time: without waiting for its exec, more than one in ten missed it. */
const SCANS = 100;

test('a marked process caught in the middle of an exec (its environ reads empty then) is still found', async () => {
  // A shell that execs itself over and over, counting a while between: each exec has a moment
  // in which the kernel shows its environ empty, as it did for a hook's `sleep 600 &` exec'ing
  // just as its shell exited.
  const again = 'i=0; while [ $i -lt 100 ]; do i=$((i+1)); done; exec /bin/sh -c "$0" "$0"';
  const child = spawn('/bin/sh', ['-c', again, again], { env: { PATH: process.env.PATH, [NAME]: `${process.pid}.exec` }, stdio: 'ignore' });
  started.push(child);
  await waitFor(() => child.pid !== undefined, 5000, 'the spawn');
  let missed = 0;
  for (let scan = 0; scan < SCANS; scan++) if ((await signalMarked(NAME, `${process.pid}.exec`, 0)) === 0) missed++;
  assert.is(missed, 0, `missed in ${missed} of ${SCANS} scans`);
});

test.run();
