// Isolation (SPEC §2.1 "Settings of one app are never visible to another", TMPDIR private;
// §4 the admin listener "is never reachable through the public listener"), through the real
// CLI running as root: app `a` (user apppkg-iso-a) tries every door into app `b` (user
// apppkg-iso-b, which holds the setting SECRET), and the test tries every Host, path and
// protocol trick to reach the admin listener through the public one. Each attempt is
// counted; the counts are printed in one `reliability: isolation:` line. Needs root (to run
// apps as users): skipped otherwise, and the counts line says so. The gateway runs from where
// the apps' users can read python-shim (installForOtherUsers): a checkout under /root works.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { withDeadline } from '../helpers/link-harness.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { hostUser } from '../helpers/host-accounts.js';
import { assertNoOrphans, installForOtherUsers, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('reliability: isolation');
const NEEDS_ROOT = 'needs root to run apps as two users';
const ifRoot = runIf(test, isRoot, NEEDS_ROOT);
let cases = 0;
const USER_A = 'apppkg-iso-a';
const USER_B = 'apppkg-iso-b';
const SECRET = `iso-secret-${randomBytes(12).toString('hex')}`;
/** No single case may take longer than this (uvu has no per-test timeout). */
const CASE_MS = 60_000;
/** What only the admin listener says: /status JSON, /metrics text, its page and its errors. */
const ADMIN_MARKERS = ['"apps"', '"startedAt"', '# HELP', '# TYPE', '<title>apppkg-gateway</title>', 'no such admin endpoint', 'APPPKG_ADMIN_'];

const counts = { crossTried: 0, crossSucceeded: 0, adminTried: 0, adminReached: 0 };
const work = isRoot ? tempDir('apppkg-rel-iso-') : null;
let gw: RunningGateway | null = null;
let publicPort = 0;
let adminPort = 0;
let gatewayPid = 0;
let uidA = 0;
let uidB = 0;
let gidB = 0;
let workerPids: number[] = [];
let pidsA: number[] = [];
let pidsB: number[] = [];
/** B's own view of itself (its dirs), from its /whoami. */
let selfB: Whoami;

interface Whoami {
  pid: number;
  uid: number;
  euid: number;
  gid: number;
  groups: number[];
  has_secret_key: boolean;
  environ: string;
  dirs: { TMPDIR: string; APPPKG_DATA_DIR: string; APPPKG_LOG_DIR: string };
}

interface Attempt {
  ok: boolean;
  data?: unknown;
  error?: string;
  errno?: number | null;
  message?: string;
}

function bounded(name: string, fn: () => Promise<void>): void {
  cases++;
  ifRoot(name, () => withDeadline(fn(), CASE_MS, name));
}

function userId(name: string): { uid: number; gid: number } {
  const { uid, gid } = hostUser(name);
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`could not create user ${name}`);
  return { uid, gid };
}

/** GET /<app><path>?query from app `app`, as JSON. */
async function probe<T>(app: 'a' | 'b', path: string, query: Record<string, string> = {}): Promise<T> {
  const qs = new URLSearchParams(query).toString();
  const res = await request(`${gw!.url}/${app}${path}${qs ? `?${qs}` : ''}`, { headersTimeout: 15_000, bodyTimeout: 15_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`/${app}${path}: ${res.statusCode} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** App a tries `op` on something of app b's (or the gateway's); counted. */
async function crossTry(op: 'read' | 'list' | 'write' | 'signal', target: string): Promise<Attempt> {
  const r = await probe<Attempt>('a', '/try', { op, target });
  counts.crossTried++;
  if (r.ok) counts.crossSucceeded++;
  return r;
}

/** The kernel said no (EACCES/EPERM), not "no such file": the door exists and is shut. */
function assertDenied(r: Attempt, what: string): void {
  assert.is(r.ok, false, `app a could ${what}: ${JSON.stringify(r).slice(0, 400)}`);
  assert.is(r.error, 'PermissionError', `${what}: expected PermissionError, got ${JSON.stringify(r)}`);
}

function procOwner(pid: number): number {
  return statSync(`/proc/${pid}`).uid;
}

/** One raw request to the PUBLIC port; fails if the answer is the admin's. Counted. */
async function adminTrick(name: string, raw: string, expectAnswer = true): Promise<string> {
  const got = await rawRequest(publicPort, raw, 3000);
  counts.adminTried++;
  const marker = ADMIN_MARKERS.find((m) => got.includes(m));
  if (marker) counts.adminReached++;
  assert.is(marker, undefined, `${name} reached the admin listener (${marker}):\n${got.slice(0, 600)}`);
  // The gateway did answer (a refusal): the trick was tried, not lost to a dead socket.
  if (expectAnswer) assert.match(got, /^HTTP\/1\.[01] \d{3} /, `${name}: no HTTP answer from the public listener: ${JSON.stringify(got.slice(0, 200))}`);
  return got;
}

test.before(async () => {
  if (!isRoot) return; // every case is skipped (ifRoot)
  ({ uid: uidA } = userId(USER_A));
  ({ uid: uidB, gid: gidB } = userId(USER_B));
  // Every user must be able to traverse to its own app and state directory.
  chmodSync(work!.path, 0o755);
  const apps = join(work!.path, 'apps');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  spawnSync('chown', ['-R', `${USER_A}:`, addPackage(apps, 'rel-iso-probe', 'a')]);
  spawnSync('chown', ['-R', `${USER_B}:`, addPackage(apps, 'rel-iso-probe', 'b')]);
  // The environment file is the host's: it holds every app's settings, so root-only (0600).
  const envFile = join(work!.path, 'environment.yaml');
  writeFileSync(envFile, `python: /usr/bin/python3\napps:\n  a:\n    workers: 1\n  b:\n    workers: 2\n    settings:\n      SECRET: ${SECRET}\n`, { mode: 0o600 });
  gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work!.path, 'state'),
    '--environment', envFile, '--watch-interval', '0',
    // Trust X-Forwarded-* from us: the forwarded-header tricks then get the most rope.
    '--trust-proxy',
  ], { ms: 60_000, bin: installForOtherUsers().bin });
  publicPort = Number(new URL(gw.url).port);
  adminPort = Number(new URL(gw.adminUrl!).port);
  const status = await waitFor(async () => {
    const s = await gatewayStatus(gw!);
    const ready = (name: string, n: number) => s.apps.find((a: any) => a.name === name)?.workers.filter((w: any) => w.pid).length === n;
    return ready('a', 1) && ready('b', 2) ? s : null;
  }, 30_000, 'apps a (1 worker) and b (2 workers)');
  gatewayPid = status.pid;
  workerPids = statusPids(status);
  pidsA = status.apps.find((a: any) => a.name === 'a').workers.map((w: any) => w.pid);
  pidsB = status.apps.find((a: any) => a.name === 'b').workers.map((w: any) => w.pid);
  selfB = await probe<Whoami>('b', '/whoami');
});

test.after(async () => {
  if (!isRoot) return console.log(`reliability: isolation: ${cases} cases skipped (${NEEDS_ROOT})`);
  console.log(
    `reliability: isolation: ${counts.crossTried} cross-app reads tried, ${counts.crossSucceeded} succeeded; ` +
      `${counts.adminTried} admin tricks tried, ${counts.adminReached} reached the admin`,
  );
  try {
    await gw?.stop(20_000); // already stopped by R5.15 unless a case failed before it
  } finally {
    work?.remove();
  }
});

bounded('R5.1 each app runs as its own user, without root\'s groups, and its worker is dumpable', async () => {
  const a = await probe<Whoami>('a', '/whoami');
  assert.equal([a.uid, a.euid], [uidA, uidA], 'app a runs as apppkg-iso-a');
  assert.equal([selfB.uid, selfB.euid], [uidB, uidB], 'app b runs as apppkg-iso-b');
  // A supplementary group 0 kept from the root gateway would open root:root 0640 files (app.log).
  assert.not.ok(a.groups.includes(0), `app a keeps root's groups: ${a.groups.join(',')}`);
  assert.not.ok(selfB.groups.includes(0), `app b keeps root's groups: ${selfB.groups.join(',')}`);
  // /proc/<pid> belongs to the process's user only while it is dumpable (else to root): so the
  // environ refusals below come from the uid check, not from a side effect of dumpability.
  for (const pid of pidsB) assert.is(procOwner(pid), uidB, `/proc/${pid} of b's worker`);
  for (const pid of pidsA) assert.is(procOwner(pid), uidA, `/proc/${pid} of a's worker`);
});

bounded('R5.2 another app\'s worker environ is not readable (its cmdline may be)', async () => {
  // Control: the kernel lets b's workers read each other's environ (same user, dumpable), and it holds the secret.
  for (const pid of pidsB) {
    const own = await probe<Attempt>('b', '/try', { op: 'read', target: `/proc/${pid}/environ` });
    assert.ok(own.ok && String(own.data).includes(`SECRET=${SECRET}`), `control: b reads /proc/${pid}/environ: ${JSON.stringify(own).slice(0, 300)}`);
  }
  for (const pid of pidsB) {
    assertDenied(await crossTry('read', `/proc/${pid}/environ`), `read /proc/${pid}/environ of b's worker`);
    const cmdline = await probe<Attempt>('a', '/try', { op: 'read', target: `/proc/${pid}/cmdline` });
    assert.ok(cmdline.ok, `/proc/${pid}/cmdline is public on Linux: ${JSON.stringify(cmdline)}`);
    assert.not.ok(String(cmdline.data).includes(SECRET), 'b\'s command line holds no setting');
  }
});

bounded('R5.3 the other /proc doors into another app\'s worker, and the gateway\'s environ, are shut', async () => {
  const pid = pidsB[0];
  assertDenied(await crossTry('read', `/proc/${pid}/mem`), `open /proc/${pid}/mem`);
  assertDenied(await crossTry('list', `/proc/${pid}/fd`), `list /proc/${pid}/fd`);
  assertDenied(await crossTry('list', `/proc/${pid}/cwd`), `list /proc/${pid}/cwd`);
  assertDenied(await crossTry('list', `/proc/${pid}/root${selfB.dirs.TMPDIR}`), `list b's TMPDIR through /proc/${pid}/root`);
  assertDenied(await crossTry('signal', String(pid)), `signal b's worker ${pid}`);
  assertDenied(await crossTry('read', `/proc/${gatewayPid}/environ`), `read the gateway's /proc/${gatewayPid}/environ`);
  // Nor is there a side door: b's workers talk to the gateway over a socketpair, never a port
  // that a could connect to (its uid would own a LISTEN line, state 0A, in /proc/net/tcp*).
  const listeners = ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').slice(1))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === '0A' && Number(f[7]) === uidB);
  assert.equal(listeners, [], 'b\'s user listens on no TCP port');
});

bounded('R5.4 an app\'s own environment holds no other app\'s settings', async () => {
  assert.ok(selfB.has_secret_key && selfB.environ.includes(`SECRET=${SECRET}`), 'control: b has its SECRET');
  for (let i = 0; i < 4; i++) {
    // Any of a's workers (there is one; a restart would bring another).
    const a = await probe<Whoami>('a', '/whoami');
    assert.is(a.has_secret_key, false, 'a has no SECRET variable');
    assert.not.ok(a.environ.includes(SECRET), 'b\'s secret value is nowhere in a\'s environ block');
  }
});

bounded('R5.5 another app\'s TMPDIR (0700) can be neither listed, read nor written', async () => {
  const tmp = selfB.dirs.TMPDIR;
  assert.is(statSync(tmp).mode & 0o777, 0o700, `b's TMPDIR ${tmp} is 0700`);
  assert.is(statSync(tmp).uid, uidB, 'b\'s TMPDIR belongs to b');
  const own = await probe<Attempt>('b', '/try', { op: 'read', target: join(tmp, 'secret.txt') });
  assert.ok(own.ok && own.data === SECRET, `control: b reads its own TMPDIR file: ${JSON.stringify(own)}`);
  assertDenied(await crossTry('list', tmp), `list b's TMPDIR ${tmp}`);
  assertDenied(await crossTry('read', join(tmp, 'secret.txt')), 'read a file b created in its TMPDIR');
  assertDenied(await crossTry('write', join(tmp, 'planted.txt')), 'create a file in b\'s TMPDIR');
});

bounded('R5.6 another app\'s DATA_DIR and LOG_DIR (and its app log) are closed', async () => {
  const { APPPKG_DATA_DIR: data, APPPKG_LOG_DIR: log } = selfB.dirs;
  // The app log (kept by the gateway) does hold the secret: b printed it at start.
  await waitFor(() => readFileSync(join(log, 'app.log'), 'utf8').includes(SECRET), 10_000, 'b\'s start line in its app.log');
  // LOG_DIR is 0750: safe only because its group is b's own (a's user is not in it).
  assert.is(statSync(log).gid, gidB, 'b\'s LOG_DIR group is b\'s own group');
  assert.not.ok((await probe<Whoami>('a', '/whoami')).groups.includes(gidB), 'a is not in b\'s group');
  for (const dir of [data, log]) {
    assertDenied(await crossTry('list', dir), `list ${dir}`);
    assertDenied(await crossTry('read', join(dir, 'secret.txt')), `read ${join(dir, 'secret.txt')}`);
    assertDenied(await crossTry('write', join(dir, 'planted.txt')), `create a file in ${dir}`);
  }
  assertDenied(await crossTry('read', join(log, 'app.log')), 'read b\'s app.log');
});

bounded('R5.7 no file under the apps dir, the state dir or the environment file that a can open holds b\'s secret', async () => {
  // The gateway writes run/<hash> helpers, installed.json, app.log; the host wrote the environment file.
  const scan = await probe<{ readable: string[]; leaking: string[]; denied: number }>('a', '/scan', { root: work!.path, needle: SECRET });
  counts.crossTried++;
  if (scan.leaking.length > 0) counts.crossSucceeded++;
  assert.equal(scan.leaking, [], `app a can read b's secret in: ${scan.leaking.join(', ')}`);
  // The scan saw something: a's own code and the helpers are readable, b's secrets denied.
  assert.ok(scan.readable.some((p) => p.endsWith('/a/probe_app.py')), `the scan walked the tree: ${scan.readable.join(', ')}`);
  assert.ok(scan.denied > 0, 'some files were refused (the environment file, b\'s app log, ...)');
});

bounded('R5.8 the admin listener answers directly (the markers the tricks look for are real)', async () => {
  const status = await (await request(`${gw!.adminUrl}/status`, { headersTimeout: 10_000 })).body.text();
  assert.ok(status.includes('"apps"') && status.includes('"startedAt"'), `admin /status: ${status.slice(0, 200)}`);
  const metrics = await (await request(`${gw!.adminUrl}/metrics`, { headersTimeout: 10_000 })).body.text();
  assert.ok(metrics.includes('# HELP'), `admin /metrics: ${metrics.slice(0, 200)}`);
  // And the same raw request the tricks send, sent to the admin port, is recognised as admin.
  const raw = await rawRequest(adminPort, `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`, 3000);
  assert.ok(ADMIN_MARKERS.some((m) => raw.includes(m)), 'a raw request to the admin port is recognised');
});

bounded('R5.9 Host headers naming the admin do not reach it through the public port', async () => {
  for (const host of [`127.0.0.1:${adminPort}`, `localhost:${adminPort}`, 'admin', `[::1]:${adminPort}`]) {
    for (const path of ['/status', '/metrics']) {
      await adminTrick(`Host: ${host} ${path}`, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    }
  }
});

bounded('R5.10 an absolute-form request target naming the admin does not reach it', async () => {
  for (const target of [`http://127.0.0.1:${adminPort}/status`, `http://localhost:${adminPort}/metrics`]) {
    await adminTrick(`GET ${target}`, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${publicPort}\r\nConnection: close\r\n\r\n`);
  }
});

bounded('R5.11 admin paths and path tricks on the public port do not reach it', async () => {
  for (const path of ['/status', '/metrics', '//status', '/%2e%2e/status', '/..;/status', '/a/../status', '/a/%2e%2e/metrics', '/./status']) {
    await adminTrick(`GET ${path}`, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${publicPort}\r\nConnection: close\r\n\r\n`);
  }
});

bounded('R5.12 X-Forwarded-Host / X-Forwarded-Port naming the admin do not reach it (proxy trusted)', async () => {
  await adminTrick('X-Forwarded-Host+Port', `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${publicPort}\r\nX-Forwarded-Host: 127.0.0.1:${adminPort}\r\nX-Forwarded-Port: ${adminPort}\r\nConnection: close\r\n\r\n`);
  await adminTrick('X-Forwarded-Host: localhost', `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${publicPort}\r\nX-Forwarded-Host: localhost\r\nX-Forwarded-Port: ${adminPort}\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n`);
});

bounded('R5.13 CONNECT to the admin port is no tunnel', async () => {
  // A GET right behind the CONNECT: if the gateway had opened a tunnel, it would reach the admin.
  const follow = `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`;
  for (const authority of [`127.0.0.1:${adminPort}`, `localhost:${adminPort}`]) {
    // Node answers no CONNECT listener by closing the socket: an empty answer is a refusal too.
    await adminTrick(`CONNECT ${authority}`, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${follow}`, false);
  }
});

bounded('R5.14 an Upgrade request to /status is not proxied to the admin', async () => {
  const follow = `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: close\r\n\r\n`;
  await adminTrick(
    'Upgrade: websocket /status',
    `GET /status HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n${follow}`,
  );
  await adminTrick('Upgrade: h2c /metrics', `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n${follow}`);
});

bounded('R5.15 the gateway stops on SIGTERM and leaves no worker of either app behind', async () => {
  assert.is(await gw!.stop(20_000), 0, 'the gateway exits 0 on SIGTERM');
  assert.ok(workerPids.length >= 3, `worker pids known: ${workerPids.join(', ')}`);
  await assertNoOrphans(workerPids, 10_000);
});

test.run();
