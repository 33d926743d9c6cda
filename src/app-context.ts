// Everything a command needs to act on one app directory: its description, what the host's
// environment file says of it, its interpreter and its execution environment. Each CLI
// command and the gateway's discovery build this one way, so they cannot disagree.
import { describeJson } from './description/describe.js';
import { loadDescription } from './description/load.js';
import type { Description } from './description/types.js';
import { placeOf } from './description/key-place.js';
import { emptyHostEnvironment, loadEnvironmentFile, overridesFor, type HostEnvironment } from './environment/host-file.js';
import { osMismatch } from './environment/checks.js';
import { pathsFileRefusal } from './environment/paths-entries.js';
import type { Interpreter } from './environment/interpreter-probe.js';
import { isSystemPython, pickInterpreter } from './environment/interpreters.js';
import { prepareAppLogDir, resolveStateRoot } from './environment/state-root.js';
import { buildAppEnvironment, missingSettingAt, recordDescription, type AppEnvironment } from './environment/app-env.js';
import { GatewayError, isGatewayError } from './errors.js';
import { appUser, assertCanExecute, resolveRunAs, type RunAs } from './environment/run-as.js';
import { mailEnvironment } from './mail/mail-env.js';
import { serviceEnvironment, serviceVariableNames } from './services/app-services.js';
import { describeProvides } from './services/service-report.js';

export type RunMode = 'production' | 'development';

export interface AppContextOptions {
  dir: string;
  mode: RunMode;
  /** --environment FILE, loaded here unless `hostEnv` is given. */
  environmentFile?: string;
  /**
   * What a refusal of `environmentFile` calls it, and a service's status reason the option that
   * gives the file: the library's `environment`; default `--environment`.
   */
  environmentKey?: string;
  /** What a service's status reason calls the state root's option: the library's `stateDir`; default `--state-dir`. */
  stateKey?: string;
  hostEnv?: HostEnvironment;
  /**
   * The description, already loaded (AppPackage keeps the one it was opened with, so that
   * `.name` and what its methods act on cannot differ); else read from `dir`.
   */
  desc?: Description;
  /** --state-dir. */
  stateDir?: string;
  /**
   * Under serve/run/check/test a required setting may also come from the caller's own
   * environment; under --apps only the environment file counts, so one app's secret in the
   * gateway's environment never reaches another app. (In development, `mode`, the caller's
   * whole environment lies beneath the app's variables: app-env.ts `inheritEnv`.)
   */
  settingsFromProcessEnv?: boolean;
  /**
   * APPPKG_ENV is `mode`, even where the caller's environment is inherited and says production
   * (app-env.ts `modeAsRun`): the gateway's (serve's) apps; run, test and check believe a caller's production.
   */
  modeAsRun?: boolean;
  /** The virtualenv to use instead of STATE/apps/NAME/venv (a deploy's build not yet switched to). */
  venvDir?: string;
  /** Under --apps as root: run the app as its user (SPEC §2 `user:`). */
  switchUser?: boolean;
  /**
   * Create the app's services where missing (its database, role, Redis user): a start, install,
   * run. Without it the variables are computed from what was created before (check, describe).
   */
  provisionServices?: boolean;
  /** The gateway's log, for what provisioning did. */
  say?: (line: string) => void;
  /**
   * `check`'s: create nothing under the state root. TMPDIR and the command helpers go under
   * this directory (the caller's to remove), the data and log directories are named, not made,
   * and a mail key not stored yet is one for this run only.
   */
  scratchDir?: string;
}

export type AppOverrides = ReturnType<typeof overridesFor>;

export interface AppContext {
  desc: Description;
  overrides: AppOverrides;
  interpreter: Interpreter;
  appEnv: AppEnvironment;
  stateRoot: string;
  /** --environment FILE, absolute; null when the host gave none. */
  environmentFile: string | null;
  /** The environment file as read for this start (its services: a wake looks at them again). */
  hostEnv: HostEnvironment;
  /** The user the app's processes run as, when the gateway switches users; else null. */
  runAs: RunAs | null;
}

/** The options of every AppLog the gateway keeps for the app: its log directory is the app user's when it runs as another. */
export function appLogOptions(ctx: AppContext): { othersDir: boolean; owner?: { uid: number; gid: number } } {
  const othersDir = ctx.runAs !== null && ctx.runAs.uid !== process.getuid?.();
  return othersDir ? { othersDir, owner: { uid: ctx.runAs!.uid, gid: ctx.runAs!.gid } } : { othersDir };
}

/** `key` is what a refusal calls the file's option (loadEnvironmentFile). */
export async function loadHostEnvironment(file: string | undefined, key?: string): Promise<HostEnvironment> {
  return file ? loadEnvironmentFile(file, key) : emptyHostEnvironment();
}

/** The description and overrides only: no interpreter probe, no directories created. */
export async function describeApp(opts: AppContextOptions): Promise<{ desc: Description; overrides: AppOverrides; hostEnv: HostEnvironment }> {
  // Read once: the environment file may be a pipe (`--environment <(sops -d env.yaml)`).
  let hostEnvLoad: Promise<HostEnvironment> | undefined = opts.hostEnv && Promise.resolve(opts.hostEnv);
  const loadHostEnv = () => (hostEnvLoad ??= loadHostEnvironment(opts.environmentFile, opts.environmentKey));
  // As root, the app's commands run as its user (check, run, install, ...): what its app.yaml
  // leads to is shown only as far as that user may read it, and the environment file's user:
  // says who that is. One that does not load is said below, after the description's problems.
  const readerFor = process.getuid?.() === 0
    ? async (name: string, dir: string) => appUser(await loadHostEnv().catch(() => null), name, dir)
    : undefined;
  const desc = opts.desc ?? (await loadDescription(opts.dir, { readerFor, environmentKey: opts.environmentKey }));
  const hostEnv = await loadHostEnv();
  return { desc, overrides: overridesFor(hostEnv, desc.name), hostEnv };
}

/**
 * What the log says of the environment file's `python:` when the app passes it over for its deb
 * packages (pickInterpreter), as check does on its python line; null when nothing was passed over.
 * Without it the host's choice was ignored unsaid under --apps and serve.
 */
export async function pythonPassedOver(ctx: Pick<AppContext, 'desc' | 'overrides' | 'interpreter'>): Promise<string | null> {
  const named = ctx.overrides.python;
  if (!named || ctx.desc.deb.length === 0 || (await isSystemPython(named))) return null;
  const at = ctx.overrides.pythonAt;
  const where = at ? `${at.key} (${at.file}:${at.line}:${at.column})` : "the environment file's python";
  return `${ctx.desc.name}: ${where}, ${named}, is not used: the app lists deb packages, importable from the system interpreter alone, so it runs on ${ctx.interpreter.executable}`;
}

export async function resolveApp(opts: AppContextOptions): Promise<AppContext> {
  const { desc, overrides, hostEnv } = await describeApp(opts);
  // SPEC §1.1: `os:` is "checked against the host": before anything of the app runs, not only by `check`.
  const wrongOs = osMismatch(desc);
  if (wrongOs !== null) throw atKey(wrongOs, desc, 'os');
  // Python would skip it unsaid, and the app fail to import what it holds: refused as check does.
  const fileInPaths = pathsFileRefusal(desc);
  if (fileInPaths !== null) throw fileInPaths;
  const interpreter = await pickInterpreter(desc, { override: overrides.python ?? undefined, overrideAt: overrides.pythonAt ?? undefined }).catch((err) => {
    throw atKey(err, desc, 'python');
  });
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  const runAs = opts.switchUser ? resolveRunAs(desc, overrides.user, overrides.userAt) : null;
  const owner = runAs ? { uid: runAs.uid, gid: runAs.gid } : undefined;
  const appEnv = await buildAppEnvironment(desc, {
    owner,
    stateRoot,
    mode: opts.mode,
    settings: overrides.settings,
    givenByServices: serviceVariableNames(desc, hostEnv),
    processEnv: process.env,
    settingsFromEnv: opts.settingsFromProcessEnv === true,
    modeAsRun: opts.modeAsRun === true,
    interpreter,
    venvDir: opts.venvDir,
    scratchDir: opts.scratchDir,
    recordLater: true,
  }).catch((err) => {
    throw atKey(err, desc, 'settings');
  });
  // What the gateway gives the app (its services, its mail key) lies over its settings, as the
  // other variables the gateway promises do (SPEC §2.1).
  const services = await serviceEnvironment({ desc, hostEnv, stateRoot, provision: opts.provisionServices === true, say: opts.say, stateKey: opts.stateKey, environmentKey: opts.environmentKey });
  Object.assign(appEnv.env, services, mailEnvironment(desc, stateRoot, { keep: opts.scratchDir === undefined }));
  // Looked up after the set-up above, so that a password made by this very start shows (masked).
  const provides = await describeProvides(desc, hostEnv, stateRoot);
  await recordDescription(appEnv, provides === null ? describeJson(desc) : { ...describeJson(desc), provides }, owner);
  if (runAs) {
    // A setting of the same name is the host's choice (SPEC 2.1: each setting as its own
    // variable), e.g. HOME=/srv/blog for tools that write under ~; it was overwritten unsaid.
    const identity = { HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user };
    for (const [key, value] of Object.entries(identity)) if (overrides.settings[key] === undefined) appEnv.env[key] = value;
    assertCanExecute(appEnv.python, runAs);
  }
  return { desc, overrides, interpreter, appEnv, stateRoot, environmentFile: hostEnv.file, hostEnv, runAs };
}

/**
 * The app's log directory, owned as its start would own it (by its user under --apps as root),
 * for a refusal that came before the start made it. False when it cannot be made (the app's
 * user is unknown, the state root unwritable): the refusal is then said elsewhere only.
 */
export async function prepareRefusalLog(desc: Description, opts: { hostEnv: HostEnvironment; stateDir?: string; switchUser: boolean }): Promise<boolean> {
  try {
    const overrides = overridesFor(opts.hostEnv, desc.name);
    const runAs = opts.switchUser ? resolveRunAs(desc, overrides.user, overrides.userAt) : null;
    await prepareAppLogDir(resolveStateRoot({ flag: opts.stateDir }), desc.name, runAs ? { uid: runAs.uid, gid: runAs.gid } : undefined);
    return true;
  } catch {
    return false;
  }
}

const NAMES_APP_DIR = new Set<string>(['APPPKG_APP_IMPORT_FAILED', 'APPPKG_APP_LIFESPAN_FAILED', 'APPPKG_WORKER_START_FAILED']);

/**
 * `error` whose fix names a command to run on the app (`apppkg-gateway check DIR`) with the
 * directory of `desc`, the version that failed: a refused version's, and an idle app's failed
 * wake's (whose fix said `DIR` under the CLI, where no caller's words name it).
 */
export function namingAppDir(error: GatewayError, desc: Pick<Description, 'dir'>): GatewayError {
  return NAMES_APP_DIR.has(error.code) && error.details.dir === undefined ? new GatewayError(error.code, { ...error.details, dir: desc.dir }) : error;
}

/**
 * `app:` naming no module or object there, or one that is not callable, is a mistake of
 * app.yaml's key: placed at its line, as every description error is (SPEC §1.1). An exception
 * raised inside the module is not: its message names the Python file and line (`where`) instead.
 * Either way, an error whose fix names a command to run on the app gets the app's directory.
 */
export function atAppKey(caught: unknown, desc: Description): unknown {
  if (!isGatewayError(caught)) return caught;
  const err = namingAppDir(caught, desc);
  if (err.file) return err;
  if (err.code === 'APPPKG_APP_OTHER_KIND') {
    // `platform:` says the kind, or the `wsgi:`/`asgi:` spelling of `app:` does.
    const at = Object.hasOwn(desc.positions, 'platform') ? ['platform'] : [desc.kind];
    const where = placeOf(desc, at) ?? { line: 1, column: 1 };
    return new GatewayError(err.code, { ...err.details, file: desc.file, line: where.line, column: where.column, key: at.join('.') });
  }
  const aboutKey = err.code === 'APPPKG_APP_NOT_CALLABLE' || err.code === 'APPPKG_APP_STDLIB_NAME' || (err.code === 'APPPKG_APP_IMPORT_FAILED' && !err.details.where);
  if (!aboutKey) return err;
  // `wsgi: {app: ...}` and `asgi: {app: ...}` are spellings of `app:`.
  const at = Object.hasOwn(desc.positions, 'app') ? ['app'] : [desc.kind, 'app'];
  const where = placeOf(desc, at) ?? { line: 1, column: 1 };
  return new GatewayError(err.code, { ...err.details, file: desc.file, line: where.line, column: where.column, key: at.join('.') });
}

/**
 * An error found after loading (no interpreter fits, a setting is missing) still points at
 * the line of app.yaml it is about, like the loader's own errors (SPEC §1.1).
 */
export function atKey(err: unknown, desc: Description, key: string): unknown {
  if (!isGatewayError(err) || err.file) return err;
  const relevant = err.code === 'APPPKG_PY_NO_INTERPRETER' || err.code === 'APPPKG_PY_TOO_OLD_FOR_ASGI' || err.code === 'APPPKG_SETTINGS_MISSING' || err.code === 'APPPKG_OS_MISMATCH';
  if (!relevant) return err;
  // A missing setting is placed at its own entry of the list, the others at their key.
  const where = placeOf(desc, err.code === 'APPPKG_SETTINGS_MISSING' ? missingSettingAt(err, desc) : [key]) ?? { line: 1, column: 1 };
  return new GatewayError(err.code, { ...err.details, file: desc.file, line: where.line, column: where.column, key });
}
