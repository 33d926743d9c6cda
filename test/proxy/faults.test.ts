// Every failure status of SPEC §4, provoked for real through the gateway CLI and real Python:
// 413 (max_body), 504 (timeout, and the stuck worker recycled), 502 (a worker killed
// mid-request), 503 with Retry-After (the per-app queue full). Each body is short.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { RawConnection } from '../helpers/link-harness.js';
import { assertNoOrphans, isAlive, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('proxy faults');
const apps = tempDir('apppkg-faults-apps-');
const state = tempDir('apppkg-faults-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port = 0;
/** Every worker pid seen: none may outlive the gateway. */
const seen = new Set<number>();

test.before(async () => {
  addPackage(apps.path, 'faults', 'limits');
  addPackage(apps.path, 'faults', 'busy');
  addPackage(apps.path, 'faults', 'dying');
  addPackage(apps.path, 'faults', 'unqueued');
  writeFileSync(
    envFile,
    [
      'apps:',
      '  limits: {workers: 1, threads: 4, max_body: 1KB, timeout: 1}',
      '  busy: {workers: 1, threads: 1, queue: 1}',
      '  dying: {workers: 2, threads: 1}',
      '  unqueued: {workers: 1, queue: 0}',
      '',
    ].join('\n'),
  );
  gw = await startCli([
    '--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path,
    '--environment', envFile, '--access-log', 'off',
  ]);
  port = Number(new URL(gw.url).port);
  for (const pid of await workerPids()) seen.add(pid);
});

test.after(async () => {
  if (gw) for (const pid of await workerPids().catch(() => [])) seen.add(pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

async function appStatus(name: string): Promise<{ workers: Array<{ pid: number; inFlight: number }> }> {
  const res = await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 });
  const status = (await res.body.json()) as { apps: Array<{ name: string; workers: Array<{ pid: number; inFlight: number }> }> };
  return status.apps.find((a) => a.name === name)!;
}

async function workerPids(): Promise<number[]> {
  const res = await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 });
  const status = (await res.body.json()) as { apps: Array<{ workers: Array<{ pid: number }> }> };
  return status.apps.flatMap((a) => a.workers.map((w) => w.pid));
}

async function get(path: string, ms = 15_000) {
  const res = await request(`${gw.url}${path}`, { headersTimeout: ms, bodyTimeout: ms });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

function appLog(name: string): string {
  try {
    return readFileSync(join(state.path, 'apps', name, 'log', 'app.log'), 'utf8');
  } catch {
    return '';
  }
}

function assertShort(text: string, status: number): void {
  assert.ok(text.startsWith(`${status} `), text);
  assert.ok(text.length < 200, `a short body, got ${text.length} bytes`);
  assert.not.match(text, /Traceback/);
}

test('413: a Content-Length over max_body is answered at once, before the app reads anything; the connection closes', async () => {
  // Only the head is sent: an app given this request would wait for the body. The gateway
  // answers anyway, and closes (rawRequest resolves on close, long before its 5 s).
  const startedAt = Date.now();
  const answer = await rawRequest(port, 'POST /limits/read HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n', 5000);
  assert.ok(Date.now() - startedAt < 4000, 'the connection was closed');
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
  assertShort(answer.slice(answer.indexOf('\r\n\r\n') + 4), 413);
  // Under the limit the same request reaches the app.
  const ok = await rawRequest(port, `POST /limits/read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n${'x'.repeat(1000)}`, 5000);
  assert.match(ok, /^HTTP\/1\.1 200 [\s\S]*read 1000/);
  // The client (an hg push: "abort: HTTP Error 413") shows no body: the app's log says why, with the fix.
  await waitFor(() => appLog('limits').includes('POST /limits/read: 413: its body of 5000 bytes is over max_body, 1024 bytes; fix: a larger max_body in the environment file (apps: {limits: {max_body: 1GB}})'), 5000, () => `the 413 in the app log:\n${appLog('limits')}`);
});

test('413: a chunked body crossing max_body before the app answered; the connection closes', async () => {
  const chunk = `320\r\n${'y'.repeat(0x320)}\r\n`; // 800 bytes; two cross 1 KiB
  const startedAt = Date.now();
  const answer = await rawRequest(port, `POST /limits/read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`, 5000);
  assert.ok(Date.now() - startedAt < 4000, 'the connection was closed');
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.not.match(answer, /read \d+/);
  assertShort(answer.slice(answer.indexOf('\r\n\r\n') + 4), 413);
  // The app's read was aborted; its worker goes on serving.
  assert.is((await get('/limits/')).status, 200);
  await waitFor(() => appLog('limits').includes('POST /limits/read: 413: its chunked body crossed max_body, 1024 bytes; fix: a larger max_body'), 5000, () => `the 413 in the app log:\n${appLog('limits')}`);
});

test('a chunked body crossing max_body after the response started: the connection is cut', async () => {
  const chunk = `320\r\n${'z'.repeat(0x320)}\r\n`;
  const c = await RawConnection.open(port);
  try {
    c.write(`POST /limits/early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`);
    await c.waitFor((text) => text.includes('started'), 5000, 'the start of the response');
    c.write(chunk);
    const text = await c.waitClosed(5000);
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.not.match(text, /read \d+/);
    assert.not.match(text, /\r\n0\r\n\r\n$/, 'a truncated body must not look complete');
  } finally {
    c.destroy();
  }
});

test('504: no response head within timeout; the stuck worker is replaced, then killed', async () => {
  const before = await appStatus('limits');
  const stuck = before.workers[0].pid;
  const startedAt = Date.now();
  const r = await get('/limits/sleep?t=60', 10_000);
  const took = Date.now() - startedAt;
  assert.is(r.status, 504);
  assertShort(r.text, 504);
  assert.ok(took >= 900 && took < 5000, `answered after ${took} ms with timeout: 1`);
  await waitFor(() => gw.output().includes(`limits: recycling worker ${stuck}`), 5000, 'the recycle in the log');
  // Replacement first; the stuck one drains for at most the timeout, then SIGKILL.
  await waitFor(async () => {
    const pids = (await appStatus('limits')).workers.map((w) => w.pid);
    return pids.length === 1 && pids[0] !== stuck;
  }, 15_000, 'the replacement to serve alone');
  await assertNoOrphans([stuck], 10_000);
  const after = await get('/limits/');
  assert.is(after.status, 200);
  assert.is.not(Number(after.text), stuck);
  seen.add(Number(after.text));
});

test('502: a worker killed mid-request fails that request only; the restarted worker serves', async () => {
  const first = get('/dying/sleep?t=3');
  const second = get('/dying/sleep?t=3');
  // threads: 1, so each worker holds one of them.
  const busy = await waitFor(async () => {
    const s = await appStatus('dying');
    return s.workers.length === 2 && s.workers.every((w) => w.inFlight === 1) && s.workers;
  }, 5000, 'both workers busy');
  const victim = busy[0].pid;
  process.kill(victim, 'SIGKILL');
  const results = await Promise.all([first, second]);
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses, [200, 502]);
  const failed = results.find((r) => r.status === 502)!;
  assertShort(failed.text, 502);
  const served = results.find((r) => r.status === 200)!;
  assert.is.not(Number(served.text), victim);
  await waitFor(async () => {
    const s = await appStatus('dying');
    return s.workers.length === 2 && !s.workers.some((w) => w.pid === victim);
  }, 10_000, 'the restarted worker');
  for (const pid of (await appStatus('dying')).workers.map((w) => w.pid)) seen.add(pid);
  for (let i = 0; i < 4; i++) assert.is((await get('/dying/')).status, 200);
  assert.not.ok(isAlive(victim));
});

test('503 with Retry-After: workers 1, threads 1, queue 1, three requests at once', async () => {
  const results = await Promise.all([1, 2, 3].map(() => get('/busy/sleep?t=1.5')));
  const statuses = results.map((r) => r.status).sort();
  assert.equal(statuses, [200, 200, 503]);
  const refused = results.find((r) => r.status === 503)!;
  assert.is(refused.headers['retry-after'], '1');
  assertShort(refused.text, 503);
});

test('queue: 0 with its one worker killed: 503 saying the app is restarting, not that it is busy; served again after', async () => {
  const [victim] = (await appStatus('unqueued')).workers.map((w) => w.pid);
  seen.add(victim);
  process.kill(victim, 'SIGKILL');
  // Its restart waits 0.5 s at least: a request in that time finds no worker at all.
  await waitFor(async () => (await appStatus('unqueued')).workers.length === 0, 5000, 'the killed worker to leave');
  const refused = await get('/unqueued/');
  assert.is(refused.status, 503);
  assert.match(refused.text, /unqueued is restarting; try again/);
  assert.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${refused.headers['retry-after']}`);
  assertShort(refused.text, 503);
  await waitFor(async () => (await get('/unqueued/')).status === 200, 15_000, 'the restarted worker to serve');
  for (const pid of (await appStatus('unqueued')).workers.map((w) => w.pid)) seen.add(pid);
});

test.run();
