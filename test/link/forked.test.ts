// A process the app forks from a worker (os.fork(), multiprocessing's fork start method) gets
// none of the worker's link and none of its stop (python-shim/apppkg_shim/forked.py): a child
// that returns from the view ends off the link instead of serving on it as a second worker,
// a child that lives on holds neither link socket, and SIGTERM (Process.terminate()) ends it.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { get, startLinkHarness, waitGone, type LinkHarness } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';

const t = suite<{ harness?: LinkHarness }>('forked');
t.after.each(async (ctx) => {
  await ctx.harness?.stop();
  ctx.harness = undefined;
});

/** Whether `pid` has exited: gone, or a zombie its parent (the worker, which never waits for the app's children) has not reaped. */
function exited(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

/** The targets of `pid`'s open fds, by fd number. */
function openFds(pid: number): Record<string, string> {
  const fds: Record<string, string> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds[fd] = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      // closed meanwhile
    }
  }
  return fds;
}

t('a child that returns from the view instead of os._exit() exits, saying so, and never answers on the link', async (ctx) => {
  const h = (ctx.harness = await startLinkHarness('forked', { threads: 2 }));
  const worker = h.workers[0];
  const r = await get(`${h.url}/forkret`);
  assert.is(r.status, 200);
  const child = Number(/^parent (\d+)$/.exec(r.body)?.[1]);
  assert.ok(child > 0, r.body);
  // It used to go on as a second worker on the same link, reading its parent's frames.
  await waitFor(() => exited(child), 5000, `child ${child} to exit`);
  await waitFor(() => h.output.some((l) => l.includes(`apppkg-shim[${child}]: this process, forked by the app from worker ${worker.pid}, returned into the worker's code`)), 5000, 'the line saying why the child exited');
  for (let i = 0; i < 10; i++) {
    const again = await get(`${h.url}/`);
    assert.is(again.body, String(worker.pid));
  }
});

t('a child that lives on holds neither of the link sockets', async (ctx) => {
  const h = (ctx.harness = await startLinkHarness('forked', { threads: 1 }));
  const worker = h.workers[0];
  const own = openFds(worker.pid!);
  const link = [own['3'], own['4']];
  assert.match(link.join(' '), /^socket:\[\d+\] socket:\[\d+\]$/);
  const child = Number((await get(`${h.url}/holder`)).body);
  assert.ok(child > 0);
  // The child closes them right after the fork, which may be after the parent has answered.
  const held = (): string[] => Object.values(openFds(child)).filter((target) => link.includes(target));
  await waitFor(() => held().length === 0, 5000, () => `the child to close the link (it holds ${held().join(', ')})`);
  await h.stop();
  ctx.harness = undefined;
  // The worker's stop ends its process group, the child with it.
  await waitGone(child, 5000);
});

t('Process.terminate() of a process forked in a request ends it (SIGTERM is no longer the worker\'s)', async (ctx) => {
  const h = (ctx.harness = await startLinkHarness('forked', { threads: 1 }));
  const r = await get(`${h.url}/terminate`, {}, 20_000);
  assert.is(r.status, 200);
  assert.is(r.body, '-15');
});

t('ASGI: Process.terminate() ends the process, and its SIGTERM does not reach the worker through the loop\'s wakeup fd', async (ctx) => {
  const h = (ctx.harness = await startLinkHarness('forked-asgi', { threads: 2 }));
  const worker = h.workers[0];
  const r = await get(`${h.url}/terminate`, {}, 30_000);
  assert.is(r.status, 200);
  assert.is(r.body, '-15');
  // A child's signal written into the wakeup fd it shares with its parent stopped the parent.
  assert.is(worker.state, 'ready');
  assert.is((await get(`${h.url}/`)).body, String(worker.pid));
});

t('ASGI: a child that goes on with the request into the worker\'s loop exits there, saying so', async (ctx) => {
  const h = (ctx.harness = await startLinkHarness('forked-asgi', { threads: 2 }));
  const worker = h.workers[0];
  const r = await get(`${h.url}/forkret`);
  const child = Number(/^parent (\d+)$/.exec(r.body)?.[1]);
  assert.ok(child > 0, r.body);
  await waitFor(() => exited(child), 5000, `child ${child} to exit`);
  // Its line reaches the harness through the worker's stderr pipe, which may not be read yet.
  await waitFor(() => h.output.some((l) => l.startsWith(`apppkg-shim[${child}]: this process, forked by the app from worker ${worker.pid}, returned`)), 5000, () => `the line saying why the child exited, in:\n${h.output.join('\n')}`);
  for (let i = 0; i < 5; i++) assert.is((await get(`${h.url}/`)).body, String(worker.pid));
});

t.run();
