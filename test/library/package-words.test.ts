// AppPackage's and a served app's refusals of the package itself spoke the CLI's commands to a
// program: a directory with no app.yaml "run `apppkg-gateway init DIR` to write one" (the library
// has no call that writes one), an app.yaml with problems "`apppkg-gateway describe DIR` shows
// the result", and a deb: package not installed "(or `apppkg-gateway install --system` as root)".
// Each now names what the library has, as command-words.test.ts has the Gateway's fixes; the
// CLI's words are checked by cli/init-*, cli/describe and cli/deb-missing. Imported by the
// package's own name, as a program does.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, GatewayError } from 'apppkg-gateway';
import { writePackage } from '../helpers/apps-dir.js';
import { installForOtherUsers, tempDir, within } from '../helpers/process.js';
import { aptPackageNotInstalled, hasProgram, isRoot, runIf } from '../helpers/skip.js';

const NOBODY = 65534;
const test = suite('library: a package\'s refusals name AppPackage\'s calls, not init, describe and install --system');
const work = tempDir('apppkg-lib-package-words-');
const stateDir = join(work.path, 'state');
const empty = join(work.path, 'empty');
const invalid = writePackage(work.path, 'invalid', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nwsgii: 1\n', 'wsgi.py': '' });
const notInstalled = aptPackageNotInstalled();
const withAptPackage = runIf(test, notInstalled !== null, 'needs dpkg and a package apt knows that is not installed (sl, cowsay, ...)');
const asRootWithApt = runIf(test, isRoot && hasProgram('apt-get') && hasProgram('dpkg-query'), 'needs root, apt-get and dpkg-query (install({ system: true }) runs apt-get)');
mkdirSync(empty);
test.after(() => work.remove());

const refusal = async (what: Promise<unknown>): Promise<GatewayError> => {
  const err = await within(60_000, 'the refusal', what).then(() => null, (e: unknown) => e);
  assert.instance(err, GatewayError, String(err));
  return err as GatewayError;
};

test('no such directory, or a file: AppPackage.open and Gateway.start({ app }) say to give the call the directory, not the CLI\'s APP_DIR', async () => {
  const file = join(work.path, 'a-file');
  writeFileSync(file, '');
  for (const [dir, hint] of [[join(work.path, 'nope'), 'check the path: give the call the directory that holds app.yaml'], [file, 'give the call the directory that holds app.yaml, not a file']]) {
    for (const err of [await refusal(AppPackage.open(dir, { stateDir })), await refusal(Gateway.start({ app: dir, stateDir, listen: '127.0.0.1:0', say: () => {} }))]) {
      assert.is(err.code, 'APPPKG_DESC_NOT_FOUND', dir);
      assert.is(err.hint, hint, dir);
    }
  }
});

test('no app.yaml: AppPackage.open and Gateway.start({ app }) say the two lines to write in one, with no init', async () => {
  for (const err of [await refusal(AppPackage.open(empty)), await refusal(Gateway.start({ app: empty, stateDir, listen: '127.0.0.1:0', say: () => {} }))]) {
    assert.is(err.code, 'APPPKG_DESC_NOT_FOUND');
    assert.is(err.hint, `write ${join(empty, 'app.yaml')}, two lines: \`platform: python, wsgi\` (or \`asgi\`) and \`app: module:object\`, e.g. \`app: myapp.wsgi:application\` for an \`application\` in myapp/wsgi.py, or point at the directory that holds app.yaml`);
  }
});

test('an app.yaml with problems: AppPackage.open and Gateway.start({ app }) say AppPackage.open(DIR)\'s description shows the result', async () => {
  const shows = `\`(await AppPackage.open(${JSON.stringify(invalid)})).description\` shows the result`;
  for (const err of [await refusal(AppPackage.open(invalid)), await refusal(Gateway.start({ app: invalid, stateDir, listen: '127.0.0.1:0', say: () => {} }))]) {
    assert.is(err.code, 'APPPKG_DESC_INVALID');
    assert.is(err.hint, `fix each problem listed above; ${shows}`);
  }
});

withAptPackage('a deb: package not installed: install() and check() say install({ system: true }) as root', async () => {
  const dir = writePackage(work.path, 'debs', { 'app.yaml': `platform: python, wsgi\napp: wsgi:application\ndeb: [${notInstalled}]\n`, 'wsgi.py': '' });
  const pkg = await AppPackage.open(dir, { stateDir });
  const fix = `run \`apt-get install -y ${notInstalled}\` (or AppPackage's \`install({ system: true })\` as root)`;
  const err = await refusal(pkg.install());
  assert.is(err.code, 'APPPKG_DEB_MISSING');
  assert.is(err.hint, fix);
  const report = await within(120_000, 'check()', pkg.check());
  const deb = report.checks.find((c) => c.name === 'deb');
  assert.is(deb?.fix, fix, JSON.stringify(deb));
});

// A program not run as root that called install({ system: true }) was told to run
// `sudo apppkg-gateway install --system DIR` and "install without --system": a CLI it did not run.
// The program runs as nobody, importing the package as a user's program does.
runIf(test, isRoot, 'needs root to run the program as nobody')('install({ system: true }) not as root: the refusal names the call, not `sudo apppkg-gateway install --system`', async () => {
  const shared = installForOtherUsers();
  const open = join(work.path, 'open-to-nobody');
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  chmodSync(work.path, 0o755);
  const dir = writePackage(open, 'system', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-flask]\n', 'wsgi.py': '' });
  const program = join(open, 'program.mjs');
  writeFileSync(program, `const { AppPackage } = await import(${JSON.stringify(pathToFileURL(join(shared.root, 'dist', 'index.js')).href)});
const pkg = await AppPackage.open(${JSON.stringify(dir)}, { stateDir: ${JSON.stringify(join(open, 'state'))} });
const said = await pkg.install({ system: true }).then(() => ({}), (e) => ({ code: e.code, message: e.message, hint: e.hint }));
console.log(JSON.stringify(said));
`);
  const child = spawn(process.execPath, [program], { cwd: open, uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const status = await within(60_000, 'the program as nobody', new Promise<number | null>((done) => child.on('close', done))).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  assert.is(status, 0, out);
  const said = JSON.parse(out) as { code: string; message: string; hint: string };
  assert.is(said.code, 'APPPKG_INSTALL_NEEDS_ROOT', out);
  assert.is(said.message, `AppPackage's \`install({ system: true })\`: installing deb packages needs root, this is uid ${NOBODY}`);
  assert.is(said.hint, "call AppPackage's `install({ system: true })` from a program run as root, or install the packages yourself (apt-get install -y python3-flask) and call install() without system: true");
});

// A program that gave install() an `output` was told to read pip's output "above": in a stream
// it may have kept nothing of (here one that keeps nothing). The fix names that stream, and
// pip's last lines come with the error.
test("a pip failure of install({ output }) names that stream and brings pip's last lines", async () => {
  const dir = writePackage(work.path, 'unfound', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n', 'wsgi.py': '', 'requirements.txt': 'nowhere-to-be-found==9\n' });
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const pkg = await AppPackage.open(dir, { stateDir });
  const err = await within(120_000, 'install()', pkg.install({ output: sink }).then(() => null, (e: unknown) => e));
  assert.instance(err, GatewayError, String(err));
  const failed = err as GatewayError;
  assert.is(failed.code, 'APPPKG_PIP_INSTALL_FAILED');
  assert.match(failed.hint, /^read pip's output \(it went to the `output` stream you gave install\(\); its last lines: .*No matching distribution found for nowhere-to-be-found==9.*\); /);
  assert.not.match(failed.hint, /above/);
});

/** A stream that keeps nothing, as a program's log at another level does. */
const sink = (): Writable => new Writable({ write: (_chunk, _encoding, done) => done() });

// The same for commands.install and apt: "read its output above" sent the program to a stream
// it gave, which may have kept nothing.
test("a commands.install failure of install({ output }) names that stream and brings the hook's last lines", async () => {
  const dir = writePackage(work.path, 'hook-fails', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  install: \'echo "migration 0042: no such table: shop_order" >&2; exit 3\'\n', 'wsgi.py': '' });
  const failed = await refusal((await AppPackage.open(dir, { stateDir })).install({ output: sink() }));
  assert.is(failed.code, 'APPPKG_COMMAND_FAILED');
  assert.is(failed.hint, 'read its output (it went to the `output` stream you gave install(); its last lines: migration 0042: no such table: shop_order)');
  // Given to open() instead: that is where it went.
  const opened = await refusal((await AppPackage.open(dir, { stateDir, output: sink() })).install());
  assert.match(opened.hint, /^read its output \(it went to the `output` stream you gave AppPackage\.open\(\); its last lines: migration 0042/);
});

asRootWithApt("an apt failure of install({ system: true, output }) names that stream and brings apt's last lines", async () => {
  // No package of this name anywhere: apt-get refuses it before it changes anything.
  const dir = writePackage(work.path, 'apt-fails', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: [apppkg-no-such-package-h287]\n', 'wsgi.py': '' });
  const failed = await refusal((await AppPackage.open(dir, { stateDir })).install({ system: true, output: sink() }));
  assert.is(failed.code, 'APPPKG_APT_FAILED', failed.message);
  assert.match(failed.hint, /^read apt's output \(it went to the `output` stream you gave install\(\); its last lines: .*E: .*\); when it cannot find a package, run `apt-get update` first/);
  assert.not.match(failed.hint, /above/);
});

test.run();
