// A rollback runs no commands.update (SPEC 2: the hook belongs to a new version), through the
// real CLI: the newest version removed and the admin's rollback go back to the older version
// without its migration script running against data its successor migrated; the newer version
// put back unchanged takes over again without its hook, put back changed is a new deploy.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway: a rollback runs no commands.update');

const apps = tempDir('apppkg-rollback-upd-apps-');
const state = tempDir('apppkg-rollback-upd-state-');
const aside = tempDir('apppkg-rollback-upd-aside-');
const tokens = tempDir('apppkg-rollback-upd-token-');
let gw: RunningGateway | null = null;

test.after(async () => {
  await gw?.stop();
  for (const d of [apps, state, aside, tokens]) d.remove();
});

const LOGGED_UPDATE = 'echo "$APPPKG_APP_DIR" >> "$APPPKG_DATA_DIR/updates.log"';

/** Version `v` of the environ fixture whose commands.update logs the directory it ran for. */
function addVersion(v: string): string {
  const dir = addPackage(apps.path, 'environ', `blog.${v}`, { 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] });
  writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: ${JSON.stringify(LOGGED_UPDATE)}\n`);
  // A subpackage, where Python writes a __pycache__ when a module of it is first imported.
  mkdirSync(join(dir, 'views'));
  writeFileSync(join(dir, 'views', '__init__.py'), '');
  return dir;
}

/** The versions whose update ran, in order (the basenames the hook logged). */
function updatesRun(): string[] {
  const file = join(state.path, 'apps', 'blog', 'data', 'updates.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.replace(/.*\//, '')) : [];
}

function installed(): { version: string; by: string } {
  return JSON.parse(readFileSync(join(state.path, 'apps', 'blog', 'installed.json'), 'utf8'));
}

async function served(): Promise<string> {
  const res = await request(`${gw!.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? String(JSON.parse(body).version) : `${res.statusCode} ${body.trim()}`;
}

const waitServed = (v: string, what: string) => waitFor(async () => (await served()) === v, 60_000, what);

test('removing the newest version and the admin\'s rollback run no update of the older one; the newer put back unchanged runs none, changed it runs again', async () => {
  const token = join(tokens.path, 'token');
  writeFileSync(token, 'rollback-token\n', { mode: 0o600 });
  addVersion('1.0');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--settle', '0', '--admin-token', token]);
  assert.is(await served(), '1.0');
  assert.equal(updatesRun(), [], 'the first install runs commands.install, never update');

  // A deploy: 1.1's update runs before it takes over, and is recorded.
  addVersion('1.1');
  await waitServed('1.1', 'version 1.1 deployed');
  assert.equal(updatesRun(), ['blog.1.1']);
  assert.is(installed().version, '1.1');

  // The newest version removed: 1.0 serves again without its update, and the log says why.
  renameSync(join(apps.path, 'blog.1.1'), join(aside.path, 'blog.1.1'));
  await waitServed('1.0', 'the rollback to 1.0 after 1.1 was removed');
  assert.equal(updatesRun(), ['blog.1.1'], 'no migration of 1.0 against data 1.1 migrated');
  assert.match(gw.output(), /blog: rolling back to version 1\.0: its commands\.update is not run \(version 1\.1's ran; a rollback keeps the data as it is\)\n/);
  assert.not.match(gw.output(), /running commands\.update of version 1\.0/);
  assert.is(installed().version, '1.1', 'a rollback does not lower the installed version');

  // Put back with the files its update passed with: it takes over, its update not run again;
  // what Python wrote into it since (a module of a subpackage imported late) is not a change.
  mkdirSync(join(aside.path, 'blog.1.1', 'views', '__pycache__'));
  writeFileSync(join(aside.path, 'blog.1.1', 'views', '__pycache__', '__init__.cpython-311.pyc'), 'compiled');
  renameSync(join(aside.path, 'blog.1.1'), join(apps.path, 'blog.1.1'));
  await waitServed('1.1', 'version 1.1 put back');
  assert.match(gw.output(), /blog: version 1\.1 is back with the files its commands\.update passed with; it is not run again/);
  assert.equal(updatesRun(), ['blog.1.1']);

  // The admin's rollback: the same.
  const admin = gw.adminUrl!.replace(/^http:\/\//, '');
  const said = gw.output().length;
  const rolled = await runCli(['rollback', 'blog', '--admin', admin, '--admin-token', token], { ms: 60_000 });
  assert.is(rolled.status, 0, rolled.stderr);
  assert.is(await served(), '1.0');
  assert.match(gw.output().slice(said), /blog: rolling back to version 1\.0: its commands\.update is not run/);
  assert.equal(updatesRun(), ['blog.1.1']);
  assert.is(installed().version, '1.1');
  const statusRes = await request(`${gw.adminUrl}/status`, { headers: { authorization: 'Bearer rollback-token' } });
  const app = ((await statusRes.body.json()) as any).apps.find((a: any) => a.name === 'blog');
  assert.ok(app.history.some((e: any) => e.kind === 'rolled-back' && e.version === '1.0' && e.from === '1.1'), JSON.stringify(app.history));

  // 1.1 changed after the rollback (a fix): the watcher sees it, no SIGHUP, and it is a new
  // deploy of it, whose update runs.
  appendFileSync(join(apps.path, 'blog.1.1', 'environ_app.py'), '\n# fixed\n');
  await waitServed('1.1', 'version 1.1 changed after the rollback, seen by the watcher');
  assert.equal(updatesRun(), ['blog.1.1', 'blog.1.1']);

  // A version above the installed one runs its update as any deploy.
  addVersion('1.2');
  await waitServed('1.2', 'version 1.2 deployed');
  assert.equal(updatesRun(), ['blog.1.1', 'blog.1.1', 'blog.1.2']);
  assert.is(installed().version, '1.2');
});

test.run();
