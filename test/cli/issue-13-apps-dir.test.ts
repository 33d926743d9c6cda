// Issue 13, item 10: `--apps` at an app package itself, or at an empty directory, served nothing
// without a word, and `--apps /missing` said only "expected a directory". Each now says what it
// found and what to do; an empty directory is served and watched, with one line saying so.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { installForOtherUsers, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('issue 13: what --apps points at');
const work = tempDir('apppkg-apps-dir-');
const state = join(work.path, 'state');
const running: RunningGateway[] = [];
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobody = runIf(test, asNobody, 'needs root and runuser to run the gateway as a user that cannot list a directory');

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

test.after(async () => {
  for (const g of running) await g.stop();
  work.remove();
});

// Exit 1, not 2: the command line was well formed, the directory it names is not what it should
// be, as for an APP_DIR that does not exist (2 is for a usage mistake, SPEC §3).
test('--apps at an app package says so and how to serve it, exit 1, nothing started', async () => {
  const pkg = writePackage(join(work.path, 'parent'), 'hi', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': WSGI });
  const r = await runCli(['--apps', pkg, '--listen', '0', '--admin', '0', '--state-dir', state], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--apps: expected a directory of app packages, found an app package (${join(pkg, 'app.yaml')})`);
  assert.match(r.stderr, `fix: serve it with \`apppkg-gateway serve ${pkg}\`, or point --apps at its parent, ${dirname(pkg)}`);
  assert.not.match(r.stdout, /listening on/);
});

test('--apps at nothing, or at a file, says what was found and what to do', async () => {
  const missing = join(work.path, 'missing');
  const gone = await runCli(['--apps', missing], { ms: 20_000 });
  assert.is(gone.status, 1, gone.stderr);
  assert.match(gone.stderr, `found nothing at ${missing}`);
  assert.match(gone.stderr, `fix: create it (mkdir -p ${missing})`);
  assert.not.match(gone.stderr, /run .*--help/);
  const file = join(work.path, 'a-file');
  writeFileSync(file, '');
  const notDir = await runCli(['--apps', file], { ms: 20_000 });
  assert.is(notDir.status, 1, notDir.stderr);
  assert.match(notDir.stderr, `found a file (${file})`);
});

// A new user's slips (H242): `--apps /srv/aps` beside /srv/apps was told to mkdir it, which made
// a second, empty apps directory; `--apps /srv`, the packages being in /srv/apps, was served as
// empty (every URL a 404) with the line for a directory with nothing in it at all.
test('--apps at a typo of a directory beside it: did you mean that one, with its packages counted', async () => {
  const apps = join(work.path, 'typo', 'apps');
  writePackage(apps, 'hi', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': WSGI });
  const typo = join(work.path, 'typo', 'aps');
  const r = await runCli(['--apps', typo, '--listen', '0', '--admin', '0', '--state-dir', state], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--apps: expected a directory of app packages, found nothing at ${typo}\n`);
  assert.match(r.stderr, `  fix: did you mean ${apps} (it holds 1 app package)? point --apps at it; or create it (mkdir -p ${typo})`);
});

test('--apps at the parent of the directory of packages: the log names that directory and its packages', async () => {
  const parent = join(work.path, 'typo');
  // A root of its own: a failure here leaves this gateway holding it until test.after.
  const gw = await startCli(['--apps', parent, '--listen', '0', '--admin', '0', '--state-dir', join(work.path, 'parent-state'), '--watch-interval', '0'], { ms: 30_000 });
  running.push(gw);
  assert.match(gw.output(), `no app packages in ${parent}, but ${join(parent, 'apps')} holds 1 app package (hi): give --apps that directory to serve them`);
  // The reload a host running it under systemd uses too (the unit's ExecReload sends the signal).
  assert.match(gw.output(), 'send the gateway SIGHUP (`systemctl reload apppkg-gateway` under systemd) once they are there');
  await gw.stop();
});

test('an empty --apps is served and watched, and the log says no package was found and how one looks', async () => {
  const apps = join(work.path, 'empty');
  mkdirSync(apps);
  // The token: a root gateway (the suite's) answers an app's log only with it.
  const tokenFile = join(work.path, 'empty-admin-token');
  writeFileSync(tokenFile, 'the-empty-apps-admin-token\n', { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '0', '--admin', '0', '--admin-token', tokenFile, '--state-dir', state, '--watch-interval', '0.2'], { ms: 30_000 });
  running.push(gw);
  assert.match(gw.output(), `no app packages in ${apps}: a package is a directory holding app.yaml, e.g. ${join(apps, 'hello', 'app.yaml')}`);
  assert.match(gw.output(), `(\`apppkg-gateway init ${join(apps, 'hello')}\` writes one`);
  assert.match(gw.output(), /watching for them/);
  // Still watching: a package copied in later serves.
  writePackage(apps, 'hi', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': WSGI });
  await waitFor(async () => (await request(`${gw.url}/hi/`).then((r) => r.body.text())) === 'ok', 20_000, 'the package copied in to serve');
  // One whose app.yaml does not load: the fix says the watcher loads it again, and what makes it
  // do so at once, the signal and the reload a host running it under systemd uses.
  writePackage(apps, 'wiki', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nwsgii: 1\n', 'wsgi.py': WSGI });
  const headers = { authorization: 'Bearer the-empty-apps-admin-token' };
  await waitFor(async () => (await request(`${gw.adminUrl}/apps/wiki/log`, { headers, headersTimeout: 5000, bodyTimeout: 5000 }).then(async (r) => (await r.body.text(), r.statusCode))) === 409, 20_000, 'wiki to be seen broken');
  const r = await runCli(['logs', 'wiki', '--admin', gw.adminUrl!, '--admin-token', tokenFile], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `  fix: fix ${join(apps, 'wiki', 'app.yaml')} as said above; the gateway loads it again by itself, or at once if you send the gateway SIGHUP (\`systemctl reload apppkg-gateway\` under systemd); \`apppkg-gateway status\` shows it served\n`);
});

// stat succeeds on a directory its user may not list: it was served as empty ("no app packages
// ... watching for them") beside a line saying it could not be read, and never served anything.
ifNobody('--apps at a directory the gateway\'s user cannot list says so, exit 1, before it listens', async () => {
  chmodSync(work.path, 0o755);
  const closed = join(work.path, 'closed');
  writePackage(closed, 'hi', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': WSGI });
  chmodSync(closed, 0o700);
  const nobodyState = join(work.path, 'nobody-state');
  mkdirSync(nobodyState);
  chmodSync(nobodyState, 0o777);
  const bin = installForOtherUsers().bin;
  // timeout: without the check the gateway serves on, and runCli's kill would reach runuser only.
  const r = await runCli(['-u', 'nobody', '--', 'timeout', '15', bin, '--apps', closed, '--listen', '0', '--admin', '0', '--state-dir', nobodyState], { bin: 'runuser', cwd: work.path, ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `--apps: expected a directory of app packages, found ${closed}, which this user (uid ${spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim()}) cannot list (EACCES)\n`);
  assert.match(r.stderr, `  fix: let the user the gateway runs as read and search it (chmod a+rx ${closed}, or run the gateway as its owner)\n`);
  assert.not.match(r.stdout, /listening on/);
});

test.run();
