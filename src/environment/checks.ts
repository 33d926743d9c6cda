// The environment half of `apppkg-gateway check` (SPEC §3): os, python, deb/rpm, pip,
// settings. Each probe answers {name, ok, detail, fix} and never throws for a failed check, so
// `check` can report every problem at once. (Importing the app is the shim's part.)

import path from 'node:path';
import { satisfies } from '@renovatebot/pep440';
import { CLI_COMMAND_WORDS, namingFixes, type CommandWords } from '../command-words.js';
import { countOf } from '../count.js';
import { placeOf } from '../description/key-place.js';
import type { Description } from '../description/types.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { programOutput, type ProgramOutput } from '../program-output.js';
import { findVenv, missingSettingAt, resolveSettings } from './app-env.js';
import { aptKnows } from './apt-knows.js';
import { distributionNamesOf } from './debian-python-name.js';
import { queryDeb } from './dpkg-query.js';
import { debianFamily, OS_RELEASE } from './host-family.js';
import type { FilePlace } from './host-file.js';
import type { Interpreter } from './interpreter-probe.js';
import { exclusionSpelling, formatInterpreter, isSystemPython, pickInterpreter } from './interpreters.js';
import { readUnloadableWheels } from './pip-unloadable.js';
import { brokenVenvReason } from './venv-broken.js';
import { offlineFinds } from '../lifecycle/pip-offline-finds.js';
import { interpreterTag } from '../lifecycle/pip-wheel-tags.js';
import { evaluateMarker, normalizeName, readRequirements, type Requirement } from './requirements.js';
import { readRequirementsTree } from './requirements-tree.js';
import { UserCannotRead, type FileReader } from './user-readable.js';
import { appStateDirs } from './state-root.js';

export interface CheckResult {
  name: 'os' | 'python' | 'deb' | 'rpm' | 'pip' | 'settings';
  ok: boolean;
  /** Not applicable here (no dpkg-query, nothing listed, no interpreter to ask): ok, with a note. */
  skipped?: boolean;
  detail: string;
  /** How to fix a failure; "" when ok. */
  fix: string;
  code?: ErrorCode;
  /**
   * Where a failure's mistake is when it is not at app.yaml's key of the same name: the
   * environment file's `python:` that names an interpreter that does not run, say.
   */
  place?: { file: string; line: number; column: number };
  /** The entry of app.yaml's key a failure is about (`['deb', 2]`, `['settings', 1]`), when a list names several. */
  at?: (string | number)[];
}

export interface CheckContext {
  /** The environment file's `python:` for this app. */
  pythonOverride?: string;
  /** Where the environment file names it (its failures point there). */
  pythonOverrideAt?: FilePlace;
  /** PATH to discover interpreters on; default the gateway's. */
  pathEnv?: string;
  /** Merged settings from the environment file. */
  settings?: Record<string, string>;
  /** The variables the app's services give it: required settings they meet. */
  givenByServices?: readonly string[];
  processEnv?: NodeJS.ProcessEnv;
  /** Required settings may come from processEnv (check runs from a shell): default true. */
  settingsFromEnv?: boolean;
  /** To find the app's virtualenv: <stateRoot>/apps/<name>/venv, unless venvDir is given. */
  stateRoot?: string;
  venvDir?: string;
  /** Default process.platform. */
  platform?: NodeJS.Platform;
  /**
   * The app's user when we are root and the app runs as another: the requirements files are read
   * only where it could read them (a `-r /etc/shadow` is not shown to whoever runs check), and
   * the venv's python asked what it has installed runs as that user.
   */
  reader?: FileReader | null;
  /** What a fix calls install: the CLI's command (the default) or AppPackage's install(). */
  commandWords?: Pick<CommandWords, 'install' | 'fixDetails'>;
  /**
   * The --environment and --state-dir check was given, for the install its fix names: without
   * them that install built the venv under the default state root, not the one check looked in.
   */
  installAlso?: { environment?: string; stateDir?: string };
}

const COMMAND_TIMEOUT_MS = 30_000;

function failed(name: CheckResult['name'], err: GatewayError): CheckResult {
  const place = err.file && err.line ? { place: { file: err.file, line: err.line, column: err.column ?? 1 } } : {};
  return { name, ok: false, detail: err.message, fix: err.hint, code: err.code, ...place };
}

function passed(name: CheckResult['name'], detail: string, skipped = false): CheckResult {
  return skipped ? { name, ok: true, skipped, detail, fix: '' } : { name, ok: true, detail, fix: '' };
}

// --- os ----------------------------------------------------------------------------------------

const OS_FAMILIES: Record<string, NodeJS.Platform[]> = {
  posix: ['linux', 'darwin', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'android', 'cygwin'],
  unix: ['linux', 'darwin', 'freebsd', 'openbsd', 'netbsd', 'sunos', 'aix', 'android', 'cygwin'],
  bsd: ['freebsd', 'openbsd', 'netbsd'],
  macos: ['darwin'],
  osx: ['darwin'],
  windows: ['win32'],
  solaris: ['sunos'],
};

/** SPEC §1.1 `os:`: a family (posix, bsd) or a platform name (linux, darwin) against process.platform. */
export function checkOs(desc: Pick<Description, 'os'>, platform: NodeJS.Platform = process.platform): CheckResult {
  if (desc.os.length === 0) return passed('os', `any (this host is ${platform})`);
  const match = osMatch(desc, platform);
  if (match) return passed('os', `${platform} is ${match}`);
  return failed('os', osMismatch(desc, platform)!);
}

/** APPPKG_OS_MISMATCH when `os:` excludes this host (a start refuses it, as `check` reports it); else null. */
export function osMismatch(desc: Pick<Description, 'os'>, platform: NodeJS.Platform = process.platform): GatewayError | null {
  if (desc.os.length === 0 || osMatch(desc, platform)) return null;
  return new GatewayError('APPPKG_OS_MISMATCH', { key: 'os', expected: desc.os.join(' or '), found: platform });
}

function osMatch(desc: Pick<Description, 'os'>, platform: NodeJS.Platform): string | undefined {
  return desc.os.find((name) => {
    const key = name.toLowerCase();
    return key === platform || (OS_FAMILIES[key] ?? []).includes(platform);
  });
}

// --- python ------------------------------------------------------------------------------------

export async function checkPython(
  desc: Pick<Description, 'python' | 'deb'> & Partial<Pick<Description, 'kind' | 'file' | 'positions'>>,
  ctx: Pick<CheckContext, 'pythonOverride' | 'pythonOverrideAt' | 'pathEnv'> = {},
): Promise<{ result: CheckResult; interpreter: Interpreter | null }> {
  try {
    const interpreter = await pickInterpreter(desc, { override: ctx.pythonOverride, overrideAt: ctx.pythonOverrideAt, pathEnv: ctx.pathEnv });
    const why = desc.python ? ` satisfies ${JSON.stringify(desc.python)}` : '';
    // The host chose another interpreter and this app does not run on it: said, not left for
    // the user to find in a worker's sys.executable.
    const passedOver = desc.deb.length > 0 && ctx.pythonOverride && !(await isSystemPython(ctx.pythonOverride))
      ? `; not ${ctx.pythonOverrideAt ? `${ctx.pythonOverrideAt.key} (${ctx.pythonOverrideAt.file}:${ctx.pythonOverrideAt.line}:${ctx.pythonOverrideAt.column})` : 'the environment file\'s python'}, ${ctx.pythonOverride}: deb packages are importable from the system interpreter alone`
      : '';
    const excluding = exclusionSpelling(desc.python, interpreter.version);
    const padded = excluding === null ? ''
      : `; note: !=${excluding.series} leaves out ${excluding.series}.0 alone (PEP 440 pads a version with zeros), so ${interpreter.version} passes it: to leave out the ${excluding.series} series, write python: ${JSON.stringify(excluding.spelling)} in app.yaml`;
    return { result: passed('python', `${formatInterpreter(interpreter)}${why}${passedOver}${padded}`), interpreter };
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return { result: failed('python', err), interpreter: null };
  }
}

// --- deb / rpm ---------------------------------------------------------------------------------

function run(command: string, args: string[]): Promise<ProgramOutput> {
  return programOutput(command, args, { timeoutMs: COMMAND_TIMEOUT_MS, maxBuffer: 4 << 20 });
}

/**
 * Each package installed per dpkg ("install ok installed"); skipped where dpkg-query does not
 * exist. `pipFallback` says which missing ones the `pip:` file stands in for (SPEC 1.1: pip: is
 * the fallback for deb:): those are a note, not a failure.
 */
export async function checkDeb(
  packages: string[],
  pipFallback?: (missing: string[]) => Promise<Map<string, string>>,
  words: Pick<CommandWords, 'install' | 'fixDetails'> = CLI_COMMAND_WORDS,
  /** The package's directory, for a fix in `words` that names it. */
  dir = '.',
): Promise<CheckResult> {
  if (packages.length === 0) return passed('deb', 'no deb packages listed', true);
  const answer = await queryDeb(packages);
  if (answer === null) return passed('deb', `not checked: dpkg-query not found (not a Debian host); listed: ${packages.join(', ')}`, true);
  if ('unanswered' in answer) return passed('deb', `not checked: ${answer.unanswered}; listed: ${packages.join(', ')}`, true);
  const { found, missing } = answer;
  const covered = missing.length > 0 && pipFallback ? await pipFallback(missing) : new Map<string, string>();
  const uncovered = missing.filter((p) => !covered.has(p));
  if (uncovered.length > 0) {
    const missing = namingFixes(new GatewayError('APPPKG_DEB_MISSING', { key: 'deb', ...(await missingDetails(uncovered)) }), words, dir);
    return { ...failed('deb', missing), at: ['deb', packages.indexOf(uncovered[0])] };
  }
  if (covered.size === 0) return passed('deb', found.join(', '));
  const standIns = [...covered].map(([deb, requirement]) => `${deb} (pip: lists ${requirement})`).join(', ');
  const note = `note: not installed, the pip: fallback will be used: ${standIns}, installed into the app's virtualenv by ${words.install()}`;
  return passed('deb', found.length > 0 ? `${found.join(', ')}; ${note}` : note);
}

/**
 * Which of the `deb:` packages `missing` the `pip:` file lists a distribution for (by Debian's
 * python3-NAME naming), each with that requirement's name: the app's virtualenv, which pip
 * fills, gives what the system package would have. A requirements file that cannot be read
 * covers nothing (the pip line says why).
 */
export async function pipCovers(missing: string[], desc: Pick<Description, 'dir' | 'pip'>, interpreter: Promise<Interpreter | null>, reader: FileReader | null): Promise<Map<string, string>> {
  const covered = new Map<string, string>();
  if (!desc.pip) return covered;
  const parsed = await readRequirements(path.resolve(desc.dir, desc.pip), reader).catch(() => null);
  if (parsed === null) return covered;
  const python = await interpreter;
  const listed = new Map<string, string>();
  for (const req of parsed.requirements) if (python === null || appliesHere(req, python, [])) listed.set(normalizeName(req.name), req.name);
  for (const deb of missing) {
    const requirement = distributionNamesOf(deb).map((name) => listed.get(name)).find((name) => name !== undefined);
    if (requirement !== undefined) covered.set(deb, requirement);
  }
  return covered;
}

/**
 * APPPKG_DEB_MISSING naming the `deb:` packages dpkg has not installed, placed at the first
 * one's entry in app.yaml, as `check` says it; null when all are, or where dpkg-query does not
 * exist or gave no answer.
 */
export async function debMissing(desc: Pick<Description, 'deb' | 'file' | 'positions'>, pipFallback?: (missing: string[]) => Promise<Map<string, string>>): Promise<GatewayError | null> {
  if (desc.deb.length === 0) return null;
  const answer = await queryDeb(desc.deb);
  if (answer === null || 'unanswered' in answer || answer.missing.length === 0) return null;
  // Those the pip: file stands in for are check's note, not a problem (checkDeb).
  const covered = pipFallback ? await pipFallback(answer.missing) : new Map<string, string>();
  const missing = answer.missing.filter((p) => !covered.has(p));
  if (missing.length === 0) return null;
  const where = placeOf(desc, ['deb', desc.deb.indexOf(missing[0])]);
  return new GatewayError('APPPKG_DEB_MISSING', { key: 'deb', ...(await missingDetails(missing)), ...where });
}

/**
 * APPPKG_DEB_MISSING's details: the packages, and those apt has no version of (a misspelt name,
 * lists never updated), for which `apt-get install` would only fail again.
 */
export async function missingDetails(missing: string[]): Promise<{ missing: string; unknown?: string }> {
  const known = await Promise.all(missing.map((p) => aptKnows(p, 5_000)));
  const unknown = missing.filter((_, i) => known[i] === false);
  return { missing: missing.join(' '), ...(unknown.length > 0 ? { unknown: unknown.join(' ') } : {}) };
}

/**
 * `rpm -q` for each package; skipped on a Debian host (an rpm there, Debian's own package of it,
 * knows nothing the host installed) and where rpm does not exist.
 */
export async function checkRpm(packages: string[], osRelease = OS_RELEASE): Promise<CheckResult> {
  if (packages.length === 0) return passed('rpm', 'no rpm packages listed', true);
  const debian = await debianFamily(osRelease);
  if (debian !== null) {
    return passed('rpm', `not checked: a Debian host (${debian}, from ${osRelease}), where deb: says what to install; listed: ${packages.join(', ')}`, true);
  }
  const answers = await Promise.all(packages.map((p) => run('rpm', ['-q', '--qf', '%{NAME} %{VERSION}-%{RELEASE}\\n', p])));
  if (answers.some((a) => a.startError === 'ENOENT')) {
    return passed('rpm', `not checked: rpm not found (not an rpm host); listed: ${packages.join(', ')}`, true);
  }
  const missing = packages.filter((_, i) => answers[i].status !== 0);
  if (missing.length > 0) return { ...failed('rpm', new GatewayError('APPPKG_RPM_MISSING', { key: 'rpm', missing: missing.join(' ') })), at: ['rpm', packages.indexOf(missing[0])] };
  return passed('rpm', answers.map((a) => a.stdout.trim().split('\n')[0]).join(', '));
}

// --- pip ---------------------------------------------------------------------------------------

// Lists every distribution the app's Python sees (app dir and `paths` first, .pth honoured),
// name normalised per PEP 503, first on sys.path wins. importlib.metadata is Python 3.8's: on
// the 3.6 or 3.7 an app's python: may pick (SPEC 1.3), pkg_resources, setuptools' or the one
// pip vendors, reads the same metadata in the same order.
const LIST_DISTRIBUTIONS = String.raw`
import json, re, site, sys
extra = json.loads(sys.argv[1])
sys.path[:0] = extra['prepend']
for d in extra['siteDirs']:
    site.addsitedir(d)
try:
    from importlib import metadata
    dists = ((dist.metadata['Name'], dist.version) for dist in metadata.distributions())
except ImportError:
    try:
        import pkg_resources
    except ImportError:
        from pip._vendor import pkg_resources
    dists = ((dist.project_name, dist.version) for dist in pkg_resources.WorkingSet(sys.path))
found = {}
for name, version in dists:
    if not name:
        continue
    key = re.sub(r'[-_.]+', '-', name).lower()
    if key not in found:
        found[key] = version
print(json.dumps(found))
`;

/**
 * Installed distributions (normalised name → version) as `python` sees them with the app's paths.
 * `as`: the app's user, whom it runs as when we are root: the venv is that user's (its .pth files
 * run at the start), and so are the `paths:` directories site.addsitedir reads.
 */
export async function installedDistributions(python: string, appDir: string, siteDirs: string[], as?: { uid: number; gid: number }): Promise<Record<string, string>> {
  const args = ['-E', '-c', LIST_DISTRIBUTIONS, JSON.stringify({ prepend: [appDir, ...siteDirs], siteDirs })];
  const answer = as ? await programOutput(python, args, { timeoutMs: COMMAND_TIMEOUT_MS, maxBuffer: 4 << 20, uid: as.uid, gid: as.gid, cwd: '/' }) : await run(python, args);
  if (answer.status !== 0) {
    const refused = answer.startError === 'ENOENT' ? `${python}: no such file` : answer.startError ? `${python}: ${answer.startError}${as ? " (run as the app's user)" : ''}` : null;
    throw new Error(refused ?? (answer.stderr.trim().split('\n').pop() || `exit status ${String(answer.status)}`));
  }
  return JSON.parse(answer.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
}

/**
 * Each requirement of the `pip:` file installed, at a matching version, in the app's venv (or,
 * before `install` made one, the interpreter itself).
 */
export async function checkPip(
  desc: Pick<Description, 'name' | 'dir' | 'pip' | 'paths'>,
  interpreter: Interpreter | null,
  ctx: Pick<CheckContext, 'stateRoot' | 'venvDir' | 'reader' | 'commandWords' | 'installAlso'> = {},
): Promise<CheckResult> {
  const install = (ctx.commandWords ?? CLI_COMMAND_WORDS).install(desc.dir, ctx.installAlso);
  if (!desc.pip) return passed('pip', 'no pip requirements', true);
  if (!interpreter) return passed('pip', 'not checked: no interpreter (see python)', true);
  const file = path.resolve(desc.dir, desc.pip);
  let parsed;
  try {
    parsed = await readRequirements(file, ctx.reader ?? null);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err);
    const refused = err instanceof UserCannotRead ? { requirements: err.file, user: err.reader.user } : { requirements: file };
    return failed('pip', new GatewayError('APPPKG_PIP_FILE_UNREADABLE', { key: 'pip', reason, ...refused, cause: err }));
  }
  const venvDir = ctx.venvDir ?? (ctx.stateRoot ? appStateDirs(ctx.stateRoot, desc.name).venv : null);
  const venv = venvDir ? await findVenv(venvDir, interpreter) : null;
  const broken = venv === null && venvDir !== null ? await brokenVenvReason(venvDir, !ctx.reader) : null;
  if (broken !== null) return failed('pip', new GatewayError('APPPKG_VENV_BROKEN', { key: 'pip', venv: venvDir, reason: broken, dir: desc.dir, install }));
  const python = venv ? venv.python : interpreter.executable;
  const where = venv ? `venv ${venv.dir}` : formatInterpreter(interpreter);

  let installed: Record<string, string>;
  try {
    installed = await installedDistributions(python, desc.dir, desc.paths.map((p) => path.resolve(desc.dir, p)), ctx.reader ?? undefined);
  } catch (err) {
    return failed('pip', new GatewayError('APPPKG_PIP_UNSATISFIED', { key: 'pip', dir: desc.dir, install, missing: `(cannot list what ${where} has installed: ${(err as Error).message})` }));
  }

  const notes = [...parsed.notes];
  const ok: string[] = [];
  const missing: string[] = [];
  const unmet: Requirement[] = [];
  for (const req of parsed.requirements) {
    if (!appliesHere(req, interpreter, notes)) continue;
    const version = installed[normalizeName(req.name)];
    const wanted = `${req.name}${req.specifier}`;
    if (version === undefined) missing.push(`${wanted} (not installed)`);
    else if (req.specifier !== '' && !safeSatisfies(version, req.specifier)) missing.push(`${wanted} (found ${version})`);
    else {
      ok.push(`${req.name} ${version}${req.from ? ` (${req.from})` : ''}`);
      continue;
    }
    unmet.push(req);
  }
  const noteText = notes.length > 0 ? `; notes: ${notes.join('; ')}` : '';
  if (missing.length > 0) {
    // Not installed because the last install failed on wheels this interpreter cannot load: its
    // fix, not "run install", which fails the same way.
    const requirementsSha256 = venv || !venvDir ? null : await readRequirementsTree(desc.dir, file, ctx.reader ?? null).then((t) => t.sha256, () => null);
    const failedInstall = requirementsSha256 === null ? null : await readUnloadableWheels(venvDir!, requirementsSha256, interpreter.executable);
    // Else what install's pip would not find where it looks, which "run install" would learn at pip.
    const finds = failedInstall ? null : await offlineFinds({ appDir: desc.dir, requirements: file, missing: unmet, interpreter, reader: ctx.reader ?? null });
    const unfindable = finds && finds.unfindable.length > 0 ? { unfindable: finds.unfindable, lookedIn: finds.dirs, python: formatInterpreter(interpreter), executable: interpreter.executable, pythonTag: interpreterTag(interpreter), pipFile: desc.pip } : {};
    const err = new GatewayError('APPPKG_PIP_UNSATISFIED', { key: 'pip', dir: desc.dir, install, missing: missing.join(', '), ...(failedInstall ? { ...failedInstall.details, installFailedAt: failedInstall.at } : unfindable) });
    return { ...failed('pip', err), detail: `${err.message} in ${where}${noteText}` };
  }
  return passed('pip', `${countOf(ok.length, 'requirement')} satisfied in ${where}${ok.length > 0 ? `: ${ok.join(', ')}` : ''}${noteText}`);
}

function appliesHere(req: Requirement, interpreter: Interpreter, notes: string[]): boolean {
  if (req.marker === null) return true;
  try {
    return evaluateMarker(req.marker, interpreter.markers);
  } catch (err) {
    notes.push(`${req.where}: ${req.name} not checked, marker ${JSON.stringify(req.marker)} not evaluated (${(err as Error).message})`);
    return false;
  }
}

function safeSatisfies(version: string, specifier: string): boolean {
  try {
    // An installed prerelease was chosen by someone: accept it as pip's "already satisfied" does.
    return satisfies(version, specifier, { prereleases: true });
  } catch {
    return false;
  }
}

// --- settings ----------------------------------------------------------------------------------

export function checkSettings(
  desc: Pick<Description, 'name' | 'settings'>,
  ctx: Pick<CheckContext, 'settings' | 'processEnv' | 'settingsFromEnv' | 'givenByServices'> = {},
): CheckResult {
  if (desc.settings.length === 0) return passed('settings', 'none required', true);
  try {
    resolveSettings(desc, ctx.settings ?? {}, ctx.processEnv ?? process.env, ctx.settingsFromEnv ?? true, ctx.givenByServices);
    return passed('settings', `provided: ${desc.settings.join(', ')}`);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return { ...failed('settings', err), at: missingSettingAt(err, desc) };
  }
}

/** os, python, deb, rpm, pip, settings — in that order, every one reported. */
export async function runEnvironmentChecks(desc: Description, ctx: CheckContext = {}): Promise<CheckResult[]> {
  const os = checkOs(desc, ctx.platform);
  const pythonChecked = checkPython(desc, ctx);
  const [{ result: python, interpreter }, deb, rpm] = await Promise.all([
    pythonChecked,
    checkDeb(desc.deb, (missing) => pipCovers(missing, desc, pythonChecked.then((c) => c.interpreter), ctx.reader ?? null), ctx.commandWords, desc.dir),
    checkRpm(desc.rpm),
  ]);
  const pip = await checkPip(desc, interpreter, ctx);
  return [os, python, deb, rpm, pip, checkSettings(desc, ctx)];
}
