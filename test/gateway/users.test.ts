// When the gateway runs as root, each app runs as its user: the owner of its directory, or
// `user:` in the environment file (SPEC §2). Needs root: skipped otherwise. The gateway runs
// from where the app's user can read python-shim (installForOtherUsers), so this works from a
// checkout under /root too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { hostUser } from '../helpers/host-accounts.js';
import { appStatus, gatewayStatus } from '../helpers/status.js';
import { installForOtherUsers, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';

const test = suite('apps run as their user');
const ifRoot = runIf(test, isRoot, 'needs root to run an app as another user');
// The second case needs an interpreter root can run and the app's user cannot: pyenv's python3
// under /root (mode 0700). A python3 on PATH elsewhere (/usr/bin) is open to every user.
const pathPython = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
const ifClosedPython = runIf(
  test,
  isRoot && pathPython.startsWith('/root/'),
  isRoot ? `python3 on PATH (${pathPython || 'none'}) is not under /root, so the app's user can run it` : 'needs root to run an app as another user',
);
const ifAcl = runIf(test, isRoot && hasProgram('setfacl'), isRoot ? 'needs setfacl (the acl package) to grant a read by an ACL' : 'needs root to run an app as another user');
const USER = 'apppkg-test-app';
const work = tempDir('apppkg-users-');
chmodSync(work.path, 0o755);
const running: RunningGateway[] = [];

function uidOf(name: string): number {
  return hostUser(name).uid;
}

function procUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}


test.after(async () => {
  for (const gw of running) await gw.stop();
  work.remove();
});

ifRoot('an app runs as the owner of its directory, its state belongs to it, root is flagged', async () => {
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned');
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  addPackage(apps, 'environ', 'rooty');
  addPackage(apps, 'environ', 'chosen');
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\napps:\n  chosen:\n    user: root\n');
  const state = join(work.path, 'state');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { bin: installForOtherUsers().bin });
  running.push(gw);
  assert.is((await request(`${gw.url}/owned/`)).statusCode, 200);
  const s = await appStatus(gw, 'owned');
  assert.is(s.user, USER);
  assert.is(s.runsAsRoot, false);
  for (const w of s.workers) assert.is(procUid(w.pid), uid, `worker ${w.pid}`);
  for (const dir of ['data', 'log', 'tmp']) assert.is(statSync(join(state, 'apps', 'owned', dir)).uid, uid, dir);
  const rooty = await appStatus(gw, 'rooty');
  assert.is(rooty.runsAsRoot, true);
  assert.match(gw.output(), /rooty: WARNING: runs as root; set `user:` for it/);
  // Root named by the host is confirmed, not answered with "set user:".
  assert.is((await request(`${gw.url}/chosen/`)).statusCode, 200);
  assert.is((await appStatus(gw, 'chosen')).runsAsRoot, true);
  assert.match(gw.output(), /chosen: WARNING: runs as root, as its `user:` in the environment file says/);
  assert.not.match(gw.output(), /chosen: WARNING: runs as root; set `user:`/);
});

ifClosedPython('an interpreter the app\'s user cannot execute is a clear error, and the rest serve', async () => {
  uidOf(USER);
  const apps = join(work.path, 'apps2');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned');
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  addPackage(apps, 'environ', 'rooty');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state2')], { bin: installForOtherUsers().bin });
  running.push(gw);
  await waitFor(async () => (await appStatus(gw, 'owned'))?.problem?.code === 'APPPKG_PY_NOT_EXECUTABLE', 20_000, 'the refusal');
  assert.match((await appStatus(gw, 'owned')).problem.message, new RegExp(`user ${USER} cannot run it`));
  assert.is((await request(`${gw.url}/rooty/`)).statusCode, 200);
  // check as root says so too, rather than passing by importing the app as root.
  const checked = await runCli(['check', owned, '--state-dir', join(work.path, 'state2')], { bin: installForOtherUsers().bin });
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, new RegExp(`FAIL\\s+app\\s+interpreter \\S+ cannot be run: user ${USER} cannot run it`));
});

ifRoot('`run` and `test` as root run as the app\'s user, as its workers and hooks do: what they write in its data directory stays the app\'s', async () => {
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps3');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned', { 'app.yaml': [[/$/, '\ncommands:\n  test: id -u > "$APPPKG_DATA_DIR/by-test"\n']] });
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  const envFile = join(work.path, 'environment3.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\n');
  const state = join(work.path, 'state3');
  const common = ['--environment', envFile, '--state-dir', state];
  const { bin } = installForOtherUsers();
  const ran = await runCli(['run', owned, ...common, '--', 'sh', '-c', 'id -u; echo x > "$APPPKG_DATA_DIR/by-run"; python -c "import os; print(os.environ[\'USER\'])"'], { bin });
  assert.is(ran.status, 0, ran.stderr);
  assert.equal(ran.stdout.trim().split('\n'), [String(uid), USER]);
  assert.is((await runCli(['test', owned, ...common], { bin })).status, 0);
  for (const file of ['by-run', 'by-test']) assert.is(statSync(join(state, 'apps', 'owned', 'data', file)).uid, uid, file);
  assert.is(readFileSync(join(state, 'apps', 'owned', 'data', 'by-test'), 'utf8').trim(), String(uid));
});

ifRoot('`check` as root imports the app and runs commands.check as the app\'s user, its TMPDIR that user\'s', async () => {
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps4');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const check = 'python -c "import os, tempfile; tempfile.mkstemp(); print(\'check uid\', os.getuid())"';
  const owned = addPackage(apps, 'environ', 'owned', { 'app.yaml': [[/$/, `\ncommands:\n  check: ${check}\n`]] });
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  const envFile = join(work.path, 'environment4.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\n');
  const r = await runCli(['check', owned, '--environment', envFile, '--state-dir', join(work.path, 'state4')], { bin: installForOtherUsers().bin });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^check uid ${uid}$`, 'm'));
});

ifRoot('a version refused at its first start (a setting missing) leaves its refusal in `logs NAME`, in a log directory that is its user\'s', async () => {
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps5');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'needs', { 'app.yaml': [[/$/, '\nsettings: [DATABASE_URL]\n']] });
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  const state = join(work.path, 'state5');
  const admin = join(work.path, 'admin5.sock');
  const { bin } = installForOtherUsers();
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${admin}`, '--state-dir', state], { bin });
  running.push(gw);
  await waitFor(() => /needs refused/.test(gw.output()), 20_000, 'the refusal');
  const logs = await runCli(['logs', 'needs', '--admin', `unix:${admin}`], { bin });
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /refused: .*the app requires DATABASE_URL/);
  const log = statSync(join(state, 'apps', 'needs', 'log'));
  assert.is(log.uid, uid, 'the log directory is the app user\'s, as its first start makes it');
  assert.is(log.mode & 0o777, 0o750);
});

// HOME, USER and LOGNAME are the app's user's unless a setting names one (SPEC 2.1: each
// setting as its own variable): a root gateway put the user's over the host's HOME unsaid.
ifRoot('a HOME setting reaches an app run as its user; USER and LOGNAME stay that user\'s', async () => {
  uidOf(USER);
  const apps = join(work.path, 'apps-home');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned');
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  const envFile = join(work.path, 'environment-home.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\napps:\n  owned:\n    settings:\n      HOME: /srv/owned-home\n');
  const ran = await runCli(['run', owned, '--environment', envFile, '--state-dir', join(work.path, 'state-home'), '--', 'sh', '-c', 'echo "$HOME $USER $LOGNAME"'], { bin: installForOtherUsers().bin });
  assert.is(ran.status, 0, ran.stderr);
  assert.is(ran.stdout.trim(), `/srv/owned-home ${USER} ${USER}`);
});

// user: changed (or the directory's owner): the data, logs and tmp the app's previous user left
// are its new user's, or the app could no longer write its own data (SPEC 2.1: writable).
ifRoot('an app given another user finds what its previous user wrote in its data directory writable', async () => {
  const first = uidOf(USER);
  const second = uidOf(`${USER}-2`);
  const apps = join(work.path, 'apps-handover');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const dir = addPackage(apps, 'environ', 'moved');
  const envFile = join(work.path, 'environment-handover.yaml');
  const state = join(work.path, 'state-handover');
  const { bin } = installForOtherUsers();
  const run = async (user: string, script: string) => {
    writeFileSync(envFile, `python: /usr/bin/python3\napps:\n  moved:\n    user: ${user}\n`);
    return runCli(['run', dir, '--environment', envFile, '--state-dir', state, '--', 'sh', '-c', script], { bin });
  };
  const wrote = await run(USER, 'mkdir "$APPPKG_DATA_DIR/sub" && echo one > "$APPPKG_DATA_DIR/sub/f" && touch "$APPPKG_LOG_DIR/own.log" "$TMPDIR/t"');
  assert.is(wrote.status, 0, wrote.stderr);
  assert.is(statSync(join(state, 'apps', 'moved', 'data', 'sub', 'f')).uid, first);
  const again = await run(`${USER}-2`, 'echo two >> "$APPPKG_DATA_DIR/sub/f" && echo x > "$APPPKG_LOG_DIR/own.log" && rm "$TMPDIR/t" && cat "$APPPKG_DATA_DIR/sub/f"');
  assert.is(again.status, 0, again.stderr);
  assert.is(again.stdout, 'one\ntwo\n');
  for (const file of ['data/sub', 'data/sub/f', 'log/own.log']) assert.is(statSync(join(state, 'apps', 'moved', file)).uid, second, file);
});

// app.yaml is its app's user's to replace: made a symlink to a file only root may read, the root
// gateway showed that file's lines in its YAML errors (log, status, 503, check).
ifRoot('an app.yaml that leads to a file the app\'s user may not read is refused, naming the file and its mode, showing none of it; a link its user may read serves', async () => {
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps-secret');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const secret = join(work.path, 'root-only.yaml');
  writeFileSync(secret, 'python: "hunter2-kept-by-root"\n', { mode: 0o600 });
  // A deploy tool's link to a description kept outside the package, which its user may read.
  const shared = join(work.path, 'shared-descriptions');
  mkdirSync(shared, { mode: 0o755 });
  const linked = addPackage(apps, 'environ', 'linked');
  renameSync(join(linked, 'app.yaml'), join(shared, 'linked.yaml'));
  symlinkSync(join(shared, 'linked.yaml'), join(linked, 'app.yaml'));
  const owned = addPackage(apps, 'environ', 'owned');
  rmSync(join(owned, 'app.yaml'));
  symlinkSync(secret, join(owned, 'app.yaml'));
  for (const dir of [linked, owned]) spawnSync('chown', ['-R', '-h', `${USER}:`, dir]);
  // Root's package, run as USER by the environment file's user: USER's rights, not the owner's.
  const named = addPackage(apps, 'environ', 'named');
  rmSync(join(named, 'app.yaml'));
  symlinkSync(secret, join(named, 'app.yaml'));
  const envFile = join(work.path, 'environment-secret.yaml');
  writeFileSync(envFile, `python: /usr/bin/python3\napps:\n  named:\n    user: ${USER}\n`, { mode: 0o600 });
  const state = join(work.path, 'state-secret');
  const { bin } = installForOtherUsers();
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { bin });
  running.push(gw);
  assert.is((await request(`${gw.url}/linked/`)).statusCode, 200);
  const refusal = (dir: string) => `skipping ${dir}:\n  ${dir}/app.yaml: cannot read ${dir}/app.yaml: it leads to ${secret}, and the app's user, ${USER} (uid ${uid}), may not read ${secret} (mode 0600, owner root, gid 0)\n    fix: let ${USER} read the file`;
  for (const dir of [owned, named]) assert.ok(gw.output().includes(refusal(dir)), gw.output());
  const broken = (await gatewayStatus(gw)).broken.map((b: any) => [b.dir, b.code]).sort();
  assert.equal(broken, [[named, 'APPPKG_FILE_UNREADABLE'], [owned, 'APPPKG_FILE_UNREADABLE']]);
  const answer = await request(`${gw.url}/owned/`);
  assert.is(answer.statusCode, 503);
  const page = await answer.body.text();
  assert.match(page, /APPPKG_FILE_UNREADABLE/);
  const checked = await runCli(['check', owned, '--environment', envFile, '--state-dir', state], { bin });
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.ok(checked.stderr.includes(`may not read ${secret} (mode 0600, owner root, gid 0)`), checked.stderr);
  for (const shown of [gw.output(), JSON.stringify(await gatewayStatus(gw)), page, checked.stdout + checked.stderr]) assert.not.match(shown, /hunter2/);
});

// The mode bits are the first answer; a "no" is asked again of the kernel, as an ACL may grant
// what they do not: such a description stays readable (describe as root reads it as its user).
ifAcl('an app.yaml its user may read by an ACL alone, not by its mode bits, is read', async () => {
  uidOf(USER);
  const apps = join(work.path, 'apps-acl');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const dir = addPackage(apps, 'environ', 'acl');
  const kept = join(work.path, 'acl-kept.yaml');
  renameSync(join(dir, 'app.yaml'), kept);
  chmodSync(kept, 0o600);
  symlinkSync(kept, join(dir, 'app.yaml'));
  spawnSync('chown', ['-R', '-h', `${USER}:`, dir]);
  const { bin } = installForOtherUsers();
  const describe = () => runCli(['describe', dir, '--state-dir', join(work.path, 'state-acl')], { bin });
  const refused = await describe();
  assert.is(refused.status, 1, refused.stdout);
  assert.ok(refused.stderr.includes(`may not read ${kept} (mode 0600, owner root, gid 0)`), refused.stderr);
  assert.is(spawnSync('setfacl', ['-m', `u:${USER}:r`, kept]).status, 0, 'setfacl');
  const read = await describe();
  assert.is(read.status, 0, read.stderr);
  assert.is(JSON.parse(read.stdout).name, 'acl');
});

test.run();
