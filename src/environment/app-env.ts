// What every process of an app gets (SPEC §2.1): its variables, its private directories and
// its sys.path order — app dir, each of `paths` (their .pth files processed), the virtualenv,
// then the interpreter's own, then python-shim/ last (so `import apppkg` works, SPEC §5.7).
// Workers get `sysPath` through the shim; any other command (`run APP -- CMD`, lifecycle
// hooks, `processes.*`, and what a worker starts) gets the same view through
// `commandEnvironment()`: a generated `python` wrapper first on PATH and a generated
// sitecustomize first on PYTHONPATH. Both end in the one Python function that orders sys.path,
// python-shim/apppkg/paths.py.

import { createHash } from 'node:crypto';
import { chmodSync, constants as fsConstants, existsSync, mkdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { writeFileAtomic, writeFileAtomicSync } from '../write-file-atomic.js';
import path from 'node:path';
import { describeJson } from '../description/describe.js';
import type { Description } from '../description/types.js';
import { GatewayError, systemErrorReason } from '../errors.js';
import { readRegularFile } from '../no-follow.js';
import { SHIM_DIR } from '../link/shim-path.js';
import { MANIFEST_NAME } from '../lifecycle/vendor-manifest.js';
import { SCRIPTS_DIR } from '../lifecycle/vendor-scripts.js';
import type { Interpreter } from './interpreter-probe.js';
import { holdRunHelpers } from './run-helper-holds.js';
import { homeIs, isDirectoryPath, venvPythonIs } from './venv-look.js';
import { appStateDirs, ensureDir, gatewayOwned, namingStateRoot, prepareAppStateDirs, restoreMissingStateDirs, type AppStateDirs, type Owner } from './state-root.js';

export type AppMode = 'production' | 'development';

/** The gateway's variables an app may see in production; everything else of the gateway's env stays out. */
const BASE_ENV_KEYS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TERM'];
/**
 * What a development command never takes from the caller: the gateway decides the app's
 * interpreter and sys.path (a PYTHONPATH or an activated virtualenv of the caller's shell would
 * mix another project's modules into the app's, or point at a virtualenv the app does not use;
 * a PYTHONUSERBASE puts its user site, another project's pip --user installs, on sys.path).
 */
const NOT_INHERITED = new Set(['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONUSERBASE']);
/**
 * The caller's APPPKG_* that do reach a development command: they configure a gateway (the
 * state root, the command apppkg's library runs, docs/python-library.md) that the command may
 * itself run, and APPPKG_REDIS_PREFIX is a setting a host may give with its REDIS_URL.
 */
const CALLERS_APPPKG = new Set(['APPPKG_STATE_DIR', 'APPPKG_GATEWAY', 'APPPKG_REDIS_PREFIX']);
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface AppEnvironmentOptions {
  stateRoot: string;
  mode: AppMode;
  /** Global + per-app `settings:` from the environment file, already merged. */
  settings: Record<string, string>;
  /** The variables the app's services give it (serviceVariableNames): required settings they meet. */
  givenByServices?: readonly string[];
  /** The gateway's (or the caller's) environment: the base (PATH, HOME, LANG, ...), all of it with `inheritEnv`, and, see below, settings. */
  processEnv?: NodeJS.ProcessEnv;
  /**
   * Take required settings missing from `settings` from `processEnv` (serve/run/check: the
   * caller's shell may export DATABASE_URL). Default: true in development, false in production.
   */
  settingsFromEnv?: boolean;
  /**
   * Start from the caller's whole `processEnv` (but NOT_INHERITED, and givenByGatewayOnly: PORT
   * and the gateway's APPPKG_*), beneath the app's own variables: the development commands
   * (serve, run, test, check) run from the developer's shell, where `FOO=bar apppkg-gateway run
   * ...` and Django's DJANGO_SUPERUSER_PASSWORD must reach the app (issue 13 item 7). Default: true in development, false in production, where
   * only BASE_ENV_KEYS and the environment file's settings reach an app.
   */
  inheritEnv?: boolean;
  /**
   * APPPKG_ENV is `mode`, whatever `processEnv` says: serve's apps (SPEC §2.1: development under
   * serve), where the gateway's own answers are development's. Default false: run, test and
   * check, inheriting the caller's environment, believe its APPPKG_ENV=production (a pod's `run`).
   */
  modeAsRun?: boolean;
  interpreter: Interpreter;
  /** Where the app's virtualenv lives; default <stateRoot>/apps/<name>/venv. */
  venvDir?: string;
  /** Chown the app's state directories to this user (apps running as another user). */
  owner?: Owner;
  /**
   * `check`'s: create nothing under the state root (a user runs check before deciding
   * anything, maybe without write access there). The data and log directories are named, not
   * made; TMPDIR and the command helpers go under this directory instead, the caller's to remove.
   */
  scratchDir?: string;
  /**
   * The caller records the description itself (recordDescription), once it knows what it adds
   * (an app's services): helpers written now would be a directory that nothing ever uses.
   */
  recordLater?: boolean;
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
  /** Where the helper directories of every configuration the app was run with are (STATE/apps/NAME/run). */
  runRoot: string;
  /** Generated helpers for this exact configuration: bin/python, bin/python3, lib/sitecustomize.py, description.json. */
  runDir: string;
  /** What was written in runDir, for restoreMissingRunHelpers. */
  runHelpers?: readonly HelperFile[];
}

/** One generated helper file, as writeRunHelpers wrote it. */
export interface HelperFile {
  file: string;
  content: string;
  mode: number;
}

/** Which Python an app runs on and what goes first on its sys.path: nothing but paths. */
export interface AppPaths {
  /** The program that runs the app's Python: the venv's bin/python when one is used, else the interpreter. */
  python: string;
  /** The virtualenv in use, or null (no `pip:`, or not installed yet). */
  venv: Venv | null;
  /** Prepended to the interpreter's own sys.path, in order. */
  sysPath: string[];
  /** The `paths` directories, absolute, in order. */
  siteDirs: string[];
}

/** The file, in the run-helper directory, that APPPKG_DESCRIPTION names (python-shim/apppkg/recorded.py reads it). */
export const DESCRIPTION_FILE = 'description.json';

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

/**
 * What only the gateway gives an app's processes (SPEC 2.1), never the caller's shell: a PORT
 * exported there (another project's 3000) reached `run` and `test` commands as if the gateway had
 * given a port, where no process the gateway starts without a route has one; an APPPKG_* the
 * gateway gives some processes only (APPPKG_MOUNT, APPPKG_BACKUP_DIR, APPPKG_MAIL_SECRET) passed
 * as the gateway's where it gave none.
 */
function givenByGatewayOnly(key: string): boolean {
  return key === 'PORT' || (key.startsWith('APPPKG_') && !CALLERS_APPPKG.has(key));
}

/**
 * The virtualenv at `dir` if it exists and was made from `interpreter` (its pyvenv.cfg `home`
 * is the interpreter's directory and it has lib/pythonX.Y/site-packages); else null, so a stale
 * venv from another interpreter is never mixed with this one (`install` rebuilds it).
 */
/** pyvenv.cfg and the gateway's stamp in a venv are a few hundred bytes. */
export const VENV_FILE_MAX = 64 * 1024;

export async function findVenv(dir: string, interpreter: Interpreter): Promise<Venv | null> {
  // The venv is the app's user's when a root gateway runs the app as that user: nothing of it is
  // followed out of it but to the interpreter (venv-look.ts), and a FIFO or a link left at
  // pyvenv.cfg is neither waited on nor followed.
  const python = path.join(dir, 'bin', 'python');
  if (!(await venvPythonIs(dir, interpreter))) return null;
  const lib = `${interpreter.implementation === 'pypy' ? 'pypy' : 'python'}${interpreter.markers.python_version}`;
  const sitePackages = path.join(dir, 'lib', lib, 'site-packages');
  if (!(await isDirectoryPath(dir, ['lib', lib, 'site-packages']))) return null;
  try {
    const cfg = await readRegularFile(path.join(dir, 'pyvenv.cfg'), VENV_FILE_MAX);
    const home = /^\s*home\s*=\s*(.+?)\s*$/m.exec(cfg)?.[1];
    if (home && !(await homeIs(home, interpreter))) return null;
  } catch {
    return null;
  }
  return { dir, python, sitePackages };
}

/**
 * The app's Python program and sys.path, only looked up: nothing is created on disk, so
 * `describe --sys-path` may call it for any directory. buildAppEnvironment uses it too.
 */
export async function resolveAppPaths(
  desc: Pick<Description, 'name' | 'dir' | 'paths' | 'pip'>,
  opts: Pick<AppEnvironmentOptions, 'stateRoot' | 'interpreter' | 'venvDir'>,
): Promise<AppPaths> {
  const siteDirs = desc.paths.map((p) => path.resolve(desc.dir, p));
  const venv = desc.pip ? await findVenv(opts.venvDir ?? appStateDirs(opts.stateRoot, desc.name).venv, opts.interpreter) : null;
  return {
    python: venv ? venv.python : opts.interpreter.executable,
    venv,
    sysPath: unique([desc.dir, ...siteDirs, ...(venv ? [venv.sitePackages] : [])]),
    siteDirs,
  };
}

/** Build (and prepare on disk) the environment of one app; APPPKG_SETTINGS_MISSING names every missing setting. */
export async function buildAppEnvironment(desc: Description, opts: AppEnvironmentOptions): Promise<AppEnvironment> {
  const processEnv = opts.processEnv ?? process.env;
  const settings = resolveSettings(desc, opts.settings, processEnv, opts.settingsFromEnv ?? opts.mode === 'development', opts.givenByServices);

  const dirs = opts.scratchDir === undefined ? await prepareAppStateDirs(opts.stateRoot, desc.name, opts.owner) : await scratchStateDirs(opts.stateRoot, desc.name, opts.scratchDir, opts.owner);
  const appDir = desc.dir;
  const { python, venv, sysPath, siteDirs } = await resolveAppPaths(desc, { ...opts, venvDir: opts.venvDir ?? dirs.venv });

  const inherit = opts.inheritEnv ?? opts.mode === 'development';
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(processEnv)) {
    if (value === undefined) continue;
    const passes = inherit ? !NOT_INHERITED.has(key) && !givenByGatewayOnly(key) : BASE_ENV_KEYS.includes(key) || key.startsWith('LC_');
    if (passes) env[key] = value;
  }
  // The caller's variables lie beneath the settings, and settings may not override what the
  // gateway itself promises (SPEC §2.1), so ours come last.
  Object.assign(env, settings, {
    APPPKG_NAME: desc.name,
    APPPKG_APP_DIR: appDir,
    APPPKG_DATA_DIR: dirs.data,
    APPPKG_LOG_DIR: dirs.log,
    // The root this app runs under, for what the app asks of the gateway itself: without it,
    // apppkg's AppPackage(another app) and an `apppkg-gateway run` in a hook used the default
    // root, and found another app's virtualenv missing from its sys.path.
    APPPKG_STATE_DIR: opts.stateRoot,
    TMPDIR: dirs.tmp,
    // A caller who says production is believed where its environment is inherited anyway: a
    // pod's `run` (a background process, the update hook) is production, not a laptop.
    APPPKG_ENV: inherit && opts.modeAsRun !== true && processEnv.APPPKG_ENV === 'production' ? 'production' : opts.mode,
    PATH: unique([...(await vendorScriptDirs(siteDirs)), venv ? path.join(venv.dir, 'bin') : interpreterScripts(opts.interpreter), ...(env.PATH || DEFAULT_PATH).split(path.delimiter)]).join(path.delimiter),
  });
  if (venv) env.VIRTUAL_ENV = venv.dir;

  const appEnv: AppEnvironment = {
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
    runRoot: dirs.run,
    runDir: '',
  };
  if (!opts.recordLater) await recordDescription(appEnv, describeJson(desc), opts.owner);
  return appEnv;
}

/**
 * Record `description` (describe's, with the `provides` of an app asking for services:, known
 * only once its services are set up) as what APPPKG_DESCRIPTION names, so that apppkg's
 * AppPackage.config inside the app's processes is what `describe` prints. The helpers go to
 * their own directory, named by what they hold, as any other change of configuration does.
 */
export async function recordDescription(appEnv: AppEnvironment, description: Record<string, unknown>, owner?: Owner): Promise<void> {
  const config = { name: appEnv.name, python: appEnv.python, sysPath: appEnv.sysPath, shimDir: SHIM_DIR, appPath: appEnv.env.PATH, description };
  const written = await writeRunHelpers(appEnv.runRoot, config, owner);
  appEnv.runDir = written.dir;
  appEnv.runHelpers = written.files;
  appEnv.env.APPPKG_DESCRIPTION = path.join(appEnv.runDir, DESCRIPTION_FILE);
}

/**
 * The console scripts of each vendored `paths:` directory (`apppkg-gateway vendor` wrote its
 * manifest and bin/), in `paths` order: as a virtualenv's bin/ is for `pip:`, so that
 * `commands.test: pytest` or `command: celery ...` keep working when an app moves from `pip:`
 * to vendor/. Only vendored ones: any other bin/ under `paths:` is the app's own business.
 */
async function vendorScriptDirs(siteDirs: string[]): Promise<string[]> {
  const dirs: string[] = [];
  for (const dir of siteDirs) {
    const scripts = path.join(dir, SCRIPTS_DIR);
    if ((await exists(path.join(dir, MANIFEST_NAME))) && (await exists(scripts))) dirs.push(scripts);
  }
  return dirs;
}

/**
 * Where the console scripts of an app without a virtualenv are: beside its interpreter. An app
 * listing `deb:` runs on /usr/bin/python3, whose packages put `flask`, `django-admin` or
 * `alembic` in /usr/bin; on a PATH where a pyenv shim or /usr/local/bin comes first,
 * `commands.update: flask db upgrade` ran another interpreter's flask, which imports none of
 * the app's packages ("No such command 'db'"). As a virtualenv's bin/ is for `pip:`.
 */
function interpreterScripts(interpreter: Interpreter): string {
  return path.dirname(interpreter.executable);
}

/** The app's state directories for `check`: its own where they are, TMPDIR and the helpers in `scratch`. */
async function scratchStateDirs(stateRoot: string, name: string, scratch: string, owner?: Owner): Promise<AppStateDirs> {
  const dirs = appStateDirs(stateRoot, name);
  const tmp = path.join(scratch, 'tmp');
  await ensureDir(tmp, 0o700, owner, true);
  return { ...dirs, tmp, run: path.join(scratch, 'run') };
}

/** The environment file's settings plus, when allowed, required ones from the caller's env. */
export function resolveSettings(
  desc: Pick<Description, 'name' | 'settings'>,
  settings: Record<string, string>,
  processEnv: NodeJS.ProcessEnv,
  settingsFromEnv: boolean,
  givenByGateway: readonly string[] = [],
): Record<string, string> {
  const result: Record<string, string> = { ...settings };
  const missing: string[] = [];
  for (const name of desc.settings) {
    if (result[name] !== undefined || givenByGateway.includes(name)) continue;
    const fromEnv = settingsFromEnv ? processEnv[name] : undefined;
    if (fromEnv !== undefined) result[name] = fromEnv;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new GatewayError('APPPKG_SETTINGS_MISSING', { key: 'settings', missing: missing.join(', '), missingList: missing, app: desc.name, fromEnv: settingsFromEnv });
  }
  return result;
}

/**
 * Where in app.yaml resolveSettings' APPPKG_SETTINGS_MISSING is about: the entry of the first
 * setting nobody gives, not the list (`settings:` may span many lines); the key for any other error.
 */
export function missingSettingAt(err: GatewayError, desc: Pick<Description, 'settings'>): (string | number)[] {
  const list = err.code === 'APPPKG_SETTINGS_MISSING' ? err.details.missingList : undefined;
  return Array.isArray(list) && list.length > 0 ? ['settings', desc.settings.indexOf(String(list[0]))] : ['settings'];
}

/** The errors whose fix says how to give the environment file (environmentKey in errors.ts). */
const ENVIRONMENT_OPTION_CODES: ReadonlySet<string> = new Set(['APPPKG_SETTINGS_MISSING', 'APPPKG_SERVICE_UNAVAILABLE', 'APPPKG_SERVICE_MISSING', 'APPPKG_WORKER_START_FAILED']);

/**
 * `err`, resolveSettings' APPPKG_SETTINGS_MISSING, a server's APPPKG_SERVICE_UNAVAILABLE or
 * a service the host lacks (APPPKG_SERVICE_MISSING, when `check` had no environment file), with
 * its fix naming the option that gives the environment file as `key` (the library's
 * `environment`, the CLI's `--environment`): each is thrown where the app's environment or its
 * services are made, which know nothing of their caller. Any other error is returned as it is.
 */
export function namingEnvironmentOption(err: unknown, key: string): unknown {
  if (!(err instanceof GatewayError) || !ENVIRONMENT_OPTION_CODES.has(err.code) || err.details.environmentKey !== undefined) return err;
  return new GatewayError(err.code, { ...err.details, environmentKey: key });
}

/**
 * A service the host lacks (APPPKG_SERVICE_MISSING), or a worker past its start bound
 * (APPPKG_WORKER_START_FAILED with `seconds`: start_timeout is set in the file), refused by a
 * running gateway, with its fix saying how that gateway comes to read the file it names: serve is started again with
 * --environment, a gateway under --apps reads its file again at SIGHUP or is started with one
 * (`dir`: serve's app directory or the --apps directory, as given; `file`: the file in force;
 * `startedAs`: the CLI's command line, said again with the file).
 */
export function namingGatewayEntry(err: unknown, entry: { mode: 'serve' | 'apps'; dir: string | undefined; file: string | null; startedAs?: string }): unknown {
  const setInFile = err instanceof GatewayError && (err.code === 'APPPKG_SERVICE_MISSING' || (err.code === 'APPPKG_WORKER_START_FAILED' && err.details.seconds !== undefined));
  if (!(err instanceof GatewayError) || !setInFile || err.details.entry !== undefined) return err;
  return new GatewayError(err.code, {
    ...err.details,
    entry: entry.mode,
    ...(entry.dir === undefined ? {} : { entryDir: entry.dir }),
    ...(entry.startedAs === undefined ? {} : { startedAs: entry.startedAs }),
    ...(entry.file === null ? { noEnvironmentFile: true } : { environmentFile: entry.file }),
  });
}

/**
 * What the caller calls the state root's option and the environment file's (OptionNames'
 * stateDir and environment: the library's `stateDir`, `environment`); left out, the CLI's flags.
 */
export interface CallerOptionKeys {
  stateKey?: string;
  environmentKey?: string;
}

/** `err` with its fix naming both options as the caller has them (namingStateRoot, namingEnvironmentOption). */
export function namingCallerOptions(err: unknown, keys: CallerOptionKeys): unknown {
  return namingEnvironmentOption(namingStateRoot(err, keys.stateKey ?? '--state-dir'), keys.environmentKey ?? '--environment');
}

/**
 * The env for `sh -c CMD` in the app's environment: `python`/`python3` are the app's (wrappers
 * first on PATH) and PYTHONPATH gives the sysPath order, with a generated sitecustomize first
 * that orders sys.path as the workers have it and then runs the interpreter's own sitecustomize.
 */
export function commandEnvironment(appEnv: AppEnvironment): Record<string, string> {
  return { ...appEnv.env, ...commandPaths(appEnv.runDir, appEnv.env.PATH, appEnv.sysPath) };
}

/** PATH and PYTHONPATH of the app's commands; description.json records the same, for apppkg's run_command. */
function commandPaths(runDir: string, appPath: string, sysPath: string[]): { PATH: string; PYTHONPATH: string } {
  return {
    PATH: [path.join(runDir, 'bin'), appPath].join(path.delimiter),
    // python-shim last: `import apppkg` works even where the sitecustomize does not run (python -S).
    PYTHONPATH: [path.join(runDir, 'lib'), ...sysPath, SHIM_DIR].join(path.delimiter),
  };
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

interface RunConfig {
  name: string;
  python: string;
  sysPath: string[];
  shimDir: string;
  /** The app's PATH, before the helpers' bin. */
  appPath: string;
  /** What `describe` prints. */
  description: Record<string, unknown>;
}

/**
 * Write <run>/<hash>/{bin/python, bin/python3, lib/sitecustomize.py, description.json}. The
 * directory is named by a hash of everything in it, so an old version still draining and a
 * new version starting (another interpreter, other paths, another app.yaml) never rewrite
 * each other's helpers, and what a running process reads through APPPKG_DESCRIPTION is
 * always what it was started with.
 */
async function writeRunHelpers(runRoot: string, config: RunConfig, owner?: Owner): Promise<{ dir: string; files: HelperFile[] }> {
  const hash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
  const dir = path.join(runRoot, hash);
  // python-shim/apppkg/recorded.py reads this; no setting's value is in it (mode 0644).
  const recorded = {
    description: config.description,
    executable: config.python,
    sysPath: config.sysPath,
    commandEnv: commandPaths(dir, config.appPath, config.sysPath),
  };
  const wrapper = `#!/bin/sh\n# Generated by apppkg-gateway: \`python\` in app ${config.name}'s commands is its interpreter.\nexec ${shellQuote(config.python)} "$@"\n`;
  // The gateway's, not the app's: root writes these at every start, and the app only reads them.
  const helpers = gatewayOwned(owner);
  await ensureDir(runRoot, 0o755, helpers);
  await ensureDir(dir, 0o755, helpers);
  // Before the helpers are (re)written: a gateway pruning meanwhile sees the directory held.
  holdRunHelpers(dir);
  await ensureDir(path.join(dir, 'bin'), 0o755, helpers);
  await ensureDir(path.join(dir, 'lib'), 0o755, helpers);
  const files: HelperFile[] = [
    { file: path.join(dir, 'bin', 'python'), content: wrapper, mode: 0o755 },
    { file: path.join(dir, 'bin', 'python3'), content: wrapper, mode: 0o755 },
    { file: path.join(dir, 'lib', 'sitecustomize.py'), content: sitecustomizeSource(config), mode: 0o644 },
    { file: path.join(dir, DESCRIPTION_FILE), content: `${JSON.stringify(recorded, null, 2)}\n`, mode: 0o644 },
  ];
  for (const { file, content, mode } of files) await writeAtomically(file, content, mode);
  return { dir, files };
}

/**
 * The run helpers written again where they went missing while the app ran (an operator's
 * `rm -rf` of the app's whole state directory to start afresh): a worker or process restarted
 * after a crash, a recycle or a wake runs with the PATH and APPPKG_DESCRIPTION its version's
 * start built, so without them a `processes:` entry's `python` was not found (exit 127, a crash
 * loop) and a worker's subprocesses ran another Python, until the next deploy. Synchronous
 * because spawns are; the gateway owns what it makes here, as at the start (it runs before the
 * app's user can write anything, and under a root gateway only root writes in the app's state
 * directory). A failure is left to the process, whose own error names what it could not run.
 */
function restoreMissingRunHelpers(appEnv: Pick<AppEnvironment, 'runRoot' | 'runDir' | 'runHelpers'>): void {
  for (const { file, content, mode } of appEnv.runHelpers ?? []) {
    if (existsSync(file)) continue;
    try {
      for (const dir of [appEnv.runRoot, appEnv.runDir, path.dirname(file)]) {
        if (existsSync(dir)) continue;
        mkdirSync(dir, { mode: 0o755 });
        chmodSync(dir, 0o755); // mkdir's mode passed through the umask
      }
      writeFileAtomicSync(file, content);
      chmodSync(file, mode);
    } catch {
      // see above
    }
  }
}

/**
 * What a process about to be spawned needs that may have gone while the app ran: its data, log
 * and tmp directories (owned by `owner`, the app's user) and the run helpers the start wrote.
 */
export function restoreForSpawn(appEnv: Pick<AppEnvironment, 'dataDir' | 'logDir' | 'tmpDir' | 'runRoot' | 'runDir' | 'runHelpers'>, owner?: Owner): void {
  restoreMissingStateDirs({ data: appEnv.dataDir, log: appEnv.logDir, tmp: appEnv.tmpDir }, owner);
  restoreMissingRunHelpers(appEnv);
}

async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  await writeFileAtomic(file, content, mode).catch((err: unknown) => {
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: file, reason: systemErrorReason(err, file), cause: err });
  });
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Python 3.9-safe source; JSON strings and string lists are valid Python literals. */
function sitecustomizeSource(config: RunConfig): string {
  return `# Generated by apppkg-gateway for app ${JSON.stringify(config.name)}; rewritten on every start.
# First on PYTHONPATH, so the interpreter runs it at startup: the app's sys.path as its workers
# have it (python-shim/apppkg/paths.py; the shim goes first only for that import, so that an
# \`apppkg\` among the app's modules cannot stand in for ours), then the interpreter's own
# sitecustomize, which this module shadows (Debian ships one).
import importlib.machinery
import importlib.util
import os
import sys

sys.path.insert(0, ${JSON.stringify(config.shimDir)})
from apppkg.paths import set_app_process_path

set_app_process_path(${JSON.stringify(config.sysPath)}, ${JSON.stringify(config.shimDir)}, drop=[os.path.dirname(os.path.abspath(__file__))])
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
if _spec is not None and _spec.loader is not None:
    sys.modules["sitecustomize"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["sitecustomize"])
`;
}
