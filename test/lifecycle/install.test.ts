// `apppkg-gateway install`: a per-app virtualenv built offline from a local wheel, reused while
// the requirements are unchanged, rebuilt (new build dir, then the switch) when they change;
// from the host's pip sources when it configures some (an index of files, here); deb and hook
// failures end with a FAIL line and exit 1. Real venv, real pip, no network.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingAgentPrograms } from '../helpers/pip-agent.js';
import { runCli, tempDir } from '../helpers/process.js';
import { markCold } from '../helpers/shared-cache.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { fileIndex, makeApp, makeWheel, runCliAs } from './lifecycle-apps.js';

const test = suite('lifecycle: install');
const NOBODY = 65534;
// As root, the --system case runs the CLI as nobody, who needs a `node` of its own on PATH:
// one under /root (nvm) is out of its reach. Asked as nobody, since only it knows.
const nobodyHasNode = isRoot && spawnSync('sh', ['-c', 'command -v node'], { uid: NOBODY, gid: NOBODY, cwd: '/', stdio: 'ignore', timeout: 5_000 }).status === 0;
const ifDpkg = runIf(test, hasProgram('dpkg-query'), 'dpkg-query is not installed (not a Debian host)');
const ifNodeForNobody = runIf(test, !isRoot || nobodyHasNode, `as root it runs as uid ${NOBODY}, which finds no node it can run on PATH`);
const work = tempDir('apppkg-install-work-');
const state = tempDir('apppkg-install-state-');
test.after(() => {
  work.remove();
  state.remove();
});

const S = ['--state-dir', state.path];
const appState = () => join(state.path, 'apps', 'withwheel');
const venvPython = () => join(appState(), 'venv', 'bin', 'python');
/**
 * `code` run by the python of app `name`'s venv, through its link as `run` finds it: what the
 * venv holds after an install, looked at without a CLI run (and its interpreter probe) each
 * time. That `run` uses the venv is the first test's claim.
 */
function inVenv(name: string, code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(state.path, 'apps', name, 'venv', 'bin', 'python'), ['-c', code], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
let app: string;

test.before(() => {
  app = makeApp(
    work.path,
    'withwheel',
    [
      'platform: python, wsgi',
      'app: wsgi:application',
      'pip: requirements.txt',
      'commands:',
      // After the venv: the hook's `python` is the venv's, so it imports the wheel.
      `  install: python -c "import os, thepkg; open(os.path.join(os.environ['APPPKG_DATA_DIR'], 'hook-ran'), 'w').write(thepkg.VERSION)"`,
      '',
    ].join('\n'),
  );
  makeWheel(app, 'thepkg', '1.0');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n');
});

test('install builds the venv from a local wheel, offline; run and check see it', async () => {
  // Run alone, the file's first install makes the venv seed too (ensurepip: past 120 s at load 30).
  const r = await runCli(['install', app, ...S], { ms: 300_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> venv created in \d+\.\d s/);
  assert.match(r.stdout, /==> requirements installed in \d+\.\d s/);
  assert.match(r.stdout, /Successfully installed thepkg-1\.0/);
  assert.match(r.stdout, /==> commands\.install done in/);
  assert.is(readFileSync(join(appState(), 'data', 'hook-ran'), 'utf8'), '1.0');
  // The venv is a link to its build directory (switched atomically), stamped with what made it.
  assert.ok(lstatSync(join(appState(), 'venv')).isSymbolicLink());
  const stamp = JSON.parse(readFileSync(join(appState(), 'venv', 'apppkg-venv.json'), 'utf8'));
  assert.is(stamp.requirementsSha256.length, 64);

  const run = await runCli(['run', app, ...S, '--', 'python', '-c', 'import sys, thepkg; print(thepkg.VERSION, sys.prefix)']);
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`^1\\.0 ${join(appState(), 'venv')}`));

  const check = await runCli(['check', app, ...S]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+pip\s+1 requirement satisfied in venv .*thepkg 1\.0/);
});

test('a second install reuses the venv: same python, nothing rebuilt', async () => {
  const before = lstatSync(venvPython());
  const r = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> venv reused: .*requirements and interpreter unchanged/);
  assert.not.match(r.stdout, /venv created/);
  const after = lstatSync(venvPython());
  assert.is(after.ino, before.ino);
  assert.is(after.mtimeMs, before.mtimeMs);
});

// The next two tests make their four claims on one chain of rebuilds (a venv is seconds of CPU):
// a change brings an include in, an edit to it rebuilds, that build is stamped as an older
// gateway stamped, the include is edited again, and a last change drops it.
test('changed requirements rebuild the venv into a new directory and switch to it; a file they newly include (-r) is named; pip makes no user agent offline (no lsb_release, no rustc)', async () => {
  const before = lstatSync(venvPython());
  const agent = recordingAgentPrograms(work.path);
  const oldBuild = readlinkSync(join(appState(), 'venv'));
  makeWheel(app, 'otherpkg', '2.0');
  makeWheel(app, 'thirdpkg', '3.0');
  writeFileSync(join(app, 'base.txt'), 'otherpkg==2.0\n');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n-r base.txt\n');
  const r = await runCli(['install', app, ...S], { ms: 120_000, env: { PATH: `${agent.dir}:${process.env.PATH}` } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(readFileSync(agent.ran, 'utf8'), '', 'pip started programs for a user agent');
  assert.match(r.stdout, /creating venv with .*: the requirements changed/);
  assert.match(r.stdout, /: the requirements changed: requirements\.txt changed, base\.txt \(included by requirements\.txt\) is new/);
  assert.match(r.stdout, /==> venv created in/);
  assert.is.not(lstatSync(venvPython()).ino, before.ino);
  assert.is.not(readlinkSync(join(appState(), 'venv')), oldBuild);
  // The old build is gone: one build directory, the one the link names.
  assert.equal(readdirSync(appState()).filter((e) => e.startsWith('venv-')), [readlinkSync(join(appState(), 'venv'))]);
  const run = inVenv('withwheel', 'import otherpkg; print(otherpkg.VERSION)');
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), '2.0');
});

test('a change to a file the requirements include (-r) rebuilds the venv, and is named; a stamp from before includes were kept is judged by its top file, and takes the tree at its first look: an include edited after the upgrade rebuilds', async () => {
  writeFileSync(join(app, 'base.txt'), 'otherpkg==2.0\nthirdpkg==3.0\n');
  const second = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(second.status, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /creating venv with .*: the requirements changed: base\.txt \(included by requirements\.txt\) changed/);
  const run = inVenv('withwheel', 'import thirdpkg; print(thirdpkg.VERSION)');
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout.trim(), '3.0');

  // A venv an older gateway stamped: an upgrade alone must not rebuild it (offline, a rebuild
  // can fail where the venv served); the tree it is found with is kept from then on.
  // The stamp as a gateway before 2026-12-04 wrote it: the top file's sha256, no tree.
  const stampFile = join(appState(), 'venv', 'apppkg-venv.json');
  const { requirementsSha256, requirementsFile, interpreter, systemSitePackages, createdAt } = JSON.parse(readFileSync(stampFile, 'utf8'));
  writeFileSync(stampFile, `${JSON.stringify({ requirementsSha256, requirementsFile, interpreter, systemSitePackages, createdAt }, null, 2)}\n`);
  writeFileSync(join(app, 'base.txt'), 'otherpkg==2.0\nthirdpkg==3.0\n# a comment\n');
  const upgraded = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(upgraded.status, 0, upgraded.stdout + upgraded.stderr);
  assert.match(upgraded.stdout, /==> venv reused/);

  // Without the tree taken at that look, the top file alone would judge this edit: unchanged.
  writeFileSync(join(app, 'base.txt'), 'otherpkg==2.0\nthirdpkg==3.0\n');
  const edited = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(edited.status, 0, edited.stdout + edited.stderr);
  assert.match(edited.stdout, /creating venv with .*: the requirements changed: base\.txt \(included by requirements\.txt\) changed/);

  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\n');
  const back = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(back.status, 0, back.stdout + back.stderr);
  assert.match(back.stdout, /creating venv with .*: the requirements changed: requirements\.txt changed, base\.txt is no longer included/);
});

test('a pip failure exits 1 with the fix and keeps the working venv', async () => {
  const live = readlinkSync(join(appState(), 'venv'));
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\nnowhere-to-be-found==9\n');
  try {
    const r = await runCli(['install', app, ...S], { ms: 120_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL\s+pip: `pip install -r .*requirements\.txt` exited with status 1/);
    assert.match(r.stdout, /fix: .*--no-index/);
    // The fix names what pip found nowhere, which was in pip's output alone.
    assert.match(r.stdout, /fix: .*: it found no distribution of nowhere-to-be-found==9 there; put each wheel or sdist in the app directory/, r.stdout);
    assert.is(readlinkSync(join(appState(), 'venv')), live);
    assert.equal(readdirSync(appState()).filter((e) => e.startsWith('venv-')), [live]);
    const run = inVenv('withwheel', 'import thepkg, otherpkg');
    assert.is(run.status, 0, run.stderr);
  } finally {
    writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\n');
  }
});

test('a source directory requirement that pip cannot build offline: the fix says to ship a built wheel', async () => {
  const live = readlinkSync(join(appState(), 'venv'));
  mkdirSync(join(app, 'localpkg'), { recursive: true });
  writeFileSync(join(app, 'localpkg', 'pyproject.toml'), '[build-system]\nrequires = ["setuptools>=40.8.0"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "localpkg"\nversion = "1.0"\n');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n./localpkg  # ours\n');
  try {
    const r = await runCli(['install', app, ...S], { ms: 120_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /fix: .*\.\/localpkg is built from source.*ship a built wheel instead, `pip wheel \.\/localpkg -w wheels\/`/);
    assert.is(readlinkSync(join(appState(), 'venv')), live);
  } finally {
    writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\n');
    rmSync(join(app, 'localpkg'), { recursive: true, force: true });
  }
});

test('`-e .`, the app\'s own project, is a source requirement too: the fix says to ship a built wheel', async () => {
  // Pyramid's production.ini reads the project's entry points (`use = egg:myproj`), so a
  // Pyramid app lists itself; `.` alone was not taken for a source directory.
  const live = readlinkSync(join(appState(), 'venv'));
  writeFileSync(join(app, 'pyproject.toml'), '[build-system]\nrequires = ["apppkg-no-such-backend"]\nbuild-backend = "apppkg_no_such_backend"\n\n[project]\nname = "withwheel"\nversion = "1.0"\n');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n-e .\n');
  try {
    const r = await runCli(['install', app, ...S], { ms: 120_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /fix: .*pip runs offline \(--no-index\): \. is built from source.*ship a built wheel instead, `pip wheel \. -w wheels\/`/);
    assert.is(readlinkSync(join(appState(), 'venv')), live);
  } finally {
    writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\n');
    rmSync(join(app, 'pyproject.toml'), { force: true });
  }
});

test('a build dependency offline pip cannot find: its reason is shown, not only pip\'s "See above for output"', async () => {
  // pip keeps its subprocesses' output off the console when --log takes it, and the log goes
  // with the failed build: the user saw "See above for output" with nothing above.
  const live = readlinkSync(join(appState(), 'venv'));
  mkdirSync(join(app, 'nobackend'), { recursive: true });
  writeFileSync(join(app, 'nobackend', 'pyproject.toml'), '[build-system]\nrequires = ["apppkg-no-such-backend"]\nbuild-backend = "apppkg_no_such_backend"\n\n[project]\nname = "nobackend"\nversion = "1.0"\n');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n./nobackend\n');
  try {
    const r = await runCli(['install', app, ...S], { ms: 120_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    const out = r.stdout + r.stderr;
    assert.match(out, /See above for output/);
    assert.match(out, /==> what pip's console left out \("See above for output"\), from its log:\n\s+Running command pip subprocess to install build dependencies\n/);
    assert.match(out, /\n\s+ERROR: No matching distribution found for apppkg-no-such-backend\n/, out);
    assert.match(out, /\n\s+pip subprocess to install build dependencies exited with 1\n/, out);
    assert.is(readlinkSync(join(appState(), 'venv')), live);
  } finally {
    writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\notherpkg==2.0\n');
    rmSync(join(app, 'nobackend'), { recursive: true, force: true });
  }
});

test('wheels in a wheels/ directory pip is not told of: the fix names the --find-links line to write', async () => {
  const dir = makeApp(work.path, 'wheelsdir', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  mkdirSync(join(dir, 'wheels'));
  makeWheel(join(dir, 'wheels'), 'thepkg', '1.0');
  writeFileSync(join(dir, 'requirements.txt'), 'thepkg==1.0\n');
  const r = await runCli(['install', dir, ...S], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /No matching distribution found for thepkg==1\.0/);
  assert.match(r.stdout, /fix: .*found no thepkg==1\.0 .*not in the directories under them: add the line `--find-links wheels` to requirements\.txt/);
  // The line it names is the fix.
  writeFileSync(join(dir, 'requirements.txt'), '--find-links wheels\nthepkg==1.0\n');
  const fixed = await runCli(['install', dir, ...S], { ms: 120_000 });
  assert.is(fixed.status, 0, fixed.stdout + fixed.stderr);
  assert.match(fixed.stdout, /Successfully installed thepkg-1\.0/);
});

// A wheel built for another interpreter got "put each wheel or sdist in the app directory",
// where it was: named as a file pip says "is not a supported wheel on this platform", named as a
// requirement pip skips it in silence and finds "no matching distribution".
test('a wheel built for another Python: the fix names the wheel, its tags and the interpreter that cannot load it', async () => {
  const dir = makeApp(work.path, 'otherpython', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  mkdirSync(join(dir, 'wheels'));
  const wheel = 'thepkg-1.0-cp27-cp27mu-manylinux1_x86_64.whl';
  renameSync(makeWheel(join(dir, 'wheels'), 'thepkg', '1.0'), join(dir, 'wheels', wheel));
  for (const requirements of [`wheels/${wheel}\n`, '--find-links wheels\nthepkg==1.0\n']) {
    writeFileSync(join(dir, 'requirements.txt'), requirements);
    const r = await runCli(['install', dir, ...S], { ms: 120_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`fix: .*${wheel.replaceAll('.', '\\.')} \\(cp27-cp27mu-manylinux1_x86_64\\) is a wheel built for another interpreter or platform, which the app's python3 [\\d.]+ .*cannot load \\(its wheels are tagged cp3\\d+\\): ship one built for that interpreter \\(\`\\S+ -m pip wheel NAME -w wheels/\` on this host\\) or a pure-Python one \\(py3-none-any\\)`), requirements);
    assert.not.match(r.stdout, /put each wheel or sdist in the app directory/, requirements);
  }
  // check found thepkg not installed and said to run install, which failed the same way: it says what install said.
  const checked = await runCli(['check', dir, ...S], { ms: 120_000 });
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /FAIL\s+pip\s+\S+app\.yaml:3:\d+: pip: requirements? not satisfied: thepkg==1\.0 \(not installed\) in python3 /);
  assert.match(checked.stdout, new RegExp(`fix: install failed on them at \\S+, with these requirements: ${wheel.replaceAll('.', '\\.')} \\(cp27-cp27mu-manylinux1_x86_64\\) is a wheel built for another interpreter or platform, which the app's python3 [\\d.]+ .*cannot load .*; then run \`apppkg-gateway install ${dir} --state-dir ${state.path}\``));
  // Other requirements: install has not tried them (its record is not said), and check finds, as
  // install's offline pip would, only that wheel for thepkg (lifecycle/check-offline-finds).
  writeFileSync(join(dir, 'requirements.txt'), '--find-links wheels\nthepkg>=1.0\n');
  const changed = await runCli(['check', dir, ...S], { ms: 120_000 });
  assert.not.match(changed.stdout, 'install failed on them');
  assert.match(changed.stdout, `would fail at pip, which reads offline only ${dir}, ${join(dir, 'wheels')}: thepkg>=1.0: wheels/${wheel} (cp27-cp27mu-manylinux1_x86_64) is a wheel built for another interpreter or platform`);
});

/**
 * The environment of a host whose pip configuration is `conf` (written to HOST/pip.conf, named by
 * PIP_CONFIG_FILE), with `more` variables: the run's own (test-pip-env.mjs) reads no file. pip
 * still reads the site-wide files beside it (/etc/pip.conf), so `conf` sets `index-url` to an
 * index of its own: pypi.org is never its default. XDG_CONFIG_DIRS: not /etc/xdg's.
 */
function hostPip(host: string, conf: string, more: Record<string, string> = {}): NodeJS.ProcessEnv {
  mkdirSync(join(host, 'xdg'), { recursive: true });
  writeFileSync(join(host, 'pip.conf'), conf);
  return { PIP_CONFIG_FILE: join(host, 'pip.conf'), XDG_CONFIG_DIRS: join(host, 'xdg'), ...more };
}

test("the host's pip.conf names an index: install takes a requirement found only there from it, and says so", async () => {
  const host = join(work.path, 'confindex-host');
  const index = fileIndex(join(host, 'mirror'), [['mirrorpkg', '1.0']]);
  const dir = makeApp(work.path, 'confindex', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(dir, 'requirements.txt'), 'mirrorpkg==1.0\n');
  const r = await runCli(['install', dir, ...S], { env: hostPip(host, `[global]\nindex-url = ${index}\n`), ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, `==> pip install -r ${join(dir, 'requirements.txt')} (from the host's pip configuration: ${join(host, 'pip.conf')} (index-url)`);
  assert.is(inVenv('confindex', 'import mirrorpkg; print(mirrorpkg.VERSION)').stdout.trim(), '1.0');
});

test("a source directory requirement whose build backend the host's index lacks: the fix names it and says to ship a built wheel", async () => {
  const host = join(work.path, 'nobackend-host');
  // A mirror of the app's other requirement only: pip looks for setuptools there and finds none.
  const index = fileIndex(join(host, 'mirror'), [['mirrorpkg', '1.0']]);
  const dir = makeApp(work.path, 'nobackend', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  mkdirSync(join(dir, 'localpkg'), { recursive: true });
  writeFileSync(join(dir, 'localpkg', 'pyproject.toml'), '[build-system]\nrequires = ["setuptools>=40.8.0"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "localpkg"\nversion = "1.0"\n');
  writeFileSync(join(dir, 'requirements.txt'), 'mirrorpkg==1.0\n./localpkg\n');
  const r = await runCli(['install', dir, ...S], { env: hostPip(host, `[global]\nindex-url = ${index}\n`), ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /fix: .*pip looked in what the host's pip configuration names .*: \.\/localpkg is built from source, which needs its build backend, and pip found no setuptools>=40\.8\.0 there: ship a built wheel instead, `pip wheel \.\/localpkg -w wheels\/`.*, or add setuptools where pip looks/);
  assert.not.match(r.stdout, /offline/);
  // The requirements' own index, lacking it too: the same fix, where pip looked said so.
  writeFileSync(join(dir, 'requirements.txt'), `--index-url ${index}\nmirrorpkg==1.0\n./localpkg\n`);
  const own = await runCli(['install', dir, ...S], { ms: 120_000 });
  assert.is(own.status, 1, own.stdout + own.stderr);
  assert.match(own.stdout, /fix: .*pip looked in the index the requirements name, .*: \.\/localpkg is built from source, which needs its build backend, and pip found no setuptools>=40\.8\.0 there: ship a built wheel instead/);
});

test("a host pip.conf that pip cannot load goes unread: install says so as it runs pip offline, and the fix says to mend it first", async () => {
  const host = join(work.path, 'badconf-host');
  const index = fileIndex(join(host, 'mirror'), [['mirrorpkg', '1.0']]);
  const dir = makeApp(work.path, 'badconf', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(dir, 'requirements.txt'), 'mirrorpkg==1.0\n');
  // No section header: pip's configparser refuses the whole file, for pip install as for the question.
  const r = await runCli(['install', dir, ...S], { env: hostPip(host, `index-url = ${index}\n`), ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  const conf = join(host, 'pip.conf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(r.stdout, new RegExp(`==> pip install --no-index -r .*\n==> the host's pip configuration \\([^)]*${conf}[^)]*\\) is not read: pip \\S+ could not read them \\(\`python -m pip config debug\` says why\\)`));
  assert.match(r.stdout, new RegExp(`fix: read pip's output above; the host's pip configuration \\([^)]*${conf}[^)]*\\) was not read, as pip \\S+ could not read them .*; pip install reads the same files, and its output says whether it failed on them: mend them first, then run it again\\. Else: pip runs offline \\(--no-index\\): put each wheel`));
  assert.match(r.stdout + r.stderr, /Configuration file could not be loaded/);
});

/**
 * `install` of `dir` under the state root `own` (a cold one: markCold), then, with the pip of its
 * venv seed (where each new venv takes pip from) made to raise ImportError, `install --rebuild`:
 * the second run's result.
 */
async function installWithBrokenSeedPip(dir: string, own: string, env: NodeJS.ProcessEnv): Promise<Awaited<ReturnType<typeof runCli>>> {
  const first = await runCli(['install', dir, '--state-dir', own], { env, ms: 120_000 });
  assert.is(first.status, 0, first.stdout + first.stderr);
  const seeds = join(own, 'cache', 'venv-seeds');
  const [seed] = readdirSync(seeds).filter((n) => !n.startsWith('.'));
  const [lib] = readdirSync(join(seeds, seed, 'lib'));
  writeFileSync(join(seeds, seed, 'lib', lib, 'site-packages', 'pip', '__init__.py'), 'raise ImportError("this pip is broken")\n');
  return runCli(['install', dir, '--state-dir', own, '--rebuild'], { env, ms: 120_000 });
}

test("a virtualenv whose pip cannot be imported: the host's pip.conf goes unread, and the fix says pip stopped on that import, not on a requirement", async () => {
  const host = join(work.path, 'nopip-host');
  const index = fileIndex(join(host, 'mirror'), [['mirrorpkg', '1.0']]);
  const dir = makeApp(work.path, 'nopip', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(dir, 'requirements.txt'), 'mirrorpkg==1.0\n');
  // A state root of its own, never given the run's shared venv seeds: its seed, from which each
  // new venv takes pip, is broken below.
  const own = join(work.path, 'nopip-state');
  markCold(own);
  const env = hostPip(host, `[global]\nindex-url = ${index}\n`);
  const r = await installWithBrokenSeedPip(dir, own, env);
  assert.is(r.status, 1, r.stdout + r.stderr);
  const conf = join(host, 'pip.conf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(r.stdout, new RegExp(`==> the host's pip configuration \\([^)]*${conf}[^)]*\\) is not read: the virtualenv's pip cannot be imported \\(this pip is broken\\)`));
  assert.match(r.stdout, new RegExp(`fix: read pip's output above; the virtualenv's pip cannot be imported \\(this pip is broken\\), so neither was the host's pip configuration \\([^)]*${conf}[^)]*\\) read, and install ran pip offline \\(--no-index\\); pip install stops on the same import \\(its output above\\) before it looks for any requirement`));
  assert.not.match(r.stdout, /put each wheel or sdist/);
});

// With no configuration file, pip was not asked before it ran, and its failure was read as a
// requirement pip could not find offline ("put each wheel ..."): a broken pip says so whatever
// the configuration.
test("a virtualenv whose pip cannot be imported, on a host with no pip configuration file: the fix says pip stopped on that import", async () => {
  const dir = makeApp(work.path, 'nopipbare', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  makeWheel(dir, 'thepkg', '1.0');
  writeFileSync(join(dir, 'requirements.txt'), 'thepkg==1.0\n');
  const own = join(work.path, 'nopipbare-state');
  markCold(own);
  const env = { PIP_CONFIG_FILE: '/dev/null' };
  const r = await installWithBrokenSeedPip(dir, own, env);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, "fix: read pip's output above; the virtualenv's pip cannot be imported (this pip is broken), and install ran pip offline (--no-index); pip install stops on the same import (its output above) before it looks for any requirement");
  assert.not.match(r.stdout, /put each wheel or sdist|pip configuration/);
});

test("the shell's PIP_FIND_LINKS and PIP_CONSTRAINT decide where from and which version, as for pip; a failure says where pip looked", async () => {
  const dir = makeApp(work.path, 'pipshell', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  makeWheel(dir, 'thepkg', '1.0');
  makeWheel(dir, 'thepkg', '2.0');
  writeFileSync(join(dir, 'requirements.txt'), 'thepkg\nhostonly\n');
  const host = join(work.path, 'pipshell-host');
  mkdirSync(join(host, 'wheels'), { recursive: true });
  makeWheel(join(host, 'wheels'), 'hostonly', '1.0');
  writeFileSync(join(host, 'constraints.txt'), 'thepkg==1.0\n');
  const index = fileIndex(join(host, 'mirror'), [['unrelated', '1.0']]);
  const shell = hostPip(host, `[global]\nindex-url = ${index}\n`, { PIP_CONSTRAINT: join(host, 'constraints.txt'), PIP_FIND_LINKS: join(host, 'wheels') });
  const r = await runCli(['install', dir, ...S], { env: shell, ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`==> pip install -r \\S+ \\(from the host's pip configuration: .*PIP_FIND_LINKS\\)`));
  // The host's constraint holds thepkg to 1.0, where the newest of the app's wheels is 2.0.
  assert.is(inVenv('pipshell', 'import thepkg, hostonly; print(thepkg.VERSION, hostonly.VERSION)').stdout.trim(), '1.0 1.0');

  writeFileSync(join(dir, 'requirements.txt'), 'thepkg\nnowhere-to-be-found==9\n');
  const failed = await runCli(['install', dir, ...S], { env: shell, ms: 120_000 });
  assert.is(failed.status, 1, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /No matching distribution found for nowhere-to-be-found==9/);
  assert.match(failed.stdout, /fix: .*pip looked in what the host's pip configuration names \(.*PIP_FIND_LINKS\), the app directory and beside the requirements file/);
  assert.not.match(failed.stdout, /--no-index/);
});

test("a host pip.conf's [install] target is refused before pip runs, with the fix; PIP_TARGET and PIP_USER in the shell, and a file's `user`, are not read", async () => {
  const host = join(work.path, 'pipdest-host');
  const index = fileIndex(join(host, 'mirror'), [['destpkg', '1.0']]);
  const dir = makeApp(work.path, 'pipdest', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(dir, 'requirements.txt'), 'destpkg==1.0\n');
  const target = join(host, 'target');
  const refused = await runCli(['install', dir, ...S], { env: hostPip(host, `[global]\nindex-url = ${index}\n[install]\ntarget = ${target}\n`), ms: 120_000 });
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  const conf = join(host, 'pip.conf');
  assert.match(refused.stdout, /FAIL\s+pip: the host/);
  assert.match(refused.stdout, `pip: the host's pip configuration sets target = ${target} ([install] of ${conf}), which the app's virtualenv cannot be built under`);
  assert.match(refused.stdout, `fix: remove \`target\` from [install] of ${conf} (every \`pip install\` on this host reads it), then run it again`);
  assert.not.match(refused.stdout, /==> pip install/);
  assert.ok(!existsSync(target), 'pip ran with the target');
  assert.ok(!existsSync(join(state.path, 'apps', 'pipdest', 'venv')), 'a venv was switched to');

  // A file's `user` (a --user install, which a venv refuses) is undone; the shell's PIP_TARGET and PIP_USER are not read.
  const r = await runCli(['install', dir, ...S], { env: hostPip(host, `[global]\nindex-url = ${index}\n[install]\nuser = true\n`, { PIP_TARGET: target, PIP_USER: '1' }), ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, '==> pip read none of PIP_TARGET, PIP_USER (install puts the app\'s requirements into its virtualenv');
  assert.ok(!existsSync(target), 'PIP_TARGET reached pip');
  assert.is(inVenv('pipdest', 'import destpkg; print(destpkg.VERSION)').stdout.trim(), '1.0');
});

test('a requirements file that names its own index (--index-url, --extra-index-url) is installed from it: install\'s offline --no-index, which outranks the file\'s lines, is left out', async () => {
  const index = fileIndex(join(work.path, 'own-index'), [['idxpkg', '1.0']]);
  const dir = makeApp(work.path, 'ownindex', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  // Through an include, as a shared base file would carry it.
  writeFileSync(join(dir, 'base.txt'), `--index-url ${index}\n`);
  writeFileSync(join(dir, 'requirements.txt'), '-r base.txt\nidxpkg==1.0\n');
  const r = await runCli(['install', dir, ...S], { ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> pip install -r .*requirements\.txt \(from the index it names\)/);
  assert.match(r.stdout, /Successfully installed idxpkg-1\.0/);
  assert.is(inVenv('ownindex', 'import idxpkg; print(idxpkg.VERSION)').stdout.trim(), '1.0');
});

test('an app no interpreter here satisfies is not installed: exit 1, what was found, the hook not run', async () => {
  const dir = makeApp(
    work.path,
    'nopython',
    ['platform: python, wsgi', 'app: wsgi:application', 'python: ">=4"', 'commands:', '  install: touch "$APPPKG_DATA_DIR/hook-ran"', ''].join('\n'),
  );
  const r = await runCli(['install', dir, ...S], { ms: 60_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  // At app.yaml's python: line, as check says it.
  assert.ok(r.stdout.includes(`FAIL  ${join(dir, 'app.yaml')}:3:9: python: no interpreter satisfies ">=4"; found python3 `), r.stdout + r.stderr);
  assert.not.match(r.stdout, /installed in/);
  assert.not.ok(existsSync(join(state.path, 'apps', 'nopython', 'data', 'hook-ran')));
});

test('a failing commands.install exits 1 and names the hook and its status', async () => {
  const dir = makeApp(work.path, 'badhook', 'app: wsgi:application\ncommands:\n  install: echo migrating; exit 7\n');
  const r = await runCli(['install', dir, ...S]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /migrating/);
  assert.match(r.stdout, /FAIL\s+commands\.install \(echo migrating; exit 7\) exited with status 7/);
  assert.ok(!existsSync(join(state.path, 'apps', 'badhook', 'installed.json')), 'a failed install is not marked installed');
});

ifDpkg('missing deb packages without --system: FAIL with a fix; one apt has not heard of is a name to check, not one to apt-get', async () => {
  const dir = makeApp(work.path, 'needsdeb', 'app: wsgi:application\ndeb: [apppkg-surely-not-a-package]\n');
  const r = await runCli(['install', dir, ...S]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+deb: package not installed: apppkg-surely-not-a-package/);
  if (hasProgram('apt-cache')) {
    assert.match(r.stdout, /fix: this host's apt lists have no apppkg-surely-not-a-package: check the name in deb: .*apt-get update/);
  } else {
    assert.match(r.stdout, /fix: run `apt-get install -y apppkg-surely-not-a-package` .*--system/);
  }
});

ifNodeForNobody('--system as a user other than root exits 1 with the fix', async () => {
  const dir = makeApp(work.path, 'systemapp', 'app: wsgi:application\ndeb: [python3-venv]\n');
  // As root, drop to nobody (who can read the app: mkdtemp made its parent 0700). runCliAs
  // runs a copy of the CLI nobody can read when this checkout is closed to it.
  if (isRoot) chmodSync(work.path, 0o755);
  const r = await runCliAs(['install', dir, '--system', ...S], isRoot ? { uid: NOBODY, gid: NOBODY } : {});
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+install --system: installing deb packages needs root/);
  assert.match(r.stdout, /fix: run `sudo apppkg-gateway install --system /);
});

test('an unknown option is bad usage: exit 2', async () => {
  const r = await runCli(['install', app, '--frobnicate']);
  assert.is(r.status, 2);
});

test.run();
