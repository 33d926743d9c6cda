// SIGUSR1: as nginx and gunicorn, the gateway opens its access log file again under its name
// (logrotate's postrotate), and no command of the CLI ever lets it start Node's inspector, which
// would serve a loopback port where any local user (an app's) could run code in the process.
// `run` passes signals to the whole tree of its command, and takes it along when killed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';
import { assertNoOrphans, BIN, EXAMPLES, orAfter, pidsByArgs, startCli, tempDir, waitFor } from '../helpers/process.js';
import { request } from 'undici';
import { SAME_SIGTERM_MS } from '../../src/cli/run-loop.js';

const test = suite('cli: SIGUSR1');
const apps = tempDir('apppkg-usr1-apps-');
const state = tempDir('apppkg-usr1-state-');
const logs = tempDir('apppkg-usr1-logs-');
test.after(() => {
  for (const dir of [apps, state, logs]) dir.remove();
});

// One worker per app: none of these is about a second, and each worker is a Python start.
const ONE_WORKER = oneWorkerEach(logs.path);

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);

// One gateway for the access log's rotation, its directory replaced, and the app logs (a start
// each before): each part reads what the gateway says from the output after the part before,
// which said the log was opened again. A directory merely removed is made again
// (test/gateway/access-log-private.test.ts); a file in its place is one SIGUSR1 cannot replace.
test('the gateway opens its access log again on SIGUSR1 (a rotation loses no line), and starts no debugger; with a file in place of the log directory it says why the log is not open, never that it was opened again; once the directory is back it is; SIGUSR1 opens each app log again too: after logrotate moved app.log away, and after its directory was removed', async () => {
  addPackage(apps.path, 'examples/hello', 'hello');
  writePackage(apps.path, 'talks', {
    'app.yaml': 'platform: python, wsgi\napp: talks:application\n',
    'talks.py': 'import sys\n\ndef application(environ, start_response):\n    print("said " + environ["QUERY_STRING"], file=sys.stderr, flush=True)\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const dir = join(logs.path, 'gone');
  mkdirSync(dir);
  const log = join(dir, 'access.log');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...ONE_WORKER, '--access-log', log]);
  let since = 0;
  const said = () => gw.output().slice(since);
  try {
    await waitFor(async () => (await fetch(`${gw.url}/hello/`)).status === 200, 30_000, 'hello to serve');
    await waitFor(async () => (await fetch(`${gw.url}/talks/?first`)).status === 200, 30_000, 'talks to serve');
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('"GET /hello/ HTTP/1.1" 200')), 5000, 'the first line');
    renameSync(log, `${log}.1`);
    await fetch(`${gw.url}/hello/?moved`); // written to the moved file: the gateway still holds it
    gw.child.kill('SIGUSR1');
    await waitFor(() => gw.output().includes('SIGUSR1: the access log'), 5000, 'the gateway to say it reopened the log');
    await fetch(`${gw.url}/hello/?after`);
    await waitFor(() => existsSync(log) && lines(log).length === 1, 5000, 'the line after the rotation in a new file');
    assert.match(lines(log)[0], /"GET \/hello\/\?after HTTP\/1\.1" 200/);
    assert.ok(lines(`${log}.1`).some((l) => l.includes('/hello/?moved')), readFileSync(`${log}.1`, 'utf8'));
    assert.not.match(gw.output(), /Debugger listening/);
    assert.is(gw.child.exitCode, null);

    since = gw.output().length;
    rmSync(dir, { recursive: true });
    writeFileSync(dir, '');
    gw.child.kill('SIGUSR1');
    await waitFor(() => /cannot make the access log's directory .* again \(EEXIST\)/.test(said()), 5000, 'the gateway to say the log cannot be opened');
    await fetch(`${gw.url}/hello/?meanwhile`);
    assert.not.match(said(), /SIGUSR1: the access log .* was opened again/);
    rmSync(dir);
    mkdirSync(dir);
    gw.child.kill('SIGUSR1');
    await waitFor(() => said().includes(`SIGUSR1: the access log ${log} was opened again`), 5000, 'the gateway to say it reopened the log');
    await fetch(`${gw.url}/hello/?back`);
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('/hello/?back')), 5000, 'the line after the directory came back');

    // The app logs: both apps' (hello's and talks') are opened again at each SIGUSR1.
    const logDir = join(state.path, 'apps', 'talks', 'log');
    const appLog = join(logDir, 'app.log');
    const talked = (what: string) => existsSync(appLog) && readFileSync(appLog, 'utf8').includes(`said ${what}\n`);
    await waitFor(() => talked('first'), 5000, 'the first line');
    since = gw.output().length;
    renameSync(appLog, `${appLog}-20261204`);
    gw.child.kill('SIGUSR1');
    await waitFor(() => said().includes('SIGUSR1: 2 app logs opened again'), 5000, () => `the gateway to say it reopened the app logs:\n${gw.output()}`);
    await fetch(`${gw.url}/talks/?moved`);
    await waitFor(() => talked('moved'), 5000, 'the line after the rotation in a new app.log');
    assert.not.ok(readFileSync(`${appLog}-20261204`, 'utf8').includes('said moved'), 'not in the moved file');
    rmSync(logDir, { recursive: true });
    gw.child.kill('SIGUSR1');
    await waitFor(() => said().split('SIGUSR1: 2 app logs opened again').length === 3, 5000, () => `the gateway to say it reopened the app logs again:\n${gw.output()}`);
    await fetch(`${gw.url}/talks/?gone`);
    await waitFor(() => talked('gone'), 5000, 'the line after the directory was removed, in it made again');
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test('SIGUSR1 to `run`: passed on to the command (as tini and docker pass signals), no debugger in the CLI, the command finishes', async () => {
  const child = spawn(BIN, ['run', join(EXAMPLES, 'hello'), '--state-dir', state.path, '--', 'python', '-c', 'import signal, time; got = []; signal.signal(signal.SIGUSR1, lambda *_: got.append(1)); print("ready", flush=True); time.sleep(1.5); print("slept", got)'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => out.includes('ready'), 15_000, 'the command to start');
  child.kill('SIGUSR1');
  const code = await orAfter(15_000, () => 'timeout', exited);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.is(code, 0, out);
  assert.match(out, /slept \[1\]/);
  assert.not.match(out, /Debugger listening/);
});

/** Pids of the processes whose command line has `marker`. */
function withMarker(marker: string): number[] {
  return pidsByArgs((args) => args.join('\0').includes(marker));
}

/** `run` with a shell whose child sleeps (the `; :` keeps sh from exec-ing it), no terminal. */
function runSleeper(marker: string): { child: ReturnType<typeof spawn>; exited: Promise<number | null> } {
  const child = spawn(BIN, ['run', join(EXAMPLES, 'hello'), '--state-dir', state.path, '--', 'sh', '-c', `sleep ${marker}; :`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : null)))) };
}

test('`run` passes SIGTERM, SIGINT and SIGQUIT (no terminal sent them) to the whole tree; killed with SIGKILL, it takes the tree along', async () => {
  // The four at once, each with its own marker: they share nothing, and one after another the
  // test waited for four CLI starts in turn.
  await Promise.all((
    [['SIGTERM', 143, '1'], ['SIGINT', 130, '2'], ['SIGQUIT', 131, '3'], ['SIGKILL', 137, '4']] as const
  ).map(async ([signal, status, fraction]) => {
    const marker = `31.${fraction}7`;
    const { child, exited } = runSleeper(marker);
    await waitFor(() => withMarker(`sleep\0${marker}`).length === 1, 10_000, `the sleeper to start (${signal})`);
    child.kill(signal);
    // The shell may see its sleeper die of the signal first and finish its script (`:`, 0)
    // before the signal reaches it too: either way the command ended, and `run` with it.
    const code = await orAfter(15_000, () => 'still running after 15 s', exited);
    if (typeof code === 'string') child.kill('SIGKILL');
    assert.ok(code === status || (signal !== 'SIGKILL' && code === 0), `${signal}: exit status ${code}`);
    await waitFor(() => withMarker(`sleep\0${marker}`).length === 0, 5000, `the grandchild gone after ${signal} (it was left running, its parent the shell gone)`);
  }));
});

test('SIGHUP to `serve` (its terminal closed) stops it as SIGTERM does: said, the request in flight answered, status 0, no process left', async () => {
  const dir = writePackage(apps.path, 'hup-served', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'import os, time\ndef application(environ, start_response):\n    if environ["PATH_INFO"] == "/slow":\n        time.sleep(1.5)\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [str(os.getpid()).encode()]\n',
  });
  const served = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--workers', '1']);
  const exited = new Promise<number | null>((resolve) => served.child.on('exit', (code) => resolve(code)));
  const pid = Number(await (await request(`${served.url}/`)).body.text());
  const slow = request(`${served.url}/slow`).then(async (r) => `${r.statusCode} ${await r.body.text()}`, (e: Error) => `failed: ${e.message}`);
  await new Promise((r) => setTimeout(r, 300));
  served.child.kill('SIGHUP');
  const code = await orAfter(20_000, () => 'still running after 20 s', exited);
  if (typeof code === 'string') await served.stop();
  assert.match(await slow, /^200 \d+$/);
  assert.is(code, 0, `exit status ${code}:\n${served.output()}`);
  assert.match(served.output(), 'SIGHUP: stopping');
  await assertNoOrphans([pid]);
});

test('a second SIGINT during the stop (Ctrl-C again) ends the gateway at once and says so; the request it held is cut and no process of the app outlives it', async () => {
  const [apps, state] = [tempDir('apppkg-int2-apps-'), tempDir('apppkg-int2-state-')];
  writePackage(apps.path, 'held', {
    'app.yaml': 'platform: python, wsgi\napp: held:application\n',
    'held.py': 'import time\n\ndef application(environ, start_response):\n    time.sleep(30 if environ["PATH_INFO"] == "/slow" else 0)\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...ONE_WORKER, '--access-log', 'off']);
  let pids: number[] = [];
  try {
    await waitFor(async () => (await fetch(`${gw.url}/held/`)).status === 200, 30_000, 'held to serve');
    pids = statusPids(await gatewayStatus(gw));
    const slow = fetch(`${gw.url}/held/slow`).then((r) => r.status, () => 'cut');
    await waitFor(async () => (await gatewayStatus(gw)).apps[0].inFlight === 1, 10_000, 'the slow request in flight');
    gw.child.kill('SIGINT');
    await waitFor(() => gw.output().includes('SIGINT: stopping'), 10_000, 'the stop to begin');
    const exited = new Promise<string | null>((resolve) => gw.child.once('exit', (_code, signal) => resolve(signal)));
    // With no terminal, a SIGINT within SAME_SIGTERM_MS of the first is taken for a copy of it (a
    // group's, passed on by a parent): the second is sent past that, as a user's would be.
    await new Promise((resolve) => setTimeout(resolve, SAME_SIGTERM_MS));
    gw.child.kill('SIGINT');
    assert.is(await orAfter(10_000, () => 'still running after 10 s', exited), 'SIGINT');
    // Its output may be read after its exit is seen.
    await waitFor(() => gw.output().includes('apppkg-gateway: SIGINT again: stopping at once; requests still in flight are cut'), 5000, 'the gateway to say it stops at once');
    assert.is(await slow, 'cut');
    await assertNoOrphans(pids, 15_000);
  } finally {
    await gw.stop();
    await assertNoOrphans(pids, 15_000);
    apps.remove();
    state.remove();
  }
});

test('a SIGHUP during the stop (a reload racing systemctl stop, a terminal closed) is no kill: the request in flight is finished and the gateway exits 0', async () => {
  const [apps, state] = [tempDir('apppkg-hup-stop-apps-'), tempDir('apppkg-hup-stop-state-')];
  writePackage(apps.path, 'held', {
    'app.yaml': 'platform: python, wsgi\napp: held:application\n',
    'held.py': 'import time\n\ndef application(environ, start_response):\n    time.sleep(3 if environ["PATH_INFO"] == "/slow" else 0)\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...ONE_WORKER, '--access-log', 'off']);
  let pids: number[] = [];
  try {
    await waitFor(async () => (await fetch(`${gw.url}/held/`)).status === 200, 30_000, 'held to serve');
    pids = statusPids(await gatewayStatus(gw));
    const slow = fetch(`${gw.url}/held/slow`).then((r) => r.status, () => 'cut');
    await waitFor(async () => (await gatewayStatus(gw)).apps[0].inFlight === 1, 10_000, 'the slow request in flight');
    gw.child.kill('SIGTERM');
    await waitFor(() => gw.output().includes('SIGTERM: stopping'), 10_000, 'the stop to begin');
    const exited = new Promise<number | string | null>((resolve) => gw.child.once('exit', (code, signal) => resolve(signal ?? code)));
    gw.child.kill('SIGHUP');
    assert.is(await slow, 200);
    // Not gw.stop(): its SIGTERM would be a second one, which ends the stop at once.
    assert.is(await orAfter(20_000, () => 'still running after 20 s', exited), 0, gw.output());
    await waitFor(() => gw.output().includes('apppkg-gateway: stopped'), 5000, 'the stopped line');
    assert.match(gw.output(), 'SIGHUP: the gateway is stopping; nothing is read again');
    await assertNoOrphans(pids, 15_000);
  } finally {
    await gw.stop();
    await assertNoOrphans(pids, 15_000);
    apps.remove();
    state.remove();
  }
});

test('a request still running when --grace is over is cut, and the log names the grace as given (2 s, not what was left of it to the microsecond)', async () => {
  const [apps, state] = [tempDir('apppkg-grace-apps-'), tempDir('apppkg-grace-state-')];
  writePackage(apps.path, 'held', {
    'app.yaml': 'platform: python, wsgi\napp: held:application\n',
    'held.py': 'import time\n\ndef application(environ, start_response):\n    time.sleep(30 if environ["PATH_INFO"] == "/slow" else 0)\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...ONE_WORKER, '--access-log', 'off', '--grace', '2']);
  let pids: number[] = [];
  try {
    await waitFor(async () => (await fetch(`${gw.url}/held/`)).status === 200, 30_000, 'held to serve');
    pids = statusPids(await gatewayStatus(gw));
    const slow = fetch(`${gw.url}/held/slow`).then((r) => r.status, () => 'cut');
    await waitFor(async () => (await gatewayStatus(gw)).apps[0].inFlight === 1, 10_000, 'the slow request in flight');
    assert.is(await gw.stop(20_000), 0, gw.output());
    assert.is(await slow, 'cut');
    assert.match(gw.output(), /stopping: the grace \(2 s\) is over; cutting 1 request in flight \(app held, GET \/held\/slow, \d+ s\)/);
    await assertNoOrphans(pids, 15_000);
  } finally {
    await gw.stop();
    await assertNoOrphans(pids, 15_000);
    apps.remove();
    state.remove();
  }
});

test.run();
