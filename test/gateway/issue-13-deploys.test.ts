// Issue 13, "Deploys and first runs", items 1-3, through the real CLI with real Pythons:
// a version is judged once its directory has settled and retried when any file in it changes;
// an app with `pip:` gets its virtualenv under --apps (or a refusal naming `install`); a
// refusal names the app's log and carries the traceback's last lines, from the app's frame.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, FIXTURES, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';
import { fileIndex, makeWheel } from '../lifecycle/lifecycle-apps.js';

const test = suite('issue 13: deploys and first runs');

interface Env {
  apps: string;
  state: string;
  gw: RunningGateway;
  /** The apps and state directories, removed once the gateway is stopped. */
  dirs: ReturnType<typeof tempDir>[];
}
const opened: Env[] = [];

/**
 * With the admin token: a refusal's reason quotes the app's log (its traceback, a hook's output),
 * which a gateway running as root shows only to the token's holder (SPEC 5.4).
 */
const TOKEN = 'issue-13-token';

async function appStatus(gw: RunningGateway, name: string): Promise<any> {
  const status = (await (await request(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as any;
  return status.apps.find((a: any) => a.name === name);
}

async function start(setup: (appsDir: string) => void, extra: string[], ms = 30_000, env: NodeJS.ProcessEnv = {}): Promise<Env> {
  const apps = tempDir('apppkg-i13-apps-');
  const state = warmStateDir('apppkg-i13-state-');
  setup(apps.path);
  const tokenFile = join(state.path, 'admin-token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  // One Python worker per version: a worker costs about half a gateway's start in CPU, and how
  // a version is judged, refused or served is the same with one as with the default two.
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state.path, ...oneWorkerEach(state.path), '--access-log', 'off', ...extra], { ms, env });
  return { apps: apps.path, state: state.path, gw, dirs: [apps, state] };
}

async function close({ gw, dirs }: Env): Promise<void> {
  await gw.stop();
  for (const d of dirs) d.remove();
}

/** A gateway of the test running alone (start), stopped as the test ends. */
async function open(setup: (appsDir: string) => void, extra: string[], ms = 30_000, processEnv: NodeJS.ProcessEnv = {}): Promise<Env> {
  const env = await start(setup, extra, ms, processEnv);
  opened.push(env);
  return env;
}

// Each test's gateway stops as the test ends, not at the end of the file: idle, it kept its
// workers, heartbeats and rescans going through every test after.
test.after.each(async () => {
  for (const env of opened.splice(0)) await close(env);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const environYaml = readFileSync(join(FIXTURES, 'apps', 'environ', 'app.yaml'), 'utf8');
const environModule = (v: string) => readFileSync(join(FIXTURES, 'apps', 'environ', 'environ_app.py'), 'utf8').replace(/VERSION = "1"/, `VERSION = "${v}"`);
const versionOf = (gw: RunningGateway, name: string, v: string) => async () => (await appStatus(gw, name))?.versions.find((x: any) => x.version === v);

async function served(gw: RunningGateway, path: string): Promise<string> {
  const res = await request(`${gw.url}${path}`);
  const body = await res.body.text();
  return res.statusCode === 200 ? body : `${res.statusCode}`;
}

test('item 1: app.yaml landing before the code (cp -r): the version waits until its directory settles, then serves', async () => {
  const { apps, gw } = await open((dir) => addPackage(dir, 'environ', 'blog.1.0'), ['--settle', '2', '--watch-interval', '0.2']);
  // What a slow `cp -r` does: the description first, the module 1.2 s later.
  const dir = join(apps, 'blog.1.1');
  mkdirSync(dir);
  const described = Date.now();
  writeFileSync(join(dir, 'app.yaml'), environYaml);
  await waitFor(async () => (await versionOf(gw, 'blog', '1.1')())?.state === 'settling', 1000, 'status to show 1.1 settling');
  // 1.2 s after the description, not after status showed it: on a loaded host that look took
  // most of a second, and the module then came past the 2 s settle, judged without it (refused).
  await sleep(described + 1200 - Date.now());
  writeFileSync(join(dir, 'environ_app.py'), environModule('1.1'));
  await waitFor(async () => JSON.parse(await served(gw, '/blog/')).version === '1.1', 15_000, 'version 1.1 to serve', ASK_GATEWAY_EVERY_MS);
  assert.not.match(gw.output(), /version 1\.1 refused/);
});

test('item 3: a refusal under --apps names the app log and carries its last lines (the traceback from the app\'s frame, a hook\'s output)', async () => {
  const { state, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog', { 'environ_app.py': [[/^VERSION = "1"/m, 'raise RuntimeError("the database is not configured")']] });
    const shop = addPackage(dir, 'environ', 'shop');
    writeFileSync(join(shop, 'app.yaml'), `${environYaml}commands:\n  install: echo migrating the database; echo no such table >&2; exit 3\n`);
  }, ['--settle', '0.3', '--watch-interval', '0.2']);
  const blog = (await appStatus(gw, 'blog')).versions[0];
  const log = join(state, 'apps', 'blog', 'log', 'app.log');
  assert.is(blog.state, 'failed');
  assert.is(blog.reason.code, 'APPPKG_APP_IMPORT_FAILED');
  assert.is(blog.reason.log, log);
  assert.match(blog.reason.hint, log);
  assert.not.match(blog.reason.hint, /shown in the traceback/);
  assert.match(blog.reason.tail.join('\n'), /environ_app\.py", line \d+, in <module>/);
  assert.is(blog.reason.tail.at(-1), 'RuntimeError: the database is not configured');
  // The traceback starts at the app's frame: neither the shim's nor importlib's are in it.
  const text = readFileSync(log, 'utf8');
  const traceback = text.slice(text.indexOf('Traceback (most recent call last):'));
  assert.match(traceback, /^Traceback \(most recent call last\):\n {2}File "[^"]*environ_app\.py"/);
  assert.not.match(blog.reason.tail.join('\n'), /apppkg_shim|importlib/);
  // The gateway's own log carries the same lines.
  const quoted = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(gw.output(), new RegExp(`last lines of ${quoted(log)}:\\n(?:      \\| .*\\n)*      \\| RuntimeError: the database is not configured`));

  // A hook's output is not "above" either: the hint names the log, the tail has the output.
  const shop = (await appStatus(gw, 'shop')).versions[0];
  assert.is(shop.reason.code, 'APPPKG_COMMAND_FAILED');
  assert.match(shop.reason.hint, join(state, 'apps', 'shop', 'log', 'app.log'));
  assert.not.match(shop.reason.hint, /above/);
  assert.equal(shop.reason.tail.slice(-2), ['migrating the database', 'no such table']);
});

/**
 * Versions of blog added one above another to the one gateway (--settle 0.3, serving blog 1.0)
 * that the suite starts, one gateway's start where there were three: a refused version leaves
 * the serving one as it was, and each test numbers its versions above the earlier tests' (1.1 to
 * 1.3, 1.4, 1.5), so each is judged as the newest, as on a fresh gateway. The tests whose
 * versions take over come last. --settle 0.3 for the version whose times lie ahead too (it had
 * 0.5): settled by the gateway's own looks, it serves within the wait either way; by the clock,
 * in an hour.
 */
const versions = suite('issue 13: versions deployed one above another (one gateway serving blog 1.0)');
let versionsEnv: Env | undefined;
/** The directories a test of `versions` made besides the suite's, removed as it ends. */
const versionsDirs: ReturnType<typeof tempDir>[] = [];

versions.before(async () => {
  versionsEnv = await start((dir) => addPackage(dir, 'environ', 'blog.1.0'), ['--settle', '0.3', '--watch-interval', '0.2']);
});

versions.after.each(() => {
  for (const d of versionsDirs.splice(0)) d.remove();
});

versions.after(async () => {
  if (versionsEnv) await close(versionsEnv);
});

versions('item 3: a refusal\'s tail has the refused version\'s own lines only, never an earlier version\'s', async () => {
  const { apps, gw } = versionsEnv!;
  const hooked = (version: string, update: string) => {
    const dir = addPackage(apps, 'environ', `blog.${version}`, { 'environ_app.py': [[/^VERSION = "1"/m, `VERSION = "${version}"`]] });
    writeFileSync(join(dir, 'app.yaml'), `${environYaml}commands:\n  update: ${update}\n`);
  };
  hooked('1.1', 'echo the 1.1 update failed loudly >&2; exit 3');
  await waitFor(async () => (await versionOf(gw, 'blog', '1.1')())?.state === 'failed', 15_000, 'version 1.1 to be refused', ASK_GATEWAY_EVERY_MS);
  assert.match((await versionOf(gw, 'blog', '1.1')()).reason.tail.join('\n'), /the 1\.1 update failed loudly/);
  hooked('1.2', 'echo 1.2 says this; exit 4');
  await waitFor(async () => (await versionOf(gw, 'blog', '1.2')())?.state === 'failed', 15_000, 'version 1.2 to be refused', ASK_GATEWAY_EVERY_MS);
  const tail = (await versionOf(gw, 'blog', '1.2')()).reason.tail as string[];
  assert.not.match(tail.join('\n'), /1\.1 update/, '1.1\'s output is not 1.2\'s reason');
  assert.is(tail.at(-1), '1.2 says this');
  hooked('1.3', 'exit 5');
  await waitFor(async () => (await versionOf(gw, 'blog', '1.3')())?.state === 'failed', 15_000, 'version 1.3 to be refused', ASK_GATEWAY_EVERY_MS);
  const silent = (await versionOf(gw, 'blog', '1.3')()).reason;
  assert.not.ok((silent.tail ?? []).some((l: string) => /1\.[12]/.test(l)), `a version that wrote only the gateway's own notes: ${JSON.stringify(silent.tail)}`);
  assert.is(JSON.parse(await served(gw, '/blog/')).version, '1', 'the serving version keeps serving');
});

versions('item 1: a refused version is retried when a file other than app.yaml changes (the fix touches only the module)', async () => {
  const { apps, gw } = versionsEnv!;
  const broken = addPackage(apps, 'environ', 'blog.1.4', { 'environ_app.py': [[/^VERSION = "1"/m, 'VERSION = "1.4"\nraise RuntimeError("the database is not configured")']] });
  await waitFor(async () => (await versionOf(gw, 'blog', '1.4')())?.state === 'failed', 15_000, 'version 1.4 to be refused', ASK_GATEWAY_EVERY_MS);
  assert.is(JSON.parse(await served(gw, '/blog/')).version, '1', 'the serving version keeps serving');
  writeFileSync(join(broken, 'environ_app.py'), environModule('1.4'));
  await waitFor(async () => JSON.parse(await served(gw, '/blog/')).version === '1.4', 15_000, 'version 1.4 to serve after its module was fixed', ASK_GATEWAY_EVERY_MS);
});

versions('item 1: a version whose files\' times lie an hour ahead (unpacked from a host whose clock was ahead, or this clock stepped back): serves once unchanged for --settle, not in an hour', async () => {
  const { apps, gw } = versionsEnv!;
  const building = tempDir('apppkg-i13-aside-');
  versionsDirs.push(building);
  const aside = addPackage(building.path, 'environ', 'blog.1.5', { 'environ_app.py': [[/VERSION = "1"/, 'VERSION = "1.5"']] });
  const ahead = new Date(Date.now() + 3600_000);
  for (const file of ['app.yaml', 'environ_app.py']) utimesSync(join(aside, file), ahead, ahead);
  // Renamed in whole (the atomic deploy): nothing in it changes from here on.
  renameSync(aside, join(apps, 'blog.1.5'));
  let state = '';
  await waitFor(async () => {
    state = (await versionOf(gw, 'blog', '1.5')())?.state ?? 'not seen';
    return JSON.parse(await served(gw, '/blog/')).version === '1.5';
  }, 15_000, () => `version 1.5 to serve (it is ${state})`, ASK_GATEWAY_EVERY_MS);
});

const pipApp = (dir: string, requirements: string, wheels: Array<[string, string]>) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(dir, 'wsgi.py'), 'import thepkg\n\ndef application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [thepkg.VERSION.encode()]\n');
  writeFileSync(join(dir, 'requirements.txt'), requirements);
  for (const [name, version] of wheels) makeWheel(dir, name, version);
};

test('item 2: an app with pip: gets its virtualenv under --apps; changed requirements build a new one; a pip failure is refused naming install', async () => {
  const { apps, state, gw } = await open((dir) => pipApp(join(dir, 'shop.1.0'), 'thepkg==1.0\n', [['thepkg', '1.0']]), ['--settle', '0.3', '--watch-interval', '0.2'], 120_000);
  assert.is(await served(gw, '/shop/'), '1.0');
  // Progress in the gateway's log, one line per step.
  assert.match(gw.output(), /shop: creating venv with .*there is none yet/);
  assert.match(gw.output(), /shop: venv created in \d+\.\d s/);
  assert.match(gw.output(), /shop: requirements installed in \d+\.\d s/);

  // A requirement with no local file: refused, naming `apppkg-gateway install`; 1.0 serves on.
  pipApp(join(apps, 'shop.2.0'), 'thepkg==1.0\nnowhere-to-be-found==9\n', [['thepkg', '1.0']]);
  const refused = await waitFor(async () => {
    const v = await versionOf(gw, 'shop', '2.0')();
    return v?.state === 'failed' ? v : undefined;
  }, 120_000, 'version 2.0 to be refused', ASK_GATEWAY_EVERY_MS);
  assert.is(refused.reason.code, 'APPPKG_PIP_INSTALL_FAILED');
  assert.match(refused.reason.hint, new RegExp(`apppkg-gateway install ${join(apps, 'shop.2.0')}`));
  assert.match(refused.reason.tail.join('\n'), /nowhere-to-be-found/);
  assert.is(await served(gw, '/shop/'), '1.0');

  // A venv that builds for a version that then fails to import: the link stays on the old
  // venv, so the serving version (and any worker of it that restarts) keeps its libraries.
  const venvLink = join(state, 'apps', 'shop', 'venv');
  const liveBuild = readlinkSync(venvLink);
  pipApp(join(apps, 'shop.2.5'), 'thepkg==2.0\n', [['thepkg', '2.0']]);
  writeFileSync(join(apps, 'shop.2.5', 'wsgi.py'), 'import thepkg\nraise RuntimeError("not this one")\n');
  await waitFor(async () => (await versionOf(gw, 'shop', '2.5')())?.state === 'failed', 120_000, 'version 2.5 to be refused', ASK_GATEWAY_EVERY_MS);
  assert.is((await versionOf(gw, 'shop', '2.5')()).reason.code, 'APPPKG_APP_IMPORT_FAILED');
  assert.is(readlinkSync(venvLink), liveBuild);
  assert.equal(readdirSync(join(state, 'apps', 'shop')).filter((e) => e.startsWith('venv-')), [liveBuild], 'the refused build is removed');
  assert.is(await served(gw, '/shop/'), '1.0');

  // Changed requirements that pip can meet: a new venv, and the new version serves from it.
  pipApp(join(apps, 'shop.3.0'), 'thepkg==2.0\n', [['thepkg', '2.0']]);
  await waitFor(async () => (await served(gw, '/shop/')) === '2.0', 120_000, 'version 3.0 to serve thepkg 2.0', ASK_GATEWAY_EVERY_MS);
  assert.is.not(readlinkSync(venvLink), liveBuild, 'the venv link follows the version that serves');
  assert.match(gw.output(), /shop: creating venv with .*the requirements changed/);
});

/**
 * An app whose answer is read from its venv at the request (importlib.metadata, as a lazy import
 * reads it), not at its import: `/held` first waits (60 s at most) for the file `release`, after
 * writing `started`, so that a test holds it in a version that is about to drain.
 */
const metadataApp = (dir: string, version: string, hold: { started: string; release: string }) => {
  pipApp(dir, `thepkg==${version}\n`, [['thepkg', version]]);
  writeFileSync(join(dir, 'wsgi.py'), [
    'import importlib.metadata, os, time',
    'def application(environ, start_response):',
    '    if environ["PATH_INFO"] == "/held":',
    `        open(${JSON.stringify(hold.started)}, "w").close()`,
    '        for _ in range(600):',
    `            if os.path.exists(${JSON.stringify(hold.release)}): break`,
    '            time.sleep(0.1)',
    '    body = importlib.metadata.version("thepkg")',
    '    start_response("200 OK", [("Content-Type", "text/plain")])',
    '    return [body.encode()]',
    '',
  ].join('\n'));
};

test('item 2: changed requirements deployed while the old version holds a request (a version started on a new build, one restarted on the venv it found): it answers from its own venv, removed only once it drained', async () => {
  const holds = tempDir('apppkg-i13-holds-');
  try {
    const hold = (n: number) => ({ started: join(holds.path, `started-${n}`), release: join(holds.path, `release-${n}`) });
    const { apps, state, gw } = await open((dir) => metadataApp(join(dir, 'shop.1.0'), '1.0', hold(1)), ['--settle', '0.3', '--watch-interval', '0.2'], 120_000);
    assert.is(await served(gw, '/shop/'), '1.0');
    const appState = join(state, 'apps', 'shop');
    const builds = () => readdirSync(appState).filter((e) => e.startsWith('venv-')).sort();
    const oldBuild = readlinkSync(join(appState, 'venv'));
    // A request version 1.0 holds while 2.0, with other requirements, takes over.
    const held = served(gw, '/shop/held').catch((err: unknown) => `failed: ${String(err)}`);
    await waitFor(() => existsSync(hold(1).started), 30_000, 'version 1.0 to hold the request');
    metadataApp(join(apps, 'shop.2.0'), '2.0', hold(2));
    await waitFor(async () => (await served(gw, '/shop/')) === '2.0', 120_000, 'version 2.0 to serve thepkg 2.0', ASK_GATEWAY_EVERY_MS);
    assert.is.not(readlinkSync(join(appState, 'venv')), oldBuild, 'the venv link follows the version that serves');
    assert.ok(builds().includes(oldBuild), 'the draining version keeps its venv');
    writeFileSync(hold(1).release, '');
    // It was a 500 (PackageNotFoundError): the venv was removed at the switch, under the request.
    assert.is(await held, '1.0', `the held request is answered from the venv its version started on:\n${gw.output()}`);
    await waitFor(() => !builds().includes(oldBuild), 30_000, () => `the drained version's venv to be removed (${builds().join(', ')})`, ASK_GATEWAY_EVERY_MS);
    assert.equal(builds(), [readlinkSync(join(appState, 'venv'))]);
    // Restarted, 2.0 finds its venv current and reuses it: it runs on that build too, not on the
    // link, which the next deploy moves to thepkg 3.0's while 2.0 drains (it answered "3.0").
    const restarted = await request(`${gw.adminUrl}/apps/shop/restart`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(restarted.statusCode, 200, await restarted.body.text());
    const secondHeld = served(gw, '/shop/held').catch((err: unknown) => `failed: ${String(err)}`);
    await waitFor(() => existsSync(hold(2).started), 30_000, 'the restarted version 2.0 to hold the request');
    metadataApp(join(apps, 'shop.3.0'), '3.0', hold(3));
    await waitFor(async () => (await served(gw, '/shop/')) === '3.0', 120_000, 'version 3.0 to serve thepkg 3.0', ASK_GATEWAY_EVERY_MS);
    writeFileSync(hold(2).release, '');
    assert.is(await secondHeld, '2.0', `the held request is answered from the libraries its version started with:\n${gw.output()}`);
  } finally {
    holds.remove();
  }
});

test('item 2: `install --rebuild` while a gateway serves the app keeps the build the gateway runs on', async () => {
  const hold = { started: '/nonexistent/started', release: '/nonexistent/release' };
  const { apps, state, gw } = await open((dir) => metadataApp(join(dir, 'shop.1.0'), '1.0', hold), ['--settle', '0.3', '--watch-interval', '0.2'], 120_000);
  assert.is(await served(gw, '/shop/'), '1.0');
  const appState = join(state, 'apps', 'shop');
  const serving = readlinkSync(join(appState, 'venv'));
  const r = await runCli(['install', join(apps, 'shop.1.0'), '--rebuild', '--state-dir', state], { ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is.not(readlinkSync(join(appState, 'venv')), serving, 'install switched the link');
  // It was a 500: the build was removed under the serving version, which reads its metadata at each request.
  assert.is(await served(gw, '/shop/'), '1.0');
  assert.match(r.stdout, /==> the previous venv build \S+ is kept: the app runs on it \(pid \d+/);
  assert.ok(existsSync(join(appState, serving)));
});

test("item 2 on a host whose pip.conf names an index: --apps builds the venv from it; a pip.conf [install] target refuses the version before pip runs, naming install", async () => {
  const host = tempDir('apppkg-i13-host-');
  // The host's mirror alone has thepkg 3.0; index-url, so that pypi.org is never pip's default.
  const index = fileIndex(join(host.path, 'mirror'), [['thepkg', '3.0']]);
  const conf = join(host.path, 'pip.conf');
  writeFileSync(conf, `[global]\nindex-url = ${index}\n`);
  const hostEnv = { PIP_CONFIG_FILE: conf, XDG_CONFIG_DIRS: join(host.path, 'xdg') };
  const opening = open((dir) => pipApp(join(dir, 'shop.1.0'), 'thepkg==3.0\n', []), ['--settle', '0.3', '--watch-interval', '0.2'], 120_000, hostEnv);
  const { apps, gw, dirs } = await opening.catch((err: unknown) => {
    host.remove();
    throw err;
  });
  dirs.push(host);
  assert.is(await served(gw, '/shop/'), '3.0');
  assert.match(gw.output(), `shop: pip install -r ${join(apps, 'shop.1.0', 'requirements.txt')} (from the host's pip configuration: ${conf} (index-url))`);

  // pip.conf is read at each build: a target there is refused, and 1.0 serves on.
  const target = join(host.path, 'target');
  writeFileSync(conf, `[global]\nindex-url = ${index}\n[install]\ntarget = ${target}\n`);
  pipApp(join(apps, 'shop.2.0'), 'thepkg>=3.0\n', []);
  const refused = await waitFor(async () => {
    const v = await versionOf(gw, 'shop', '2.0')();
    return v?.state === 'failed' ? v : undefined;
  }, 120_000, 'version 2.0 to be refused', ASK_GATEWAY_EVERY_MS);
  assert.is(refused.reason.code, 'APPPKG_PIP_CONFIG_REFUSED');
  assert.match(refused.reason.message, `sets target = ${target} ([install] of ${conf})`);
  assert.match(refused.reason.hint, `apppkg-gateway install ${join(apps, 'shop.2.0')}`);
  assert.ok(!existsSync(target), 'pip ran with the target');
  assert.is(await served(gw, '/shop/'), '3.0');
});

test.run();
versions.run();
