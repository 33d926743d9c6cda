// An ASGI request past the app's timeout (docs/protocol.md §4, docs/architecture.md "Timeouts"):
// it alone gets its 504 and its task is cancelled (the app sees CancelledError, its `finally`
// runs), while the worker, its websockets and other requests go on; only a loop held by sync
// code (it does not answer a PING) has the worker replaced. Real CLI, real Python worker.
// Fixture: test/fixtures/apps/asgi-timeout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus } from '../helpers/status.js';
import { HEARTBEAT_ENV, HUNG_AFTER_ENV } from '../../src/supervisor/worker.js';

const TIMEOUT_S = 2;
/**
 * How long the PING asked at a 504 waits for its PONG (and how long an idle worker may leave one
 * unanswered): lowered from HUNG_AFTER_MS (6 s), so that the first test waits out 2 s of it, not
 * 8; above the silence rule's bound (TIMEOUT_S and a beat), so that the second test's worker is
 * still replaced for its silence first.
 */
const LOOP_ANSWER_MS = 2000;
/** The heartbeat's beat, lowered with it: the silence rule needs a beat well within LOOP_ANSWER_MS. */
const BEAT_MS = 300;
const test = suite('asgi request timeout');
const work = tempDir('apppkg-asgi-timeout-');
let gw: RunningGateway;
const pids = new Set<number>();

interface Echo {
  ws: WebSocket;
  /** Sends `text`, resolves with the app's answer (a deadline of its own). */
  echo(text: string): Promise<string>;
  /** The close code, or null while it is open. */
  closedWith(): number | null;
}

function openEcho(url: string): Promise<Echo> {
  const ws = new WebSocket(url);
  let code: number | null = null;
  const answers: string[] = [];
  ws.on('message', (data) => answers.push(String(data)));
  ws.on('close', (c) => (code = c));
  const echo = async (text: string): Promise<string> => {
    ws.send(text);
    await waitFor(() => answers.length > 0 || code !== null, 5000, `the echo of ${text}`);
    if (code !== null) throw new Error(`the websocket closed with ${code}`);
    return answers.shift()!;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${url}: no open within 10 s`)), 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve({ ws, echo, closedWith: () => code });
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The app's log (its workers' stderr), where the shim's lines go. */
function appLog(): string {
  const file = join(work.path, 'state', 'apps', 'hz', 'log', 'app.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${gw.url}/hz${path}`, { headersTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

async function workerPid(): Promise<number> {
  const { status, body } = await get('/pid');
  assert.is(status, 200, body);
  pids.add(Number(body));
  return Number(body);
}

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-timeout', 'hz');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  hz:\n    workers: 1\n    timeout: ${TIMEOUT_S}\n`);
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], {
    env: { [HEARTBEAT_ENV]: String(BEAT_MS), [HUNG_AFTER_ENV]: String(LOOP_ANSWER_MS) },
  });
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans([...pids], 10_000);
  work.remove();
});

test('a hung request gets its 504 and its task is cancelled; the worker and its websocket go on', async () => {
  const pid = await workerPid();
  const client = await openEcho(`${gw.url.replace(/^http/, 'ws')}/hz/ws`);
  assert.is(await client.echo('before'), 'echo:before');
  const started = Date.now();
  const hung = await get('/hang');
  const answeredAt = Date.now();
  assert.is(hung.status, 504, hung.body);
  assert.ok(answeredAt - started >= TIMEOUT_S * 1000, `answered after ${answeredAt - started} ms`);
  await waitFor(async () => (await get('/events')).body.includes('hang finally'), 5000, 'the hung task\'s finally');
  assert.equal((await get('/events')).body.split('\n').filter(Boolean), ['hang started', 'hang cancelled', 'hang finally']);
  // The loop check asked at the 504 tells nothing when the loop answers: only its recycle shows.
  // So it is watched through its whole wait (LOOP_ANSWER_MS, and a second for a late timer on a
  // loaded host), failing at the first sign of its recycle.
  const until = answeredAt + LOOP_ANSWER_MS + 1000;
  do {
    assert.not.match(gw.output(), /hz: recycling worker/);
    assert.is(await workerPid(), pid);
    await new Promise((r) => setTimeout(r, BEAT_MS));
  } while (Date.now() < until);
  assert.is(await client.echo('after'), 'echo:after');
  assert.is(client.closedWith(), null);
  assert.is(await workerPid(), pid);
  const status = await appStatus(gw, 'hz');
  assert.is(status.workers.length, 1);
  assert.is(status.workers[0].recycled, 0);
  assert.is(status.workers[0].inFlight, 0, 'the cancelled request left the worker');
  assert.not.match(gw.output(), /hz: recycling worker/);
  client.ws.close();
});

test('a request that holds the loop itself (a sync sleep in an async view): 504, and the worker is replaced', async () => {
  const pid = await workerPid();
  const blocked = await get('/block?30');
  assert.is(blocked.status, 504, blocked.body);
  await waitFor(
    // Its silence passes the timeout (a beat after the block began, and TIMEOUT_S) before the PING
    // asked at the 504 is LOOP_ANSWER_MS late (worker-pool.ts).
    () => gw.output().includes(`hz: recycling worker ${pid}: it has not answered the heartbeat within the app's timeout (${TIMEOUT_S} s), with 1 request in it: its event loop is held`),
    15_000,
    'the recycle line',
  );
  await waitFor(async () => (await workerPid()) !== pid, 20_000, 'a new worker answering');
});

test('an app that swallows the CancelledError: 504, out of flight at once, one line naming where it runs on; the worker serves on', async () => {
  const pid = await workerPid();
  const recycled = (await appStatus(gw, 'hz')).workers[0].recycled;
  const swallowed = await get('/swallow');
  assert.is(swallowed.status, 504, swallowed.body);
  // Counted in flight no more from the 504 on (uvicorn too leaves such a task running).
  const status = await appStatus(gw, 'hz');
  assert.is(status.workers[0].inFlight, 0, 'the request the gateway answered 504 is not in flight');
  assert.is(status.inFlight, 0);
  await waitFor(
    () => /timeout_app:app \(hz\): GET \/hz\/swallow got its 504 and its task was cancelled, but the app ignored the CancelledError and runs on, at \S*timeout_app\.py:\d+ in app \(await asyncio\.sleep\(3600\)\); the task is left running/.test(appLog()),
    5000,
    'the line about the ignored cancel',
  );
  assert.match((await get('/events')).body, 'swallow cancelled');
  assert.is(await workerPid(), pid);
  assert.is((await appStatus(gw, 'hz')).workers[0].recycled, recycled);
});

test('a client whose body stops arriving: 408, out of flight at once, and the app\'s task cancelled as for a 504', async () => {
  const pid = await workerPid();
  const cancelledBefore = (await get('/events')).body.split('\n').filter((e) => e === 'hang cancelled').length;
  // 10 of the 100 bytes announced, then nothing: /hang awaits a sleep, never receive().
  const answer = await rawRequest(Number(new URL(gw.url).port), 'POST /hz/hang HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', 20_000);
  assert.match(answer, /^HTTP\/1\.1 408 /, answer.slice(0, 300));
  const status = await appStatus(gw, 'hz');
  assert.is(status.workers[0].inFlight, 0, 'the request the gateway answered 408 is not in flight');
  assert.is(status.inFlight, 0);
  await waitFor(
    async () => (await get('/events')).body.split('\n').filter((e) => e === 'hang cancelled').length === cancelledBefore + 1,
    5000,
    'the task cancelled',
  );
  assert.is(await workerPid(), pid, 'the worker stays: a client\'s stall is no stuck app');
});

test('the gateway stops in seconds, not its 30 s grace: the abandoned task holds no stop', async () => {
  const started = Date.now();
  const code = await gw.stop(40_000);
  assert.is(code, 0, gw.output().slice(-2000));
  assert.ok(Date.now() - started < 15_000, `the stop took ${Date.now() - started} ms`);
  assert.match(appLog(), /1 task ignored the cancel; exiting without it/);
});

test.run();
