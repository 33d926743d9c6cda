// `status` given no --admin finds the gateway of its state root (STATE/admin.address) as a user
// of supervisorctl expects, through the real CLI: a gateway with `--admin unix:` (the shipped
// unit's form), then a bare `status --state-dir` and APPPKG_STATE_DIR; the file gone at stop,
// and left by a gateway killed, named in the message. Never the machine's state root.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/gateway.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, BIN, installForOtherUsers, ROOT, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { defaultAdminBusy } from '../helpers/default-admin.js';

const test = suite('admin address in the state root');
// Once its gateway is gone, a bare `status` asks the default 127.0.0.1:8099, which another
// gateway on this machine may hold: held by this file (default-admin.ts) against the run's own,
// and asked as the file loads, as runIf needs.
const defaultAdminBusyWhy = await defaultAdminBusy(test);
const ifDefaultAdminFree = runIf(test, defaultAdminBusyWhy === null, defaultAdminBusyWhy ?? '');
const asNobody = isRoot && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobodyDefaultFree = runIf(test, asNobody && defaultAdminBusyWhy === null, `needs root and runuser, and nothing on 127.0.0.1:8099, the default --admin${defaultAdminBusyWhy === null ? '' : ` (${defaultAdminBusyWhy})`}`);
const dir = tempDir('apppkg-admin-address-');
const apps = join(dir.path, 'apps');
const state = join(dir.path, 'state');
const socket = join(dir.path, 'a.sock');
const file = join(state, 'admin.address');
mkdirSync(apps);
let gw: RunningGateway | null = null;

/** A gateway of no apps (nothing to wait for) on `state`, its admin listener on `at` alone. */
function startGateway(at = socket): Promise<RunningGateway> {
  return startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${at}`, '--state-dir', state, '--access-log', 'off']);
}

test.after(async () => {
  if (gw !== null && gw.child.exitCode === null && gw.child.signalCode === null) await gw.stop();
  dir.remove();
});

ifDefaultAdminFree('a bare status --state-dir (or APPPKG_STATE_DIR) finds a gateway on --admin unix:, by the address it wrote (0644, no token); after its stop the default again, said to be the default', async () => {
  gw = await startGateway();
  assert.is(readFileSync(file, 'utf8'), `unix:${socket}\n`);
  assert.is(statSync(file).mode & 0o777, 0o644);
  const bare = await runCli(['status', '--json', '--state-dir', state], { ms: 15000 });
  assert.is(bare.status, 0, bare.stderr);
  assert.is(JSON.parse(bare.stdout).pid, gw.child.pid);
  const byEnv = await runCli(['status', '--json'], { env: { APPPKG_STATE_DIR: state }, ms: 15000 });
  assert.is(byEnv.status, 0, byEnv.stderr);
  assert.is(JSON.parse(byEnv.stdout).pid, gw.child.pid);
  assert.is(await gw.stop(), 0);
  gw = null;
  assert.not.ok(existsSync(file), 'removed at stop');
  const after = await runCli(['status', '--state-dir', state], { ms: 15000 });
  assert.is(after.status, 1, after.stderr);
  assert.match(after.stderr, `no gateway answers on 127.0.0.1:8099 (ECONNREFUSED); the default address, given no --admin, and no ${file} names another`);
  // A new user who started the gateway with --state-dir and typed a bare `status` (H242) was
  // told only of --admin, whose address a unix: listener's user rarely has in mind.
  assert.match(after.stderr, '; for a gateway started with --state-dir DIR (or APPPKG_STATE_DIR), give this command the same --state-dir DIR, where it wrote its admin address; or pass --admin ADDR');
});

test('a gateway killed leaves its address: a bare status names the file it read and says the gateway is gone; the next start writes it anew', async () => {
  gw = await startGateway();
  gw.child.kill('SIGKILL');
  await new Promise((resolve) => gw!.child.once('exit', resolve));
  gw = null;
  assert.ok(existsSync(file), 'SIGKILL runs no exit handler');
  const r = await runCli(['status', '--state-dir', state], { ms: 15000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `no gateway answers on unix:${socket} (ECONNREFUSED); the address ${file} names, given no --admin`);
  assert.match(r.stderr, `fix: the gateway that wrote ${file} is gone without removing it (killed, or it crashed): start it again`);
  gw = await startGateway();
  const back = await runCli(['status', '--json', '--state-dir', state], { ms: 15000 });
  assert.is(back.status, 0, back.stderr);
  assert.is(JSON.parse(back.stdout).pid, gw.child.pid);
  await gw.stop();
  gw = null;
});

test('a gateway with no admin listener (the library\'s admin: false) removes the address a killed one left, so that status says the default, not a dead address', async () => {
  mkdirSync(state, { recursive: true });
  writeFileSync(file, `unix:${socket}\n`);
  const g = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: state, watchIntervalMs: 0, say: () => {} });
  try {
    assert.not.ok(existsSync(file), 'removed at start');
  } finally {
    await g.stop();
  }
  assert.not.ok(existsSync(file));
});

// An admin.address nobody could use was said to be absent: "no FILE names another" sent the
// user looking for a gateway that had written one.
ifNobodyDefaultFree('a state root this user may not read, or an admin.address of mode 0000: status tries the default address, as before there was a file, and says the file cannot be read by this user, and whom to run as', async () => {
  const bin = installForOtherUsers().bin;
  mkdirSync(state, { recursive: true });
  writeFileSync(file, `unix:${socket}\n`);
  // dir.path is mkdtemp's, 0700 and root's: closed to nobody.
  const closed = await runCli(['-u', 'nobody', '--', bin, 'status', '--state-dir', state], { bin: 'runuser', cwd: '/', ms: 15000 });
  // An open root, its file closed.
  const open = tempDir('apppkg-admin-address-open-');
  try {
    chmodSync(open.path, 0o755);
    writeFileSync(join(open.path, 'admin.address'), `unix:${socket}\n`, { mode: 0o000 });
    const unreadable = await runCli(['-u', 'nobody', '--', bin, 'logs', 'blog', '--state-dir', open.path], { bin: 'runuser', cwd: '/', ms: 15000 });
    for (const [r, at, command] of [[closed, file, 'status'], [unreadable, join(open.path, 'admin.address'), 'logs blog']] as const) {
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, `no gateway answers on 127.0.0.1:8099 (ECONNREFUSED); the default address, given no --admin, as ${at} cannot be read by nobody (EACCES)\n`);
      assert.match(r.stderr, `  fix: run this command as a user who may read ${at} (the gateway writes it mode 0644; as root: \`sudo apppkg-gateway ${command}\`), or pass --admin ADDR with the address the gateway was given\n`);
      assert.not.match(r.stderr, socket);
    }
  } finally {
    open.remove();
  }
});

ifDefaultAdminFree('an admin.address that is a directory, or that names no address: the default is tried, and the message says what is wrong with the file, the fix how to mend it', async () => {
  rmSync(file, { recursive: true, force: true });
  mkdirSync(file, { recursive: true });
  try {
    const r = await runCli(['status', '--state-dir', state], { ms: 15000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `no gateway answers on 127.0.0.1:8099 (ECONNREFUSED); the default address, given no --admin, as ${file} is a directory, not the file a gateway writes its admin address to\n`);
    assert.match(r.stderr, `  fix: remove that directory (\`rmdir ${file}\`) and start the gateway again: it writes its address there as it starts; or pass --admin ADDR with the address the gateway was given\n`);
  } finally {
    rmSync(file, { recursive: true });
  }
  writeFileSync(file, 'not an address\n');
  try {
    const r = await runCli(['status', '--state-dir', state], { ms: 15000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `the default address, given no --admin, as ${file} names no admin address (it holds "not an address")\n`);
    assert.match(r.stderr, `  fix: a gateway writes one line there, its admin address (unix:/run/apppkg-gateway/admin.sock, http://127.0.0.1:8099): remove ${file} and start the gateway again, which writes it anew; or pass --admin ADDR with the address the gateway was given\n`);
  } finally {
    rmSync(file);
  }
});

// A network namespace of the test's own: its 127.0.0.1:8099 is free whatever this host runs,
// and a gateway there is seen by no other test.
const ifOwnNetwork = runIf(test, isRoot && hasProgram('unshare') && hasProgram('nsenter') && hasProgram('ip'), 'needs root, unshare(1), nsenter(1) and ip(8) for a network namespace of its own');

ifOwnNetwork('an unusable admin.address while a gateway answers on the default address: status, logs and restart go on, and say on stderr what is wrong with the file and the fix', async () => {
  // They went on as if the file were not there: the gateway answering may be another than the
  // one of that state root, and nothing said so.
  const empty = join(dir.path, 'no-apps');
  mkdirSync(empty, { recursive: true });
  const other = await startCli(['--net', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', BIN, '--apps', empty, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:8099', '--state-dir', join(dir.path, 'other-state'), '--access-log', 'off'], { bin: 'unshare' });
  const inside = (args: string[]) => runCli(['--target', String(other.child.pid), '--net', BIN, ...args, '--state-dir', state], { bin: 'nsenter', ms: 15000 });
  const warning = (why: string, fix: string) => `apppkg-gateway: warning: ${file} ${why}, so given no --admin this asks the default address, 127.0.0.1:8099, which may be another gateway than the one of that state root; fix: ${fix}\n`;
  try {
    mkdirSync(file, { recursive: true });
    const directory = warning('is a directory, not the file a gateway writes its admin address to', `remove that directory (\`rmdir ${file}\`) and start the gateway again: it writes its address there as it starts; or pass --admin ADDR with the address the gateway was given`);
    const status = await inside(['status', '--json']);
    assert.is(status.status, 0, status.stderr);
    assert.is(JSON.parse(status.stdout).pid, other.child.pid);
    assert.is(status.stderr, directory);
    // The gateway on the default address answers (it has no app, so none runs as another user
    // and nothing is refused): its error comes after the warning.
    for (const args of [['logs', 'blog'], ['restart', 'blog']]) {
      const r = await inside(args);
      assert.is(r.status, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`${directory}apppkg-gateway: the gateway at 127.0.0.1:8099 has no app named blog\n`), r.stderr);
    }
    rmSync(file, { recursive: true });
    writeFileSync(file, 'not an address\n');
    const noAddress = await inside(['status']);
    assert.is(noAddress.status, 0, noAddress.stderr);
    assert.is(noAddress.stderr, warning('names no admin address (it holds "not an address")', `a gateway writes one line there, its admin address (unix:/run/apppkg-gateway/admin.sock, http://127.0.0.1:8099): remove ${file} and start the gateway again, which writes it anew; or pass --admin ADDR with the address the gateway was given`));
  } finally {
    rmSync(file, { recursive: true, force: true });
    await other.stop();
  }
  await assertNoOrphans([other.child.pid!]);
});

// Both kept asking the address read at their start: a gateway started again with another
// --admin (its admin.address rewritten) was waited for on the old socket until Ctrl-C.
test('status --watch and logs -f given no --admin: a gateway started again on another address is found there, by its admin.address read again at each try, and the move is said', async () => {
  const other = join(dir.path, 'b.sock');
  const env = join(dir.path, 'one-worker.yaml');
  writeFileSync(env, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  // A line at import: what logs -f prints first, once it follows.
  const blog = writePackage(apps, 'blog', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': 'import os\nprint("imported, pid", os.getpid(), flush=True)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n' });
  const start = (at: string) => startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${at}`, '--state-dir', state, '--access-log', 'off', '--environment', env]);
  const blogPids = async (): Promise<number[]> => {
    const r = await runCli(['status', '--json', '--state-dir', state], { ms: 15000 });
    const app = r.status === 0 ? JSON.parse(r.stdout).apps.find((a: any) => a.name === 'blog') : undefined;
    return app?.state === 'ready' ? app.workers.map((w: any) => w.pid) : [];
  };
  const pids: number[] = [];
  const followers: Array<{ child: ReturnType<typeof spawn>; out: string; err: string; exit: Promise<number | null> }> = [];
  const follow = (args: string[]) => {
    const child = spawn(BIN, [...args, '--state-dir', state], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const f = { child, out: '', err: '', exit: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) };
    child.stdout!.on('data', (c) => (f.out += c));
    child.stderr!.on('data', (c) => (f.err += c));
    followers.push(f);
    return f;
  };
  try {
    gw = await start(socket);
    pids.push(gw.child.pid!, ...(await waitFor(async () => { const p = await blogPids(); return p.length > 0 ? p : undefined; }, 30_000, 'blog ready')));
    const watcher = follow(['status', '--watch', '--json']);
    const logs = follow(['logs', 'blog', '-f']);
    await waitFor(() => watcher.out.includes('\n') && logs.out.includes('imported, pid'), 15_000, () => `both following\n${watcher.err}${logs.err}`);
    await gw.stop();
    await waitFor(() => watcher.err.includes('lost the gateway') && logs.err.includes('lost the gateway'), 10_000, () => `the lost lines\n${watcher.err}${logs.err}`);
    gw = await start(other);
    assert.is(readFileSync(file, 'utf8'), `unix:${other}\n`);
    const moved = `apppkg-gateway: ${file} names unix:${other} now (it named unix:${socket}: the gateway was started again on another address); trying there\n`;
    await waitFor(() => watcher.err.includes(`the gateway at unix:${other} is back (pid ${gw!.child.pid},`), 30_000, () => `status --watch to find the gateway on its new address\n${watcher.err}`);
    await waitFor(() => logs.err.includes(`the gateway at unix:${other} is back; following the log of blog`), 30_000, () => `logs -f to find the gateway on its new address\n${logs.err}`);
    for (const f of [watcher, logs]) {
      assert.match(f.err, moved);
      assert.is(f.err.split(moved).length, 2, `said once\n${f.err}`);
      assert.match(f.err, `lost the gateway at unix:${socket} `);
    }
    // The table comes after the "is back" line: on a loaded host its stdout can lag the stderr line.
    const lastPid = () => JSON.parse(watcher.out.slice(0, watcher.out.lastIndexOf('\n')).split('\n').at(-1)!).pid; // a whole line
    await waitFor(() => lastPid() === gw!.child.pid, 10_000, () => `status --watch to show the new gateway (pid ${gw!.child.pid}), its last line's pid ${lastPid()}`);
    pids.push(gw.child.pid!, ...(await waitFor(async () => { const p = await blogPids(); return p.length > 0 ? p : undefined; }, 30_000, 'blog ready again')));
    for (const f of [watcher, logs]) {
      f.child.kill('SIGINT');
      assert.is(await within(5000, 'the follower to exit', f.exit), 0, f.err);
    }
  } finally {
    for (const f of followers) if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
    if (gw !== null) await gw.stop();
    gw = null;
    rmSync(blog, { recursive: true });
  }
  await assertNoOrphans([...pids, ...followers.map((f) => f.child.pid!)], 15_000);
});

test.run();
