// One gateway per state root: a second `--apps` gateway (CLI or library) on the root of a running
// one used to start silently and share its apps' logs, data and tmp. It refuses now, before it
// listens or starts an app, naming the root and the holder's pid; a lock left by a gateway that
// is gone is taken over; serve and the commands that run beside a gateway take no lock.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { Gateway } from '../../src/gateway.js';
import { EXAMPLES, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('one gateway per state root');
const work = tempDir('apppkg-state-lock-');
const apps = join(work.path, 'apps');
const empty = join(work.path, 'empty-apps');
mkdirSync(apps);
mkdirSync(empty);
cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
const running: RunningGateway[] = [];
const opened: Gateway[] = [];

test.after(async () => {
  for (const g of running) await g.stop();
  for (const g of opened) await g.stop();
  work.remove();
});

const lockOf = (state: string) => join(state, 'gateway.lock');
const holderOf = (state: string) => Number(readFileSync(lockOf(state), 'utf8').split('\n')[0]);
const cliGateway = (appsDir: string, state: string) => ['--apps', appsDir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--watch-interval', '0'];

test('a second gateway on the root of a running one exits 1 before it listens, naming the root and the pid; the first serves on', async () => {
  const state = join(work.path, 'state-cli');
  const first = await startCli(cliGateway(apps, state));
  running.push(first);
  assert.is(holderOf(state), first.child.pid);
  const second = await runCli(cliGateway(apps, state), { ms: 20_000 });
  assert.is(second.status, 1, second.stderr);
  assert.not.match(second.stdout, 'listening on');
  assert.match(second.stderr, `apppkg-gateway: the state root ${state} is in use by the gateway with pid ${first.child.pid}`);
  assert.match(second.stderr, `fix: stop that gateway (\`kill ${first.child.pid}\`), or give this one a state root of its own with --state-dir DIR`);
  assert.is(holderOf(state), first.child.pid, 'the refused gateway touched the lock');
  assert.is((await request(`${first.url}/hello/`)).statusCode, 200);

  // Commands that run beside a gateway take no lock: run, check, and serve (every serve shares
  // the default root).
  const run = await runCli(['run', join(apps, 'hello'), '--state-dir', state, '--', 'true'], { ms: 30_000 });
  assert.is(run.status, 0, run.stderr);
  const serve = await Gateway.start({ app: join(apps, 'hello'), listen: '127.0.0.1:0', stateDir: state, say: () => {} });
  opened.push(serve);
  assert.is((await request(`${serve.urls[0]}/`)).statusCode, 200);
  await serve.stop();
  assert.is(holderOf(state), first.child.pid);

  // SIGTERM stops it and removes its lock: the next gateway starts.
  assert.is(await first.stop(), 0);
  assert.not.ok(existsSync(lockOf(state)), 'the lock outlived the gateway');
  const third = await startCli(cliGateway(empty, state));
  running.push(third);
  assert.is(holderOf(state), third.child.pid);
  await third.stop();
});

test('a stale lock is taken over: its pid gone, a zombie, or running but started after the lock was written (a reused pid)', async () => {
  const state = join(work.path, 'state-stale');
  mkdirSync(state);
  const gone = spawnSync('true').pid!;
  // Alive, but not the process that wrote the lock: its start time is not the one written.
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  const ours = `${process.pid}\n`; // this process, holding no gateway on this root
  // Exited but not reaped (a parent that never waits: Python, whose SIGCHLD is the default, after
  // a fork whose child exits at once): kill(pid, 0) answers for it, and its start time is the one
  // written. A shell's `sleep 0 & echo $!; exec sleep 30` was reaped by the shell now and then
  // when the child exited before the exec (once in a full run, under load).
  const parent = spawn('python3', ['-c', 'import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const zombie = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (c) => resolve(String(c)))));
    const stat = () => readFileSync(`/proc/${zombie}/stat`, 'utf8').slice(readFileSync(`/proc/${zombie}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    await waitFor(() => stat()[0] === 'Z', 5000, 'the zombie');
    for (const text of [`${gone}\n`, `${other.pid}\n1\n`, `${zombie}\n${stat()[19]}\n`, ours, '', 'garbage\n']) {
      writeFileSync(lockOf(state), text);
      const g = await Gateway.start({ apps: empty, listen: '127.0.0.1:0', admin: false, stateDir: state, watchIntervalMs: 0, say: () => {} });
      opened.push(g);
      assert.is(holderOf(state), process.pid, `over ${JSON.stringify(text)}`);
      await g.stop();
      assert.not.ok(existsSync(lockOf(state)));
    }
  } finally {
    other.kill('SIGKILL');
    parent.kill('SIGKILL');
  }
});

test('two library gateways on one stateDir: the second throws APPPKG_STATE_ROOT_IN_USE; after stop() the root is free', async () => {
  const state = join(work.path, 'state-library');
  const options = { apps: empty, listen: '127.0.0.1:0', admin: false as const, stateDir: state, watchIntervalMs: 0, say: () => {} };
  const first = await Gateway.start(options);
  opened.push(first);
  try {
    await Gateway.start(options).then((g) => {
      opened.push(g);
      assert.unreachable('the second gateway started');
    });
  } catch (err) {
    assert.is((err as { code?: string }).code, 'APPPKG_STATE_ROOT_IN_USE', String(err));
    assert.match((err as Error).message, `pid ${process.pid}`);
  }
  await first.stop();
  const again = await Gateway.start(options);
  opened.push(again);
  await again.stop();
});

test.run();
