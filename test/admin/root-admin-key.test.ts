// A root gateway's admin listener without --admin-token (SPEC 5.4, docs/admin.md "Who may do
// what"): logs and actions need a secret only while some app runs as another user, and root's
// own CLI on this host has one, STATE/admin.key (0600, root's), that the apps' users cannot read.
// Real gateways, real Python apps running as nobody, real sockets. Needs root: skipped otherwise.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import net from 'node:net';
import { addPackage } from '../helpers/apps-dir.js';
import { hostUser } from '../helpers/host-accounts.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, installForOtherUsers, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { statusPids } from '../helpers/status.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('root admin key');
const asNobody = isRoot && spawnSync('runuser', ['-u', 'nobody', '--', 'true'], { timeout: 10_000 }).status === 0;
const ifNobody = runIf(test, asNobody && existsSync('/usr/bin/python3'), 'needs root, runuser and /usr/bin/python3 to run an app as nobody');
const ifRoot = runIf(test, isRoot, 'needs root: apps run as other users only when the gateway is root');

/** A second key, of the key's form: what a stale file or another gateway's holds. */
const WRONG_KEY = 'ab'.repeat(32);
const CLI_MS = 120_000;

interface Env {
  dir: ReturnType<typeof tempDir>;
  apps: string;
  state: string;
  gw: RunningGateway;
  pids: number[];
}
const opened: Env[] = [];

test.after.each(async () => {
  for (const env of opened.splice(0)) {
    const status = await ask(env, '/status').then((r) => r.json(), () => null);
    await env.gw.stop();
    await assertNoOrphans([...env.pids, ...(Array.isArray(status?.apps) ? statusPids(status) : [])]);
    env.dir.remove();
  }
});

/** Version `v` of the environ fixture, saying so on stdout when it loads. */
const loud = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`], [/^import json$/m, `import json\nprint("blog ${v} loading", flush=True)`]] as [RegExp, string][] });

/**
 * A root gateway on a loopback admin port without a token, its apps under a directory every
 * user may enter (an app running as nobody reads its package and its state there), run by the
 * python3 nobody may execute. `owners`: package dir -> the user to chown it to (root otherwise).
 */
async function rootGateway(packages: Record<string, Record<string, [RegExp, string][]>>, owners: Record<string, string> = {}, extra: string[] = [], admin: string | ((dir: string) => string) = '127.0.0.1:0'): Promise<Env> {
  const dir = tempDir('apppkg-admin-key-');
  chmodSync(dir.path, 0o755);
  const apps = join(dir.path, 'apps');
  mkdirSync(apps, { mode: 0o755 });
  for (const [target, edits] of Object.entries(packages)) {
    const made = addPackage(apps, 'environ', target, edits);
    if (owners[target] !== undefined) chownR(made, owners[target]);
  }
  writeFileSync(join(dir.path, 'environment.yaml'), 'python: /usr/bin/python3\ndefaults:\n  workers: 1\n', { mode: 0o600 });
  const state = join(dir.path, 'state');
  const env = { dir, apps, state, gw: await startRoot(dir.path, state, typeof admin === 'string' ? admin : admin(dir.path), extra), pids: [] as number[] };
  opened.push(env);
  return env;
}

/** rootGateway's gateway on `state` (another start on the same apps, another state root). */
function startRoot(dir: string, state: string, admin: string, extra: string[] = []): Promise<RunningGateway> {
  const args = ['--apps', join(dir, 'apps'), '--listen', '127.0.0.1:0', '--admin', admin, '--state-dir', state, '--environment', join(dir, 'environment.yaml'), '--access-log', 'off', '--settle', '0', ...extra];
  return startCli(args, { bin: installForOtherUsers().bin });
}

function chownR(path: string, user: string): void {
  const r = spawnSync('chown', ['-R', `${user}:`, path], { encoding: 'utf8', timeout: 10_000 });
  assert.is(r.status, 0, r.stderr);
}

/** A raw request to the admin listener, with no key unless `headers` carries one. */
async function ask(env: Env, path: string, opts: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string; json(): any }> {
  const url = env.gw.adminUrl!;
  // A unix: admin socket is asked as root, its owner or not.
  const socket = url.startsWith('unix:') ? new Agent({ connect: { socketPath: url.slice('unix:'.length) } }) : undefined;
  const res = await request(`${socket === undefined ? url : 'http://localhost'}${path}`, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, headersTimeout: 60_000, bodyTimeout: 60_000, dispatcher: socket });
  const text = await res.body.text().finally(() => socket?.close());
  return { status: res.statusCode, text, json: () => JSON.parse(text) };
}

function cli(env: Env, args: string[]): ReturnType<typeof runCli> {
  return runCli([...args, '--state-dir', env.state], { ms: CLI_MS });
}

/** `name`'s status once it serves (`version`, when given). */
async function waitServing(env: Env, name: string, version?: string): Promise<any> {
  let last: any;
  return waitFor(async () => {
    last = (await ask(env, '/status')).json().apps.find((a: any) => a.name === name);
    const serves = last?.versions.some((v: any) => (version === undefined || v.version === version) && v.state === 'serving');
    return serves ? last : undefined;
  }, 90_000, () => `${name} ${version ?? ''} serving: ${JSON.stringify(last?.problem ?? last?.state ?? 'not listed')}`, ASK_GATEWAY_EVERY_MS);
}

ifNobody('every app runs as root: logs, restart and status with the app\'s own words need no secret; one app run as nobody, and they do', async () => {
  const env = await rootGateway({
    'blog.1': loud('1'),
    'blog.2': { 'environ_app.py': [[/^import json$/m, 'import json\nraise RuntimeError("blog 2 is broken on purpose")']] },
  });
  await waitFor(async () => (await ask(env, '/status')).json().apps[0]?.versions.some((v: any) => v.version === '2' && v.state === 'failed'), 90_000, 'version 2 refused', ASK_GATEWAY_EVERY_MS);
  const open = await ask(env, '/status');
  assert.is(open.json().apps[0].user, 'root');
  assert.equal(open.json().access, { act: true, logs: true, why: null }, 'apps all root: nothing withheld');
  assert.match(open.text, /broken on purpose/, 'the app\'s own words in the refusal');
  const log = await ask(env, '/apps/blog/log');
  assert.is(log.status, 200, log.text);
  assert.match(log.text, /blog 1 loading/);
  // The CLI, as a user of such a gateway types it.
  const logs = await cli(env, ['logs', 'blog']);
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /blog 1 loading/);
  const status = await cli(env, ['status', '--json']);
  assert.is(status.status, 0, status.stderr);
  assert.match(status.stdout, /RuntimeError: blog 2 is broken on purpose/);
  const restart = await cli(env, ['restart', 'blog']);
  assert.is(restart.status, 0, restart.stderr);
  assert.match(restart.stdout, /blog: version 1 restarted/);

  // An app whose directory is nobody's runs as nobody, and its processes reach this port.
  chownR(addPackage(env.apps, 'environ', 'shop'), 'nobody');
  const shop = await waitServing(env, 'shop');
  assert.is(shop.user, 'nobody');
  const guarded = await ask(env, '/apps/blog/log');
  assert.is(guarded.status, 403, guarded.text);
  assert.match(guarded.json().error.message, /\(blog as root, shop as nobody\) can reach this loopback port/);
  assert.is((await ask(env, '/apps/blog/restart', { method: 'POST' })).status, 403);
  const redacted = await ask(env, '/status');
  assert.is(redacted.json().access.logs, false);
  assert.not.match(redacted.text, /broken on purpose/, 'the app\'s own words withheld again');
  // A command that has not this gateway's key (another state root): refused, with the fixes,
  // and itself again with every option it was given and the token.
  const host = new URL(env.gw.adminUrl!).host;
  const elsewhere = join(env.dir.path, 'another-state');
  const mail = await runCli(['mail', 'retry', '--all', '--admin', host, '--state-dir', elsewhere], { ms: CLI_MS });
  assert.is(mail.status, 1, mail.stderr);
  assert.match(mail.stderr, /refused POST \/mail\/retry\?all=1: HTTP 403: the gateway runs as root/);
  assert.match(mail.stderr, `fix: run the command as root on this host: it reads ${env.state}/admin.key`);
  assert.match(mail.stderr, /or make a token, `\(umask 077 && openssl rand -hex 32 > FILE\)`, start the gateway with --admin-token FILE and pass the same --admin-token FILE here, or start it with --admin unix:\/path/);
  assert.ok(mail.stderr.endsWith(`this command with it: \`apppkg-gateway mail retry --all --admin ${host} --state-dir ${elsewhere} --admin-token FILE\`\n`), mail.stderr);
  // With this gateway's state root, its key: let through to the gateway's own answer.
  const keyed = await cli(env, ['mail', 'retry', '--all']);
  assert.is(keyed.status, 1, keyed.stderr);
  assert.match(keyed.stderr, /^apppkg-gateway: this gateway runs no mail listener/);
});

ifNobody('an app run as nobody: root\'s CLI reaches logs, restart, rollback and the whole status through STATE/admin.key; nobody, and a wrong key, do not', async () => {
  const env = await rootGateway({ 'blog.1': loud('1'), 'blog.2': loud('2') }, { 'blog.1': 'nobody', 'blog.2': 'nobody' });
  assert.is((await waitServing(env, 'blog', '2')).user, 'nobody');
  const keyFile = join(env.state, 'admin.key');
  const key = readFileSync(keyFile, 'utf8');
  assert.match(key, /^[0-9a-f]{64}\n$/);
  const st = statSync(keyFile);
  assert.is(st.mode & 0o777, 0o600);
  assert.is(st.uid, 0);
  // The state root is open to the apps' users (their private dirs are in it): the file's mode
  // is what keeps it from them.
  assert.ok((statSync(env.state).mode & 0o005) === 0o005, 'nobody may enter the state root');
  const read = spawnSync('runuser', ['-u', 'nobody', '--', '/usr/bin/python3', '-c', 'import sys; open(sys.argv[1]).read()', keyFile], { encoding: 'utf8', cwd: '/', timeout: 30_000 });
  assert.is.not(read.status, 0);
  assert.match(read.stderr, /PermissionError: \[Errno 13\]/);
  // A process of the app's user on this host, asking the loopback port as the apps can.
  const asApp = spawnSync('runuser', ['-u', 'nobody', '--', '/usr/bin/python3', '-c', `import urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request(${JSON.stringify(`${env.gw.adminUrl}/apps/blog/restart`)}, method="POST"), timeout=30)
    print("status 200")
except urllib.error.HTTPError as e:
    print("status", e.code)`], { encoding: 'utf8', cwd: '/', timeout: 60_000 });
  assert.is(asApp.stdout.trim(), 'status 403', asApp.stderr);
  const bare = await ask(env, '/apps/blog/log');
  assert.is(bare.status, 403);
  const wrong = await ask(env, '/apps/blog/log', { headers: { authorization: `Bearer ${WRONG_KEY}` } });
  assert.is(wrong.status, 403);
  // A wrong key is told so (it was refused as none, "run the command as root", to root).
  assert.match(wrong.json().error.message, `the secret sent is not this gateway's key, and showing logs and acting need it here (its apps' users can connect too): the gateway writes a new key to ${keyFile} at each start`);
  assert.match(wrong.json().error.hint, `run the command as root with this gateway's state root, --state-dir ${env.state}: it reads the key there`);
  assert.match(bare.json().error.hint, new RegExp(`run the command as root on this host: it reads ${keyFile}`));
  assert.is((await ask(env, '/status')).json().access.logs, false);
  const keyed = await ask(env, '/status', { headers: { authorization: `Bearer ${key.trim()}` } });
  assert.equal(keyed.json().access, { act: true, logs: true, why: null });

  // Root's CLI on this host: no --admin-token.
  const logs = await cli(env, ['logs', 'blog']);
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /blog 2 loading/);
  const status = await cli(env, ['status', '--json']);
  assert.is(status.status, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).access, { act: true, logs: true, why: null });
  assert.ok(Array.isArray(JSON.parse(status.stdout).apps[0].log.lines), 'the log lines, as with the token');
  const restart = await cli(env, ['restart', 'blog']);
  assert.is(restart.status, 0, restart.stderr);
  assert.match(restart.stdout, /blog: version 2 restarted/);
  const rollback = await cli(env, ['rollback', 'blog']);
  assert.is(rollback.status, 0, rollback.stderr);
  assert.match(rollback.stdout, /rolled back from 2 to 1/);
  // --admin given as the gateway wrote it: the same gateway, the key sent too.
  const given = await runCli(['logs', 'blog', '--admin', env.gw.adminUrl!, '--state-dir', env.state], { ms: CLI_MS });
  assert.is(given.status, 0, given.stderr);

  // A stale key (a gateway's before a restart, another's): said as a key that is not this
  // gateway's, naming the file sent; not "run the command as root", to root.
  writeFileSync(keyFile, `${WRONG_KEY}\n`, { mode: 0o600 });
  const stale = await cli(env, ['logs', 'blog']);
  assert.is(stale.status, 1, stale.stderr);
  assert.match(stale.stderr, /HTTP 403: the secret sent is not this gateway's key/);
  assert.match(stale.stderr, `fix: this command sent the key in ${keyFile}, which is not this gateway's; run the command as root with this gateway's state root, --state-dir ${env.state}`);
  assert.not.match(stale.stderr, /run the command as root on this host/);
  writeFileSync(keyFile, key, { mode: 0o600 });

  assert.is(await env.gw.stop(), 0);
  assert.not.ok(existsSync(keyFile), 'admin.key removed at stop');
  assert.not.ok(existsSync(join(env.state, 'admin.address')));
});

/** A port nobody listens on now: a gateway started again there is found at the same address. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** What a process of nobody's gets from the admin socket `sock` (curl as nobody): the status code and body. */
function asNobodyOver(sock: string, path: string, opts: { method?: string; bearer?: string } = {}): { status: number; body: string } {
  const args = ['-u', 'nobody', '--', 'curl', '-s', '-m', '30', '-X', opts.method ?? 'GET', '-w', '\n%{http_code}', '--unix-socket', sock, ...(opts.bearer ? ['-H', `Authorization: Bearer ${opts.bearer}`] : []), `http://localhost${path}`];
  const r = spawnSync('runuser', args, { encoding: 'utf8', cwd: '/', timeout: 60_000 });
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: r.stdout.slice(0, at) };
}

ifNobody('--socket-owner nobody on the unix: admin socket, blog run as nobody: nobody connects, and is refused logs and actions (403) with no key or a wrong one; root\'s CLI acts through STATE/admin.key', async () => {
  const env = await rootGateway({ 'blog.1': loud('1') }, { 'blog.1': 'nobody' }, ['--socket-owner', 'nobody'], (dir) => `unix:${join(dir, 'admin.sock')}`);
  const sock = join(env.dir.path, 'admin.sock');
  assert.is((await waitServing(env, 'blog')).user, 'nobody');
  const st = statSync(sock);
  assert.is(st.uid, 65534, 'the socket is nobody\'s');
  assert.is(st.mode & 0o777, 0o600);
  // The app's user can connect: the status is served, logs and actions are not.
  const status = asNobodyOver(sock, '/status');
  assert.is(status.status, 200, status.body);
  assert.is(JSON.parse(status.body).access.logs, false);
  const log = asNobodyOver(sock, '/apps/blog/log');
  assert.is(log.status, 403, log.body);
  assert.match(JSON.parse(log.body).error.message, "the admin socket is nobody's (--socket-owner), the user that blog runs as: its processes could act through it");
  assert.match(JSON.parse(log.body).error.hint, `run the command as root on this host: it reads ${join(env.state, 'admin.key')}`);
  const restart = asNobodyOver(sock, '/apps/blog/restart', { method: 'POST' });
  assert.is(restart.status, 403, restart.body);
  const guessed = asNobodyOver(sock, '/apps/blog/restart', { method: 'POST', bearer: WRONG_KEY });
  assert.is(guessed.status, 403, guessed.body);
  assert.match(JSON.parse(guessed.body).error.message, /^the secret sent is not this gateway's key/);
  // Root's CLI: the address from admin.address, the key beside it.
  const logs = await cli(env, ['logs', 'blog']);
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /blog 1 loading/);
  const restarted = await cli(env, ['restart', 'blog']);
  assert.is(restarted.status, 0, restarted.stderr);
  assert.match(restarted.stdout, /blog: version 1 restarted/);
});

// SPEC 5.4's own setup, from the side of the operator it is for: `--admin unix:/path` needs no
// token, and --socket-owner gives it to a user no app runs as. That user's commands read and
// act with nothing to pass; the app's user cannot even connect (the socket is 0600).
ifNobody('--socket-owner an operator no app runs as, blog run as nobody: the socket is 0600 and the operator\'s, whose logs and restart need no token; nobody cannot connect', async () => {
  const operator = hostUser('apppkg-test-other');
  const env = await rootGateway({ 'blog.1': loud('1') }, { 'blog.1': 'nobody' }, ['--socket-owner', 'apppkg-test-other'], (dir) => `unix:${join(dir, 'admin.sock')}`);
  const sock = join(env.dir.path, 'admin.sock');
  assert.is((await waitServing(env, 'blog')).user, 'nobody');
  const st = statSync(sock);
  assert.is(st.uid, operator.uid, 'the socket is the operator\'s');
  assert.is(st.mode & 0o777, 0o600);
  const bin = installForOtherUsers().bin;
  // The operator's own state root: no admin.key of this gateway's to read, and none needed.
  const as = (user: string, args: string[]) =>
    runCli(['-u', user, '--', bin, ...args, '--admin', `unix:${sock}`, '--state-dir', join(env.dir.path, `${user}-state`)], { bin: 'runuser', cwd: '/', ms: CLI_MS });
  const logs = await as('apppkg-test-other', ['logs', 'blog']);
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /blog 1 loading/);
  const restarted = await as('apppkg-test-other', ['restart', 'blog']);
  assert.is(restarted.status, 0, restarted.stderr);
  assert.match(restarted.stdout, /blog: version 1 restarted/);
  const refused = await as('nobody', ['logs', 'blog']);
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.not.match(refused.stdout, /blog 1 loading/);
});

ifNobody('a gateway killed (SIGKILL) leaves its admin.key: root\'s CLI given that state root while another gateway holds the address is told the key is not that gateway\'s and which --state-dir is; the next start there writes a new key, and the CLI is served', async () => {
  const port = await freePort();
  const admin = `127.0.0.1:${port}`;
  const env = await rootGateway({ 'blog.1': loud('1') }, { 'blog.1': 'nobody' }, [], admin);
  await waitServing(env, 'blog');
  env.pids.push(...statusPids((await ask(env, '/status')).json()));
  const keyFile = join(env.state, 'admin.key');
  const old = readFileSync(keyFile, 'utf8');
  env.gw.child.kill('SIGKILL');
  await env.gw.stop();
  assert.is(readFileSync(keyFile, 'utf8'), old, 'left by the kill');
  assert.ok(existsSync(join(env.state, 'admin.address')), 'left by the kill');

  // Another gateway on that address, of another state root: the killed one's files name it still.
  const other = join(env.dir.path, 'other-state');
  env.gw = await startRoot(env.dir.path, other, admin);
  await waitServing(env, 'blog');
  const stale = await cli(env, ['logs', 'blog']);
  assert.is(stale.status, 1, stale.stderr);
  assert.match(stale.stderr, /HTTP 403: the secret sent is not this gateway's key/);
  assert.match(stale.stderr, `fix: this command sent the key in ${keyFile}, which is not this gateway's; run the command as root with this gateway's state root, --state-dir ${other}: it reads the key there`);
  const right = await runCli(['logs', 'blog', '--state-dir', other], { ms: CLI_MS });
  assert.is(right.status, 0, right.stderr);
  env.pids.push(...statusPids((await ask(env, '/status', { headers: { authorization: `Bearer ${readFileSync(join(other, 'admin.key'), 'utf8').trim()}` } })).json()));
  assert.is(await env.gw.stop(), 0);

  // Started again on the killed one's state root: a new key replaces the one it left.
  env.gw = await startRoot(env.dir.path, env.state, admin);
  await waitServing(env, 'blog');
  const fresh = readFileSync(keyFile, 'utf8');
  assert.match(fresh, /^[0-9a-f]{64}\n$/);
  assert.is.not(fresh, old);
  const logs = await cli(env, ['logs', 'blog']);
  assert.is(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /blog 1 loading/);
  const restart = await cli(env, ['restart', 'blog']);
  assert.is(restart.status, 0, restart.stderr);
  // The old key is worth nothing to the new start.
  const replayed = await ask(env, '/apps/blog/log', { headers: { authorization: `Bearer ${old.trim()}` } });
  assert.is(replayed.status, 403, replayed.text);
});

ifRoot('a root gateway given --admin-token writes no admin.key: the token alone lets in', async () => {
  const dir = tempDir('apppkg-admin-key-token-');
  try {
    const tokenFile = join(dir.path, 'token');
    writeFileSync(tokenFile, 'a-token-of-the-operators\n', { mode: 0o600 });
    const state = join(dir.path, 'state');
    // A key a crashed gateway left is not left to a token's gateway either.
    mkdirSync(state, { recursive: true });
    writeFileSync(join(state, 'admin.key'), `${WRONG_KEY}\n`, { mode: 0o600 });
    mkdirSync(join(dir.path, 'apps'));
    const gw = await startCli(['--apps', join(dir.path, 'apps'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state, '--access-log', 'off']);
    try {
      assert.not.ok(existsSync(join(state, 'admin.key')));
      const refused = await request(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${WRONG_KEY}` } });
      await refused.body.text();
      assert.is(refused.statusCode, 401);
    } finally {
      await gw.stop();
    }
  } finally {
    dir.remove();
  }
});

test.run();
