// The interpreter probe cache and the lazy pick (issue 11, "the front's own cost"): a gateway's
// second start asks no interpreter what it is, unless what the answer depends on changed (for a
// pyenv shim: its version files and PYENV_* variables); another script is always asked;
// a pick probes only the candidate its rule names first.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { isGatewayError } from '../../src/errors.js';
import { clearInterpreterCache, probeInterpreter } from '../../src/environment/interpreter-discovery.js';
import { pickInterpreter } from '../../src/environment/interpreters.js';
import { setProbeCacheDir } from '../../src/environment/probe-cache.js';

/** A binary Python (not a script), whatever this host has: sys.executable resolved. */
function binaryPython(): string | null {
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      const exe = realpathSync(execFileSync(python, ['-E', '-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 10_000 }).trim());
      if (readFileSync(exe).subarray(0, 2).toString('latin1') !== '#!') return exe;
    } catch {
      // try the next
    }
  }
  return null;
}

const REAL = binaryPython();
const test = suite('interpreter probe cache');
const ifPython = runIf(test, REAL !== null, 'needs a binary python3');
const work = tempDir('apppkg-probe-cache-');
const cacheDir = path.join(work.path, 'state', 'cache');
const cacheFile = path.join(cacheDir, 'interpreters.json');

interface CacheFileShape {
  entries: Record<string, { result: { version: string; prefix: string } }>;
}
const readCache = (): CacheFileShape => JSON.parse(readFileSync(cacheFile, 'utf8')) as CacheFileShape;

/** Rewrites a cached answer's version: a probe that returns it came from the file, not from Python. */
function forgeVersion(command: string, version: string): void {
  const data = readCache();
  data.entries[command].result.version = version;
  writeFileSync(cacheFile, JSON.stringify(data));
}

test.before.each(() => {
  clearInterpreterCache();
  setProbeCacheDir(cacheDir);
});
test.after(() => {
  setProbeCacheDir(null);
  clearInterpreterCache();
  work.remove();
});

ifPython('an answer is kept under the state root and reused by the next process (no probe)', async () => {
  const bin = path.join(work.path, 'plain', 'bin');
  mkdirSync(bin, { recursive: true });
  const python = path.join(bin, 'python3');
  symlinkSync(REAL!, python);
  const first = await probeInterpreter(python);
  assert.ok(existsSync(cacheFile), 'the cache file is written');
  assert.is(readCache().entries[python].result.version, first.version);
  forgeVersion(python, '3.99.0');
  clearInterpreterCache(); // as a new process would start
  assert.is((await probeInterpreter(python)).version, '3.99.0', 'the second answer came from the cache');
});

ifPython('a pyvenv.cfg appearing beside it is a change: probed again (it is a virtualenv now)', async () => {
  const root = path.join(work.path, 'venv-to-be');
  const bin = path.join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  const python = path.join(bin, 'python3');
  symlinkSync(REAL!, python);
  const before = await probeInterpreter(python);
  assert.not.ok(before.isVenv);
  forgeVersion(python, '3.99.0');
  writeFileSync(path.join(root, 'pyvenv.cfg'), `home = ${path.dirname(REAL!)}\ninclude-system-site-packages = false\n`);
  clearInterpreterCache();
  const after = await probeInterpreter(python);
  assert.is(after.version, before.version, 'asked Python again');
  assert.ok(after.isVenv, `prefix ${after.prefix}`);
  assert.is(realpathSync(after.prefix), realpathSync(root));
});

ifPython('a binary replaced (another mtime) is probed again', async () => {
  const dir = path.join(work.path, 'copied');
  mkdirSync(dir, { recursive: true });
  const python = path.join(dir, 'python3');
  copyFileSync(REAL!, python);
  chmodSync(python, 0o755);
  const real = await probeInterpreter(python);
  forgeVersion(python, '3.99.0');
  const later = new Date(Date.now() + 60_000);
  utimesSync(python, later, later);
  clearInterpreterCache();
  assert.is((await probeInterpreter(python)).version, real.version);
});

ifPython('any other script (a wrapper) is never cached: what it runs may change without it', async () => {
  const dir = path.join(work.path, 'shim');
  mkdirSync(dir, { recursive: true });
  const shim = path.join(dir, 'python3');
  writeFileSync(shim, `#!/bin/sh\nexec ${JSON.stringify(REAL!)} "$@"\n`, { mode: 0o755 });
  const answer = await probeInterpreter(shim);
  assert.ok(answer.version);
  const entries = existsSync(cacheFile) ? readCache().entries : {};
  assert.not.ok(Object.hasOwn(entries, shim), 'no entry for the script');
});

/** A pyenv install in miniature: its shim (pyenv's own template), and a `pyenv` that counts its runs. */
function fakePyenv(name: string): { shim: string; root: string; runs: () => number } {
  const root = path.join(work.path, name);
  mkdirSync(path.join(root, 'shims'), { recursive: true });
  mkdirSync(path.join(root, 'libexec'), { recursive: true });
  mkdirSync(path.join(root, 'versions'), { recursive: true });
  writeFileSync(path.join(root, 'version'), '3.11.7\n');
  const log = path.join(root, 'runs');
  writeFileSync(path.join(root, 'libexec', 'pyenv'), `#!/bin/sh\necho run >> ${JSON.stringify(log)}\nshift 2\nexec ${JSON.stringify(REAL!)} "$@"\n`, { mode: 0o755 });
  const shim = path.join(root, 'shims', 'python3');
  writeFileSync(
    shim,
    `#!/usr/bin/env bash\nset -e\nprogram="\${0##*/}"\n\nexport PYENV_ROOT="${root}"\nexec "${root}/libexec/pyenv" exec "$program" "$@"\n`,
    { mode: 0o755 },
  );
  return { shim, root, runs: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').length - 1 : 0) };
}

ifPython('a pyenv shim is cached while its version files and PYENV_* variables stay as they were', async () => {
  const { shim, root, runs } = fakePyenv('pyenv');
  const savedDir = process.env.PYENV_DIR;
  const dir = path.join(work.path, 'pyenv-project');
  mkdirSync(dir, { recursive: true });
  const ask = async (): Promise<void> => {
    clearInterpreterCache(); // as a new gateway process would start
    await probeInterpreter(shim);
  };
  try {
    process.env.PYENV_DIR = dir;
    await ask();
    assert.is(runs(), 1);
    await ask();
    assert.is(runs(), 1, 'the second start asked nothing');
    const later = new Date(Date.now() + 60_000);
    writeFileSync(path.join(root, 'version'), '3.12.0\n');
    utimesSync(path.join(root, 'version'), later, later);
    await ask();
    assert.is(runs(), 2, '`pyenv global` changed: asked again');
    writeFileSync(path.join(dir, '.python-version'), '3.11.7\n');
    await ask();
    assert.is(runs(), 3, 'a .python-version appeared where pyenv looks: asked again');
    process.env.PYENV_VERSION = 'system';
    await ask();
    assert.is(runs(), 4, 'PYENV_VERSION set: asked again');
    await ask();
    assert.is(runs(), 4);
  } finally {
    delete process.env.PYENV_VERSION;
    if (savedDir === undefined) delete process.env.PYENV_DIR;
    else process.env.PYENV_DIR = savedDir;
  }
});

ifPython('a pick probes python3 on PATH alone when it fits; the others only when it does not', async () => {
  const dir = path.join(work.path, 'path-dir');
  mkdirSync(dir, { recursive: true });
  symlinkSync(REAL!, path.join(dir, 'python3'));
  // Another candidate that leaves a mark when it is run.
  const marker = path.join(work.path, 'python3.98-ran');
  writeFileSync(path.join(dir, 'python3.98'), `#!/bin/sh\ntouch ${JSON.stringify(marker)}\nexec ${JSON.stringify(REAL!)} "$@"\n`, { mode: 0o755 });
  setProbeCacheDir(null);
  const picked = await pickInterpreter({ python: '>=3', deb: [] }, { pathEnv: dir });
  assert.ok(picked.names.includes('python3'), picked.names.join(', '));
  assert.not.ok(existsSync(marker), 'python3.98 was not run');
  try {
    await pickInterpreter({ python: '>=3.98', deb: [] }, { pathEnv: dir });
    assert.unreachable('no interpreter is 3.98');
  } catch (err) {
    assert.ok(isGatewayError(err) && err.code === 'APPPKG_PY_NO_INTERPRETER', String(err));
  }
  assert.ok(existsSync(marker), 'with python3 not fitting, every candidate was asked');
});

test.run();
