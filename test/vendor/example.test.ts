// examples/vendored (issue 19): its vendor/ is not committed but produced here by the command,
// from wheels built here; then the app directory is copied as a commit would carry it to
// another path (and, as root, given to another user) and served under --apps with no
// virtualenv and no package index, and its console script runs from vendor/bin/ there.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostUser } from '../helpers/host-accounts.js';
import { EXAMPLES, installForOtherUsers, runCli, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildWheels } from './vendor-fixtures.js';

const test = suite('examples/vendored');
const ifWheels = runIf(test, canBuildWheels, BUILD_REASON);
// No network: the gateway (and so the app) in a network namespace of its own, loopback only.
const canIsolate = isRoot && hasProgram('unshare') && hasProgram('ip');
const ifIsolated = runIf(
  test,
  canBuildWheels && canIsolate,
  !canBuildWheels ? BUILD_REASON : 'needs root, unshare(1) and ip(8) to give the copy to another user and cut the network',
);
const USER = 'apppkg-test-vendor';
const work = tempDir('apppkg-vendor-example-');
// Other users must reach the copy, through its parents (mkdtemp makes them 0700).
chmodSync(work.path, 0o755);
const wheels = join(work.path, 'wheels');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
const source = join(work.path, 'checkout', 'vendored');
const running: RunningGateway[] = [];
const GREETING = 'Hello, vendored world! (apppkg-demo-words 1.0)';

test.before(() => {
  // Debian's python3: one every user may run (a pyenv one under /root is not).
  writeFileSync(envFile, `python: ${BUILD_PYTHON}\n`);
  if (canBuildWheels) buildWheels(wheels, ['demo-greeting', 'demo-words']);
  cpSync(join(EXAMPLES, 'vendored'), source, { recursive: true, filter: (p) => !p.includes('__pycache__') && !p.endsWith('/vendor') });
});
test.after(async () => {
  for (const gw of running) await gw.stop();
  work.remove();
});

/** A launcher that runs `bin` in a new network namespace with only loopback up: no route out. */
function withoutNetwork(bin: string): string {
  const wrapper = join(work.path, 'no-network');
  writeFileSync(wrapper, `#!/bin/sh\nexec unshare --net sh -c 'ip link set lo up && exec "$0" "$@"' '${bin}' "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** The app directory as a commit carries it: its files, none of Python's caches. */
function commitCopy(to: string): string {
  cpSync(source, to, { recursive: true, filter: (p) => !p.includes('__pycache__') });
  return to;
}

ifWheels('vendor produces the example\'s vendor/; a copy elsewhere checks, and runs its console script', async () => {
  // Not committed (npm start makes it in the checkout, where .gitignore keeps it out of git).
  const tracked = spawnSync('git', ['ls-files', join(EXAMPLES, 'vendored', 'vendor')], { cwd: EXAMPLES, encoding: 'utf8' });
  assert.is(tracked.stdout, '', 'the example commits no vendor/');
  assert.ok(!existsSync(join(source, 'vendor')), 'the copy under test starts without one');
  const r = await runCli(['vendor', source, '--find-links', wheels, '--no-index', '-e', envFile], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(existsSync(join(source, 'vendor', 'bin', 'demo-greeting')));

  const copy = commitCopy(join(work.path, 'another', 'place', 'vendored'));
  const check = await runCli(['check', copy, '-e', envFile, '--state-dir', state]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+vendor\s+vendor\/ current with requirements\.txt/);
  assert.match(check.stdout, /ok\s+pip\s+no pip requirements/);

  // In the app's environment (its python3 first on PATH) and straight from the shell.
  const run = await runCli(['run', copy, '-e', envFile, '--state-dir', state, '--', 'vendor/bin/demo-greeting', 'run']);
  assert.is(run.status, 0, run.stdout + run.stderr);
  assert.is(run.stdout.trim(), 'Hello, run! (apppkg-demo-words 1.0)');
  const direct = spawnSync(join(copy, 'vendor', 'bin', 'demo-greeting'), ['shell'], { encoding: 'utf8', cwd: '/', env: { PATH: '/usr/bin:/bin' }, timeout: 30_000 });
  assert.is(direct.status, 0, direct.stderr);
  assert.is(direct.stdout.trim(), 'Hello, shell! (apppkg-demo-words 1.0)');
});

ifIsolated('a copy owned by another user serves under --apps with no virtualenv and no network, and its script runs as that user', async () => {
  const { uid, gid } = hostUser(USER);
  assert.ok(uid > 0, `user ${USER}`);
  const apps = join(work.path, 'srv', 'apps');
  mkdirSync(apps, { recursive: true });
  chmodSync(join(work.path, 'srv'), 0o755);
  chmodSync(apps, 0o755);
  const copy = commitCopy(join(apps, 'vendored'));
  assert.is(spawnSync('chown', ['-R', `${USER}:`, copy]).status, 0);

  // Unix sockets: a file reaches across network namespaces, where loopback does not.
  const listen = join(work.path, 'gateway.sock');
  const admin = join(work.path, 'admin.sock');
  const gw = await startCli(
    ['--apps', apps, '--listen', `unix:${listen}`, '--admin', `unix:${admin}`, '--state-dir', state, '--environment', envFile],
    { bin: withoutNetwork(installForOtherUsers().bin) },
  );
  running.push(gw);
  assert.is.not(readlinkSync(`/proc/${gw.child.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'the gateway has a network of its own');
  const toGateway = new Agent({ connect: { socketPath: listen } });
  const toAdmin = new Agent({ connect: { socketPath: admin } });
  const res = await request('http://localhost/vendored/', { dispatcher: toGateway });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, body + gw.output());
  assert.is(body.trim(), GREETING);
  const status = (await (await request('http://localhost/status', { dispatcher: toAdmin })).body.json()) as { apps: Array<{ name: string; user: string }> };
  assert.is(status.apps.find((a) => a.name === 'vendored')?.user, USER);
  assert.ok(!existsSync(join(state, 'apps', 'vendored', 'venv')), 'no virtualenv was built');

  const script = spawnSync(join(copy, 'vendor', 'bin', 'demo-greeting'), ['other user'], { encoding: 'utf8', cwd: '/', uid, gid, env: { PATH: '/usr/bin:/bin' }, timeout: 30_000 });
  assert.is(script.status, 0, `${script.stderr}${script.error ?? ''}`);
  assert.is(script.stdout.trim(), 'Hello, other user! (apppkg-demo-words 1.0)');
  await Promise.all([toGateway.close(), toAdmin.close()]);
  await gw.stop();
});

test.run();
