// `apppkg-gateway status` as a user runs it: the real CLI, against a real admin listener
// started here with a fixed status provider, and against a real gateway with a refused app.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { request } from 'undici';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { addPackage, oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AppStatus, GatewayStatus } from '../../src/admin/status-types.js';
import { ASK_GATEWAY_EVERY_MS, BIN, installForOtherUsers, ROOT, runCli, startCli, tempDir, waitFor, within } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';
import { defaultAdminBusy } from '../helpers/default-admin.js';
import { fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('status command');
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
// The default address is fixed (127.0.0.1:8099): another gateway on this machine may hold it;
// one of the run's own waits for this file (default-admin.ts). Asked as the file loads, as
// runIf needs: a test returning early would count as passed.
const defaultAdminBusyWhy = await defaultAdminBusy(test);
const ifDefaultAdminFree = runIf(test, defaultAdminBusyWhy === null, defaultAdminBusyWhy ?? '');
const ifNobody = runIf(test, asNobody, 'needs root and runuser to ask a root admin socket (mode 0600) as another user');
const ifScript = runIf(test, hasProgram('script'), 'needs script(1) (bsdutils) to give the command a terminal');
const ifNobodyDefaultFree = runIf(test, asNobody && defaultAdminBusyWhy === null, `needs root and runuser, and nothing on 127.0.0.1:8099, the default --admin${defaultAdminBusyWhy === null ? '' : ` (${defaultAdminBusyWhy})`}`);
const dir = tempDir('apppkg-status-');
const sockPath = join(dir.path, 'admin.sock');
let tcp: AdminServer;
let unix: AdminServer;
let notAGateway: http.Server;

function closeServer(server: http.Server | net.Server | undefined): Promise<void> {
  return new Promise((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
}

function listenAt0(server: http.Server | net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

test.before(async () => {
  const metrics = new GatewayMetrics({ status: fakeStatus, processMetrics: false });
  tcp = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider: fakeProvider(), metrics });
  unix = await startAdminServer({ listen: { kind: 'unix', path: sockPath }, provider: fakeProvider(), metrics });
  notAGateway = http.createServer((_req, res) => res.writeHead(404).end('not here'));
  notAGateway.keepAliveTimeout = 100;
});

test.after(async () => {
  await Promise.all([tcp?.close(), unix?.close(), closeServer(notAGateway)]);
  dir.remove();
});

const tcpAddr = () => new URL(tcp.url).host;

test('prints one row per app, then pids, problems and broken packages', async () => {
  const r = await runCli(['status', '--admin', tcpAddr()], { ms: 15000 });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines.find((l) => l.startsWith('NAME')) ?? '', /NAME\s+STATE\s+VERSION\s+WORKERS\s+RESTARTS\s+REQUESTS\s+ERRORS\s+P50\s+P99\s+MOUNT/);
  assert.match(r.stdout, /^blog\s+ready\s+2026\.11\.24\s+1\/2\s+3\s+120\s+4\s+12ms\s+250ms\s+\/blog$/m);
  assert.match(r.stdout, /^shop\s+crash-loop\s+-\s+0\/0\s+7\s+0\s+0\s+-\s+-\s+\/shop$/m);
  assert.match(r.stdout, /workers: 1001 ready \(40 served, 1 failed\), 1002 starting \(0 served, 0 failed\)/);
  assert.match(r.stdout, /problem: APPPKG_APP_IMPORT_FAILED: app: cannot import shop\.wsgi:app/);
  assert.match(r.stdout, /\/var\/apps\/wiki: APPPKG_DESC_INVALID:/);
});

test("status --admin takes each ADDR form of SPEC 3: PORT alone (the loopback's), HOST:PORT and unix:/path, each reaching the same gateway", async () => {
  const port = new URL(tcp.url).port;
  for (const admin of [port, `127.0.0.1:${port}`, `unix:${sockPath}`]) {
    const r = await runCli(['status', '--admin', admin], { ms: 15000 });
    assert.is(r.status, 0, `${admin}: ${r.stderr}`);
    assert.match(r.stdout, /^blog\s+ready\s+2026\.11\.24\s/m, admin);
  }
});

test('--json prints the status JSON, over a unix socket too', async () => {
  const r = await runCli(['status', '--admin', `unix:${sockPath}`, '--json'], { ms: 15000 });
  assert.is(r.status, 0, r.stderr);
  const { access, ...status } = JSON.parse(r.stdout);
  assert.equal(status, fakeStatus());
  assert.is(access.act, true);
});

test('status --watch follows the changes /events sends: one app\'s counter, an app removed, an app added; --json prints the whole status each time', async () => {
  const blog = fakeStatus().apps[0];
  const app = (name: string, requests = 7): AppStatus => ({ ...blog, name, mount: `/${name}`, requests });
  let apps = Array.from({ length: 20 }, (_, i) => app(`app${String(i).padStart(2, '0')}`));
  const provider = { ...fakeProvider(), status: (): GatewayStatus => ({ ...fakeStatus(), apps: apps.map((a) => ({ ...a })) }) };
  const server = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider, metrics: new GatewayMetrics({ processMetrics: false }) });
  const watches = [false, true].map((json) => {
    const child = spawn(BIN, ['status', '--watch', '--admin', new URL(server.url).host, ...(json ? ['--json'] : [])], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const w = { child, out: '', err: '', exit: once(child, 'exit') };
    child.stdout!.on('data', (c) => (w.out += c));
    child.stderr!.on('data', (c) => (w.err += c));
    return w;
  });
  const [table, json] = watches;
  /** The last table printed: after the last time stamp. */
  const lastTable = () => table.out.slice(table.out.lastIndexOf('\n-- ') + 1);
  const lastJson = () => JSON.parse(json.out.trimEnd().split('\n').at(-1)!) as GatewayStatus;
  const served = async () => (await request(`${server.url}/status`)).body.json();
  try {
    await waitFor(() => /^app19\s/m.test(table.out) && json.out.includes('\n'), 15_000, () => `the first table and JSON line\n${table.out}${table.err}${json.err}`);
    apps[4] = { ...apps[4], requests: 4321 };
    await waitFor(() => /^app04\s+ready\s+\S+\s+\S+\s+\d+\s+4321\s/m.test(lastTable()), 15_000, () => `app04's new count in a table\n${lastTable()}`);
    apps = apps.filter((a) => a.name !== 'app11');
    await waitFor(() => !/^app11\s/m.test(lastTable()), 15_000, () => `a table without app11\n${lastTable()}`);
    apps.splice(2, 0, app('app01b', 99));
    await waitFor(() => /^app01b\s/m.test(lastTable()), 15_000, () => `a table with app01b\n${lastTable()}`);
    const rows = lastTable().split('\n').filter((l) => /^app\w+\s+ready\s/.test(l)).map((l) => l.split(/\s/)[0]);
    assert.equal(rows, apps.map((a) => a.name), 'the rows in the status\'s order');
    await waitFor(() => lastJson().apps.some((a) => a.name === 'app01b'), 15_000, 'a JSON line with app01b');
    assert.equal(lastJson(), await served(), '--json: the whole status, as /status has it');
    for (const w of watches) assert.is(w.err, '');
  } finally {
    for (const w of watches) w.child.kill('SIGTERM');
    for (const w of watches) await within(5000, 'status --watch to exit', w.exit);
    await server.close();
  }
});

ifDefaultAdminFree('no --admin and nobody on the default address, the systemd unit\'s socket there: the fix names it, for each command', async () => {
  const unitSocket = join(dir.path, 'unit-admin.sock');
  const unitServer = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => unitServer.once('error', reject).listen(unitSocket, resolve));
  try {
    const env = { APPPKG_UNIT_ADMIN_SOCKET: unitSocket };
    for (const command of [['status'], ['status', '--watch'], ['logs', 'blog'], ['logs', 'blog', '-f'], ['restart', 'blog'], ['rollback', 'blog']]) {
      const r = await runCli(command, { env, ms: 15000 });
      assert.is(r.status, 1, `${command.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, 'no gateway answers on 127.0.0.1:8099 (ECONNREFUSED)');
      assert.ok(
        r.stderr.includes(`fix: the shipped systemd unit's gateway listens on unix:${unitSocket}, which is there: as root, \`apppkg-gateway ${command.join(' ')} --admin unix:${unitSocket}\``),
        `${command.join(' ')}: ${r.stderr}`,
      );
    }
    // Given --admin, the user chose the address: the unit's socket is not the answer.
    const given = await runCli(['status', '--admin', '127.0.0.1:8099'], { env, ms: 15000 });
    assert.match(given.stderr, /fix: start the gateway with --admin 127\.0\.0\.1:8099 /);
  } finally {
    await closeServer(unitServer);
  }
  // No socket there: "start one", as before.
  const none = await runCli(['status'], { env: { APPPKG_UNIT_ADMIN_SOCKET: unitSocket }, ms: 15000 });
  assert.match(none.stderr, /fix: start one/);
});

ifNobodyDefaultFree('no --admin, nobody on the default address, the unit\'s socket in a directory closed to this user (EACCES): the fix says a gateway may listen there and whom to run as', async () => {
  const bin = installForOtherUsers().bin;
  // As the unit's RuntimeDirectory: mode 0750, root's, a group nobody is not in.
  const runDir = join(dir.path, 'unit-run');
  mkdirSync(runDir, { mode: 0o750 });
  chmodSync(runDir, 0o750);
  const unitSocket = join(runDir, 'admin.sock');
  const unitServer = net.createServer((c) => c.destroy());
  await new Promise<void>((resolve, reject) => unitServer.once('error', reject).listen(unitSocket, resolve));
  chmodSync(dir.path, 0o755);
  try {
    for (const command of [['status'], ['logs', 'blog', '-f'], ['restart', 'blog'], ['rollback', 'blog']]) {
      const r = await runCli(['-u', 'nobody', '--', 'env', `APPPKG_UNIT_ADMIN_SOCKET=${unitSocket}`, bin, ...command], { bin: 'runuser', cwd: '/', ms: 15000 });
      assert.is(r.status, 1, `${command.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, 'no gateway answers on 127.0.0.1:8099 (ECONNREFUSED)');
      assert.ok(
        r.stderr.includes(`fix: a gateway may listen on unix:${unitSocket} all the same (the shipped systemd unit's admin socket): ${runDir} (root:root, mode 0750) is closed to nobody, so this command cannot see it; run it as root, or as the user the unit's --socket-owner names`),
        `${command.join(' ')}: ${r.stderr}`,
      );
      assert.ok(r.stderr.includes(`\`sudo apppkg-gateway ${command.join(' ')} --admin unix:${unitSocket}\``), `${command.join(' ')}: ${r.stderr}`);
      assert.not.match(r.stderr, /start one/);
    }
  } finally {
    chmodSync(dir.path, 0o700);
    await closeServer(unitServer);
  }
});

test('no gateway on the address: exit 1, says so and how to fix it', async () => {
  const probe = net.createServer();
  const port = await listenAt0(probe);
  await closeServer(probe);
  // Each form of --admin, for each command: the fix starts the gateway where this command
  // looks. It said "start one" (a gateway listening on 127.0.0.1:8099) whatever --admin said.
  const sock = join(dir.path, 'nobody.sock');
  for (const [given, address] of [[`${port}`, `127.0.0.1:${port}`], [`127.0.0.1:${port}`, `127.0.0.1:${port}`], [`unix:${sock}`, `unix:${sock}`]]) {
    for (const command of [['status'], ['logs', 'blog', '-f'], ['restart', 'blog']]) {
      const r = await runCli([...command, '--admin', given], { ms: 15000 });
      const said = `${command.join(' ')} --admin ${given}: ${r.stderr}`;
      assert.is(r.status, 1, said);
      assert.ok(r.stderr.startsWith(`apppkg-gateway: no gateway answers on ${address} (${given.startsWith('unix:') ? 'ENOENT' : 'ECONNREFUSED'}), the address --admin gave\n`), said);
      assert.ok(r.stderr.includes(`fix: start the gateway with --admin ${given} (\`apppkg-gateway --apps DIR --admin ${given}\`), or pass --admin the address a running gateway was given`), said);
      assert.not.match(r.stderr, /start one|8099/, said);
    }
  }
  // A file or a directory given for the socket is said to be one, not "start one".
  const file = join(dir.path, 'not-a-socket.txt');
  writeFileSync(file, 'x\n');
  for (const [path, what] of [[file, 'a regular file'], [dir.path, 'a directory']]) {
    const r2 = await runCli(['status', '--admin', `unix:${path}`], { ms: 15000 });
    assert.is(r2.status, 1, r2.stderr);
    assert.is(
      r2.stderr,
      `apppkg-gateway: no gateway answers on unix:${path} (ECONNREFUSED): ${path} is ${what}, not a socket\n` +
        "  fix: pass --admin unix: with the socket the gateway made, the path its --admin unix: was given (the shipped systemd unit's is unix:/run/apppkg-gateway/admin.sock)\n",
    );
  }
});

ifNobody('a unix: admin socket this user may not connect to (mode 0600, root\'s): exit 1, names whose it is and how to reach it, not "no gateway answers ... start one"', async () => {
  const bin = installForOtherUsers().bin;
  const asked = () => runCli(['-u', 'nobody', '--', bin, 'status', '--admin', `unix:${sockPath}`], { bin: 'runuser', cwd: '/', ms: 15000 });
  // Its directory open to all: the socket's own mode refuses.
  chmodSync(dir.path, 0o755);
  try {
    const r = await asked();
    assert.is(r.status, 1, r.stderr);
    assert.is(
      r.stderr,
      `apppkg-gateway: cannot connect to unix:${sockPath} (EACCES): the socket is root's, mode 0600, and this command runs as nobody\n` +
        `  fix: run it as root (sudo apppkg-gateway ...): the admin socket lets its owner alone act on the apps; or start the gateway with --socket-owner naming the user who runs these commands\n`,
    );
  } finally {
    chmodSync(dir.path, 0o700);
  }
  // Its directory closed to this user: said so.
  const r = await asked();
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: cannot connect to unix:${sockPath} (EACCES): this command runs as nobody, who may not enter ${dir.path}\n`);
  assert.match(r.stderr, /  fix: run it as root \(sudo apppkg-gateway \.\.\.\)/);
});

test('a listener that closes the connection unanswered (a gateway out of open files does): exit 1, names the process and its open files, not "start one"', async () => {
  const closing = net.createServer((socket) => socket.destroy());
  const port = await listenAt0(closing);
  try {
    const r = await runCli(['status', '--admin', `127.0.0.1:${port}`], { ms: 15000 });
    assert.is(r.status, 1, r.stderr);
    // This test's process is the listener, far from its limit: not taken for out of files.
    assert.match(r.stderr, new RegExp(`no answer from 127\\.0\\.0\\.1:${port}: it closed the connection before answering; the process listening there \\(pid ${process.pid}\\) holds \\d+ open files, its limit \\d+`));
    assert.match(r.stderr, /fix: it is not out of open files: it may be stuck/);
    assert.not.match(r.stderr, /start one/);
  } finally {
    await closeServer(closing);
  }
});

test('something else on the address: exit 1, names what it answered', async () => {
  const port = await listenAt0(notAGateway);
  const r = await runCli(['status', '--admin', `127.0.0.1:${port}`], { ms: 15000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /answered HTTP 404, expected a gateway's admin answer/);
});

test('--admin naming a gateway\'s public listener (--listen): exit 1, says it is the public one and where the admin listener is, in every admin command', async () => {
  const apps = tempDir('apppkg-status-public-apps-');
  const state = tempDir('apppkg-status-public-state-');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  try {
    const pub = new URL(gw.url).host;
    for (const [command, found] of [[['status'], 'HTTP 404 (no app is mounted at /status)'], [['logs', 'blog'], 'HTTP 404 to GET /apps/blog/log?lines=100 (no app is mounted at /apps/blog/log)'], [['restart', 'blog'], 'HTTP 404 to POST /apps/blog/restart (no app is mounted at /apps/blog/restart)']] as const) {
      const r = await runCli([...command, '--admin', pub], { ms: 15000 });
      assert.is(r.status, 1, r.stderr);
      assert.is(
        r.stderr,
        `apppkg-gateway: ${pub} answered ${found}, expected a gateway's admin answer\n` +
          `  fix: ${pub} is a gateway's public listener (--listen, where its apps answer); status, logs, restart and rollback reach its admin listener: pass --admin the address the gateway's --admin was given (default 127.0.0.1:8099), which it prints at its start as "admin on ..."\n`,
        command.join(' '),
      );
    }
  } finally {
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test('--admin by a name the listener does not answer to (DNS rebinding guard): refused with the address to use, not "another server", in every admin command', async () => {
  const port = new URL(tcp.url).port;
  // What a name of this host in /etc/hosts does (the Host is not a loopback name): the CLI's
  // resolver is told the name is 127.0.0.1, as such a file would (the IPv4-mapped
  // [::ffff:127.0.0.1] served here once, and is a loopback name: the listener answers it).
  const resolver = join(dir.path, 'admin-name-resolver.cjs');
  writeFileSync(resolver, `const dns = require('node:dns');
const real = dns.lookup;
dns.lookup = function (name, options, callback) {
  if (name !== 'gw-admin.example') return real.apply(this, arguments);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
};
`);
  const admin = `gw-admin.example:${port}`;
  for (const command of [['status'], ['logs', 'blog'], ['restart', 'blog']]) {
    const r = await runCli([...command, '--admin', admin], { ms: 15000, env: { NODE_OPTIONS: `--require ${resolver}` } });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /refused .*HTTP 421: Host "gw-admin\.example:\d+" is not this admin listener's address/);
    assert.ok(r.stderr.includes(`fix: use http://127.0.0.1:${port}/ (the CLI: --admin 127.0.0.1:${port})`), r.stderr);
    assert.not.match(r.stderr, /another server/);
  }
});

// A ^C typed at `status --watch` or `logs -f` ends it with 0, the command handling SIGINT itself:
// the shell then starts no line after the `^C` the terminal echoed (it does after a command that
// died of the signal, `tail -f`), and its prompt came on that line, `^C$ `.
ifScript('^C typed in a terminal at status --watch and at logs -f: exit 0, and the line the terminal echoed ^C on is ended, as after tail -f', async () => {
  writeFileSync(join(dir.path, 'blog.log'), 'a line of the log\n');
  const logs = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider: fakeProvider(dir.path), metrics: new GatewayMetrics({ processMetrics: false }) });
  try {
    for (const [argv, shown] of [[['status', '--watch', '--admin', tcpAddr()], /blog/], [['logs', 'blog', '-f', '--admin', new URL(logs.url).host], /a line of the log/]] as const) {
      const term = spawn('script', ['-qfec', ['exec', BIN, ...argv].join(' '), '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] });
      let out = '';
      term.stdout!.on('data', (c) => (out += c));
      const exit = new Promise<number | null>((resolve) => term.once('exit', (code) => resolve(code)));
      try {
        await waitFor(() => shown.test(out), 10_000, `${argv.join(' ')} drawn\n${out}`);
        // Typed: the pty's line discipline makes it SIGINT to the command and echoes it as ^C.
        term.stdin!.write('\x03');
        assert.is(await within(5000, `${argv.join(' ')} to exit at ^C`, exit), 0, out);
        assert.match(out, /\^C\r?\n$/, `${argv.join(' ')}: the output's end, ${JSON.stringify(out.slice(-80))}`);
      } finally {
        term.kill('SIGKILL');
      }
    }
  } finally {
    await logs.close();
  }
});

test('a bad --admin is bad usage: exit 2', async () => {
  const r = await runCli(['status', '--admin', 'nonsense'], { ms: 15000 });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--admin: expected PORT, HOST:PORT or unix:\/path, found "nonsense"/);
  const extra = await runCli(['status', 'extra'], { ms: 15000 });
  assert.is(extra.status, 2, extra.stderr);
});

test('--admin as the gateway prints it (HOST:PORT/, http://HOST:PORT/) reaches it; any other path is bad usage, in every admin command', async () => {
  for (const form of [`${tcpAddr()}/`, `http://${tcpAddr()}/`, `http://${tcpAddr()}`]) {
    const r = await runCli(['status', '--admin', form], { ms: 15000 });
    assert.is(r.status, 0, `${form}: ${r.stderr}`);
    assert.match(r.stdout, /^blog\s+ready/m);
  }
  for (const command of [['status'], ['logs', 'blog'], ['restart', 'blog'], ['rollback', 'blog']]) {
    const r = await runCli([...command, '--admin', `http://${tcpAddr()}/status`], { ms: 15000 });
    assert.is(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`--admin: the admin listener is reached at its root, found the path "/status"`), r.stderr);
    assert.ok(r.stderr.includes(`fix: write --admin ${tcpAddr()} (or http://${tcpAddr()}/)`), r.stderr);
  }
});

test('--admin localhost:PORT finds an admin listener on [::1]:PORT, as curl does, in every admin command', async () => {
  // This host's /etc/hosts may name only 127.0.0.1 for localhost: the client must try ::1 as well.
  const metrics = new GatewayMetrics({ status: fakeStatus, processMetrics: false });
  const v6 = await startAdminServer({ listen: { kind: 'tcp', host: '::1', port: 0 }, provider: fakeProvider(), metrics });
  try {
    const admin = `localhost:${new URL(v6.url).port}`;
    const r = await runCli(['status', '--admin', admin], { ms: 15000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^blog\s+ready/m);
    for (const command of [['logs', 'blog'], ['restart', 'blog'], ['rollback', 'blog']]) {
      const other = await runCli([...command, '--admin', admin], { ms: 15000 });
      assert.not.match(other.stderr, /no gateway answers/, `${command[0]}: ${other.stderr}`);
    }
  } finally {
    await v6.close();
  }
});

test('a refused app: the problem with its fix, the app log, and its last lines for who may read the log', async () => {
  const apps = tempDir('apppkg-status-apps-');
  const state = tempDir('apppkg-status-state-');
  const tokenFile = join(state.path, 'admin-token');
  writeFileSync(tokenFile, 'status-command-token\n', { mode: 0o600 });
  addPackage(apps.path, 'crash-on-import', 'broken');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state.path, '--access-log', 'off', ...oneWorkerEach(state.path)]);
  try {
    const admin = new URL(gw.adminUrl!).host;
    await waitFor(async () => {
      const res = await request(`${gw.adminUrl}/status`, { headers: { authorization: 'Bearer status-command-token' } });
      const body = (await res.body.json()) as any;
      return body.apps?.find((a: any) => a.name === 'broken')?.state === 'failed';
    }, 20_000, 'the app to be refused', ASK_GATEWAY_EVERY_MS);
    const logFile = join(state.path, 'apps', 'broken', 'log', 'app.log');
    const r = await runCli(['status', '--admin', admin, '--admin-token', tokenFile], { ms: 15000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {2}problem: APPPKG_APP_IMPORT_FAILED: /m);
    assert.match(r.stdout, /^ {4}fix: fix the error in the traceback/m);
    assert.ok(r.stdout.includes(`\n    log: ${logFile}\n`), r.stdout);
    assert.ok(r.stdout.includes(`    last lines of ${logFile}:`), r.stdout);
    assert.match(r.stdout, /^ {6}\| ZeroDivisionError: division by zero$/m);
  } finally {
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test('a process that keeps exiting: its line says how it last ended, as a worker\'s does, and shows no pid while it waits to restart', async () => {
  const apps = tempDir('apppkg-status-apps-');
  const state = tempDir('apppkg-status-state-');
  writePackage(apps.path, 'flaky', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nprocesses:\n  feeder:\n    command: sh -c "exit 3"\n',
    'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', ...oneWorkerEach(state.path)]);
  try {
    await waitFor(async () => {
      const body = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
      const feeder = body.apps?.find((a: any) => a.name === 'flaky')?.processes?.[0];
      return feeder?.lastExit?.code === 3 && feeder.pid === null;
    }, 20_000, 'the process to have exited', ASK_GATEWAY_EVERY_MS);
    // The CLI asks on its own, and the process may have been started again since (a loaded
    // machine, a short back-off): then its line has its pid, and the CLI is asked again until it
    // finds the process waiting. Each line read must be one of the two, with its own words.
    const exited = 'the last exited with status 3 at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    const waiting = new RegExp(`^ {2}process feeder: (restarting|crash-loop), \\d+ restarts?, ${exited}$`, 'm');
    const up = new RegExp(`^ {2}process feeder: \\d+ (starting|ready|exited|crash-loop), \\d+ restarts?, ${exited}$`, 'm');
    const seen: string[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await runCli(['status', '--admin', new URL(gw.adminUrl!).host], { ms: 15000 });
      assert.is(r.status, 0, r.stderr);
      const line = r.stdout.split('\n').find((l) => l.startsWith('  process feeder:')) ?? '(no line for feeder)';
      seen.push(line);
      if (waiting.test(r.stdout)) break;
      assert.ok(up.test(r.stdout), `a line that says neither it waits with no pid nor it runs with its pid:\n${r.stdout}`);
      assert.ok(Date.now() < deadline, `never seen waiting to restart, only:\n${seen.join('\n')}`);
    }
  } finally {
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test('a crash loop says why beside how: each exit\'s last stderr line, in /status and in status, bounded, escaped for the terminal, withheld without the right to see logs', async () => {
  const apps = tempDir('apppkg-status-apps-');
  const state = tempDir('apppkg-status-state-');
  const tokenFile = join(state.path, 'admin-token');
  writeFileSync(tokenFile, 'status-command-token\n', { mode: 0o600 });
  writePackage(apps.path, 'looping', {
    // The workers import, say READY, then die as a lazy import in a thread would; the process
    // fails at once with a last line far past the bound, an escape sequence in it.
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nprocesses:\n  feeder:\n    command: python3 feeder.py\n',
    'wsgi.py': [
      'import os, sys, threading',
      'def die():',
      '    sys.stderr.write("Traceback (most recent call last):\\n  File \\"wsgi.py\\", line 3, in die\\nModuleNotFoundError: No module named \'flask\'\\n")',
      '    sys.stderr.flush()',
      '    os._exit(1)',
      'threading.Timer(0.3, die).start()',
      'def application(environ, start_response):',
      '    start_response("200 OK", [])',
      '    return [b"ok"]',
      '',
    ].join('\n'),
    'feeder.py': 'import sys\nsys.stderr.write("first line\\n\\x1b]0;owned\\x07ValueError: " + "x" * 1000 + "\\n\\n")\nsys.exit(2)\n',
  });
  try {
    // One worker: it crash-loops for as long as each gateway runs, and one shows what two would.
    const oneWorker = oneWorkerEach(state.path);
    await readReasons(apps.path, state.path, tokenFile, oneWorker);
    // As root, with no token, an app run as nobody is another user's to the admin: its output is withheld.
    if (process.getuid?.() === 0) await readWithheld(apps.path, state.path);
  } finally {
    apps.remove();
    state.remove();
  }
});

async function readReasons(apps: string, state: string, tokenFile: string, extra: string[]): Promise<void> {
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state, '--access-log', 'off', ...extra]);
  try {
    const statusOf = async (headers: Record<string, string> = { authorization: 'Bearer status-command-token' }) => {
      const body = (await (await request(`${gw.adminUrl}/status`, { headers })).body.json()) as any;
      return body.apps?.find((a: any) => a.name === 'looping');
    };
    // A worker is in `restarting` only between its exit and its respawn: at the fourth restart the
    // back-off is 4 s, long enough for the CLI run below (two at most) to find it there on a loaded
    // host; the first ones (0.5, 1 s) were not, and the worker's line was missing.
    const app = await waitFor(async () => {
      const a = await statusOf();
      return a?.restarting?.[0]?.restarts >= 4 && a.processes?.[0]?.lastExit?.code === 2 ? a : null;
    }, 30_000, 'a worker to have restarted four times and the process to have exited', ASK_GATEWAY_EVERY_MS);
    const worker = app.restarting[0].lastExit;
    assert.is(worker.code, 1);
    assert.is(worker.reason, "ModuleNotFoundError: No module named 'flask'");
    const feeder = app.processes[0].lastExit.reason as string;
    assert.is(Array.from(feeder).length, 200, feeder);
    assert.ok(feeder.startsWith('\x1b]0;owned\x07ValueError: xxx') && feeder.endsWith('x\u2026'), feeder);

    const workerLine = /^ {2}a worker (in a crash loop|restarting): \d+ restarts?, the last exited with status 1 at \S+Z; its last stderr line: ModuleNotFoundError: No module named 'flask'$/m;
    const statusCli = () => runCli(['status', '--admin', new URL(gw.adminUrl!).host, '--admin-token', tokenFile], { ms: 15000 });
    let r = await statusCli();
    // Asked just as the worker respawned (it lives 0.3 s), it is asked again in its next back-off (8 s).
    if (!workerLine.test(r.stdout)) {
      await waitFor(async () => ((await statusOf())?.restarting?.length > 0 ? true : null), 20_000, 'the worker to be restarting again', 100);
      r = await statusCli();
    }
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, workerLine);
    assert.match(r.stdout, /^ {2}process feeder: [^\n]*, the last exited with status 2 at \S+Z; its last stderr line: \\x1b\]0;owned\\x07ValueError: x{100,}\u2026$/m);
    assert.not.match(r.stdout, /[\x1b\x07]/, 'no control character reaches the terminal');
  } finally {
    await gw.stop();
  }
}

/** The package made nobody's, so that it runs as nobody (who enters the directories, and runs a python3 outside /root). */
async function readWithheld(apps: string, stateParent: string): Promise<void> {
  for (const dir of [apps, stateParent]) chmodSync(dir, 0o755);
  const chown = spawnSync('chown', ['-R', 'nobody:', join(apps, 'looping')], { encoding: 'utf8', timeout: 10_000 });
  assert.is(chown.status, 0, chown.stderr);
  const environment = join(stateParent, 'as-nobody.yaml');
  writeFileSync(environment, 'python: /usr/bin/python3\ndefaults:\n  workers: 1\n', { mode: 0o600 });
  const state = join(stateParent, 'open');
  const open = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--environment', environment], { bin: installForOtherUsers().bin });
  try {
    const withheld = await waitFor(async () => {
      const body = (await (await request(`${open.adminUrl}/status`)).body.json()) as any;
      const a = body.apps?.find((x: any) => x.name === 'looping');
      return a?.restarting?.length > 0 && a.processes?.[0]?.lastExit?.code === 2 ? a : null;
    }, 20_000, 'a worker and the process to have exited', ASK_GATEWAY_EVERY_MS);
    assert.is(withheld.user, 'nobody');
    assert.is(withheld.processes[0].lastExit.reason, '[its output is in the app log]');
    assert.ok([...withheld.restarting, ...withheld.workers].every((w: any) => w.lastExit === null || w.lastExit.reason === '[its output is in the app log]'), JSON.stringify(withheld.restarting));
  } finally {
    await open.stop();
  }
}

test('a platform: command app (its own server, processes.web) has no workers: WORKERS is -, not 0/0, and its JSON lists its web process', async () => {
  const apps = tempDir('apppkg-status-apps-');
  const state = tempDir('apppkg-status-state-');
  writePackage(apps.path, 'own', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: python3 -m http.server $PORT --bind 127.0.0.1\n' });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  try {
    const admin = new URL(gw.adminUrl!).host;
    await waitFor(async () => {
      const body = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
      return body.apps?.find((a: any) => a.name === 'own')?.state === 'ready';
    }, 20_000, 'the app to be ready', ASK_GATEWAY_EVERY_MS);
    const r = await runCli(['status', '--admin', admin], { ms: 15000 });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^own\s+ready\s+-\s+-\s+0\s+/m);
    assert.match(r.stdout, /^ {2}process web: \d+ ready/m);
    const json = await runCli(['status', '--json', '--admin', admin], { ms: 15000 });
    const own = JSON.parse(json.stdout).apps.find((a: any) => a.name === 'own');
    assert.equal([own.workers, own.restarting], [[], []]);
    assert.equal(own.processes.map((p: any) => [p.name, p.state]), [['web', 'ready']]);
  } finally {
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test.run();
