// `apppkg-gateway check` (SPEC §3) as a report: the environment checks (os, python, deb, rpm,
// pip, settings), then the app object imported and called as a worker would, then
// commands.check. Each outcome is handed to `onCheck` as it happens, so the CLI prints its
// lines live, and collected into the report a library caller reads.
//
// check creates nothing under the state root: a user runs it before deciding anything, maybe
// without write access there, and it must leave no directories behind. The import and
// commands.check get TMPDIR and the command helpers in a scratch directory removed after; the
// data and log directories are named in their variables and reported, made by install, serve, run.
import { statSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { atAppKey, resolveApp, type AppContext } from '../app-context.js';
import { CLI_COMMAND_WORDS, namingFixes, type CommandWords } from '../command-words.js';
import type { Description } from '../description/types.js';
import { placeOf } from '../description/key-place.js';
import { keyLabel } from '../description/yaml-file.js';
import { runEnvironmentChecks } from '../environment/checks.js';
import { overridesFor, type HostEnvironment } from '../environment/host-file.js';
import { commandEnvironment, namingCallerOptions } from '../environment/app-env.js';
import { stdlibNameProblem } from '../environment/stdlib-modules.js';
import { explainSystemModuleImport } from '../environment/system-module.js';
import { unlistedPackages } from '../environment/deb-coverage.js';
import { findUser, resolveRunAs } from '../environment/run-as.js';
import type { FileReader } from '../environment/user-readable.js';
import { appStateDirs, fileInTheWay, namingStateRoot, resolveStateRoot } from '../environment/state-root.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { checkAppImport } from '../link/check-app.js';
import { closest } from '../closest.js';
import { commandProgram, findProgram, programProblem, pythonModule } from './command-program.js';
import { HOOK_ENV, runInAppEnvironment } from './run-command.js';
import { GuardedTree } from '../supervisor/process-group.js';
import { checkServices } from '../services/service-report.js';
import { serviceVariableNames } from '../services/app-services.js';
import { checkVendor } from './vendor-check.js';
import { pathsFileRefusal, pathsMissingRefusal } from '../environment/paths-entries.js';
import { withScratchDir } from './scratch-dir.js';
import { OutputTail } from './output-tail.js';

/** One line of the check: `ok  python  /usr/bin/python3 3.11.2` or `FAIL` with its fix. */
export interface CheckItem {
  /** os, python, deb, rpm, pip, settings, user, paths, static, vendor, state, services.database, services.redis, app, programs, processes.NAME, commands.NAME (a program not found), commands.check or mail. */
  name: string;
  ok: boolean;
  /** Not applicable here (nothing listed, no dpkg-query): ok, with a note in `detail`. */
  skipped?: boolean;
  /** What was found; a failure about a key of app.yaml begins with its `file:line:column: `. */
  detail: string;
  /** How to fix a failure; "" when ok (or when there is nothing to fix until others are). */
  fix: string;
  /** The GatewayError code of a failure, when one says why. */
  code?: ErrorCode;
  /** A failed import: Python's traceback, to show before this line. */
  traceback?: string;
}

export interface CheckReport {
  /** The app's name. */
  name: string;
  /** Every check passed. */
  ok: boolean;
  /** How many did not. */
  failed: number;
  /** In the order they ran. */
  checks: CheckItem[];
}

export interface CheckAppOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateDir?: string;
  /** What a refusal of the state root calls `stateDir` (the library's `stateDir`); default `--state-dir`. */
  stateKey?: string;
  /** What a fix calls the option that gives the environment file (the library's `environment`); default `--environment`. */
  environmentKey?: string;
  /** What a fix calls install and the others that make an app's state: the CLI's commands (the default) or AppPackage's methods. */
  commandWords?: CommandWords;
  /** The CLI's command line (the CLI's startedAs, as OptionNames.startedAs): a fix that gives it the environment file says it again. */
  startedAs?: string;
  /** The CLI's command line as given (OptionNames.commandLine): a fix that has this check run again says it. */
  commandLine?: string;
  /** Where commands.check's output goes; default: ours. */
  output?: Writable;
  /**
   * The call that gave `output` (a library caller's `check()` or `AppPackage.open()`): a failed
   * commands.check's fix then says its output went to that stream, with its last lines, not
   * "above", in a stream that may keep nothing. Unset: the output is above (the CLI's terminal).
   */
  outputGivenTo?: string;
  /** Kill commands.check's process tree past this; default: no limit. */
  timeoutMs?: number;
  onCheck?: (check: CheckItem) => void;
  /** commands.check is about to run (its output follows). */
  onHookStart?: (command: string) => void;
}

/** As errors.ts says where a failed install's program wrote: the caller's stream, with its last lines, else above. */
function outputWentTo(givenTo: string | undefined, tail: OutputTail | undefined): string {
  if (givenTo === undefined || tail === undefined) return 'above';
  const last = tail.lines(5);
  return `(it went to the \`output\` stream you gave ${givenTo}${last.length > 0 ? `; its last lines: ${last.join(' | ')}` : ''})`;
}

/**
 * Failures the import does not depend on: a static directory is served by the front end and
 * never read by Python, so a missing one says nothing about whether the app imports, and the
 * user should learn both at once. Every other failure holds the import back: the interpreter,
 * deb/rpm/pip packages, paths, vendor, os and user decide what Python can import, missing
 * settings or services make the app's environment impossible to build.
 */
const IMPORT_INDEPENDENT = new Set(['static']);

/**
 * Every name a check of this app may print a line under, before it runs: the CLI lines its
 * lines up on the longest (`services.database`, `processes.worker`) while they still stream.
 */
export function checkNames(desc: Description, hostEnv: HostEnvironment): string[] {
  return [
    'os', 'python', 'deb', 'rpm', 'pip', 'settings', 'user', 'paths', 'static', 'vendor', 'state', 'app', 'programs', 'mail',
    ...(hostEnv.file === null ? [] : ['environment']),
    ...Object.entries(desc.services).flatMap(([name, asked]) => (asked === null ? [] : [`services.${name}`])),
    ...Object.keys(desc.processes).map((name) => `processes.${name}`),
    ...Object.entries(desc.commands).flatMap(([name, command]) => (command ? [`commands.${name}`] : [])),
  ];
}

/** nobody's uid and gid (Debian's, and most others'). */
const NOBODY = 65534;

/**
 * Whose rights check reads the requirements with, and runs the venv's python as, when root: the
 * app's user's, as the gateway would (install-venv.ts). One that cannot be resolved (an unknown
 * `user:`, reported by its own line) is taken for nobody, who reads only what anyone may.
 */
function requirementsReader(desc: Description, overrides: ReturnType<typeof overridesFor>): FileReader | null {
  try {
    const runAs = resolveRunAs(desc, overrides.user, overrides.userAt);
    return runAs && !runAs.isRoot ? runAs : null;
  } catch {
    return { user: overrides.user ?? 'nobody', uid: NOBODY, gid: NOBODY };
  }
}

export async function checkApp(opts: CheckAppOptions): Promise<CheckReport> {
  const { desc, hostEnv } = opts;
  const overrides = overridesFor(hostEnv, desc.name);
  const checks: CheckItem[] = [];
  const report = (check: CheckItem) => {
    checks.push(check);
    opts.onCheck?.(check);
  };

  const reader = requirementsReader(desc, overrides);
  const words = opts.commandWords ?? CLI_COMMAND_WORDS;
  // check runs from a shell, like serve and run: a required setting exported there counts.
  const results = await runEnvironmentChecks(desc, {
    pythonOverride: overrides.python ?? undefined,
    pythonOverrideAt: overrides.pythonAt ?? undefined,
    settings: overrides.settings,
    givenByServices: serviceVariableNames(desc, hostEnv),
    processEnv: process.env,
    settingsFromEnv: true,
    stateRoot: resolveStateRoot({ flag: opts.stateDir }),
    reader,
    commandWords: words,
    installAlso: { environment: hostEnv.file ?? undefined, stateDir: opts.stateDir },
  });
  for (const r of results) {
    // Failures point at the line of the mistake, as the loader's errors do: the environment
    // file's when the check says so (an interpreter it names), else app.yaml's key of the same name.
    const at = r.ok ? undefined : (r.place ?? placeOf(desc, r.at ?? [r.name]));
    report({ name: r.name, ok: r.ok, ...(r.skipped ? { skipped: true } : {}), detail: `${placed(at)}${r.detail}`, fix: r.fix, code: r.code });
  }
  const nearMiss = appsEntryNearMiss(desc.name, hostEnv);
  if (nearMiss) report(nearMiss);
  // What the environment file and app.yaml name that only a start would find missing.
  if (overrides.user !== null) {
    const found = findUser(overrides.user);
    report(
      found
        ? { name: 'user', ok: true, detail: `${found.user} (uid ${found.uid}) runs the app's processes when the gateway runs as root`, fix: '' }
        : failedItem('user', new GatewayError('APPPKG_USER_UNKNOWN', { user: overrides.user, app: desc.name, key: overrides.userAt?.key ?? 'user' }), placed(overrides.userAt)),
    );
  }
  if (desc.paths.length > 0) {
    // A file named there (paths: main.py) is a mistake of its own, with its own fix: said first,
    // as serve and --apps refuse it. A zip archive is an entry Python imports from.
    const refusal = pathsFileRefusal(desc) ?? pathsMissingRefusal(desc);
    report(
      refusal === null
        ? { name: 'paths', ok: true, detail: desc.paths.join(', '), fix: '' }
        : { name: 'paths', ok: false, detail: refusal.placedMessage, fix: refusal.hint, code: refusal.code },
    );
  }
  for (const [prefix, dir] of Object.entries(desc.static)) {
    if (isDirectory(path.resolve(desc.dir, dir))) continue;
    const key = keyLabel(['static', prefix]);
    // Django's collectstatic in commands.install makes it: missing before the first install is no mistake.
    const hooks = (['install', 'update'] as const).filter((h) => desc.commands[h]);
    report(
      hooks.length > 0
        ? { name: 'static', ok: true, detail: `${key}: ${dir} is not there yet; commands.${hooks.join(' or commands.')} must create it, or every request under ${prefix} gets 404`, fix: '' }
        : failedItem('static', new GatewayError('APPPKG_STATIC_MISSING', { key, path: dir, dir: desc.dir, prefix }), placed(placeOf(desc, ['static', prefix]))),
    );
  }
  // A vendor directory (issue 19): current with its requirements, as vendored, loadable here.
  const vendor = await checkVendor(desc, { pythonOverride: overrides.python ?? undefined, environmentFile: hostEnv.file ?? undefined, reader });
  if (vendor) {
    const { at, ...item } = vendor;
    // At the paths: entry of the directory it is about, as the paths line is placed.
    report(at === undefined ? item : { ...item, detail: `${placed(placeOf(desc, at))}${item.detail}` });
  }
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  const state = stateCheck(stateRoot, desc.name, opts.stateKey);
  report(state.item);

  const mail = mailCheck(desc, hostEnv, opts.environmentKey);
  // SPEC 5.2: whether each server the app needs answers (nothing is created here).
  // What install makes and check does not, for the fix of a lifespan startup that failed on it;
  // the install it names is given the environment file and state root this check was.
  const unmade = state.missing === '' ? [] : [state.missing];
  const install = words.install(desc.dir, { environment: hostEnv.file ?? undefined, stateDir: opts.stateDir });
  for (const s of await checkServices(desc, hostEnv, stateRoot, (err) => namingCallerOptions(withCommandLine(err, opts), opts) as GatewayError)) {
    const at = !s.ok && s.code === 'APPPKG_SERVICE_MISSING' ? placeOf(desc, s.name.split('.')) : undefined;
    report({ name: s.name, ok: s.ok, detail: `${placed(at)}${s.detail}`, fix: s.fix, ...(s.code ? { code: s.code } : {}) });
    if (s.unmade !== undefined) unmade.push(s.unmade);
  }

  if (checks.some((c) => !c.ok && !IMPORT_INDEPENDENT.has(c.name))) {
    // Importing needs the interpreter, packages, paths and settings the failures above are about.
    report({ name: 'app', ok: false, detail: 'not tried: fix the failures above first', fix: '' });
    if (mail) report(mail);
    return summary(desc, checks);
  }
  await withScratchDir('apppkg-check-', async (scratch) => {
    try {
      // As root, the import and commands.check run as the app's user, as its workers and hooks do:
      // an interpreter or a file that user cannot reach fails here, not first under --apps. The
      // user must get through the scratch directory to its TMPDIR and helpers (not list it).
      const switchUser = process.getuid?.() === 0;
      if (switchUser) await chmod(scratch, 0o711);
      const ctx = await resolveApp({ dir: desc.dir, desc, hostEnv, mode: 'development', stateDir: opts.stateDir, settingsFromProcessEnv: true, scratchDir: scratch, switchUser });
      // The environment a worker gets (its PATH and PYTHONPATH included), and a process's: a
      // subprocess the import starts runs the app's `python`, as it would under the gateway.
      const env = commandEnvironment(ctx.appEnv);
      if (desc.kind === 'wsgi' || desc.kind === 'asgi') {
        // The import would give the standard library's module, or the project's hiding it.
        const stdlibNamed = stdlibNameProblem([desc.dir, ...desc.paths.map((p) => path.resolve(desc.dir, p))], desc.app!);
        if (stdlibNamed) throw stdlibNamed;
        // Guarded, as a worker is: what the import starts (a helper it Popens) ends with the check.
        const result = await checkAppImport({ ...ctx.appEnv, env, runAs: ctx.runAs }, desc.app!, undefined, desc.kind, new GuardedTree()).catch(async (err: unknown) => {
          throw await explainSystemModuleImport(err, desc, ctx.interpreter);
        });
        // What the app answered, not that its startup code ran: a startup that runs nothing
        // (FastAPI 0.92 ignoring lifespan=) answers `complete` as well.
        const lifespan = result.lifespan === 'supported' ? '; it answered lifespan startup and shutdown (complete)' : result.lifespan === 'unsupported' ? '; it does not speak lifespan' : '';
        report({ name: 'app', ok: true, detail: `${desc.app} imports and is callable (${result.detail})${lifespan}`, fix: '' });
        const ignored = lifespanIgnoredWarning(desc, result.lifespanIgnored);
        if (ignored) report(ignored);
        const tree = treeMountWarning(desc, result.treeMounts, overrides.mount ?? `/${desc.name}`);
        if (tree) report(tree);
        const importsWithout = (modules: readonly string[]): Promise<boolean> =>
          checkAppImport({ ...ctx.appEnv, env, runAs: ctx.runAs }, desc.app!, undefined, desc.kind as 'wsgi' | 'asgi', new GuardedTree(), modules).then(() => true, () => false);
        const unlisted = await debWarning(desc, result.distPackages, importsWithout);
        if (unlisted) report(unlisted);
      }
      for (const item of await programChecks(ctx, env.PATH ?? '')) report(item);
      const hook = desc.commands.check;
      if (hook) {
        opts.onHookStart?.(hook);
        const tail = opts.output && opts.outputGivenTo ? new OutputTail(opts.output) : undefined;
        const status = await runInAppEnvironment(ctx, { shell: hook, key: 'commands.check', extraEnv: HOOK_ENV, output: tail ?? opts.output, timeoutMs: opts.timeoutMs });
        const read = `read its output ${outputWentTo(opts.outputGivenTo, tail)}`;
        const fix = state.missing !== '' ? `${read}; if it needs ${state.missing}, which check does not create, run ${words.install()} first` : read;
        report({ name: 'commands.check', ok: status === 0, detail: `exited ${status}`, fix: status === 0 ? '' : fix });
      }
    } catch (caught) {
      const placedErr = atAppKey(opts.stateKey === undefined ? caught : namingStateRoot(caught, opts.stateKey), desc);
      if (!isGatewayError(placedErr)) throw placedErr;
      // The import's fix names what repeats it: check() for a program, which may have no CLI at hand.
      const err = namingFixes(placedErr, words, desc.dir);
      const traceback = err.details.traceback;
      report({
        name: 'app',
        ok: false,
        detail: err.placedMessage,
        fix: ((err.code === 'APPPKG_APP_IMPORT_FAILED' || err.code === 'APPPKG_APP_LIFESPAN_FAILED') && unmadeStateDirFix(err, state.absent, install, words)) ||
          (err.code === 'APPPKG_APP_LIFESPAN_FAILED' && unmadeStartupFix(err.hint, unmade, install, words)) ||
          err.hint,
        code: err.code,
        ...(typeof traceback === 'string' ? { traceback } : {}),
      });
    }
  });
  if (mail) report(mail);
  return summary(desc, checks);
}

/**
 * An app with `mail:` (SPEC 5.3) needs the host's mail listener: without one no message ever
 * reaches it, and nothing else would say so (issue 16). Null for an app that takes no mail.
 */
function mailCheck(desc: Description, hostEnv: HostEnvironment, environmentKey: string | undefined): CheckItem | null {
  if (desc.mail === null) return null;
  if (hostEnv.mail === null) {
    const problem = new GatewayError('APPPKG_MAIL_NO_LISTENER', { app: desc.name, path: desc.mail, file: hostEnv.file ?? undefined, environmentKey });
    const at = desc.positions.mail;
    return { name: 'mail', ok: false, detail: `${placed(at && { file: desc.file, ...at })}${problem.message}`, fix: problem.hint, code: problem.code };
  }
  const domains = overridesFor(hostEnv, desc.name).mailDomains;
  const to = (domains.length > 0 ? domains : [`${desc.name}.localhost`]).join(', ');
  return { name: 'mail', ok: true, detail: `${desc.mail} receives mail for ${to} (${hostEnv.mail.lmtp ? 'LMTP' : 'SMTP'} on ${hostEnv.mail.listen})`, fix: '' };
}

/**
 * The app's data and log directories under the state root: there, or named as not made yet
 * (`missing`, "" when both are there, for a failed commands.check's fix; `absent`, their paths,
 * for a failed import's). Not made yet is no failure: before the first install, serve or run
 * they are absent on every host. A file where they go (`--state-dir` naming a file) is: install,
 * serve, run and the gateway would all stop on it, and check said `ok state`, exit 0.
 */
function stateCheck(stateRoot: string, name: string, stateKey: string | undefined): { item: CheckItem; missing: string; absent: string[] } {
  const dirs = appStateDirs(stateRoot, name);
  const blocker = fileInTheWay(dirs.app);
  if (blocker !== undefined) {
    const problem = new GatewayError('APPPKG_STATE_DIR_FAILED', { path: dirs.app, reason: `${blocker} is a file, not a directory`, blocker, stateKey });
    return { item: { name: 'state', ok: false, detail: problem.message, fix: problem.hint, code: problem.code }, missing: '', absent: [] };
  }
  const absent = (['data', 'log'] as const).filter((d) => !isDirectory(dirs[d]));
  const missing = absent.length === 0 ? '' : absent.length === 2 ? 'its data and log directories' : `its ${absent[0]} directory`;
  const detail = missing === ''
    ? `${dirs.data}, ${dirs.log}`
    : `${dirs.app}: ${missing.slice('its '.length)} not created yet (install, serve and run create them; check creates nothing)`;
  return { item: { name: 'state', ok: true, detail, fix: '' }, missing, absent: absent.map((d) => dirs[d]) };
}

/**
 * The fix of an import (or lifespan startup) that failed on a path in a state directory check has not made (`absent`):
 * a users file or a log written there as the module loads, as Radicale's wsgi module does on its
 * first run. "Fix the traceback, then check again" would fail the same way until install, serve
 * or run makes the directory; null when the failure names none of them.
 */
function unmadeStateDirFix(err: GatewayError, absent: string[], install: string, words: CommandWords): string | null {
  const said = `${String(err.details.reason ?? '')}\n${String(err.details.traceback ?? '')}`;
  const needed = absent.find((d) => said.includes(d));
  if (needed === undefined) return null;
  const needs = err.code === 'APPPKG_APP_LIFESPAN_FAILED' ? 'its lifespan startup needs' : 'the import needs';
  return `${needs} ${needed}, which is not created yet and which check does not create: run ${install} first (${words.makesStateDirs} create it too), then check again`;
}

/**
 * The fix of a lifespan startup that failed before the first install: a startup opens what the
 * app keeps (a database in its data directory, a connection as its Redis user or PostgreSQL
 * role), which install makes and check does not, so "fix what it reported" would fail the same
 * way until then (a Redis login as a user not made yet is WRONGPASS). Null when all is made.
 */
function unmadeStartupFix(hint: string, unmade: string[], install: string, words: CommandWords): string | null {
  if (unmade.length === 0) return null;
  const needs = unmade.length === 1 ? unmade[0] : `${unmade.slice(0, -1).join(', ')} or ${unmade[unmade.length - 1]}`;
  return `${hint}; if it needs ${needs}, which check does not create, run ${install} first (${words.makesStateDirs} create ${unmade.length === 1 && !unmade[0].endsWith('directories') ? 'it' : 'them'} too), then check again`;
}

function summary(desc: Description, checks: CheckItem[]): CheckReport {
  const failed = checks.filter((c) => !c.ok).length;
  return { name: desc.name, ok: failed === 0, failed, checks };
}

/** `FILE:LINE:COLUMN: ` before a failure's detail, as the loader's errors begin; '' with no place. */
/**
 * The environment file has no `apps.NAME` for this app but one a typo away (`apps.blgo` for
 * blog): its settings, user and mount would go to nothing, and the failures below (a missing
 * setting) would not say why. A warning on an ok line: the file may hold an app not deployed yet.
 */
function appsEntryNearMiss(name: string, hostEnv: HostEnvironment): CheckItem | null {
  if (hostEnv.file === null || Object.hasOwn(hostEnv.apps, name)) return null;
  const near = closest(name, Object.keys(hostEnv.apps));
  if (near === undefined) return null;
  const key = keyLabel(['apps', near]);
  return {
    name: 'environment',
    ok: true,
    detail: `${placed(hostEnv.places[key])}WARNING: no apps.${name} in ${hostEnv.file}, but ${key}: did you mean it for this app? Its keys apply to nothing while it is misspelt`,
    fix: '',
  };
}

/**
 * A warning (an ok line: the app imports here) when the import loaded modules from Debian
 * packages that deb: neither lists nor pulls in: a host given only what deb: lists fails to
 * import it. Not for an app with pip: alone, whose virtualenv is where its modules belong. A
 * package the app still imports without (`importsWithout`: the import again with its modules
 * hidden) is loaded only when present, as Bottle and WebOb load simplejson and aiohttp brotli:
 * it gets a note, since "fails to import" would be untrue and the line would ask for packages
 * the app does not need.
 */
async function debWarning(desc: Description, loaded: Array<[string, string]>, importsWithout: (modules: readonly string[]) => Promise<boolean>): Promise<CheckItem | null> {
  if (desc.pip !== null && desc.deb.length === 0) return null;
  const unlisted = await unlistedPackages(loaded, desc.deb);
  if (unlisted.length === 0) return null;
  const optional = await optionalPackages(unlisted, importsWithout);
  const needed = unlisted.filter((p) => !optional.includes(p));
  const at = placed(desc.deb.length === 0 ? undefined : placeOf(desc, ['deb']));
  const nameOf = (packages: typeof unlisted) => packages.map((p) => `${p.name} (${p.modules.join(', ')})`).join(', ');
  const onlyIfPresent = optional.length === 0
    ? ''
    : `${needed.length === 0 ? '' : '; '}it also loaded ${nameOf(optional)}, which deb: does not list either, but imports without ${optional.length === 1 ? 'it' : 'them'} (loaded only when present): list ${optional.length === 1 ? 'it' : 'them'} only if the app needs what ${optional.length === 1 ? 'it adds' : 'they add'}`;
  if (needed.length === 0) {
    return { name: 'deb', ok: true, detail: `${at}note: the import loaded modules from ${optional.length === 1 ? 'a Debian package' : 'Debian packages'} installed here that deb: does not list, ${nameOf(optional)}; the app imports without ${optional.length === 1 ? 'it' : 'them'} (loaded only when present): list ${optional.length === 1 ? 'it' : 'them'} only if the app needs what ${optional.length === 1 ? 'it adds' : 'they add'}`, fix: '' };
  }
  const line = `deb: [${[...desc.deb, ...needed.filter((p) => p.pulledBy === undefined).map((p) => p.name)].join(', ')}]`;
  const pulled = needed.filter((p) => p.pulledBy !== undefined);
  const byPuller = [...new Set(pulled.map((p) => p.pulledBy!))].map((by) => `${by} pulls in ${pulled.filter((p) => p.pulledBy === by).map((p) => p.name).join(', ')}`);
  const pulledNote = byPuller.length === 0 ? '' : ` (${byPuller.join('; ')})`;
  const them = needed.length === 1 ? 'it' : 'them';
  const listed = desc.deb.length === 0
    ? `app.yaml lists no deb: packages: on a host without ${them} the app fails to import`
    : `deb: lists ${desc.deb.join(', ')}, which ${desc.deb.length === 1 ? 'does' : 'do'} not pull ${them} in: on a host given only what deb: lists the app fails to import`;
  return {
    name: 'deb',
    ok: true,
    detail: `${at}WARNING: the import loaded modules from ${needed.length === 1 ? 'a Debian package' : 'Debian packages'} installed here: ${nameOf(needed)}; ${listed}. Write \`${line}\`${pulledNote}${onlyIfPresent}`,
    fix: '',
  };
}

/**
 * A warning (an ok line: the app imports and serves) when the app kept the `lifespan=` it was
 * given as an unknown keyword, as FastAPI before 0.93 does (Debian bookworm's python3-fastapi
 * is 0.92): its startup answered `complete` with the function never run, here and under the
 * gateway alike, and what that function opens (a pool, a client) is missing at the first request.
 */
function lifespanIgnoredWarning(desc: Description, ignored: [string, string] | null): CheckItem | null {
  if (ignored === null) return null;
  const [cls, version] = ignored;
  const at = placeOf(desc, Object.hasOwn(desc.positions, 'app') ? ['app'] : [desc.kind, 'app']);
  const named = version ? `${cls} ${version}` : cls;
  return {
    name: 'app',
    ok: true,
    detail:
      `${placed(at)}WARNING: ${desc.app} is ${named}, which takes no lifespan= (FastAPI reads it from 0.93; before, an unknown keyword is kept in app.extra): ` +
      'the function given as lifespan= did not run at this startup, nor will it under the gateway. ' +
      'Give its startup and shutdown as on_startup=[...] and on_shutdown=[...], or use FastAPI 0.93 or later (pip: `fastapi>=0.93`)',
    fix: '',
  };
}

/**
 * A warning (an ok line: at the root, under `serve`, it works) when the app is a
 * `cherrypy.tree` with no app mounted at the mount `--apps` gives it: the tree routes on
 * SCRIPT_NAME + PATH_INFO, so `/blog/` finds its app mounted at `/` and asks it for `/blog/`,
 * a 404 for every request (CherryPy's own behaviour, the same under gunicorn at a prefix).
 */
function treeMountWarning(desc: Description, mounts: string[] | null, mount: string): CheckItem | null {
  const scriptName = mount === '/' ? '' : mount.replace(/\/+$/, '');
  if (mounts === null || scriptName === '' || mounts.some((m) => m !== '' && (scriptName === m || scriptName.startsWith(`${m}/`)))) return null;
  const at = placeOf(desc, Object.hasOwn(desc.positions, 'app') ? ['app'] : [desc.kind, 'app']);
  const where = mounts.map((m) => (m === '' ? '/' : m)).join(', ');
  return {
    name: 'app',
    ok: true,
    detail:
      `${placed(at)}WARNING: ${desc.app} is cherrypy.tree, whose apps are mounted at ${where}: it routes on the whole path (SCRIPT_NAME + PATH_INFO), ` +
      `so under the app's mount ${mount} (--apps) every request is a 404 (at /, under serve, it serves). ` +
      'Name the app itself instead, `application = cherrypy.Application(Root(), script_name=None)` (None: the mount from SCRIPT_NAME), ' +
      `or mount it in the tree at ${mount}`,
    fix: '',
  };
}

/**
 * The imports of the app with packages hidden that the search below may take, the first (all of
 * them) included: each is a process importing the whole app (seconds for a Django project).
 * Halving, one needed package among n costs about 1 + 2 log2(n) of them: 20 find one among
 * some 500, two among 20 (19 imports; each alone took 21). A set left untried when they run out
 * is taken as needed: the warning asks for a package the app may not need, never leaves out one
 * it does.
 */
const HIDDEN_IMPORTS = 20;

/**
 * Which of `unlisted` the app imports without. A set hidden at once that still imports is
 * optional whole (the common case, the first try: every one optional); one that fails holds a
 * needed package, and its halves are tried in turn, down to packages alone: a Flask or Django
 * app loads many optional packages, and trying each alone would cost an import apiece.
 */
async function optionalPackages<P extends { modules: string[] }>(unlisted: P[], importsWithout: (modules: readonly string[]) => Promise<boolean>): Promise<P[]> {
  let left = HIDDEN_IMPORTS;
  const optional = new Set<P>();
  const search = async (set: P[]): Promise<void> => {
    if (left === 0) return;
    left--;
    if (await importsWithout(set.flatMap((p) => p.modules))) {
      for (const p of set) optional.add(p);
      return;
    }
    if (set.length === 1) return;
    const half = Math.ceil(set.length / 2);
    await search(set.slice(0, half));
    await search(set.slice(half));
  };
  await search(unlisted);
  return unlisted.filter((p) => optional.has(p));
}

/**
 * Whether the program each process and hook runs is there (SPEC 1.1: `processes:`, `commands:`):
 * a failure per missing one, at its entry, and one line naming those found. Lines whose program
 * the shell decides (a builtin, an expansion) are not judged. For `python -m MODULE`, the
 * interpreter is always there: the module is what a process would crash-loop without.
 */
async function programChecks(ctx: AppContext, searchPath: string): Promise<CheckItem[]> {
  const { desc } = ctx;
  const lines: Array<{ key: string; at: Array<string>; command: string }> = [
    ...Object.entries(desc.processes).map(([name, spec]) => ({ key: `processes.${name}.command`, at: ['processes', name, 'command'], command: spec.command })),
    // commands.check is run below: its own line says how it went.
    ...Object.entries(desc.commands).flatMap(([name, command]) => (command && name !== 'check' ? [{ key: `commands.${name}`, at: ['commands', name], command }] : [])),
  ];
  const items: CheckItem[] = [];
  const found: string[] = [];
  for (const { key, at, command } of lines) {
    const program = commandProgram(command);
    if (program === null) continue;
    const name = key.replace(/\.command$/, '');
    // As the app's user runs it: the gateway, as root, may execute a file that user may not.
    const file = await findProgram(program, desc.dir, searchPath, ctx.runAs);
    // Found is not enough: a script whose #! interpreter is gone exits 127 all the same.
    const problem = await programProblem(program, desc.dir, searchPath, ctx.runAs);
    if (file === null || problem !== null) {
      items.push(failedItem(name, new GatewayError('APPPKG_PROGRAM_MISSING', { key, command, program, dir: desc.dir, ...problem }), placed(placeOf(desc, at))));
      continue;
    }
    const module = pythonModule(command);
    const missing = module !== null ? await moduleMissing(ctx, file, module) : null;
    if (missing === null) {
      found.push(`${name}: ${module === null ? program : `${program} -m ${module}`}`);
      continue;
    }
    // The wrapper on the app's PATH lives in a directory check removes: name what it runs.
    const python = file.startsWith(ctx.appEnv.runDir + path.sep) ? ctx.appEnv.python : file;
    items.push(failedItem(name, new GatewayError('APPPKG_MODULE_MISSING', { key, command, module, python, package: missing === 'no __main__' }), placed(placeOf(desc, at))));
  }
  if (found.length > 0) items.unshift({ name: 'programs', ok: true, detail: `found: ${found.join(', ')}`, fix: '' });
  return items;
}

/**
 * Asks `python` whether it finds `module` as `python -m` would, in the environment and directory
 * the app's processes get (its sys.path: PYTHONPATH, the app directory, paths:, the venv). A
 * package needs its __main__. Finding a submodule imports its packages, as the check of the app
 * object imports them; one that fails to import is not judged here (the process's log says why).
 */
const MODULE_NOT_FOUND = 5;
const NO_MAIN = 6;
const FIND_MODULE = `
import importlib.util, sys
name = sys.argv[1]
try:
    spec = importlib.util.find_spec(name)
    status = 0 if spec is not None else ${MODULE_NOT_FOUND}
    if spec is not None and spec.submodule_search_locations is not None:
        status = 0 if importlib.util.find_spec(name + ".__main__") is not None else ${NO_MAIN}
except ModuleNotFoundError:
    status = ${MODULE_NOT_FOUND}
except BaseException:
    status = 0
sys.exit(status)
`;

/** Why `python -m module` would not run, or null when it would (as far as this probe knows). */
async function moduleMissing(ctx: AppContext, python: string, module: string): Promise<'not found' | 'no __main__' | null> {
  const status = await runInAppEnvironment(ctx, { argv: [python, '-c', FIND_MODULE, module], output: new Writable({ write: (_c, _e, done) => done() }), timeoutMs: 60_000 });
  // Only the probe's own answers refuse: an interpreter that cannot run at all is not this line's to judge.
  return status === MODULE_NOT_FOUND ? 'not found' : status === NO_MAIN ? 'no __main__' : null;
}

function placed(at: { file: string; line: number; column: number } | null | undefined): string {
  return at ? `${at.file}:${at.line}:${at.column}: ` : '';
}

function failedItem(name: string, error: GatewayError, where: string): CheckItem {
  return { name, ok: false, detail: `${where}${error.message}`, fix: error.hint, code: error.code };
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A service's failure with the command line that ran check: one the host lacks, told with no
 * environment file (errors.ts passEnvironmentFile), says it again with the file, --state-dir
 * kept; a server that does not answer, this very check as given (`checkAgain`), to run again
 * once it is up: `check APP_DIR --environment FILE`, placeholders, read as another command.
 */
function withCommandLine(err: GatewayError, opts: { startedAs?: string; commandLine?: string }): GatewayError {
  if (err.code === 'APPPKG_SERVICE_UNAVAILABLE' && opts.commandLine !== undefined && err.details.checkAgain === undefined) {
    return new GatewayError(err.code, { ...err.details, checkAgain: opts.commandLine });
  }
  if (opts.startedAs === undefined || !err.details.noEnvironmentFile || err.details.startedAs !== undefined) return err;
  return new GatewayError(err.code, { ...err.details, startedAs: opts.startedAs });
}
