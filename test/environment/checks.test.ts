// `check`'s environment probes against this host: dpkg's database, pyenv's pip, real interpreters.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runIf } from '../helpers/skip.js';
import {
  checkDeb,
  debMissing,
  checkOs,
  checkPip,
  checkRpm,
  checkSettings,
  installedDistributions,
  runEnvironmentChecks,
} from '../../src/environment/checks.js';
import type { Interpreter } from '../../src/environment/interpreter-probe.js';
import { pickInterpreter } from '../../src/environment/interpreters.js';
import { evaluateMarker, readRequirements } from '../../src/environment/requirements.js';
import { makeDescription } from './make-description.js';

function has(program: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

const MISSING = 'apppkg-surely-not-a-package';

const test = suite('checks');
let tmp: string;
let interpreter: Interpreter;
let pipVersion: string;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'apppkg-checks-'));
  interpreter = await pickInterpreter({ python: '>=3.9', deb: [] });
  pipVersion = (await installedDistributions(interpreter.executable, tmp, [])).pip;
});

test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function appWith(name: string, requirements: string): Promise<string> {
  const dir = path.join(tmp, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'requirements.txt'), requirements);
  return dir;
}

test('os: posix covers linux and darwin; a named platform must match', () => {
  assert.ok(checkOs({ os: [] }, 'linux').ok);
  assert.ok(checkOs({ os: ['posix'] }, 'linux').ok);
  assert.ok(checkOs({ os: ['posix'] }, 'darwin').ok);
  assert.ok(checkOs({ os: ['bsd'] }, 'freebsd').ok);
  assert.not.ok(checkOs({ os: ['posix'] }, 'win32').ok);
  const mismatch = checkOs({ os: ['darwin'] }, 'linux');
  assert.not.ok(mismatch.ok);
  assert.is(mismatch.code, 'APPPKG_OS_MISMATCH');
  assert.match(mismatch.detail, 'darwin');
  assert.match(mismatch.detail, 'linux');
  assert.ok(mismatch.fix.length > 0);
});

test('deb: an installed package passes, a missing one is named', async () => {
  if (!has('dpkg-query')) {
    const skipped = await checkDeb(['python3']);
    assert.ok(skipped.ok && skipped.skipped);
    return;
  }
  const installed = await checkDeb(['python3']);
  assert.ok(installed.ok, installed.detail);
  assert.match(installed.detail, /^python3 \d/);
  const missing = await checkDeb(['python3', MISSING]);
  assert.not.ok(missing.ok);
  assert.is(missing.code, 'APPPKG_DEB_MISSING');
  assert.match(missing.detail, MISSING);
  assert.not.match(missing.detail, 'python3');
  assert.match(missing.fix, `apt-get install -y ${MISSING}`);
});

test('deb: a dpkg-query that cannot answer (not runnable, a fatal error) leaves the packages unchecked, not missing', async () => {
  // Told "missing", a gateway out of open files warned to apt-get install what was installed.
  const bin = path.join(tmp, 'broken-dpkg');
  await mkdir(bin, { recursive: true });
  const savedPath = process.env.PATH;
  try {
    for (const [script, mode, why] of [
      ['#!/bin/sh\nexit 0\n', 0o644, /dpkg-query could not be started \(EACCES\)/],
      ['#!/bin/sh\necho "dpkg-query: error: the database is locked" >&2\nexit 2\n', 0o755, /dpkg-query failed \(status 2\): dpkg-query: error: the database is locked/],
    ] as const) {
      await writeFile(path.join(bin, 'dpkg-query'), script, { mode });
      await chmod(path.join(bin, 'dpkg-query'), mode);
      process.env.PATH = bin;
      const result = await checkDeb(['python3', MISSING]);
      assert.ok(result.ok && result.skipped, JSON.stringify(result));
      assert.match(result.detail, why);
      assert.match(result.detail, `listed: python3, ${MISSING}`);
      assert.is(await debMissing(makeDescription(tmp, { deb: ['python3'] })), null);
    }
  } finally {
    process.env.PATH = savedPath;
  }
});

/** An os-release of this family, in tmp; the file checkRpm reads instead of /etc/os-release. */
async function osRelease(name: string, text: string): Promise<string> {
  const file = path.join(tmp, `os-release-${name}`);
  await writeFile(file, text);
  return file;
}

const FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=41\n';

runIf(test, !has('rpm'), 'rpm exists on this host: the "not found" path cannot be seen')('rpm: skipped with a note where rpm does not exist', async () => {
  const result = await checkRpm(['m2crypto'], await osRelease('fedora', FEDORA));
  assert.ok(result.ok);
  assert.ok(result.skipped);
  assert.match(result.detail, 'rpm not found');
});

test('rpm: a Debian host that has rpm (Debian\'s package of it, its database empty) is not asked: not checked, said; an rpm host is', async () => {
  // Debian's rpm answers as an rpm host's does for a package it does not have, and makes
  // ~/.rpmdb as it answers: asked on a Debian host, every rpm: entry failed check.
  const bin = path.join(tmp, 'debian-rpm');
  const asked = path.join(tmp, 'debian-rpm-asked');
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(bin, 'rpm'), `#!/bin/sh\necho "$@" >> '${asked}'\nfor last; do :; done\necho "package $last is not installed"\nexit 1\n`, { mode: 0o755 });
  const savedPath = process.env.PATH;
  try {
    process.env.PATH = `${bin}:${savedPath ?? ''}`;
    for (const [name, text, word] of [
      ['debian', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', 'debian'],
      ['mint', 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n', 'ubuntu'],
      ['raspbian', "ID='raspbian'\nID_LIKE='debian'\n", 'debian'],
    ] as const) {
      const file = await osRelease(name, text);
      const result = await checkRpm(['m2crypto', 'python3-ldap'], file);
      assert.ok(result.ok && result.skipped, `${name}: ${JSON.stringify(result)}`);
      assert.is(result.detail, `not checked: a Debian host (${word}, from ${file}), where deb: says what to install; listed: m2crypto, python3-ldap`);
    }
    assert.not.ok(existsSync(asked), 'rpm was run on a Debian host');
    const fedora = await checkRpm(['m2crypto'], await osRelease('fedora', FEDORA));
    assert.not.ok(fedora.ok, JSON.stringify(fedora));
    assert.is(fedora.code, 'APPPKG_RPM_MISSING');
    assert.ok(existsSync(asked), 'rpm was not run on an rpm host');
    const unreadable = await checkRpm(['m2crypto'], path.join(tmp, 'no-os-release'));
    assert.is(unreadable.code, 'APPPKG_RPM_MISSING', 'no os-release: rpm decides, as before');
  } finally {
    process.env.PATH = savedPath;
  }
});

test('pip: requirements satisfied by the interpreter (no venv yet)', async () => {
  const dir = await appWith(
    'ok',
    [
      '# comments, options and markers are understood',
      '-i https://pypi.example/simple',
      'pip>=20 \\',
      '    --hash=sha256:0000',
      `./wheels/pip-${pipVersion}-py3-none-any.whl`,
      `${MISSING}==1.0 ; python_version < "3"`,
      `${MISSING} ; sys_platform == "win32" or os_name == "nt"`,
      '',
    ].join('\n'),
  );
  const result = await checkPip(makeDescription(dir, { pip: 'requirements.txt' }), interpreter);
  assert.ok(result.ok, result.detail);
  assert.match(result.detail, `pip ${pipVersion}`);
});

test('pip: a missing package and a wrong version are named', async () => {
  const dir = await appWith('missing', `pip>=20\n${MISSING}>=1.0\n`);
  const result = await checkPip(makeDescription(dir, { pip: 'requirements.txt' }), interpreter);
  assert.not.ok(result.ok);
  assert.is(result.code, 'APPPKG_PIP_UNSATISFIED');
  assert.match(result.detail, `${MISSING}>=1.0 (not installed)`);
  assert.not.match(result.detail, 'pip>=20');
  // Found in none of the directories install's pip reads offline (the test runs with no pip configuration).
  assert.match(result.fix, `\`apppkg-gateway install ${dir}\` would fail at pip, which reads offline only ${dir}: ${MISSING}>=1.0: no wheel or sdist of ${MISSING};`);

  const old = await appWith('old', 'pip<1\n');
  const wrong = await checkPip(makeDescription(old, { pip: 'requirements.txt' }), interpreter);
  assert.not.ok(wrong.ok);
  assert.match(wrong.detail, `pip<1 (found ${pipVersion})`);
});

test('pip: the app\'s venv, once it exists, is what counts', async () => {
  const dir = await appWith('venv', 'pip>=20\n');
  const stateRoot = path.join(tmp, 'state');
  const venv = path.join(stateRoot, 'apps', 'venv-app', 'venv');
  await new Promise<void>((resolve, reject) => {
    execFile(interpreter.executable, ['-m', 'venv', '--without-pip', venv], { timeout: 60_000, killSignal: 'SIGKILL' }, (err) => (err ? reject(err) : resolve()));
  });
  const result = await checkPip(makeDescription(dir, { name: 'venv-app', pip: 'requirements.txt' }), interpreter, { stateRoot });
  assert.not.ok(result.ok, 'a venv made --without-pip has no pip, though the interpreter has');
  assert.match(result.detail, `in venv ${venv}`);
});

// A venv whose interpreter is gone (its bin/python deleted, the Python it linked to removed) was
// passed over for the interpreter itself, and check said "requirements not satisfied ... run
// install" as if none had been built: the venv is broken, and install rebuilds it.
test('pip: a venv whose bin/python is gone is said broken, with the install that rebuilds it', async () => {
  const dir = await appWith('broken', 'pip>=20\n');
  const stateRoot = path.join(tmp, 'broken-state');
  const venv = path.join(stateRoot, 'apps', 'broken-app', 'venv');
  await new Promise<void>((resolve, reject) => {
    execFile(interpreter.executable, ['-m', 'venv', '--without-pip', venv], { timeout: 60_000, killSignal: 'SIGKILL' }, (err) => (err ? reject(err) : resolve()));
  });
  await rm(path.join(venv, 'bin', 'python'));
  const result = await checkPip(makeDescription(dir, { name: 'broken-app', pip: 'requirements.txt' }), interpreter, { stateRoot });
  assert.not.ok(result.ok, result.detail);
  assert.is(result.code, 'APPPKG_VENV_BROKEN', result.detail);
  assert.match(result.detail, `the app's virtualenv ${venv} is broken: its bin/python is gone`);
  assert.match(result.fix, `run \`apppkg-gateway install ${dir}\` to rebuild it`);
  assert.not.match(result.detail, 'not satisfied');
  // Linking to an interpreter since removed (a pyenv version uninstalled): broken too, and named.
  await symlink('/nonexistent-python/bin/python3.11', path.join(venv, 'bin', 'python'));
  const gone = await checkPip(makeDescription(dir, { name: 'broken-app', pip: 'requirements.txt' }), interpreter, { stateRoot });
  assert.is(gone.code, 'APPPKG_VENV_BROKEN', gone.detail);
  assert.match(gone.detail, 'its bin/python links to /nonexistent-python/bin/python3.11, which is gone');
});

test('pip: an unreadable requirements file is its own error', async () => {
  const result = await checkPip(makeDescription(tmp, { pip: 'nope.txt' }), interpreter);
  assert.not.ok(result.ok);
  assert.is(result.code, 'APPPKG_PIP_FILE_UNREADABLE');
  assert.match(result.detail, 'nope.txt');
});

// pip reads an editable directory's project like any other requirement: check named nothing of
// it and said "0 requirements satisfied", installed or not.
test('pip: an editable directory (-e ./pkg) is its project, by its pyproject.toml, setup.cfg or setup.py', async () => {
  const dir = await appWith('editable', '-e ./own\n-e ./cfg\n./bysetup\n');
  await mkdir(path.join(dir, 'own'));
  await writeFile(path.join(dir, 'own', 'pyproject.toml'), '[build-system]\nrequires = []\n\n[project]\nname = "pip"\nversion = "1.0"\n');
  await mkdir(path.join(dir, 'cfg'));
  await writeFile(path.join(dir, 'cfg', 'setup.cfg'), `[metadata]\nname = ${MISSING}-cfg\n`);
  await mkdir(path.join(dir, 'bysetup'));
  await writeFile(path.join(dir, 'bysetup', 'setup.py'), `from setuptools import setup\nsetup(\n    name='${MISSING}-py', version='1')\n`);
  const result = await checkPip(makeDescription(dir, { pip: 'requirements.txt' }), interpreter);
  assert.not.ok(result.ok, result.detail);
  assert.match(result.detail, `${MISSING}-cfg (not installed)`);
  assert.match(result.detail, `${MISSING}-py (not installed)`);
  await writeFile(path.join(dir, 'requirements.txt'), '-e ./own\n');
  const installed = await checkPip(makeDescription(dir, { pip: 'requirements.txt' }), interpreter);
  assert.ok(installed.ok, installed.detail);
  assert.match(installed.detail, `1 requirement satisfied in ${path.basename(interpreter.executable)}`);
  assert.match(installed.detail, `pip ${pipVersion} (-e ./own)`);
});

// pip reads a -r inside a constraints file as requirements (its lines are installed, not only
// limits): check skipped the whole -c file, and passed what install then had to fetch.
test('pip: a -r inside a -c constraints file is followed, its lines requirements', async () => {
  const dir = await appWith('constrained', '-c constraints.txt\n');
  await writeFile(path.join(dir, 'constraints.txt'), `${MISSING}-limit<2\n-r more.txt\n`);
  await writeFile(path.join(dir, 'more.txt'), `${MISSING}==1.0\n`);
  const parsed = await readRequirements(path.join(dir, 'requirements.txt'));
  assert.equal(parsed.requirements.map((r) => [r.name, r.where]), [[MISSING, 'more.txt:1']]);
  const result = await checkPip(makeDescription(dir, { pip: 'requirements.txt' }), interpreter);
  assert.not.ok(result.ok, result.detail);
  assert.match(result.detail, `${MISSING}==1.0 (not installed)`);
  assert.not.match(result.detail, `${MISSING}-limit`);
});

test('requirements: names from lines, wheels, sdists, egg fragments; -r followed', async () => {
  const dir = await appWith('parse', ['-r more.txt', 'Flask[async] (>=2.0,<3)', 'requests @ https://x/requests.tar.gz ; python_version >= "3.8"', 'dist/foo_bar-1.2.tar.gz', 'git+https://x/y.git#egg=baz', './local-dir', ''].join('\n'));
  await writeFile(path.join(dir, 'more.txt'), 'six==1.16.0\n-r requirements.txt\n');
  const parsed = await readRequirements(path.join(dir, 'requirements.txt'));
  assert.equal(
    parsed.requirements.map((r) => [r.name, r.specifier, r.marker]),
    [
      ['six', '==1.16.0', null],
      ['Flask', '>=2.0,<3', null],
      ['requests', '', 'python_version >= "3.8"'],
      ['foo_bar', '==1.2', null],
      ['baz', '', null],
    ],
  );
  assert.is(parsed.notes.length, 1);
  assert.match(parsed.notes[0], './local-dir');
});

test('markers: PEP 508 evaluation against the interpreter', () => {
  const env = interpreter.markers;
  assert.ok(evaluateMarker('python_version >= "3.9"', env));
  assert.not.ok(evaluateMarker('python_version < "3"', env));
  assert.ok(evaluateMarker('(os_name == "nt" or sys_platform == "linux") and "cpython" == implementation_name', { ...env, sys_platform: 'linux' }));
  assert.ok(evaluateMarker('"linux" in sys_platform', { ...env, sys_platform: 'linux' }));
  assert.throws(() => evaluateMarker('no_such_variable == "1"', env));
});

test('settings: present from the environment file or the caller\'s env, else named', () => {
  const desc = makeDescription(tmp, { settings: ['A', 'B', 'C'] });
  assert.ok(checkSettings(desc, { settings: { A: '1' }, processEnv: { B: '2', C: '3' } }).ok);
  const missing = checkSettings(desc, { settings: { A: '1' }, processEnv: {} });
  assert.not.ok(missing.ok);
  assert.is(missing.code, 'APPPKG_SETTINGS_MISSING');
  assert.match(missing.detail, 'B, C');
});

test('runEnvironmentChecks: every check, in order; no interpreter means pip is not checked', async () => {
  const dir = await appWith('all', 'pip\n');
  const good = await runEnvironmentChecks(makeDescription(dir, { os: ['posix'], python: '>=3.9', pip: 'requirements.txt' }), { settings: {}, processEnv: {} });
  assert.equal(good.map((r) => r.name), ['os', 'python', 'deb', 'rpm', 'pip', 'settings']);
  assert.ok(good.every((r) => r.ok), JSON.stringify(good, null, 2));
  // No interpreter fits "<3", so the pick probes every candidate on PATH: with the host's PATH,
  // on a host with pyenv, a Python per version it installed. The directory of the interpreter
  // picked above holds candidates enough; the walk of the host's own is interpreters.test.ts's.
  const pathEnv = path.dirname(interpreter.executable);
  const bad = await runEnvironmentChecks(makeDescription(dir, { python: '<3', pip: 'requirements.txt' }), { settings: {}, processEnv: {}, pathEnv });
  const python = bad.find((r) => r.name === 'python')!;
  assert.not.ok(python.ok);
  assert.is(python.code, 'APPPKG_PY_NO_INTERPRETER');
  assert.ok(bad.find((r) => r.name === 'pip')!.skipped);
});

test.run();
