// Recycling (SPEC §2 max_requests, max_memory): the replacement starts and passes its probe
// first, then the old worker drains; no request fails on the way.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { MEMORY_CHECK_ENV } from '../../src/supervisor/worker-pool.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus } from '../helpers/status.js';

const test = suite('recycle');
const apps = tempDir('apppkg-recycle-apps-');
const state = tempDir('apppkg-recycle-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
const seen = new Set<number>();
/** Its gateway reads its workers' RSS this often (3 s unless a test says), so a recycle comes within a moment. */
const MEMORY_CHECK_MS = 200;
/**
 * A memory check is not seen from outside: that one did not recycle a worker is known only once
 * several have run. Ten, where the test waited past two at 3 s: a loaded host delays a timer.
 */
const CHECKS_PASSED = 10;

test.before(async () => {
  addPackage(apps.path, 'faults', 'counted', { 'app.yaml': [[/$/, 'health: /status/200\n']] });
  addPackage(apps.path, 'faults', 'fat');
  addPackage(apps.path, 'faults', 'timed');
  addPackage(apps.path, 'faults', 'busy');
  // 40 MiB held from its import on: over its max_memory (32MB) before any request.
  addPackage(apps.path, 'faults', 'lazy');
  addPackage(apps.path, 'faults', 'heavy', { 'faults.py': [[/^HELD = \[\]$/m, 'HELD = [b"\\x01" * (40 << 20)]']] });
  writeFileSync(envFile, 'apps:\n  counted: {workers: 1, max_requests: 5}\n  fat: {workers: 1, max_memory: 64MB}\n  timed: {workers: 1, threads: 4, max_requests: 3, timeout: 2}\n  busy: {workers: 1, max_requests: 3}\n  heavy: {workers: 1, max_memory: 32MB}\n  lazy: {workers: 1, max_memory: 32MB}\n');
  gw = await startCli([
    '--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path,
    '--environment', envFile, '--access-log', 'off',
  ], { env: { [MEMORY_CHECK_ENV]: String(MEMORY_CHECK_MS) } });
  for (const pid of [...(await pidsOf('counted')), ...(await pidsOf('fat')), ...(await pidsOf('timed')), ...(await pidsOf('busy')), ...(await pidsOf('heavy')), ...(await pidsOf('lazy'))]) seen.add(pid);
});

test.after(async () => {
  if (gw) for (const pid of [...(await pidsOf('counted').catch(() => [])), ...(await pidsOf('fat').catch(() => [])), ...(await pidsOf('timed').catch(() => [])), ...(await pidsOf('busy').catch(() => [])), ...(await pidsOf('heavy').catch(() => [])), ...(await pidsOf('lazy').catch(() => []))]) seen.add(pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

async function pidsOf(name: string): Promise<number[]> {
  const status = (await (await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 })).body.json()) as {
    apps: Array<{ name: string; workers: Array<{ pid: number }> }>;
  };
  return status.apps.find((a) => a.name === name)?.workers.map((w) => w.pid) ?? [];
}

/** `name` keeps `pid`, alone, through CHECKS_PASSED memory checks: fails at the first sign of its recycle. */
async function keptThroughChecks(name: string, pid: number): Promise<void> {
  const until = performance.now() + CHECKS_PASSED * MEMORY_CHECK_MS;
  do {
    assert.not.ok(gw.output().includes(`${name}: recycling worker ${pid}:`), gw.output());
    assert.equal(await pidsOf(name), [pid]);
    await new Promise((resolve) => setTimeout(resolve, ASK_GATEWAY_EVERY_MS));
  } while (performance.now() < until);
  assert.not.ok(gw.output().includes(`${name}: recycling worker ${pid}:`), gw.output());
  assert.equal(await pidsOf(name), [pid]);
}

async function pidFrom(path: string): Promise<{ status: number; pid: number }> {
  const res = await request(`${gw.url}${path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, pid: Number(await res.body.text()) };
}

test('max_requests 5: 20 requests in a loop all succeed, and the worker pids changed', async () => {
  const [first] = await pidsOf('counted');
  const pids: number[] = [];
  for (let i = 0; i < 20; i++) {
    // A little time per request, so that replacements (start + probe) come up during the loop.
    const r = await pidFrom('/counted/sleep?t=0.1');
    assert.is(r.status, 200, `request ${i + 1}`);
    pids.push(r.pid);
    seen.add(r.pid);
  }
  assert.is(pids[0], first);
  assert.match(gw.output(), new RegExp(`counted: recycling worker ${first}: served \\d+ requests \\(max_requests 5\\)`));
  // Usually several workers served the loop; on a slow box the replacement may come up after it.
  await waitFor(async () => {
    const now = await pidsOf('counted');
    return now.length === 1 && now[0] !== first && now;
  }, 10_000, 'a new worker, alone', ASK_GATEWAY_EVERY_MS);
  const current = await pidsOf('counted');
  const replaced = [first, ...new Set(pids)].filter((p) => !current.includes(p));
  await assertNoOrphans(replaced, 10_000);
});

test('max_requests 3 with one worker, under 60 requests at once: no worker serves more than 3, and none fails (the rest wait for the replacement)', async () => {
  const served = new Map<number, number>();
  const results = await Promise.all(Array.from({ length: 60 }, () => pidFrom('/busy/')));
  for (const r of results) {
    assert.is(r.status, 200);
    served.set(r.pid, (served.get(r.pid) ?? 0) + 1);
    seen.add(r.pid);
  }
  const most = Math.max(...served.values());
  assert.ok(most <= 3, `a worker served ${most} requests, past max_requests 3`);
  for (const pid of await pidsOf('busy')) seen.add(pid);
});

test('max_memory: a worker over it (RSS read at every memory check) is replaced once it served a request', async () => {
  const [fat] = await pidsOf('fat');
  assert.is((await pidFrom('/fat/grow?mb=80')).pid, fat);
  await waitFor(() => gw.output().includes(`fat: recycling worker ${fat}: resident memory`), 10_000, 'the memory recycle');
  await waitFor(async () => {
    const pids = await pidsOf('fat');
    return pids.length === 1 && pids[0] !== fat;
  }, 10_000, 'the replacement alone', ASK_GATEWAY_EVERY_MS);
  await assertNoOrphans([fat], 10_000);
  // Status tells of it (no restart: the worker was replaced on purpose), for the page and `status`.
  const [worker] = (await appStatus(gw, 'fat')).workers;
  assert.is(worker.restarts, 0);
  assert.is(worker.recycled, 1);
  assert.match(worker.lastRecycle.reason, /resident memory .* is over max_memory/);
  const after = await pidFrom('/fat/');
  assert.is(after.status, 200);
  seen.add(after.pid);
});

// max_memory below what the app takes after its import: each worker was over it from its start,
// so recycled after every request (one log line each time, no hint), its replacement as big.
test('max_memory below what the app takes after its import: said once, with its RSS and the fix, in both logs and status; the worker serves on, not recycled', async () => {
  const line = "heavy: max_memory 32.0 MiB is below what the app takes after its import (a worker's resident memory is ";
  await waitFor(() => gw.output().includes(line), 15_000, 'the note on max_memory');
  const [heavy] = await pidsOf('heavy');
  for (let i = 0; i < 5; i++) {
    const r = await pidFrom('/heavy/');
    assert.is(r.status, 200);
    assert.is(r.pid, heavy, `request ${i + 1}`);
  }
  // Past several memory checks: before, the first of them recycled the worker.
  await keptThroughChecks('heavy', heavy);
  assert.is((await pidFrom('/heavy/')).pid, heavy);
  const [worker] = (await appStatus(gw, 'heavy')).workers;
  assert.is(worker.recycled, 0);
  assert.match(worker.memoryNote, /^max_memory 32\.0 MiB is below what the app takes after its import \(a worker's resident memory is \d+\.\d MiB as it begins serving\): its workers are not recycled for their memory, since each replacement would be over it too; raise max_memory above \d+\.\d MiB plus what a worker grows by as it serves \(e\.g\. max_memory: \d+MB\) in the environment file$/);
  assert.is(gw.output().split(line).length - 1, 1, 'said once');
  assert.not.match(gw.output(), 'heavy: recycling worker');
  const appLog = readFileSync(join(state.path, 'apps', 'heavy', 'log', 'app.log'), 'utf8');
  assert.match(appLog, "[apppkg-gateway] max_memory 32.0 MiB is below what the app takes after its import (a worker's resident memory is ");
});

// b449249 turned memory recycles off for good once the note was out: a worker that then leaked
// grew until max_requests, or the kernel's OOM killer. The note is about the app's own size; a
// worker past twice that is a leak, recycled all the same (recycle.ts leakPastNote).
test('max_memory below what the app takes after its import, then a leak on request: the worker past twice what it took is recycled; the note stays, its replacement serves', async () => {
  const [heavy] = await pidsOf('heavy');
  const taken = await waitFor(async () => (await appStatus(gw, 'heavy')).workers[0].rssBytes as number | null, 10_000, 'its RSS in status', ASK_GATEWAY_EVERY_MS);
  // 40 MiB held from its import, and the interpreter: 55 to 60 MiB. 3 times that is past twice.
  const grow = Math.ceil((taken * 2) / 1024 ** 2);
  const r = await pidFrom(`/heavy/grow?mb=${grow}`);
  assert.is(r.pid, heavy);
  await waitFor(() => gw.output().includes(`heavy: recycling worker ${heavy}: resident memory `), 15_000, () => `the leaking worker's recycle\n${gw.output()}`);
  assert.match(gw.output(), new RegExp(`heavy: recycling worker ${heavy}: resident memory \\d+\\.\\d MiB is over 2 times what the app takes \\(\\d+\\.\\d MiB; max_memory 32\\.0 MiB is below that, as said\\): it grows as it serves`));
  await waitFor(async () => {
    const pids = await pidsOf('heavy');
    return pids.length === 1 && pids[0] !== heavy;
  }, 15_000, 'the replacement alone', ASK_GATEWAY_EVERY_MS);
  await assertNoOrphans([heavy], 10_000);
  const after = await pidFrom('/heavy/');
  assert.is(after.status, 200);
  seen.add(after.pid);
  const [worker] = (await appStatus(gw, 'heavy')).workers;
  assert.is(worker.recycled, 1);
  assert.match(worker.memoryNote, 'is below what the app takes after its import');
  // The replacement, as big as the app is, is not recycled: past several memory checks.
  await keptThroughChecks('heavy', after.pid);
});

// The same loop when the app grows past it at its first request (an import made then, a cache
// filled): every worker recycled after one request, for good.
test('max_memory below what the app takes at its first requests: after 3 workers in a row over it, said once; the last serves on, not recycled', async () => {
  const line = 'lazy: max_memory 32.0 MiB is below what the app takes after its first requests (3 workers in a row were over it within 3 requests each, the last at ';
  for (let i = 0; i < 6 && !gw.output().includes(line); i++) {
    const r = await pidFrom('/lazy/grow?mb=40');
    assert.is(r.status, 200);
    seen.add(r.pid);
    await waitFor(async () => {
      if (gw.output().includes(line)) return true;
      const pids = await pidsOf('lazy');
      return pids.length === 1 && pids[0] !== r.pid;
    }, 15_000, `worker ${r.pid} replaced alone, or the note`, ASK_GATEWAY_EVERY_MS);
    for (const pid of await pidsOf('lazy')) seen.add(pid);
  }
  assert.ok(gw.output().includes(line), gw.output());
  const [lazy] = await pidsOf('lazy');
  await keptThroughChecks('lazy', lazy);
  assert.is((await pidFrom('/lazy/')).pid, lazy);
  const [worker] = (await appStatus(gw, 'lazy')).workers;
  assert.is(worker.recycled, 2);
  assert.match(worker.memoryNote, 'is below what the app takes after its first requests');
  assert.is(gw.output().split(line).length - 1, 1, 'said once');
});

test('a request past its timeout on the worker being recycled is the 504 it is, not a 502 when the worker is stopped', async () => {
  for (let i = 0; i < 3; i++) assert.is((await pidFrom('/timed/sleep?t=0')).status, 200);
  // The third request reached max_requests: the worker is replaced, and this one runs past the
  // timeout. 4 s: past the 2 s timeout and the 504 sweep's tick with room for a loaded host, and
  // over by the time a drain (the timeout and 2 s) would end, so the gateway's stop after the
  // last case waits for no sleeping thread.
  const res = await request(`${gw.url}/timed/sleep?t=4`, { headersTimeout: 15_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 504, body);
  for (const pid of await pidsOf('timed')) seen.add(pid);
});

// The case above cannot tell a drain that ends at the timeout from one that outlasts it: the
// request runs on the replacement, and a recycled worker's drain begins only once its
// replacement is up. Here the long request is the one that reaches max_requests, and with no room
// for a replacement under --max-workers the worker drains from then on: a drain of only the
// timeout killed it about when the 504 was due, a 502 (found outside, 89c42d86).
test('a request past its timeout on a worker that drains at once (no room for its replacement) is the 504 it is', async () => {
  const ownApps = tempDir('apppkg-recycle-noroom-apps-');
  const ownState = tempDir('apppkg-recycle-noroom-state-');
  let own: RunningGateway | undefined;
  try {
    addPackage(ownApps.path, 'faults', 'timed');
    const env = join(ownState.path, 'environment.yaml');
    writeFileSync(env, 'apps:\n  timed: {workers: 1, threads: 4, max_requests: 3, timeout: 2}\n');
    own = await startCli([
      '--apps', ownApps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', ownState.path,
      '--environment', env, '--access-log', 'off', '--max-workers', '1',
    ]);
    for (let i = 0; i < 2; i++) assert.is((await request(`${own.url}/timed/sleep?t=0`, { headersTimeout: 10_000 })).statusCode, 200);
    const res = await request(`${own.url}/timed/sleep?t=4`, { headersTimeout: 15_000 });
    const body = await res.body.text();
    assert.match(own.output(), /no room under --max-workers for a replacement beside worker \d+; it drains first/);
    assert.is(res.statusCode, 504, body + own.output());
  } finally {
    await own?.stop();
    ownApps.remove();
    ownState.remove();
  }
});

test.run();
