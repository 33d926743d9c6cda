// No orphans, ever (SPEC 4): SIGKILL the Node side and the Python worker must go by itself,
// idle or with every thread stuck in the app. Polls the real pid until it is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { waitGone, withDeadline } from '../helpers/link-harness.js';
import { guardsEnded, TS_REGISTER } from '../helpers/process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const t = suite<{ children: ChildProcess[]; pids: number[] }>('orphans');
t.before.each((ctx) => {
  ctx.children = [];
  ctx.pids = [];
});
t.after.each((ctx) => {
  for (const child of ctx.children) child.kill('SIGKILL');
  for (const pid of ctx.pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

/** A Node process that starts a worker (and optionally sends it a stuck request), then waits. */
function gatewayChild(script: string): { child: ChildProcess; info: Promise<{ pid: number }> } {
  const child = spawn(process.execPath, ['--import', TS_REGISTER, '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = withDeadline(
    new Promise<{ pid: number }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += c;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as { pid: number });
      });
      child.once('exit', (code) => reject(new Error(`the gateway child exited (${code}) before reporting`)));
    }),
    20_000,
    'the worker pid',
  );
  return { child, info };
}

const IDLE = `
import { workerFor } from './test/helpers/link-harness.ts';
const w = workerFor('slow', { threads: 2 });
await w.start(15000);
console.log(JSON.stringify({ pid: w.pid }));
setInterval(() => {}, 1000);
`;

const BUSY = `
import http from 'node:http';
import { startLinkHarness } from './test/helpers/link-harness.ts';
const h = await startLinkHarness('slow', { workers: 1, threads: 1 });
http.get(h.url + '/?t=60').on('error', () => {});
setTimeout(() => console.log(JSON.stringify({ pid: h.workers[0].pid })), 300);
`;

t('SIGKILL of the Node side: an idle worker exits (its socket closed)', async (ctx) => {
  const { child, info } = gatewayChild(IDLE);
  ctx.children.push(child);
  const { pid } = await info;
  ctx.pids.push(pid);
  process.kill(pid, 0); // alive
  child.kill('SIGKILL');
  await waitGone(pid, 5000);
  await guardsEnded(child.pid);
});

t('SIGKILL of the Node side: a worker whose only thread is stuck in the app exits too', async (ctx) => {
  const { child, info } = gatewayChild(BUSY);
  ctx.children.push(child);
  const { pid } = await info;
  ctx.pids.push(pid);
  process.kill(pid, 0);
  child.kill('SIGKILL');
  await waitGone(pid, 5000);
  await guardsEnded(child.pid);
  assert.ok(true);
});

t.run();
