// The gateway's open-files limit reached (300 apps under `ulimit -n 256`: each keeps its log
// open, each worker five more): a wake that cannot spawn its worker or its routed process says
// EMFILE, the limit, and how to raise it, where it said `TypeError: Cannot read properties of
// undefined (reading '4')` (spawn gives up before making the pipes) or get-port's `Unknown
// system error 24`; the gateway keeps running, and the apps wake once there is room again.
// The limit is lowered on the running gateway with prlimit (the soft one only, so that it can
// be put back), to just above what it holds while its apps sleep.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, BIN, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { markCold } from '../helpers/shared-cache.js';
import { hasProgram, runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('open-files limit');
const ifPrlimit = runIf(test, hasProgram('prlimit'), 'needs prlimit (util-linux)');
const work = tempDir('apppkg-open-files-');
let gw: RunningGateway | null = null;

test.after(async () => {
  const shared = await steady?.catch(() => undefined);
  await stopGatewayChecked(shared?.gw);
  await stopGatewayChecked(gw, work);
});

/** The soft and hard open-files limits of `pid`. */
function limits(pid: number): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  const [soft, hard] = line.slice('Max open files'.length).trim().split(/\s+/);
  return [soft, hard];
}

function setSoftLimit(pid: number, soft: number | string, hard: string): void {
  const run = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${soft}:${hard}`], { encoding: 'utf8', timeout: 10_000 });
  assert.is(run.status, 0, `prlimit: ${run.stderr}`);
}

/** How many files `pid` has open, once that number holds still for a moment. */
function filesHeldStill(pid: number): Promise<number> {
  return waitFor(async () => {
    const before = readdirSync(`/proc/${pid}/fd`).length;
    await new Promise((r) => setTimeout(r, 300));
    return readdirSync(`/proc/${pid}/fd`).length === before ? before : 0;
  }, 10_000, 'the open files to hold still');
}

/** The lowest descriptor number `pid` does not use: the first a new file would get. */
function lowestFreeFd(pid: number): number {
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let fd = 0;
  while (used.has(fd)) fd++;
  return fd;
}

/** How many of `pid`'s open files are sockets, once that number holds still for a moment. */
function socketsHeldStill(pid: number): Promise<number> {
  const sockets = (): number => readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed meanwhile
    }
  }).length;
  return waitFor(async () => {
    const before = sockets();
    await new Promise((r) => setTimeout(r, 500));
    return sockets() === before ? before : 0;
  }, 20_000, 'the sockets to hold still');
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${gw!.url}${path}`, { headersTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

ifPrlimit('a wake past the limit says EMFILE and how to raise it, the gateway runs on, and the apps wake once there is room', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  writePackage(apps, 'hello', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\n',
    'app.py': "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'hello']\n",
  });
  addPackage(apps, 'command-server', 'site');
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  idle_timeout: 1\n  workers: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  const pid = gw.child.pid!;
  await waitFor(async () => (await gatewayStatus(gw!)).apps.every((a: any) => a.state === 'idle'), 30_000, 'both apps asleep', ASK_GATEWAY_EVERY_MS);

  const [soft, hard] = limits(pid);
  const answers: Array<{ status: number; body: string }> = [];
  for (const path of ['/hello/', '/site/']) {
    // Room for the client's connection, not for a worker's pipes nor a port's probe socket;
    // counted once nothing is opening or closing (the last wake's failure let go of its files).
    setSoftLimit(pid, (await filesHeldStill(pid)) + 1, hard);
    try {
      answers.push(await get(path));
    } finally {
      setSoftLimit(pid, soft, hard);
    }
  }
  assert.equal(answers.map((a) => a.status), [503, 503], answers.map((a) => a.body).join('\n'));
  assert.match(answers[0].body, 'APPPKG_WORKER_START_FAILED');
  assert.match(answers[1].body, 'APPPKG_PROCESS_START_FAILED');

  const problems = (await gatewayStatus(gw)).apps.map((a: any) => a.problem);
  for (const problem of problems) {
    assert.match(problem.message, /EMFILE: the gateway's open-files limit \(\d+\) is reached/, `the problem said: ${problem.message}`);
    assert.match(problem.hint, 'LimitNOFILE=65536');
    // What tries it again at once, as a host running the gateway under systemd does it.
    assert.match(problem.hint, 'or at once when you send the gateway SIGHUP (`systemctl reload apppkg-gateway` under systemd)');
  }
  assert.not.match(gw.output(), /TypeError|Unknown system error/);
  assert.is(gw.child.exitCode, null, 'the gateway runs on');

  // Tried again after the wake's back-off (status's idle.nextWakeAt), with room now.
  await waitFor(async () => (await get('/hello/')).status === 200, 30_000, 'hello to wake with room again', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await get('/site/')).status === 200, 30_000, 'site to wake with room again', ASK_GATEWAY_EVERY_MS);
});

const tinyApp = {
  'app.yaml': 'platform: python, wsgi\napp: app:application\n',
  'app.py': "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
};

/** `name` serves through `gw`, asked on a connection that closes after it (no socket kept for the count). */
async function serves(on: RunningGateway, name: string): Promise<boolean> {
  const res = await request(`${on.url}/${name}/`, { headersTimeout: 30_000, reset: true });
  await res.body.text();
  return res.statusCode === 200;
}

/**
 * A gateway serving `steady` (one worker) under work/deploys, opened by the first test that
 * needs it: the one that deploys `late` to it under a lowered limit, then the one that lowers
 * the limit below what it holds (any gateway with an app does), which stops it.
 */
let steady: Promise<{ gw: RunningGateway; apps: string; envFile: string }> | undefined;
function steadyGateway(): Promise<{ gw: RunningGateway; apps: string; envFile: string }> {
  steady ??= steadyUnder('deploys');
  return steady;
}

/** A gateway serving `steady` (one worker) from work/NAME, with work/NAME.yaml its environment file. */
async function steadyUnder(name: string): Promise<{ gw: RunningGateway; apps: string; envFile: string }> {
  const apps = join(work.path, name);
  mkdirSync(apps);
  writePackage(apps, 'steady', tinyApp);
  const envFile = join(work.path, `${name}.yaml`);
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, `${name}-state`), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  return { gw, apps, envFile };
}

ifPrlimit('a new version refused for want of open files starts by itself once there is room, without SIGHUP', async () => {
  const { gw: own, apps } = await steadyGateway();
  const pid = own.child.pid!;
  const [soft, hard] = limits(pid);
  // Room to read the new app.yaml (one file at a time), not for a worker's pipes.
  setSoftLimit(pid, (await filesHeldStill(pid)) + 3, hard);
  try {
    writePackage(apps, 'late', tinyApp);
    await waitFor(() => /late: .*refused[\s\S]*EMFILE/.test(own.output()), 30_000, () => `the refusal, in:\n${own.output().slice(-3000)}`);
  } finally {
    setSoftLimit(pid, soft, hard);
  }
  await waitFor(() => serves(own, 'late'), 30_000, () => `late to serve by itself, the gateway said:\n${own.output().slice(-3000)}`, ASK_GATEWAY_EVERY_MS);
  assert.match(own.output(), /late: trying again in \d+ s/);
  assert.not.match(own.output(), /SIGHUP: /);
});

// A restart (SIGHUP with new settings) refused so was kept refused till the next SIGHUP or a change
// of its files: the back-off was given to a new version's start only (found by H249). A gateway
// of its own: the next test counts steadyGateway()'s files.
ifPrlimit('a restart refused for want of open files is tried again by itself once there is room, without another SIGHUP', async () => {
  const { gw: own, envFile } = await steadyUnder('restarts');
  try {
    const pid = own.child.pid!;
    const workerPid = async (): Promise<number | undefined> => (await gatewayStatus(own)).apps.find((a: any) => a.name === 'steady')?.workers[0]?.pid;
    const before = await waitFor(workerPid, 30_000, 'steady to have a worker', ASK_GATEWAY_EVERY_MS);
    const [soft, hard] = limits(pid);
    const since = own.output().length;
    setSoftLimit(pid, (await filesHeldStill(pid)) + 3, hard);
    try {
      writeFileSync(envFile, 'defaults:\n  workers: 1\napps:\n  steady:\n    settings:\n      COLOUR: blue\n', { mode: 0o600 });
      own.child.kill('SIGHUP');
      await waitFor(() => /steady: .*refused[\s\S]*EMFILE/.test(own.output().slice(since)), 30_000, () => `the refused restart, in:\n${own.output().slice(since)}`);
    } finally {
      setSoftLimit(pid, soft, hard);
    }
    await waitFor(async () => { const now = await workerPid(); return now !== undefined && now !== before; }, 60_000, () => `steady's restart to happen by itself, the gateway said:\n${own.output().slice(since)}`, ASK_GATEWAY_EVERY_MS);
    assert.match(own.output().slice(since), /steady: .*trying again in \d+ s/);
    assert.is((own.output().slice(since).match(/SIGHUP: /g) ?? []).length, 1, own.output().slice(since));
  } finally {
    await stopGatewayChecked(own);
  }
});

// The last test on steadyGateway(): it stops it.
ifPrlimit('status, when the gateway is out of open files and cannot accept it, says so from /proc: its pid, its files and limit, how to raise it', async () => {
  const { gw: own } = await steadyGateway();
  try {
    const pid = own.child.pid!;
    const [soft, hard] = limits(pid);
    await waitFor(() => serves(own, 'steady'), 30_000, 'steady to serve', ASK_GATEWAY_EVERY_MS);
    await filesHeldStill(pid);
    // The limit at its lowest free descriptor: not one more file, an accepted connection
    // included (a count of its files would leave room in a hole of its table); one above it,
    // the connection is taken and nothing can be opened to answer it. Either way it is out.
    for (const room of [0, 1]) {
      const limit = lowestFreeFd(pid) + room;
      setSoftLimit(pid, limit, hard);
      let r: Awaited<ReturnType<typeof runCli>>;
      try {
        r = await runCli(['status', '--admin', own.adminUrl!], { ms: 30_000 });
      } finally {
        setSoftLimit(pid, soft, hard);
      }
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`no answer from ${new URL(own.adminUrl!).host.replace(/\./g, '\\.')}: .*; the process listening there \\(pid ${pid}\\) holds \\d+ open files, its limit ${limit}`), r.stderr);
      assert.match(r.stderr, 'a gateway out of open files cannot accept a connection');
      assert.match(r.stderr, 'LimitNOFILE=65536');
      assert.not.match(r.stderr, /start one|another server/);
    }
    // With room again it answers, as it did.
    const again = await runCli(['status', '--admin', own.adminUrl!], { ms: 30_000 });
    assert.is(again.status, 0, again.stderr);
    assert.match(again.stdout, /^steady\s+ready/m);
  } finally {
    await stopGatewayChecked(own);
  }
});

ifPrlimit('a start refused for want of open files leaves no socket behind and the gateway runs on: a new app whose interpreter is asked at the limit is refused with EMFILE and how to raise it, the gateway holds the sockets it held before, and the app serves once there is room, at a change of its files', async () => {
  const apps = join(work.path, 'asked');
  mkdirSync(apps);
  const envFile = join(work.path, 'asked.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  // Without the run's probe cache: given one, the gateway read what an earlier gateway's probes
  // said and spawned none, and the case passed without either fix when the file ran whole.
  markCold(join(work.path, 'asked-state'));
  const own = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'asked-state'), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  try {
    const pid = own.child.pid!;
    const [soft, hard] = limits(pid);
    const ended = (): boolean => own.child.exitCode !== null || own.child.signalCode !== null;
    const refused = (): number => (own.output().match(/late: .*refused/g) ?? []).length;
    let refusals = 0;
    const before = await socketsHeldStill(pid);
    // With no app yet, nothing has asked the interpreters: late's start asks them first (a
    // probe's spawn, three pipes), and that spawn is the first file it takes (it threw where it
    // had no pipes to write to, and the gateway died of the spawn's unhandled 'error'). A
    // spawn refused with room for its socketpairs but not for libuv's exec pipe after them (6
    // or 7 free for three) kept the pairs' parent ends for the gateway's life: both counts are
    // tried (SIGHUP asks the interpreters again). A worker's own spawn never meets the limit
    // (roomToSpawn refuses it first, with 30 free), so a worker's start cannot show this.
    for (const room of [6, 7]) {
      setSoftLimit(pid, (await filesHeldStill(pid)) + room, hard);
      if (room === 6) writePackage(apps, 'late', tinyApp);
      else process.kill(pid, 'SIGHUP');
      await waitFor(() => refused() > refusals || ended(), 30_000, () => `late refused, in:\n${own.output().slice(-3000)}`);
      assert.not.ok(ended(), `the gateway runs on, it said:\n${own.output().slice(-3000)}`);
      refusals = refused();
    }
    // Counted under the limit still: with room, a try would start late and add its worker's.
    const after = await socketsHeldStill(pid);
    setSoftLimit(pid, soft, hard);
    assert.is(after, before, `sockets after ${refusals} refused starts, against before them`);
    // It said no interpreter satisfied `python:` ("found none"), and to install one.
    assert.match(own.output(), /late: [^\n]*refused:\n[^\n]*cannot be run: EMFILE: the gateway's open-files limit \(\d+\) is reached\n[^\n]*LimitNOFILE=65536/);
    assert.match(own.output(), /late: trying again in \d+ s/);
    // A change, not SIGHUP (which forgets what every interpreter answered): the probe refused
    // for want of files was kept as the interpreter's answer, and late refused with it for good.
    writePackage(apps, 'late', { 'app.py': `${tinyApp['app.py']}# given room\n` });
    await waitFor(() => serves(own, 'late'), 30_000, () => `late to serve with room, the gateway said:\n${own.output().slice(-3000)}`, ASK_GATEWAY_EVERY_MS);
  } finally {
    await stopGatewayChecked(own);
  }
});

ifPrlimit('a limit too low for the apps is said once, before they start, with how to raise it', async () => {
  const apps = join(work.path, 'many');
  mkdirSync(apps);
  for (let i = 0; i < 8; i++) {
    writePackage(apps, `many${i}`, {
      'app.yaml': 'platform: python, wsgi\napp: app:application\n',
      'app.py': "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    });
  }
  const envFile = join(work.path, 'many.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 3\n', { mode: 0o600 });
  // 8 apps of 3 workers hold ~164 files while they start (with the gateway's own and the 16 it
  // keeps): 100 is too few. prlimit sets both
  // limits, as a unit's LimitNOFILE does, and runs the launcher under them.
  const low = await startCli(
    ['--nofile=100:100', BIN, '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'many-state'), '--environment', envFile, '--access-log', 'off', '--settle', '0'],
    { bin: 'prlimit' },
  );
  try {
    const out = low.output();
    const said = 'the open-files limit (100) is likely too low for 8 apps: while they start each holds about 16';
    assert.is(out.split(said).length - 1, 1, out.slice(0, 3000));
    assert.match(out, 'raise the hard limit (the gateway raises its soft limit to it): LimitNOFILE=65536 in its systemd unit, or `ulimit -Hn 65536` as root');
    const firstApp = out.search(/many\d/);
    assert.ok(firstApp < 0 || out.indexOf(said) < firstApp, 'said before any app is');
    // The refused apps are tried again by themselves, and meanwhile the admin still answers
    // (spawns leave it room): status names each app, the refused ones with why.
    await waitFor(() => /many\d: trying again in \d+ s/.test(low.output()), 60_000, () => `a try again, in:\n${low.output().slice(-3000)}`);
    const listed = (await gatewayStatus(low)).apps;
    assert.is(listed.length, 8, JSON.stringify(listed.map((a: any) => a.name)));
    const refused = listed.filter((a: any) => a.problem !== null);
    assert.ok(refused.length > 0, 'some were refused');
    for (const app of refused) assert.match(app.problem.message, 'EMFILE');
  } finally {
    await stopGatewayChecked(low);
  }
});

test.run();
