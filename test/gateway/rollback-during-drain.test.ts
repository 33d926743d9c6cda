// A rollback while the version it goes back to still drains: blog.2 deployed over blog.1 with
// websockets open on blog.1, then blog.2 removed before the drain ends. Version 1 serves again
// from fresh processes; the old ones keep draining (their websockets until the drain's end, then
// 1012 for an ASGI app's, SIGTERM for a routed process), and status lists them on a `draining`
// row of their own, not on the serving version's. Real gateway, real Python, real websockets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { openSocket, type TestSocket } from '../helpers/websocket.js';

const test = suite('gateway: a rollback during a drain');

/** Long enough for a deploy and a rollback to happen within it on a loaded 2-core machine. */
const DRAIN_S = 20;

const work = tempDir('apppkg-rollback-drain-');
let gw: RunningGateway | null = null;

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'ws-asgi', 'live.1');
  addPackage(apps, 'ws-echo', 'wsd.1');
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, `apps:\n  live:\n    drain: ${DRAIN_S}\n  wsd:\n    drain: ${DRAIN_S}\n`);
  gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'),
    '--environment', environment, '--watch-interval', '0.2', '--settle', '0', '--access-log', 'off',
  ], { ms: 60_000 });
});

test.after(async () => {
  await stopGatewayChecked(gw, work);
});

const asgiVersion = (v: string) => ({ 'ws_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });

async function whoami(socket: TestSocket): Promise<{ version: string; pid: number }> {
  socket.ws.send('whoami');
  return JSON.parse(await socket.next()) as { version: string; pid: number };
}

/** The rows of `version` in the app's status: [state, websockets, the pids of its workers]. */
function rowsOf(app: any, version: string): Array<[string, number, number[]]> {
  return app.versions.filter((v: any) => v.version === version).map((v: any) => [v.state, v.websockets, v.workers.map((w: any) => w.pid)]);
}

/** The ASGI app's scenario (its test below). */
async function asgiRollbackDuringDrain(): Promise<void> {
  const apps = join(work.path, 'apps');
  const wsUrl = `${gw!.url.replace(/^http/, 'ws')}/live/echo`;
  const httpVersion = async () => String(((await (await request(`${gw!.url}/live/`)).body.json()) as { version: string }).version);
  await waitFor(async () => (await appStatus(gw!, 'live'))?.state === 'ready', 60_000, 'live ready');
  const old = await openSocket(wsUrl);
  const before = await whoami(old);
  assert.is(before.version, '1');
  const oldPids = (await appStatus(gw!, 'live')).workers.map((w: any) => w.pid) as number[];

  addPackage(apps, 'ws-asgi', 'live.2', asgiVersion('2'));
  await waitFor(async () => (await httpVersion()) === '2', 60_000, 'version 2 to serve');
  const deployedAt = Date.now();
  rmSync(join(apps, 'live.2'), { recursive: true });
  await waitFor(async () => (await httpVersion()) === '1', 60_000, 'the rollback to version 1');

  // Version 1 serves from fresh workers: a new websocket goes there, not to the draining one.
  const fresh = await openSocket(wsUrl);
  const seen = await whoami(fresh);
  assert.is(seen.version, '1');
  assert.not.ok(oldPids.includes(seen.pid), 'a new websocket went to a draining worker');
  assert.is((await whoami(old)).pid, before.pid, 'the old websocket still talks to its old worker');

  const during = await appStatus(gw!, 'live');
  const rows = rowsOf(during, '1');
  assert.is(rows.length, 2, JSON.stringify(during.versions));
  const [serving, draining] = rows;
  assert.equal([serving[0], serving[1]], ['serving', 1], 'the serving row counts the new websocket alone');
  assert.ok(serving[2].includes(seen.pid) && !serving[2].includes(before.pid), JSON.stringify(serving));
  assert.equal([draining[0], draining[1]], ['draining', 1], 'the old websocket is on the draining row');
  assert.ok(draining[2].includes(before.pid), JSON.stringify(draining));
  const oldWorker = during.versions.find((v: any) => v.state === 'draining' && v.version === '1').workers.find((w: any) => w.pid === before.pid);
  assert.equal([oldWorker.state, oldWorker.websockets], ['draining', 1]);
  assert.is(during.websockets, 2);
  assert.not.ok(during.workers.some((w: any) => oldPids.includes(w.pid)), 'the app\'s workers are the serving ones');

  // The drain that began with the deploy of version 2 ends as it would have: 1012, then the old workers go.
  const code = await old.closed(DRAIN_S * 1000 + 10_000);
  const heldMs = Date.now() - deployedAt;
  assert.is(code, 1012);
  assert.ok(heldMs >= DRAIN_S * 1000 - 2000, `closed ${heldMs} ms after the deploy, before the drain of ${DRAIN_S} s`);
  await assertNoOrphans(oldPids, 15_000);
  const after = await waitFor(async () => {
    const app = await appStatus(gw!, 'live');
    return app.versions.length === 1 ? app : null;
  }, 15_000, 'the draining rows gone');
  assert.equal(rowsOf(after, '1').map(([state, open]) => [state, open]), [['serving', 1]]);
  fresh.ws.send('after the drain');
  assert.is(await fresh.next(), 'after the drain');
  fresh.ws.close();
  await fresh.closed();
}

/** The routed process's scenario (its test below). */
async function processRollbackDuringDrain(): Promise<void> {
  const apps = join(work.path, 'apps');
  const wsUrl = `${gw!.url.replace(/^http/, 'ws')}/wsd/ws/held`;
  await waitFor(async () => (await appStatus(gw!, 'wsd'))?.state === 'ready', 60_000, 'wsd ready');
  const oldProcess = (await appStatus(gw!, 'wsd')).processes[0];
  const old = await openSocket(wsUrl);
  old.ws.send('hello');
  assert.is(await old.next(), 'hello');

  addPackage(apps, 'ws-echo', 'wsd.2');
  await waitFor(async () => (await appStatus(gw!, 'wsd')).version === '2', 60_000, 'version 2 to serve');
  const deployedAt = Date.now();
  rmSync(join(apps, 'wsd.2'), { recursive: true });
  await waitFor(async () => {
    const app = await appStatus(gw!, 'wsd');
    return app.version === '1' && app.state === 'ready';
  }, 60_000, 'the rollback to version 1');
  const fresh = await openSocket(wsUrl);
  fresh.ws.send('hi');
  assert.is(await fresh.next(), 'hi');

  const during = await appStatus(gw!, 'wsd');
  const rows = rowsOf(during, '1');
  assert.equal(rows.map(([state, open]) => [state, open]), [['serving', 1], ['draining', 1]], JSON.stringify(during.versions));
  const listed = during.processes.find((p: any) => p.pid === oldProcess.pid);
  assert.equal([listed?.state, listed?.websockets], ['draining', 1], JSON.stringify(during.processes));
  assert.is(during.websockets, 2);

  // Its drain ends when the deploy's would have: the old process is stopped, its client let go.
  await old.closed(DRAIN_S * 1000 + 10_000);
  assert.ok(Date.now() - deployedAt >= DRAIN_S * 1000 - 2000, `closed ${Date.now() - deployedAt} ms after the deploy`);
  await assertNoOrphans([oldProcess.pid], 15_000);
  const after = await waitFor(async () => {
    const app = await appStatus(gw!, 'wsd');
    return app.versions.length === 1 && app.processes.length === 1 ? app : null;
  }, 15_000, 'the draining row and process gone');
  assert.equal(rowsOf(after, '1').map(([state, open]) => [state, open]), [['serving', 1]]);
  fresh.ws.send('still here');
  assert.is(await fresh.next(), 'still here');
  fresh.ws.close();
  await fresh.closed();
}

// Each waits out a drain of DRAIN_S on its own app: the two run at once, each judged in its test.
let processScenario: Promise<void> = Promise.resolve();

test('ASGI: the old instance of version 1 keeps its websocket on a draining row, closes it 1012 at the drain\'s end; version 1\'s new websocket stays', async () => {
  processScenario = processRollbackDuringDrain();
  processScenario.catch(() => {}); // its own test reports it
  await asgiRollbackDuringDrain();
});

test('a routed process (WSGI app): the old process\'s websocket is on version 1\'s draining row, not the serving one, until the drain ends', async () => {
  await processScenario;
});

test.run();
