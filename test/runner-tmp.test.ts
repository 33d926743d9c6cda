// `npm test` (scripts/test.mjs, scripts/test-tmp.mjs) leaves nothing in TMPDIR however a test
// process ends: test files make their directories as they load and remove them in their last
// hook, so each one killed on the way (a crash, a `timeout` around a loop) left them, ~3,100 empty
// /tmp/apppkg-* in one session, and a server it had started ran on. Here the runner itself runs,
// from a copy of scripts/ in a tree of its own, a test file that makes a directory, starts a
// server-like child in it (in its own process group, as the tests start nginx) and waits; the
// test process is then killed with SIGKILL, or the run with SIGTERM or SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isAlive, orAfter, ROOT, tempDir, TS_REGISTER, waitFor } from './helpers/process.js';
import { redisMissing } from './helpers/servers.js';
import { SHARED_CACHE_VARIABLE } from './helpers/shared-cache.js';
import { runIf } from './helpers/skip.js';

const test = suite('npm test: a killed test process leaves nothing in TMPDIR');
const work = tempDir('apppkg-runner-tmp-');

// A tree the runner takes for the project's: its scripts copied (the runner finds its root from
// where it is), what the build check reads linked, and test/ holding only the file below and
// the helpers.
const tree = join(work.path, 'tree');
mkdirSync(join(tree, 'test'), { recursive: true });
cpSync(join(ROOT, 'scripts'), join(tree, 'scripts'), { recursive: true });
for (const entry of ['src', 'schema', 'python-shim', 'dist', 'node_modules', 'package.json', 'package-lock.json', 'tsconfig.json']) {
  symlinkSync(join(ROOT, entry), join(tree, entry));
}
// The tests' `uvu` is test/helpers/uvu.ts (tsconfig.json's paths).
symlinkSync(join(ROOT, 'test', 'helpers'), join(tree, 'test', 'helpers'));
// What it made (its directory, the child's pid) goes to READY once the child runs, through a
// rename: the test waits for READY to exist, and read between writeFileSync's open and its
// write it was empty (CI, stop 74: "Unexpected end of JSON input").
writeFileSync(join(tree, 'test', 'waits.test.mjs'), `
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
const dir = mkdtempSync(join(tmpdir(), 'apppkg-waits-'));
const server = spawn('sleep', ['300'], { cwd: dir, stdio: 'ignore', detached: true });
test('waits to be killed', async () => {
  writeFileSync(process.env.READY + '.part', JSON.stringify({ dir, server: server.pid, test: process.pid }));
  renameSync(process.env.READY + '.part', process.env.READY);
  await new Promise((resolve) => setTimeout(resolve, 120_000));
});
test.run();
`);

let run = 0;
const started: ChildProcess[] = [];
/** The children and test processes the runs made: killed after, should a test have failed before they went. */
const servers: number[] = [];

/** The runner on waits.test.mjs with a TMPDIR of its own; resolves once the test process is waiting. */
async function startRun(tmp = join(work.path, `tmp-${run + 1}`)): Promise<{ runner: ChildProcess; tmp: string; made: { dir: string; server: number; test: number }; output: () => string; ended: Promise<void> }> {
  run += 1;
  mkdirSync(tmp, { recursive: true, mode: 0o1777 });
  const ready = join(work.path, `ready-${run}`);
  const runner = spawn(process.execPath, [join(tree, 'scripts', 'test.mjs'), '^waits\\.test\\.mjs$'], {
    cwd: tree, env: { ...process.env, TMPDIR: tmp, READY: ready }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(runner);
  let out = '';
  runner.stdout!.on('data', (c) => (out += c));
  runner.stderr!.on('data', (c) => (out += c));
  const ended = new Promise<void>((resolve) => {
    if (runner.exitCode !== null || runner.signalCode !== null) resolve();
    runner.once('exit', () => resolve());
  });
  await waitFor(() => existsSync(ready), 60_000, () => `the test file to start its child: ${out}`);
  const made = JSON.parse(readFileSync(ready, 'utf8')) as { dir: string; server: number; test: number };
  servers.push(made.server, made.test);
  return { runner, tmp, made, output: () => out, ended };
}

/** That nothing of a run is left: no directory in its TMPDIR, no child running. */
async function assertNothingLeft(tmp: string, made: { dir: string; server: number }, output: string): Promise<void> {
  await waitFor(() => !isAlive(made.server), 20_000, () => `the test file's child ${made.server} to be stopped: ${output}`);
  assert.not.ok(existsSync(made.dir), `${made.dir} removed: ${output}`);
  assert.equal(readdirSync(tmp), [], `nothing left in TMPDIR: ${output}`);
}

test.after(async () => {
  for (const runner of started) if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
  for (const pid of servers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  work.remove();
});

test('a test process killed (SIGKILL): what it left running is stopped by pid and its directory removed; the run goes on to its end', async () => {
  const { tmp, made, output, ended } = await startRun();
  process.kill(made.test, 'SIGKILL');
  await waitFor(async () => (await Promise.race([ended.then(() => true), new Promise((r) => setTimeout(r, 100, false))])), 60_000, () => `the run to end: ${output()}`);
  await assertNothingLeft(tmp, made, output());
  assert.match(output(), `the test process of waits.test.mjs left a process running in ${tmp}/`);
  assert.match(output(), `${made.server} (sleep 300)`);
});

test('the run stopped with SIGTERM: its test process is told, and its directory cleared before the run exits', async () => {
  const { runner, tmp, made, output, ended } = await startRun();
  runner.kill('SIGTERM');
  await waitFor(async () => (await Promise.race([ended.then(() => true), new Promise((r) => setTimeout(r, 100, false))])), 60_000, () => `the run to end: ${output()}`);
  assert.is(runner.exitCode, 130, output());
  assert.not.ok(isAlive(made.test), 'the test process ended');
  await assertNothingLeft(tmp, made, output());
});

test('a run killed with SIGKILL: the next run stops what it left and removes its directory', async () => {
  const first = await startRun();
  first.runner.kill('SIGKILL');
  await first.ended;
  // What a `timeout -s KILL` around the run does to its process group; not to the child in its own.
  if (isAlive(first.made.test)) process.kill(first.made.test, 'SIGKILL');
  assert.ok(isAlive(first.made.server), 'the child in its own process group runs on');
  const second = await startRun(first.tmp);
  assert.match(second.output(), /removed \S+apppkg-run-\S+, the directory of an earlier run that did not end as it should/);
  assert.not.ok(existsSync(first.made.dir), 'the earlier run\'s directory is gone');
  assert.not.ok(isAlive(first.made.server), 'and what ran in it stopped');
  second.runner.kill('SIGTERM');
  await second.ended;
  await assertNothingLeft(second.tmp, second.made, second.output());
});

// A file run by hand (uvu, or node on it) has no runner to clear after it: tempDir removes its
// directories itself at a stop signal, and the process still ends by that signal.
const byHand = join(work.path, 'by-hand.mjs');
writeFileSync(byHand, `
import { renameSync, writeFileSync } from 'node:fs';
import { tempDir } from ${JSON.stringify(pathToFileURL(join(ROOT, 'test', 'helpers', 'process.ts')).href)};
const dirs = [tempDir('apppkg-by-hand-'), tempDir('apppkg-by-hand-')];
writeFileSync(process.env.READY + '.part', JSON.stringify(dirs.map((d) => d.path)));
renameSync(process.env.READY + '.part', process.env.READY);
setTimeout(() => {}, 120_000);
`);

test('a file run by hand, stopped by SIGTERM or SIGINT: its tempDir directories are removed, and it ends by the signal', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const tmp = join(work.path, `by-hand-${signal}`);
    mkdirSync(tmp, { mode: 0o1777 });
    const ready = join(work.path, `by-hand-ready-${signal}`);
    const child = spawn(process.execPath, ['--import', TS_REGISTER, byHand], { env: { ...process.env, TMPDIR: tmp, READY: ready }, stdio: 'ignore' });
    started.push(child);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    await waitFor(() => existsSync(ready), 30_000, `the file run by hand to make its directories (${signal})`);
    const dirs = JSON.parse(readFileSync(ready, 'utf8')) as string[];
    assert.is(dirs.filter((dir) => existsSync(dir)).length, 2);
    child.kill(signal);
    assert.is(await orAfter(20_000, () => 'still running', ended), signal, 'it ends by the signal');
    assert.equal(readdirSync(tmp), [], `nothing left in TMPDIR after ${signal}`);
  }
});

// What a file run by hand makes otherwise than through tempDir went on surviving its signal: a
// server it started (its directory too) and its own shared cache (shared-cache.ts), which an
// 'exit' listener removed, and Node runs none at a signal's death. No run names a shared cache
// to it here, as none does by hand.
const withServer = join(work.path, 'by-hand-server.mjs');
const helper = (name: string) => JSON.stringify(pathToFileURL(join(ROOT, 'test', 'helpers', name)).href);
writeFileSync(withServer, `
import { renameSync, writeFileSync } from 'node:fs';
import { startRedis } from ${helper('servers.ts')};
import { sharedCacheDir } from ${helper('shared-cache.ts')};
const redis = await startRedis();
const cache = sharedCacheDir();
writeFileSync(process.env.READY + '.part', JSON.stringify({ redis: redis.pid, cache }));
renameSync(process.env.READY + '.part', process.env.READY);
setTimeout(() => {}, 120_000);
`);
const missingRedis = redisMissing();
const ifRedis = runIf(test, missingRedis === null, missingRedis ?? '');

ifRedis('a file run by hand, stopped by SIGTERM or SIGINT: the Redis server it started is stopped, its directory and the process\'s shared cache removed', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const tmp = join(work.path, `by-hand-server-${signal}`);
    mkdirSync(tmp, { mode: 0o1777 });
    const ready = join(work.path, `by-hand-server-ready-${signal}`);
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, READY: ready };
    delete env[SHARED_CACHE_VARIABLE];
    const child = spawn(process.execPath, ['--import', TS_REGISTER, withServer], { env, stdio: 'ignore' });
    started.push(child);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    await waitFor(() => existsSync(ready), 30_000, `the file run by hand to start its server (${signal})`);
    const made = JSON.parse(readFileSync(ready, 'utf8')) as { redis: number; cache: string };
    assert.ok(existsSync(made.cache) && isAlive(made.redis), 'made and running');
    try {
      child.kill(signal);
      assert.is(await orAfter(20_000, () => 'still running', ended), signal, 'it ends by the signal');
      // SIGKILLed by the cleanup: gone at once, but reaped by init, which may take a moment.
      await waitFor(() => !isAlive(made.redis), 10_000, () => `redis-server ${made.redis} to end after ${signal}`).catch(() => {});
      assert.not.ok(isAlive(made.redis), `redis-server ${made.redis} runs on after ${signal}`);
      assert.equal(readdirSync(tmp), [], `nothing left in TMPDIR after ${signal}`);
    } finally {
      if (isAlive(made.redis)) process.kill(made.redis, 'SIGKILL');
    }
  }
});

test.run();
