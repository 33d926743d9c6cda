// An app writing faster than its output's rate has its pipes paused (it then blocks on its own
// write) and resumed once the time is paid back: every line arrives, in order, and it is said
// once. A real Python child on real pipes; the rate is small so that the test is short.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { OutputThrottle } from '../../src/log/output-throttle.js';
import { orAfter, waitFor } from '../helpers/process.js';

test('a child writing past the rate is paused and resumed; every line comes, in order; slowed is said once', async () => {
  let slowed = 0;
  const throttle = new OutputThrottle({ bytesPerSecond: 256 * 1024, burstBytes: 64 * 1024, onSlowed: () => slowed++ });
  // 1 MiB in 100-byte lines: past the 64 KiB burst it waits about 3.7 s in all.
  const child = spawn('python3', ['-c', 'import sys\nfor i in range(10486):\n    sys.stdout.write("%09d %s\\n" % (i, "x" * 89))\nsys.stdout.flush()\nsys.stderr.write("done\\n")\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let pausedSeen = false;
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (err += c));
  throttle.read(child.stdout);
  throttle.read(child.stderr);
  const sampler = setInterval(() => (pausedSeen ||= throttle.isPaused), 20);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    await waitFor(() => pausedSeen, 20_000, 'the child\'s pipes to be paused');
    assert.is(await orAfter(60_000, () => 'still running after 60 s', exited), 0);
  } finally {
    clearInterval(sampler);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  const lines = out.split('\n').filter(Boolean);
  assert.is(lines.length, 10486, 'every line');
  lines.forEach((line, i) => {
    if (Number(line.slice(0, 9)) !== i) assert.unreachable(`line ${i} is ${line.slice(0, 9)}`);
  });
  assert.is(err, 'done\n');
  assert.is(slowed, 1, 'said once');
  await waitFor(() => !throttle.isPaused, 10_000, 'the last pause to end');
});

test('output below the rate is never paused', async () => {
  let slowed = 0;
  const throttle = new OutputThrottle({ bytesPerSecond: 1024 * 1024, burstBytes: 4 * 1024 * 1024, onSlowed: () => slowed++ });
  // A traceback burst: 200 KiB at once.
  const child = spawn('python3', ['-c', 'import sys\nsys.stderr.write(("File \\"x.py\\", line 1, in f\\n" * 7000))\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.resume();
  child.stderr.resume();
  throttle.read(child.stdout);
  throttle.read(child.stderr);
  const code = await orAfter(30_000, () => 'still running after 30 s', new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c))));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  assert.is(code, 0);
  assert.is(slowed, 0);
});

test.run();
