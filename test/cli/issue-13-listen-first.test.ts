// Issue 13, item 4: a busy --listen or --admin port was found only after every app had started
// and first-install hooks had run. The gateway binds both listeners first: a busy one fails at
// once, names its flag, and leaves no hook run and no app started; requests that come while the
// apps start wait for them instead of finding none.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { installForOtherUsers, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('issue 13: listeners are bound before apps start');
const work = tempDir('apppkg-listen-first-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
const running: RunningGateway[] = [];
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobody = runIf(test, asNobody, 'needs root and runuser to run the gateway as a user that may not bind a port below 1024');
let busy: net.Server;
let busyPort = 0;

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

test.before(async () => {
  // The first-install hook leaves a mark: it must not run when a listener cannot be bound.
  writePackage(apps, 'hi', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  install: sleep 1 && touch "$APPPKG_DATA_DIR/installed"\n',
    'wsgi.py': WSGI,
  });
  busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as net.AddressInfo).port;
});

test.after(async () => {
  for (const g of running) await g.stop();
  await new Promise((resolve) => busy.close(resolve));
  work.remove();
});

const installed = () => existsSync(join(state, 'apps', 'hi', 'data', 'installed'));

for (const flag of ['--listen', '--admin'] as const) {
  test(`a busy ${flag} fails before any app starts, and the hint names ${flag}`, async () => {
    const addresses = flag === '--listen' ? ['--listen', String(busyPort), '--admin', '0'] : ['--listen', '0', '--admin', String(busyPort)];
    const started = Date.now();
    const r = await runCli(['--apps', apps, ...addresses, '--state-dir', state], { ms: 20_000 });
    assert.is(r.status, 1, r.stderr);
    // The hook takes a second and the app's worker longer: failing first, neither ran.
    assert.not.ok(installed(), 'commands.install ran although the gateway could not listen');
    assert.not.ok(existsSync(join(state, 'apps', 'hi', 'log', 'app.log')), 'a worker was started although the gateway could not listen');
    assert.match(r.stderr, new RegExp(`${flag}: cannot listen on 127\\.0\\.0\\.1:${busyPort}: EADDRINUSE`));
    assert.match(r.stderr, new RegExp(`fix: .*give ${flag} another address`));
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });
}

test('an --access-log FILE that cannot be appended to (no such directory, a directory) fails before anything listens or starts, exit 1', async () => {
  for (const [file, reason] of [[join(work.path, 'no-such-dir', 'access.log'), 'ENOENT'], [work.path, 'EISDIR']] as const) {
    const r = await runCli(['--apps', apps, '--listen', String(busyPort), '--admin', '0', '--state-dir', state, '--access-log', file], { ms: 20_000 });
    assert.is(r.status, 1, r.stderr);
    // Checked before the listeners: the busy --listen is not what it says.
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}: --access-log: cannot append to it: ${reason}`));
    assert.not.match(r.stderr, /cannot listen/);
    assert.not.ok(installed(), 'commands.install ran although the access log could not be opened');
    assert.not.ok(existsSync(join(state, 'apps', 'hi', 'log', 'app.log')), 'a worker was started although the access log could not be opened');
  }
  assert.not.ok(existsSync(join(work.path, 'no-such-dir')), 'its directory is not made');
});

test('serve on a busy port names --port in the hint', async () => {
  const r = await runCli(['serve', join(apps, 'hi'), '--port', String(busyPort), '--state-dir', join(work.path, 'serve-state')], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--port: cannot listen on 127.0.0.1:${busyPort}: EADDRINUSE`);
  assert.match(r.stderr, 'or give --port another port');
});

test('serve on an address this host does not have names --host, which gave it, not --port, which takes a number only', async () => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host.
  const r = await runCli(['serve', join(apps, 'hi'), '--host', '192.0.2.1', '--port', '0', '--state-dir', join(work.path, 'serve-state')], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'apppkg-gateway: --host: cannot listen on 192.0.2.1:0: EADDRNOTAVAIL\n');
  assert.match(r.stderr, '  fix: 192.0.2.1 is no address of this host (`ip -brief address` lists its addresses): give --host one of them, or 0.0.0.0 for every interface, 127.0.0.1 (the default) for this host only\n');
});

// H310: `serve --host nosuchhost.invalid` said "--port: cannot listen on ...", naming a flag
// the user had not typed, and every flag's fix was "an address of this host", not that the
// name was what failed. .invalid never resolves (RFC 6761); a resolver that cannot be asked
// says EAI_AGAIN, whose fix differs in its first words only.
test('a host name that does not resolve names the flag that gave it (--host, --listen, --admin) and says the name is what failed', async () => {
  const token = join(work.path, 'admin-token-unresolved');
  writeFileSync(token, 'k3y-for-the-unresolved-test\n', { mode: 0o600 });
  const host = 'apppkg-no-such-host.invalid';
  for (const [flag, address, args, ours, every] of [
    ['--host', `${host}:0`, ['serve', join(apps, 'hi'), '--host', host, '--port', '0'], '127.0.0.1 (the default)', '0.0.0.0'],
    ['--listen', `${host}:8080`, ['--apps', apps, '--listen', `${host}:8080`, '--admin', '0'], '127.0.0.1:8080', '0.0.0.0:8080'],
    ['--admin', `${host}:8099`, ['--apps', apps, '--listen', '0', '--admin', `${host}:8099`, '--admin-token', token], '127.0.0.1:8099', '0.0.0.0:8099'],
  ] as const) {
    const r = await runCli([...args, '--state-dir', join(work.path, 'unresolved-state')], { ms: 30_000 });
    assert.is(r.status, 1, r.stderr);
    const said = new RegExp(`^apppkg-gateway: ${flag}: cannot listen on ${address.replace(/[.]/g, '\\.')}: (ENOTFOUND|EAI_AGAIN)$`, 'm').exec(r.stderr);
    assert.ok(said, `${flag}: ${r.stderr}`);
    const why = said![1] === 'ENOTFOUND' ? `${host} resolves to no address (\`getent hosts ${host}\` finds none)` : `${host} could not be resolved now (EAI_AGAIN: the DNS server did not answer)`;
    assert.match(r.stderr, `  fix: ${why}: give ${flag} an IP address of this host instead, ${ours} for this host only or ${every} for every interface, or a name /etc/hosts gives one of them\n`);
    assert.not.match(r.stderr, flag === '--host' ? /--port/ : /--host/);
  }
});

ifNobody('serve on a port below 1024 as a user that may not bind it names --port, with a port to give it', async () => {
  chmodSync(work.path, 0o755);
  const run = join(work.path, 'nobody-serve');
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o777);
  const bin = installForOtherUsers().bin;
  const r = await runCli(['-u', 'nobody', '--', 'timeout', '15', bin, 'serve', join(apps, 'hi'), '--port', '80', '--state-dir', join(run, 'state')], { bin: 'runuser', cwd: work.path, ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, '--port: cannot listen on 127.0.0.1:80: EACCES\n');
  assert.match(r.stderr, '  fix: ports below 1024 need root, or the capability CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit): give --port a port of 1024 or more (e.g. 8080), or the gateway the capability\n');
});

// The hint for every errno but EADDRINUSE and EACCES said "or stop what is using it", where
// nothing uses an address this host does not have.
test('--listen and --admin on an address this host does not have: the fix is an address it has, not to stop what uses it', async () => {
  const token = join(work.path, 'admin-token');
  writeFileSync(token, 'k3y-for-the-listen-test\n', { mode: 0o600 });
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this host.
  for (const [flag, port, addresses] of [
    ['--listen', '8080', ['--listen', '192.0.2.1:8080', '--admin', '0']],
    ['--admin', '8099', ['--listen', '0', '--admin', '192.0.2.1:8099', '--admin-token', token]],
  ] as const) {
    const r = await runCli(['--apps', apps, ...addresses, '--state-dir', join(work.path, 'no-address-state')], { ms: 20_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `${flag}: cannot listen on 192.0.2.1:${port}: EADDRNOTAVAIL\n`);
    assert.match(r.stderr, `  fix: 192.0.2.1:${port} is no address of this host (\`ip -brief address\` lists its addresses): give ${flag} one of them, or 0.0.0.0:${port} for every interface, 127.0.0.1:${port} for this host only\n`);
    assert.not.match(r.stderr, /stop what is using it/);
  }
});

ifNobody('--listen on a port below 1024 as a user that may not bind it: the fix is a port of 1024 or more, or the capability', async () => {
  chmodSync(work.path, 0o755);
  const run = join(work.path, 'nobody-run');
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o777);
  const bin = installForOtherUsers().bin;
  // timeout: a gateway that started anyway is ended before runCli's kill, which reaches runuser only.
  const r = await runCli(['-u', 'nobody', '--', 'timeout', '15', bin, '--apps', apps, '--listen', '127.0.0.1:80', '--admin', '0', '--state-dir', join(run, 'state')], { bin: 'runuser', cwd: work.path, ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, '--listen: cannot listen on 127.0.0.1:80: EACCES\n');
  assert.match(r.stderr, '  fix: ports below 1024 need root, or the capability CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit): give --listen a port of 1024 or more (e.g. 127.0.0.1:8080), or the gateway the capability\n');
});

test('a request that comes while the apps start is accepted, and answered once they are up (not a 404)', async () => {
  // A port free a moment ago: the gateway listens there while commands.install still sleeps.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const starting = startCli(['--apps', apps, '--listen', String(port), '--admin', '0', '--state-dir', state], { ms: 30_000 });
  starting.then((g) => running.push(g), () => {});
  // The app's state directory is made just before its first-install hook runs.
  await waitFor(() => existsSync(join(state, 'apps', 'hi', 'data')), 10_000, 'the first install to begin');
  assert.not.ok(installed(), 'commands.install finished before the request could be sent');
  const early = await request(`http://127.0.0.1:${port}/hi/`, { headersTimeout: 30_000 });
  assert.is(early.statusCode, 200);
  assert.is(await early.body.text(), 'ok');
  assert.ok(installed(), 'the request was answered before commands.install finished');
  assert.match((await starting).output(), /listening on/);
});

test.run();
