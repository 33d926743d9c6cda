// Real interpreters on this host: pyenv's (or whatever) `python3` on PATH and Debian's /usr/bin/python3.
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rcompare } from '@renovatebot/pep440';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertNoOrphans, EXAMPLES, pathWithoutPyenvShims, runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { isGatewayError } from '../../src/errors.js';
import { clearInterpreterCache, discoverInterpreters, SYSTEM_PYTHON } from '../../src/environment/interpreter-discovery.js';
import { PROBE } from '../../src/environment/interpreter-probe.js';
import { checkPython } from '../../src/environment/checks.js';
import { formatInterpreter, pickInterpreter } from '../../src/environment/interpreters.js';

interface Facts {
  executable: string;
  version: string;
}

function ask(python: string): Facts {
  const out = execFileSync(python, ['-E', '-c', 'import sys, platform; print(sys.executable); print(platform.python_version())'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const [executable, version] = out.trim().split('\n');
  return { executable, version };
}

async function expectError(promise: Promise<unknown>, code: string): Promise<Error & { code: string; hint: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isGatewayError(err), `expected a GatewayError, got ${String(err)}`);
    assert.is((err as { code: string }).code, code);
    return err as Error & { code: string; hint: string; details: Record<string, unknown> };
  }
  assert.unreachable(`expected ${code}, got no error`);
  throw new Error('unreachable');
}

/** The test knob of the probe's first deadline (src/environment/interpreter-probe.ts). */
const PROBE_TIMEOUT_KNOB = 'APPPKG_TEST_PROBE_TIMEOUT_MS';

const onPath = ask('python3');
const hasSystem = existsSync(SYSTEM_PYTHON);
const system = hasSystem ? ask(SYSTEM_PYTHON) : null;

const test = suite('interpreters');
const ifSystem = runIf(test, system !== null, `needs ${SYSTEM_PYTHON}`);
const temps: string[] = [];

test.after(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  clearInterpreterCache();
});

test('discovers python3 on PATH and the system interpreter, each once', async () => {
  const all = await discoverInterpreters();
  const labels = all.map((i) => i.label);
  assert.ok(labels.includes('python3'), labels.join(', '));
  if (hasSystem && realpathSync(onPath.executable) !== realpathSync(SYSTEM_PYTHON)) assert.ok(labels.includes(SYSTEM_PYTHON), labels.join(', '));
  const keys = all.map((i) => `${realpathSync(i.executable)} ${i.prefix}`);
  assert.is(new Set(keys).size, keys.length, 'no interpreter listed twice');
  assert.is(await discoverInterpreters(), all, 'cached per process');
});

test('picks python3 on PATH for ">=3.9"', async () => {
  const picked = await pickInterpreter({ python: '>=3.9', deb: [] });
  assert.ok(picked.names.includes('python3'));
  assert.is(picked.executable, onPath.executable);
  assert.is(picked.version, onPath.version);
});

ifSystem('picks /usr/bin/python3 when deb packages are listed', async () => {
  if (!system) return;
  const picked = await pickInterpreter({ python: '>=3.9', deb: ['python3-flask'] });
  assert.ok(picked.names.includes(SYSTEM_PYTHON), picked.names.join(', '));
  assert.is(picked.version, system.version);
  assert.is(realpathSync(picked.executable), realpathSync(SYSTEM_PYTHON));
});

test('"<3" fails with APPPKG_PY_NO_INTERPRETER listing what was found', async () => {
  const err = await expectError(pickInterpreter({ python: '<3', deb: [] }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, '"<3"');
  assert.match(err.message, `python3 ${onPath.version} (${onPath.executable})`);
  if (system && realpathSync(onPath.executable) !== realpathSync(SYSTEM_PYTHON)) assert.match(err.message, `${SYSTEM_PYTHON} ${system.version}`);
  assert.match(err.hint, 'python3.N');
});

const [major, minor, micro] = onPath.version.split('.');
runIf(test, micro !== '0', `needs a python3 on PATH of a release after ${major}.${minor}.0`)(
  '"==3.11" and "<=3.11" leave out 3.11.7 (PEP 440 reads 3.11.0): the fix is the series\' spelling, "==3.11.*" or "<3.12"',
  async () => {
    const series = `${major}.${minor}`;
    // PATH = the directory of python3 alone: pyenv's other versions (a 3.10 satisfies "<=3.11")
    // are found only behind its shims directory.
    const pathEnv = path.dirname(onPath.executable);
    const exact = await expectError(pickInterpreter({ python: `==${series}`, deb: [] }, { pathEnv }), 'APPPKG_PY_NO_INTERPRETER');
    assert.match(exact.hint, `so "==${series}" leaves out the later releases of its series`);
    assert.match(exact.hint, `write python: "==${series}.*" in app.yaml`);
    const upTo = await expectError(pickInterpreter({ python: `>=3,<=${series}`, deb: [] }, { pathEnv }), 'APPPKG_PY_NO_INTERPRETER');
    assert.match(upTo.hint, `write python: ">=3,<${major}.${Number(minor) + 1}" in app.yaml`);
    // The environment file's choice, judged against the same requirement.
    const chosen = await expectError(pickInterpreter({ python: `==${series}`, deb: [] }, { override: onPath.executable }), 'APPPKG_PY_NO_INTERPRETER');
    assert.match(chosen.hint, `write python: "==${series}.*" in app.yaml`);
    // A series no interpreter here is of keeps the general fix.
    const other = await expectError(pickInterpreter({ python: '==2.7', deb: [] }, { pathEnv }), 'APPPKG_PY_NO_INTERPRETER');
    assert.match(other.hint, 'python3.N');
  },
);

runIf(test, micro !== '0', `needs a python3 on PATH of a release after ${major}.${minor}.0`)(
  'check\'s python line for "!=3.11" that 3.11.7 passes (PEP 440 reads 3.11.0) notes it, with the series\' spelling "!=3.11.*"',
  async () => {
    const series = `${major}.${minor}`;
    const pathEnv = path.dirname(onPath.executable);
    const { result } = await checkPython({ python: `>=3,!=${series}`, deb: [] }, { pathEnv });
    assert.ok(result.ok, result.detail);
    assert.match(result.detail, `satisfies ">=3,!=${series}"; note: !=${series} leaves out ${series}.0 alone (PEP 440 pads a version with zeros), so ${onPath.version} passes it: ` +
      `to leave out the ${series} series, write python: ">=3,!=${series}.*" in app.yaml`);
    // A clause of another series, or one spelled as a series already, says nothing more.
    for (const python of ['!=2.7', `!=${series}.0`]) {
      const other = await checkPython({ python, deb: [] }, { pathEnv });
      assert.not.match(other.result.detail, 'note:', python);
    }
  },
);

ifSystem('deb listed but the system interpreter does not satisfy: says so', async () => {
  if (!system) return;
  const err = await expectError(pickInterpreter({ python: '>=4', deb: ['python3-flask'] }), 'APPPKG_PY_NO_INTERPRETER');
  assert.ok(err.details.reasonDeb);
  assert.match(err.message, 'system interpreter');
});

test('a python3.N that fails its probe is named with why, when no interpreter fits', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
  temps.push(dir);
  const fake = path.join(dir, 'python3.14');
  await writeFile(fake, '#!/bin/sh\necho "Python 3.14.0"\n');
  await chmod(fake, 0o755);
  const err = await expectError(pickInterpreter({ python: '>=3.14', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, `; also python3.14 (${fake}): cannot be run: unexpected output: Python 3.14.0`);
});

/** The bound a probe gets lowered to `ms` for the duration of `work` (its retry gets three times as long). */
async function withProbeTimeout<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const saved = process.env[PROBE_TIMEOUT_KNOB];
  process.env[PROBE_TIMEOUT_KNOB] = String(ms);
  try {
    return await work();
  } finally {
    if (saved === undefined) delete process.env[PROBE_TIMEOUT_KNOB];
    else process.env[PROBE_TIMEOUT_KNOB] = saved;
  }
}

/** A directory of `file: script` (each made executable), removed after the suite. */
async function scriptDir(scripts: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
  temps.push(dir);
  for (const [name, text] of Object.entries(scripts)) await writeFile(path.join(dir, name), text, { mode: 0o755 });
  return dir;
}

/** A virtualenv in miniature around the python3 on PATH: its python's sys.executable is its own path, as no other candidate's is. */
async function miniVenv(): Promise<string> {
  const real = realpathSync(onPath.executable);
  const root = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-venv-'));
  temps.push(root);
  await mkdir(path.join(root, 'bin'));
  await symlink(real, path.join(root, 'bin', 'python3'));
  await writeFile(path.join(root, 'pyvenv.cfg'), `home = ${path.dirname(real)}\ninclude-system-site-packages = false\n`);
  return path.join(root, 'bin', 'python3');
}

test('a python3.N that hangs, the only one that may fit, stops the pick naming it; what it started goes with it: no orphan', async () => {
  const dir = await scriptDir({});
  const pidFile = path.join(dir, 'child.pids');
  // A wrapper whose program hangs (a shim waiting on a lock, a mount that does not answer).
  const fake = path.join(dir, 'python3.14');
  await writeFile(fake, `#!/bin/sh\nsleep 300 &\necho $! >> ${pidFile}\nwait\n`, { mode: 0o755 });
  const err = await withProbeTimeout(300, () => expectError(pickInterpreter({ python: '>=3.14', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_PROBE_TIMEOUT'));
  assert.is(err.message, `python: python3.14 (${fake}) did not say what Python it is: no answer within 0.3s, nor within 0.9s on a second try; no interpreter that answered satisfies python: ">=3.14", and it may, so no other interpreter is picked in its place`);
  const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
  assert.is(pids.length, 2, 'asked twice');
  try {
    await assertNoOrphans(pids, 3000);
  } catch (err) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    throw err;
  }
});

test('python3 on PATH answering only past the first deadline is asked again with a longer one, and picked: not passed over for another', async () => {
  const venvPython = await miniVenv();
  const dir = await scriptDir({});
  const marker = path.join(dir, 'asked');
  // Slow the first time only, as a pyenv shim's bash is on a loaded host.
  await writeFile(path.join(dir, 'python3'), `#!/bin/sh\nif [ ! -e ${marker} ]; then : > ${marker}; exec sleep 300; fi\nexec ${venvPython} "$@"\n`, { mode: 0o755 });
  // Room for the retry (three times the first bound) on a loaded machine: the answer itself takes ~0.1 s.
  const picked = await withProbeTimeout(2000, () => pickInterpreter({ python: null, deb: [] }, { pathEnv: dir }));
  assert.is(picked.executable, venvPython, `picked ${formatInterpreter(picked)}`);
  assert.ok(picked.names.includes('python3'), picked.names.join(', '));
});

test('python3 on PATH that never answers stops the pick, naming it and the fix; the next pick asks it again', async () => {
  const venvPython = await miniVenv();
  const dir = await scriptDir({ python3: '#!/bin/sh\nexec sleep 300\n' });
  const fake = path.join(dir, 'python3');
  const err = await withProbeTimeout(300, () => expectError(pickInterpreter({ python: '>=3.9', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_PROBE_TIMEOUT'));
  // It was: /usr/bin/python3 picked in its place, unsaid, the app run on another Python.
  assert.is(err.message, `python: python3 (${fake}) did not say what Python it is: no answer within 0.3s, nor within 0.9s on a second try; python3 on PATH runs the app whenever it satisfies python: ">=3.9", so no other interpreter is picked in its place`);
  assert.is(err.hint, `run \`${fake} -E -c "import os, site, sys; ..."\` to see what holds it up (a pyenv shim's bash on a loaded host, a mount or a lock that does not answer), then try again; or name the interpreter in the environment file (\`python: /path/to/python3\`): then it alone is asked`);
  // A timeout is the load of the moment, not an answer: kept, it failed a gateway's every later start of the app.
  await writeFile(fake, `#!/bin/sh\nexec ${venvPython} "$@"\n`);
  const picked = await withProbeTimeout(300, () => pickInterpreter({ python: '>=3.9', deb: [] }, { pathEnv: dir }));
  assert.is(picked.executable, venvPython);
});

test('a python3.N that never answers stops the pick when it may be newer than the one picked; not when python: leaves its series out', async () => {
  const dir = await scriptDir({ 'python3.98': '#!/bin/sh\nexec sleep 300\n' });
  const fake = path.join(dir, 'python3.98');
  const err = await withProbeTimeout(300, () => expectError(pickInterpreter({ python: '>=3', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_PROBE_TIMEOUT'));
  assert.match(err.message, `python: python3.98 (${fake}) did not say what Python it is: no answer within 0.3s, nor within 0.9s on a second try; it may be a newer Python that satisfies python: ">=3" than `);
  assert.match(err.message, /, the newest that answered, so no other interpreter is picked in its place$/);
  const picked = await withProbeTimeout(300, () => pickInterpreter({ python: '<3.98', deb: [] }, { pathEnv: dir }));
  assert.not.ok(picked.names.includes('python3.98'), formatInterpreter(picked));
});

test("the environment file's python that never answers is said so at its key, with the fix there", async () => {
  const dir = await scriptDir({ python3: '#!/bin/sh\nexec sleep 300\n' });
  const fake = path.join(dir, 'python3');
  const at = { file: '/etc/apppkg/environment.yaml', line: 2, column: 11, key: 'defaults.python' };
  const err = await withProbeTimeout(300, () => expectError(pickInterpreter({ python: null, deb: [] }, { override: fake, overrideAt: at }), 'APPPKG_PY_PROBE_TIMEOUT'));
  // It was APPPKG_PY_NOT_EXECUTABLE, "cannot be run", whose fix was to install it where the app's user can run it.
  assert.is(err.message, `defaults.python: interpreter ${fake} did not say what Python it is: no answer within 0.3s, nor within 0.9s on a second try`);
  assert.match(err.hint, 'or set defaults.python in the environment file to another interpreter, or remove it to let the gateway pick one');
  assert.is(err.details.file, at.file);
});

test('check says it on its python line, with the fix, and fails (exit 1)', async () => {
  const dir = await scriptDir({ python3: '#!/bin/sh\nexec sleep 300\n' });
  const state = tempDir('apppkg-interp-state-');
  try {
    const r = await runCli(['check', path.join(EXAMPLES, 'hello'), '--state-dir', state.path], {
      env: { PATH: `${dir}:${pathWithoutPyenvShims()}`, [PROBE_TIMEOUT_KNOB]: '300' },
    });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `FAIL  python `);
    assert.match(r.stdout, `python3 (${path.join(dir, 'python3')}) did not say what Python it is: no answer within 0.3s, nor within 0.9s on a second try`);
    assert.match(r.stdout, /\n +fix: run `.*` to see what holds it up/);
  } finally {
    state.remove();
  }
});

test("install says it as the host's, not at app.yaml's python: line, and fails (exit 1)", async () => {
  const dir = await scriptDir({ python3: '#!/bin/sh\nexec sleep 300\n' });
  const state = tempDir('apppkg-interp-state-');
  const app = tempDir('apppkg-interp-app-');
  try {
    writeFileSync(path.join(app.path, 'app.yaml'), 'name: slowpick\nplatform: python, wsgi\napp: wsgi:application\npython: ">=3"\n');
    writeFileSync(path.join(app.path, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    const r = await runCli(['install', app.path, '--state-dir', state.path], {
      env: { PATH: `${dir}:${pathWithoutPyenvShims()}`, [PROBE_TIMEOUT_KNOB]: '300' },
    });
    const said = r.stdout + r.stderr;
    assert.is(r.status, 1, said);
    assert.match(said, `FAIL  python: python3 (${path.join(dir, 'python3')}) did not say what Python it is`);
    assert.not.match(said, 'app.yaml:');
  } finally {
    app.remove();
    state.remove();
  }
});

test('pyenv shims of versions not enabled, failing alike, are one line naming them; a real candidate keeps its own reason', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
  temps.push(dir);
  // What pyenv's shim does for a version not enabled: its name in the message, status 127.
  const shims = ['python3.7', 'python3.8', 'python3.9'];
  for (const name of shims) {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\necho "pyenv: ${name}: command not found" >&2\necho >&2\necho "The \\\`${name}' command exists in these Python versions:" >&2\nexit 127\n`);
    await chmod(file, 0o755);
  }
  const fake = path.join(dir, 'python3.14');
  await writeFile(fake, '#!/bin/sh\necho "Python 3.14.0"\n');
  await chmod(fake, 0o755);
  const err = await expectError(pickInterpreter({ python: '>=3.14', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, `python3.7, python3.8, python3.9 (all in ${dir}): cannot be run, each: pyenv: <name>: command not found`);
  assert.is(err.message.split('pyenv:').length - 1, 1, `one line for the shims: ${err.message}`);
  assert.match(err.message, `python3.14 (${fake}): cannot be run: unexpected output: Python 3.14.0`);
});

test('the candidates are listed by version, numerically: python3.6 before python3.10', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
  temps.push(dir);
  // Failing alike, they are named on one line, in the order discovery found them.
  for (const name of ['python3.10', 'python3.6', 'python3.9', 'python3.12']) {
    const file = path.join(dir, name);
    await writeFile(file, `#!/bin/sh\necho "pyenv: ${name}: command not found" >&2\nexit 127\n`);
    await chmod(file, 0o755);
  }
  const err = await expectError(pickInterpreter({ python: '>=3.14', deb: [] }, { pathEnv: dir }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, `python3.6, python3.9, python3.10, python3.12 (all in ${dir}): cannot be run, each: pyenv: <name>: command not found`);
});

// SPEC 1.3: `python:` picks among the interpreters the host has. pyenv installs each version
// under PYENV_ROOT/versions/V/bin, and its shim of a version not enabled (`pyenv global`) fails
// ("pyenv: python3.12: command not found"): a host with 3.12 installed refused python: ">=3.12".
runIf(test, system === null || onPath.version !== system.version, 'needs a python3 on PATH of another version than the system one')(
  'a pyenv version not enabled is found under PYENV_ROOT/versions behind its failing shim, and the shim is not said to fail',
  async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'apppkg-pyenv-'));
    temps.push(root);
    const name = `python${major}.${minor}`;
    await mkdir(path.join(root, 'shims'));
    const shim = path.join(root, 'shims', name);
    await writeFile(shim, `#!/bin/sh\necho "pyenv: ${name}: command not found" >&2\nexit 127\n`);
    await chmod(shim, 0o755);
    await mkdir(path.join(root, 'versions', onPath.version, 'bin'), { recursive: true });
    await symlink(realpathSync(onPath.executable), path.join(root, 'versions', onPath.version, 'bin', name));
    const picked = await pickInterpreter({ python: `==${onPath.version}`, deb: [] }, { pathEnv: path.join(root, 'shims') });
    assert.is(picked.version, onPath.version);
    assert.is(realpathSync(picked.executable), realpathSync(onPath.executable));
    const err = await expectError(pickInterpreter({ python: '>=99', deb: [] }, { pathEnv: path.join(root, 'shims') }), 'APPPKG_PY_NO_INTERPRETER');
    assert.match(err.message, `${name} ${onPath.version}`);
    assert.not.match(err.message, 'command not found', 'the shim of a version found is no failure');
  },
);

test("pyenv's shim of a python3.N one of its versions has is not run (the version's binary answers for it); one no version has still is, and is named", async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'apppkg-pyenv-'));
  temps.push(root);
  const ran = path.join(root, 'shims-run');
  const name = `python${major}.${minor}`;
  await mkdir(path.join(root, 'shims'));
  // Each a bash run of pyenv's where it is real (~0.5 s of CPU): a host has one per series.
  for (const shim of [name, 'python3.99']) {
    await writeFile(path.join(root, 'shims', shim), `#!/bin/sh\necho ${shim} >> ${ran}\necho "pyenv: ${shim}: command not found" >&2\nexit 127\n`, { mode: 0o755 });
  }
  await mkdir(path.join(root, 'versions', onPath.version, 'bin'), { recursive: true });
  await symlink(realpathSync(onPath.executable), path.join(root, 'versions', onPath.version, 'bin', name));
  const err = await expectError(pickInterpreter({ python: '>=99', deb: [] }, { pathEnv: path.join(root, 'shims') }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, `${name} ${onPath.version}`);
  assert.match(err.message, `python3.99 (${path.join(root, 'shims', 'python3.99')}): cannot be run: pyenv: python3.99: command not found`);
  assert.equal((await readFile(ran, 'utf8')).trim().split('\n'), ['python3.99'], 'the shims run');
});

runIf(test, system !== null && onPath.version !== system.version, `needs ${SYSTEM_PYTHON} and a python3 on PATH of another version`)(
  'with deb packages, an interpreter that satisfies the specifier but is not the system one is said to be not eligible',
  async () => {
    if (!system) return;
    const err = await expectError(pickInterpreter({ python: `==${onPath.version}`, deb: ['python3-flask'] }), 'APPPKG_PY_NO_INTERPRETER');
    const [found, notEligible] = err.message.split('; not eligible because of deb: ');
    assert.match(found, `the system interpreter does not satisfy "==${onPath.version}"`);
    assert.match(found, `found ${SYSTEM_PYTHON} ${system.version}`);
    assert.not.match(found, `python3 ${onPath.version}`);
    assert.match(notEligible ?? '', `python3 ${onPath.version} (${onPath.executable})`);
  },
);

ifSystem('an override wins over discovery, and must still satisfy the specifier', async () => {
  if (!system) return;
  const picked = await pickInterpreter({ python: '>=3.9', deb: [] }, { override: SYSTEM_PYTHON });
  assert.is(picked.executable, SYSTEM_PYTHON);
  const err = await expectError(pickInterpreter({ python: '>=4', deb: [] }, { override: SYSTEM_PYTHON }), 'APPPKG_PY_NO_INTERPRETER');
  assert.match(err.message, `${SYSTEM_PYTHON} ${system.version}`);
});

runIf(test, system !== null && realpathSync(onPath.executable) !== realpathSync(SYSTEM_PYTHON), `needs ${SYSTEM_PYTHON} and another python3 on PATH`)(
  'an app with deb packages runs on the system interpreter whatever the environment file names (SPEC 1.3)',
  async () => {
    const picked = await pickInterpreter({ python: null, deb: ['python3-flask'] }, { override: onPath.executable });
    assert.is(picked.executable, SYSTEM_PYTHON, 'the deb packages are importable there only');
    // Without deb packages the override is the host's word.
    assert.is(realpathSync((await pickInterpreter({ python: null, deb: [] }, { override: onPath.executable })).executable), realpathSync(onPath.executable));
    // The system interpreter named by another of its names is the system interpreter.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
    temps.push(dir);
    const link = path.join(dir, 'py-system');
    await symlink(SYSTEM_PYTHON, link);
    assert.is(realpathSync((await pickInterpreter({ python: null, deb: ['python3-flask'] }, { override: link })).executable), realpathSync(SYSTEM_PYTHON));
  },
);

// The probe run in a Python that then asks json and platform what they would have said, and
// which of them (or re, which both load) the probe itself loaded.
const PROBE_JUDGED = String.raw`
import io, sys
answer, sys.stdout = sys.stdout, io.StringIO()
exec(compile(sys.argv[1], '<probe>', 'exec'), {'__name__': '__main__'})
said, sys.stdout = sys.stdout.getvalue(), answer
loaded = [name for name in ('json', 'platform', 're') if name in sys.modules]
import json, platform
print(json.dumps({'loaded': loaded, 'said': said, 'json': json.dumps(json.loads(said)) + '\n', 'markers': {
    'platform_machine': platform.machine(), 'platform_python_implementation': platform.python_implementation(),
    'platform_release': platform.release(), 'platform_system': platform.system(), 'platform_version': platform.version(),
    'python_full_version': platform.python_version()}}))
`;

test('the probe answers what json and platform would write, loading neither (nor re) to say it', () => {
  // python3 on PATH by the file it runs: through a pyenv shim each of the two runs would add a
  // bash pyenv's (~0.5 s of CPU) to the same interpreter's answer.
  for (const python of [onPath.executable, ...(hasSystem ? [SYSTEM_PYTHON] : [])]) {
    // What the interpreter loads by itself (a .pth file of the host's may load re).
    const own = new Set(execFileSync(python, ['-E', '-c', 'import sys; print("\\n".join(sys.modules))'], { encoding: 'utf8', timeout: 10_000 }).split('\n'));
    const judged = JSON.parse(execFileSync(python, ['-E', '-c', PROBE_JUDGED, PROBE], { encoding: 'utf8', timeout: 10_000 })) as {
      loaded: string[];
      said: string;
      json: string;
      markers: Record<string, string>;
    };
    assert.is(judged.said, judged.json, `${python}: the probe's line is json.dumps's, to the byte`);
    const markers = (JSON.parse(judged.said) as { markers: Record<string, string> }).markers;
    for (const [name, value] of Object.entries(judged.markers)) assert.is(markers[name], value, `${python}: ${name}`);
    assert.equal(judged.loaded.filter((name) => !own.has(name)), [], `${python}: loaded by the probe`);
  }
});

test('a bogus override fails with APPPKG_PY_NOT_EXECUTABLE', async () => {
  const missing = await expectError(pickInterpreter({ python: null, deb: [] }, { override: '/nonexistent/bin/python3' }), 'APPPKG_PY_NOT_EXECUTABLE');
  assert.match(missing.message, '/nonexistent/bin/python3');
  assert.match(missing.message, 'no such file');
  // Runs, but is no Python.
  await expectError(pickInterpreter({ python: null, deb: [] }, { override: '/bin/false' }), 'APPPKG_PY_NOT_EXECUTABLE');
});

test('an override that runs but is no Python (/bin/sh, /bin/true) is said to be none, not by what it made of Python code', async () => {
  const at = { file: '/etc/apppkg/environment.yaml', line: 1, column: 9, key: 'python' };
  const sh = await expectError(pickInterpreter({ python: null, deb: [] }, { override: '/bin/sh', overrideAt: at }), 'APPPKG_PY_NOT_EXECUTABLE');
  assert.match(sh.message, /^python: \/bin\/sh is not a Python interpreter \(it could not run `\/bin\/sh -E -c "import os, site, sys; \.\.\."`: .*import: not found\)$/);
  assert.is(sh.hint, 'set python in the environment file to a Python 3 interpreter (e.g. /usr/bin/python3; `command -v python3` prints the one on PATH), or remove it to let the gateway pick one');
  const silent = await expectError(pickInterpreter({ python: null, deb: [] }, { override: '/bin/true' }), 'APPPKG_PY_NOT_EXECUTABLE');
  assert.match(silent.message, '/bin/true is not a Python interpreter (it could not run `/bin/true -E -c "import os, site, sys; ..."`: unexpected output: (none))');
});

runIf(test, system !== null && realpathSync(onPath.executable) !== realpathSync(SYSTEM_PYTHON), `needs ${SYSTEM_PYTHON} and another python3 on PATH`)('without python3 on PATH: the highest satisfying python3.N', async () => {
  // PATH = one directory holding `python3.11` -> the PATH python (pyenv here); /usr/bin is
  // searched too, so both interpreters are candidates and neither is "python3 on PATH".
  if (!system || realpathSync(onPath.executable) === realpathSync(SYSTEM_PYTHON)) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'apppkg-interp-'));
  temps.push(dir);
  const minor = onPath.version.split('.').slice(0, 2).join('.');
  await symlink(realpathSync(onPath.executable), path.join(dir, `python${minor}`));
  const all = await discoverInterpreters({ pathEnv: dir });
  assert.not.ok(all.some((i) => i.names.includes('python3')), all.map(formatInterpreter).join(', '));
  const highest = [onPath, system].sort((a, b) => rcompare(a.version, b.version))[0];
  const picked = await pickInterpreter({ python: '>=3', deb: [] }, { pathEnv: dir });
  assert.is(picked.version, highest.version);
});

test.run();
