// One address given to two listeners: the second bind failed with EADDRINUSE and the gateway
// said "another process listens on ...", sending the user to look for a process that is not
// there. It is a usage error (exit 2) naming the address, found before anything is bound.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lookup } from 'node:dns/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('cli: an address given to two listeners');
const work = tempDir('apppkg-listen-twice-');
const apps = join(work.path, 'apps');
mkdirSync(apps);
const state = join(work.path, 'state');
let port = 0;

test.before(async () => {
  // A port free a moment ago: were it bound, the first listener would take it and the second fail.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

test.after(() => work.remove());

const gateway = (...addresses: string[]) => runCli(['--apps', apps, '--state-dir', state, ...addresses], { ms: 20_000 });

test('--listen P --listen P exits 2, naming the address given twice', async () => {
  const r = await gateway('--listen', `127.0.0.1:${port}`, '--listen', String(port), '--admin', '127.0.0.1:0');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: --listen 127.0.0.1:${port} is given twice`);
  assert.match(r.stderr, 'fix: give each --listen an address of its own');
  assert.not.match(r.stderr, 'another process');
});

test('--admin on a --listen address exits 2, naming both flags', async () => {
  const r = await gateway('--listen', String(port), '--admin', `127.0.0.1:${port}`);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, `--admin 127.0.0.1:${port} is the --listen address too`);
  assert.match(r.stderr, 'fix: give --admin an address of its own');
});

test('a wildcard and a loopback address on one port overlap; port 0 twice does not; a socket path twice does', async () => {
  const r = await gateway('--listen', `0.0.0.0:${port}`, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, `--listen 127.0.0.1:${port} overlaps --listen 0.0.0.0:${port}: 0.0.0.0 takes port ${port} on every IPv4 address of this host`);
  // Each port 0 is a free port of its own, so the two are not reported (they come first); the
  // socket path given twice, once spelled with ./, is.
  const unix = join(work.path, 'g.sock');
  const twice = await gateway('--listen', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--listen', `unix:${unix}`, '--listen', `unix:${join(work.path, '.', 'g.sock')}`, '--admin', '127.0.0.1:0');
  assert.is(twice.status, 2, twice.stderr);
  assert.match(twice.stderr, `--listen unix:${unix} is given twice`);
});

test('the environment file\'s mail.listen on a --listen or --admin address exits 2 before any app starts, naming both, never "another process"', async () => {
  const env = join(work.path, 'mail-on-listen.yaml');
  writeFileSync(env, `mail:\n  listen: 127.0.0.1:${port}\n`, { mode: 0o600 });
  const r = await gateway('--listen', String(port), '--admin', '127.0.0.1:0', '--environment', env);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: mail.listen 127.0.0.1:${port} is the --listen address too`);
  assert.match(r.stderr, 'fix: give mail.listen in the environment file an address of its own (e.g. 127.0.0.1:2525)');
  assert.not.match(r.stderr, /another process/);
  const admin = await gateway('--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`, '--environment', env);
  assert.is(admin.status, 2, admin.stderr);
  assert.match(admin.stderr, `apppkg-gateway: mail.listen 127.0.0.1:${port} is the --admin address too`);
  assert.match(admin.stderr, 'fix: give mail.listen in the environment file an address of its own');
  const wild = await gateway('--listen', `0.0.0.0:${port}`, '--admin', '127.0.0.1:0', '--environment', env);
  assert.is(wild.status, 2, wild.stderr);
  assert.match(wild.stderr, `mail.listen 127.0.0.1:${port} overlaps --listen 0.0.0.0:${port}`);
});

// Where localhost is ::1 first, the two are different addresses and may both listen.
const localhostIsV4 = (await lookup('localhost')).address === '127.0.0.1';
runIf(test, localhostIsV4, 'localhost resolves to ::1 first on this host')('two names of one address (localhost and 127.0.0.1) on one port: the same usage error, found at the bind', async () => {
  const r = await gateway('--listen', `localhost:${port}`, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, `--listen 127.0.0.1:${port} overlaps --listen localhost:${port}: the first already listens on 127.0.0.1 port ${port}`);
  assert.not.match(r.stderr, /another process/);
  const admin = await gateway('--listen', `127.0.0.1:${port}`, '--admin', `localhost:${port}`);
  assert.is(admin.status, 2, admin.stderr);
  assert.match(admin.stderr, `--admin localhost:${port} overlaps --listen 127.0.0.1:${port}: the first already listens on 127.0.0.1 port ${port}`);
  assert.match(admin.stderr, 'fix: give --admin an address of its own');
  assert.not.match(admin.stderr, /another process/);
  // The mail listener binds after the apps serve: the same question is asked of its bind.
  const env = join(work.path, 'mail-on-localhost.yaml');
  writeFileSync(env, `mail:\n  listen: 127.0.0.1:${port}\n`, { mode: 0o600 });
  const mail = await gateway('--listen', `localhost:${port}`, '--admin', '127.0.0.1:0', '--environment', env);
  assert.is(mail.status, 2, mail.stderr);
  assert.match(mail.stderr, `mail.listen 127.0.0.1:${port} overlaps --listen localhost:${port}: the first already listens on 127.0.0.1 port ${port}`);
  assert.not.match(mail.stderr, /another process/);
});

test.run();
