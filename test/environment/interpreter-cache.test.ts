// The interpreter probe cache and the lazy pick (issue 11, "the front's own cost"): a gateway's
// second start asks no interpreter what it is, unless what the answer depends on changed (for a
// pyenv shim: its version files and PYENV_* variables); another script is always asked;
// a pick probes only the candidate its rule names first. The commands use the state root's
// cache too: install writes it, check and describe only read it.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EXAMPLES, pathWithoutPyenvShims, runCli, tempDir } from '../helpers/process.js';
import { coldStateDir } from '../helpers/warm-state.js';
import { isRoot, runIf } from '../helpers/skip.js';
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
const ifRootPython = runIf(test, REAL !== null && isRoot, 'needs root (to give the cache file to another user) and a binary python3');
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

/** python3 at `name`/bin/python3 (a link to the binary), its answer cached, then forged to 3.99.0 in the file. */
async function forgedAnswer(name: string): Promise<{ python: string; real: string }> {
  const bin = path.join(work.path, name, 'bin');
  mkdirSync(bin, { recursive: true });
  const python = path.join(bin, 'python3');
  symlinkSync(REAL!, python);
  const real = (await probeInterpreter(python)).version;
  forgeVersion(python, '3.99.0');
  clearInterpreterCache();
  return { python, real };
}

ifPython('a cache file writable by all is not read: its answers would choose what runs; our own, as written, is', async () => {
  const { python, real } = await forgedAnswer('untrusted');
  chmodSync(cacheFile, 0o666);
  assert.is((await probeInterpreter(python)).version, real, 'a file writable by all was read');
  forgeVersion(python, '3.99.0');
  chmodSync(cacheFile, 0o644);
  clearInterpreterCache();
  assert.is((await probeInterpreter(python)).version, '3.99.0', 'our own file, as written, is read');
});

ifRootPython("a cache file of another user's is not read; root's is", async () => {
  const { python, real } = await forgedAnswer('foreign');
  chownSync(cacheFile, 65534, 65534);
  assert.is((await probeInterpreter(python)).version, real, "a file of another user's was read");
  forgeVersion(python, '3.99.0');
  chownSync(cacheFile, 0, 0);
  clearInterpreterCache();
  assert.is((await probeInterpreter(python)).version, '3.99.0', "root's file is read");
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

/** The CLI with `shim` as python3 on PATH, pyenv's own shims left out, and pyenv looking for `.python-version` in `pyenvDir`. */
function cliWithShim(shim: string, pyenvDir: string): (args: string[]) => ReturnType<typeof runCli> {
  const env = { PATH: `${path.dirname(shim)}:${pathWithoutPyenvShims()}`, PYENV_DIR: pyenvDir };
  return (args) => runCli(args, { env, ms: 120_000 });
}

ifPython('install keeps the answers in the state root: a second install, and a check, run the pyenv shim no more', async () => {
  // Each install and check probed every interpreter afresh: ~0.5 s of pyenv's bash per run.
  const { shim, runs } = fakePyenv('pyenv-install');
  const cli = cliWithShim(shim, work.path);
  const root = coldStateDir('apppkg-probe-cache-install-');
  try {
    const app = path.join(EXAMPLES, 'hello');
    const S = ['--state-dir', root.path];
    const first = await cli(['install', app, ...S]);
    assert.is(first.status, 0, first.stdout + first.stderr);
    assert.is(runs(), 1, 'the first install asked the shim');
    const cache = path.join(root.path, 'cache', 'interpreters.json');
    assert.ok(Object.hasOwn(JSON.parse(readFileSync(cache, 'utf8')).entries, shim), 'the shim\'s answer is kept');
    const second = await cli(['install', app, ...S]);
    assert.is(second.status, 0, second.stdout + second.stderr);
    assert.is(runs(), 1, 'the second install asked the shim again');
    const written = readFileSync(cache, 'utf8');
    const checked = await cli(['check', app, ...S]);
    assert.is(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /^ok {4}python +python3 3\.\d+/m);
    assert.is(runs(), 1, 'check asked the shim again');
    assert.is(readFileSync(cache, 'utf8'), written);
  } finally {
    root.remove();
  }
});

ifPython('check and describe --sys-path read the cache and never write it: no root made, a stale entry asked afresh and left as it was', async () => {
  const { shim, root: pyenvRoot, runs } = fakePyenv('pyenv-check');
  const cli = cliWithShim(shim, work.path);
  const cold = coldStateDir('apppkg-probe-cache-check-');
  try {
    const app = path.join(EXAMPLES, 'hello');
    const state = path.join(cold.path, 'state');
    const S = ['--state-dir', state];
    for (const args of [['check', app, ...S], ['describe', app, ...S, '--sys-path']]) {
      const r = await cli(args);
      assert.is(r.status, 0, r.stdout + r.stderr);
      assert.not.ok(existsSync(state), `${args[0]} made ${state}`);
    }
    assert.is(runs(), 2, 'without a cache, each asked the shim');
    const installed = await cli(['install', app, ...S]);
    assert.is(installed.status, 0, installed.stdout + installed.stderr);
    assert.is(runs(), 3);
    const cache = path.join(state, 'cache', 'interpreters.json');
    const written = readFileSync(cache, 'utf8');
    const mtime = statSync(cache).mtimeMs;
    const described = await cli(['describe', app, ...S, '--sys-path']);
    assert.is(described.status, 0, described.stderr);
    assert.is(runs(), 3, 'describe --sys-path took the answer from the cache');
    // `pyenv global` changed: the entry is stale; check asks again, and leaves the file to install.
    const later = new Date(Date.now() + 60_000);
    writeFileSync(path.join(pyenvRoot, 'version'), '3.12.0\n');
    utimesSync(path.join(pyenvRoot, 'version'), later, later);
    const checked = await cli(['check', app, ...S]);
    assert.is(checked.status, 0, checked.stdout + checked.stderr);
    assert.is(runs(), 4, 'check asked the shim, its entry being stale');
    assert.is(readFileSync(cache, 'utf8'), written, 'check wrote the cache');
    assert.is(statSync(cache).mtimeMs, mtime);
    const again = await cli(['install', app, ...S]);
    assert.is(again.status, 0, again.stdout + again.stderr);
    assert.is(runs(), 5);
    assert.is.not(readFileSync(cache, 'utf8'), written, 'install renewed the stale entry');
    const after = await cli(['check', app, ...S]);
    assert.is(after.status, 0, after.stdout + after.stderr);
    assert.is(runs(), 5, 'check took the renewed entry');
  } finally {
    cold.remove();
  }
});

test.run();
