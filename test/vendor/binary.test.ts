// A compiled distribution in the requirements (issue 19): `vendor` refuses it, naming its tag,
// its compiled files and the Debian package to use instead, and changes nothing; with
// --allow-binary it keeps it and records its tag, and `check` refuses an interpreter that
// cannot load it. The extension is built here with Debian's gcc for Debian's python3.
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ASK_GATEWAY_EVERY_MS, runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { runIf } from '../helpers/skip.js';
import { spawnSync } from 'node:child_process';
import { anotherPython, BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildExtensions, canBuildWheels, EXTENSION_REASON, pythonVersion, treeDigest } from './vendor-fixtures.js';

const test = suite('vendor: compiled distributions');
const ifExtensions = runIf(test, canBuildExtensions, EXTENSION_REASON);
const ifWheels = runIf(test, canBuildWheels, BUILD_REASON);
// Another minor version of Python, which cannot load an extension built for BUILD_PYTHON's.
const other = canBuildExtensions ? anotherPython(pythonVersion(BUILD_PYTHON)) : null;
const ifOtherPython = runIf(test, canBuildExtensions && other !== null, canBuildExtensions ? `no Python 3.9+ here other than ${BUILD_PYTHON}'s version` : EXTENSION_REASON);
const work = tempDir('apppkg-vendor-binary-');
const wheels = join(work.path, 'wheels');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
const OFFLINE = ['--find-links', wheels, '--no-index', '-e', envFile];
const app = join(work.path, 'fast');

test.before(() => {
  // The extension is built by, and vendored with, the same interpreter: Debian's.
  writeFileSync(envFile, `python: ${BUILD_PYTHON}\n`);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(app, 'wsgi.py'), 'import demo_speedup\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [str(demo_speedup.add(2, 3)).encode()]\n');
  writeFileSync(join(app, 'requirements.txt'), 'apppkg-demo-greeting\napppkg-demo-speedup==0.1\n');
  // One pip run for the file: the tests that need demo-words alone copy its wheel from here.
  if (canBuildWheels) buildWheels(wheels, canBuildExtensions ? ['demo-greeting', 'demo-words', 'demo-speedup'] : ['demo-greeting', 'demo-words']);
});

const WORDS_WHEEL = 'apppkg_demo_words-1.0-py3-none-any.whl';

/** The demo-words wheel that `before` built, copied into `dir` under `name`. */
function copyWordsWheel(dir: string, name: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(wheels, WORDS_WHEEL), join(dir, name));
}
test.after(() => work.remove());

ifExtensions('a compiled distribution is refused with its tag, its files and its deb package; nothing changes', async () => {
  const r = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /vendor: not portable, built for this interpreter and platform only: apppkg-demo-speedup 0\.1 \(cp3\d+-cp3\d+-linux_\w+: demo_speedup\.cpython-3\d+-[\w-]+\.so\); nothing was changed/);
  assert.match(r.stderr, /fix: install it from the system instead: remove apppkg-demo-speedup from requirements\.txt and add `deb: \[python3-apppkg-demo-speedup\]` to app\.yaml/);
  assert.match(r.stderr, /or run vendor again with --allow-binary to keep it: `check` then refuses a host whose Python cannot load cp3\d+-cp3\d+-linux_\w+/);
  assert.ok(!existsSync(join(app, 'vendor')), 'nothing was written');
});

/** apt knows python3-markupsafe (python3-flask, which the suite installs, depends on it). */
const aptHasMarkupSafe = spawnSync('apt-cache', ['show', '--no-all-versions', 'python3-markupsafe'], { stdio: 'ignore', timeout: 30_000 }).status === 0;

runIf(test, canBuildExtensions && aptHasMarkupSafe, canBuildExtensions ? 'apt knows no python3-markupsafe here' : EXTENSION_REASON)('a compiled distribution Debian packages (MarkupSafe) is refused with "Debian has python3-markupsafe", as apt says, not "this host\'s apt lists have no"', async () => {
  // The refusal asked apt for each package with its index in the list as the timeout (0 ms,
  // 1 ms, ...): every answer was "no", and the fix sent the user to apt-cache search for a
  // package apt has, installed even.
  const dir = join(work.path, 'markupsafe');
  const own = join(dir, 'wheels');
  mkdirSync(own, { recursive: true });
  buildWheels(own, ['demo-speedup'], { DEMO_SPEEDUP_NAME: 'MarkupSafe' });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  writeFileSync(join(dir, 'requirements.txt'), 'MarkupSafe==0.1\n');
  const r = await runCli(['vendor', dir, '--find-links', own, '--no-index', '-e', envFile], { ms: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /vendor: not portable, built for this interpreter and platform only: MarkupSafe 0\.1 /);
  assert.match(r.stderr, /add `deb: \[python3-markupsafe\]` to app\.yaml \(Debian has python3-markupsafe\)/);
  assert.not.match(r.stderr, /apt lists have no/);
  assert.ok(!existsSync(join(dir, 'vendor')), 'nothing was written');
});

ifExtensions('a compiled distribution the requirements do not name, which pip installs for one they do: the fix names that one to replace, not the other to remove from them', async () => {
  // "remove apppkg-demo-words from requirements.txt", which does not list it: done, vendor
  // installed it again for apppkg-demo-greeting and refused it again (Flask's MarkupSafe).
  const dir = join(work.path, 'pulled');
  const own = join(dir, 'wheels');
  mkdirSync(own, { recursive: true });
  copyFileSync(join(wheels, 'apppkg_demo_greeting-1.0-py3-none-any.whl'), join(own, 'apppkg_demo_greeting-1.0-py3-none-any.whl'));
  buildWheels(own, ['demo-speedup'], { DEMO_SPEEDUP_NAME: 'apppkg-demo-words' });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  writeFileSync(join(dir, 'requirements.txt'), 'apppkg-demo-greeting\n');
  const r = await runCli(['vendor', dir, '--find-links', own, '--no-index', '-e', envFile], { ms: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /vendor: not portable, built for this interpreter and platform only: apppkg-demo-words 0\.1 /);
  assert.match(r.stderr, /fix: install it from the system instead: apppkg-demo-words \(for apppkg-demo-greeting\): not in requirements\.txt, installed by pip for what needs it; remove apppkg-demo-greeting from requirements\.txt and add `deb: \[python3-apppkg-demo-greeting\]` to app\.yaml/);
  assert.not.match(r.stderr, /remove apppkg-demo-words/);
  assert.ok(!existsSync(join(dir, 'vendor')), 'nothing was written');
});

ifOtherPython('check on another Python, of a compiled distribution kept that the requirements do not name: the fix names what needs it to install with deb:, not the other', async () => {
  const dir = join(work.path, 'pulled-kept');
  const own = join(dir, 'wheels');
  mkdirSync(own, { recursive: true });
  copyFileSync(join(wheels, 'apppkg_demo_greeting-1.0-py3-none-any.whl'), join(own, 'apppkg_demo_greeting-1.0-py3-none-any.whl'));
  buildWheels(own, ['demo-speedup'], { DEMO_SPEEDUP_NAME: 'apppkg-demo-words' });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  writeFileSync(join(dir, 'requirements.txt'), 'apppkg-demo-greeting\n');
  const vendored = await runCli(['vendor', dir, '--find-links', own, '--no-index', '-e', envFile, '--allow-binary'], { ms: 180_000 });
  assert.is(vendored.status, 0, vendored.stdout + vendored.stderr);
  const otherEnv = join(work.path, 'other-python.yaml');
  writeFileSync(otherEnv, `python: ${other}\n`);
  const check = await runCli(['check', dir, '-e', otherEnv, '--state-dir', state]);
  assert.is(check.status, 1, check.stdout + check.stderr);
  assert.match(check.stdout, /cannot load: apppkg-demo-words 0\.1/);
  assert.match(check.stdout, /or install apppkg-demo-greeting from the system with `deb:` instead \(python3-apppkg-demo-greeting; apppkg-demo-words \(for apppkg-demo-greeting\): not in requirements\.txt, installed by pip for what needs it\)/);
});

ifExtensions('--allow-binary keeps it, records its tag, and the app loads it; check says it loads here', async () => {
  const r = await runCli(['vendor', app, '--allow-binary', ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /apppkg-demo-speedup 0\.1 \(binary: cp3\d+-cp3\d+-linux_\w+, kept by --allow-binary\)/);
  const manifest = JSON.parse(readFileSync(join(app, 'vendor', '.apppkg-vendor.json'), 'utf8'));
  const speedup = manifest.distributions.find((d: any) => d.name === 'apppkg-demo-speedup');
  assert.is(speedup.binary, true);
  assert.match(speedup.tags[0], /^cp3\d+-cp3\d+-linux_\w+$/);
  assert.is(speedup.tags[0], manifest.interpreter.tag, 'built by the interpreter that vendored it');

  const run = await runCli(['run', app, '-e', envFile, '--state-dir', state, '--', 'python', '-c', 'import demo_speedup; print(demo_speedup.add(2, 3))']);
  assert.is(run.status, 0, run.stdout + run.stderr);
  assert.is(run.stdout.trim(), '5');
  const check = await runCli(['check', app, '-e', envFile, '--state-dir', state]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+vendor\s+.*apppkg-demo-speedup 0\.1 \(binary, loads here\)/);
});

ifOtherPython('check refuses a host whose interpreter cannot load the vendored binary', async () => {
  const otherEnv = join(work.path, 'other-python.yaml');
  writeFileSync(otherEnv, `python: ${other}\n`);
  const before = treeDigest(join(app, 'vendor'));
  const check = await runCli(['check', app, '-e', otherEnv, '--state-dir', state]);
  assert.is(check.status, 1, check.stdout + check.stderr);
  assert.match(check.stdout, new RegExp(`FAIL\\s+vendor\\s+\\S+app\\.yaml:3:9: vendor/: built for cp3\\d+-cp3\\d+-linux_\\w+, which ${other} 3\\.\\d+\\.\\d+ \\(\\w+-\\w+-\\w+\\) cannot load: apppkg-demo-speedup 0\\.1`));
  assert.match(check.stdout, /fix: vendor on a host like this one \(`apppkg-gateway vendor .* --allow-binary`\), or install apppkg-demo-speedup from the system with `deb:` instead \(python3-apppkg-demo-speedup\)/);
  assert.equal(treeDigest(join(app, 'vendor')), before, 'check changes nothing');
  // The interpreter that vendored it is still fine.
  assert.is((await runCli(['check', app, '-e', envFile, '--state-dir', state])).status, 0);
});

ifOtherPython('serve and --apps refuse such an interpreter with what check says, not only "No module named"', async () => {
  const otherEnv = join(work.path, 'other-python.yaml');
  writeFileSync(otherEnv, `python: ${other}\n`);
  const mismatch = new RegExp(`vendor/: built for cp3\\d+-cp3\\d+-linux_\\w+, which ${other} 3\\.\\d+\\.\\d+ \\(\\w+-\\w+-\\w+\\) cannot load: apppkg-demo-speedup 0\\.1`);
  // The environment file picks the interpreter: without it, vendor would run pip with the python3 on PATH.
  const fix = new RegExp(`fix: vendor on a host like this one \\(\`apppkg-gateway vendor .* --environment ${otherEnv} --allow-binary\`\\)`);
  const served = await runCli(['serve', app, '-e', otherEnv, '--port', '0', '--state-dir', state], { ms: 120_000 });
  assert.is(served.status, 1, served.stdout + served.stderr);
  assert.match(served.stderr, mismatch);
  assert.match(served.stderr, fix);

  const apps = join(work.path, 'apps');
  cpSync(app, join(apps, 'fast'), { recursive: true });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '-e', otherEnv]);
  try {
    const version = await waitFor(async () => (await appStatus(gw, 'fast'))?.versions?.find((v: any) => v.state === 'failed'), 60_000, 'the version refused', ASK_GATEWAY_EVERY_MS);
    assert.is(version.reason.code, 'APPPKG_VENDOR_HOST_MISMATCH', JSON.stringify(version.reason));
    assert.match(version.reason.message, mismatch);
    assert.match(`fix: ${version.reason.hint}`, fix);
    // The gateway's log says the same, and keeps the traceback's last lines.
    await waitFor(() => /last lines of .*app\.log:\n(?:.*\n)*.*ModuleNotFoundError: No module named 'demo_speedup'/.test(gw.output()), 10_000, 'the refusal in the log');
    assert.match(gw.output(), mismatch);
  } finally {
    await stopGatewayChecked(gw);
  }
});

ifWheels('a wheel whose file name is tagged for one interpreter and platform is refused, though its WHEEL file says py3-none-any', async () => {
  // pip chooses a wheel by its file name's tags, and only a file built here loads here: the
  // name is what makes it non-portable, whatever the WHEEL file inside claims.
  const tag = spawnSync(BUILD_PYTHON, ['-c', 'import sys, sysconfig; t = "cp%d%d" % sys.version_info[:2]; print("%s-%s-%s" % (t, t, sysconfig.get_platform().replace("-", "_").replace(".", "_")))'], { encoding: 'utf8' }).stdout.trim();
  const renamed = join(work.path, 'renamed-wheels');
  copyWordsWheel(renamed, `apppkg_demo_words-1.0-${tag}.whl`);
  const words = join(work.path, 'words');
  mkdirSync(words, { recursive: true });
  writeFileSync(join(words, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(words, 'requirements.txt'), 'apppkg-demo-words\n');
  const offline = ['--find-links', renamed, '--no-index', '-e', envFile];

  const r = await runCli(['vendor', words, ...offline], { ms: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.ok(r.stderr.includes(`vendor: not portable, built for this interpreter and platform only: apppkg-demo-words 1.0 (${tag}); nothing was changed`), r.stderr);
  assert.ok(!existsSync(join(words, 'vendor')), 'nothing was written');

  const kept = await runCli(['vendor', words, '--allow-binary', ...offline], { ms: 180_000 });
  assert.is(kept.status, 0, kept.stdout + kept.stderr);
  const manifest = JSON.parse(readFileSync(join(words, 'vendor', '.apppkg-vendor.json'), 'utf8'));
  const entry = manifest.distributions.find((d: any) => d.name === 'apppkg-demo-words');
  assert.is(entry.binary, true);
  assert.equal(entry.tags, [tag], 'the tag check holds the host to');
});

// A wheel built for another interpreter, in --find-links or named as a file, got "a requirement
// that no index or --find-links DIR has, or a version conflict": by name, pip skips it without a
// word on its console and finds "no matching distribution", the wheel sitting where it looked.
ifWheels('a wheel built for another Python: the fix names the wheel, its tags and the interpreter that cannot load it', async () => {
  const dir = join(work.path, 'otherpython');
  const own = join(dir, 'wheels');
  mkdirSync(own, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  const wheel = 'apppkg_demo_words-1.0-cp27-cp27mu-manylinux1_x86_64.whl';
  copyWordsWheel(own, wheel);
  for (const requirements of ['apppkg-demo-words==1.0\n', `wheels/${wheel}\n`]) {
    writeFileSync(join(dir, 'requirements.txt'), requirements);
    const r = await runCli(['vendor', dir, '--find-links', own, '--no-index', '-e', envFile], { ms: 180_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.ok(
      r.stderr.includes(`fix: read pip's output above: ${wheel} (cp27-cp27mu-manylinux1_x86_64) is a wheel built for another interpreter or platform, which the app's ${BUILD_PYTHON} `),
      r.stderr,
    );
    assert.match(r.stderr, /cannot load \(its wheels are tagged cp3\d+\): ship one built for that interpreter \(`\S+ -m pip wheel NAME -w wheels\/` on this host\) or a pure-Python one \(py3-none-any\)/, requirements);
    assert.ok(!existsSync(join(dir, 'vendor')), 'nothing was written');
  }
});

// A wheel that says it loads anywhere (py3-none-any) though it holds a compiled extension: it is
// as bound to its interpreter as one tagged for it. Its refusal's fix named no tag (`check then
// refuses a host whose Python cannot load ` and nothing), and with --allow-binary `check` passed
// every interpreter, since each loads py3-none-any (found by H277).
ifOtherPython('a py3-none-any wheel holding a compiled extension: refused naming the vendoring interpreter\'s tag; kept, check refuses another Python', async () => {
  const built = join(work.path, 'any-built');
  const anyWheels = join(work.path, 'any-wheels');
  mkdirSync(built, { recursive: true });
  mkdirSync(anyWheels, { recursive: true });
  copyFileSync(join(wheels, readdirSync(wheels).find((f) => f.startsWith('apppkg_demo_speedup-'))!), join(built, 'speedup.whl'));
  // Its WHEEL file and name say py3-none-any; RECORD keeps each file's hash true.
  const retag = [
    'import base64, hashlib, sys, zipfile',
    'src, dst = sys.argv[1], sys.argv[2]',
    'with zipfile.ZipFile(src) as zin:',
    '    items = {i.filename: zin.read(i) for i in zin.infolist()}',
    'wheel = next(n for n in items if n.endswith(".dist-info/WHEEL"))',
    'kept = [l for l in items[wheel].splitlines() if l and not l.startswith(b"Tag:")]',
    'items[wheel] = b"\\n".join(l.replace(b"Root-Is-Purelib: false", b"Root-Is-Purelib: true") for l in kept) + b"\\nTag: py3-none-any\\n"',
    'record = next(n for n in items if n.endswith(".dist-info/RECORD"))',
    'h = lambda d: "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()',
    'items[record] = "".join("%s,%s,%d\\n" % (n, h(d), len(d)) for n, d in items.items() if n != record).encode() + (record + ",,\\n").encode()',
    'with zipfile.ZipFile(dst, "w") as zout:',
    '    for n, d in items.items():',
    '        zout.writestr(n, d)',
  ].join('\n');
  const made = spawnSync(BUILD_PYTHON, ['-c', retag, join(built, 'speedup.whl'), join(anyWheels, 'apppkg_demo_speedup-0.1-py3-none-any.whl')], { encoding: 'utf8', timeout: 30_000 });
  assert.is(made.status, 0, made.stderr);
  const anyApp = join(work.path, 'any');
  mkdirSync(anyApp, { recursive: true });
  writeFileSync(join(anyApp, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(anyApp, 'wsgi.py'), 'import demo_speedup\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [str(demo_speedup.add(2, 3)).encode()]\n');
  writeFileSync(join(anyApp, 'requirements.txt'), 'apppkg-demo-speedup==0.1\n');
  const offline = ['--find-links', anyWheels, '--no-index', '-e', envFile];

  const refused = await runCli(['vendor', anyApp, ...offline], { ms: 180_000 });
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /vendor: not portable, built for this interpreter and platform only: apppkg-demo-speedup 0\.1 \(py3-none-any: demo_speedup\.cpython-3\d+-[\w-]+\.so\); nothing was changed/);
  assert.match(refused.stderr, /`check` then refuses a host whose Python cannot load cp3\d+-cp3\d+-linux_\w+\n/);
  assert.ok(!existsSync(join(anyApp, 'vendor')), 'nothing was written');

  const kept = await runCli(['vendor', anyApp, '--allow-binary', ...offline], { ms: 180_000 });
  assert.is(kept.status, 0, kept.stdout + kept.stderr);
  assert.match(kept.stdout, /apppkg-demo-speedup 0\.1 \(binary: py3-none-any, built for cp3\d+-cp3\d+-linux_\w+, kept by --allow-binary\)/);
  const here = await runCli(['check', anyApp, '-e', envFile, '--state-dir', state]);
  assert.is(here.status, 0, here.stdout + here.stderr);
  assert.match(here.stdout, /ok\s+vendor\s+.*apppkg-demo-speedup 0\.1 \(binary, loads here\)/);

  const otherEnv = join(work.path, 'other-python.yaml');
  writeFileSync(otherEnv, `python: ${other}\n`);
  const elsewhere = await runCli(['check', anyApp, '-e', otherEnv, '--state-dir', state]);
  assert.is(elsewhere.status, 1, elsewhere.stdout + elsewhere.stderr);
  assert.match(elsewhere.stdout, new RegExp(`FAIL\\s+vendor\\s+\\S+app\\.yaml:3:9: vendor/: built for cp3\\d+-cp3\\d+-linux_\\w+, which ${other} 3\\.\\d+\\.\\d+ \\(\\w+-\\w+-\\w+\\) cannot load: apppkg-demo-speedup 0\\.1`));
});

test.run();
