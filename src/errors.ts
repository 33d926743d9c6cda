// Every failure a user can cause has a stable code, a message built from values, a hint that
// says how to fix it, and the CLI exit status it maps to. Callers match on `code`, never on
// message text. This table is also the one source of docs/errors.md: scripts/errors-doc.mjs
// renders it (`npm run docs:errors`), and test/errors.test.ts fails when the file is stale.

import path from 'node:path';
import { countOf, listOf } from './count.js';
import { shellLine, shellWord } from './shell-words.js';
import { hangingLines } from './log/hanging-lines.js';
import { tornadoProcessLines } from './description/tornado-command.js';

export interface ErrorDetails {
  file?: string;
  line?: number;
  column?: number;
  key?: string;
  expected?: string;
  found?: string;
  cause?: unknown;
  /** A description error may carry every problem found in its file, each a GatewayError. */
  problems?: GatewayError[];
  /** Values the message and hint templates use. */
  [name: string]: unknown;
}

interface CodeEntry {
  /** What happened, for docs/errors.md: one or two sentences of Markdown on one line. */
  summary: string;
  /** One line, built from the details; never mentions the file position (added around it). */
  message: (d: ErrorDetails) => string;
  /** How to fix it, built from the details; printed after `fix:` and shown in docs/errors.md. */
  hint: (d: ErrorDetails) => string;
  /** CLI exit status: 1 = the command ran and failed, 2 = bad usage. */
  exitStatus: 1 | 2;
  /** Typical details, with which docs/errors.md renders the hint (and the test, the message). */
  example: ErrorDetails;
}

const str = (v: unknown): string => (v === undefined ? '' : String(v));

/** What an app.yaml written by hand holds, for a fix where `init` has not written it (or cannot be run). */
export const APP_YAML_LINES = 'two lines: `platform: python, wsgi` (or `asgi`) and `app: module:object`, e.g. `app: myapp.wsgi:application` for an `application` in myapp/wsgi.py';
/** The parts of a comma-separated `paths:` entry that are not directories either, joined; '' when none is named. */
const partsMissing = (d: ErrorDetails): string => (Array.isArray(d.partsMissing) ? d.partsMissing.map(String).join(', ') : '');
const itOrThem = (d: ErrorDetails): string => (Array.isArray(d.partsMissing) && d.partsMissing.length > 1 ? 'them' : 'it');

/**
 * `value` given to the option `name` as its caller writes it: a flag takes it after a space
 * (`--admin 0.0.0.0:8099`), a library option or a file's key after a colon (`admin: 0.0.0.0:8099`,
 * `mail.listen: ...`). A library caller told of `--admin-token FILE` read of a flag it never had.
 */
export function givenAs(name: string, value: string): string {
  // `state_dir=`: a Python keyword argument (APPPKG_CALLER=python, cli/args.ts appOptionNames).
  if (name.endsWith('=')) return `${name}${value}`;
  return name.startsWith('-') ? `${name} ${value}` : `${name}: ${value}`;
}

/**
 * How the caller chooses another state root: the option it has (`stateKey`: the CLI's
 * --state-dir by default, the library's stateDir), or the variable both read. A program told
 * "--state-dir" had no such flag to give.
 */
function stateRootOption(d: ErrorDetails, value?: string): string {
  const key = str(d.stateKey) || '--state-dir';
  // A keyword argument (`state_dir=`) is said with its value: `state_dir= (or ...)` read as a typo.
  const option = value === undefined ? (key.endsWith('=') ? givenAs(key, 'DIR') : key) : givenAs(key, value);
  return key.startsWith('-') && value === undefined ? `${option} or APPPKG_STATE_DIR` : `${option} (or APPPKG_STATE_DIR)`;
}

/**
 * How the caller gives the environment file: the option it has (`environmentKey`: the CLI's
 * --environment by default, the library's `environment`, Python's `environment=`), with `FILE`.
 * A program told "--environment FILE" had no such flag to give.
 */
function environmentOption(d: ErrorDetails): string {
  return givenAs(str(d.environmentKey) || '--environment', 'FILE');
}

/**
 * The call that checks an app with the environment file, in the caller's terms: the CLI's
 * `check` by default, AppPackage's check() for the library (`environment`) and for Python's
 * (`environment=`). A program told to run `apppkg-gateway check` had no such command in hand.
 */
function checkCall(d: ErrorDetails): string {
  const key = str(d.environmentKey) || '--environment';
  if (key.startsWith('-')) return `\`apppkg-gateway check APP_DIR ${givenAs(key, 'FILE')}\``;
  if (key.endsWith('=')) return `\`AppPackage(APP_DIR, ${givenAs(key, 'FILE')}).check()\``;
  return `\`(await AppPackage.open(APP_DIR, { ${givenAs(key, 'FILE')} })).check()\``;
}

/** The option that bounds a deploy's hook, as its caller gives it: the CLI's --hook-timeout SECONDS, the library's hookTimeoutMs. */
function hookTimeoutOption(d: ErrorDetails): { key: string; longer: string } {
  const key = str(d.hookTimeoutKey) || '--hook-timeout';
  return { key, longer: key.startsWith('-') ? `a longer ${key} SECONDS` : `a larger ${key} (milliseconds)` };
}

/** The pip settings in an error's details (vendor-pip-config.ts ConflictingSetting). */
/** Where the pip that built a virtualenv looked, as APPPKG_PIP_INSTALL_FAILED's fix says it. */
const lookedIn = (d: ErrorDetails): string => {
  const host = Array.isArray(d.hostSources) && d.hostSources.length > 0 ? `what the host's pip configuration names (${d.hostSources.map(str).join(', ')})` : null;
  if (host) return `pip looked in ${host}${d.index ? ', the index the requirements name' : ''}, the app directory and beside the requirements file`;
  if (d.index) return 'pip looked in the index the requirements name, the app directory and beside the requirements file';
  // Neither names an index nor --find-links (the error's summary says so).
  return 'pip runs offline (--no-index)';
};
/** What the unread configuration left install to do: offline, unless the requirements or a PIP_* variable named a source. */
const ranOffline = (d: ErrorDetails): string => (!Array.isArray(d.hostSources) && !d.index ? ', and install ran pip offline (--no-index)' : '');
/**
 * Where pip's output is: the app's log (`log`), the stream a library caller gave or inherited
 * (`pipOutputIn`, app-package.ts), with its last lines (`pipTail`) in case that stream kept
 * nothing; else the terminal, above.
 */
const pipOutputAt = (d: ErrorDetails): string => outputWhere(d.log, d.pipOutputIn, d.pipTail);
/**
 * Where a program's output is, as pipOutputAt says pip's: the app's log, the `output` stream a
 * library caller gave (`outputIn`, app-package.ts) with its last lines (`outputTail`,
 * output-tail.ts), else the terminal, above. For a hook and apt.
 */
const outputAt = (d: ErrorDetails): string => outputWhere(d.log, d.outputIn, d.outputTail);
function outputWhere(log: unknown, givenStream: unknown, tail: unknown): string {
  if (log) return `in ${str(log)}`;
  if (!givenStream) return 'above';
  const last = Array.isArray(tail) && tail.length > 0 ? `; its last lines: ${tail.map(str).join(' | ')}` : '';
  return `(it went to ${str(givenStream)}${last})`;
}
/** The virtualenv's pip could not be imported: pip install stopped on it before any requirement. */
const noPipFix = (d: ErrorDetails): string =>
  `the virtualenv's pip cannot be imported (${str(d.noPip)})${Array.isArray(d.configUnread) ? `, so neither was the host's pip configuration (${d.configUnread.map(str).join(', ')}) read` : ''}${ranOffline(d)}; pip install stops on the same import (its output ${d.pipOutputIn ? 'says so' : pipOutputAt(d)}) before it looks for any requirement: that is what to mend, in the interpreter or its venv, not the requirements`;
/**
 * The host's pip configuration files went unread (pip-host-config.ts: the venv's pip could not
 * be asked), so install ran pip offline: what stopped the question (no pip, a malformed file)
 * is what pip install reads too, first to mend, before what pip says it lacked.
 */
const configUnreadFix = (d: ErrorDetails): string =>
  `the host's pip configuration (${(d.configUnread as unknown[]).map(str).join(', ')}) was not read, as ${str(d.configUnreadReason)}; pip install reads the same files, and its output says whether it failed on them: mend them first, then run it again. Else: `;
/**
 * A requirement pip builds whose backend it could not get, as install and vendor both say it:
 * offline it can fetch none; with an index, that index (a mirror of some packages) lacked the
 * one named. `where`: where pip looked, as the fix's words before have it or not; `python`: the
 * interpreter whose pip builds the wheel, when known; `findLinks`: the command that takes
 * --find-links DIR, where the backend's wheels can be given offline.
 */
const sourceBuildFix = (d: ErrorDetails, how: { offline: boolean; where: string; requirements: string; python?: string; findLinks?: string }): string => {
  const source = str(d.source);
  const backend = d.backend ? str(d.backend) : null;
  const wheelFix = `ship a built wheel instead, \`${how.python ? `${how.python} -m pip` : 'pip'} wheel ${source} -w wheels/\`, and name the wheel (wheels/NAME-VERSION-...whl) in ${how.requirements} in its place`;
  if (how.offline) {
    const findLinks = how.findLinks ? `, or give ${how.findLinks} the backend's wheels as well, with --find-links DIR (\`pip download '${backend ?? 'setuptools'}' wheel -d DIR\` where there is a network)` : '';
    return `${source} is built from source, which needs its build backend (${backend ?? 'setuptools, ...'}) that offline pip cannot fetch: ${wheelFix}${findLinks}`;
  }
  // The name as the log has it (setuptools>=61); the project alone is what a mirror adds.
  const project = backend?.replace(/[<>=!~;[\s].*$/, '');
  return `${source} is built from source, which needs its build backend, and pip found ${backend ? `no ${backend}` : 'none'} ${how.where}: ${wheelFix}${project ? `, or add ${project} where pip looks` : ''}`;
};
const pipSettings = (v: unknown): { name: string; value: string; variable?: string; file?: string; section?: string }[] => (Array.isArray(v) ? v : []);

/**
 * A file's problems after its count, each at its place as the CLI prints them: a library user
 * who logs only `message` (not format()) still learns where each one is.
 */
const listedProblems = (d: ErrorDetails): string => (d.problems?.length ? `: ${d.problems.map((p) => p.placedMessage).join('; ')}` : '');
/** The app directory a hint's command names (`apppkg-gateway check DIR`): the real one when known. */
const appDirWord = (d: ErrorDetails): string => (d.dir ? shellWord(str(d.dir)) : 'DIR');
/**
 * What has a gateway under --apps look at its apps again, and read its environment file first:
 * the one signal does both. Under systemd its user has `systemctl reload` (the unit's ExecReload
 * sends it), not the main pid to send it to. command-words.ts's CLI words say it too.
 */
export const SEND_SIGHUP = 'send the gateway SIGHUP (`systemctl reload apppkg-gateway` under systemd)';
/** CommandWords.rescan as a fix says it: the caller's (`rescanCall`: serve's, a library Gateway's), else SIGHUP's. */
const rescanCall = (d: ErrorDetails): string => str(d.rescanCall) || SEND_SIGHUP;
/** CommandWords.reloadNow as a fix says it: the caller's (`reloadCall`), else SIGHUP's. */
const reloadCall = (d: ErrorDetails): string => str(d.reloadCall) || SEND_SIGHUP;
/**
 * What tries a failed import again: a change to a refused version's files; for an idle app's
 * wake (`wake`), only the first request after its back-off, which no edit of its `.py` files makes sooner.
 */
const retriedBy = (d: ErrorDetails): string =>
  d.wake ? 'the first request after its back-off (`next wake` in status) wakes it again, an edit of its files does not make that sooner' : 'a change to any file of the version retries it';
/**
 * The call that repeats the app's import, doing `does`, as its caller has it (`checkCall`:
 * AppPackage's check() for the library); else the CLI's `check DIR`, and where it shows (`cliWhere`).
 */
const checkAgain = (d: ErrorDetails, does: string, cliWhere: string): string =>
  d.checkCall ? `${str(d.checkCall)} ${does}` : `\`apppkg-gateway check ${appDirWord(d)}\` ${does}${cliWhere}`;
/**
 * The backup directory as its caller gave it: the CLI's `backup --to DIR` and `restore --from DIR`,
 * or a program's `runCommand()` env (`backupCall`, which namingFixes adds for a library caller, who
 * gave no flag).
 */
const backupDirGiven = (d: ErrorDetails, command: 'backup' | 'restore'): string =>
  d.backupCall ? `runCommand('${command}'): APPPKG_BACKUP_DIR ${str(d.path)}` : `${command} --${command === 'backup' ? 'to' : 'from'} ${str(d.path)}`;
/** A fresh backup directory, given as its caller gives one. */
const newBackupDir = (d: ErrorDetails): string =>
  d.backupCall
    ? `runCommand('backup', { env: { APPPKG_BACKUP_DIR: '/var/backups/${str(d.app) || 'NAME'}-YYYY-MM-DD' } })`
    : `--to /var/backups/${str(d.app) || 'NAME'}-$(date +%F)`;
/** What writes a backup, in its caller's words. */
const backupWriter = (d: ErrorDetails): string => (d.backupCall ? "runCommand('backup') (or `apppkg-gateway backup`)" : '`apppkg-gateway backup`');
/**
 * Run with no environment file (`noEnvironmentFile`): a new user does not know the gateway
 * reads one, so the fix says "an" file and how to give it, in the caller's terms. A gateway
 * that has one names it (`environmentFile`): the one to edit, not one like it elsewhere.
 */
const theEnvironmentFile = (d: ErrorDetails): string =>
  d.noEnvironmentFile ? 'an environment file' : d.environmentFile ? str(d.environmentFile) : 'the environment file';
const passEnvironmentFile = (d: ErrorDetails): string => {
  if (d.entry === 'serve' || d.entry === 'apps') return entryTakesFile(d, d.entry);
  if (!d.noEnvironmentFile) return '';
  const key = str(d.environmentKey) || '--environment';
  if (!key.startsWith('-')) return `, and pass it: ${checkCall(d)}`;
  // check's own command line (`startedAs`), its --state-dir kept: without it the check ran again
  // on another state root (as root, /var/lib/apppkg-gateway's).
  // run's `-- CMD` (`startedAsRest`) after the option: after `--`, CMD took it as its own.
  const rest = d.startedAs && d.startedAsRest ? ` ${str(d.startedAsRest)}` : '';
  return `, and pass it: \`apppkg-gateway ${d.startedAs ? str(d.startedAs) : `check ${appDirWord(d)}`} ${givenAs(key, 'FILE')}${rest}\``;
};
/**
 * How the running gateway comes to read what the fix sets (`entry`: serve or --apps, `entryDir`
 * its directory as given): a new user told of `check --environment FILE` restarted serve or the
 * gateway without it. serve reads its file once, as it starts; --apps reads it again at SIGHUP,
 * but a gateway started with none has no file to read again.
 */
function entryTakesFile(d: ErrorDetails, entry: 'serve' | 'apps'): string {
  const key = str(d.environmentKey) || '--environment';
  const cli = key.startsWith('-');
  const dir = d.entryDir ? shellWord(str(d.entryDir)) : 'DIR';
  if (d.noEnvironmentFile) {
    // The user's own command line (`startedAs`), its --listen and --state-dir kept, with the file added.
    if (cli && d.startedAs) return `, and ${entry === 'serve' ? 'pass it' : 'start the gateway with it'}: \`apppkg-gateway ${str(d.startedAs)} ${givenAs(key, 'FILE')}\``;
    if (!cli) return `, and start the Gateway with it: \`Gateway.start({ ${entry === 'serve' ? 'app' : 'apps'}: ${JSON.stringify(str(d.entryDir) || 'DIR')}, ${givenAs(key, 'FILE')} })\``;
    return entry === 'serve'
      ? `, and pass it: \`apppkg-gateway serve ${dir} ${givenAs(key, 'FILE')}\``
      : `, and start the gateway with it: \`apppkg-gateway --apps ${dir} ${givenAs(key, 'FILE')}\``;
  }
  if (entry === 'serve') return `, then start ${cli ? 'serve' : 'the Gateway'} again: it reads the file once, as it starts`;
  // What SIGHUP does, in the caller's words (reloadCall: a library Gateway's reload(), which
  // reads the file and retries the refused versions, as the signal does).
  return `, then ${reloadCall(d)}: it reads the file again and retries the app`;
}
/**
 * Where a longer start_timeout goes, and what has the gateway read it: run with no environment
 * file there is none to edit or read again, so it is one to make and give (as the caller gives it).
 */
const startTimeoutWhere = (d: ErrorDetails): string =>
  d.noEnvironmentFile
    ? `in an environment file (e.g. \`apps: {${d.name ? str(d.name) : 'NAME'}: {start_timeout: ${Math.ceil(Number(d.seconds) * 2) || 120}}}\`)${passEnvironmentFile(d)}`
    : `in the environment file, then ${reloadCall(d)}`;
/** What builds the app's virtualenv, as its caller has it (`install`: AppPackage's install() for the library); the CLI's command by default. */
const installCall = (d: ErrorDetails): string => str(d.install) || `\`apppkg-gateway install ${appDirWord(d)}\``;
/**
 * What builds the virtualenv where its output shows, and where that is: the caller's
 * (`installShown`: AppPackage's install() given an output), else the CLI's `install DIR`.
 */
const installShown = (d: ErrorDetails): { call: string; where: string } =>
  d.installShown ? { call: str(d.installShown), where: 'with its output shown' } : { call: `\`apppkg-gateway install ${str(d.dir) || 'DIR'}\``, where: 'in the terminal' };
/** The --environment and --state-dir the command line gave (cli/fix-options.ts), for a command to run again. */
const appOptionsWords = (d: ErrorDetails): string => (Array.isArray(d.appOptions) && d.appOptions.length > 0 ? ` ${shellLine(d.appOptions.map(str))}` : '');
/**
 * An uninstall whose drops on the host's servers stopped once something was gone (remove-services.ts
 * gives `dropped` and `left`): what is gone, what is still there, and that running it again finishes.
 */
/** What PostgreSQL and Redis answer to a login they refuse (libpq's and ioredis's words). */
const LOGIN_REFUSED = /password authentication failed|no password supplied|role "[^"]*" does not exist|WRONGPASS|NOAUTH|invalid username-password/i;

const stoppedHalfway = (d: ErrorDetails): string =>
  Array.isArray(d.dropped) && Array.isArray(d.left)
    ? `; uninstall stopped halfway: it dropped ${listOf(d.dropped.map(str))}, and left ${listOf(d.left.map(str))}; once that is fixed, run \`apppkg-gateway uninstall ${appDirWord(d)}${appOptionsWords(d)}\` again to finish`
    : '';
/**
 * The fix for a file the app's user may not execute though chmod +x is not what it lacks
 * (programProblem asked the kernel): a directory on its way that user may not search, or an ACL
 * entry or a noexec mount that refuses what the mode bits allow; '' for a file's mode bits.
 * `runWith`: how to run it with its interpreter instead (` in KEY (...)`).
 */
const notModeFix = (d: ErrorDetails, runWith: string): string => {
  const user = str(d.user) || 'USER';
  if (d.unsearchable) {
    const dir = shellWord(str(d.unsearchable));
    return `let the app's user search ${str(d.unsearchable)} (\`chmod o+x ${dir}\`, or \`setfacl -m u:${user}:x ${dir}\`), or put the program where that user can reach it`;
  }
  if (!d.modeAllows) return '';
  const file = shellWord(str(d.located));
  return `an ACL entry or a noexec mount refuses it (\`getfacl ${file}\`, \`findmnt -T ${file}\`): give the app's user execute (\`setfacl -m u:${user}:rx ${file}\`, or mount it without noexec), or run it with its interpreter${runWith}`;
};
/**
 * Whose worker did not start: the app's name and directory first, which is what its reader looks
 * for among the apps, then its `app:` value (`wsgi:app` alone named no app). The value alone where
 * neither is known.
 */
const workerOf = (d: ErrorDetails): string => {
  const value = d.app ? `app: ${str(d.app)}` : '';
  const head = d.name ? str(d.name) : d.dir ? str(d.dir) : '';
  if (head === '') return str(d.app);
  const after = [d.name && d.dir ? str(d.dir) : '', value].filter((part) => part !== '');
  return after.length > 0 ? `${head} (${after.join(', ')})` : head;
};
/** `package` or `packages`, as many as the names listed in `list` ("a b", "a, b"). */
/** pip refused wheels for their tags (lifecycle/pip-wheel-tags.ts): which, and the tag that would load. */
const unloadableWheelsFix = (d: ErrorDetails): string => {
  const wheels = Array.isArray(d.unloadable) ? d.unloadable.map(str) : [];
  const one = wheels.length === 1;
  return (
    `${wheels.join(' and ')} ${one ? 'is a wheel' : 'are wheels'} built for another interpreter or platform, which the app's ${str(d.python)} cannot load` +
    `${d.pythonTag ? ` (its wheels are tagged ${str(d.pythonTag)})` : ''}: ship ${one ? 'one' : 'them'} built for that interpreter ` +
    `(\`${str(d.executable) || 'python3'} -m pip wheel NAME -w wheels/\` on this host) or a pure-Python one (py3-none-any), ` +
    `or have \`python:\` in app.yaml pick the interpreter ${one ? 'it was' : 'they were'} built for`
  );
};

const nounFor = (list: unknown, singular: string): string => (str(list).split(/[\s,]+/).filter(Boolean).length === 1 ? singular : `${singular}s`);


// To add a code: APPPKG_<AREA>_<WHAT>, never reused, one entry shaped like
//
//   APPPKG_AREA_WHAT: {
//     summary: 'What happened, for the docs (Markdown, one line).',
//     message: (d) => `KEY: expected X, found ${str(d.found)}`,
//     hint: (d) => `how to fix it, with ${str(d.value)}`,
//     exitStatus: 1,
//     example: { found: 'a typical value', value: 'another' },
//   },
//
// then run `npm run docs:errors` to regenerate docs/errors.md.
export const ERROR_CODES = {
  APPPKG_USAGE: {
    summary: 'The command line is wrong: an unknown option, a missing or extra argument. From the library, a call\'s arguments are: an option the call does not know (`Gateway.start({ workerz: 3 })`, said with the one meant), no options object, a value of the wrong type or range.',
    message: (d) => str(d.reason),
    // A value of the wrong form has its own fix, the accepted form by example: --help would only list the flags.
    hint: (d) => str(d.fix) || `run \`apppkg-gateway ${d.command ? `${str(d.command)} ` : ''}--help\` for the usage`,
    exitStatus: 2,
    example: { reason: 'unknown option --prot', command: 'serve' },
  },
  APPPKG_CWD_GONE: {
    summary: 'The directory the command was started in no longer exists: it was removed (or replaced, by a deploy) after the shell entered it. Nothing was done: APP_DIR\'s default, relative paths and the interpreter probe all start from it. The launcher (bin/apppkg-gateway) is a shell script, and the shell says `sh: 0: getcwd() failed` first, as it starts, before any line of the script runs. A library call given a relative path there (`Gateway.start`, `AppPackage.open`, a relative `APPPKG_BACKUP_DIR` of `runCommand(\'backup\')` or `(\'restore\')`) is refused alike, its fix a call\'s (`process.chdir()`, or absolute paths).',
    // enteredBy and fix: a library caller's (CommandWords.cwdGone), whose program, not a shell, is in it.
    message: (d) => `the current directory${d.dir ? ` ${str(d.dir)}` : ''} no longer exists: it was removed after ${str(d.enteredBy) || 'the shell'} entered it`,
    hint: (d) => str(d.fix) || `cd to a directory that exists and run the command again${d.dir ? ` (\`cd ${shellWord(str(d.dir))}\` enters the directory made again at that path, if a deploy replaced it)` : ''}`,
    exitStatus: 1,
    example: { dir: '/var/apps/blog.2026.11.24' },
  },
  APPPKG_ADDR_INVALID: {
    summary: 'An address (`--listen`, `--admin`, `--port`) is not `PORT`, `HOST:PORT` (`[::1]:PORT` for IPv6) or `unix:/path`, or its HOST is neither an IP address nor a host name (`bad host:80`, `256.1.1.1:80`): bad usage, before anything listens. A well-formed name that does not resolve is `APPPKG_LISTEN_FAILED`.',
    message: (d) => `${str(d.key) || 'address'}: expected ${str(d.expected) || 'PORT, HOST:PORT or unix:/path'}, found ${JSON.stringify(d.found)}`,
    hint: (d) => str(d.fix) || 'write e.g. 8000, 127.0.0.1:8000 or unix:/run/apppkg/gateway.sock',
    exitStatus: 2,
    example: { key: '--listen', found: 'localhost:http' },
  },
  APPPKG_ADDR_TWICE: {
    summary: 'Two listeners are given the same address (`--listen P --listen P`, `--admin` or the environment file\'s `mail.listen` on a `--listen` address), or a wildcard host and another on the same port: the second could not listen, and it is not another process that holds the address.',
    message: (d) => (d.same ? `${str(d.second)} ${str(d.address)} ${d.first === d.second ? 'is given twice' : `is the ${str(d.first)} address too`}` : `${str(d.second)} ${str(d.address)} overlaps ${str(d.first)} ${str(d.other)}: ${str(d.why)}`),
    hint: (d) =>
      str(d.second) === 'mail.listen'
        ? 'give mail.listen in the environment file an address of its own (e.g. 127.0.0.1:2525): the mail listener speaks SMTP, not HTTP'
        : d.admin !== undefined
        ? `give ${str(d.admin)} an address of its own (default 127.0.0.1:8099): the admin listener is never the public one`
        : `give each ${str(d.second)} an address of its own, or drop the repeated one`,
    exitStatus: 2,
    example: { first: '--listen', second: '--listen', address: '127.0.0.1:8000', same: true },
  },
  APPPKG_TRUST_PROXY_INVALID: {
    summary: 'An entry of `--trust-proxy=ADDR,...` is not an IP address, a CIDR range (`10.0.0.0/8`) or `loopback`; `--trust-proxy` alone trusts every peer.',
    message: (d) => `${str(d.key) || '--trust-proxy'}: expected IP addresses, CIDR ranges or "loopback", found ${JSON.stringify(d.found)}`,
    hint: (d) => `write e.g. ${d.key === undefined || str(d.key).startsWith('-') ? '--trust-proxy=127.0.0.1,10.0.0.0/8' : `${str(d.key)}: ['127.0.0.1', '10.0.0.0/8']`} (the addresses of the proxies in front of the gateway)`,
    exitStatus: 2,
    example: { found: '10.0.0.0/33' },
  },
  APPPKG_LISTEN_FAILED: {
    summary: 'The gateway could not listen on an address (in use, not permitted, no such interface; for a `unix:` socket, no directory to hold it, or a path longer than the 107 bytes a socket address holds; a host name that does not resolve). It binds its listeners before it starts any app, so nothing was started. The message names the flag that gave what failed: `--listen` or `--admin`; for `serve`, `--host` when the host is at fault (a name that does not resolve, an address this host does not have), else `--port`.',
    message: (d) => `${d.flag ? `${str(d.flag)}: ` : ''}cannot listen on ${str(d.address)}: ${str(d.reason)}`,
    hint: (d) => {
      const flag = str(d.flag) || '--listen';
      const another = `give ${flag} another ${flag === '--port' ? 'port' : 'address'}`;
      if (d.reason === 'EADDRINUSE' && d.here === true) {
        return `this very process (pid ${process.pid}) listens on ${str(d.address)} already: a gateway it started and has not stopped, or another of its listeners; ${another}, or stop what listens there first (await gateway.stop())`;
      }
      if (d.reason === 'EADDRINUSE') {
        const ss = str(d.address).startsWith('unix:') ? 'ss -lxp' : 'ss -ltnp';
        return `another process listens on ${str(d.address)}: stop it (\`${ss}\` names it), or ${another}`;
      }
      if (d.reason === 'EACCES') {
        return str(d.address).startsWith('unix:')
          ? `this user may not make a socket in that directory: give ${flag} a unix: path in a directory it can write, or run the gateway as that directory's owner`
          : `ports below 1024 need root, or the capability CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit): give ${flag} a port of 1024 or more (e.g. ${flag === '--port' ? '8080' : str(d.address).replace(/\d+$/, '8080')}), or the gateway the capability`;
      }
      // --socket-owner's chown: the only step of a bind where a non-root gateway meets EPERM.
      if (d.chown === true) {
        const owner = str(d.ownerKey) || '--socket-owner';
        if (owner === 'mail.socket_owner') return `${owner} needs root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root (as the shipped systemd unit does), or give it :GROUP, a group this user is in and postfix too`;
        // The library's owner is two numbers, unixSocket's uid and gid, not USER:GROUP.
        return owner.startsWith('-')
          ? `${owner} needs root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root (as the shipped systemd unit does), or give ${owner} :GROUP, a group this user is in and nginx's user too`
          : `${owner}'s uid and gid need root (or CAP_CHOWN) to give the socket another user, or a group this user is not in: run the gateway as root, or leave uid out and give ${owner} the gid of a group this user is in and nginx's user too`;
      }
      if (d.reason === 'ENAMETOOLONG') return `a unix socket's path may be at most ${str(d.max)} bytes, and this one has ${str(d.bytes)}: ${another}, in a shorter directory (e.g. /run/apppkg-gateway/)`;
      if (d.notSocket) return `${str(d.address).replace(/^unix:/, '')} is ${d.notSocket === 'a directory' ? 'a directory' : 'a file that is no socket'}, and is left as it is: give ${flag} the path of a socket to make`;
      if (d.dir !== undefined) {
        // The unit's own socket directory: started by hand, outside the unit, nothing made it.
        const unit = str(d.dir) === '/run/apppkg-gateway' ? ' (under systemd, the shipped unit\'s RuntimeDirectory= makes it)' : '';
        return `there is no directory ${str(d.dir)} to hold the socket: create it (mkdir -p ${shellWord(str(d.dir))})${unit}, or ${another}`;
      }
      // serve's --host is a host alone (hostOnly): its fix is a host, where --listen's is HOST:PORT.
      const port = d.hostOnly === true ? '' : /:\d+$/.exec(str(d.address))?.[0] ?? '';
      const ours = d.hostOnly === true ? '127.0.0.1 (the default)' : `127.0.0.1${port}`;
      // A name the resolver does not know: "an address of this host" left its user to guess that the name was what failed.
      if (d.host !== undefined && d.reason !== 'EADDRNOTAVAIL') {
        const host = str(d.host);
        const why = d.reason === 'ENOTFOUND' ? `${host} resolves to no address (\`getent hosts ${shellWord(host)}\` finds none)` : `${host} could not be resolved now (${str(d.reason)}: the DNS server did not answer)`;
        return `${why}: give ${flag} an IP address of this host instead, ${ours} for this host only or 0.0.0.0${port} for every interface, or a name /etc/hosts gives one of them`;
      }
      // Nothing uses an address this host does not have: the fix is one it has.
      if (d.reason === 'EADDRNOTAVAIL') {
        const host = d.hostOnly === true ? str(d.host) : str(d.address);
        return `${host} is no address of this host (\`ip -brief address\` lists its addresses): give ${flag} one of them, or 0.0.0.0${port} for every interface, ${ours} for this host only`;
      }
      // serve's --port, failing otherwise than in use or not permitted: its host is the other half.
      if (flag === '--port') return 'give --port another port, or --host another address of this host (127.0.0.1, the default, or 0.0.0.0 for every interface)';
      return `give ${flag} an address of this host (e.g. 127.0.0.1:8000)`;
    },
    exitStatus: 1,
    example: { flag: '--listen', address: '127.0.0.1:8000', reason: 'EADDRINUSE' },
  },
  APPPKG_APPS_LINK_BROKEN: {
    summary: 'A symlink under `--apps` (`blog -> blog.2026.11.24`) leads to nothing (its target was removed, or is misspelt) or round in a loop; the gateway says so once and answers `503` at its name while no other package serves it.',
    message: (d) => `${str(d.dir)} is a symlink to ${str(d.target)}, which ${d.loop ? 'leads back round to a symlink (a loop)' : 'does not exist'}`,
    hint: (d) => `point it at an app package (\`ln -sfn TARGET ${shellWord(path.basename(str(d.dir)))}\` in ${shellWord(path.dirname(str(d.dir)))}), or remove it`,
    exitStatus: 1,
    example: { dir: '/srv/apps/blog', target: 'blog.2026.11.24' },
  },
  APPPKG_APPS_LINK_DUPLICATE: {
    summary: 'A symlink under `--apps` leads to a directory that another entry there serves as another app (`shoplink -> shop.1.2` beside `shop.1.2`, served as `shop`): one directory would run as two apps, each with its own workers, data and hooks. The directory\'s own entry (or, for links alone, the first in code-point order) keeps it; the link is said once in the log, listed under `broken` in `status`, and answers `503` at its name. A link named as the app (`shop -> shop.1.2`), or whose target\'s `app.yaml` gives `name:`, is one more directory of that app, not refused.',
    message: (d) => `${str(d.dir)} is a symlink to ${str(d.target)}, which ${str(d.servedBy)} serves already as the app ${str(d.servedAs)}: one directory runs as one app, so it is not served again as ${str(d.app)}`,
    hint: (d) => {
      const link = shellWord(path.basename(str(d.dir)));
      if (d.byLink) return `remove ${link}, or point it at a directory no other entry of the apps directory leads to`;
      return `to switch the versions of ${str(d.servedAs)} with a link, name it ${shellWord(str(d.servedAs))} (\`ln -sfn ${shellWord(str(d.target))} ${shellWord(str(d.servedAs))}\` in ${shellWord(path.dirname(str(d.dir)))}), where the highest version beside it serves; ` +
        `to serve the target as ${str(d.app)}, keep it outside the apps directory (in /srv/releases, say) and point ${link} there; else remove ${link}`;
    },
    exitStatus: 1,
    example: { dir: '/srv/apps/shoplink', target: 'shop.1.2', app: 'shoplink', servedBy: '/srv/apps/shop.1.2', servedAs: 'shop' },
  },
  APPPKG_APPS_DIR_INVALID: {
    summary: '`--apps DIR` (the gateway, `export kubernetes`) is not a directory of app packages: it does not exist, is a file, is a directory the gateway\'s user cannot list, or is an app package itself (it holds `app.yaml`); for `export kubernetes`, also one that holds no app package (the gateway serves such a directory, watching for apps to come). The command line was well formed, so the run failed (exit 1), as with an APP_DIR that does not exist.',
    message: (d) => `${str(d.key) || '--apps'}: expected a directory of app packages, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || `point ${str(d.key) || '--apps'} at the directory that holds the app packages, each a directory holding app.yaml`,
    exitStatus: 1,
    example: {
      found: 'an app package (/srv/apps/blog/app.yaml)',
      fix: 'serve it with `apppkg-gateway serve /srv/apps/blog`, or point --apps at its parent, /srv/apps',
    },
  },
  APPPKG_ADMIN_UNREACHABLE: {
    summary: '`apppkg-gateway status` (or `logs`, `restart`, `rollback`) found no gateway at the admin address (refused, no such socket), or may not connect to its `unix:` socket (EACCES: the socket is mode 0600, its owner\'s alone, or a directory on its way is closed to this user; the message says whose it is and the fix whom to run as). Given no --admin, when the shipped systemd unit\'s socket (/run/apppkg-gateway/admin.sock, or the path in APPPKG_UNIT_ADMIN_SOCKET) is there, the fix names it; when its directory is closed to this user (EACCES), the fix says a gateway may listen there and whom to run as. Given no --admin, the address tried is the one the state root\'s admin.address names (written by a gateway serving --apps there), else the default; the message says which: an address from that file nobody answers on is a gateway gone without its stop, and the fix says so. A file there that names no address (this user may not read it, a directory is in its place, it holds no address) sends the command to the default, and when nobody answers there the message says what is wrong with the file and the fix how to mend it. Given --admin ADDR, the message says the address is the one --admin gave, and the fix is to start the gateway with that --admin, or to pass the address a running gateway was given.',
    message: (d) =>
      d.denied
        ? `cannot connect to ${str(d.address)} (${str(d.reason)}): ${str(d.denied)}`
        : `no gateway answers on ${str(d.address)}${d.reason ? ` (${str(d.reason)})` : ''}${d.notSocket ? `: ${str(d.address).replace(/^unix:/, '')} is ${str(d.notSocket)}, not a socket` : ''}${adminSource(d)}`,
    hint: (d) =>
      d.denied
        ? `run it as ${str(d.owner)} (${d.owner === 'root' ? 'sudo' : `sudo -u ${str(d.owner)}`} apppkg-gateway ...): the admin socket lets its owner alone act on the apps; or start the gateway with --socket-owner naming the user who runs these commands`
        : d.recordedIn
        ? `the gateway that wrote ${str(d.recordedIn)} is gone without removing it (killed, or it crashed): start it again (it writes its address anew), or remove that file to try 127.0.0.1:8099, or pass --admin ADDR (--state-dir DIR: another gateway's state root)`
        : d.unusable
        ? unusableAddressFileHint(d)
        : d.unitClosed
        ? unitClosedHint(d)
        : d.unitSocket
        ? `the shipped systemd unit's gateway listens on ${str(d.unitSocket)}, which is there: as root, \`apppkg-gateway ${str(d.command)} --admin ${str(d.unitSocket)}\` (sudo); or start a gateway on the default address`
        : d.notSocket
        ? 'pass --admin unix: with the socket the gateway made, the path its --admin unix: was given (the shipped systemd unit\'s is unix:/run/apppkg-gateway/admin.sock)'
        : d.given
        ? givenAdminHint(str(d.given))
        : 'start one (`apppkg-gateway --apps DIR` serves its admin listener on 127.0.0.1:8099); for a gateway started with --state-dir DIR (or APPPKG_STATE_DIR), give this command the same --state-dir DIR, where it wrote its admin address; or pass --admin ADDR with the address the gateway was given',
    exitStatus: 1,
    example: { address: 'unix:/run/apppkg-gateway/admin.sock', reason: 'ECONNREFUSED', recordedIn: '/var/lib/apppkg-gateway/admin.address' },
  },
  APPPKG_ADMIN_NO_ANSWER: {
    summary: 'Something listens at the admin address but closed the connection before answering, or did not answer in time: what a gateway out of open files does (it cannot accept the connection: libuv closes it, or leaves it waiting), and then only its log can say why.',
    message: (d) =>
      `no answer from ${str(d.address)}: ${str(d.reason)}`
      + (d.pid !== undefined ? `; the process listening there (pid ${str(d.pid)}) holds ${str(d.open)} open files${d.limit !== undefined && d.limit !== null ? `, its limit ${str(d.limit)}` : ''}` : ''),
    hint: (d) => {
      const out = d.pid === undefined || d.limit === undefined || d.limit === null || Number(d.open) >= Number(d.limit) - NEAR_THE_LIMIT;
      if (!out) return `it is not out of open files: it may be stuck (is it using a whole CPU? \`top -p ${str(d.pid)}\`), or not an apppkg-gateway; see its log, and restart it if it stays so`;
      const check = d.pid === undefined ? 'compare `ls /proc/PID/fd | wc -l` with the "Max open files" line of /proc/PID/limits (PID: the gateway\'s, `systemctl show -p MainPID apppkg-gateway`); ' : '';
      return `a gateway out of open files cannot accept a connection, so it cannot say so here (its log says EMFILE); ${check}`
        + 'raise its limit: `LimitNOFILE=65536` in its systemd unit (README, "Connections"), or `ulimit -Hn 65536` as root before starting it, and restart it; '
        + 'each client connection holds one file, let go within seconds of the client leaving';
    },
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', reason: 'it closed the connection at once', pid: 1234, open: 1024, limit: 1024 },
  },
  APPPKG_ADMIN_BAD_ANSWER: {
    summary: 'Something answers at the admin address, but not with a gateway\'s status JSON (another server, an error status).',
    message: (d) => `${str(d.address)} answered ${str(d.found)}, expected a gateway's admin answer`,
    hint: (d) =>
      d.publicListener
        ? `${str(d.address)} is a gateway's public listener (--listen, where its apps answer); status, logs, restart and rollback reach its admin listener: pass --admin the address the gateway's --admin was given (default 127.0.0.1:8099), which it prints at its start as "admin on ..."`
        : 'check that --admin names the admin listener of an apppkg-gateway, not another server',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', found: 'HTTP 404' },
  },
  APPPKG_ADMIN_TOKEN_NEEDED: {
    summary: 'The admin listener is asked to listen on an address other than loopback without a token.',
    message: (d) => `${givenAs(str(d.key) || '--admin', str(d.address))} is not a loopback address, and the admin listener restarts apps and shows their logs: it needs a token there`,
    hint: (d) => `write a long random token into a file only the gateway reads (\`head -c 32 /dev/urandom | base64 > /etc/apppkg-gateway/admin-token; chmod 600 ...\`) and pass ${givenAs(str(d.tokenKey) || '--admin-token', 'FILE')}; or keep ${str(d.key) || '--admin'} on 127.0.0.1 or a unix: socket (a host name other than localhost counts as not loopback, whatever it resolves to: write its address)`,
    exitStatus: 2,
    example: { address: '0.0.0.0:8099' },
  },
  APPPKG_ADMIN_TOKEN_FILE: {
    summary: 'The file given to --admin-token cannot be read or holds no token.',
    message: (d) => `cannot use it as the admin token: ${str(d.reason)}`,
    hint: (d) => (d.denied
      ? `run this as a user who may read ${str(d.file)} (a token file is its owner's alone, mode 0600: root's, then with sudo), or give ${str(d.key) || '--admin-token'} a copy this user may read`
      : `give ${str(d.key) || '--admin-token'} a readable file holding the token (its content, trimmed, is the token)`),
    // The file, not the command line, is wrong (it may be written yet), as for a missing
    // --environment FILE: 1. A non-loopback --admin without any token (above) stays 2: that
    // command line can never start, as --admin on a --listen address cannot.
    exitStatus: 1,
    example: { file: '/etc/apppkg-gateway/admin-token', reason: 'the file is empty' },
  },
  APPPKG_ACCESS_LOG_FILE: {
    summary: 'The file given to `--access-log` cannot be opened for appending (its directory is not there, it is a directory, no permission). The gateway opens it before it listens or starts any app: a misspelt path is not found at the first request, with every line lost.',
    message: (d) => `${str(d.key) || '--access-log'}: cannot append to it: ${str(d.reason)}`,
    hint: (d) => {
      const key = str(d.key) || '--access-log';
      // The library takes a stream or null where the CLI takes - and off.
      const others = key.startsWith('-') ? '- (stdout) or off' : 'a stream (process.stdout) or null (none)';
      return d.reason === 'EISDIR'
        ? `name a file in it, e.g. ${givenAs(key, path.join(str(d.file), 'access.log'))}`
        : d.reason === 'ENOENT'
          ? `create its directory (mkdir -p ${shellWord(path.dirname(str(d.file)))}) writable by the gateway, or give ${key} another file, ${others}`
          // ENXIO: /dev/stdout under systemd is the journal's socket, which cannot be opened by name.
          : key.startsWith('-') ? 'give --access-log a file the gateway can write, - for its stdout (not /dev/stdout), or off' : `give ${key} a file the gateway can write, ${others}`;
    },
    // The file, not the command line, is wrong, as a missing --environment FILE: 1.
    exitStatus: 1,
    example: { file: '/var/log/apppkg-gateway/access.log', reason: 'ENOENT' },
  },
  APPPKG_ADMIN_REFUSED: {
    summary: 'The admin listener refused the request: no token, a wrong token, a route that needs one, a page of another site, or a Host name it does not answer to. A wrong token given by --admin-token FILE: the fix names FILE. On a root gateway without a token, the fix names root\'s way first: the command run as root on its host reads STATE/admin.key and is served; a key that is not that gateway\'s (a file a killed gateway left, another state root\'s) is said as such, with the file sent and the gateway\'s own state root to give.',
    message: (d) => `${str(d.address)} refused ${str(d.what)}: ${str(d.reason)}`,
    // `again`: the CLI command refused for want of a token, said again with one.
    hint: (d) =>
      d.tokenFile
        ? `the token in ${str(d.tokenFile)} is not the one the gateway holds: pass --admin-token the file the gateway was started with (after a rotation, SIGHUP, the token is that file's new content)`
        : d.keyFile && d.hint
        ? `this command sent the key in ${str(d.keyFile)}, which is not this gateway's; ${str(d.hint)}`
        : d.hint
        ? `${str(d.hint)}${d.again ? `; this command with it: \`apppkg-gateway ${str(d.again)} --admin-token FILE\`` : ''}`
        : str(d.address).startsWith('unix:')
          ? 'pass --admin-token FILE with the file the gateway was started with: given one, its unix: socket asks for the token too'
          : 'pass --admin-token FILE with the file the gateway was started with, or use its unix: admin socket',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', what: 'POST /apps/blog/restart', reason: 'HTTP 401' },
  },
  APPPKG_ADMIN_NO_SUCH_APP: {
    summary: 'The running gateway serves no app of that name.',
    // `gateway`: how a program's own Gateway is named (it holds the object: its listen URL, which
    // the CLI's words gave, is not how it knows it); else the admin address the CLI asked.
    message: (d) => `${d.gateway === undefined ? `the gateway at ${str(d.address)}` : str(d.gateway)} has no app named ${str(d.app)}`,
    hint: (d) => {
      const apps = d.apps ? `its apps: ${str(d.apps)}` : 'run `apppkg-gateway status` for the names of its apps';
      if (d.versionDir) return `${str(d.app)} is the directory of a version of ${str(d.suggestion)}: commands take the app's name, ${str(d.suggestion)}; ${apps}`;
      return d.suggestion ? `did you mean ${str(d.suggestion)}? ${apps[0].toUpperCase()}${apps.slice(1)}` : apps;
    },
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', app: 'blgo', apps: 'blog, shop', suggestion: 'blog' },
  },
  APPPKG_ADMIN_APP_BROKEN: {
    summary: 'The app named is a package under --apps whose app.yaml does not load: it serves nothing, so it has no log to show and no workers to restart or roll back.',
    message: (d) => str(d.reason),
    hint: (d) => (d.hint ? str(d.hint) : 'fix its app.yaml as `apppkg-gateway status` says under broken packages'),
    exitStatus: 1,
    example: { reason: 'blog is not served: its package /srv/apps/blog is broken: APPPKG_DESC_INVALID: /srv/apps/blog/app.yaml:2:1: wsgii: expected one of the known keys, found an unknown key (did you mean "wsgi"?)' },
  },
  APPPKG_ADMIN_ACTION_FAILED: {
    summary: 'A restart or rollback asked through the admin listener (or by a program, with a Gateway\'s `restartApp()` or `rollback()`) could not be done; what served before keeps serving. A program is told to see `gateway.status()` and the app\'s log it names, where the CLI is told `logs NAME` and `status`.',
    message: (d) => `${str(d.action)} of ${str(d.app)} failed: ${str(d.reason)}`,
    // whereToLook: the caller's (CommandWords.logsAndStatus); the CLI's commands by default.
    hint: (d) => (d.hint ? str(d.hint) : `see ${d.whereToLook ? str(d.whereToLook) : `\`apppkg-gateway logs ${str(d.app)}\` and \`apppkg-gateway status\``}`),
    exitStatus: 1,
    example: { action: 'restart', app: 'blog', reason: 'the app failed to import: ModuleNotFoundError: No module named \'blog\'' },
  },
  APPPKG_ADMIN_ACTION_WAITING: {
    summary: '`restart` or `rollback` gave up waiting (after `--room-wait`, 90 s by default) for its new version\'s room under `--max-workers`: every running app held requests, so none could be put to sleep for it (an app that alone fills the bound under steady traffic may hold them for ever). The command exits 1; the gateway keeps the action waiting and goes on with it once there is room, and what served before keeps serving meanwhile.',
    message: (d) => `the ${str(d.action)} of ${str(d.app)} still waits after ${str(d.waited)} s for ${str(d.what)}; the gateway goes on with it once there is room (\`apppkg-gateway status\` shows its starting version under it), and what served before serves meanwhile`,
    hint: (d) => `${str(d.fix)}; or run \`apppkg-gateway ${str(d.action)} ${str(d.app)} --room-wait 0\` to wait as long as it takes`,
    exitStatus: 1,
    example: { action: 'restart', app: 'blog', waited: 90, what: 'room for 2 workers under --max-workers 2: every running app holds requests', fix: 'it goes on once a running app has nothing in flight and can be put to sleep for the room: here blog itself, whose serving workers (2) fill --max-workers 2, with 8 requests in flight now; to let it go on, raise the gateway\'s --max-workers, lower `workers` of blog or of the other apps (environment.yaml\'s `apps: {blog: {workers: N}}`), or wait for the load to fall' },
  },
  APPPKG_ADMIN_GONE: {
    summary: 'The gateway went away while a stream of its admin listener was followed: it stopped or restarted, or the connection broke; `logs -f` and `status --watch` say so on stderr and wait for it to come back instead of ending with this.',
    message: (d) => `the gateway at ${str(d.address)} went away while following ${str(d.what)} (${str(d.reason)})`,
    hint: () => 'see whether it still runs (`apppkg-gateway status`, `systemctl status apppkg-gateway`), and run the command again once it is back',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', what: 'GET /apps/blog/log?lines=100&follow=1', reason: 'it closed the stream' },
  },
  APPPKG_ADMIN_TOKEN_CHANGED: {
    summary: "The gateway's admin token was rotated (a new one written into its `--admin-token` file, then SIGHUP) while `logs -f` or `status --watch` followed a stream opened with the old one: the gateway ended the stream, as it refuses the old token from then on.",
    message: (d) => `the gateway at ${str(d.address)} ended ${str(d.what)}: its admin token changed (rotated at SIGHUP), and the one this command sent is no longer accepted`,
    hint: () => 'run the command again with --admin-token FILE naming a file that holds the new token (the file the gateway was started with)',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', what: 'GET /apps/blog/log?lines=100&follow=1' },
  },
  APPPKG_DESC_NOT_FOUND: {
    summary: 'The directory holds no `app.yaml` (or one that is a directory, or a symlink to nothing, or the description under another name such as `app.yml`, beside which `init` writes no second one), there is no such directory (or, for a library `AppPackage`, no longer one), or APP_DIR names a file.',
    message: (d) =>
      d.gone ? `${str(d.dir)} is gone: it was removed or moved away after its app.yaml was read (AppPackage.open)`
      : d.missing ? `${str(d.dir)} does not exist (no such directory)`
      : d.notDirectory ? `${str(d.dir)} is a file, not a directory`
      : d.stands ? `expected app.yaml to be a file, found ${str(d.stands)}`
      : d.misnamed ? `expected the description to be named app.yaml, found it named ${str(d.misnamed)}`
      : `no app.yaml in ${str(d.dir)}`,
    hint: (d) =>
      d.gone ? 'open the package where it is now, e.g. the version that replaced it: AppPackage.open(DIR)'
      : d.notDirectory
        ? d.holder ? `give the directory that holds app.yaml: ${str(d.holder)}` : d.dirGiver ? `give ${str(d.dirGiver)} the directory that holds app.yaml, not a file` : 'APP_DIR is the directory that holds app.yaml, not a file'
        : d.missing
          // APP_DIR is the CLI's word: a library caller gave a call's argument (dirGiver: namingFixes).
          ? d.dirGiver ? `check the path: give ${str(d.dirGiver)} the directory that holds app.yaml` : 'check the path: APP_DIR is the directory that holds app.yaml'
          : d.stands === 'a directory'
            // A directory cannot become the file in place: the fix says what to do with it first.
            ? `move the directory away (or remove it: rmdir ${shellWord(str(d.file))} when it is empty) and write the description there as a file: ${str(d.file)} is read as a YAML file (a symlink to one is fine)`
          : d.stands
            ? `put the description there: ${str(d.file)} is read as a YAML file (a symlink to one is fine)`
          : d.misnamed
            ? `rename it: mv ${shellWord(path.join(str(d.dir), str(d.misnamed)))} ${shellWord(path.join(str(d.dir), 'app.yaml'))} (the description is read from app.yaml, under that name alone)`
          : `${d.writeAppYaml ? str(d.writeAppYaml) : `run \`apppkg-gateway init ${shellWord(str(d.dir))}\` to write one`}, or point at the directory that holds app.yaml`,
    exitStatus: 1,
    example: { dir: '/srv/apps/blog' },
  },
  APPPKG_DESC_INVALID: {
    summary: '`app.yaml` has one or more problems; each is listed with its own code, line and fix.',
    message: (d) => `${str(d.file)}: ${countOf(d.problems?.length ?? 0, 'problem')} in the description${listedProblems(d)}`,
    hint: (d) => `fix each problem listed above; ${d.describeCall ? str(d.describeCall) : `\`apppkg-gateway describe ${d.file ? shellWord(path.dirname(str(d.file))) : 'DIR'}\``} shows the result`,
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml' },
  },
  APPPKG_DESC_YAML_SYNTAX: {
    summary: 'The file is not valid YAML: bad or mixed indentation, tabs, an unquoted `>=`, a key given twice, a control character (a NUL, an escape pasted from a terminal) anywhere in it, a list or mapping as a key.',
    message: (d) => `${str(d.key) || 'YAML'}: expected valid YAML, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || 'check the indentation (spaces, not tabs, each level the same), that each key is followed by ": ", and quote values that begin with >, | or *',
    exitStatus: 1,
    example: { found: 'a tab in the indentation' },
  },
  APPPKG_DESC_ENCODING: {
    summary: 'The file is not UTF-8 text (saved as Latin-1, Windows-1252 or UTF-16, say): it is refused at its first byte that is not UTF-8, rather than read with that character replaced. A UTF-8 byte order mark is fine.',
    message: (d) => `${d.key ? `${str(d.key)}: ` : ''}expected UTF-8 text, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || 'save the file as UTF-8',
    exitStatus: 1,
    example: { key: 'name', found: 'the byte 0xE9 ("é" in Latin-1), which is not UTF-8 (at byte offset 29)' },
  },
  APPPKG_DESC_NOT_MAPPING: {
    summary: 'The file\'s top level is a list or a scalar, not `key: value` lines.',
    message: (d) => `expected a mapping of keys (like \`app: module:object\`), found ${str(d.found)}`,
    hint: (d) => (d.fix ? str(d.fix) : 'write one `key: value` per line; see README "The description"'),
    exitStatus: 1,
    example: { found: 'a list [flask, gunicorn]' },
  },
  APPPKG_DESC_UNKNOWN_KEY: {
    summary: 'A key that the description (or environment file) does not know; often a typo.',
    message: (d) => `${str(d.key)}: expected one of the known keys, found ${d.elsewhere ? str(d.elsewhere) : 'an unknown key'}${d.suggestion ? ` (did you mean "${str(d.suggestion)}"?)` : ''}`,
    hint: (d) =>
      d.fix
        ? str(d.fix)
        : d.suggestion
        ? `rename it to "${str(d.suggestion)}", or prefix it with "x-" to keep it as your own`
        : `remove it, or prefix it with "x-" to keep it as your own; ${Array.isArray(d.known) && d.known.length > 0 ? `the known keys here are ${d.known.join(', ')}` : 'the known keys are listed in docs/description.md'}`,
    exitStatus: 1,
    example: { key: 'healt', suggestion: 'health' },
  },
  APPPKG_DESC_BAD_VALUE: {
    summary: 'A key has a value of the wrong shape: `app: nocolon`, `python: three`, a list where a string goes, a path leaving the package. docs/description.md gives each key\'s shape.',
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || `change ${str(d.key)} to ${str(d.expected)}`,
    exitStatus: 1,
    example: { key: 'python', expected: 'a PEP 440 specifier like ">=3.9"', found: '"three"' },
  },
  APPPKG_DESC_MISSING_KEY: {
    summary: 'A key the description needs is absent: `app` for a wsgi app, `processes.web` for a command app.',
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found nothing`,
    hint: (d) => str(d.fix) || `add \`${str(d.key)}: ...\` to app.yaml`,
    exitStatus: 1,
    example: { key: 'app', expected: 'module:object, the WSGI callable' },
  },
  APPPKG_ENVFILE_INVALID: {
    summary: 'The environment file (`--environment`) has one or more problems; each is listed with its line.',
    message: (d) => `${str(d.file)}: ${countOf(d.problems?.length ?? 0, 'problem')} in the environment file${listedProblems(d)}`,
    hint: () => 'fix each problem listed above; the keys are described in docs/description.md',
    exitStatus: 1,
    example: { file: '/etc/apppkg/environment.yaml' },
  },
  APPPKG_FILE_TOO_LARGE: {
    summary: 'A description or environment file is larger than 256 KiB: parsing it would hold the gateway up; nothing that large is a description.',
    message: (d) => `${str(d.file)} is ${Math.round(Number(d.size) / 1024)} KiB; a description or environment file is at most ${Math.round(Number(d.limit) / 1024)} KiB`,
    hint: () => 'keep data out of app.yaml (x- keys are for a few notes): put it in a file of the app, or in the app\'s data directory',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml', size: 2_200_000, limit: 262_144 },
  },
  APPPKG_FILE_UNREADABLE: {
    summary: 'A description or environment file exists but cannot be read by the user that read it (the fix names that user: the gateway\'s; or, as `nobody (uid 65534)`, the one running `check` or another app command, or the program calling `AppPackage`); or, the gateway being root, `app.yaml` leads to a file the app\'s user may not read (a symlink to `/etc/shadow`), which the gateway then shows nothing of.',
    message: (d) => `cannot read ${str(d.file)}: ${str(d.reason)}`,
    hint: (d) =>
      d.appUser
        ? `let ${str(d.appUser)} read the file (and search each directory above it), or put a description ${str(d.appUser)} may read in its place: as root, the gateway reads an app's app.yaml only as far as the user the app runs as may (the environment file's user: for it, else the owner of its directory)`
        : d.reader
        // A program's own read (AppPackage.open, the CLI's check): no gateway read it.
        ? `let ${str(d.reader)}, ${str(d.readerRole)}, read it and search each directory above it: as its owner or root, \`chmod a+r ${shellWord(str(d.file))}\` (and \`chmod a+x\` on a directory above it that this user may not enter)`
        : 'make the file readable by the user the gateway runs as (and its directories searchable)',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml', reason: 'EACCES' },
  },
  APPPKG_ENVFILE_NOT_FOUND: {
    summary: 'The file given to `--environment` does not exist, or is a directory.',
    // The file is the location format() puts before the message: "/etc/apppkg/environment.yaml: no such file; ...".
    message: (d) => `${d.directory ? 'a directory, not a file' : 'no such file'}; it was given as the environment file (${str(d.key) || '--environment'})`,
    hint: (d) => {
      const key = str(d.key) || '--environment';
      const leave = key.startsWith('-') ? 'leave the flag out' : 'leave it out';
      return d.directory ? `pass the YAML file itself to ${key} (e.g. /etc/apppkg-gateway/environment.yaml, not its directory), or ${leave}` : `pass an existing YAML file to ${key}, or ${leave}`;
    },
    exitStatus: 1,
    example: { file: '/etc/apppkg/environment.yaml' },
  },
  APPPKG_STATE_DIR_FAILED: {
    summary: 'The state root, or an app\'s data, log or tmp directory under it, could not be created or set up (a file where a directory goes, no permission, a read-only file system). The gateway checks its state root before it listens.',
    message: (d) => `cannot prepare ${str(d.path)}: ${str(d.reason)}`,
    hint: (d) => {
      const elsewhere = `choose a writable state root with ${stateRootOption(d)}`;
      if (d.blocker) return `${str(d.blocker)} is a file, not a directory: move it away, or ${elsewhere}`;
      // The system error's code, given or carried by the cause: every caller has one or the other.
      const errno = d.errno ?? (d.cause as NodeJS.ErrnoException | undefined)?.code;
      if (errno === 'EACCES' || errno === 'EPERM') return `the user the gateway runs as may not write there: give it the directory (chown), or ${elsewhere}`;
      if (errno === 'EROFS') return `the file system is mounted read-only: ${elsewhere}`;
      if (errno === 'ENOSPC' || errno === 'EDQUOT') return `the file system is full (or the quota used up): free space on it (\`df -h ${str(d.path)}\`), or ${elsewhere}`;
      const code = errno ?? String(d.reason).split(':')[0];
      if (code === 'EMFILE' || code === 'ENFILE') return openFilesHint(code, d);
      return elsewhere;
    },
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog/data', reason: 'EACCES: permission denied' },
  },
  APPPKG_STATE_DIR_EMPTY: {
    summary: 'APPPKG_STATE_DIR is set, to an empty value (a script\'s `APPPKG_STATE_DIR="$STATE"` with STATE unset or empty), and no option names the state root. It was taken for the default root, /var/lib/apppkg-gateway as root, where such a script meant a scratch root of its own; it is refused, as `--state-dir ""` is. An option that names the root (--state-dir, stateDir, state_dir=) wins over the variable, empty or not.',
    message: () => 'APPPKG_STATE_DIR is set, to an empty value, which names no state root',
    hint: (d) =>
      `set it to the state root to use (APPPKG_STATE_DIR=/path/to/state), give ${givenAs(str(d.stateKey) || '--state-dir', 'DIR')}, or unset it (\`unset APPPKG_STATE_DIR\`) for the default${d.fallback ? `, ${str(d.fallback)}` : ''}: an empty value is never taken for the default`,
    exitStatus: 2,
    example: { fallback: '/var/lib/apppkg-gateway' },
  },
  APPPKG_STATE_ROOT_IN_USE: {
    summary: 'Another gateway (`--apps`) runs on the same state root: two would share its apps\' data, logs and tmp. The second refuses before it listens or starts any app; serve, check, run and install run beside a gateway and take no lock on the root (serve takes one on its app, APPPKG_APP_SERVED).',
    message: (d) => `the state root ${str(d.root)} is in use by the gateway with pid ${str(d.pid)}`,
    hint: (d) =>
      // Two Gateway.start()s in one program: `kill PID` would be the program's own end.
      Number(d.pid) === process.pid
        ? `this very process holds it: a gateway it started and has not stopped; await that gateway's stop() first, or give this one a state root of its own with ${stateRootOption({ ...d, stateKey: str(d.stateKey) || 'stateDir' }, 'DIR')}`
        : `stop that gateway (\`kill ${str(d.pid)}\`), or give this one a state root of its own with ${stateRootOption(d, 'DIR')}; ${str(d.lock)} names the holder`,
    exitStatus: 1,
    example: { root: '/var/lib/apppkg-gateway', pid: 4242, lock: '/var/lib/apppkg-gateway/gateway.lock' },
  },
  APPPKG_APP_SERVED: {
    summary: 'Another `serve` of the same app runs on the same state root (two terminals): the two would share its data directory, its SQLite database and its first install. The second refuses before it listens or runs anything; serves of other apps are not held back.',
    message: (d) => `${str(d.app)} is served already on the state root ${str(d.root)} by the serve with pid ${str(d.pid)}`,
    hint: (d) =>
      Number(d.pid) === process.pid
        ? `this very process serves it: a Gateway.start({ app }) it made and has not stopped; use that one, or await its stop() first; to run a second copy beside it, give this one a state root of its own (stateDir)`
        : `use that serve, or stop it (\`kill ${str(d.pid)}\`); to run a second copy beside it, give this one a state root of its own with ${stateRootOption(d, 'DIR')}; ${str(d.lock)} names the holder`,
    exitStatus: 1,
    example: { app: 'blog', root: '/home/ann/.local/state/apppkg-gateway', pid: 4242, lock: '/home/ann/.local/state/apppkg-gateway/apps/blog/serve.lock' },
  },
  APPPKG_PY_NO_INTERPRETER: {
    summary: 'No interpreter on this host satisfies `python:` (with `deb:`, the system interpreter, the only one eligible, does not); the message lists those found, those that could not be run and why (those failing alike, such as pyenv shims of versions not enabled, on one line that names them), and with `deb:` those not eligible. When the environment file names the interpreter, the error points at that key and names the requirement\'s place in app.yaml. A `"==3.11"` or `"<=3.11"` that leaves out a 3.11.x found (PEP 440 reads 3.11.0) gets the series\' spelling as the fix (`"==3.11.*"`, `"<3.12"`).',
    message: (d) =>
      d.chosen
        ? `${str(d.key) || 'python'}: ${str(d.chosen)} does not satisfy python: ${JSON.stringify(d.specifier)}${d.requiredAt ? ` (required at ${str(d.requiredAt)})` : ''}`
        : d.reasonDeb
          ? `python: the system interpreter does not satisfy ${JSON.stringify(d.specifier)}, and with deb packages listed only it is eligible (they are importable from ${str(d.system)} alone); found ${str(d.foundList) || `no ${str(d.system)}`}`
            + `${d.failedList ? `; ${str(d.failedList)}` : ''}${d.ineligibleList ? `; not eligible because of deb: ${str(d.ineligibleList)}` : ''}`
          : `python: no interpreter satisfies ${JSON.stringify(d.specifier)}; found ${str(d.foundList) || 'none'}${d.failedList ? `; also ${str(d.failedList)}` : ''}`,
    hint: (d) => {
      if (d.series) {
        return `a missing number counts as 0 in PEP 440, so ${JSON.stringify(d.specifier)} leaves out the later releases of its series (==3.11 is 3.11.0 alone): ` +
          `write python: ${JSON.stringify(d.series)} in app.yaml for the whole series`;
      }
      if (d.chosen) return `set ${str(d.key) || 'python'} in the environment file to an interpreter that satisfies ${JSON.stringify(d.specifier)} (or remove it to let the gateway pick one), or loosen \`python:\` in app.yaml`;
      return d.reasonDeb
        ? 'install a system python3 that satisfies the specifier, or loosen `python:` in app.yaml'
        : 'install a matching Python (python3.N on PATH), name one in the environment file (`python: /path/to/python3`), or loosen `python:` in app.yaml';
    },
    exitStatus: 1,
    example: { specifier: '>=3.12', foundList: '/usr/bin/python3 3.9.2', failedList: 'python3.14 (/opt/bin/python3.14): cannot be run: unexpected output: Python 3.14.0' },
  },
  APPPKG_PY_TOO_OLD_FOR_ASGI: {
    summary: 'An ASGI app (`platform: python, asgi`, `asgi: {app: ...}`) whose interpreter, as `python:` or the environment file picks it, is older than 3.7: its worker is built on 3.7\'s asyncio and cannot start there (a WSGI app\'s runs on 3.6). check fails at the python line, and a start refuses the app (others serve), before a worker is tried; the error points at the environment file\'s `python:` when the host chose the interpreter, else at app.yaml\'s.',
    message: (d) => `${str(d.key) || 'python'}: ${str(d.chosen)} is too old for an ASGI app, whose worker needs Python ${str(d.minimum)} or later`,
    hint: (d) => {
      const widen = `python: ${JSON.stringify(d.specifier)} in app.yaml lets in nothing newer: widen it (python: ">=${str(d.minimum)}")`;
      const install = `install a Python ${str(d.minimum)} or later if this host has none (python3.N on PATH, or named in the environment file: python: /path/to/python3)`;
      if (d.override) return `set ${str(d.override)} in the environment file to a Python ${str(d.minimum)} or later, or remove it to let the gateway pick one${d.specifierExcludes ? `; ${widen}` : ''}`;
      return d.specifierExcludes
        ? `${widen}, and ${install}`
        : `write python: ">=${str(d.minimum)}" in app.yaml, so that the gateway picks a newer one, and ${install}`;
    },
    exitStatus: 1,
    example: { key: 'python', chosen: 'python3.6 3.6.15 (/root/.pyenv/versions/3.6.15/bin/python3.6)', version: '3.6.15', minimum: '3.7', specifier: '<3.7', specifierExcludes: true },
  },
  APPPKG_PY_NOT_EXECUTABLE: {
    summary: 'The interpreter does not run: the one named in the environment file is missing (the error then points at its key there) or is no Python (`python: /bin/sh`: said so, with what it made of the Python code it was given), or the app\'s user (the gateway running as root) may not execute it, as with a pyenv Python under /root; a pyenv shim whose version is installed but not enabled is said with the version\'s full path and how to enable it. Or the gateway could not run it to ask what it is, for want of file descriptors (EMFILE, ENFILE): said so, with how to raise the limit, and the version is tried again by itself (the answer is not kept).',
    message: (d) => d.notPython
      ? `${d.key ? `${str(d.key)}: ` : ''}${str(d.path)} is not a Python interpreter (it could not run \`${str(d.probe)}\`: ${str(d.reason)})`
      : `${d.key ? `${str(d.key)}: ` : ''}interpreter ${str(d.path)} cannot be run: ${str(d.reason)}`,
    hint: (d) =>
      d.openFiles
        ? openFilesHint(d.openFiles, d)
        : d.notPython
        ? `set ${d.key ? str(d.key) : 'python'} in the environment file to a Python 3 interpreter (e.g. /usr/bin/python3; \`command -v python3\` prints the one on PATH), or remove it to let the gateway pick one`
        : Array.isArray(d.pyenvPaths) && d.pyenvPaths.length > 0
        ? `pyenv has it installed but not enabled: set ${d.key ? str(d.key) : 'python'} in the environment file to its full path, ${str(d.pyenvPaths[0])}; or enable that version for the user the gateway runs as: \`pyenv global\` with ${str((d.pyenvVersions as string[])[0])} added after the versions it lists (\`pyenv shell ${str((d.pyenvVersions as string[])[0])}\` for the shell that starts it)`
        : d.key
        ? `set ${str(d.key)} in the environment file to an interpreter the app's user can run (e.g. /usr/bin/python3), or remove it to let the gateway pick one`
        : 'install it where the app\'s user can run it (e.g. /usr/bin/python3), or name another with `python:` in the environment file',
    exitStatus: 1,
    example: { path: '/root/.pyenv/shims/python3', reason: 'user blog cannot run it (EACCES)' },
  },
  APPPKG_PY_PROBE_TIMEOUT: {
    summary: 'An interpreter did not say what Python it is (the probe, a few lines of Python run with `-E`) within 10 s, nor within 30 s on a second try, and it may be the one the app runs on: the environment file\'s `python:`, `python3` on PATH (with `deb:`, the system interpreter), a `python3.N` that may be newer than the one picked without it, or the only one that may satisfy `python:`. The command fails naming it, where the pick took another Python in its place, with other packages, unsaid; a slow candidate that could not be chosen anyway is only listed when none fits (APPPKG_PY_NO_INTERPRETER).',
    message: (d) => d.override
      ? `${d.key ? `${str(d.key)}: ` : ''}interpreter ${str(d.candidates)} did not say what Python it is: ${str(d.reason)}`
      : `python: ${str(d.candidates)} did not say what Python ${d.count === 1 ? 'it is' : 'they are'}: ${str(d.reason)}${d.why ? `; ${str(d.why)}` : ''}, so no other interpreter is picked in ${d.count === 1 ? 'its' : 'their'} place`,
    hint: (d) => `run ${d.probe ? `\`${str(d.probe)}\`` : 'it'} to see what holds it up (a pyenv shim's bash on a loaded host, a mount or a lock that does not answer), then try again; `
      + (d.override
        ? `or set ${d.key ? str(d.key) : 'python'} in the environment file to another interpreter, or remove it to let the gateway pick one`
        : 'or name the interpreter in the environment file (`python: /path/to/python3`): then it alone is asked'),
    exitStatus: 1,
    example: {
      candidates: 'python3 (/root/.pyenv/shims/python3)',
      count: 1,
      reason: 'no answer within 10s, nor within 30s on a second try',
      why: 'python3 on PATH runs the app whenever it satisfies python: ">=3.10"',
      probe: '/root/.pyenv/shims/python3 -E -c "import os, site, sys; ..."',
    },
  },
  APPPKG_USER_UNKNOWN: {
    summary: 'The environment file\'s `user:` for an app names no user of this host.',
    message: (d) => `${str(d.key) || 'user'}: ${JSON.stringify(d.user)} (for ${str(d.app)}) is not a user of this host`,
    hint: () => 'create the user (adduser --system NAME), or name an existing one in the environment file',
    exitStatus: 1,
    example: { user: 'blog', app: 'blog', key: 'apps.blog.user' },
  },
  APPPKG_PATHS_MISSING: {
    summary: 'A directory `paths:` names is not in the app directory, or is a file (`paths: main.py`): Python skips a sys.path entry that does not exist, or a file other than a zip archive (.zip, .egg, .whl), so its modules would not import. check fails on either, and serve and --apps refuse to start the app (a directory missing, once its commands.install has run, which may make it).',
    message: (d) =>
      d.isFile
        ? `paths: ${str(d.missing)} is a file, not a directory: paths: names directories to put on sys.path`
        : Array.isArray(d.asList)
          ? `paths: ${JSON.stringify(d.missing)} is one path, and ${str(d.dir)} has no directory of that name${partsMissing(d) === '' ? '' : `; as a list, ${partsMissing(d)} ${(d.partsMissing as unknown[]).length === 1 ? 'is not a directory there' : 'are not directories there'} either`}`
          : `paths: ${str(d.missing)} ${String(d.missing).includes(',') ? 'are not directories' : 'is not a directory'} in ${str(d.dir)}`,
    hint: (d) =>
      d.isFile
        ? `name the directory that holds its modules (the app directory, ${str(d.dir)}, is on sys.path without paths:) or a .zip, .egg or .whl archive of them, or take ${str(d.missing)} out of paths:`
        : Array.isArray(d.asList)
          ? `write the paths as a list, one entry each: paths: [${d.asList.map(String).join(', ')}]${partsMissing(d) === '' ? '' : `, and create ${partsMissing(d)} (or commit ${itOrThem(d)}: \`apppkg-gateway vendor\` fills vendor/), or take ${itOrThem(d)} out of the list`}`
          : 'create it (or commit it: `apppkg-gateway vendor` fills vendor/), or take it out of paths:',
    exitStatus: 1,
    example: { missing: 'vendor/', dir: '/srv/apps/blog' },
  },
  APPPKG_MODULE_MISSING: {
    summary: 'A `processes:` or `commands:` line runs `python -m MODULE`, and the app\'s interpreter, with the app\'s sys.path, finds no such module (or a package without `__main__`): the process would exit "No module named" at every start.',
    message: (d) =>
      d.package
        ? `${str(d.key)}: \`${str(d.command)}\` runs the package ${str(d.module)}, which has no __main__ module to run`
        : `${str(d.key)}: \`${str(d.command)}\` runs the module ${str(d.module)}, which ${str(d.python)} does not find on the app's sys.path`,
    hint: (d) =>
      d.package
        ? `name the module to run (\`python -m ${str(d.module)}.MODULE\`), or add ${String(d.module).replace(/\./g, '/')}/__main__.py`
        : `install the distribution that provides ${String(d.module).split('.')[0]} for the app (pip:, deb:, or vendor/ with \`apppkg-gateway vendor\`), or correct the module's name`,
    exitStatus: 1,
    example: { key: 'processes.worker.command', command: 'python -m celery worker', module: 'celery', python: '/var/lib/apppkg-gateway/apps/blog/run/0a1b2c3d/bin/python' },
  },
  APPPKG_COMMAND_NOT_STARTED: {
    summary: 'The command given to `run` (or a program a hook or `install` runs) could not be started: a name not on the app\'s PATH, a path with no file (a relative one is taken from the app directory), a script whose `#!` interpreter is not there (or whose `#!/usr/bin/env NAME` finds no NAME on the app\'s PATH), or a file that is not executable (by the app\'s user, as the kernel judges it once the command exited: a directory on its way that user may not search, or an ACL entry or noexec mount that refuses what the mode bits allow, is said as such); `run` exits 127 (126 for the last), as a shell does.',
    message: (d) =>
      d.why === 'path' ? `${str(d.program)}: not on the app's PATH, which searches ${str(d.dirs) || 'no directory'}`
      : d.why === 'file' ? `${str(d.program)}: no such file${d.relative ? ` in ${str(d.dir)} (the app directory, where commands run)` : ''}`
      // `#!/usr/bin/env NAME`: env starts, and finds no NAME on the app's PATH (exit 127).
      : d.why === 'interpreter' && d.throughEnv ? `${str(d.program)}: its #! line runs ${str(d.interpreter)} through env, which is not on the app's PATH${d.dirs === undefined ? '' : `, which searches ${str(d.dirs) || 'no directory'}`}`
      : d.why === 'interpreter' ? `${str(d.program)}: its #! line names ${str(d.interpreter)}, which is not there`
      : d.why === 'mode' ? `${str(d.program)}: not executable (${str(d.reason) || 'permission denied'})`
      : `cannot run ${str(d.program) || 'the command'}: ${str(d.reason) || 'the system refused to start it'}`,
    hint: (d) =>
      d.why === 'path'
        ? "install it for the app (deb:, pip: or vendor/ with `apppkg-gateway vendor`), give its path, or run a module with the app's interpreter: `python -m MODULE`"
        : d.why === 'file'
          ? 'give the path from the app directory, or an absolute one'
          : d.why === 'interpreter'
            ? `correct the #! line (e.g. \`#!/usr/bin/env python\`, the app's interpreter on its PATH), or run it with its interpreter: \`python ${str(d.program) || 'SCRIPT'}\``
            : d.why === 'mode'
              ? notModeFix(d, ` (\`python ${str(d.program) || 'FILE'}\`, \`sh ${str(d.program) || 'FILE'}\`)`) ||
                `make it executable (\`chmod +x ${str(d.program) || 'FILE'}\`), or run it with its interpreter (\`python ${str(d.program) || 'FILE'}\`, \`sh ${str(d.program) || 'FILE'}\`)`
              : "check the command name and that it is on the app's PATH",
    exitStatus: 1,
    example: { program: 'flask', why: 'path', dirs: '/var/lib/apppkg-gateway/apps/blog/run/0a1b2c3d/bin, /srv/apps/blog/vendor/bin, /usr/local/bin, /usr/bin, /bin' },
  },
  APPPKG_PROGRAM_MISSING: {
    summary: 'The program a `processes:` or `commands:` line runs is not on the app\'s PATH (or, with a slash, not in the app directory), is a file that is not executable, or is a script whose `#!` interpreter is not there (`#!/opt/python/bin/python` gone, or `#!/usr/bin/env python9` with no python9 on the app\'s PATH): the shell would answer "not found" (127) or "Permission denied" (126) when the gateway starts the process or runs the hook. `check` says it before a start (judging the app\'s user by the mode bits); a running gateway says it (with the PATH searched) in its log and `status` when such a process exits 127 or 126, judging that user by the kernel: a directory on the way it may not search, or an ACL entry or noexec mount refusing what the mode bits allow, is said as such, with its own fix.',
    message: (d) => {
      const runs = `${str(d.key)}: \`${str(d.command)}\` runs ${str(d.program)}`;
      const onPath = `not on the app's PATH${d.dirs === undefined ? '' : `, which searches ${str(d.dirs) || 'no directory'}`}`;
      if (d.why === 'mode' && d.unsearchable) return `${runs}, but ${str(d.located)} is out of the app's user's reach: it may not search ${str(d.unsearchable)}`;
      if (d.why === 'mode' && d.modeAllows) return `${runs}, but ${str(d.located)} is not executable by the app's user, though its mode bits allow it`;
      if (d.why === 'mode') return `${runs}, but ${str(d.located)} is not executable`;
      if (d.why === 'interpreter') {
        return `${runs}, a script (${str(d.located)}) whose #! line ${d.throughEnv ? `runs ${str(d.interpreter)} through env, which is ${onPath}` : `names ${str(d.interpreter)}, which is not there`}`;
      }
      return `${runs}, which is ${String(d.program).includes('/') ? `not an executable file under ${str(d.dir)}` : onPath}`;
    },
    hint: (d) =>
      d.why === 'mode'
        ? notModeFix(d, ` in ${str(d.key)} (\`python ${str(d.program)}\`, \`sh ${str(d.program)}\`)`) ||
          `make it executable (\`chmod +x ${str(d.located)}\`), or run it with its interpreter in ${str(d.key)} (\`python ${str(d.program)}\`, \`sh ${str(d.program)}\`)`
        : d.why === 'interpreter'
          ? `correct its #! line (\`#!/usr/bin/env python\` runs the app's interpreter, on its PATH), or run it with its interpreter in ${str(d.key)}: \`python ${str(d.program)}\``
          : String(d.program).includes('/')
            ? `correct the path in ${str(d.key)}, or make the file executable (chmod +x)`
            : `install it for the app (deb:, pip: or vendor/ with \`apppkg-gateway vendor\`), give its full path in ${str(d.key)}, or write the command as \`python -m MODULE\` so that the app's interpreter runs it`,
    exitStatus: 1,
    example: { key: 'processes.worker.command', command: 'celery -A blog worker', program: 'celery', dir: '/srv/apps/blog' },
  },
  APPPKG_STATIC_MISSING: {
    summary: 'A directory `static:` names is not in the app directory, and the app has no `commands.install` or `commands.update` that could make it (as Django\'s collectstatic does): the gateway would answer 404 to every request under its prefix.',
    message: (d) => `${str(d.key)}: ${str(d.path)} is not a directory in ${str(d.dir)}, so every request under ${str(d.prefix)} would get 404`,
    hint: (d) => `create ${str(d.path)} with the files to serve, or correct the path in ${str(d.key)}`,
    exitStatus: 1,
    example: { key: 'static["/static"]', path: 'static/', dir: '/srv/apps/blog', prefix: '/static' },
  },
  APPPKG_OS_MISMATCH: {
    summary: 'The app\'s `os:` does not include this host.',
    message: (d) => `os: the app needs ${str(d.expected)}, this host is ${str(d.found)}`,
    hint: () => 'run the app on a matching host, or widen `os:` in app.yaml (posix covers linux and darwin)',
    exitStatus: 1,
    example: { expected: 'darwin', found: 'linux' },
  },
  APPPKG_SETTINGS_MISSING: {
    summary: 'A name listed in `settings:` is not provided by the environment file, nor, for a command other than the gateway under `--apps` (serve, check, run, test ...), by its shell.',
    message: (d) => `settings: the app requires ${str(d.missing)}, which the environment does not provide`,
    // Only the commands take a setting from their own environment: under --apps an exported
    // variable never reaches an app (one app's secret must not reach the others), so it is not offered.
    hint: (d) =>
      d.fromEnv === true
        ? `set ${str(d.missing)} in the environment file (apps: {${str(d.app)}: {settings: {...}}}) or as environment variables of the shell that runs this command`
        : `set ${str(d.missing)} in the environment file (apps: {${str(d.app)}: {settings: {...}}}) that the gateway is given with ${environmentOption(d)}: the gateway's own environment variables never reach an app under ${environmentOption(d).startsWith('-') ? '--apps' : 'apps'}`,
    exitStatus: 1,
    example: { missing: 'SECRET_KEY', app: 'blog' },
  },
  APPPKG_DEB_MISSING: {
    summary: 'A package listed in `deb:` is not installed.',
    message: (d) => `deb: ${nounFor(d.missing, 'package')} not installed: ${str(d.missing)}`,
    hint: (d) => d.unknown
      ? `this host's apt lists have no ${str(d.unknown)}: check the name in deb: (\`apt-cache search WORD\`, Debian names Python packages python3-NAME), or run \`apt-get update\` if the lists are old; then \`apt-get install -y ${str(d.missing)}\``
      : `run \`apt-get install -y ${str(d.missing)}\` (or ${d.systemInstall ? str(d.systemInstall) : '`apppkg-gateway install --system`'} as root)`,
    exitStatus: 1,
    example: { missing: 'python3-flask' },
  },
  APPPKG_RPM_MISSING: {
    summary: 'A package listed in `rpm:` is not installed.',
    message: (d) => `rpm: ${nounFor(d.missing, 'package')} not installed: ${str(d.missing)}`,
    hint: (d) => `run \`dnf install -y ${str(d.missing)}\``,
    exitStatus: 1,
    example: { missing: 'python3-flask' },
  },
  APPPKG_PIP_UNSATISFIED: {
    summary: 'A requirement of the `pip:` file is not installed in the app\'s interpreter or virtualenv, or at the wrong version. When the last `install` failed with these requirements on wheels the app\'s interpreter cannot load, the fix says which, as install did. When install\'s pip would run offline (nothing names an index, or `--no-index`), the fix names each requirement it would not find in the directories it reads (the app\'s, the requirements file\'s, `--find-links` lines, the host\'s `PIP_FIND_LINKS` or pip.conf `find-links`): no wheel or sdist of it, only other versions, or only wheels built for another interpreter or platform than the app\'s.',
    message: (d) => `pip: ${nounFor(d.missing, 'requirement')} not satisfied: ${str(d.missing)}`,
    hint: (d) =>
      Array.isArray(d.unloadable)
        ? `install failed on them at ${str(d.installFailedAt)}, with these requirements: ${unloadableWheelsFix(d)}; then run ${installCall(d)}`
        : Array.isArray(d.unfindable)
        ? `${installCall(d)} would fail at pip, which reads offline only ${Array.isArray(d.lookedIn) ? d.lookedIn.map(str).join(', ') : 'the app directory'}: ${d.unfindable.map(str).join('; ')}; put a wheel of each in one of those directories, or in one a \`--find-links\` line of ${str(d.pipFile) || 'the requirements file'} names: a pure-Python one (py3-none-any) or one built for the app's ${str(d.python)}${d.pythonTag ? `, tagged ${str(d.pythonTag)}` : ''} (\`${str(d.executable) || 'python3'} -m pip wheel NAME -w wheels/\` where NAME's source is); then run ${installCall(d)}`
        : `run ${installCall(d)} to build the app's virtualenv`,
    exitStatus: 1,
    example: { missing: 'flask>=3.0' },
  },
  APPPKG_VENV_BROKEN: {
    summary: "`check` found the app's virtualenv under the state root unable to run: its `bin/python` deleted, or linking to an interpreter that was removed (a pyenv version uninstalled), or the `venv` link's build gone. `install` builds a new one (a venv without a working interpreter is never reused).",
    message: (d) => `pip: the app's virtualenv ${str(d.venv)} is broken: ${str(d.reason)}`,
    hint: (d) => `run ${installCall(d)} to rebuild it`,
    exitStatus: 1,
    example: { venv: '/var/lib/apppkg-gateway/apps/blog/venv', reason: 'its bin/python is gone' },
  },
  APPPKG_PIP_FILE_UNREADABLE: {
    summary: 'The requirements file named by `pip:` is missing or unreadable; as root, also one that the app\'s user cannot read (the gateway reads it, and what it includes with -r/-c, with that user\'s rights only).',
    message: (d) => `pip: cannot read the requirements file ${str(d.requirements)}: ${str(d.reason)}`,
    hint: (d) =>
      d.user
        ? `the app runs as ${str(d.user)} and its requirements are read with that user's rights: make the file readable by ${str(d.user)} (chmod, chown), or move what it holds into the app directory`
        : 'point `pip:` in app.yaml at a requirements file inside the app directory (relative to it)',
    exitStatus: 1,
    example: { requirements: '/srv/apps/blog/requirements.txt', reason: 'ENOENT' },
  },
  APPPKG_APP_IMPORT_FAILED: {
    summary: 'Importing the `app:` module raised; the Python traceback is printed and the message names the file and line. When `app:` itself names a module or object that is not there and one of a close name is (`main:ap` for `main:app`), the fix names the `app:` to write; when it is an `os.environ["NAME"]` that nothing set (a settings module\'s secret), the fix names `settings: [NAME]`, and for `DATABASE_URL` and `REDIS_URL` first the `services:` entry (`{database: sql}`, `{redis: redis}`) that has the gateway give it. A new version that fails this way is refused (the serving one, if any, keeps serving) and retried when a file of it changes; a worker of the serving version that fails this way at a restart (a file of it edited) is retried with the restart back-off, a crash loop in `status`, and serves again once the file is fixed; a wake of an idle app that fails this way is tried again by the first request after its back-off (`idle.nextWakeAt`), whatever changed meanwhile.',
    message: (d) => `app: cannot import ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''}: ${str(d.reason)}`,
    hint: (d) =>
      d.meant
        // A typo of app.yaml's `app:` (`main:ap`, `mian:app`): the traceback is Python's, the fix the line to write.
        ? `did you mean \`app: ${str(d.meant)}\`? write it in app.yaml${d.log ? ` (${d.wake ? 'a changed app.yaml restarts the app' : 'a change to any file of the version retries it'})` : ''}`
        : d.environ === 'DATABASE_URL'
        // The gateway's own answer to it: a database made for the app, which settings: would leave to the host.
        ? 'the app reads DATABASE_URL from its environment, and nothing gives it: ask for a database in app.yaml, `services: {database: sql}`, and the gateway gives it one with DATABASE_URL (PostgreSQL where the environment file names a server, else SQLite in the app\'s data directory, with nothing to set up; README "Services"); or, for a database of your own, list it in `settings: [DATABASE_URL]` and set it in the environment file\'s settings for the app'
        : d.environ === 'REDIS_URL'
        ? 'the app reads REDIS_URL from its environment, and nothing gives it: ask for Redis in app.yaml, `services: {redis: redis}`, and the gateway gives it a Redis user of its own with REDIS_URL (the environment file must name the host\'s Redis, `services: {redis: redis://...}`; README "Services"); or, for a Redis of your own, list it in `settings: [REDIS_URL]` and set it in the environment file\'s settings for the app'
        : d.environ
        // os.environ["SECRET_KEY"] in a settings module, in an app whose settings: does not list it.
        ? `the app reads ${str(d.environ)} from its environment, and nothing gives it: list it in app.yaml, \`settings: [${str(d.environ)}]\` (a start without it is then refused, naming it), and set it in the environment file's settings for the app or, for check, serve and run, in the shell (\`${str(d.environ)}=... apppkg-gateway serve DIR\`)`
        : d.log
        // Not "its last lines follow": a status reader without the right to see logs has them withheld.
        ? `fix the error in the traceback (all of it is in ${str(d.log)}); ${retriedBy(d)}, and ${checkAgain(d, 'repeats the import', ' in the terminal')}`
        : `fix the error shown in the traceback, then try again (${checkAgain(d, 'repeats the import', '')})`,
    exitStatus: 1,
    example: { app: 'blog.wsgi:application', where: 'blog/wsgi.py:3', reason: "ModuleNotFoundError: No module named 'flask'" },
  },
  APPPKG_APP_SYSTEM_MODULE: {
    summary: 'Importing the `app:` module failed for want of a module that the system interpreter imports from a Debian package, while the app, listing no `deb:`, runs on another interpreter (`python3` on PATH: a pyenv or virtualenv python, which never looks in `/usr/lib/python3/dist-packages`).',
    message: (d) => `app: cannot import ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''}: ${str(d.reason)}; ${str(d.system)} imports ${str(d.module)} from Debian's ${str(d.package)}, but the app runs on ${str(d.interpreter)}`,
    hint: (d) => `add \`deb: ${str(d.package)}\` to app.yaml: an app that lists deb packages runs on ${str(d.system)}, where they are importable (or install ${str(d.module)} for ${str(d.interpreter)})`,
    exitStatus: 1,
    example: { app: 'cal_wsgi:application', where: 'cal_wsgi.py:3', reason: "ModuleNotFoundError: No module named 'radicale'", module: 'radicale', package: 'python3-radicale', system: '/usr/bin/python3', interpreter: '/root/.pyenv/versions/3.12.1/bin/python3.12' },
  },
  APPPKG_APP_MODULE_NOT_INSTALLED: {
    summary: 'Importing the `app:` module of an app that lists `deb:` failed for want of a module that no package installed here gives to the system interpreter, while apt knows a package named for it (`python3-NAME`, Debian\'s rule): likely one that `deb:` should list. Only a guess from the name: the package may hold another module.',
    message: (d) => `app: cannot import ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''}: ${str(d.reason)}; no package installed here gives ${str(d.module)} to ${str(d.system)}`,
    hint: (d) =>
      `a guess from its name: apt knows ${str(d.package)}, which may be what gives ${str(d.module)} (\`apt-cache show ${str(d.package)}\` says what it holds); if so, list it in app.yaml, \`${str(d.debLine)}\`, and install it (\`apt-get install ${str(d.package)}\`, or ${d.systemInstall ? str(d.systemInstall) : '`apppkg-gateway install --system`'} as root)`,
    exitStatus: 1,
    example: { app: 'notes:app', where: 'notes.py:2', reason: "ModuleNotFoundError: No module named 'flask_cors'", module: 'flask_cors', package: 'python3-flask-cors', system: '/usr/bin/python3', debLine: 'deb: [python3-flask, python3-flask-cors]' },
  },
  APPPKG_APP_NOT_CALLABLE: {
    summary: 'The `app:` object exists but is not callable (a module, a string, None), or is an application factory the worker cannot use as it stands: a plain one named without `()`, or an `async def` one, whose call returns a coroutine rather than the app; or, for WSGI, its signature cannot take `(environ, start_response)` (`def application(environ)`), as inspect reads it. A web.py `web.application(...)` (its tutorial\'s `app`) is not callable either: the fix names `app: MODULE:app.wsgifunc()`.',
    message: (d) => `app: ${str(d.app)} is ${str(d.found)}, expected a WSGI or ASGI callable`,
    hint: (d) =>
      String(d.found).includes('an async factory')
        ? asyncFactoryHint(String(d.app))
        : String(d.found).includes('an application factory')
        ? 'add the `()` to `app:`: each worker then calls the factory once and serves the app it returns'
        : String(d.found).includes('whose WSGI app is its wsgifunc()')
        ? `write \`app: ${str(d.app)}.wsgifunc()\` in app.yaml: each worker then calls it once and serves the WSGI app it returns`
        : String(d.found).includes('cannot be called as a WSGI server calls an app')
        ? 'make it take the two arguments a WSGI server passes, `def application(environ, start_response)` (PEP 3333; for a class, its `__call__(self, environ, start_response)`, and `app:` naming an instance), or point `app:` at the object that does'
        : 'point `app:` at the application object, e.g. `app: mypkg.wsgi:application` (WSGI) or `app: mypkg.main:app` (ASGI)',
    exitStatus: 1,
    example: { app: 'blog.wsgi:application', found: 'a module' },
  },
  APPPKG_APP_STDLIB_NAME: {
    summary:
      'The module of `app:` (or the one `init` found the app in) has the name of a module of Python\'s standard library, `site.py` say: `import site` gives the standard library\'s, imported when the interpreter started, and a project module that does import first hides the standard one from every library that needs it. `init` writes nothing, `check` fails.',
    message: (d) => `app: ${str(d.app)} is in ${str(d.path)}, which has the name of the standard library's module \`${str(d.top)}\`: \`import ${str(d.top)}\` gives one of the two, never both`,
    hint: (d) =>
      `rename ${str(d.rel)} to a name of your own (${str(d.rename)}, say)${d.init ? ', then run `apppkg-gateway init` again' : ' and `app:` to match'}`,
    exitStatus: 1,
    example: { app: 'site:app', path: '/srv/apps/blog/site.py', top: 'site', rel: 'site.py', rename: 'site_app.py' },
  },
  APPPKG_APP_OTHER_KIND: {
    summary:
      'The `app:` object is plainly the other kind of app than `platform` says: an ASGI app (its call an `async def`: Quart, Falcon\'s `falcon.asgi.App`, Starlette) under `python, wsgi`, or a WSGI app (its call takes `environ, start_response`: Flask, Falcon\'s `falcon.App`, Bottle, Pyramid) under `python, asgi`, or an aiohttp `web.Application` (or its `async def` factory) or a Tornado `tornado.web.Application`, which are neither and run under their own server (`platform: python, command`, with the `processes.web` the fix shows: gunicorn\'s aiohttp worker, or Tornado\'s `listen` on `$PORT` as `init` writes it). Every request would fail with a TypeError, so the version is refused, as for an import error.',
    message: (d) => `platform: expected python, ${str(d.kind)} for ${str(d.app)} (${str(d.found)}), found python, ${str(d.declared)}`,
    hint: (d) =>
      d.kind === 'command' && d.server === 'tornado'
        ? tornadoHint(str(d.target ?? d.app))
        : d.kind === 'command'
        // aiohttp's own deployment docs run the app object so, behind a proxy: nothing to rewrite.
        ? `aiohttp serves the app itself: in app.yaml write \`platform: python, command\` without \`app:\`, add python3-gunicorn to \`deb:\`, and \`processes: {web: {command: exec gunicorn -k aiohttp.GunicornWebWorker -b 127.0.0.1:$PORT ${str(d.target ?? d.app)}}}\`; it then gets the full path, its mount included (README "Processes": serve it at a host's root, or add its routes under $APPPKG_MOUNT)`
        : d.key === d.declared
        ? `write \`${str(d.kind)}: {app: ${str(d.app)}}\` in app.yaml instead of \`${str(d.declared)}: {app: ...}\``
        : d.target && d.kind === 'wsgi'
        // A Django project's wsgi.py named under asgi: its asgi.py beside it is the ASGI app.
        ? `write \`platform: python, wsgi\` in app.yaml, or, to serve it as ASGI, \`app: ${str(d.target)}\` (the project's asgi.py)`
        : `write \`platform: python, ${str(d.kind)}\` in app.yaml`,
    exitStatus: 1,
    example: { app: 'shop:app', found: 'Quart, an ASGI app: its __call__ is an async def', kind: 'asgi', declared: 'wsgi' },
  },
  APPPKG_APP_MONKEY_PATCHED: {
    summary:
      "Importing the `app:` module monkey-patched Python's threads (`from gevent import monkey; monkey.patch_all()`, `eventlet.monkey_patch()`, as gunicorn -k gevent users write it). The gateway's worker serves requests on threads of its own and reads its link from them; patched, they are greenlets on one OS thread, and the worker would hang before it is ready. The version is refused, as for an import error.",
    message: (d) => `app: ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''} monkey-patches Python's threads at import: ${str(d.by)} replaced ${str(d.replaced)}, and the worker's own threads would become greenlets`,
    hint: (d) =>
      d.kind === 'asgi'
        ? `remove the patch${d.where ? ` at ${str(d.where)}` : ''}: the ASGI worker runs the app's requests as tasks of its event loop, side by side without it`
        : `remove the patch${d.where ? ` at ${str(d.where)}` : ''}: the worker's \`threads:\` serve requests side by side without it; or keep ${str(d.by)} and serve the app with its own server: in app.yaml write \`platform: python, command\` without \`app:\`, add python3-gunicorn to \`deb:\`, and \`processes: {web: {command: exec gunicorn -k ${str(d.by)} -b 127.0.0.1:$PORT ${str(d.app)}}}\``,
    exitStatus: 1,
    example: { app: 'app:app', kind: 'wsgi', by: 'gevent', replaced: '_thread.start_new_thread, _thread.allocate_lock', where: '/srv/apps/chat/app.py:1' },
  },
  APPPKG_APP_LIFESPAN_FAILED: {
    summary: "An ASGI app's lifespan startup failed (it sent `lifespan.startup.failed`, or raised after taking the lifespan scope), or did not complete in time (the worker's start deadline; `check`'s bound); the version is refused, as for an import error.",
    message: (d) => `app: ${str(d.app)} failed its lifespan startup: ${str(d.reason)}`,
    hint: (d) =>
      d.blocked
        ? `the app's lifespan startup runs blocking code in an async function, which holds the event loop (time.sleep, a synchronous connect): use its async form (await asyncio.sleep, an async driver) or run it with \`await loop.run_in_executor(None, ...)\`; the stack where it blocks is ${d.log ? `in ${str(d.log)}` : 'above'}`
        : d.hung
        ? `the app's lifespan startup waits for something that does not come (a connection without a timeout?): make it reachable, or give the wait a timeout so that startup fails saying why; the stack where it waits is ${d.log ? `in ${str(d.log)}` : 'above'}`
        : d.traceback === undefined && d.tracebackShown !== true && d.appOutput !== undefined
        // Not "above": a status reader without the right to see logs has the message withheld there.
        ? `fix what the app's startup handler reported (its message is in ${d.log ? str(d.log) : 'the output above'}), then try again`
        : d.silent
        ? `the app's startup handler sent lifespan.startup.failed with no message, so the app gave no reason: give it one (\`"message": "..."\` in that event), and read what the app printed before it${d.log ? ` in ${str(d.log)}` : ', above'}`
        : d.log
        ? `fix what the app's startup handler needs (the traceback is in ${str(d.log)}), then try again; ${d.checkCall ? `${str(d.checkCall)} runs the startup again` : `\`apppkg-gateway serve ${appDirWord(d)}\` shows it in the terminal`}`
        // No log named: serve's, whose terminal has the traceback just above.
        : 'fix what the app\'s startup handler needs (its traceback is above), then try again',
    exitStatus: 1,
    example: { app: 'chat.main:app', reason: 'RuntimeError: cannot reach the database' },
  },
  APPPKG_APP_RUNNING: {
    summary: 'A command that removes or replaces an app\'s state (`uninstall`, `restore`, AppPackage\'s `runCommand(\'restore\')`) was asked for an app that is running (served by a gateway, or under `serve`).',
    message: (d) => `${str(d.app)} is running (pids ${str(d.pids)}): ${str(d.action)} would ${d.action === 'restore' ? 'replace' : 'remove'} its state underneath it`,
    // stopServing and againCall: a library caller's (CommandWords.fixDetails), who ran no command.
    hint: (d) => `stop it first: ${d.stopServing ? str(d.stopServing) : 'take its directory out of --apps (the gateway stops it), or stop `serve`'}; then ${d.againCall ? `call ${str(d.againCall)} again` : `run ${str(d.action)} again`}`,
    exitStatus: 1,
    example: { app: 'blog', pids: '4242, 4243', action: 'uninstall' },
  },
  APPPKG_WORKER_START_FAILED: {
    summary: 'A worker exited, or did not report ready in time, for a reason other than an import error; the app\'s log (`APPPKG_LOG_DIR/app.log`) says why. Or it could not be spawned: the gateway\'s open-files limit was reached (EMFILE), which the message then says.',
    message: (d) =>
      d.seconds !== undefined
        ? `worker of ${workerOf(d)} did not finish its start within ${str(d.seconds)} s (start_timeout) and was killed: its import (or the app's startup) was still running`
        : `worker of ${workerOf(d)} exited before it was ready (${str(d.reason)})`,
    hint: (d) =>
      d.openFiles
        ? openFilesHint(d.openFiles, d)
        : d.linkMismatch
        ? "restart the gateway: apppkg-gateway's files were replaced while it ran (upgraded in place?), and the gateway still running cannot talk to their Python shim; `check` runs the new files and finds nothing wrong"
        : d.seconds !== undefined
        ? `read ${d.log ? str(d.log) : 'the app log above'} for where the import was at the deadline (faulthandler's 'Timeout' report just above the refusal: each thread's stack, most recent call first): an import that waits (a database or a network call without a timeout) or computes a long time should do that later, or within a bound; a slow one that must finish gets more time with start_timeout under apps.${d.name ? str(d.name) : 'NAME'} ${startTimeoutWhere(d)}`
        : `read ${d.log ? str(d.log) : 'the app log above'}; ${checkAgain(d, 'runs the same import', ' in the foreground')}`,
    exitStatus: 1,
    example: { name: 'blog', app: 'blog.wsgi:application', reason: 'not ready within 30000 ms' },
  },
  APPPKG_PROCESS_START_FAILED: {
    summary: 'A `processes` entry (or `processes.web` of a `platform: python, command` app) exited, or did not accept connections on its `$PORT` within the start deadline.',
    message: (d) => `processes.${str(d.process)} of ${str(d.app)} did not start (${str(d.reason)})`,
    hint: (d) =>
      d.openFiles ? openFilesHint(d.openFiles, d) : `read ${d.log ? str(d.log) : 'its output above'} (its lines begin with [${str(d.process)}]); a process with a route (or processes.web) must listen on 127.0.0.1:$PORT — try it with ${d.runCall ? str(d.runCall) : `\`apppkg-gateway run ${appDirWord(d)} -- sh -c 'PORT=8080 ...'\``}`,
    exitStatus: 1,
    example: { process: 'web', app: 'chat', reason: 'exited with status 1' },
  },
  APPPKG_APP_PROBE_FAILED: {
    summary: 'A worker imported the app, but `GET <health>` (the `health:` path of `app.yaml`), asked again every half second, answered nothing but non-2xx/3xx within the start bound (60 s), or one probe got no answer in time; the version never takes traffic. The message has the last status and the path.',
    message: (d) => `health probe of ${str(d.app)}: GET ${str(d.path)} ${d.status ? `answered ${str(d.status)}${d.seconds !== undefined ? ` (its last answer, after ${str(d.seconds)} s of tries)` : ''}` : `failed (${str(d.reason)})`}, expected 2xx or 3xx`,
    hint: (d) => `make the \`health:\` path of app.yaml answer 200 once the app can serve (read ${d.log ? str(d.log) : 'the output above'} for why it did not), or remove \`health:\``,
    exitStatus: 1,
    example: { app: 'blog', path: '/healthz', status: 500 },
  },
  APPPKG_COMMAND_FAILED: {
    summary: 'A lifecycle hook or command exited non-zero.',
    message: (d) => `${str(d.command)} exited with status ${str(d.status)}`,
    hint: (d) => `read its output ${outputAt(d)}`,
    exitStatus: 1,
    example: { command: 'commands.migrate (python manage.py migrate)', status: 1 },
  },
  APPPKG_COMMAND_TIMEOUT: {
    summary: 'A lifecycle hook that a deploy runs (`commands.install` at an app\'s first start, `commands.update` before a new version takes traffic) ran past its bound (`--hook-timeout`, 600 s by default) and was stopped with everything it started (SIGTERM, SIGKILL 3 s later). The version never takes traffic: the one before keeps serving.',
    message: (d) => `${str(d.command)} did not finish within ${str(d.seconds)} s (${hookTimeoutOption(d).key}): it was stopped, with what it started`,
    // serve echoes the hook's output and has no service to reload: it runs the hook at its next start.
    // A library caller (hookTimeoutKey: hookTimeoutMs) has neither serve nor systemctl: its own calls.
    hint: (d) => {
      const { key, longer } = hookTimeoutOption(d);
      const library = !key.startsWith('-');
      return d.serve
        ? `read its output above for where it waited (a lock the database holds, a prompt for input); a hook that needs longer needs ${longer}; then ${library ? 'start the gateway again (Gateway.start)' : 'run `apppkg-gateway serve` again'}, which runs it again`
        : `read its output in ${d.log ? str(d.log) : 'the app log'} for where it waited (a lock the database holds, a prompt for input); a hook that needs longer needs ${longer}; then ${library ? "the gateway's reload() or rescan()" : '`systemctl reload apppkg-gateway` (SIGHUP)'} runs it again`;
    },
    exitStatus: 1,
    example: { command: 'commands.update (python manage.py migrate)', seconds: 600 },
  },
  APPPKG_COMMAND_MISSING: {
    summary: 'A command was asked for (`apppkg-gateway test`, `run --command NAME`, `AppPackage.runCommand(name)`) that app.yaml does not define under `commands:`; the message names those it does.',
    // The ones it has: a typo'd key (`tests:`) or another app's directory shows there.
    message: (d) => `${str(d.app)} has no commands.${str(d.command)}${Array.isArray(d.have) ? ` (it has ${d.have.length === 0 ? 'no commands' : listOf(d.have.map((name) => `commands.${String(name)}`))})` : ''}`,
    hint: (d) => str(d.fix) || `add e.g. \`commands: {${str(d.command)}: ...}\` to app.yaml`,
    exitStatus: 1,
    example: { app: 'blog', command: 'test', have: ['install', 'update'], fix: 'add e.g. `commands: {test: python -m unittest discover -s tests}` to app.yaml' },
  },
  APPPKG_INSTALL_NEEDS_ROOT: {
    summary: '`install --system` (AppPackage\'s `install({ system: true })`) was run by a user other than root; only root may run `apt-get install`.',
    // AppPackage's install({ system: true }) meets it too (systemInstall: namingFixes): its caller
    // runs no `install --system` and has no sudo to prefix a call with, but its program's.
    message: (d) => `${d.systemInstall ? str(d.systemInstall) : 'install --system'}: installing deb packages needs root, this is uid ${str(d.uid)}`,
    hint: (d) =>
      d.systemInstall
        ? `call ${str(d.systemInstall)} from a program run as root, or install the packages yourself (apt-get install -y ${str(d.packages) || 'PACKAGE...'}) and call install() without system: true`
        : `run \`sudo apppkg-gateway install --system ${str(d.dir) || 'APP_DIR'}\`, or install the packages yourself (apt-get install -y ${str(d.packages) || 'PACKAGE...'}) and run install without --system`,
    exitStatus: 1,
    example: { uid: 1000, dir: '/srv/apps/blog', packages: 'python3-flask' },
  },
  APPPKG_APT_FAILED: {
    summary: '`install --system` ran `apt-get install -y` for the missing `deb` packages and it failed (no such package, stale package lists, no network).',
    message: (d) => `deb: \`apt-get install -y ${str(d.packages)}\` exited with status ${str(d.status)}`,
    hint: (d) => `read apt's output ${outputAt(d)}; when it cannot find a package, run \`apt-get update\` first and check the name with \`apt-cache policy NAME\``,
    exitStatus: 1,
    example: { packages: 'python3-flask', status: 100 },
  },
  APPPKG_VENV_FAILED: {
    summary: '`install` (or `--apps`, deploying an app with `pip:`) could not create the app\'s virtualenv with `python -m venv` (on Debian, `python3-venv` missing; a full disk), or `-m venv` exited 0 and made no `bin/python`.',
    message: (d) => `pip: cannot create the virtualenv ${str(d.path)} with ${str(d.python)}: ${str(d.reason)}`,
    hint: (d) =>
      `read ${d.log ? `the output in ${str(d.log)}` : 'the output above'}; on Debian the system python3 needs \`apt-get install -y python3-venv\`; or name another interpreter with \`python:\` in the environment file${d.underApps ? `; ${installShown(d).call} builds the virtualenv ${installShown(d).where}` : ''}`,
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog/venv', python: '/usr/bin/python3', reason: '`-m venv` exited with status 1' },
  },
  APPPKG_PIP_INSTALL_FAILED: {
    summary: "`pip install -r` into the new virtualenv failed (run by `install`, or by `--apps` deploying an app with `pip:`, which then refuses the version): usually a requirement found nowhere pip looked. pip looks where the host's pip configuration (pip.conf, `PIP_INDEX_URL`, `PIP_FIND_LINKS`, ...) and the requirements name, and in the app directory; when neither names an index nor --find-links it runs offline (`--no-index`), from the app's own files. A requirement pip builds from source (a local directory, an sdist) needs its build backend (setuptools, ...), which offline pip cannot fetch and an index may lack: when pip's log shows it could not get it, the fix says to ship a built wheel instead. A host pip configuration file that the virtualenv's pip cannot be asked about (no pip there, a malformed file it cannot load) goes unread, so pip runs offline unless a `PIP_*` variable names a source: the progress line says so, and the fix says to mend it first, as pip install reads the same files. The previous virtualenv stays in use.",
    message: (d) => `pip: \`pip install -r ${str(d.requirements)}\` exited with status ${str(d.status)}; the previous virtualenv (if any) is kept`,
    hint: (d) =>
      `read pip's output ${pipOutputAt(d)}; ${d.noPip ? noPipFix(d) : `${Array.isArray(d.configUnread) ? configUnreadFix(d) : ''}${lookedIn(d)}: ${d.source ? sourceBuildFix(d, { offline: !Array.isArray(d.hostSources) && !d.index, where: 'there', requirements: str(d.pipFile) || 'the requirements file' }) : Array.isArray(d.unloadable) ? unloadableWheelsFix(d) : Array.isArray(d.findLinks) ? `it found no ${str(d.missing)} because it looks for wheels only in the app directory and beside the requirements file, not in the directories under them: add the ${d.findLinks.length === 1 ? 'line' : 'lines'} ${d.findLinks.map((l) => `\`${str(l)}\``).join(' and ')} to ${str(d.pipFile)}` : `${d.notFound ? `it found no distribution of ${str(d.notFound)} there; ` : ''}${Array.isArray(d.hostSources) || d.index ? 'a requirement none of those has goes there, or its wheel or sdist in the app directory or beside the requirements file, named there (NAME==VERSION or the file name)' : 'put each wheel or sdist in the app directory or beside the requirements file, and name it there (NAME==VERSION or the file name)'}`}`}${Array.isArray(d.ignored) ? `; pip read none of ${d.ignored.map(str).join(', ')} (install reads no PIP_* variable that sends the install out of the virtualenv or adds requirements): a requirement the app needs goes in ${str(d.pipFile)}` : ''}${d.underApps ? `; then deploy again, or run ${installShown(d).call} to build the virtualenv ${installShown(d).where}` : ''}`,
    exitStatus: 1,
    example: { requirements: 'requirements.txt', status: 1 },
  },
  APPPKG_PIP_CONFIG_REFUSED: {
    summary:
      "`install` (or `serve`, `--apps`, `export venv`, building the virtualenv of an app with `pip:`) runs pip with the host's pip configuration, for where packages come from (`index-url`, `find-links`, ...), and a pip.conf file of it sets `target`, `prefix`, `root` or `python` (a destination other than the app's virtualenv, which was left empty) or `requirement` or `editable` (requirements other than the app's). No variable undoes a file's setting (pip ignores an empty one), so it is refused before pip runs; the previous virtualenv stays in use. The same `PIP_*` variables are not read (the progress line names them).",
    message: (d) =>
      `pip: the host's pip configuration sets ${pipSettings(d.settings).map((s) => `${s.name} = ${s.value} ([${s.section}] of ${s.file})`).join(', ')}, which the app's virtualenv cannot be built under (a destination of its own, or requirements other than the app's); the previous virtualenv (if any) is kept`,
    hint: (d) => {
      const settings = pipSettings(d.settings);
      const where = settings.length > 0 ? settings.map((s) => `\`${s.name}\` from [${s.section}] of ${s.file}`).join(' and ') : 'that setting from its file';
      return `remove ${where} (every \`pip install\` on this host reads it), then run it again: the app's virtualenv is its destination, and the rest of the host's pip configuration (its index, find-links) is read${d.underApps ? `; then deploy again, or run ${installShown(d).call} to build the virtualenv ${installShown(d).where}` : ''}`;
    },
    exitStatus: 1,
    example: { settings: [{ name: 'target', value: '/opt/site', file: '/etc/pip.conf', section: 'install' }] },
  },
  APPPKG_BACKUP_FAILED: {
    summary: '`backup` or `restore` could not create, copy or swap a directory (permissions, no room).',
    message: (d) => `cannot ${str(d.action)}: ${str(d.reason)}`,
    hint: (d) => str(d.fix) || 'check that the backup directory is writable and has room',
    exitStatus: 1,
    example: { action: 'copy /var/lib/apppkg-gateway/blog/data', reason: 'ENOSPC: no space left on device' },
  },
  APPPKG_BACKUP_INSIDE_DATA: {
    summary: '`backup --to DIR` named the app\'s data directory or a directory inside it: the backup would be part of what it backs up (copied into itself, and replaced by the next `restore`); nothing was written.',
    message: (d) => `${backupDirGiven(d, 'backup')}: ${d.path === d.data ? 'that is' : 'inside'} ${str(d.app) || 'the app'}'s data directory ${str(d.data)}, which the backup copies`,
    hint: (d) => `choose a directory outside ${str(d.data) || 'the data directory'}, e.g. ${newBackupDir(d)}`,
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/apps/blog/data/backup', app: 'blog', data: '/var/lib/apppkg-gateway/apps/blog/data' },
  },
  APPPKG_BACKUP_NOT_EMPTY: {
    summary: '`backup --to DIR` found DIR holding something other than an earlier backup of the same app, finished or not (which would be replaced), or DIR is no directory (a file, a symlink to nothing).',
    message: (d) => `${backupDirGiven(d, 'backup')}: expected a new or empty directory (or an earlier backup of ${str(d.app)}), found ${str(d.found)}`,
    hint: (d) => `choose a new directory, e.g. ${newBackupDir(d)}`,
    exitStatus: 1,
    example: { path: '/var/backups/blog', app: 'blog', found: '3 other entries' },
  },
  APPPKG_BACKUP_EMPTY: {
    summary: '`restore --from DIR` found DIR missing or empty; nothing was changed.',
    message: (d) => `${backupDirGiven(d, 'restore')}: expected a backup, found ${str(d.found) || 'an empty directory'}`,
    hint: (d) => `name the directory that ${d.backupCall ? backupWriter(d) : '`apppkg-gateway backup APP_DIR --to DIR`'} wrote; nothing was changed`,
    exitStatus: 1,
    example: { path: '/var/backups/blog' },
  },
  APPPKG_BACKUP_FOREIGN: {
    summary: '`restore --from DIR` found no `apppkg-backup.json` there (an unfinished backup has none), or a backup of another app; nothing was changed.',
    message: (d) => `${backupDirGiven(d, 'restore')}: expected a backup of ${str(d.app)}, found ${str(d.found)}`,
    hint: (d) =>
      d.unmarked
        ? `name a directory written by ${backupWriter(d)} for this app (it holds apppkg-backup.json); nothing was changed. A backup that commands.backup wrote before the gateway marked them has none: if this one is ${str(d.app)}'s, mark it, then restore again: echo '{"format":"apppkg-backup/1","app":"${str(d.app)}","hook":true}' > ${str(d.path)}/apppkg-backup.json`
        : `name a directory written by ${backupWriter(d)} for this app (it holds apppkg-backup.json); nothing was changed`,
    exitStatus: 1,
    example: { path: '/var/backups/shop', app: 'blog', found: 'a backup of shop' },
  },
  APPPKG_RESTORE_NOT_OWNED: {
    summary: '`restore --from DIR` as root, without commands.restore, copies DIR/data into the app\'s data; DIR (or a directory of DIR/data) is not root\'s (commands.restore was given it once, or another user copied it), and DIR/data held files that are not its owner\'s; or DIR, DIR/data or a directory below it is writable by users other than root (o+w, or g+w of a group not root\'s), so what it holds may be anyone\'s. Where hard links to any file may be made (fs.protected_hardlinks=0), one to a root-only file would have been copied for the app\'s user, so none of DIR/data was restored and nothing was changed. Nothing on the tree tells the backup\'s own files (root\'s) from a hard link another put in such a directory since (root\'s too), so only the administrator, looking, can clear it; a backup made before backups named the app\'s directory modes (`directoryModes`) holds an app\'s own 0777 directory so, and the fix names the `chmod` that gives each its mode back once restored (`chmod go-w` takes it away).',
    message: (d) => {
      if (d.writable) return `${backupDirGiven(d, 'restore')}: ${str(d.writable)} is writable by users other than root (mode ${str(d.mode)})${d.others ? `, and ${str(d.others)}` : ''}: what it holds may be anyone's, a hard link to a root-only file among it; nothing was changed`;
      const files = Number(d.files);
      return `${backupDirGiven(d, 'restore')}: ${files} file${files === 1 ? ' in' : 's in'} ${str(d.data)} ${files === 1 ? 'is' : 'are'} not the user's who owns ${str(d.owned)} (uid ${str(d.uid)}): ${str(d.found)}; nothing was changed`;
    },
    hint: (d) =>
      d.writable
        ? `check what ${str(d.writable)} holds (find ${str(d.writable)} ! -user root lists what others own there; a hard link to a file of root's is root's: find ${str(d.writable)} -type f -links +1 lists those), remove what the backup did not write, take the others' write away (chmod go-w ${str(d.writable)}; find ${str(d.data)} -type d -perm /022 lists every such directory) and restore again${d.giveBack ? `; a backup made before backup named the app's modes (directoryModes) holds the app's own open directories so: once restored, give them their modes back: ${str(d.giveBack)}` : ''}`
        : `${str(d.owned)} has been uid ${str(d.uid)}'s since a restore gave it to commands.restore (or that user copied it), and what its owner put there, a hard link to any file among it, is copied only if it is theirs: check what ${str(d.data)} holds (find ${str(d.data)} -type f ! -user ${str(d.uid)} lists the others), then make ${str(d.path)} root's again (chown -R root: ${str(d.path)}) and restore again`,
    exitStatus: 1,
    example: { path: '/var/backups/shop', data: '/var/backups/shop/data', owned: '/var/backups/shop', uid: 1001, files: 1, found: '/var/backups/shop/data/db.key' },
  },
  APPPKG_NOT_CONFIRMED: {
    summary: '`uninstall` or `mail delete --all` was not confirmed: the answer at the terminal was not `y`. Nothing was removed.',
    message: (d) => `${str(d.action)} not confirmed: ${str(d.reason)}; nothing was removed`,
    hint: () => 'answer y at the prompt, or pass --yes',
    exitStatus: 1,
    example: { action: 'uninstall of blog', reason: 'the answer was not "y"' },
  },
  APPPKG_REMOVE_FAILED: {
    summary: '`uninstall` could not remove the app\'s state directory, or refused to because the app directory lies inside it (keep app directories outside the state root).',
    message: (d) => `cannot remove ${str(d.path)}: ${str(d.reason)}`,
    hint: (d) => str(d.fix) || 'run uninstall as the user that owns the state directory (or root), then run it again',
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog', reason: 'EACCES: permission denied' },
  },
  APPPKG_INIT_EXISTS: {
    summary: '`init` found an `app.yaml` already there, and left it as it was; `--force` replaces it.',
    // The file is the location format() puts before the message: "/srv/apps/blog/app.yaml: already exists; ...".
    message: () => 'already exists; init did not overwrite it',
    hint: (d) => `edit it, or run \`apppkg-gateway init ${d.dir ? shellWord(str(d.dir)) : 'DIR'} --force\` to replace it with a new one`,
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml', dir: '/srv/apps/blog' },
  },
  APPPKG_INIT_NO_DIR: {
    summary: '`init` was pointed at a path that is not a directory (missing, or a file); nothing was written.',
    message: (d) => `${str(d.dir)} is not a directory`,
    hint: () => 'point init at the project directory (the one holding your WSGI or ASGI module), or create it first',
    exitStatus: 1,
    example: { dir: '/srv/apps/blog' },
  },
  APPPKG_INIT_NO_APP: {
    summary: '`init` found no WSGI or ASGI application object in the project, and wrote nothing.',
    message: (d) => `found no WSGI or ASGI application object in ${str(d.dir)}; no app.yaml was written`,
    hint: (d) =>
      d.pasteFile
        ? `${str(d.pasteFile)} has Pyramid's \`main(global_config, **settings)\`, which PasteDeploy calls with an .ini file's settings, and no module-level app: ` +
          `add wsgi.py at the top of the project, \`from ${str(d.pasteModule)} import main\` and \`application = main({})\` (the settings of the .ini's [app:main] as keywords of main), then run init again`
        : d.pecanConfig
        ? `${str(d.pecanConfig)} is Pecan's configuration (\`pecan serve ${str(d.pecanConfig)}\`), and no module-level app: add wsgi.py beside it, ` +
          `\`import os\`, \`from pecan.deploy import deploy\` and \`application = deploy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py"))\`, then run init again`
        : d.bottleFile
        ? `${str(d.bottleFile)} declares its routes with Bottle's module-level @route, which go to Bottle's default app, and no name holds that app: ` +
          'add `application = bottle.default_app()` at its end (with `import bottle`), then run init again'
        : `write app.yaml by hand, ${APP_YAML_LINES} (README "The description")`,
    exitStatus: 1,
    example: { dir: '/srv/apps/blog' },
  },
  // Issue 15 (SPEC 5.2): services, what database the app should connect to.
  APPPKG_SERVICE_MISSING: {
    summary: 'The app asks for a service (`services:` in app.yaml) that the host does not offer; that app is refused, the others serve.',
    message: (d) =>
      `${str(d.app)} asks for services.${str(d.service)}: ${str(d.asked)}, but the host offers no ${str(d.kind)} server` +
      (d.alsoService ? `, nor a ${str(d.alsoKind)} server for its services.${str(d.alsoService)}` : ''),
    hint: (d) =>
      (d.alsoService
        ? `set \`${str(d.envKey)}\` and \`services.${str(d.alsoKind)}\` in ${theEnvironmentFile(d)} (e.g. \`services: {${str(d.kind)}: ${str(d.url)}, ${str(d.alsoKind)}: ${str(d.alsoUrl)}}\`)`
        : `set \`${str(d.envKey)}\` in ${theEnvironmentFile(d)} (e.g. \`services: {${str(d.kind)}: ${str(d.url)}}\`)`) +
      passEnvironmentFile(d) +
      (d.service === 'database' ? ', or ask for `database: sql` to run on SQLite where the host has no PostgreSQL' : ''),
    exitStatus: 1,
    example: { app: 'blog', service: 'database', asked: 'postgresql', kind: 'postgresql', envKey: 'services.postgresql', url: 'postgresql:///postgres?host=/var/run/postgresql' },
  },
  APPPKG_SERVICE_UNAVAILABLE: {
    summary: "The host's PostgreSQL or Redis server (`services:` in the environment file) could not be reached or refused the gateway's admin connection; under `--apps` the version is retried with back-off.",
    // `given`: the server is one the app's settings name (DATABASE_URL, REDIS_URL), not the host's
    // services:; `givenToEvery`: named by the top-level settings:, not apps.NAME.settings.
    message: (d) => `${str(d.kind)} at ${str(d.server)} (${d.given ? `${str(d.given)} given by the settings` : `services.${str(d.kind)}`}): ${str(d.reason)}`,
    hint: (d) => {
      // A server that answered and refused the login is running: "start the server" sent the
      // host to look at the wrong thing.
      const first = LOGIN_REFUSED.test(str(d.reason)) ? 'the server is up and refused the login: correct the user or password of' : 'start the server, or correct';
      return (d.given
        ? d.givenToEvery
          ? `${first} ${str(d.given)} in the top-level settings: of the environment file (given to every app); `
          : `${first} ${str(d.given)} among the app's settings (apps.${str(d.app)}.settings in the environment file); `
        : `${first} \`services.${str(d.kind)}\` in the environment file (a user allowed to create ${d.kind === 'redis' ? 'ACL users' : 'roles and databases'}); `) +
        // Within check itself (`checkAgain`: its command line as given), that very line.
        (d.checkAgain ? `${LOGIN_REFUSED.test(str(d.reason)) ? 'then run this check again' : 'run this check again once the server is up'}: \`apppkg-gateway ${str(d.checkAgain)}\`` : `${checkCall(d)} tries it`) +
        stoppedHalfway(d);
    },
    exitStatus: 1,
    example: { kind: 'postgresql', server: '/var/run/postgresql:5432', reason: 'connect ENOENT /var/run/postgresql/.s.PGSQL.5432' },
  },
  APPPKG_SERVICE_CONFLICT: {
    summary: "The role, database or Redis user the gateway would give an app already exists and was not created by the gateway; nothing of it was changed.",
    message: (d) => `${str(d.kind)} ${str(d.what)} ${JSON.stringify(str(d.object))} already exists and was not created by apppkg-gateway for ${str(d.app)}`,
    hint: (d) => `rename or drop that ${str(d.what)} on the server, or rename the app (\`name:\` in app.yaml); apppkg-gateway never takes over one it did not create`,
    exitStatus: 1,
    example: { kind: 'postgresql', what: 'role', object: 'apppkg_blog', app: 'blog' },
  },
  APPPKG_SERVICE_OTHER_STATE_ROOT: {
    summary: "The app's role, database or Redis user was made for another state root, which keeps its password: this one (another user's default, a copy, a second host on one server) neither gives it a new password nor drops it.",
    message: (d) => `${str(d.kind)} ${str(d.what)} ${JSON.stringify(str(d.object))} of ${str(d.app)} belongs to another state root (id ${str(d.other)}), not to ${str(d.stateRoot)} (id ${str(d.ours)})`,
    hint: (d) =>
      `run with the ${(str(d.stateKey) || '--state-dir').replace(/=$/, '')} of the gateway that serves ${str(d.app)} (as root, /var/lib/apppkg-gateway by default); ` +
      `to move it to this state root instead (whatever uses its old password loses access), release it on the server first: ${str(d.release)}`,
    exitStatus: 1,
    example: {
      kind: 'postgresql', what: 'role', object: 'apppkg_blog', app: 'blog', other: '9f86d081884c7d65', stateRoot: '/home/ann/.local/state/apppkg-gateway', ours: '2c26b46b68ffc68f',
      release: "COMMENT ON ROLE apppkg_blog IS 'apppkg-gateway: app blog' (and the same ON DATABASE)",
    },
  },
  APPPKG_SERVICE_FAILED: {
    summary: "A step on an app's database failed: `pg_dump`, `pg_restore`, SQLite's backup, Redis' `DUMP`/`RESTORE`, or a statement the server refused.",
    message: (d) => `${str(d.action)} failed: ${str(d.reason)}`,
    hint: (d) => (Array.isArray(d.dropped) ? `${str(d.fix) || 'read the reason above'}${stoppedHalfway(d)}` : str(d.fix) || 'read the reason above; the app directory and its data were left as they were'),
    exitStatus: 1,
    example: { action: 'pg_dump of apppkg_blog', reason: 'pg_dump: error: server version mismatch' },
  },
  // --- Bundled dependencies: `apppkg-gateway vendor` and its check (issue 19) ---
  APPPKG_VENDOR_REQUIREMENTS_UNREADABLE: {
    summary: '`vendor` could not read the requirements file it was to vendor (`--from`, default `requirements.txt` in the app directory).',
    // The file is the message's place (`FILE: ...`), said once.
    message: (d) => `cannot read the requirements to vendor: ${str(d.reason)}`,
    hint: () => 'write the requirements there (one PEP 508 line each, e.g. `flask==3.0.3`), or name the file with --from FILE',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/requirements.txt', reason: 'no such file' },
  },
  APPPKG_VENDOR_INTO_OUTSIDE: {
    summary: '`vendor --into DIR` named a directory outside the app directory; `paths:` may only name directories inside the package, so the app could never see it.',
    message: (d) => `vendor --into ${str(d.into)}: expected a directory inside ${str(d.dir)}, found ${str(d.found)}`,
    hint: () => 'give a path inside the app directory, e.g. --into vendor/ (the default)',
    exitStatus: 2,
    example: { into: '/srv/shared', dir: '/srv/apps/blog', found: '/srv/shared' },
  },
  APPPKG_VENDOR_INTO_FILE: {
    summary: '`vendor --into` (or its default, vendor/) names a file of the app directory, such as a .zip, .egg or .whl archive that `paths:` puts on sys.path as it is: vendor installs into a directory, and would have to replace the file.',
    message: (d) =>
      `vendor --into ${str(d.into)}: expected a directory to install into, found a file${d.archive ? ', a zip archive that Python imports from as it is' : ''}: ${str(d.found)}`,
    hint: (d) =>
      d.archive
        ? `leave ${str(d.into)} as it is and vendor into a directory beside it: --into vendor/, then name both in paths: (paths: [${str(d.into)}, vendor/])`
        : `give a directory, e.g. --into vendor/ (the default), or move ${str(d.into)} out of the way`,
    exitStatus: 2,
    example: { into: 'lib.zip', found: '/srv/apps/blog/lib.zip', archive: true },
  },
  APPPKG_VENDOR_INTO_LINK: {
    summary: '`vendor --into` (or its default, vendor/), or a directory above it inside the app, is a symlink (or a file): vendor writes only into directories of the app, each opened without following a link, since a link its user left there had a root `vendor` write root\'s files where it led. Nothing was changed.',
    message: (d) => `vendor --into ${str(d.into)}: expected a directory of the app, found ${str(d.found)} at ${str(d.path)}; nothing was changed`,
    hint: (d) => `replace ${str(d.path)} with a directory (or name another with --into), then run vendor again`,
    exitStatus: 1,
    example: { into: 'vendor/', found: 'a symlink (to /usr/lib/python3/dist-packages)', path: '/srv/apps/blog/vendor' },
  },
  APPPKG_VENDOR_FROM_OUTSIDE: {
    summary: '`vendor --from FILE` named a requirements file outside the app directory; the vendor manifest records it relative to the app, and `check` reads it again wherever the app is copied, so it must travel with the app.',
    message: (d) => `vendor --from ${str(d.from)}: expected a file inside ${str(d.dir)}, found ${str(d.found)}`,
    hint: () => 'copy the requirements file into the app directory and give its path there, e.g. --from requirements.txt (the default)',
    exitStatus: 2,
    example: { from: '/srv/shared/requirements.txt', dir: '/srv/apps/blog', found: '/srv/shared/requirements.txt' },
  },
  APPPKG_VENDOR_INCLUDE_OUTSIDE: {
    summary: "A requirements file `vendor` reads includes (`-r`, `--requirement`, `-c`, `--constraint`, at any depth) a file outside the app directory; the vendor manifest hashes every included file by its path relative to the app, and `check` reads them again wherever the app is copied, so each must travel with the app.",
    message: (d) => `${str(d.include)}: expected a file inside ${str(d.dir)}, found ${str(d.found)}`,
    hint: (d) => `copy ${str(d.name)} into the app directory and include it from there (e.g. ${str(d.option)} ${str(d.name)}), or put its lines in this file`,
    exitStatus: 1,
    example: { file: '/srv/apps/blog/requirements.txt', line: 2, include: '-r /srv/shared/base.txt', dir: '/srv/apps/blog', found: '/srv/shared/base.txt', name: 'base.txt', option: '-r' },
  },
  APPPKG_VENDOR_INCLUDE_URL: {
    summary: "A requirements file `vendor` reads includes (`-r`, `--requirement`, `-c`, `--constraint`, at any depth) a URL; the vendor manifest hashes every included file, and `check` reads them again, offline and wherever the app is copied, so each must be a file of the app.",
    message: (d) => `${str(d.include)}: expected a file inside the app directory, found a URL`,
    hint: (d) => `download it into the app directory (e.g. \`curl -fsSL -o ${str(d.name)} ${str(d.url)}\`) and include it by a relative path (${str(d.option)} ${str(d.name)})`,
    exitStatus: 1,
    example: { file: '/srv/apps/blog/requirements.txt', line: 2, include: '-r https://example.com/base.txt', url: 'https://example.com/base.txt', name: 'base.txt', option: '-r' },
  },
  APPPKG_VENDOR_NOT_OURS: {
    summary: '`vendor` found the vendor directory holding files but no `.apppkg-vendor.json` (filled by hand, or by `pip install --target`), and left it as it was rather than mix its files with what it installs.',
    message: (d) => `vendor: ${str(d.path)} holds ${str(d.found)} but no manifest (.apppkg-vendor.json)${d.reason ? ` (${str(d.reason)})` : ''}; nothing was changed`,
    hint: (d) => `move it away (\`mv ${str(d.path)} ${str(d.path)}.old\`) and run vendor again: it installs everything the requirements name, and owns the directory from then on`,
    exitStatus: 1,
    example: { path: '/srv/apps/blog/vendor', found: '42 files' },
  },
  APPPKG_VENDOR_NO_PIP: {
    summary: "`vendor` runs pip with the app's own interpreter (so that what it installs fits the Python that imports it), and that interpreter has no pip.",
    message: (d) => `vendor: ${str(d.python)} has no pip (\`import pip\`: ${str(d.reason)})`,
    hint: (d) =>
      `on Debian's python3 run \`apt-get install -y python3-pip\`; elsewhere \`${str(d.python)} -m ensurepip --user\`; or name an interpreter that has pip with \`python:\` in the environment file (-e FILE)`,
    exitStatus: 1,
    example: { python: '/usr/bin/python3', reason: "No module named 'pip'" },
  },
  APPPKG_VENDOR_PIP_DESTINATION: {
    summary:
      "`vendor` reads pip's own configuration (a `PIP_*` variable, `pip.conf`: your index, your mirror), and that sets `prefix` or `root`: a destination of its own, which `pip install --target` cannot run under (pip refuses `prefix` beside it, and under `root` installs there, leaving the vendor directory to be emptied). Refused before pip runs; the vendor directory is not changed.",
    message: (d) => `vendor: pip's configuration sets ${pipSettings(d.settings).map((s) => `${s.name} = ${s.value} (${s.variable ?? `[${s.section}] of ${s.file}`})`).join(', ')}, a destination that \`pip install --target\` cannot run under; ${str(d.into)} was not changed`,
    hint: (d) => {
      const settings = pipSettings(d.settings);
      const variables = settings.flatMap((s) => (s.variable ? [s.variable] : []));
      const files = settings.filter((s) => !s.variable).map((s) => `\`${s.name}\` from [${s.section}] of ${s.file}`);
      if (settings.length === 0) return 'take `prefix` and `root` out of pip\'s configuration for vendor: unset PIP_PREFIX and PIP_ROOT, and remove them from pip.conf';
      return [
        ...(variables.length > 0 ? [`run vendor without ${variables.join(' and ')} (\`env ${variables.map((v) => `-u ${v}`).join(' ')} apppkg-gateway vendor ...\`)`] : []),
        ...(files.length > 0 ? [`remove ${files.join(' and ')} (every \`pip install\` goes there while it is set)`] : []),
      ].join('; ');
    },
    exitStatus: 1,
    example: { into: 'vendor/', settings: [{ name: 'prefix', value: '/opt/python', file: '/etc/pip.conf', section: 'install' }] },
  },
  APPPKG_VENDOR_PIP_FAILED: {
    summary: '`pip install --target` failed while `vendor` installed the requirements into a staging directory; the vendor directory was not changed. A requirement pip has to build (a source directory, an sdist) needs its build backend (setuptools, ...), which pip cannot fetch with --no-index and an index may lack: offline, or when pip\'s log shows it could not get it, the fix names the backend and says to ship a built wheel instead (as `install`\'s APPPKG_PIP_INSTALL_FAILED does).',
    message: (d) =>
      `vendor: \`pip install --target\` exited with status ${str(d.status)}; ${str(d.into)} was not changed${d.logUnread ? `; pip's log (pip.log) was not read for what it says: ${str(d.logUnread)}, left in its place by a process of ${str(d.user)}'s` : ''}`,
    hint: (d) =>
      `read pip's output above: ${Array.isArray(d.unloadable) ? unloadableWheelsFix(d) : d.source ? sourceBuildFix(d, { offline: Boolean(d.offline), where: 'where it looked', requirements: str(d.requirements) || 'the requirements', python: str(d.executable) || 'python3', findLinks: 'vendor' }) : d.notFound ? `pip found no distribution of ${str(d.notFound)} where it looked: give a --find-links DIR or an index that has it (a wheel for this interpreter, or an sdist), or change the requirement` : 'a requirement that no index or --find-links DIR has, or a version conflict'}${d.pinned ? `; the versions already vendored are kept (a lock): free one with --update NAME (pinned: ${str(d.pinned)})` : ''}`,
    exitStatus: 1,
    example: { status: 1, into: 'vendor/', pinned: 'flask==3.0.3, jinja2==3.1.4' },
  },
  APPPKG_VENDOR_STAGE_UNSAFE: {
    summary: '`vendor` run as root for an app of another user runs pip, and what pip builds, as that user; what they left in the staging directory held a symlink, a FIFO or a device, which pip never makes from a wheel, or a file not that user\'s (a hard link to another\'s file: pip writes only the user\'s), or something that went while root took the directory back (a process of that user\'s still working there). Copying it into the vendor directory would have root read where the link leads (a file of root\'s) for the app\'s user, so nothing was changed.',
    message: (d) => `vendor: pip's staging directory holds what no wheel installs: ${str(d.found)}; nothing was changed`,
    hint: (d) =>
      `a build the requirements ran (a setup.py, a build backend) as ${str(d.user)} left it there: find which (\`pip wheel -r REQUIREMENTS\` as ${str(d.user)} builds the same), make it leave regular files only, and run vendor again`,
    exitStatus: 1,
    example: { found: 'evil/data, a symlink (to /etc/shadow)', user: 'blog' },
  },
  APPPKG_VENDOR_BINARY: {
    summary: '`vendor` installed a distribution built for one interpreter and platform only (a compiled extension): a vendor directory holding it would break on another Python or machine, so nothing was changed. Install it from the system (`deb:`), or keep it with `--allow-binary`, which records its tag for `check`.',
    message: (d) => `vendor: not portable, built for this interpreter and platform only: ${str(d.found)}; nothing was changed`,
    hint: (d) => {
      const them = str(d.names).includes(',') ? 'them' : 'it';
      // A distribution the requirements do not name comes back with what needs it: that is what to replace.
      const pulled = d.pulled ? `${str(d.pulled)}: not in ${str(d.requirements) || 'the requirements'}, installed by pip for what needs it; ` : '';
      return `install ${them} from the system instead: ${pulled}remove ${str(d.names)} from ${str(d.requirements) || 'the requirements'} and add \`deb: [${str(d.debs)}]\` to app.yaml${d.debNote ? ` (${str(d.debNote)})` : ''}; or run vendor again with --allow-binary to keep ${them}: \`check\` then refuses a host whose Python cannot load ${str(d.tags)}`;
    },
    exitStatus: 1,
    example: { found: 'M2Crypto 0.40.1 (cp311-cp311-linux_x86_64: M2Crypto/_m2crypto.cpython-311-x86_64-linux-gnu.so)', names: 'M2Crypto', requirements: 'requirements.txt', debs: 'python3-m2crypto', debNote: 'Debian has python3-m2crypto', tags: 'cp311-cp311-linux_x86_64' },
  },
  APPPKG_VENDOR_UNKNOWN_UPDATE: {
    summary: '`vendor --update NAME` named a distribution the vendor directory does not hold (or there is no vendor directory yet).',
    message: (d) => `vendor --update ${str(d.name)}: expected one of the vendored distributions, found ${str(d.found)}`,
    hint: () => 'name one the manifest lists (`--update` frees its version; the others stay as vendored), or run vendor without --update to vendor everything the requirements name',
    exitStatus: 2,
    example: { name: 'flsk', found: 'flask, jinja2, markupsafe' },
  },
  APPPKG_VENDOR_STALE: {
    summary: '`check` found a vendor directory that no longer matches its requirements: the requirements file changed (or is gone) since `vendor` filled it.',
    message: (d) => `${str(d.into)} is stale: ${str(d.reason)}`,
    hint: (d) => `run \`${str(d.command)}\` to vendor the requirements again, then commit ${str(d.into)}`,
    exitStatus: 1,
    example: { into: 'vendor/', reason: 'requirements.txt changed since it was vendored', command: 'apppkg-gateway vendor /srv/apps/blog --from requirements.txt --into vendor/' },
  },
  APPPKG_VENDOR_MODIFIED: {
    summary: "`check` found files of a vendor directory missing or different from what its manifest records (an edit, a partial checkout, an interrupted `vendor`).",
    message: (d) => `${str(d.into)}: not as vendor wrote it (.apppkg-vendor.json): ${str(d.found)}`,
    hint: (d) => `run \`${str(d.command)}\` to restore them (a change to a vendored library belongs in a patched wheel, not in ${str(d.into)})`,
    exitStatus: 1,
    example: { into: 'vendor/', found: 'flask/app.py (changed), jinja2/ (missing)', command: 'apppkg-gateway vendor /srv/apps/blog --from requirements.txt --into vendor/' },
  },
  APPPKG_VENDOR_HOST_MISMATCH: {
    summary: "`check` found compiled distributions in a vendor directory (kept with `vendor --allow-binary`) that this host's interpreter cannot load: they were built for another Python or platform. The gateway refuses a version whose import failed with it too.",
    message: (d) => `${str(d.into)}: built for ${str(d.tags)}, which ${str(d.python)} (${str(d.hostTag)}) cannot load: ${str(d.found)}`,
    hint: (d) =>
      `vendor on a host like this one (\`${str(d.command)}\`), or install ${str(d.names)} from the system with \`deb:\` instead (${str(d.debs)}${d.pulled ? `; ${str(d.pulled)}: not in ${str(d.requirements)}, installed by pip for what needs it` : ''}); or run the app on a Python that loads ${str(d.tags)} (\`python:\` in app.yaml or the environment file)`,
    exitStatus: 1,
    example: { into: 'vendor/', tags: 'cp311-cp311-linux_x86_64', python: '/usr/bin/python3 3.12.3', hostTag: 'cp312-cp312-linux_x86_64', found: 'M2Crypto 0.40.1', names: 'M2Crypto', debs: 'python3-m2crypto', command: 'apppkg-gateway vendor /srv/apps/blog --allow-binary' },
  },
  APPPKG_VENDOR_MISSING: {
    summary: '`check` found a directory of `paths:` missing, or without its manifest, in an app that has a requirements file: its bundled dependencies were never vendored (or not committed).',
    message: (d) => `paths: ${str(d.into)} ${str(d.reason)}`,
    hint: (d) => `run \`${str(d.command)}\` and commit ${str(d.into)} with the app`,
    exitStatus: 1,
    example: { into: 'vendor/', reason: 'does not exist', command: 'apppkg-gateway vendor /srv/apps/blog --from requirements.txt --into vendor/' },
  },
  // issue 18: `export kubernetes` and `export containerfile` (SPEC 5.5, docs/kubernetes.md).
  APPPKG_EXPORT_UNMAPPABLE: {
    summary: '`export` cannot say a key of an app on the cluster or in its image (a command naming a host path, a `python:` or `os:` the Debian image does not satisfy, `rpm:` packages without `deb:` ones). That app is not written; the other apps are.',
    message: (d) => `${str(d.key)}: ${str(d.reason)}`,
    hint: (d) => str(d.fix) || 'change the key as the message says, or leave the app out of --apps; the other apps are written',
    exitStatus: 1,
    example: {
      key: 'processes.worker.command',
      reason: 'expected a command that runs inside the image, found the host path "/opt/tools/bin/worker"',
      fix: 'ship the program in the app directory and name it relative to it (commands run there), or install it with deb:',
    },
  },
  APPPKG_EXPORT_INVALID_OBJECT: {
    summary: "`export kubernetes` built an object that Kubernetes' own schema (or its naming rules) refuses; the app it belongs to is not written, so no invalid manifest reaches a cluster.",
    message: (d) => `${str(d.kind)} ${str(d.name)}: ${str(d.reason)}`,
    hint: (d) => `this is a bug in the mapping of ${str(d.app)}: report it with the app's app.yaml and the environment file; the other apps were written`,
    exitStatus: 1,
    example: { kind: 'Deployment', name: 'blog', reason: '/spec/replicas must be integer', app: 'blog' },
  },
  APPPKG_EXPORT_IMAGE_INVALID: {
    summary: '`export kubernetes --image` is not an image reference, or names one image for several apps (each app is its own image: `export containerfile`).',
    message: (d) => `--image: ${str(d.reason)}, found ${JSON.stringify(str(d.found))}`,
    hint: () => 'write e.g. --image registry.example.com/apps/{name}:{version} ({name} and {version} are each app\'s)',
    exitStatus: 2,
    example: { reason: 'expected an image reference like registry.example.com/apps/{name}:{version}', found: 'Registry/Apps:latest!' },
  },
  APPPKG_EXPORT_WRITE_FAILED: {
    summary: '`export` could not write a manifest or recipe file (a directory it cannot create, a full disk).',
    message: (d) => `cannot write ${str(d.path)}: ${str(d.reason)}`,
    // kubernetes --out is a directory (NAME.yaml per app), containerfile --out the recipe's file.
    hint: (d) => d.out === 'file'
      ? 'give --out the file to write the recipe to (Containerfile in the app directory, say), not a directory, or leave it out to print to stdout'
      : 'give --out a directory you can write, or leave it out to print to stdout',
    exitStatus: 1,
    example: { path: '/srv/k8s/blog.yaml', reason: 'EACCES: permission denied' },
  },
  // Issue 16 (SPEC 5.3): incoming mail, docs/mail.md.
  APPPKG_MAIL_NO_LISTENER: {
    summary: "The app declares `mail:` in app.yaml, but the host's environment file has no `mail:` listener: no message would ever reach it. `check` reports it.",
    message: (d) => `mail: ${str(d.app)} receives mail at ${str(d.path)}, but the host runs no mail listener${d.file ? ` (no mail: in ${str(d.file)})` : ' (no environment file given)'}`,
    hint: (d) => `add \`mail: {listen: 127.0.0.1:2525}\` to the environment file (\`lmtp: true\` behind Postfix)${d.file ? '' : ` and give it as ${environmentOption(d)}`}; docs/mail.md`,
    exitStatus: 1,
    example: { app: 'support-desk', path: '/_mail', file: '/etc/apppkg/environment.yaml' },
  },
  // `mail retry` (docs/mail.md, "Retries and dead letters"): the gateway builds the reason and
  // the fix, the CLI prints them as the gateway said them (admin-client.ts).
  APPPKG_MAIL_NO_DEAD_LETTER: {
    summary: '`mail retry ID` or `mail delete ID` (a Gateway\'s `retryMail()` or `deleteMail()`) named an id that is no dead letter of the running gateway (a typo, one retried, delivered or deleted already, or another gateway\'s); nothing was retried or deleted.',
    message: (d) => str(d.reason),
    // statusCall, deadListed, retryAllCall: a program's (MailWords.fixDetails), which typed no `status`.
    hint: (d) => (d.hint ? str(d.hint) : `${d.statusCall ? str(d.statusCall) : '`apppkg-gateway status`'} lists the newest dead letters with their ids (${d.deadListed ? str(d.deadListed) : '`status --json` 50'}, STATE/mail/dead/ keeps every one); ${d.retryAllCall ? str(d.retryAllCall) : '`mail retry --all [APP]`'} retries them all`),
    exitStatus: 1,
    example: { reason: 'no dead letter 0b9e0c3e-0000-4000-8000-000000000000 in the gateway at 127.0.0.1:8099: it keeps 2 (5d7c2a94-1a41-4b7e-9a55-3c1a1f0f6a10, 9f1e3b20-6c1d-4d6f-8f0e-2f5b9a1c7d44)' },
  },
  APPPKG_MAIL_CANNOT_RETRY: {
    summary: 'A dead letter named to `mail retry` cannot be delivered again: its message file was gone when it was given up (its record alone is kept), its app is no app under `--apps` now, or it is postmaster mail and `mail.postmaster` names no app of the gateway; nothing was retried.',
    message: (d) => str(d.reason),
    hint: (d) => (d.hint ? str(d.hint) : 'leave that one out (`mail retry --all` skips it and says why), or mend what the message says and run the command again'),
    exitStatus: 1,
    example: { reason: 'cannot retry 5d7c2a94-1a41-4b7e-9a55-3c1a1f0f6a10: its app blog is no app of this gateway now (removed from --apps?)' },
  },
  APPPKG_MAIL_NOT_DELIVERED: {
    summary: '`mail retry --wait`: a dead letter put back was not delivered: the app refused it again (a dead letter again), or it still waited when `--timeout` ran out (it stays in the queue, tried on the schedule).',
    message: (d) => str(d.reason),
    hint: () => '`apppkg-gateway status` shows each: a dead letter again with its reason, or under its app, waiting, with its last failure; mend what it says (the app\'s answer) and retry, or wait longer (--timeout SECONDS)',
    exitStatus: 1,
    example: { reason: '1 of 2 dead letters put back not delivered: 5d7c2a94-1a41-4b7e-9a55-3c1a1f0f6a10 to blog is a dead letter again: the app refused it (406)' },
  },
  APPPKG_MAIL_CANNOT_DELETE: {
    summary: '`mail delete` could not remove a dead letter\'s files under STATE/mail/dead/ (a disk error, a permission changed by hand); those it could are deleted, the others are still listed.',
    message: (d) => str(d.reason),
    hint: (d) => (d.hint ? str(d.hint) : 'mend what the error names (ls -l STATE/mail/dead/) and run the command again for those left'),
    exitStatus: 1,
    example: { reason: 'mail: no dead letter deleted\nleft as a dead letter: 5d7c2a94-1a41-4b7e-9a55-3c1a1f0f6a10: it could not be deleted: EACCES: permission denied, unlink \'/var/lib/apppkg-gateway/mail/dead/5d7c2a94-1a41-4b7e-9a55-3c1a1f0f6a10.json\'' },
  },
  APPPKG_MAIL_OFF: {
    summary: 'The running gateway has no mail listener (no `mail:` in its environment file), so it delivers no mail and `mail retry` has nothing to put dead letters back into (nor `mail delete` any to delete).',
    message: (d) => str(d.reason),
    hint: (d) => (d.hint ? str(d.hint) : `put \`mail: {listen: ...}\` in the gateway's environment file and restart it; its dead letters are then listed in ${d.statusCall ? str(d.statusCall) : '`status`'} and can be retried`),
    exitStatus: 1,
    example: { reason: 'the gateway at 127.0.0.1:8099 runs no mail listener (no mail: in /etc/apppkg/environment.yaml)' },
  },
} satisfies Record<string, CodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends Error {
  /** What to match on (docs/errors.md); the message's words may change. */
  readonly code: ErrorCode;
  /** How to fix it: what the CLI prints as its `fix:` line. */
  readonly hint: string;
  /** The values the message and hint were made from. */
  readonly details: ErrorDetails;
  /** The CLI's exit status for it: 2 for bad usage, 1 for a command that ran and failed. */
  readonly exitStatus: 1 | 2;

  constructor(code: ErrorCode, details: ErrorDetails = {}) {
    const entry: CodeEntry = ERROR_CODES[code];
    super(entry.message(details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
    this.hint = entry.hint(details);
    this.exitStatus = entry.exitStatus;
  }

  get file(): string | undefined { return this.details.file; }
  get line(): number | undefined { return this.details.line; }
  get column(): number | undefined { return this.details.column; }
  get key(): string | undefined { return this.details.key; }
  get problems(): GatewayError[] { return this.details.problems ?? []; }

  /** `file:line:col: message` (`file: message` without a line): the message at its place. */
  get placedMessage(): string {
    const where = this.file ? `${this.file}${this.line ? `:${this.line}:${this.column ?? 1}` : ''}: ` : '';
    return `${where}${this.message}`;
  }

  /**
   * `file:line:col: message` then `  fix: hint`, one block per problem for a description. The
   * message's own lines (an exception's: a pydantic error's fields) hang deeper than the fix,
   * where they would pass for lines beside it.
   */
  format(): string {
    if (this.problems.length > 0) {
      return this.problems.map((p) => p.format()).join('\n');
    }
    return [...hangingLines(this.placedMessage, '    '), `  fix: ${this.hint}`].join('\n');
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      file: this.file,
      line: this.line,
      column: this.column,
      key: this.key,
      problems: this.problems.length > 0 ? this.problems.map((p) => p.toJSON()) : undefined,
    };
  }
}

/**
 * The fix for a Tornado app named by `app:` (`shop:app`, `shop:make_app()`): the processes.web
 * that `init` writes for one, its lines indented under the `fix:` they follow.
 */
function tornadoHint(app: string): string {
  const colon = app.indexOf(':');
  const lines = tornadoProcessLines(app.slice(0, colon).trim(), app.slice(colon + 1).trim());
  return [
    "Tornado serves the app itself: in app.yaml write `platform: python, command` without `app:`, and this processes.web, which starts Tornado's server on $PORT as `apppkg-gateway init` writes it (the app then gets the full path, its mount included: README \"Processes\"):",
    ...lines.map((line) => `        ${line}`),
  ].join('\n');
}

/** The fix for an `async def` factory named by `app:` (`mod:make_app()` or `mod:make_app`), not aiohttp's. */
/**
 * The unit's socket behind a directory this user may not enter (its RuntimeDirectory is 0750):
 * a gateway may listen there, and only its socket's owner may connect (0600), whom to run as.
 */
/**
 * Where the address a command tried came from, when not from its --admin: the state root's
 * admin.address (a dead one is a crashed gateway's), or the default, none recorded there.
 */
function adminSource(d: Record<string, unknown>): string {
  // A path that is no socket says so, and its fix is its own.
  if (d.given) return d.notSocket ? '' : ', the address --admin gave';
  if (d.recordedIn) return `; the address ${str(d.recordedIn)} names, given no --admin`;
  if (d.unusable) return `; the default address, given no --admin, as ${unusableAddressFile(d)}`;
  if (d.defaultFile) return `; the default address, given no --admin, and no ${str(d.defaultFile)} names another (a gateway writes it at start when it serves --apps with an admin listener)`;
  return '';
}

/**
 * The fix when nobody answers at the address --admin gave: a gateway started there, or the
 * address a running one was given. The default's fix ("start one", which listens on
 * 127.0.0.1:8099) sent the user to start a gateway this command would still not reach.
 */
function givenAdminHint(given: string): string {
  return `start the gateway with --admin ${shellWord(given)} (\`apppkg-gateway --apps DIR --admin ${shellWord(given)}\`), or pass --admin the address a running gateway was given (it prints it as it starts: "admin on ..."); for a gateway started with --state-dir DIR (or APPPKG_STATE_DIR), leave out --admin and give this command the same --state-dir DIR: it reads the address that gateway wrote there`;
}

/**
 * What is wrong with a state root's admin.address that names no address (`unusable`: its kind,
 * readAdminAddress's): said in APPPKG_ADMIN_UNREACHABLE, and by the admin commands when a gateway
 * answers on the default address all the same (cli/admin-client.ts).
 */
export function unusableAddressFile(d: Record<string, unknown>): string {
  const file = str(d.defaultFile);
  return d.unusable === 'denied' ? `${file} cannot be read by ${str(d.user)} (${str(d.unusableReason)})`
    : d.unusable === 'directory' ? `${file} is a directory, not the file a gateway writes its admin address to`
    : d.unusable === 'no-address' ? `${file} names no admin address (it holds ${str(d.unusableReason)})`
    : `${file} cannot be read (${str(d.unusableReason)})`;
}

/** The fix for a state root's admin.address that named no address (unusableAddressFile says why). */
export function unusableAddressFileHint(d: Record<string, unknown>): string {
  const file = str(d.defaultFile);
  const orAdmin = 'or pass --admin ADDR with the address the gateway was given';
  if (d.unusable === 'denied') return `run this command as a user who may read ${file} (the gateway writes it mode 0644; as root: \`sudo apppkg-gateway ${str(d.command)}\`), ${orAdmin}`;
  if (d.unusable === 'directory') return `remove that directory (\`rmdir ${file}\`) and start the gateway again: it writes its address there as it starts; ${orAdmin}`;
  if (d.unusable === 'no-address') return `a gateway writes one line there, its admin address (unix:/run/apppkg-gateway/admin.sock, http://127.0.0.1:8099): remove ${file} and start the gateway again, which writes it anew; ${orAdmin}`;
  return `make ${file} readable, or remove it and start the gateway again; ${orAdmin}`;
}

function unitClosedHint(d: Record<string, unknown>): string {
  const c = d.unitClosed as { dir: string; owner: string; group: string; mode: string; me: string };
  return `a gateway may listen on ${str(d.unitSocket)} all the same (the shipped systemd unit's admin socket): ${c.dir} (${c.owner}:${c.group}, mode ${c.mode}) is closed to ${c.me}, so this command cannot see it; `
    + `run it as root, or as the user the unit's --socket-owner names (the admin socket is mode 0600, its owner's alone: being in ${c.group} lets you see it, not connect): \`sudo apppkg-gateway ${str(d.command)} --admin ${str(d.unitSocket)}\`; or start a gateway on the default address`;
}

function asyncFactoryHint(app: string): string {
  const [module, object = 'make_app'] = app.split(':').map((part) => part.trim());
  const call = object.endsWith('()') ? object : `${object}()`;
  return `call it once at import, \`app = asyncio.run(${call})\` at the end of module ${module}, and write \`app: ${module}:app\`; or make ${call.slice(0, -2)} a plain \`def\` `
    + '(under ASGI, what needs the event loop, a connection pool say, then goes in the app\'s lifespan startup)';
}

/** Open files this close to its limit: a listener that gave no answer is taken to be out of them. */
const NEAR_THE_LIMIT = 8;

/**
 * The fix for EMFILE (the gateway's own open-files limit) or ENFILE (the host's table). What tries
 * a refused version again at once is the caller's (rescanCall): a SIGHUP ends a program running
 * a Gateway, and serve.
 */
function openFilesHint(kind: unknown, d: ErrorDetails): string {
  const again = `then an app asleep is tried again at its next request, and a version refused for it by itself (6 times, 1 s doubling to 32 s) or at once when you ${rescanCall(d)}`;
  if (kind === 'ENFILE') return `the host has no file descriptors left (fs.file-max): raise it with sysctl, or stop what holds them; ${again}`;
  return 'raise the gateway\'s open-files limit (each app keeps its log open, each running worker five more, each client connection one; README, "Connections"): '
    + `\`LimitNOFILE=65536\` in its systemd unit, or \`ulimit -Hn 65536\` as root before starting it; ${again}`;
}

/**
 * A system error as a message's reason, its code said once: Node's fs errors already begin with
 * their code ("ENOTDIR: not a directory, mkdir '/x'"), so `${code}: ${message}` said it twice.
 * When the error is about `named`, the path the message names already, the ", mkdir '/x'" tail
 * is left out; about another path (a file deep in a copied tree), it stays.
 */
export function systemErrorReason(err: unknown, named?: string): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  if (!e.code) return e.message;
  let words = e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
  if (named !== undefined && e.path === named && e.syscall) words = words.replace(`, ${e.syscall} '${e.path}'`, '');
  return `${e.code}: ${words}`;
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof Error && typeof (err as GatewayError).code === 'string' && (err as GatewayError).code.startsWith('APPPKG_');
}
