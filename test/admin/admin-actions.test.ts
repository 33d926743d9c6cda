// The admin listener of a real gateway (issue 14): the token, the live events, the log (tail,
// follow, stderr marked), the history, the health probe, restart under load and rollback, and
// the rules of who may do what (docs/admin.md). Real Python workers, real sockets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { applyStatusEvent } from '../../src/admin/status-patch.js';
import { addPackage, clientLoop, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, installForOtherUsers, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { rescanned } from '../helpers/rescan.js';
import { statusPids } from '../helpers/status.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('admin listener of a running gateway');

const TOKEN = 'k3y-for-the-admin-test';
const bearer = { authorization: `Bearer ${TOKEN}` };

/** The environ fixture as version `v`, saying something on stdout and on stderr when it loads. */
const blog = (v: string) => ({
  'environ_app.py': [
    [/VERSION = "1"/, `VERSION = "${v}"`],
    [/^import json$/m, `import json\nimport sys\nprint("blog ${v} loading", flush=True)\nprint("blog ${v} warns on stderr", file=sys.stderr, flush=True)`],
  ] as [RegExp, string][],
});

interface Env {
  dir: ReturnType<typeof tempDir>;
  apps: string;
  gw: RunningGateway;
  pids: number[];
  /** The command line it was started with: a second gateway on the same state root. */
  args: string[];
}
const opened: Env[] = [];

/**
 * `workers`: each version's Python workers, set in an environment file beside the apps; the
 * default (two) when not given, for the tests and shared gateways that look at a second worker.
 */
async function open(versions: string[], extra: string[] = [], workers?: number, user?: string): Promise<Env> {
  const dir = tempDir('apppkg-admin-actions-');
  const apps = join(dir.path, 'apps');
  for (const v of versions) addPackage(apps, 'environ', `blog.${v}`, blog(v));
  // Run as `user` (root only): it enters the directories, and runs a python3 outside /root.
  if (user !== undefined) {
    chmodSync(dir.path, 0o755);
    chownPackages(apps, user);
  }
  const tokenFile = join(dir.path, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  chmodSync(tokenFile, 0o600);
  // --settle 0 unless the test gives its own: an option given twice is bad usage.
  const settle = extra.includes('--settle') ? [] : ['--settle', '0'];
  const environment = join(dir.path, 'environment.yaml');
  if (workers !== undefined || user !== undefined) {
    writeFileSync(environment, `${user === undefined ? '' : 'python: /usr/bin/python3\n'}${workers === undefined ? '' : `defaults:\n  workers: ${workers}\n`}`, { mode: 0o600 });
  }
  const args = ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--access-log', 'off', ...settle, ...(workers === undefined && user === undefined ? [] : ['--environment', environment])];
  const all = [...args, ...extra.map((a) => a.replace('TOKEN_FILE', tokenFile))];
  const gw = await startCli(all, user === undefined ? {} : { bin: installForOtherUsers().bin });
  const env = { dir, apps, gw, pids: [] as number[], args: all };
  opened.push(env);
  return env;
}

const sharedGateways = new Map<string, Promise<Env>>();
/**
 * The gateway that the tests naming `key` run on one after the other, opened by the first of
 * them: a gateway and its workers cost more CPU than what most tests do on them. A test that
 * needs one fresh (counts from zero, a first event) opens its own or comes first.
 */
function sharedGateway(key: string, opening: () => Promise<Env>): Promise<Env> {
  if (!sharedGateways.has(key)) sharedGateways.set(key, opening());
  return sharedGateways.get(key)!;
}
const twoVersions = () => sharedGateway('blog 1 and 2', () => open(['1', '2'], ['--admin-token', 'TOKEN_FILE']));
const oneVersion = () => sharedGateway('blog 1', () => open(['1'], ['--admin-token', 'TOKEN_FILE']));
// An app runs as another user: without one, nothing is withheld (every app could read any token file).
const rootWithoutToken = () => sharedGateway('blog 1 as nobody, no token', () => open(['1'], [], undefined, 'nobody'));

/** Every package under `apps` its user's (the owner of its directory is who it runs as). */
function chownPackages(apps: string, user: string): void {
  const r = spawnSync('chown', ['-R', `${user}:`, apps], { encoding: 'utf8', timeout: 10_000 });
  assert.is(r.status, 0, r.stderr);
}
/**
 * Blog 1 and 2 stopping after a second without requests, on one worker (its tests are about what
 * a probe, rollback and restart of an idle app say); its environment file is read at the start.
 */
const idleTwoVersions = () => sharedGateway('blog 1 and 2, idle_timeout 1', async () => {
  const envFile = tempDir('apppkg-admin-idle-env-');
  try {
    writeFileSync(join(envFile.path, 'environment.yaml'), 'apps:\n  blog:\n    idle_timeout: 1\n    workers: 1\n');
    return await open(['1', '2'], ['--admin-token', 'TOKEN_FILE', '--environment', join(envFile.path, 'environment.yaml')]);
  } finally {
    envFile.remove();
  }
});

async function admin(gw: RunningGateway, path: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {}) {
  const res = await request(`${gw.adminUrl}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? bearer, headersTimeout: 60_000 });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

async function blogStatus(env: Env): Promise<any> {
  const status = (await admin(env.gw, '/status')).json();
  env.pids.push(...statusPids(status));
  return status.apps.find((a: any) => a.name === 'blog');
}

/**
 * Reads /events until `until` holds for the status it has sent so far (or `ms` passes): the
 * whole status first, then each change applied to it, as the page and `status --watch` do.
 */
async function nextEvent(gw: RunningGateway, until: (status: any) => boolean, ms: number): Promise<any> {
  const agent = new Agent();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const res = await request(`${gw.adminUrl}/events`, { headers: bearer, dispatcher: agent, signal: controller.signal });
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    let buffer = '';
    let status: any = null;
    for await (const chunk of res.body) {
      buffer += chunk.toString();
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: ?(.*)$/m.exec(event)?.[1];
        if (name !== 'status' && name !== 'apps') continue;
        status = applyStatusEvent(status, name, event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
        if (until(status)) return structuredClone(status);
      }
    }
    throw new Error('the event stream ended');
  } finally {
    clearTimeout(timer);
    controller.abort();
    await agent.destroy();
  }
}

test.after(async () => {
  for (const env of opened) {
    await env.gw.stop();
    await assertNoOrphans(env.pids);
    env.dir.remove();
  }
});

test('with --admin-token every route needs it: Bearer or the password of Basic auth; 401 asks a browser to log in', async () => {
  const { gw } = await open(['1'], ['--admin-token', 'TOKEN_FILE']);
  for (const path of ['/', '/status', '/metrics', '/events', '/apps/blog/log']) {
    const r = await admin(gw, path, { headers: {} });
    assert.is(r.status, 401, path);
    assert.match(String(r.headers['www-authenticate']), /^Basic realm=/, path);
  }
  assert.is((await admin(gw, '/status', { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.is((await admin(gw, '/status', { headers: { authorization: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` } })).status, 200);
  assert.is((await admin(gw, '/status', { headers: { authorization: `Basic ${Buffer.from(`${TOKEN}:x`).toString('base64')}` } })).status, 401, 'the token is the password, not the user');
  const ok = await admin(gw, '/status');
  assert.is(ok.status, 200);
  assert.equal(ok.json().access, { act: true, logs: true, why: null });
});

test('status carries health, history, the log tail with stderr marked, per-version workers and the minute\'s latency', async () => {
  const env = opened[0];
  await request(`${env.gw.url}/blog/`).then((r) => r.body.text());
  const app = await blogStatus(env);
  assert.is(app.health.path, '/healthz');
  assert.is(app.health.ok, true);
  assert.is(app.health.status, 200);
  assert.equal(app.history.map((e: any) => e.kind), ['serving']);
  assert.ok(app.log.file.endsWith(join('apps', 'blog', 'log', 'app.log')), app.log.file);
  const stderr = app.log.lines.find((l: any) => l.text === 'blog 1 warns on stderr');
  const stdout = app.log.lines.find((l: any) => l.text === 'blog 1 loading');
  assert.is(stderr?.stream, 'stderr', JSON.stringify(app.log.lines));
  assert.is(stdout?.stream, 'stdout', JSON.stringify(app.log.lines));
  assert.is(app.versions[0].workers.length, 2);
  assert.equal(app.versions[0].workers.map((w: any) => w.pid).sort(), app.workers.map((w: any) => w.pid).sort());
  assert.is(typeof app.workers[0].rssBytes, 'number', 'the sampler read the worker');
  assert.is(typeof app.workers[0].cpuPercent, 'number');
  assert.is(app.latency.windowSeconds, 60);
  assert.ok(app.latency.p95 !== null);
  assert.is(app.inFlight, 0);
});

test('/events pushes a worker\'s death and restart without being asked: restarts, last exit, history', async () => {
  const env = opened[0];
  const before = await blogStatus(env);
  const victim = before.workers[0].pid;
  // Its one stderr line ("blog 1 warns on stderr", at load) is then older than an exit's reason
  // may be (supervisor/exit-reason.ts): a SIGKILL long after it is not explained by it. Counted
  // from when the gateway saw the line (the last worker's), not from the worker's start: on a
  // loaded machine the import that prints it comes seconds after the start.
  const stderrAt = before.log.lines.filter((l: any) => l.stream === 'stderr').map((l: any) => Date.parse(l.at));
  const quietSince = Math.max(Date.parse(before.workers[0].startedAt), ...stderrAt);
  await new Promise((r) => setTimeout(r, Math.max(0, quietSince + 5_500 - Date.now())));
  const seen = nextEvent(env.gw, (s) => {
    const app = s.apps.find((a: any) => a.name === 'blog');
    return app.restarts === 1 && app.workers.every((w: any) => w.state === 'ready') && app.workers.length === 2;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 300)); // the stream is open and its first event sent
  process.kill(victim, 'SIGKILL');
  const status = await seen;
  const app = status.apps.find((a: any) => a.name === 'blog');
  assert.not.ok(app.workers.some((w: any) => w.pid === victim));
  const replaced = app.workers.find((w: any) => w.restarts === 1);
  assert.is(replaced.lastExit.pid, victim);
  assert.is(replaced.lastExit.signal, 'SIGKILL');
  assert.is(replaced.lastExit.code, null);
  assert.is(replaced.lastExit.reason, null, 'a line from its start is not why it was killed');
  const exited = app.history.find((e: any) => e.kind === 'exited');
  assert.match(exited.message, new RegExp(`worker ${victim} exited \\(SIGKILL\\)`));
  env.pids.push(...statusPids(status));
});

test('/events sends nothing new while nothing changes: the status\'s own clock (`now`) does not count', async () => {
  const env = opened[0];
  let events = 0;
  let last: any = null;
  // Listens for 3 s; the stream is cut then (nextEvent throws at its deadline).
  await nextEvent(env.gw, (s) => ((last = s), ++events < 0), 3000).catch(() => {});
  assert.ok(Date.parse(last?.now) > 0, `now: ${last?.now}`);
  // The first event, then at most one per CPU/RSS sample (every 2 s); 2 a second were `now` compared.
  assert.ok(events <= 3, `${events} events in 3 s of an idle gateway`);
});

test('/events sends at most two statuses a second however busy the gateway is', async () => {
  const env = opened[0];
  const loop = clientLoop(`${env.gw.url}/blog/`, 8);
  let events = 0;
  const started = Date.now();
  // Every status is new under load (counters move): only the rate limit holds the count down.
  await nextEvent(env.gw, () => ++events < 0 || Date.now() - started > 3000, 10_000);
  const seconds = (Date.now() - started) / 1000;
  const result = await loop.stop();
  assert.is(result.failed, 0);
  // A precondition, not the bound under test: enough requests that every half second's status differs.
  assert.ok(result.sent > 100, `the load ran (${result.sent} requests)`);
  assert.ok(events >= 3, `statuses were sent while it changed (${events})`);
  assert.ok(events <= 2 * seconds + 2, `${events} events in ${seconds.toFixed(1)} s`);
});

test('GET /apps/NAME/log: the last lines of the file; follow streams what is written next', async () => {
  const env = opened[0];
  const tail = await admin(env.gw, '/apps/blog/log?lines=3');
  assert.is(tail.status, 200);
  assert.match(String(tail.headers['content-type']), /^text\/plain/);
  assert.is(tail.text.trimEnd().split('\n').length, 3, tail.text);
  // Follow, then make the app write: a restarted worker loads the app again.
  const controller = new AbortController();
  const res = await request(`${env.gw.adminUrl}/apps/blog/log?lines=0&follow=1`, { headers: bearer, signal: controller.signal });
  let followed = '';
  const reading = (async () => {
    for await (const chunk of res.body) followed += chunk.toString();
  })().catch(() => {});
  await new Promise((r) => setTimeout(r, 300));
  assert.is(followed, '', 'lines=0 sends nothing old');
  const restart = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(restart.status, 200, restart.text);
  await waitFor(() => followed.includes('blog 1 warns on stderr'), 10_000, 'the followed log to show the restart');
  controller.abort();
  await reading;
  const unknown = await admin(env.gw, '/apps/nope/log');
  assert.is(unknown.status, 404);
  assert.match(unknown.json().error.hint, /its apps: blog/);
  assert.not.match(unknown.json().error.hint, /did you mean/, 'nothing near nope');
  // A client of the route's own (curl) is told the name it meant, as the CLI is.
  const typo = await admin(env.gw, '/apps/blgo/log');
  assert.is(typo.status, 404);
  assert.match(typo.json().error.hint, /^did you mean blog\? its apps: blog/);
  const versionDir = await admin(env.gw, '/apps/blog.1/restart', { method: 'POST' });
  assert.is(versionDir.status, 404);
  assert.match(versionDir.json().error.hint, /^blog\.1 is a version's directory of blog, and the route names the app: \/apps\/blog\/restart; its apps: blog/);
});

test('POST restart under load: fresh workers, 0 failed requests, history says restarted', async () => {
  const env = opened[0];
  const before = await blogStatus(env);
  const loop = clientLoop(`${env.gw.url}/blog/`, 8);
  await waitFor(() => loop.result.sent > 100, 10_000, 'the load to run');
  const r = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  assert.equal(r.json(), { app: 'blog', version: '1', message: 'blog: version 1 restarted; the old workers drain' });
  const sent = loop.result.sent;
  await waitFor(() => loop.result.sent > sent + 200, 10_000, 'requests after the restart');
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  const after = await blogStatus(env);
  const old = new Set(before.workers.map((w: any) => w.pid));
  assert.not.ok(after.workers.some((w: any) => old.has(w.pid)), 'every worker is new');
  assert.is(after.history.at(-1).kind, 'restarted');
});

// A command app (platform: python, command) has no workers: it was told "the old workers drain".
test('POST restart of a command app: new processes, and the message says its old processes drain, not workers it never had', async () => {
  // Beside blog 1: --apps must hold a package at the start.
  const env = await open(['1'], ['--admin-token', 'TOKEN_FILE']);
  writePackage(env.apps, 'feed', {
    'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: python3 -m http.server $PORT --bind 127.0.0.1\n',
  });
  const feed = async () => (await (await admin(env.gw, '/status')).json()).apps.find((a: any) => a.name === 'feed');
  await waitFor(async () => (await feed())?.state === 'ready', 30_000, 'feed to be ready', ASK_GATEWAY_EVERY_MS);
  const before = (await feed()).processes.map((p: any) => p.pid);
  env.pids.push(...before);
  const r = await admin(env.gw, '/apps/feed/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  assert.equal(r.json(), { app: 'feed', version: null, message: 'feed: the app restarted; its old processes drain' });
  const after = (await feed()).processes.map((p: any) => p.pid);
  env.pids.push(...after);
  assert.not.equal(after, before);
});

test('POST from a page of another site is refused (Origin, Sec-Fetch-Site); an unknown app is 404', async () => {
  const env = opened[0];
  const evil = await admin(env.gw, '/apps/blog/restart', { method: 'POST', headers: { ...bearer, origin: 'http://evil.example' } });
  assert.is(evil.status, 403);
  assert.match(evil.json().error.message, /another site/);
  const fetched = await admin(env.gw, '/apps/blog/rollback', { method: 'POST', headers: { ...bearer, 'sec-fetch-site': 'cross-site' } });
  assert.is(fetched.status, 403);
  // Retrying dead letters is an action too, and its refusal says so, not "restart or roll back".
  const mail = await admin(env.gw, '/mail/retry?all=1', { method: 'POST', headers: { ...bearer, origin: 'http://evil.example' } });
  assert.is(mail.status, 403, mail.text);
  assert.match(mail.json().error.message, /another site \(Origin: http:\/\/evil\.example\) may not act through the admin: .*retry or delete mail/, mail.text);
  assert.match(mail.json().error.hint, /apppkg-gateway mail retry ID/);
  // Deleting them is one too: refused before anything is looked up, as a retry is.
  const deleting = await admin(env.gw, '/mail/delete?all=1', { method: 'POST', headers: { ...bearer, 'sec-fetch-site': 'cross-site' } });
  assert.is(deleting.status, 403, deleting.text);
  assert.match(deleting.json().error.hint, /apppkg-gateway mail delete ID/);
  const own = new URL(env.gw.adminUrl!).host;
  const same = await admin(env.gw, '/apps/nope/restart', { method: 'POST', headers: { ...bearer, origin: `http://${own}` } });
  assert.is(same.status, 404, 'the page itself (same origin) gets through to the app lookup');
  // The page behind a proxy that terminates TLS (https://HOST), or that passes its own Host: the
  // browser says it is the same origin, or the Origin is HOST's under https.
  const proxied = await admin(env.gw, '/apps/nope/restart', { method: 'POST', headers: { ...bearer, origin: 'https://admin.example.com', 'sec-fetch-site': 'same-origin' } });
  assert.is(proxied.status, 404, proxied.text);
  assert.is((await admin(env.gw, '/apps/blog/restart', { method: 'POST', headers: { ...bearer, origin: 'null' } })).status, 403, 'Origin: null alone is not the page');
  const tls = await admin(env.gw, '/apps/nope/restart', { method: 'POST', headers: { ...bearer, origin: `https://${own}` } });
  assert.is(tls.status, 404, tls.text);
  const evilTls = await admin(env.gw, '/apps/blog/restart', { method: 'POST', headers: { ...bearer, origin: 'https://evil.example' } });
  assert.is(evilTls.status, 403);
  assert.is((await admin(env.gw, '/apps/blog/restart')).status, 405, 'GET does not restart');
});

test('rollback serves the version below; the one left stays out until a file in it changes; nothing below is 409', async () => {
  const env = await twoVersions();
  const served = async () => ((await (await request(`${env.gw.url}/blog/`)).body.json()) as any).version;
  assert.is(await served(), '2');
  assert.is((await blogStatus(env)).canRollBack, true);
  const loop = clientLoop(`${env.gw.url}/blog/`, 4);
  await waitFor(() => loop.result.sent > 50, 10_000, 'the load to run');
  const r = await admin(env.gw, '/apps/blog/rollback', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  assert.equal({ ...r.json(), message: undefined }, { app: 'blog', from: '2', to: '1', message: undefined });
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  assert.is(await served(), '1');
  // Version 2 drains first (its requests finish), then stays out of rotation.
  let app = await waitFor(async () => {
    const now = await blogStatus(env);
    return now.versions.some((v: any) => v.state === 'draining') ? undefined : now;
  }, 10_000, 'version 2 to finish draining', ASK_GATEWAY_EVERY_MS);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['2', 'rolled-back'], ['1', 'serving']]);
  assert.is(app.canRollBack, false);
  assert.is(app.history.at(-1).kind, 'rolled-back');
  // One change, one event: not also a "switched" from 2 to 1 beside the rollback.
  assert.equal(app.history.filter((e: any) => e.from === '2').map((e: any) => [e.kind, e.version]), [['rolled-back', '1']]);
  const again = await admin(env.gw, '/apps/blog/rollback', { method: 'POST' });
  assert.is(again.status, 409);
  assert.match(again.json().error.message, /version 1 is the oldest version that can serve/);
  // A rescan (SIGHUP) does not undo it; a change to version 2's files does.
  await rescanned(env.gw, 30_000, async (gw) => (await admin(gw, '/status')).json());
  assert.is(await served(), '1');
  const file = join(env.apps, 'blog.2', 'environ_app.py');
  const later = new Date(Date.now() + 2000);
  utimesSync(file, later, later);
  writeFileSync(file, `${readFileSync(file, 'utf8')}\n`);
  env.gw.child.kill('SIGHUP');
  await waitFor(async () => (await served()) === '2', 20_000, 'version 2 to serve again once changed', ASK_GATEWAY_EVERY_MS);
  app = await blogStatus(env);
  assert.is(app.versions.find((v: any) => v.version === '2').state, 'serving');
});

// On the gateway the test above left with version 2 serving again (its files changed).
test('a rollback outlives a restart of the gateway: the version rolled back from stays out', async () => {
  const env = await twoVersions();
  assert.is((await blogStatus(env)).version, '2');
  const served = async () => ((await (await request(`${env.gw.url}/blog/`)).body.json()) as any).version;
  assert.is((await admin(env.gw, '/apps/blog/rollback', { method: 'POST' })).status, 200);
  assert.is(await served(), '1');
  env.pids.push(...statusPids((await admin(env.gw, '/status')).json()));
  await env.gw.stop();
  env.gw = await startCli(env.args);
  assert.is(await served(), '1');
  const app = await blogStatus(env);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['2', 'rolled-back'], ['1', 'serving']]);
});

test('the version rolled back to removed, the one rolled back from is all there is: it serves again, running and at the next start', async () => {
  // One worker a version: each start, switch and restart here is of a version, not of a worker.
  const env = await open(['1', '2'], ['--admin-token', 'TOKEN_FILE'], 1);
  const served = async () => {
    const res = await request(`${env.gw.url}/blog/`, { headersTimeout: 90_000 });
    return res.statusCode === 200 ? ((await res.body.json()) as any).version : `${res.statusCode} ${await res.body.text()}`;
  };
  assert.is((await admin(env.gw, '/apps/blog/rollback', { method: 'POST' })).status, 200);
  assert.is(await served(), '1');
  // Running: version 1's directory removed must not leave its workers serving a version gone.
  rmSync(join(env.apps, 'blog.1'), { recursive: true });
  await waitFor(async () => ((await served()) === '2' ? true : undefined), 20_000, 'version 2 to serve once version 1 is gone', ASK_GATEWAY_EVERY_MS);
  assert.match(env.gw.output(), /blog: version 2 serves again, though it was rolled back from: no other version of blog is left/);
  let app = await blogStatus(env);
  assert.equal(app.versions.filter((v: any) => v.state !== 'draining').map((v: any) => [v.version, v.state]), [['2', 'serving']]);

  // At the next start: a rollback kept in rolled-back.json whose version below has gone since.
  addPackage(env.apps, 'environ', 'blog.1', blog('1'));
  // Seen is not yet a version to go back to: until it has settled, a rollback is refused (409).
  await waitFor(async () => {
    const now = await blogStatus(env);
    return now.versions.some((v: any) => v.version === '1') && now.canRollBack ? true : undefined;
  }, 20_000, 'version 1 to be seen again, and settled: one to roll back to', ASK_GATEWAY_EVERY_MS);
  assert.is((await admin(env.gw, '/apps/blog/rollback', { method: 'POST' })).status, 200);
  env.pids.push(...statusPids((await admin(env.gw, '/status')).json()));
  await env.gw.stop();
  rmSync(join(env.apps, 'blog.1'), { recursive: true });
  env.gw = await startCli(env.args);
  assert.is(await served(), '2');
  app = await blogStatus(env);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['2', 'serving']]);
  assert.is(app.state, 'ready');
});

test('a restart right after a change to the app\'s files (git pull && restart) starts from them, without waiting for them to settle', async () => {
  const env = await open(['1'], ['--admin-token', 'TOKEN_FILE', '--settle', '5'], 1);
  const file = join(env.apps, 'blog.1', 'environ_app.py');
  writeFileSync(file, readFileSync(file, 'utf8').replace('VERSION = "1"', 'VERSION = "1-pulled"'));
  const r = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  const body = (await (await request(`${env.gw.url}/blog/`)).body.json()) as any;
  assert.is(body.version, '1-pulled');
});

// The first of the tests on blog 1's shared gateway: its restarts count from 0.
test('restarts count from the gateway\'s start: an admin restart (new workers) does not set them back to 0', async () => {
  const env = await oneVersion();
  assert.is((await blogStatus(env)).restarts, 0);
  const victim = (await blogStatus(env)).workers[0].pid;
  process.kill(victim, 'SIGKILL');
  await waitFor(async () => (await blogStatus(env)).restarts === 1, 15_000, 'the restart after the kill', ASK_GATEWAY_EVERY_MS);
  const r = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  const app = await blogStatus(env);
  assert.not.ok(app.workers.some((w: any) => w.pid === victim));
  assert.is(app.restarts, 1);
  // Each worker's row is its slot's in the fresh instance (docs/admin.md): the app's figure is not their sum after a restart.
  assert.equal(app.workers.map((w: any) => w.restarts), app.workers.map(() => 0));
  const metrics = (await admin(env.gw, '/metrics')).text;
  assert.match(metrics, /^apppkg_worker_restarts_total\{app="blog"\} 1$/m);
});

// Before the watcher's test below: the refusal this one finds in the history is its own.
test('a failed restart\'s problem goes once the files are mended and the version starts again (a rescan retries it); the history keeps the refusal', async () => {
  const env = await oneVersion();
  assert.not.ok((await blogStatus(env)).history.some((e: any) => e.kind === 'refused'), 'no refusal before this test');
  const file = join(env.apps, 'blog.1', 'environ_app.py');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, `import nosuchmodule_for_the_test\n${good}`);
  const failed = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is.not(failed.status, 200, failed.text);
  assert.is((await blogStatus(env)).problem?.code, 'APPPKG_APP_IMPORT_FAILED');
  // Mended back to the very files that serve: app.yaml unchanged, so only the tree tells.
  writeFileSync(file, good);
  env.gw.child.kill('SIGHUP');
  const app = await waitFor(async () => {
    const now = await blogStatus(env);
    return now.problem === null ? now : undefined;
  }, 60_000, 'the problem to go once blog.1 started again', ASK_GATEWAY_EVERY_MS);
  const kinds = app.history.map((e: any) => e.kind);
  assert.ok(kinds.includes('refused'), kinds.join(', '));
  assert.is(kinds[kinds.length - 1], 'restarted', kinds.join(', '));
});

test('a failed restart is retried by the watcher alone once the files are mended: no SIGHUP needed, as for a refused version', async () => {
  const env = await oneVersion();
  const file = join(env.apps, 'blog.1', 'environ_app.py');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, `import nosuchmodule_for_the_test\n${good}`);
  const failed = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is.not(failed.status, 200, failed.text);
  assert.is((await blogStatus(env)).problem?.code, 'APPPKG_APP_IMPORT_FAILED');
  writeFileSync(file, good);
  const app = await waitFor(async () => {
    const now = await blogStatus(env);
    return now.problem === null ? now : undefined;
  }, 30_000, 'the watcher to retry blog.1 once mended (its scan is every 2 s)', ASK_GATEWAY_EVERY_MS);
  const kinds = app.history.map((e: any) => e.kind);
  assert.is(kinds[kinds.length - 1], 'restarted', kinds.join(', '));
});

test('a restart of the serving version leaves status saying why the newer one was refused', async () => {
  const env = await oneVersion();
  assert.is((await blogStatus(env)).problem, null);
  addPackage(env.apps, 'environ', 'blog.2', { 'environ_app.py': [[/^import json$/m, 'import json\nraise RuntimeError("blog 2 is broken on purpose")']] });
  await waitFor(async () => (await blogStatus(env)).problem?.code === 'APPPKG_APP_IMPORT_FAILED', 60_000, 'version 2 refused, and said', ASK_GATEWAY_EVERY_MS);
  const r = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  const app = await waitFor(async () => {
    const now = await blogStatus(env);
    return now.versions.some((v: any) => v.state === 'draining') ? undefined : now;
  }, 10_000, 'the old instance to finish draining', ASK_GATEWAY_EVERY_MS);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['2', 'failed'], ['1', 'serving']]);
  assert.is(app.problem?.code, 'APPPKG_APP_IMPORT_FAILED', 'still said after the restart');
});

test('a rollback of an app stopped while idle says that the version rolled back to passed its probe and stays stopped until the next request (nothing ran to drain)', async () => {
  const env = await idleTwoVersions();
  await waitFor(async () => { const app = await blogStatus(env); return app.state === 'idle' && app.version === '2'; }, 20_000, 'blog 2 to stop while idle', ASK_GATEWAY_EVERY_MS);
  const r = await admin(env.gw, '/apps/blog/rollback', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  assert.is(r.json().message, 'blog: rolled back from 2 to 1, which passed its probe; it was idle, so its workers stop again until its next request; 2 stays out of rotation until a file in it changes');
  const app = await blogStatus(env);
  assert.equal([app.state, app.version], ['idle', '1']);
});

// On the gateway the test above left serving version 1, stopped while idle.
test('a restart of an app stopped while idle says that it was probed and stays stopped until its next request (it had no old workers to drain); the next request is served', async () => {
  const env = await idleTwoVersions();
  await waitFor(async () => (await blogStatus(env)).state === 'idle', 20_000, 'blog to stop while idle', ASK_GATEWAY_EVERY_MS);
  const r = await admin(env.gw, '/apps/blog/restart', { method: 'POST' });
  assert.is(r.status, 200, r.text);
  assert.equal(r.json(), { app: 'blog', version: '1', message: 'blog: version 1 restarted and passed its probe; it was idle, so its workers stop again until its next request' });
  assert.is((await blogStatus(env)).state, 'idle');
  const res = await request(`${env.gw.url}/blog/`);
  await res.body.text();
  assert.is(res.statusCode, 200);
});

const ifRoot = runIf(test, isRoot, 'needs root: apps run as other users only when the gateway is root');
ifRoot('a root gateway without a token: status for all, but logs and actions only through the token or the unix socket', async () => {
  const env = await rootWithoutToken();
  const sock = join(env.dir.path, 'admin.sock');
  // A refused version quotes the app's log (its traceback): that is the log too (SPEC 5.4).
  addPackage(env.apps, 'environ', 'blog.2', { 'environ_app.py': [[/^import json$/m, 'import json\nraise RuntimeError("blog 2 is broken on purpose")']] });
  chownPackages(env.apps, 'nobody');
  await waitFor(async () => (await admin(env.gw, '/status', { headers: {} })).json().apps[0].versions.some((v: any) => v.version === '2' && v.state === 'failed'), 60_000, 'version 2 refused', ASK_GATEWAY_EVERY_MS);
  const tcp = await admin(env.gw, '/status', { headers: {} });
  assert.is(tcp.status, 200);
  const status = tcp.json();
  assert.is(status.apps[0].log.lines, null, 'no log lines without the right to see logs');
  const refusal = status.apps[0].versions.find((v: any) => v.version === '2').reason;
  assert.match(refusal.message, /cannot import/, 'what failed is said');
  assert.is(refusal.tail, undefined, 'the traceback from the log is not');
  assert.is(status.apps[0].problem?.tail, undefined);
  assert.ok(status.apps[0].history.every((h: any) => h.reason?.tail === undefined), 'nor in the history');
  assert.not.match(tcp.text, /Traceback \(most recent call last\)/, 'no traceback anywhere in it');
  // The exception's message is the app's own output too (it may hold a connection string).
  assert.not.match(tcp.text, /broken on purpose/, 'nor the exception\'s message, in a reason or the history');
  assert.match(refusal.message, /cannot import .*RuntimeError: \[its output is in the app log\]/, refusal.message);
  // Its fix must not promise the traceback's last lines here, where they are withheld.
  assert.not.match(refusal.hint, /follow/, refusal.hint);
  assert.match(refusal.hint, /all of it is in \/\S+\/blog\/\S*app\.log\)/, refusal.hint);
  assert.is(status.access.logs, false);
  assert.match(status.access.why, /--admin-token FILE/);
  const log = await admin(env.gw, '/apps/blog/log', { headers: {} });
  assert.is(log.status, 403);
  assert.match(log.json().error.message, /--admin unix:/);
  assert.match(log.json().error.message, /^the gateway runs as root and its apps' processes \(blog as nobody\) can reach this loopback port/);
  assert.is((await admin(env.gw, '/apps/blog/restart', { method: 'POST', headers: {} })).status, 403);
  // DNS rebinding: a name that is not ours is refused before anything is shown.
  assert.is((await admin(env.gw, '/status', { headers: { host: 'evil.example:8099' } })).status, 421);
  // The same gateway's apps through a unix admin socket (mode 0600): no token needed. Its mode
  // is 0600 whatever --socket-mode gives the public unix: listeners (nginx's group, or 0666).
  const publicSock = join(env.dir.path, 'public.sock');
  const viaSocket = await startCli(['--apps', env.apps, '--listen', '127.0.0.1:0', '--listen', `unix:${publicSock}`, '--socket-mode', '0666', '--admin', `unix:${sock}`, '--state-dir', join(env.dir.path, 'state2'), '--access-log', 'off', '--environment', join(env.dir.path, 'environment.yaml')], { bin: installForOtherUsers().bin });
  const agent = new Agent({ connect: { socketPath: sock } });
  try {
    assert.is(statSync(publicSock).mode & 0o777, 0o666, '--socket-mode applies to the public listener');
    assert.is(statSync(sock).mode & 0o777, 0o600, 'and never to the admin socket');
    const r = await request('http://localhost/apps/blog/restart', { method: 'POST', dispatcher: agent, headersTimeout: 60_000 });
    assert.is(r.statusCode, 200, await r.body.text());
    const s = (await (await request('http://localhost/status', { dispatcher: agent })).body.json()) as any;
    assert.ok(Array.isArray(s.apps[0].log.lines));
    const reason = s.apps[0].versions.find((v: any) => v.version === '2').reason;
    assert.match(reason.tail.join('\n'), /broken on purpose/, 'with the right to see logs, the traceback');
    assert.match(reason.message, /RuntimeError: blog 2 is broken on purpose/, 'and the message whole');
    env.pids.push(...statusPids(s));
  } finally {
    await agent.destroy();
    await viaSocket.stop();
  }
});
ifRoot('a root gateway without a token: a lifespan refusal\'s fix sends to the app log, where its withheld message is, or says the app gave none', async () => {
  const env = await rootWithoutToken();
  addPackage(env.apps, 'asgi-lifespan-fail', 'chat');
  addPackage(env.apps, 'asgi-lifespan-fail', 'quiet', { 'app.py': [[', "message": "the database is unreachable"', '']] });
  const problems = await waitFor(async () => {
    const apps = (await admin(env.gw, '/status', { headers: {} })).json().apps;
    const both = ['chat', 'quiet'].map((name) => apps.find((a: any) => a.name === name)?.problem);
    return both.every((p) => p?.code === 'APPPKG_APP_LIFESPAN_FAILED') ? both : undefined;
  }, 60_000, 'chat and quiet refused, and said', ASK_GATEWAY_EVERY_MS);
  const [chat, quiet] = problems;
  assert.match(chat.message, /failed its lifespan startup: \[its output is in the app log\]/, chat.message);
  assert.not.match(chat.hint, /above/, chat.hint);
  assert.match(chat.hint, /\(its message is in \/\S+\/chat\/\S*app\.log\)/, chat.hint);
  assert.ok(readFileSync(chat.log, 'utf8').includes('the database is unreachable'), 'the log has the message the hint sends to');
  assert.match(quiet.message, /failed its lifespan startup: it sent lifespan\.startup\.failed with no message$/, quiet.message);
  assert.match(quiet.hint, /so the app gave no reason: give it one .* in \/\S+\/quiet\/\S*app\.log$/, quiet.hint);
});


test('an admin address other than loopback needs a token (bad usage, 2); a token file that is empty or missing is refused with 1', async () => {
  const dir = tempDir('apppkg-admin-token-');
  try {
    const base = ['--apps', dir.path, '--listen', '127.0.0.1:0', '--state-dir', join(dir.path, 'state')];
    const open = await runCli([...base, '--admin', '0.0.0.0:0']);
    assert.is(open.status, 2, open.stderr);
    assert.match(open.stderr, /0\.0\.0\.0:0 is not a loopback address/);
    assert.match(open.stderr, /--admin-token FILE/);
    // An IPv6 address as it is written on the command line, brackets and all.
    const open6 = await runCli([...base, '--admin', '[::]:0']);
    assert.is(open6.status, 2, open6.stderr);
    assert.match(open6.stderr, /--admin \[::\]:0 is not a loopback address/);
    // A token file that is wrong is no bad usage: 1, as a missing --environment file (README).
    writeFileSync(join(dir.path, 'empty'), '\n');
    const empty = await runCli([...base, '--admin', '127.0.0.1:0', '--admin-token', join(dir.path, 'empty')]);
    assert.is(empty.status, 1, empty.stderr);
    assert.match(empty.stderr, /the file is empty/);
    const missing = await runCli([...base, '--admin', '0.0.0.0:0', '--admin-token', join(dir.path, 'missing')]);
    assert.is(missing.status, 1, missing.stderr);
    // Said in words, with the kernel's code after them: a bare ENOENT was all it said.
    assert.match(missing.stderr, `${join(dir.path, 'missing')}: cannot use it as the admin token: there is no such file (ENOENT)`);
    const directory = await runCli([...base, '--admin', '0.0.0.0:0', '--admin-token', dir.path]);
    assert.is(directory.status, 1, directory.stderr);
    assert.match(directory.stderr, `${dir.path}: cannot use it as the admin token: it is a directory, not a file (EISDIR)`);
    const client = await runCli(['status', '--admin', '127.0.0.1:1', '--admin-token', join(dir.path, 'empty')]);
    assert.is(client.status, 1, client.stderr);
    assert.match(client.stderr, /the file is empty/);
  } finally {
    dir.remove();
  }
});

/** Node's resolver, told that every *.localhost name is 0.0.0.0, as a wildcard record or search domain may. */
const WILDCARD_LOCALHOST = `const dns = require('node:dns');
const real = dns.lookup;
dns.lookup = function (name, options, callback) {
  if (typeof name !== 'string' || !name.endsWith('.localhost')) return real.apply(this, arguments);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? cb(null, [{ address: '0.0.0.0', family: 4 }]) : cb(null, '0.0.0.0', 4)));
};
`;

test('--admin NAME.localhost without a token is refused (2): the name may resolve to an address other than loopback', async () => {
  const dir = tempDir('apppkg-admin-name-');
  try {
    writeFileSync(join(dir.path, 'resolver.cjs'), WILDCARD_LOCALHOST);
    const env = { NODE_OPTIONS: `--require ${join(dir.path, 'resolver.cjs')}` };
    const r = await runCli(['--apps', dir.path, '--listen', '127.0.0.1:0', '--admin', 'admin.localhost:0', '--state-dir', join(dir.path, 'state')], { env, ms: 15_000 });
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--admin admin\.localhost:0 is not a loopback address/);
    assert.match(r.stderr, /a host name other than localhost counts as not loopback/);
    assert.not.match(r.stdout + r.stderr, /admin on http/);
  } finally {
    dir.remove();
  }
});

test('the admin routes are not reachable through --listen', async () => {
  const env = opened[0];
  for (const [method, path] of [['GET', '/status'], ['GET', '/events'], ['GET', '/metrics'], ['GET', '/apps/blog/log'], ['POST', '/apps/blog/restart']] as const) {
    const res = await request(`${env.gw.url}${path}`, { method, headers: bearer });
    const body = await res.body.text();
    assert.is(res.statusCode, 404, `${method} ${path}: ${body}`);
    assert.not.match(body, /"apps"|apppkg_requests_total/);
  }
});

test.run();
