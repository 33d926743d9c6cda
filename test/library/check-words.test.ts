// AppPackage.check()'s fixes told a program to run `apppkg-gateway install DIR`, a command it had
// not run check through and need not have at hand: a pip: requirement not installed, a deb:
// package the pip: fallback stands in for, an import that writes into a state directory check
// has not made, and a failed commands.check before the app's directories exist. Each now names
// AppPackage's install() (and a failed import, check() again), as the gateway's fixes name its
// methods (command-words.test.ts); the CLI's words are checked by cli/state-root and
// cli/deb-pip-fallback. Imported by the package's own name, as a program does.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, type CheckItem } from 'apppkg-gateway';
import { writePackage } from '../helpers/apps-dir.js';
import { tempDir, within } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('library: check() names AppPackage\'s install(), not the CLI\'s command');
const onDebian = runIf(test, hasProgram('dpkg-query'), 'needs dpkg-query (a Debian host)');
const work = tempDir('apppkg-lib-check-words-');
const state = join(work.path, 'state');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
const INSTALL = "AppPackage's `install()`";

test.after(() => work.remove());

async function checked(dir: string): Promise<CheckItem[]> {
  const app = await AppPackage.open(dir, { stateDir: state, output: new PassThrough().resume() });
  return (await within(120_000, `check of ${dir}`, app.check())).checks;
}

function line(checks: CheckItem[], name: string): CheckItem {
  const found = checks.find((c) => c.name === name);
  assert.ok(found, `no ${name} line in ${JSON.stringify(checks, null, 2)}`);
  return found!;
}

test('a pip: requirement not installed: the fix is install()', async () => {
  const dir = writePackage(work.path, 'needs-pip', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n',
    'requirements.txt': 'apppkg-no-such-distribution>=1.0\n',
    'wsgi.py': WSGI,
  });
  const pip = line(await checked(dir), 'pip');
  assert.is(pip.ok, false, pip.detail);
  // Found in none of the directories install's offline pip reads: the install that would fail is the library's too.
  assert.ok(pip.fix.startsWith(`${INSTALL} would fail at pip, which reads offline only ${dir}: apppkg-no-such-distribution>=1.0: no wheel or sdist`), pip.fix);
  assert.ok(pip.fix.endsWith(`; then run ${INSTALL}`), pip.fix);
  assert.not.match(pip.fix, 'apppkg-gateway');
});

test('an import that writes into a data directory not made yet: install() first, or what else makes it', async () => {
  const dir = writePackage(work.path, 'writes-data', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n',
    'wsgi.py': `import os\n\nopen(os.path.join(os.environ["APPPKG_DATA_DIR"], "users"), "a").close()\n\n${WSGI}`,
  });
  const data = join(state, 'apps', 'writes-data', 'data');
  const app = line(await checked(dir), 'app');
  assert.is(app.ok, false, app.detail);
  assert.is(app.fix, `the import needs ${data}, which is not created yet and which check does not create: run ${INSTALL} first (its \`run()\` and \`runCommand()\` and a Gateway serving it create it too), then check again`);
  assert.not.ok(existsSync(data), 'check made the directory');
});

// The import's own fix said `apppkg-gateway check DIR` repeats it, to a program that called
// check() and may have no CLI at hand (found by H277).
test('an import that fails: check() again repeats it, not `apppkg-gateway check DIR`', async () => {
  const dir = writePackage(work.path, 'import-fails', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n',
    'wsgi.py': `import apppkg_no_such_module\n\n${WSGI}`,
  });
  const app = line(await checked(dir), 'app');
  assert.is(app.ok, false, app.detail);
  assert.is(app.code, 'APPPKG_APP_IMPORT_FAILED');
  assert.is(app.fix, `fix the error shown in the traceback, then try again (\`(await AppPackage.open(${JSON.stringify(dir)})).check()\` repeats the import)`);
});

test('a failed commands.check before the app\'s directories are made: install() first', async () => {
  const dir = writePackage(work.path, 'check-fails', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  check: "false"\n',
    'wsgi.py': WSGI,
  });
  const hook = line(await checked(dir), 'commands.check');
  assert.is(hook.ok, false, hook.detail);
  // Its output went to the stream given to open(), not "above": `false` wrote nothing to quote.
  assert.is(hook.fix, `read its output (it went to the \`output\` stream you gave AppPackage.open()); if it needs its data and log directories, which check does not create, run ${INSTALL} first`);
});

// As install()'s failures say it (package-words): a program's stream may keep nothing.
test('a failed commands.check whose output went to check({ output }): the fix names that stream and quotes its last lines', async () => {
  const dir = writePackage(work.path, 'check-says', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  check: \'echo "no table shop_order" >&2; exit 1\'\n',
    'wsgi.py': WSGI,
  });
  const app = await AppPackage.open(dir, { stateDir: state });
  const hook = line((await within(120_000, `check of ${dir}`, app.check({ output: new Writable({ write: (_chunk, _encoding, done) => done() }) }))).checks, 'commands.check');
  assert.is(hook.ok, false, hook.detail);
  assert.ok(hook.fix.startsWith('read its output (it went to the `output` stream you gave check(); its last lines: no table shop_order)'), hook.fix);
});

onDebian('a deb: package the pip: fallback stands in for: the note says install() puts it in the virtualenv', async () => {
  const dir = writePackage(work.path, 'deb-covered', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-apppkg-fallback-demo]\npip: requirements.txt\npaths: [vendor]\n',
    'requirements.txt': 'apppkg_fallback_demo>=1.0\n',
    'wsgi.py': WSGI,
  });
  // The requirement met from vendor/ (on paths:), as a virtualenv would meet it.
  const info = join(dir, 'vendor', 'apppkg_fallback_demo-1.0.dist-info');
  mkdirSync(info, { recursive: true });
  writeFileSync(join(info, 'METADATA'), 'Metadata-Version: 2.1\nName: apppkg_fallback_demo\nVersion: 1.0\n');
  const deb = line(await checked(dir), 'deb');
  assert.is(deb.ok, true, deb.detail);
  assert.is(deb.detail, `note: not installed, the pip: fallback will be used: python3-apppkg-fallback-demo (pip: lists apppkg_fallback_demo), installed into the app's virtualenv by ${INSTALL}`);
});

test.run();
