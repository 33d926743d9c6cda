// `status` given no --admin finds the gateway of its state root (STATE/admin.address) as a user
// of supervisorctl expects, through the real CLI: a gateway with `--admin unix:` (the shipped
// unit's form), then a bare `status --state-dir` and APPPKG_STATE_DIR; the file gone at stop,
// and left by a gateway killed, named in the message. Never the machine's state root.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/gateway.js';
import { installForOtherUsers, runCli, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('admin address in the state root');
// Once its gateway is gone, a bare `status` asks the default 127.0.0.1:8099, which another
// gateway on this machine may hold. Asked as the file loads, as runIf needs.
const defaultAdminTaken = await new Promise<boolean>((resolve) => {
  const c = net.connect(8099, '127.0.0.1', () => (c.destroy(), resolve(true)));
  c.on('error', () => resolve(false));
});
const ifDefaultAdminFree = runIf(test, !defaultAdminTaken, 'something listens on 127.0.0.1:8099, the default --admin');
const asNobody = isRoot && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobodyDefaultFree = runIf(test, asNobody && !defaultAdminTaken, 'needs root and runuser, and nothing on 127.0.0.1:8099, the default --admin');
const dir = tempDir('apppkg-admin-address-');
const apps = join(dir.path, 'apps');
const state = join(dir.path, 'state');
const socket = join(dir.path, 'a.sock');
const file = join(state, 'admin.address');
mkdirSync(apps);
let gw: RunningGateway | null = null;

/** A gateway of no apps (nothing to wait for) on `state`, its admin listener on `socket` alone. */
function startGateway(): Promise<RunningGateway> {
  return startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${socket}`, '--state-dir', state, '--access-log', 'off']);
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

ifNobodyDefaultFree('a state root this user may not read: status tries the default address, as before there was a file, saying nothing of the file', async () => {
  const bin = installForOtherUsers().bin;
  mkdirSync(state, { recursive: true });
  writeFileSync(file, `unix:${socket}\n`);
  // dir.path is mkdtemp's, 0700 and root's: closed to nobody.
  const r = await runCli(['-u', 'nobody', '--', bin, 'status', '--state-dir', state], { bin: 'runuser', cwd: '/', ms: 15000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'no gateway answers on 127.0.0.1:8099 (ECONNREFUSED); the default address, given no --admin');
  assert.not.match(r.stderr, socket);
});

test.run();
