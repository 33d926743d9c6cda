// What a fix tells its reader to do where the CLI has a command for it, in the caller's words,
// as OptionNames (gateway-options.ts) names the options: a program running a Gateway was told
// to run `apppkg-gateway restart blog` on a gateway that has no admin listener for that command
// to reach (admin: false) and a method of its own that does it.
import path from 'node:path';
import { APP_YAML_LINES, GatewayError, SEND_SIGHUP, type ErrorDetails } from './errors.js';
import { shellWord } from './shell-words.js';

export interface CommandWords {
  /** What restarts app `name` (building a virtualenv removed by hand again). */
  restart(name: string): string;
  /** Said after restart's words where they do not reach every gateway the caller runs. */
  restartElsewhere: string;
  /** What rolls `name` back to the version below the one serving. */
  rollback(name: string): string;
  /** What shows each app's state and a refusal whole. */
  status: string;
  /** Where to look for why a restart or rollback of app `name` failed: its log and the status, said after "see". */
  logsAndStatus(name: string): string;
  /** What loads an app's data from a backup. */
  restore: string;
  /**
   * What builds an app's virtualenv and state directories: for the package in `dir`, or, left
   * out, the one the reader is looking at. `also`: the environment file and state root the
   * reader's command was given, which install must be given too (the CLI's flags; a library
   * caller's AppPackage holds them already).
   */
  install(dir?: string, also?: { environment?: string; stateDir?: string }): string;
  /** What else makes an app's state directories, beside install's words. */
  makesStateDirs: string;
  /** What writes an app.yaml for the project in `dir`, said in a parenthesis; '' where the caller has nothing that does. */
  writesAppYaml(dir: string): string;
  /** What looks at the apps directory again now (watched or not: watchIntervalMs 0), said as an imperative. */
  rescan: string;
  /** What reads the environment file again, then looks at the apps (the gateway's reload()), where its line begins. */
  reload: string;
  /** reload's as an imperative, said after "then" or "you": what has the gateway read its environment file again and try its refused versions with it. */
  reloadNow: string;
  /** What delivers dead letters again (by id, or all of an app's), said beside them in status. */
  retryMail: string;
  /** What deletes dead letters for good, said beside the retry. */
  deleteMail: string;
  /** What starts the apps again once the gateway's stop has begun (an action asked during it is refused). */
  startAgain: string;
  /**
   * Who entered the working directory found removed (APPPKG_CWD_GONE), and what leaves it for a
   * directory that exists, `dir` being where it was; null for errors.ts's own words, the CLI's
   * (the shell entered it; `cd`, and run the command again).
   */
  cwdGone: { enteredBy: string; fix(dir: string | undefined): string } | null;
  /**
   * What repeats the import of the app in `dir` where its reader sees the traceback, for a
   * refusal's fix; null for errors.ts's own words, the CLI's (`apppkg-gateway check DIR`, which
   * say where it shows: the terminal).
   */
  check(dir: string): string | null;
  /**
   * The details errors.ts's fixes read where they name a CLI command (a terminal to see output
   * in, `init`, `describe`, `run`, `install --system`) or the gateway's signal (`rescanCall`,
   * `reloadCall`: rescan and reloadNow), for the package in `dir`; null for errors.ts's own
   * words, the CLI's under --apps. namingFixes gives them to an error.
   */
  fixDetails: ((dir: string) => ErrorDetails) | null;
}

/** The CLI's commands, as its user types them. */
export const CLI_COMMAND_WORDS: CommandWords = {
  restart: (name) => `\`apppkg-gateway restart ${name}\``,
  restartElsewhere: ' (under serve: start serve again)',
  rollback: (name) => `\`apppkg-gateway rollback ${name}\``,
  status: '`apppkg-gateway status`',
  logsAndStatus: (name) => `\`apppkg-gateway logs ${name}\` and \`apppkg-gateway status\``,
  restore: '`apppkg-gateway restore`',
  install: (dir, also = {}) =>
    `\`apppkg-gateway install${dir === undefined ? '' : ` ${shellWord(dir)}`}${also.environment === undefined ? '' : ` --environment ${shellWord(also.environment)}`}${also.stateDir === undefined ? '' : ` --state-dir ${shellWord(also.stateDir)}`}\``,
  makesStateDirs: 'serve, run and the gateway',
  writesAppYaml: (dir) => ` (\`apppkg-gateway init ${dir}\` writes one for the project there)`,
  // SIGHUP reads the environment file, then rescans: the one signal does both (errors.ts).
  rescan: SEND_SIGHUP,
  reload: 'SIGHUP',
  reloadNow: SEND_SIGHUP,
  retryMail: 'apppkg-gateway mail retry ID... (or --all [APP])',
  deleteMail: 'apppkg-gateway mail delete ID... (or --all [APP])',
  startAgain: 'start the gateway again',
  cwdGone: null,
  check: () => null,
  fixDetails: null,
};

/**
 * serve's: the CLI's commands, but for what the gateway's SIGHUP does. To serve a SIGHUP is its
 * terminal closed, and it stops (cli/commands/serve.ts); it reads its environment file once, as
 * it starts, and under --reload a change to a .py file or app.yaml under the app's directory
 * starts the app again (gateway-serve-reload.ts). A fix that said "SIGHUP reads it" ended serve.
 */
const SERVE_RESCAN = 'start serve again (under --reload, save a change to a .py file or app.yaml of the app)';
const SERVE_RELOAD = 'start serve again (serve reads its environment file once, as it starts)';
export const SERVE_COMMAND_WORDS: CommandWords = {
  ...CLI_COMMAND_WORDS,
  rescan: SERVE_RESCAN,
  reloadNow: SERVE_RELOAD,
  // Only what differs from errors.ts's own words: the rest of serve's fixes are the CLI's.
  fixDetails: () => ({ rescanCall: SERVE_RESCAN, reloadCall: SERVE_RELOAD }),
};

/**
 * What the admin listener's answers say (its restart and rollback, a broken package's 409) in a
 * gateway whose own words are `own`: the CLI's commands for what a client of the listener does
 * through it (status, logs, restart: they reach the gateway so whoever started it), the
 * gateway's own for what only the program running it does. A library Gateway installs no SIGHUP
 * handler (the signal would end the program): told to send one, a client of its listener would
 * have killed it, where its program has rescan().
 */
export function adminListenerWords(own: CommandWords): CommandWords {
  return { ...CLI_COMMAND_WORDS, rescan: own.rescan, reload: own.reload, reloadNow: own.reloadNow, startAgain: own.startAgain };
}

const LIBRARY_RESCAN = 'call `gateway.rescan()`';
const LIBRARY_RELOAD = 'call `gateway.reload()`';

/**
 * A library caller's: the Gateway's methods, and AppPackage's runCommand where the Gateway has
 * none (a restore is of one app's package, run beside the gateway: README, "As a library").
 */
export const LIBRARY_COMMAND_WORDS: CommandWords = {
  restart: (name) => `\`gateway.restart('${name}')\``,
  restartElsewhere: '',
  rollback: (name) => `\`gateway.rollback('${name}')\``,
  status: '`gateway.status()`',
  // A Gateway has no logs call: status() names each app's log file, with its last lines.
  logsAndStatus: (name) => `\`gateway.status()\` and the log of ${name} it names (\`log.file\`)`,
  restore: "AppPackage's `runCommand('restore', { env: { APPPKG_BACKUP_DIR: DIR } })`",
  install: () => "AppPackage's `install()`",
  makesStateDirs: 'its `run()` and `runCommand()` and a Gateway serving it',
  // init is the CLI's alone: the library has no call that writes an app.yaml.
  writesAppYaml: () => '',
  // A Gateway installs no signal handler: a SIGHUP would end the program.
  rescan: LIBRARY_RESCAN,
  reload: '`gateway.reload()`',
  reloadNow: LIBRARY_RELOAD,
  retryMail: 'gateway.retryMail({ ids: [ID, ...] }) (or { all: true, app: APP })',
  deleteMail: 'gateway.deleteMail({ ids: [ID, ...] }) (or { all: true, app: APP })',
  // A stopped Gateway is not started again: a program starts another.
  startAgain: 'start a new gateway (Gateway.start)',
  // A relative path is resolved against the program's working directory: no shell, no cd.
  cwdGone: {
    enteredBy: 'the program',
    fix: (dir) => `give the call absolute paths, or move the program to a directory that exists first (\`process.chdir(DIR)\`${dir === undefined ? '' : `; \`process.chdir(${JSON.stringify(dir)})\` enters the one made again at that path, if a deploy replaced it`}), and call it again`,
  },
  check: (dir) => libraryCheck(dir),
  fixDetails: (dir) => ({
    checkCall: libraryCheck(dir),
    // What the CLI's command shows in the terminal, a program reads where it sends the output.
    installShown: "AppPackage's `install({ output: process.stderr })`",
    systemInstall: "AppPackage's `install({ system: true })`",
    describeCall: `\`(await AppPackage.open(${JSON.stringify(dir)})).description\``,
    runCall: `\`(await AppPackage.open(${JSON.stringify(dir)})).run(['sh', '-c', 'PORT=8080 ...'])\``,
    // The library has no call that writes an app.yaml (init is the CLI's): the lines that go in
    // one, as Python's AppPackage is told (cli/args.ts); "README says what it holds" sent its
    // reader off to find the two it needs.
    writeAppYaml: `write ${shellWord(path.join(dir, 'app.yaml'))}, ${APP_YAML_LINES}`,
    // An app running under a gateway, met by runCommand('restore'): what stops it, and what to call then.
    stopServing: "take its directory out of its gateway's `apps` (the gateway stops it), or stop the gateway that serves it alone (the `stop()` of its `Gateway.start({ app })`)",
    againCall: "AppPackage's `runCommand()`",
    // The backup directory came as runCommand()'s env.APPPKG_BACKUP_DIR, not as --to or --from.
    backupCall: true,
    rescanCall: LIBRARY_RESCAN,
    reloadCall: LIBRARY_RELOAD,
    // What was given the app directory: a call's argument, not the CLI's APP_DIR.
    dirGiver: 'the call',
  }),
};

function libraryCheck(dir: string): string {
  return `\`(await AppPackage.open(${JSON.stringify(dir)})).check()\``;
}

/**
 * `error` with its fix in `words` for the package in `dir`: a program running a Gateway or an
 * AppPackage was told of `apppkg-gateway install DIR` in the terminal, `init`, `describe`, `run`
 * and `install --system`. The error itself where the words are errors.ts's own (the CLI's), or
 * where it names the call already (check.ts's, say).
 */
export function namingFixes(error: GatewayError, words: Pick<CommandWords, 'fixDetails'>, dir: string): GatewayError {
  const details = words.fixDetails?.(dir);
  if (!details) return error;
  const added = Object.entries(details).filter(([key]) => error.details[key] === undefined);
  return added.length === 0 ? error : new GatewayError(error.code, { ...error.details, ...Object.fromEntries(added) });
}
