// Wheels and apps for the `vendor` tests (issue 19). No package index: each wheel is built from
// its source tree in test/fixtures/vendor/ (copied to a temp dir first, since setuptools writes
// build/ and *.egg-info beside the sources) by Debian's python3 with setuptools, gcc and
// python3-dev (scripts/test.mjs installs them). Holds no tests itself.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipCommandArgs } from '../../src/lifecycle/pip-command.js';
import { FIXTURES } from '../helpers/process.js';

/** The interpreter that builds the wheels: Debian's, where python3-setuptools and python3-wheel live. */
export const BUILD_PYTHON = '/usr/bin/python3';

function pythonSays(python: string, code: string): string | null {
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Debian's python3 can build pure wheels: pip, setuptools and wheel importable. */
export const canBuildWheels = pythonSays(BUILD_PYTHON, 'import setuptools, wheel, pip; print("yes")') === 'yes';

/** ... and compiled ones: a C compiler and Python.h. */
export const canBuildExtensions =
  canBuildWheels &&
  spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status === 0 &&
  pythonSays(BUILD_PYTHON, 'import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))') === 'True';

export const BUILD_REASON = `${BUILD_PYTHON} cannot build wheels (needs python3-pip, python3-setuptools, python3-wheel: scripts/test.mjs installs them as root)`;
export const EXTENSION_REASON = `${BUILD_PYTHON} cannot build a C extension (needs gcc and python3-dev: scripts/test.mjs installs them as root)`;

export type WheelSource = 'demo-greeting' | 'demo-tools' | 'demo-words' | 'demo-speedup';

/** Builds the wheels of `sources` into `out` (one pip run); `env` reaches setup.py (DEMO_WORDS_VERSION). */
export function buildWheels(out: string, sources: WheelSource[], env: Record<string, string> = {}): void {
  const stage = mkdtempSync(join(tmpdir(), 'apppkg-vendor-src-'));
  try {
    const dirs = sources.map((s) => {
      const dir = join(stage, s);
      cpSync(join(FIXTURES, 'vendor', s), dir, { recursive: true });
      return dir;
    });
    // Run as vendor runs pip: its user agent (lsb_release, rustc, a scan of sys.path) is not made for a build that sends no request.
    const r = spawnSync(BUILD_PYTHON, pipCommandArgs(['wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', out, ...dirs]), {
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_ROOT_USER_ACTION: 'ignore' },
    });
    if (r.status !== 0) throw new Error(`building wheels ${sources.join(', ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Every file under `dir` (relative, sorted) with its sha256 and mode: a tree's identity. Python's caches are not part of it. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = statSync(path);
      if (st.isDirectory()) {
        if (name !== '__pycache__') walk(path, rel);
      }
      else out[rel] = `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${(st.mode & 0o777).toString(8)}`;
    }
  };
  walk(dir, '');
  return out;
}

/** Every file under `dir`, relative, whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  return Object.keys(treeDigest(dir)).filter((rel) => readFileSync(join(dir, rel)).includes(needle));
}

/** A python3.N other than `than`'s minor version, >= 3.9, that this host can run; null when none. */
export function anotherPython(thanVersion: string): string | null {
  const minor = thanVersion.split('.').slice(0, 2).join('.');
  const candidates: string[] = [];
  for (const dir of ['/usr/bin', '/usr/local/bin']) {
    try {
      for (const name of readdirSync(dir)) if (/^python3\.\d+$/.test(name)) candidates.push(join(dir, name));
    } catch {
      // not there
    }
  }
  const pyenv = join(process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv'), 'versions');
  try {
    for (const v of readdirSync(pyenv).sort()) candidates.push(join(pyenv, v, 'bin', 'python3'));
  } catch {
    // no pyenv
  }
  for (const python of candidates) {
    const version = pythonSays(python, 'import sys; print("%d.%d" % sys.version_info[:2])');
    if (version && version !== minor && Number(version.split('.')[1]) >= 9 && version.startsWith('3.')) return python;
  }
  return null;
}

/** "3.11" of `python`. */
export function pythonVersion(python: string): string {
  return pythonSays(python, 'import sys; print("%d.%d" % sys.version_info[:2])') ?? '';
}

/** A WSGI app `name` under `parent` with these requirements and `paths: [vendor/]`, not vendored yet. */
export function appToVendor(parent: string, name: string, requirements: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  writeFileSync(join(dir, 'requirements.txt'), requirements);
  return dir;
}
