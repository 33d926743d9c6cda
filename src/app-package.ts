// The JavaScript face of one app directory (SPEC §5.7): what the `check`, `install`, `test`
// and `run` commands do, as methods that resolve with reports and exit statuses instead of
// printing. The CLI commands are thin clients of this class; a library user gets the same
// behaviour, with output captured to a stream if they like.
//
//   const app = await AppPackage.open('/srv/apps/blog.2026.11.24', { stateDir });
//   const report = await app.check();
//   const status = await app.runCommand('test', { output });
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { atKey, describeApp, resolveApp, type AppContext } from './app-context.js';
import { LIBRARY_COMMAND_WORDS, namingFixes, type CommandWords } from './command-words.js';
import { namingCwdGone } from './working-directory.js';
import { describeJson, type DescribedApp } from './description/describe.js';
import { COMMAND_NAMES, type CommandName, type Description } from './description/types.js';
import { namingCallerOptions, resolveAppPaths } from './environment/app-env.js';
import { overridesFor, type HostEnvironment } from './environment/host-file.js';
import { pickInterpreter } from './environment/interpreters.js';
import { namingStateRoot, resolveStateRoot } from './environment/state-root.js';
import { resolveRunAs } from './environment/run-as.js';
import { GatewayError, isGatewayError } from './errors.js';
import { checkMilliseconds, checkOptions, optionKeys, shownValue } from './library-arguments.js';
import { backupWithHook } from './lifecycle/backup.js';
import { hooklessBackupFix } from './lifecycle/hookless-backup.js';
import { checkApp, checkNames, type CheckItem, type CheckReport } from './lifecycle/check.js';
import { resolveForHook } from './lifecycle/hook.js';
import { installApp, type InstallResult } from './lifecycle/install.js';
import { ownerOf, restorableBackup, restoreWithHook } from './lifecycle/restore.js';
import { HOOK_ENV, runInAppEnvironment } from './lifecycle/run-command.js';
import { withTestDatabases } from './services/app-services.js';
import { appServiceScope } from './services/database-backup.js';
import { describeProvides } from './services/service-report.js';

export type { CheckItem, CheckReport, CommandName, DescribedApp, InstallResult };

export interface AppPackageOptions {
  /** The host's environment file (SPEC §2), as `--environment FILE`: settings and per-app overrides. */
  environment?: string;
  /**
   * The state root holding each app's data, logs, tmp and virtualenv, as `--state-dir`.
   * Default: $APPPKG_STATE_DIR, else /var/lib/apppkg-gateway as root, else
   * ~/.local/state/apppkg-gateway.
   */
  stateDir?: string;
  /**
   * Where the output of what the package runs (commands, hooks, pip, apt) goes, stdout and
   * stderr together. Default: inherited, as the CLI does; a method's own `output` wins.
   */
  output?: Writable;
  /**
   * What a refusal calls `environment` (a file that is not there) and `stateDir` (a state root
   * that cannot be made or written): by default these options' names; the CLI gives its flags,
   * `--environment` and `--state-dir`, which are what its user typed. `commands`: what a fix
   * calls install (check()'s, of a requirement not installed): by default AppPackage's install(),
   * the CLI's command from the CLI. `startedAs`: the CLI's command line, after `apppkg-gateway`
   * and without --environment, that a fix giving the environment file says again with it;
   * `startedAsRest`: the `-- CMD` that followed it (run's), said after the file's option (after
   * `--`, CMD took it). `commandLine`: the CLI's command line as given, which a fix that has it
   * run again (check's, once a server is up) says.
   * `reader`: who this process's user is to the caller, for a file it may not read (by default
   * the user the program runs as; the CLI's, the user running its command).
   * The CLI's alone, as GatewayOptions.optionNames is.
   * @internal
   */
  optionNames?: { environment: string; stateDir?: string; commands?: CommandWords; startedAs?: string; startedAsRest?: string; commandLine?: string; reader?: string };
}

export interface CheckOptions {
  /** Called with each check as soon as it is done, in order (the CLI prints it there and then). */
  onCheck?: (check: CheckItem) => void;
  /** Called just before commands.check runs, with its command line; its output follows. */
  onHookStart?: (command: string) => void;
  /** Where commands.check's output goes; default: the package's `output`. */
  output?: Writable;
  /** Stop commands.check's process tree after this many ms, above 0 (its status is then 128+15, or 128+9); none without it. */
  timeoutMs?: number;
}

export interface InstallOptions {
  /** apt-get install the missing `deb:` packages; needs root (APPPKG_INSTALL_NEEDS_ROOT). */
  system?: boolean;
  /** Build a new virtualenv even when the requirements and interpreter did not change. */
  rebuild?: boolean;
  /** Called with each step line (`==> venv created in 1.8 s`) between the programs' output. */
  onStep?: (line: string) => void;
  /** Where apt's, pip's and commands.install's output goes; default: the package's `output`. */
  output?: Writable;
}

export interface RunOptions {
  /** Where the command's stdout and stderr go; default: the package's `output`. */
  output?: Writable;
  /** Variables added to the app's environment for this command (they win over its settings). */
  env?: Record<string, string>;
  /** Stop the command's process tree after this many ms, above 0 (its status is then 128+15, or 128+9); none without it. */
  timeoutMs?: number;
  /**
   * Taken and changes nothing: restore puts the backup's database and Redis keys in place of the
   * app's whatever they hold (as `restore --force`, which once needed it, and `restore` alike).
   */
  force?: boolean;
}

/** Each call's option keys: any other is refused by name (a `timeout` meant as timeoutMs ran unbounded). */
const OPEN_KEYS = optionKeys<AppPackageOptions>({ environment: true, stateDir: true, output: true, optionNames: true });
const CHECK_KEYS = optionKeys<CheckOptions>({ onCheck: true, onHookStart: true, output: true, timeoutMs: true });
const INSTALL_KEYS = optionKeys<InstallOptions>({ system: true, rebuild: true, onStep: true, output: true });
const RUN_KEYS = optionKeys<RunOptions>({ output: true, env: true, timeoutMs: true, force: true });

/** Lifecycle hooks act on the installed app: run as the gateway runs them (lifecycle/hook.ts). */
const HOOKS_RUN_AS_PRODUCTION: ReadonlySet<CommandName> = new Set(['install', 'update', 'backup', 'restore', 'uninstall']);

/** timeoutMs of run, runCommand and check: 0 and NaN were taken for no bound, a negative one stopped the command at once. */
const TIMEOUT_RULE = { zeroAllowed: false, example: 60_000 };

/**
 * What `commands.NAME` is typically set to (SPEC §1.1's examples), for the fix of a missing one.
 * Not backup's or restore's: their fix is the CLI's command that needs no hook (hooklessBackupFix),
 * which Python's run_command says in the same words.
 */
const EXAMPLE_COMMANDS: Record<Exclude<CommandName, 'backup' | 'restore'>, string> = {
  install: 'python manage.py migrate',
  update: 'python manage.py migrate',
  check: 'python -m myapp.selfcheck',
  uninstall: 'python -m myapp.cleanup',
  test: 'python -m unittest discover -s tests',
};

export class AppPackage {
  /** The app's name: `name:` of app.yaml, else the directory's name without its version. */
  readonly name: string;
  /** From the NAME.VERSION directory suffix; null when the directory has none. */
  readonly version: string | null;
  /** The package directory, absolute, symlinks resolved. */
  readonly dir: string;
  /**
   * Exactly what `apppkg-gateway describe` prints: the normalised description and, for an app
   * asking for `services:`, `provides` (what backs each on this host, passwords masked).
   */
  readonly description: DescribedApp;

  readonly #desc: Description;
  readonly #hostEnv: HostEnvironment;
  readonly #options: AppPackageOptions;

  private constructor(desc: Description, hostEnv: HostEnvironment, options: AppPackageOptions, description: DescribedApp) {
    this.#desc = desc;
    this.#hostEnv = hostEnv;
    this.#options = { ...options };
    this.name = desc.name;
    this.version = desc.version;
    this.dir = desc.dir;
    this.description = description;
  }

  /**
   * Reads and validates app.yaml (rejecting with APPPKG_DESC_INVALID carrying every problem,
   * or APPPKG_DESC_NOT_FOUND) and the environment file, if given. Nothing else: no interpreter
   * is probed and no directory created until a method needs them.
   */
  static async open(dir: string, options: AppPackageOptions = {}): Promise<AppPackage> {
    try {
      return await AppPackage.opened(dir, options);
    } catch (err) {
      // A relative `dir` met a working directory removed since: Node's raw uv_cwd named neither.
      throw namingCwdGone(err, (options as AppPackageOptions | undefined)?.optionNames?.commands ?? LIBRARY_COMMAND_WORDS);
    }
  }

  /** open() itself. */
  private static async opened(dir: string, options: AppPackageOptions): Promise<AppPackage> {
    // From JavaScript, anything can arrive here: Node's "paths[0]" argument error named none of ours.
    // "" was the working directory (path.resolve), a script's empty variable taken for it.
    if (typeof dir !== 'string' || dir === '') {
      throw new GatewayError('APPPKG_USAGE', {
        reason: `AppPackage.open: expected the app directory's path (a string), found ${dir === null ? 'null' : dir === '' ? 'an empty string' : typeof dir}`,
        fix: "give the directory that holds app.yaml, e.g. AppPackage.open('/srv/apps/blog')",
      });
    }
    checkOptions('AppPackage.open', options, OPEN_KEYS, ['environment', 'stateDir'], "AppPackage.open(dir, { stateDir: '/tmp/state' })");
    const commands = options.optionNames?.commands ?? LIBRARY_COMMAND_WORDS;
    const { desc, hostEnv } = await describeApp({ dir: path.resolve(dir), mode: 'development', environmentFile: options.environment, environmentKey: options.optionNames?.environment ?? 'environment' }).catch((err: unknown) => {
      // No app.yaml, or one with problems: its fix in the caller's words (no `init`, no `describe`).
      throw isGatewayError(err) ? namingFixes(namingReader(err, options.optionNames?.reader), commands, path.resolve(dir)) : err;
    });
    const description = describeJson(desc);
    // What this host gives the services the app asks for (SPEC 5.2), as `describe` prints it:
    // only looked up, nothing is created, no server is asked.
    let stateRoot: string;
    try {
      stateRoot = resolveStateRoot({ flag: options.stateDir });
    } catch (err) {
      throw namingStateRoot(err, options.optionNames?.stateDir ?? 'stateDir');
    }
    const provides = await describeProvides(desc, hostEnv, stateRoot);
    if (provides !== null) description.provides = provides;
    return new AppPackage(desc, hostEnv, options, description);
  }

  /**
   * `apppkg-gateway check`: os, python, deb, rpm, pip, settings, the app object importable and
   * callable, then commands.check. A failed check is in the report, never a rejection.
   */
  async check(options: CheckOptions = {}): Promise<CheckReport> {
    checkOptions('check', options, CHECK_KEYS, [], 'check({ timeoutMs: 60000 })');
    checkMilliseconds('check', 'timeoutMs', options.timeoutMs, TIMEOUT_RULE);
    this.#assertPresent();
    return checkApp({
      desc: this.#desc,
      hostEnv: this.#hostEnv,
      stateDir: this.#options.stateDir,
      stateKey: this.#stateKey,
      environmentKey: this.#environmentKey,
      commandWords: this.#commands,
      startedAs: this.#options.optionNames?.startedAs,
      commandLine: this.#options.optionNames?.commandLine,
      output: options.output ?? this.#options.output,
      outputGivenTo: options.output ? 'check()' : this.#options.output ? 'AppPackage.open()' : undefined,
      timeoutMs: options.timeoutMs,
      onCheck: options.onCheck,
      onHookStart: options.onHookStart,
    });
  }

  /** The names check() may report a line under (CheckItem.name), for lining its lines up. */
  checkNames(): string[] {
    return checkNames(this.#desc, this.#hostEnv);
  }

  /**
   * `apppkg-gateway install`: deb packages, the virtualenv for `pip:`, then commands.install,
   * and the marker that tells the gateway commands.install has run. A failed step rejects with
   * its GatewayError (APPPKG_DEB_MISSING, APPPKG_PIP_INSTALL_FAILED, APPPKG_COMMAND_FAILED, ...).
   */
  async install(options: InstallOptions = {}): Promise<InstallResult> {
    checkOptions('install', options, INSTALL_KEYS, [], 'install({ output: process.stderr })');
    this.#assertPresent();
    return installApp({
      dir: this.dir,
      desc: this.#desc,
      hostEnv: this.#hostEnv,
      stateDir: this.#options.stateDir,
      system: options.system,
      rebuild: options.rebuild,
      say: options.onStep,
      output: options.output ?? this.#options.output,
    }).catch((err) => this.#namingOptions(outputNamed(err, options.output ? 'install()' : this.#options.output ? 'AppPackage.open()' : null)));
  }

  /**
   * Runs `commands.NAME` in the app's environment and resolves with its exit status. check and
   * test run as `apppkg-gateway test` does (APPPKG_ENV=development); install, update, backup,
   * restore and uninstall as the gateway runs its hooks (production, as the app's user when we
   * are root); backup and restore need APPPKG_BACKUP_DIR, given in `options.env` (without it:
   * APPPKG_USAGE, nothing run). They do what `backup --to` and `restore --from` do with a hook
   * (lifecycle/backup.ts, restore.ts): backup makes that directory (0700, the app user's), refuses
   * one holding anything but an earlier backup of this app, and when the hook succeeds dumps the
   * app's database and Redis keys beside what it wrote and marks it with apppkg-backup.json;
   * restore refuses a directory without this app's manifest, or the app running, then loads the
   * database and Redis keys in place of the app's before the hook runs. An app
   * without the command: APPPKG_COMMAND_MISSING.
   */
  runCommand(name: CommandName, options: RunOptions = {}): Promise<number> {
    return this.#runCommand(name, options).catch(this.#namingOptions);
  }

  async #runCommand(name: CommandName, options: RunOptions): Promise<number> {
    // From JavaScript, any string can arrive here.
    if (!COMMAND_NAMES.includes(name)) {
      throw new GatewayError('APPPKG_USAGE', {
        reason: `runCommand: expected one of ${COMMAND_NAMES.join(', ')}, found ${JSON.stringify(name)}`,
        fix: "name a key of app.yaml's commands: (runCommand('test')); any other command line runs with run(argv), e.g. run(['python', 'manage.py', 'migrate'])",
      });
    }
    checkOptions('runCommand', options, RUN_KEYS, [], "runCommand('test', { timeoutMs: 60000 })");
    const command = this.#desc.commands[name];
    if (!command) {
      throw new GatewayError('APPPKG_COMMAND_MISSING', {
        app: this.name,
        command: name,
        have: Object.keys(this.description.commands),
        fix: name === 'backup' || name === 'restore' ? hooklessBackupFix(name, this.dir) : `add e.g. \`commands: {${name}: ${EXAMPLE_COMMANDS[name]}}\` to app.yaml`,
      });
    }
    // As the CLI's `--to`/`--from`: a hook given no directory would dump into, or load from, "" (its cwd).
    if ((name === 'backup' || name === 'restore') && !options.env?.APPPKG_BACKUP_DIR) {
      throw new GatewayError('APPPKG_USAGE', {
        reason: `runCommand('${name}'): expected the backup directory as options.env.APPPKG_BACKUP_DIR, found ${options.env?.APPPKG_BACKUP_DIR === '' ? 'an empty string' : 'none'}`,
        // A program's fix is its own call: `apppkg-gateway ${name} --help` was the CLI's.
        fix: `give the directory to ${name === 'backup' ? 'back up into' : 'restore from'}, e.g. runCommand('${name}', { env: { APPPKG_BACKUP_DIR: '/srv/backups/${this.name}' } })`,
      });
    }
    checkMilliseconds('runCommand', 'timeoutMs', options.timeoutMs, TIMEOUT_RULE);
    this.#assertPresent();
    const stateRoot = resolveStateRoot({ flag: this.#options.stateDir });
    // The hook runs in the app directory: a relative APPPKG_BACKUP_DIR is made absolute here, as `--to` and `--from` are.
    // A hook runs as the gateway runs its hooks (lifecycle/hook.ts): HOOK_ENV over the caller's and backup's variables.
    const hookWith = (ctx: AppContext) => (env: Readonly<Record<string, string>> = {}) => this.#spawn(ctx, { shell: command, key: `commands.${name}` }, { ...options, env: { ...options.env, ...env, ...HOOK_ENV } });
    if (name === 'backup') {
      const ctx = await this.#hookContext();
      return backupWithHook(appServiceScope(this.#desc, this.#hostEnv, stateRoot), ctx.runAs, path.resolve(options.env!.APPPKG_BACKUP_DIR), hookWith(ctx));
    }
    if (name === 'restore') {
      const source = path.resolve(options.env!.APPPKG_BACKUP_DIR);
      const manifest = await restorableBackup(this.#desc.name, source, stateRoot);
      const { user, userAt } = overridesFor(this.#hostEnv, this.name);
      const owner = ownerOf(resolveRunAs(this.#desc, user, userAt));
      // The hook's environment once the services are restored (on a fresh host, provisioned).
      const run = async (env: { APPPKG_BACKUP_DIR: string }) => hookWith(await this.#hookContext())(env);
      return restoreWithHook(appServiceScope(this.#desc, this.#hostEnv, stateRoot), source, manifest, owner, run);
    }
    if (HOOKS_RUN_AS_PRODUCTION.has(name)) return hookWith(await this.#hookContext())();
    const ctx = await this.#developmentContext();
    if (name !== 'test') return this.#spawn(ctx, { shell: command, key: `commands.${name}` }, options);
    const say = (line: string) => (this.#options.output ?? process.stderr).write(`apppkg-gateway: ${line}\n`);
    return withTestDatabases({ desc: this.#desc, hostEnv: this.#hostEnv, stateRoot, say }, () => this.#spawn(ctx, { shell: command, key: `commands.${name}` }, options));
  }

  /**
   * Runs argv (no shell) in the app's environment, as `apppkg-gateway run DIR -- ARGV...`:
   * `python` is the app's interpreter, the app directory the working directory. Resolves with
   * its exit status (127 when argv[0] is not found, 128+N when signal N ended it), once what it
   * left running has ended (SIGTERM, SIGKILL 3 s later), as runCommand's commands do.
   */
  async run(argv: readonly string[], options: RunOptions = {}): Promise<number> {
    // A string was spread into its characters: run('ls') ran `l`, not found (127).
    if (!Array.isArray(argv) || argv.some((arg) => typeof arg !== 'string')) {
      throw new GatewayError('APPPKG_USAGE', {
        reason: `run: expected argv, an array of strings, found ${shownValue(argv)}`,
        fix: "give the program and its arguments as an array, e.g. run(['python', 'manage.py', 'migrate']); a shell command line: run(['sh', '-c', 'LINE'])",
      });
    }
    checkOptions('run', options, RUN_KEYS, [], "run(['python', 'manage.py', 'migrate'], { timeoutMs: 60000 })");
    if (argv.length === 0) {
      throw new GatewayError('APPPKG_USAGE', { reason: 'run: expected a command to run, found an empty argv', fix: "give the program and its arguments, e.g. run(['python', 'manage.py', 'migrate'])" });
    }
    checkMilliseconds('run', 'timeoutMs', options.timeoutMs, TIMEOUT_RULE);
    this.#assertPresent();
    return this.#spawn(await this.#developmentContext().catch(this.#namingOptions), { argv: [...argv] }, options);
  }

  /**
   * The program that runs the app's Python and the directories that go first on its sys.path
   * (the app directory, each of `paths`, the virtualenv when installed), looked up only:
   * nothing is created (`describe --sys-path`; the Python library asks through it).
   */
  async pythonPaths(): Promise<{ executable: string; sysPath: string[] }> {
    const { python: override, pythonAt } = overridesFor(this.#hostEnv, this.name);
    const interpreter = await pickInterpreter(this.#desc, { override: override ?? undefined, overrideAt: pythonAt ?? undefined }).catch((err) => {
      throw atKey(err, this.#desc, 'python'); // with app.yaml's line, as check and run give it
    });
    const paths = await resolveAppPaths(this.#desc, { stateRoot: resolveStateRoot({ flag: this.#options.stateDir }), interpreter });
    return { executable: paths.python, sysPath: paths.sysPath };
  }

  /**
   * A program holds an AppPackage for as long as it likes, and the directory may go meanwhile (an
   * old version pruned after a deploy): as root the first stat met Node's bare ENOENT, otherwise
   * the spawn's ENOENT said its program was "not on the app's PATH" and check that Python was missing.
   */
  #assertPresent(): void {
    if (!existsSync(this.dir)) throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: this.dir, gone: true });
  }

  /** What this package's caller calls the state root's option (AppPackageOptions.optionNames). */
  get #stateKey(): string {
    return this.#options.optionNames?.stateDir ?? 'stateDir';
  }

  /** What this package's caller calls the environment file's option (AppPackageOptions.optionNames). */
  get #environmentKey(): string {
    return this.#options.optionNames?.environment ?? 'environment';
  }

  /**
   * Rethrows an error whose fix names the state root's option or the environment file's (a
   * refused state root, a role of another state root's, a server that does not answer) naming
   * it as the caller gave it; process.cwd()'s raw ENOENT (a relative APPPKG_BACKUP_DIR of
   * runCommand('backup') met a working directory removed since) as APPPKG_CWD_GONE, as open()'s.
   */
  readonly #namingOptions = (err: unknown): never => {
    const named = namingCallerOptions(namingCwdGone(this.#withoutEnvironmentFile(err), this.#commands), { stateKey: this.#stateKey, environmentKey: this.#environmentKey });
    throw isGatewayError(named) ? namingFixes(named, this.#commands, this.dir) : named;
  };

  /**
   * A service the host lacks, told by install, run or test given no environment file: "set
   * `services.postgresql` in the environment file" named a file the user never gave, and not
   * how to give one. As check says it (errors.ts passEnvironmentFile): in an environment file,
   * and pass it, on the caller's own command line (`startedAs`) when it has one.
   */
  #withoutEnvironmentFile(err: unknown): unknown {
    if (!isGatewayError(err) || err.code !== 'APPPKG_SERVICE_MISSING' || this.#hostEnv.file !== null || err.details.noEnvironmentFile !== undefined) return err;
    const { startedAs, startedAsRest } = this.#options.optionNames ?? {};
    return new GatewayError(err.code, { ...err.details, noEnvironmentFile: true, dir: this.dir, ...(startedAs === undefined ? {} : { startedAs }), ...(startedAsRest === undefined ? {} : { startedAsRest }) });
  }

  /** What this package's caller calls the CLI's commands (AppPackageOptions.optionNames). */
  get #commands(): CommandWords {
    return this.#options.optionNames?.commands ?? LIBRARY_COMMAND_WORDS;
  }

  #spawn(ctx: AppContext, what: { argv: string[] } | { shell: string; key: string }, options: RunOptions): Promise<number> {
    return runInAppEnvironment(ctx, { ...what, extraEnv: options.env, output: options.output ?? this.#options.output, timeoutMs: options.timeoutMs });
  }

  /**
   * As run and test: development, and a required setting may come from our environment. As
   * root, the command runs as the app's user, as its processes and hooks do (`sudo
   * apppkg-gateway run DIR -- python manage.py migrate` must not leave files in its data
   * directory that the app can no longer write).
   */
  #developmentContext(): Promise<AppContext> {
    return resolveApp({
      dir: this.dir,
      desc: this.#desc,
      hostEnv: this.#hostEnv,
      mode: 'development',
      stateDir: this.#options.stateDir,
      settingsFromProcessEnv: true,
      // run and test connect: the app's database and Redis user are made where missing (SPEC 5.2).
      provisionServices: true,
      switchUser: process.getuid?.() === 0,
      say: (line) => (this.#options.output ?? process.stderr).write(`apppkg-gateway: ${line}\n`),
    });
  }

  #hookContext(): Promise<AppContext> {
    return resolveForHook({ dir: this.dir, desc: this.#desc, hostEnv: this.#hostEnv, stateDir: this.#options.stateDir });
  }
}

/**
 * `err` naming who could not read its file, where this process read it as itself: its fix said
 * "the user the gateway runs as" to a program that had started no gateway. Not a root's read
 * refused for an app's user (`appUser`), which names that user already.
 */
function namingReader(err: GatewayError, role = 'the user this program runs as'): GatewayError {
  if (err.code !== 'APPPKG_FILE_UNREADABLE' || err.details.appUser !== undefined || err.details.reader !== undefined) return err;
  return new GatewayError(err.code, { ...err.details, reader: processUser(), readerRole: role });
}

/** This process's user as `name (uid N)`; the uid alone for one the passwd database does not name. */
function processUser(): string {
  const uid = process.getuid?.();
  try {
    return `${userInfo().username} (uid ${uid ?? userInfo().uid})`;
  } catch {
    return `uid ${uid ?? '?'}`;
  }
}

/**
 * A failure of install() whose program's output went to the `output` stream its caller gave (to
 * `givenTo`): pip's, apt's or commands.install's. Its fix said "read its output above", where a
 * program may have kept none of it: it names that stream, and the output's last lines come with
 * the error (install-venv.ts's `pipTail`, install.ts's `outputTail`). A hook's output in the
 * app's log (`log`) is named there already.
 */
function outputNamed(err: unknown, givenTo: string | null): unknown {
  if (givenTo === null || !isGatewayError(err)) return err;
  const stream = `the \`output\` stream you gave ${givenTo}`;
  if (err.code === 'APPPKG_PIP_INSTALL_FAILED' && err.details.pipOutputIn === undefined) return new GatewayError(err.code, { ...err.details, pipOutputIn: stream });
  if ((err.code === 'APPPKG_COMMAND_FAILED' || err.code === 'APPPKG_APT_FAILED') && err.details.outputIn === undefined && !err.details.log) return new GatewayError(err.code, { ...err.details, outputIn: stream });
  return err;
}
