// bin/apppkg-gateway, the command as npm installs it (a symlink in node_modules/.bin or
// /usr/bin): it must find dist/ through the symlink, become the gateway process itself (exec:
// signals and pids are the gateway's), give Node the V8 heap flags the proxy's latency needs,
// and leave the gateway with its open-files soft limit at the hard one (each client connection
// is a descriptor; Node raises it as it starts, the launcher explains why it need not). As PID 1
// of a container, it stays there as an init: it reaps what is orphaned and passes on signals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { assertNoOrphans, BIN, childPids, EXAMPLES, FIXTURES, processesBelow, tempDir, waitFor, within } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';

const test = suite('cli launcher');
const work = tempDir('apppkg-launcher-');
test.after(() => work.remove());

test('through a symlink elsewhere, the launcher execs Node on dist/ with its V8 heap flags', async () => {
  const link = join(work.path, 'apppkg-gateway');
  symlinkSync(BIN, link);
  const child = spawn(link, ['serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', join(work.path, 'link-state')], { cwd: work.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    const url = await waitFor(() => /listening on (http:\S+)/.exec(out)?.[1], 20_000, `serve to listen (output: ${out})`);
    const res = await fetch(url);
    assert.is(res.status, 200);
    // exec: the pid we spawned is Node itself, not a shell waiting on it.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.match(argv[0], /node$/);
    assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
    assert.ok(argv.includes('--initial-old-space-size=64'), argv.join(' '));
    assert.ok(argv.some((a) => a.endsWith(join('dist', 'cli', 'main.js'))), argv.join(' '));
  } finally {
    // A launcher that failed has exited already: waiting for an 'exit' that came would hang.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

test('the launcher finds dist/ through a chain of relative and absolute symlinks, and when started by a relative path', () => {
  // As npm lays it out: node_modules/.bin/NAME -> ../PKG/bin/NAME (relative), here reaching
  // the checkout's launcher through one more, absolute, link.
  const pkgBin = join(work.path, 'node_modules', 'apppkg-gateway', 'bin');
  const dotBin = join(work.path, 'node_modules', '.bin');
  mkdirSync(pkgBin, { recursive: true });
  mkdirSync(dotBin, { recursive: true });
  symlinkSync(BIN, join(pkgBin, 'apppkg-gateway'));
  symlinkSync(relative(dotBin, join(pkgBin, 'apppkg-gateway')), join(dotBin, 'apppkg-gateway'));
  const version = `apppkg-gateway ${JSON.parse(readFileSync(join(dirname(BIN), '..', 'package.json'), 'utf8')).version}`;
  for (const [command, cwd] of [
    [join(dotBin, 'apppkg-gateway'), work.path],
    [join('node_modules', '.bin', 'apppkg-gateway'), work.path],
    [join('bin', 'apppkg-gateway'), join(dirname(BIN), '..')],
  ]) {
    const run = spawnSync(command, ['--version'], { cwd, encoding: 'utf8', timeout: 20_000 });
    assert.is(run.status, 0, `${command} in ${cwd}: ${run.stderr}`);
    assert.is(run.stdout.trim(), version, command);
  }
});

test('`node bin/apppkg-gateway` runs the command too (a script that starts it as a Node program), with its exit statuses', async () => {
  // Found by H262: Node read the launcher as JavaScript and threw a SyntaxError at its first comment.
  const version = `apppkg-gateway ${JSON.parse(readFileSync(join(dirname(BIN), '..', 'package.json'), 'utf8')).version}`;
  for (const [path, cwd] of [
    [BIN, work.path],
    [join('bin', 'apppkg-gateway'), join(dirname(BIN), '..')],
  ]) {
    const run = spawnSync(process.execPath, [path, '--version'], { cwd, encoding: 'utf8', timeout: 20_000 });
    assert.is(run.status, 0, `node ${path} in ${cwd}: ${run.stderr}`);
    assert.is(run.stdout.trim(), version, path);
  }
  const bad = spawnSync(process.execPath, [BIN, '--no-such-flag'], { cwd: work.path, encoding: 'utf8', timeout: 20_000 });
  assert.is(bad.status, 2, `bad usage: ${bad.stderr}`);
  assert.match(bad.stderr, /--no-such-flag/);
  // The gateway itself: it serves, and its SIGTERM stop ends in status 0, its pid Node's own.
  const child = spawn(process.execPath, [BIN, 'serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', join(work.path, 'node-state')], { cwd: work.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await waitFor(() => /listening on (http:\S+)/.exec(out)?.[1], 20_000, () => `serve to listen (output: ${out})`);
    assert.is((await fetch(url)).status, 200);
    const pids = await childPids(child.pid!);
    child.kill('SIGTERM');
    assert.is(await within(20_000, 'serve to stop', exited), 0, out);
    await assertNoOrphans(pids);
  } finally {
    child.kill('SIGKILL');
  }
});

test("the launcher's malloc tuning is the gateway's own: in its exec environment, not in an app's that serve runs", async () => {
  const env = { ...process.env };
  delete env.MALLOC_TRIM_THRESHOLD_;
  delete env.MALLOC_MMAP_THRESHOLD_;
  delete env.APPPKG_LAUNCHER_ENV;
  const child = spawn(BIN, ['serve', join(FIXTURES, 'apps', 'faults'), '--port', '0', '--state-dir', join(work.path, 'malloc-state')], { cwd: work.path, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    const url = await waitFor(() => /listening on (http:\S+)/.exec(out)?.[1], 20_000, `serve to listen (output: ${out})`);
    const execEnv = readFileSync(`/proc/${child.pid}/environ`, 'latin1').split('\0');
    assert.ok(execEnv.includes('MALLOC_TRIM_THRESHOLD_=4194304'), execEnv.join(' '));
    assert.ok(execEnv.includes('MALLOC_MMAP_THRESHOLD_=524288'), execEnv.join(' '));
    // serve runs the app with the caller's environment (development): the gateway's, after the
    // launcher's own variables were taken out of it.
    for (const name of ['MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'APPPKG_LAUNCHER_ENV']) {
      const res = await fetch(new URL(`/osenv?${name}`, url));
      assert.is(await res.json(), null, name);
    }
  } finally {
    const workers = await childPids(child.pid!);
    await stopChild(child);
    await assertNoOrphans(workers);
  }
});

/** `Max open files` of a running process, from /proc/PID/limits: [soft, hard] as printed. */
function openFilesLimit(pid: number): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').slice('Max open files'.length).trim().split(/\s+/);
  return [soft, hard];
}

/** SIGTERM, then its exit within the gateway's grace (30 s) and a margin. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await waitFor(() => child.exitCode !== null || child.signalCode !== null, 35_000, `the gateway (pid ${child.pid}) to exit after SIGTERM`);
}

// The soft limit is lowered below the hard one by the shell that starts the launcher, as a
// login shell or systemd's default (1024) would have it.
const hardLimit = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
const canLower = /^\d+$/.test(hardLimit) ? Number(hardLimit) > 256 : hardLimit === 'unlimited';

runIf(test, canLower, `needs a hard open-files limit above 256 (found ${hardLimit})`)('started from a shell with a low soft limit, the gateway runs with the open-files soft limit at the hard one, quietly', async () => {
  const child = spawn('sh', ['-c', 'ulimit -Sn 256 && exec "$0" "$@"', BIN, 'serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', join(work.path, 'low-limit-state')], {
    cwd: work.path,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  try {
    await waitFor(() => /listening on http:/.test(out), 20_000, `serve to listen (output: ${out}${err})`);
    // Still the same pid (sh exec'd the launcher, which exec'd Node): this is the gateway.
    assert.match(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')[0], /node$/);
    const [soft, hard] = openFilesLimit(child.pid!);
    assert.is(hard, hardLimit === 'unlimited' ? 'unlimited' : hardLimit);
    assert.is(soft, hard, `soft limit ${soft}, hard ${hard}`);
    assert.not.match(err, /ulimit|limit/i, 'nothing said about the limit');
  } finally {
    await stopChild(child);
  }
});

test('with the soft limit already at the hard one, the launcher changes nothing and says nothing', async () => {
  const child = spawn('sh', ['-c', 'ulimit -Sn "$(ulimit -Hn)"; exec "$0" "$@"', BIN, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.is(status, 0);
  assert.match(out, /^apppkg-gateway \d/);
  assert.not.match(out, /ulimit/);
});

/** Every process below `root` now, with its state (Z: a zombie) and command, from /proc. */
function treeBelow(root: number): { pid: number; state: string; comm: string }[] {
  return processesBelow(root).map(({ pid, state, comm }) => ({ pid, state, comm }));
}

// A pod runs the launcher as PID 1 of its PID namespace (the exported manifests' command, the
// image's CMD), with no init in front: unshare(1) gives it the same place here.
runIf(test, isRoot && hasProgram('unshare'), 'needs root and unshare(1) for a PID namespace of its own')('as PID 1 of a container, orphans are reaped (none stays a zombie when a worker is recycled) and SIGTERM still stops the gateway', async () => {
  const apps = join(work.path, 'pid1-apps');
  mkdirSync(join(apps, 'spawner'), { recursive: true });
  writeFileSync(join(apps, 'spawner', 'app.yaml'), 'platform: python, wsgi\napp: app:application\n');
  // Each request leaves a child running in the worker's group, which the recycle kills after
  // the worker: re-parented to PID 1, it is a zombie until PID 1 collects it.
  writeFileSync(join(apps, 'spawner', 'app.py'), [
    'import subprocess',
    'def application(environ, start_response):',
    '    subprocess.Popen(["sleep", "600"])',
    '    start_response("200 OK", [("Content-Type", "text/plain")])',
    '    return [b"spawned"]',
    '',
  ].join('\n'));
  const environment = join(work.path, 'pid1-environment.yaml');
  writeFileSync(environment, 'apps:\n  spawner:\n    workers: 1\n    max_requests: 1\n');
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', BIN, '--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${join(work.path, 'pid1-admin.sock')}`,
    '--environment', environment, '--state-dir', join(work.path, 'pid1-state')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const seen = new Set<number>();
  try {
    const url = await waitFor(() => /listening on (http:\S+)/.exec(out)?.[1], 20_000, `the gateway to listen (output: ${out})`);
    for (let i = 0; i < 3; i++) assert.is(await (await fetch(new URL('/spawner/', url))).text(), 'spawned');
    // Each request's worker recycled, its child killed with its group: no sleep left running.
    await waitFor(() => {
      const tree = treeBelow(child.pid!);
      for (const p of tree) seen.add(p.pid);
      return tree.filter((p) => p.comm === 'sleep').every((p) => p.state === 'Z') && /recycl/.test(out);
    }, 20_000, () => `the recycled workers' children to be killed (tree: ${JSON.stringify(treeBelow(child.pid!))}; output: ${out})`);
    await waitFor(() => !treeBelow(child.pid!).some((p) => p.state === 'Z'), 5_000, () => `no zombie below PID 1 (tree: ${JSON.stringify(treeBelow(child.pid!))})`);
    // What a container runtime sends to stop it: SIGTERM to PID 1 of the namespace.
    const [pid1] = await childPids(child.pid!);
    process.kill(pid1, 'SIGTERM');
    await waitFor(() => child.exitCode !== null, 35_000, `the gateway to stop on SIGTERM to PID 1 (output: ${out})`);
    assert.is(child.exitCode, 0, out);
    assert.match(out, /stopped/);
  } finally {
    // SIGKILL to PID 1 ends its whole namespace.
    if (child.exitCode === null && child.signalCode === null) for (const pid1 of await childPids(child.pid!)) process.kill(pid1, 'SIGKILL');
  }
  await assertNoOrphans([...seen]);
});

test.run();
