// `--listen unix:PATH` and `--admin unix:PATH` where no socket can be made. libuv reports a
// missing directory as EACCES (the hint then sent a root user after ports below 1024), and
// binds a path longer than a socket address holds cut short: a stray socket at another path,
// then an internal ENOENT. Each is now said before anything is bound, exit 1. And a gateway
// that could not bind its socket removed, as it stopped, whatever was at that path: another
// gateway's live socket (nginx then had nothing to connect to), or a file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { installForOtherUsers, runCli, startCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('unix: listeners whose path cannot hold a socket');
const work = tempDir('apppkg-listen-unix-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobody = runIf(test, asNobody, 'needs root and runuser to run the gateway as a user that may not chown');

test.before(() => {
  writePackage(apps, 'hi', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': 'application = None\n' });
});

test.after(() => work.remove());

for (const flag of ['--listen', '--admin'] as const) {
  test(`${flag} unix: in a directory that is not there names the directory to make, exit 1`, async () => {
    const dir = join(work.path, 'run', 'apppkg-gateway');
    const sock = join(dir, 'g.sock');
    const addresses = flag === '--listen' ? ['--listen', `unix:${sock}`, '--admin', '0'] : ['--listen', '0', '--admin', `unix:${sock}`];
    const r = await runCli(['--apps', apps, ...addresses, '--state-dir', state], { ms: 20_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `${flag}: cannot listen on unix:${sock}: ENOENT\n`);
    assert.match(r.stderr, `  fix: there is no directory ${dir} to hold the socket: create it (mkdir -p ${dir}), or give ${flag} another address\n`);
    assert.not.match(r.stderr, /ports below 1024|internal error/);
    assert.not.match(r.stdout, /listening on/);
  });
}

test('a unix: path longer than a socket address holds is refused, and no socket is left at a shortened path', async () => {
  const long = join(work.path, 'l'.repeat(120));
  mkdirSync(long);
  const sock = join(long, 'gateway.sock');
  const r = await runCli(['--apps', apps, '--listen', `unix:${sock}`, '--admin', '0', '--state-dir', state], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--listen: cannot listen on unix:${sock}: ENAMETOOLONG\n`);
  assert.match(r.stderr, `  fix: a unix socket's path may be at most 107 bytes, and this one has ${Buffer.byteLength(sock)}: give --listen another address, in a shorter directory`);
  assert.not.match(r.stderr, /internal error/);
  assert.equal(readdirSync(work.path).sort(), ['apps', 'l'.repeat(120), 'state'].sort(), 'no stray socket beside them');
});

test('a file that is no socket at a unix: path is left as it is, and said so', async () => {
  const file = join(work.path, 'notes.txt');
  writeFileSync(file, 'kept\n');
  const r = await runCli(['--apps', apps, '--listen', `unix:${file}`, '--admin', '0', '--state-dir', state], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--listen: cannot listen on unix:${file}: EEXIST\n`);
  assert.match(r.stderr, `  fix: ${file} is a file that is no socket, and is left as it is: give --listen the path of a socket to make\n`);
  assert.is(readFileSync(file, 'utf8'), 'kept\n');
});

// A directory there was called "a file that is no socket".
test('a directory at an --admin unix: path is said to be a directory, left as it is, exit 1', async () => {
  const dir = join(work.path, 'admin.sock');
  mkdirSync(dir);
  writeFileSync(join(dir, 'kept'), 'kept\n');
  const r = await runCli(['--apps', apps, '--listen', '0', '--admin', `unix:${dir}`, '--state-dir', state], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--admin: cannot listen on unix:${dir}: EEXIST\n`);
  assert.match(r.stderr, `  fix: ${dir} is a directory, and is left as it is: give --admin the path of a socket to make\n`);
  assert.is(readFileSync(join(dir, 'kept'), 'utf8'), 'kept\n');
});

test("a second gateway on a running one's unix: socket fails, and leaves that socket to the one serving on it", async () => {
  const sock = join(work.path, 'gateway.sock');
  const first = await startCli(['--apps', apps, '--listen', `unix:${sock}`, '--admin', '0', '--state-dir', state], { ms: 30_000 });
  try {
    const second = await runCli(['--apps', apps, '--listen', `unix:${sock}`, '--admin', '0', '--state-dir', join(work.path, 'state-2')], { ms: 20_000 });
    assert.is(second.status, 1, second.stderr);
    assert.match(second.stderr, `--listen: cannot listen on unix:${sock}: EADDRINUSE\n  fix: another process listens on unix:${sock}: stop it (\`ss -lxp\` names it)`);
    // nginx still reaches the first one: its socket was not removed by the second's stop.
    const status = await new Promise<number | string>((resolve) => {
      http.get({ socketPath: sock, path: '/nothing-here' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.is(status, 404, "the running gateway's socket is still there and answers");
  } finally {
    await first.stop();
  }
});

// A non-root gateway's chown for --socket-owner failed EPERM, and the hint said to give --listen
// "an address of this host, or stop what is using it".
ifNobody('--socket-owner that a non-root gateway may not give names why, for --listen and --admin', async () => {
  chmodSync(work.path, 0o755);
  const run = join(work.path, 'nobody-run');
  mkdirSync(run);
  chmodSync(run, 0o777);
  const bin = installForOtherUsers().bin;
  for (const flag of ['--listen', '--admin'] as const) {
    const sock = join(run, `${flag.slice(2)}.sock`);
    const addresses = flag === '--listen' ? ['--listen', `unix:${sock}`, '--admin', '0'] : ['--listen', '0', '--admin', `unix:${sock}`];
    // timeout: a gateway that started anyway is ended before runCli's kill, which reaches runuser only.
    const r = await runCli(['-u', 'nobody', '--', 'timeout', '15', bin, '--apps', apps, ...addresses, '--socket-owner', 'root:root', '--state-dir', join(run, 'state')], { bin: 'runuser', cwd: work.path, ms: 20_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `${flag}: cannot listen on unix:${sock}: EPERM\n`);
    assert.match(r.stderr, '  fix: --socket-owner needs root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root');
  }
});

// mail.socket_owner (Postfix's lmtp:unix: transport) is the environment file's, not a flag: its
// refusal named the library's "uid and gid" and nginx's user.
ifNobody('mail.socket_owner that a non-root gateway may not give names the key and why', async () => {
  chmodSync(work.path, 0o755);
  const run = join(work.path, 'nobody-mail');
  mkdirSync(run);
  chmodSync(run, 0o777);
  const bin = installForOtherUsers().bin;
  const sock = join(run, 'lmtp.sock');
  const environment = join(run, 'environment.yaml');
  writeFileSync(environment, `mail:\n  listen: unix:${sock}\n  lmtp: true\n  socket_owner: root\n`);
  chmodSync(environment, 0o644);
  const r = await runCli(['-u', 'nobody', '--', 'timeout', '30', bin, '--apps', apps, '--listen', '0', '--admin', '0', '--environment', environment, '--state-dir', join(run, 'state')], { bin: 'runuser', cwd: work.path, ms: 40_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `mail.listen: cannot listen on unix:${sock}: EPERM\n`);
  assert.match(r.stderr, '  fix: mail.socket_owner needs root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root (as the shipped systemd unit does), or give it :GROUP, a group this user is in and postfix too');
});

// The library's unixSocket is given as uid and gid: its refusal said "--socket-owner", a flag a
// program never had, and "--socket-owner :GROUP", a form unixSocket does not take.
ifNobody('unixSocket that a non-root Gateway.start may not give is named as the library gives it', async () => {
  chmodSync(work.path, 0o755);
  const run = join(work.path, 'nobody-library');
  mkdirSync(run);
  chmodSync(run, 0o777);
  const { root } = installForOtherUsers();
  const script = join(run, 'start.mjs');
  writeFileSync(script, `
import { Gateway } from ${JSON.stringify(join(root, 'dist', 'index.js'))};
const started = Gateway.start({ apps: ${JSON.stringify(apps)}, listen: 'unix:${join(run, 'gw.sock')}', admin: false, unixSocket: { uid: 0, gid: 0 }, stateDir: ${JSON.stringify(join(run, 'state'))}, watchIntervalMs: 0, say: () => {} });
started.then(async (g) => { await g.stop(); console.log('started'); }, (e) => console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })));
`);
  chmodSync(script, 0o644);
  const r = await runCli(['-u', 'nobody', '--', 'timeout', '15', process.execPath, script], { bin: 'runuser', cwd: work.path, ms: 20_000 });
  assert.is(r.status, 0, r.stderr);
  const refusal = JSON.parse(r.stdout) as { code: string; message: string; hint: string };
  assert.is(refusal.code, 'APPPKG_LISTEN_FAILED');
  assert.is(refusal.message, `listen: cannot listen on unix:${join(run, 'gw.sock')}: EPERM`);
  assert.is(refusal.hint, "unixSocket's uid and gid need root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root, or leave uid out and give unixSocket the gid of a group this user is in and nginx's user too");
});

test.run();
