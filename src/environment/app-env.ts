// What every process of an app gets (SPEC §2.1): its variables, its private directories and
// its sys.path order — app dir, each of `paths` (their .pth files processed), the virtualenv,
// then the interpreter's own. Workers get `sysPath`/`siteDirs` through the shim; any other
// command (`run APP -- CMD`, lifecycle hooks, `processes.*`) gets the same view through
// `commandEnvironment()`: a generated `python` wrapper first on PATH and a generated
// sitecustomize first on PYTHONPATH.

import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import type { Interpreter } from './interpreters.js';
import { ensureDir, prepareAppStateDirs, type Owner } from './state-root.js';

export type AppMode = 'production' | 'development';

/** The gateway's variables an app may see; everything else of the gateway's env stays out. */
const BASE_ENV_KEYS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TERM'];
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface AppEnvironmentOptions {
  stateRoot: string;
  mode: AppMode;
  /** Global + per-app `settings:` from the environment file, already merged. */
  settings: Record<string, string>;
  /** The gateway's own environment: the base (PATH, HOME, LANG, ...) and, see below, settings. */
  processEnv?: NodeJS.ProcessEnv;
  /**
   * Take required settings missing from `settings` from `processEnv` (serve/run/check: the
   * caller's shell may export DATABASE_URL). Default: true in development, false in production.
   */
  settingsFromEnv?: boolean;
  interpreter: Interpreter;
  /** Where the app's virtualenv lives; default <stateRoot>/apps/<name>/venv. */
  venvDir?: string;
  /** Chown the app's state directories to this user (apps running as another user). */
  owner?: Owner;
}

export interface AppEnvironment {
  name: string;
  appDir: string;
  interpreter: Interpreter;
  /** The program that runs the app's Python: the venv's bin/python when one is used, else the interpreter. */
  python: string;
  /** The virtualenv in use, or null (no `pip:`, or not installed yet). */
  venvDir: string | null;
  /** Prepended to the interpreter's own sys.path, in order. */
  sysPath: string[];
  /** The `paths` directories (absolute, in order) whose .pth files are processed (site.addsitedir). */
  siteDirs: string[];
  env: Record<string, string>;
  dataDir: string;
  logDir: string;
  tmpDir: string;
  /** Generated helpers for this exact configuration: bin/python, bin/python3, lib/sitecustomize.py. */
  runDir: string;
}

export interface Venv {
  dir: string;
  python: string;
  sitePackages: string;
}

async function exists(file: string, mode = fsConstants.F_OK): Promise<boolean> {
  try {
    await access(file, mode);
    return true;
  } catch {
    return false;
  }
}

async function safeRealpath(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * The virtualenv at `dir` if it exists and was made from `interpreter` (its pyvenv.cfg `home`
 * is the interpreter's directory and it has lib/pythonX.Y/site-packages); else null, so a stale
 * venv from another interpreter is never mixed with this one (`install` rebuilds it).
 */
export async function findVenv(dir: string, interpreter: Interpreter): Promise<Venv | null> {
  const python = path.join(dir, 'bin', 'python');
  if (!(await exists(python, fsConstants.X_OK))) return null;
  const lib = `${interpreter.implementation === 'pypy' ? 'pypy' : 'python'}${interpreter.markers.python_version}`;
  const sitePackages = path.join(dir, 'lib', lib, 'site-packages');
  if (!(await exists(sitePackages))) return null;
  try {
    const cfg = await readFile(path.join(dir, 'pyvenv.cfg'), 'utf8');
    const home = /^\s*home\s*=\s*(.+?)\s*$/m.exec(cfg)?.[1];
    if (home && (await safeRealpath(home)) !== (await safeRealpath(path.dirname(interpreter.executable)))) return null;
  } catch {
    return null;
  }
  return { dir, python, sitePackages };
}

/** Build (and prepare on disk) the environment of one app; APPPKG_SETTINGS_MISSING names every missing setting. */
export async function buildAppEnvironment(
  desc: Pick<Description, 'name' | 'dir' | 'paths' | 'pip' | 'settings'>,
  opts: AppEnvironmentOptions,
): Promise<AppEnvironment> {
  const processEnv = opts.processEnv ?? process.env;
  const settings = resolveSettings(desc, opts.settings, processEnv, opts.settingsFromEnv ?? opts.mode === 'development');

  const dirs = await prepareAppStateDirs(opts.stateRoot, desc.name, opts.owner);
  const appDir = desc.dir;
  const siteDirs = desc.paths.map((p) => path.resolve(appDir, p));
  const venv = desc.pip ? await findVenv(opts.venvDir ?? dirs.venv, opts.interpreter) : null;
  const sysPath = unique([appDir, ...siteDirs, ...(venv ? [venv.sitePackages] : [])]);
  const python = venv ? venv.python : opts.interpreter.executable;

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(processEnv)) {
    if (value !== undefined && (BASE_ENV_KEYS.includes(key) || key.startsWith('LC_'))) env[key] = value;
  }
  // Settings may not override what the gateway itself promises (SPEC §2.1), so ours come last.
  Object.assign(env, settings, {
    APPPKG_NAME: desc.name,
    APPPKG_APP_DIR: appDir,
    APPPKG_DATA_DIR: dirs.data,
    APPPKG_LOG_DIR: dirs.log,
    TMPDIR: dirs.tmp,
    APPPKG_ENV: opts.mode,
    PATH: [venv ? path.join(venv.dir, 'bin') : null, env.PATH || DEFAULT_PATH].filter(Boolean).join(path.delimiter),
  });
  if (venv) env.VIRTUAL_ENV = venv.dir;

  const runDir = await writeRunHelpers(dirs.run, { name: desc.name, python, sysPath, siteDirs }, opts.owner);
  return {
    name: desc.name,
    appDir,
    interpreter: opts.interpreter,
    python,
    venvDir: venv ? venv.dir : null,
    sysPath,
    siteDirs,
    env,
    dataDir: dirs.data,
    logDir: dirs.log,
    tmpDir: dirs.tmp,
    runDir,
  };
}

/** The environment file's settings plus, when allowed, required ones from the caller's env. */
export function resolveSettings(
  desc: Pick<Description, 'name' | 'settings'>,
  settings: Record<string, string>,
  processEnv: NodeJS.ProcessEnv,
  settingsFromEnv: boolean,
): Record<string, string> {
  const result: Record<string, string> = { ...settings };
  const missing: string[] = [];
  for (const name of desc.settings) {
    if (result[name] !== undefined) continue;
    const fromEnv = settingsFromEnv ? processEnv[name] : undefined;
    if (fromEnv !== undefined) result[name] = fromEnv;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new GatewayError('APPPKG_SETTINGS_MISSING', { key: 'settings', missing: missing.join(', '), missingList: missing, app: desc.name });
  }
  return result;
}

/**
 * The env for `sh -c CMD` in the app's environment: `python`/`python3` are the app's (wrappers
 * first on PATH) and PYTHONPATH gives the sysPath order, with a generated sitecustomize that
 * processes the .pth files of `paths` and then runs the interpreter's own sitecustomize.
 */
export function commandEnvironment(appEnv: AppEnvironment): Record<string, string> {
  return {
    ...appEnv.env,
    PATH: [path.join(appEnv.runDir, 'bin'), appEnv.env.PATH].join(path.delimiter),
    PYTHONPATH: [path.join(appEnv.runDir, 'lib'), ...appEnv.sysPath].join(path.delimiter),
  };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

interface RunConfig {
  name: string;
  python: string;
  sysPath: string[];
  siteDirs: string[];
}

/**
 * Write <run>/<hash>/{bin/python, bin/python3, lib/sitecustomize.py}. The directory is named
 * by a hash of its content, so an old version still draining and a new version starting
 * (different interpreter or paths) never rewrite each other's helpers.
 */
async function writeRunHelpers(runRoot: string, config: RunConfig, owner?: Owner): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
  const dir = path.join(runRoot, hash);
  const wrapper = `#!/bin/sh\n# Generated by apppkg-gateway: \`python\` in app ${config.name}'s commands is its interpreter.\nexec ${shellQuote(config.python)} "$@"\n`;
  await ensureDir(runRoot, 0o755, owner);
  await ensureDir(dir, 0o755, owner);
  await ensureDir(path.join(dir, 'bin'), 0o755, owner);
  await ensureDir(path.join(dir, 'lib'), 0o755, owner);
  await writeAtomically(path.join(dir, 'bin', 'python'), wrapper, 0o755);
  await writeAtomically(path.join(dir, 'bin', 'python3'), wrapper, 0o755);
  await writeAtomically(path.join(dir, 'lib', 'sitecustomize.py'), sitecustomizeSource(config), 0o644);
  return dir;
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temp, content, { mode });
    await rename(temp, file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: file, reason: e.code ? `${e.code}: ${e.message}` : String(err), cause: err });
  }
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Python 3.9-safe source; JSON string lists are valid Python list literals. */
function sitecustomizeSource(config: RunConfig): string {
  return `# Generated by apppkg-gateway for app ${JSON.stringify(config.name)}; rewritten on every start.
# PYTHONPATH already holds the app's sys.path (SPEC 2.1). This module, first on PYTHONPATH,
# (1) runs site.addsitedir on each of the app's \`paths\` so their .pth files count, keeping
# what a .pth adds right after the directory that holds it, (2) takes its own directory off
# sys.path, and (3) runs the interpreter's own sitecustomize, which it shadows (Debian ships one).
import os
import site
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_SITE_DIRS = ${JSON.stringify(config.siteDirs)}


def _apppkg_add_site_dirs():
    for sitedir in _SITE_DIRS:
        before = len(sys.path)
        site.addsitedir(sitedir)
        added = sys.path[before:]
        if not added:
            continue
        del sys.path[before:]
        try:
            at = sys.path.index(sitedir) + 1
        except ValueError:
            at = len(sys.path)
        sys.path[at:at] = added


def _apppkg_chain_sitecustomize():
    import importlib.machinery
    import importlib.util
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.path[:] = rest
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_apppkg_add_site_dirs()
_apppkg_chain_sitecustomize()
`;
}
