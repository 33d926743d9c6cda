// The venv seed (lifecycle/venv-seed.ts): a venv's pip is copied from one made per interpreter
// in the state root's cache, not pip-installed by ensurepip each time. Real CLI, real venv,
// real pip installing a local wheel through the seeded venv's own `pip` script.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Interpreter } from '../../src/environment/interpreter-probe.js';
import { seedKey } from '../../src/lifecycle/venv-seed.js';
import { runCli, tempDir } from '../helpers/process.js';
import { coldStateDir } from '../helpers/warm-state.js';
import { hostPython, makeWheel, wheelApp } from './lifecycle-apps.js';

const test = suite('lifecycle: venv seed');
const work = tempDir('apppkg-seed-work-');
const state = coldStateDir('apppkg-seed-state-');
test.after(() => {
  work.remove();
  state.remove();
});

const S = ['--state-dir', state.path];
const seeds = () => join(state.path, 'cache', 'venv-seeds');

const pipApp = (name: string): string => wheelApp(work.path, name);

// Three installs at once on a fresh seed directory, as the test run's processes share one: each
// that looked before the first rename made a seed of its own, and one that looked just before
// another's rename removed it as a part while a third copied from it (that one then made its
// venv in full). Under the seeds' lock one makes it and the others wait for it.
test('the first installs on a fresh root, three at once: one makes the seed, the others wait for it and take pip from it (none makes a venv in full), and that pip installs', async () => {
  mkdirSync(seeds(), { recursive: true });
  const makings = new Set<string>();
  const watcher = watch(seeds(), (_event, name) => {
    if (name?.startsWith('.making-')) makings.add(name);
  });
  let installs;
  try {
    installs = await Promise.all(['alpha', 'beta', 'gamma'].map((name) => runCli(['install', pipApp(name), ...S], { ms: 300_000 })));
  } finally {
    watcher.close();
  }
  for (const r of installs) {
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /==> venv created in \d+\.\d s \(pip from the seed\)/, r.stdout);
    assert.match(r.stdout, /Successfully installed thepkg-1\.0/);
  }
  assert.is(installs.filter((r) => /==> venv seed made in \d+\.\d s/.test(r.stdout)).length, 1, 'one of them made the seed');
  assert.is(makings.size, 1, `one seed made for the three: ${[...makings].join(' ')}`);
  assert.equal(readdirSync(seeds()).filter((name) => name !== '.lock').length, 1, 'one seed, no .making- directory left');

  // The venv's own pip script, its #! line now naming beta's python, not the seed's.
  const beta = join(work.path, 'beta');
  const version = await runCli(['run', beta, ...S, '--', 'pip', '--version'], { ms: 60_000 });
  assert.is(version.status, 0, version.stdout + version.stderr);
  assert.match(version.stdout, new RegExp(`^pip \\S+ from ${join(state.path, 'apps', 'beta')}/venv[^/]*/lib/`, 'm'));
  const wheels = join(work.path, 'wheels');
  mkdirSync(wheels);
  makeWheel(wheels, 'otherpkg', '2.0');
  const viaPip = await runCli(['run', beta, ...S, '--', 'pip', 'install', '--no-index', '--find-links', wheels, 'otherpkg'], { ms: 120_000 });
  assert.is(viaPip.status, 0, viaPip.stdout + viaPip.stderr);
  const imported = await runCli(['run', beta, ...S, '--', 'python', '-c', 'import otherpkg; print(otherpkg.VERSION)'], { ms: 60_000 });
  assert.is(imported.stdout.trim(), '2.0', imported.stdout + imported.stderr);
});

test('a directory under the seed’s name without its stamp (a half seed) is never used: the seed is made again', async () => {
  const [key] = readdirSync(seeds()).filter((name) => name !== '.lock');
  const half = join(seeds(), key);
  execFileSync('rm', ['-rf', half]);
  mkdirSync(join(half, 'bin'), { recursive: true });
  const r = await runCli(['install', pipApp('epsilon'), ...S], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> venv seed made in/);
  assert.match(r.stdout, /\(pip from the seed\)/);
  assert.ok(existsSync(join(half, 'apppkg-seed.json')));
  const version = await runCli(['run', join(work.path, 'epsilon'), ...S, '--', 'pip', '--version'], { ms: 60_000 });
  assert.is(version.status, 0, version.stdout + version.stderr);
});

test('the seed is made outside the app\'s directory: an app\'s venv.py does not run in the seed every app is given', async () => {
  // `-m venv` puts its working directory first on sys.path: made in the app's directory, as root
  // for an app of another user, the seed ran that app's venv.py, and what it made was given to all.
  const [key] = readdirSync(seeds()).filter((name) => name !== '.lock');
  execFileSync('rm', ['-rf', join(seeds(), key)]);
  const app = pipApp('zeta');
  const ran = join(app, 'venv-py-ran');
  writeFileSync(join(app, 'venv.py'), `import sys\nopen(${JSON.stringify(ran)}, 'a').write(sys.argv[-1] + '\\n')\n`);
  const r = await runCli(['install', app, ...S], { ms: 180_000 });
  // The app's own venv is made in its directory, by its user: its venv.py breaks that, its affair.
  assert.ok(existsSync(join(seeds(), key, 'apppkg-seed.json')), r.stdout + r.stderr);
  const targets = existsSync(ran) ? readFileSync(ran, 'utf8').split('\n').filter(Boolean) : [];
  assert.equal(targets.filter((t) => t.includes(seeds())), [], r.stdout + r.stderr);
});

test('no seed can be made (the cache is a file): the venv is made the full way, pip and all', async () => {
  const other = tempDir('apppkg-seed-state-');
  try {
    writeFileSync(join(other.path, 'cache'), 'not a directory\n');
    const app = pipApp('delta');
    const r = await runCli(['install', app, '--state-dir', other.path], { ms: 180_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /==> venv created in \d+\.\d s\n/);
    assert.not.match(r.stdout, /venv seed made|from the seed/);
    const version = await runCli(['run', app, '--state-dir', other.path, '--', 'pip', '--version'], { ms: 60_000 });
    assert.is(version.status, 0, version.stdout + version.stderr);
  } finally {
    other.remove();
  }
});

test('the seed’s key changes with the interpreter’s file, its version and --system-site-packages', async () => {
  // A venv with a copied python: a real interpreter whose file the test may touch.
  const copies = join(work.path, 'copies');
  execFileSync(hostPython(), ['-m', 'venv', '--copies', '--without-pip', copies], { timeout: 60_000 });
  const executable = join(copies, 'bin', 'python3');
  const version = execFileSync(executable, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
  const interpreter = { executable, version } as Interpreter;
  const key = await seedKey(interpreter, false);
  assert.type(key, 'string');
  assert.is(await seedKey(interpreter, false), key, 'the same interpreter, the same key');
  // Its bundled wheels read from its sys.path (the probe's), not asked of it: the same key.
  const sysPath = JSON.parse(execFileSync(executable, ['-c', 'import json, sys; print(json.dumps(sys.path[1:]))'], { encoding: 'utf8' })) as string[];
  assert.is(await seedKey({ ...interpreter, sysPath }, false), key, 'the wheels read from sys.path');
  assert.is.not(await seedKey(interpreter, true), key);
  assert.is.not(await seedKey({ ...interpreter, version: `${version}.1` }, false), key);
  utimesSync(executable, new Date(), new Date(Date.now() - 86_400_000));
  assert.is.not(await seedKey(interpreter, false), key, 'an interpreter replaced in place');
  assert.ok(readFileSync(join(copies, 'pyvenv.cfg'), 'utf8').length > 0);
});

test.run();
