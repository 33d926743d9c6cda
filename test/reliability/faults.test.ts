// Issue 6, item 3: faults injected into a running gateway (the real CLI, real Python), each
// with what the client must see. A worker SIGKILLed under load fails only the requests it held
// (502, at most its threads); a command process or a websocket process SIGKILLed is restarted
// and serves again; a SIGSTOPped worker costs only its requests (504 after the app's timeout)
// and is replaced, then killed although stopped; logs that cannot be written are reported once
// while every request is still served; a SIGKILLed gateway leaves no Python process behind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';
import { PIPELINE_DEPTH } from '../../src/proxy/upstream.js';

const test = suite('reliability: faults');
const apps = tempDir('apppkg-rel-faults-apps-');
const state = tempDir('apppkg-rel-faults-state-');
const LOAD_THREADS = 4;
const STOPPED_THREADS = 2;
let gw: RunningGateway;
/** The second gateway (R3.5, R3.6): a broken access log and app logs, then SIGKILLed. */
let gw2: RunningGateway | undefined;
const apps2 = tempDir('apppkg-rel-faults-apps2-');
const state2 = tempDir('apppkg-rel-faults-state2-');
/** Every worker and process pid seen: none may outlive its gateway. */
const seen = new Set<number>();
const counts = { faults: 0, sent: 0, failed: 0, killed: 0, stopped: 0, restarting: 0 };

test.before(async () => {
  addPackage(apps.path, 'faults', 'load');
  addPackage(apps.path, 'faults', 'stopped');
  addPackage(apps.path, 'command-server', 'cmd');
  addPackage(apps.path, 'ws-echo', 'ws');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(
    envFile,
    [
      'apps:',
      `  load: {workers: 2, threads: ${LOAD_THREADS}}`,
      `  stopped: {workers: 2, threads: ${STOPPED_THREADS}, timeout: 1}`,
      '  ws: {workers: 1}',
      '',
    ].join('\n'),
  );
  gw = await startCli(
    ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off'],
    { ms: 60_000 },
  );
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: any) => a.state === 'ready'), 60_000, 'every app ready');
  await remember(gw);
});

test.after(async () => {
  for (const g of [gw, gw2]) if (g) await remember(g).catch(() => {});
  await Promise.all([gw?.stop(), gw2?.stop()]);
  await assertNoOrphans([...seen]);
  for (const dir of [apps, state, apps2, state2]) dir.remove();
  const expected = counts.killed + counts.stopped + counts.restarting;
  process.stdout.write(
    `\nreliability: faults: ${counts.faults} faults injected, ${counts.sent} requests sent, ${counts.failed} failed ` +
      `(${expected} expected: ${counts.killed} held by a killed worker, ${counts.stopped} on a stopped one, ` +
      `${counts.restarting} sent while a command process restarted; ${counts.failed - expected} unexpected)\n`,
  );
});

async function remember(g: RunningGateway): Promise<void> {
  for (const pid of statusPids(await gatewayStatus(g))) seen.add(pid);
}

async function get(url: string, ms = 10_000): Promise<{ status: number; text: string }> {
  counts.sent++;
  try {
    const res = await request(url, { headersTimeout: ms, bodyTimeout: ms });
    const text = await res.body.text();
    if (res.statusCode !== 200) counts.failed++;
    return { status: res.statusCode, text };
  } catch (err) {
    counts.failed++;
    return { status: 0, text: String(err) };
  }
}

interface Loop {
  stop(): Promise<{ sent: number; ok: number; failures: Array<{ status: number; at: number; text: string }> }>;
}

/** `concurrency` clients back to back on `url` until stop(); bounded by `maxMs`. */
function loadLoop(url: string, concurrency: number, maxMs = 60_000): Loop {
  const result = { sent: 0, ok: 0, failures: [] as Array<{ status: number; at: number; text: string }> };
  let running = true;
  const deadline = Date.now() + maxMs;
  const one = async (): Promise<void> => {
    while (running && Date.now() < deadline) {
      result.sent++;
      const r = await get(url);
      if (r.status === 200) result.ok++;
      else result.failures.push({ status: r.status, at: Date.now(), text: r.text.slice(0, 120) });
    }
  };
  const clients = Array.from({ length: concurrency }, one);
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      return result;
    },
  };
}

test('R3.1 SIGKILL of a worker under load: only its requests in flight fail (502, at most its threads); later requests succeed', async () => {
  // More clients than threads: every thread stays busy, the rest wait in the app's queue. Each
  // request holds its thread 0.3 s: at 0.05 s, on a loaded host the clients' own gaps (their
  // process slow to send the next) left the victim with nothing on its threads at the kill, some
  // runs in a hundred, and nothing failed (run 36).
  const loop = loadLoop(`${gw.url}/load/sleep?t=0.3`, 3 * LOAD_THREADS);
  let victim = 0;
  let killedAt = 0;
  let result: Awaited<ReturnType<Loop['stop']>>;
  try {
    // Both workers busy, then the one holding requests is killed mid-request.
    const busy = await waitFor(async () => {
      const workers = (await appStatus(gw, 'load')).workers as Array<{ pid: number; inFlight: number }>;
      return workers.length === 2 && workers.every((w) => w.inFlight > 0) ? workers : null;
    }, 10_000, 'both workers busy');
    await new Promise((r) => setTimeout(r, 1000)); // a second of load first
    victim = busy[0].pid;
    // Killed while it holds a request: on a loaded machine the clients can leave it idle for
    // the moment of one look, so look until it does.
    await waitFor(async () => ((await appStatus(gw, 'load')).workers as Array<{ pid: number; inFlight: number }>).some((w) => w.pid === victim && w.inFlight > 0), 10_000, `worker ${victim} to hold a request`);
    process.kill(victim, 'SIGKILL');
    killedAt = Date.now();
    counts.faults++;
    await waitFor(async () => {
      const workers = (await appStatus(gw, 'load')).workers as Array<{ pid: number; state: string }>;
      return workers.length === 2 && workers.every((w) => w.pid !== victim && w.state === 'ready');
    }, 15_000, 'the killed worker restarted');
    await new Promise((r) => setTimeout(r, 1500)); // load on the restarted pair
  } finally {
    result = await loop.stop();
  }
  await remember(gw);
  counts.killed += result.failures.length;
  assert.ok(result.failures.length >= 1, 'the requests it held failed');
  // What it held: one request per thread, and those sent to wait in it for a thread.
  assert.ok(result.failures.length <= LOAD_THREADS + PIPELINE_DEPTH, `at most threads + pipeline (${LOAD_THREADS + PIPELINE_DEPTH}) failed, got ${result.failures.length}`);
  for (const f of result.failures) {
    assert.is(f.status, 502, f.text);
    assert.ok(f.at - killedAt < 2000, 'failures only right after the kill');
  }
  assert.ok(result.ok > 2 * LOAD_THREADS, `requests succeeded around the kill (${result.ok})`);
  assert.not.ok(isAlive(victim));
  // Afterwards every request succeeds, on both workers.
  const pids = new Set<string>();
  for (const r of await Promise.all(Array.from({ length: 16 }, () => get(`${gw.url}/load/sleep?t=0.05`)))) {
    assert.is(r.status, 200);
    pids.add(r.text.trim());
  }
  assert.not.ok(pids.has(String(victim)));
  assert.match(gw.output(), new RegExp(`load: worker ${victim} exited \\(SIGKILL\\); restarting in \\d+ ms`));
});

test('R3.2 SIGKILL of a command process (processes.web of platform: command): restarted, requests succeed again', async () => {
  const web = (await appStatus(gw, 'cmd')).processes[0];
  const first = await get(`${gw.url}/cmd/`);
  assert.is(first.status, 200);
  assert.is(JSON.parse(first.text).pid, web.pid);
  process.kill(web.pid, 'SIGKILL');
  counts.faults++;
  // Until the new one accepts connections: 502 (refused) or 503 (restarting), never a hang.
  const answer = await waitFor(async () => {
    const r = await get(`${gw.url}/cmd/`, 5000);
    if (r.status !== 200) {
      counts.restarting++;
      assert.ok(r.status === 502 || r.status === 503, `${r.status}: ${r.text}`);
      return null;
    }
    return JSON.parse(r.text) as { pid: number };
  }, 15_000, 'processes.web to answer again');
  assert.is.not(answer.pid, web.pid);
  const after = (await appStatus(gw, 'cmd')).processes[0];
  assert.is(after.pid, answer.pid);
  assert.is(after.state, 'ready');
  assert.ok(after.restarts >= 1);
  seen.add(after.pid);
  assert.not.ok(isAlive(web.pid));
  assert.match(gw.output(), new RegExp(`cmd: processes\\.web ${web.pid} exited \\(SIGKILL\\); restarting`));
  for (let i = 0; i < 5; i++) assert.is((await get(`${gw.url}/cmd/x`)).status, 200);
});

test('R3.3 SIGKILL of a websocket process: the open websocket is closed, a new one connects after the restart', async () => {
  const wsUrl = `${gw.url.replace(/^http/, 'ws')}/ws/ws/room`;
  const proc = (await appStatus(gw, 'ws')).processes[0];
  const sock = await openSocket(wsUrl);
  sock.ws.send('before');
  assert.is(await sock.next(), 'before');
  process.kill(proc.pid, 'SIGKILL');
  counts.faults++;
  const code = await sock.closed(10_000);
  assert.is.not(code, 1000, 'not a clean close: the process went away');
  const fresh = await waitFor(async () => {
    const p = (await appStatus(gw, 'ws')).processes[0];
    return p.pid !== proc.pid && p.state === 'ready' ? p : null;
  }, 15_000, 'processes.ws restarted');
  seen.add(fresh.pid);
  const again = await openSocket(wsUrl);
  again.ws.send('after');
  assert.is(await again.next(), 'after');
  again.ws.close(1000);
  assert.is(await again.closed(), 1000);
  assert.not.ok(isAlive(proc.pid));
  // The app's WSGI side never noticed.
  assert.is((await get(`${gw.url}/ws/x`)).text, 'wsgi /ws|/x');
});

test('R3.4 SIGSTOP of a worker: its requests get 504 after the timeout, it is replaced, and does not linger although stopped', async () => {
  const before = (await appStatus(gw, 'stopped')).workers as Array<{ pid: number }>;
  assert.is(before.length, 2);
  const victim = before[0].pid;
  process.kill(victim, 'SIGSTOP');
  counts.faults++;
  try {
    // Twice the app's threads at once: least in flight gives each worker `threads` of them.
    const startedAt = Date.now();
    const results = await Promise.all(Array.from({ length: 2 * STOPPED_THREADS }, () => get(`${gw.url}/stopped/sleep?t=0.3`)));
    const took = Date.now() - startedAt;
    const timedOut = results.filter((r) => r.status === 504);
    counts.stopped += timedOut.length;
    assert.is(timedOut.length, STOPPED_THREADS, `the stopped worker's requests: ${results.map((r) => r.status).join(' ')}`);
    for (const r of results) assert.ok(r.status === 200 || r.status === 504, `${r.status}: ${r.text}`);
    for (const r of results.filter((x) => x.status === 200)) assert.is.not(Number(r.text), victim);
    assert.match(timedOut[0].text, /^504 Gateway Timeout\nthe app did not answer within 1 s/);
    assert.ok(took < 5000, `answered within ${took} ms (timeout: 1)`);
    await waitFor(() => gw.output().includes(`stopped: recycling worker ${victim}`), 5000, 'the recycle line');
    const replaced = await waitFor(async () => {
      const workers = (await appStatus(gw, 'stopped')).workers as Array<{ pid: number }>;
      return workers.length === 2 && !workers.some((w) => w.pid === victim) ? workers : null;
    }, 15_000, 'the stopped worker replaced');
    for (const w of replaced) seen.add(w.pid);
    // Stopped, it cannot act on SIGTERM: the gateway must still make it go.
    await assertNoOrphans([victim], 10_000);
  } finally {
    if (isAlive(victim)) process.kill(victim, 'SIGCONT');
  }
  const after = await Promise.all(Array.from({ length: 8 }, () => get(`${gw.url}/stopped/`)));
  for (const r of after) assert.is(r.status, 200);
});

test('R3.5 an access log on a full disk, an app log on a full disk, an app log that cannot be opened: served, each said once', async () => {
  addPackage(apps2.path, 'faults', 'logfull');
  addPackage(apps2.path, 'faults', 'logdir');
  addPackage(apps2.path, 'ticker', 'ticker');
  addPackage(apps2.path, 'command-server', 'cmd2');
  // app.log of logfull is /dev/full (ENOSPC on every write); that of logdir is a directory
  // (EISDIR on open: unwritable even for root, which chmod would not stop).
  const logDir = (name: string) => join(state2.path, 'apps', name, 'log');
  mkdirSync(logDir('logfull'), { recursive: true });
  symlinkSync('/dev/full', join(logDir('logfull'), 'app.log'));
  mkdirSync(join(logDir('logdir'), 'app.log'), { recursive: true });
  const envFile = join(state2.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults: {workers: 1}\n');
  gw2 = await startCli(
    ['--apps', apps2.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state2.path, '--environment', envFile, '--access-log', '/dev/full'],
    { ms: 60_000 },
  );
  await waitFor(async () => (await gatewayStatus(gw2!)).apps.every((a: any) => a.state === 'ready'), 60_000, 'every app ready');
  await remember(gw2);
  counts.faults += 3;
  // /status/N writes a line to wsgi.errors: the app log is written on every request.
  for (let i = 0; i < 10; i++) {
    for (const app of ['logfull', 'logdir']) {
      const r = await get(`${gw2.url}/${app}/status/200`);
      assert.is(r.status, 200);
    }
    await new Promise((r) => setImmediate(r));
  }
  const out = gw2.output();
  const once = (re: RegExp, what: string) => {
    const n = out.split('\n').filter((line) => re.test(line)).length;
    assert.is(n, 1, `${what}: said ${n} times in\n${out}`);
  };
  await waitFor(() => /access log/.test(gw2!.output()), 5000, 'the access log warning');
  once(/cannot write the access log \/dev\/full \(ENOSPC\); requests are served without it until SIGUSR1 opens it again/, 'the access log');
  once(/logfull: cannot write .*app\.log \(ENOSPC\); its lines are dropped until one can be written again/, 'the app log on a full disk');
  once(/logdir: cannot write .*app\.log \(EISDIR\); the app keeps running without a log file/, 'the app log that cannot be opened');
  assert.ok(gw2.child.exitCode === null, 'the gateway runs on');
});

test('R3.6 the gateway SIGKILLed, one worker SIGSTOPped: no worker, command or background process outlives it by more than a few seconds', async () => {
  assert.ok(gw2, 'R3.5 started the second gateway');
  const status = await gatewayStatus(gw2!);
  const pids = statusPids(status);
  for (const pid of pids) seen.add(pid);
  assert.is(pids.length, 5, 'three workers, processes.web, processes.ticker');
  // A stopped worker cannot notice its link closing: its group's guard must end it.
  const stopped = status.apps.find((a: any) => a.name === 'logfull').workers[0].pid as number;
  process.kill(stopped, 'SIGSTOP');
  gw2!.child.kill('SIGKILL');
  counts.faults += 2;
  try {
    // A worker notices its link closing; each group's guard sends TERM and CONT, KILL 5 s later.
    await assertNoOrphans(pids, 10_000);
  } finally {
    if (isAlive(stopped)) process.kill(stopped, 'SIGKILL');
  }
});

test.run();
