// A `paths:` entry naming a file: Python imports from a zip archive on sys.path (.zip, .egg,
// .whl), so one is an entry like a directory, under check, serve and --apps alike; any other
// file (`paths: main.py`) Python skips unsaid, so check refused it while serve and --apps
// started the app without it. Now all three refuse it, with one message at the entry's line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('paths: naming a file');
const work = tempDir('apppkg-paths-file-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const running: RunningGateway[] = [];
const pids = new Set<number>();

const APP = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"from the app directory"]\n';
// `pf` names a Python file among its paths, after a directory that is fine.
const pf = writePackage(apps, 'pf', { 'app.yaml': 'platform: python, wsgi\napp: app:application\npaths:\n  - lib\n  - main.py\n', 'app.py': APP, 'main.py': APP });
mkdirSync(join(pf, 'lib'));
// `zp` imports its app from lib.zip, which only zipimport can read.
const zp = writePackage(apps, 'zp', { 'app.yaml': 'platform: python, wsgi\napp: zmod:application\npaths: lib.zip\n' });
execFileSync('python3', ['-c', `import zipfile, sys
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("zmod.py", 'def application(environ, start_response):\\n    start_response("200 OK", [("Content-Type", "text/plain")])\\n    return [b"from lib.zip"]\\n')
`, join(zp, 'lib.zip')]);

// Apps of their own: the --apps test above would run pi's commands.install first.
const missingApps = join(work.path, 'missing-apps');
// `pm` imports its app from vendor/, which was never made (an uncommitted vendor directory).
const pm = writePackage(missingApps, 'pm', { 'app.yaml': 'platform: python, wsgi\napp: vmod:application\npaths:\n  - lib\n  - vendor/\n' });
mkdirSync(join(pm, 'lib'));
// `pi` has its commands.install make the directory its paths: names, as `pip install --target` would.
const VMOD = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"from vendor"]\n';
writePackage(missingApps, 'pi', {
  'app.yaml': 'platform: python, wsgi\napp: vmod:application\npaths: [vendor/]\ncommands:\n  install: mkdir vendor && cp vmod.txt vendor/vmod.py\n',
  'vmod.txt': VMOD,
});

const MISSING =
  `${join(pm, 'app.yaml')}:5:5: paths: vendor is not a directory in ${pm}\n` +
  '  fix: create it (or commit it: `apppkg-gateway vendor` fills vendor/), or take it out of paths:';

const REFUSAL =
  `${join(pf, 'app.yaml')}:5:5: paths: main.py is a file, not a directory: paths: names directories to put on sys.path\n` +
  `  fix: name the directory that holds its modules (the app directory, ${pf}, is on sys.path without paths:) or a .zip, .egg or .whl archive of them, or take main.py out of paths:`;

test.after(async () => {
  for (const gw of running) await gw.stop();
  await assertNoOrphans([...pids], 15_000);
  work.remove();
});

test('check: a .py file in paths: fails at its entry; a .zip there passes, and the app imports from it', async () => {
  const file = await runCli(['check', pf, '--state-dir', state]);
  assert.is(file.status, 1, file.stdout);
  assert.match(file.stdout, `FAIL  paths     ${REFUSAL.replace('\n  fix:', '\n      fix:')}`);
  const zip = await runCli(['check', zp, '--state-dir', state]);
  assert.is(zip.status, 0, zip.stdout + zip.stderr);
  assert.match(zip.stdout, /ok +paths +lib\.zip\n/);
  assert.match(zip.stdout, /ok +app +zmod:application imports/);
});

test('serve: a .py file in paths: is refused with check\'s message at the same line, exit 1, before any worker starts', async () => {
  const r = await runCli(['serve', pf, '--port', '0', '--state-dir', state], { ms: 60_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: ${REFUSAL}\n`);
  assert.not.match(r.stderr, /listening on/);
});

test('serve: paths: lib.zip serves the app it holds', async () => {
  const gw = await startCli(['serve', zp, '--port', '0', '--state-dir', state]);
  running.push(gw);
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  const res = await request(gw.url);
  assert.is(res.statusCode, 200);
  assert.is(await res.body.text(), 'from lib.zip');
  await gw.stop();
});

test('--apps: the app with a .py file in paths: is refused with the same message and line; the one with lib.zip serves', async () => {
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off']);
  running.push(gw);
  await waitFor(() => gw.output().includes('pf: ') && gw.output().includes('zp: '), 30_000, () => `both apps said\n${gw.output()}`);
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  assert.match(gw.output(), `apppkg-gateway: pf: ${pf} refused:\n  ${REFUSAL.replace('\n  fix:', '\n    fix:')}\n`);
  const refused = await request(new URL('/pf/', gw.url));
  assert.is(refused.statusCode, 503);
  assert.match(await refused.body.text(), 'APPPKG_PATHS_MISSING');
  const zip = await waitFor(async () => {
    const res = await request(new URL('/zp/', gw.url));
    const body = await res.body.text();
    return res.statusCode === 200 ? body : null;
  }, 30_000, 'zp to serve');
  assert.is(zip, 'from lib.zip');
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  await gw.stop();
});

test('check, serve and --apps: a paths: directory that is not there is refused, each with check\'s message at its entry', async () => {
  const checked = await runCli(['check', pm, '--state-dir', state]);
  assert.is(checked.status, 1, checked.stdout);
  assert.match(checked.stdout, `FAIL  paths     ${MISSING.replace('\n  fix:', '\n      fix:')}`);
  const served = await runCli(['serve', pm, '--port', '0', '--state-dir', state], { ms: 60_000 });
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, `apppkg-gateway: ${MISSING}\n`);
  assert.not.match(served.stderr, /No module named/, 'refused before any worker imports the app');
  const gw = await startCli(['--apps', missingApps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off']);
  running.push(gw);
  await waitFor(() => gw.output().includes('pm: '), 30_000, () => `pm said\n${gw.output()}`);
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  assert.match(gw.output(), `apppkg-gateway: pm: ${pm} refused:\n  ${MISSING.replace('\n  fix:', '\n    fix:')}\n`);
  const refused = await request(new URL('/pm/', gw.url));
  assert.is(refused.statusCode, 503);
  assert.match(await refused.body.text(), 'APPPKG_PATHS_MISSING');
  // Judged after commands.install, which makes it.
  const made = await waitFor(async () => {
    const res = await request(new URL('/pi/', gw.url));
    const body = await res.body.text();
    return res.statusCode === 200 ? body : null;
  }, 30_000, () => `pi to serve\n${gw.output()}`);
  assert.is(made, 'from vendor');
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  await gw.stop();
});

test.run();
