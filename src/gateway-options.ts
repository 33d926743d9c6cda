// What Gateway.start takes (GatewayOptions) and the checks it makes of them before anything
// is created, listens or starts: a usage error (both `apps` and `app`, a bad or doubled
// address, an admin address that needs a token) is thrown while there is nothing to undo.
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { checkAdminAddress, readAdminToken } from './admin/admin-access.js';
import { DEFAULT_ADMIN } from './admin/default-admin.js';
import type { RunMode } from './app-context.js';
import { LIBRARY_COMMAND_WORDS, type CommandWords } from './command-words.js';
import { validateAppsDir } from './description/apps-dir.js';
import { resolveStateRoot } from './environment/state-root.js';
import { GatewayError, givenAs } from './errors.js';
import { checkMilliseconds, checkOptions, optionKeys, refuseEmptyPath, shownValue } from './library-arguments.js';
import { checkAddressesApart, toAddr, type ListenAddress } from './net/address.js';
import { hangingLines } from './log/hanging-lines.js';
import { ACCESS_LOG_MODE, closeToOthers } from './log/access-log.js';
import type { UnixSocketOptions } from './net/listen.js';
import { compileTrustProxy } from './proxy/forwarded-headers.js';

export interface GatewayOptions {
  /** A directory of app packages, each a directory with app.yaml (`--apps`). */
  apps?: string;
  /** Or one app directory, mounted at / (`serve`; development mode unless `mode` says otherwise). */
  app?: string;
  /** Where to listen: `PORT`, `HOST:PORT`, `[::1]:PORT`, `unix:/path`, a URL as `urls` gives it (`http://HOST:PORT/`), or parsed addresses. Default 127.0.0.1:8000. */
  listen?: string | number | ListenAddress | Array<string | number | ListenAddress>;
  /** The admin listener (/status, /metrics), in `listen`'s forms (`adminUrl`'s too); false for none. Default 127.0.0.1:8099 with `apps`, none with `app`. */
  admin?: string | number | ListenAddress | false;
  /**
   * A file holding the admin listener's token (`--admin-token FILE`): every admin route then
   * needs it; needed for an admin address other than loopback (docs/admin.md).
   */
  adminTokenFile?: string;
  /** The host's environment file (settings, hosts, mounts, workers, ...). */
  environment?: string;
  /** The state root (apps' data, logs, tmp); default as the CLI's --state-dir. */
  stateDir?: string;
  /** production: app users, hooks, no tracebacks in 500s; development: the reverse. */
  mode?: RunMode;
  /** Believe X-Forwarded-* from these peers (true: any peer), as behind nginx. */
  trustProxy?: boolean | string[];
  /** Where the access log goes: a stream, a file name, or null for none (the default). */
  accessLog?: Writable | string | null;
  /** Mode and owner of `unix:` listeners. */
  unixSocket?: UnixSocketOptions;
  /** How long requests in flight may take to finish on stop(); default 30 s. */
  graceMs?: number;
  /** How long a client may take to send a request head (408 past it); default 20 s. */
  headerTimeoutMs?: number;
  /** How often `apps` is rescanned for changes; default 2 s; 0 = only on rescan(). */
  watchIntervalMs?: number;
  /**
   * With `apps`: how long nothing in a version's directory must change before it is judged
   * (started or refused), so that a copy still under way is not refused; default 1 s.
   */
  settleMs?: number;
  /**
   * How long a lifecycle hook that a deploy runs (commands.install at a first start,
   * commands.update before a new version takes traffic) may take before it is stopped and its
   * version refused (APPPKG_COMMAND_TIMEOUT); default 10 minutes.
   */
  hookTimeoutMs?: number;
  /** With `app`: replace the workers when a .py or .pth file or app.yaml under it changes; an app that cannot start is then waited for, not thrown. */
  reload?: boolean;
  /** Workers and threads per app, over the environment file. */
  workers?: number;
  threads?: number;
  /**
   * --max-workers: the Python workers of every app together, never exceeded (apps start side by
   * side within it); an app that must start past it first puts the least recently used quiet app
   * to sleep (SPEC 5.6).
   */
  maxWorkers?: number;
  /** Copy each app's output to our stderr as well as its log (default: with `app`). */
  echoLogs?: boolean;
  /** The gateway's own log lines; default: stderr, prefixed `apppkg-gateway: `. */
  say?: (line: string) => void;
  /**
   * Aborted while start() waits for the apps (a SIGTERM in the CLI, say): start() stops waiting
   * and resolves with the gateway, which the caller then stops; the apps still starting are
   * stopped with it. Without it a stop had to wait for the slowest app's start.
   */
  stopWaiting?: AbortSignal;
  /**
   * What a refusal calls the options whose value can be refused (an address, a file, a proxy's
   * address): by default these options' own names; the CLI gives its flags (`--port`,
   * `--admin-token`), which are what its user typed. The CLI's alone: left out of the published
   * types (tsconfig stripInternal) and of the unknown-option hint, as README does not document it.
   * @internal
   */
  optionNames?: OptionNames;
}

/** The name of each option a refusal may point at, as the caller wrote it. */
export interface OptionNames {
  apps: string;
  environment: string;
  listen: string;
  /**
   * What gives the listen address's host when it is given apart from its port (serve's --host
   * beside --port): a host that does not resolve, or is no address of this host, names it.
   * Absent, `listen` is named for both.
   */
  listenHost?: string;
  admin: string;
  adminTokenFile: string;
  trustProxy: string;
  accessLog: string;
  stateDir: string;
  /** What gives a unix: listener's owner (unixSocket's uid and gid; the CLI's --socket-owner). */
  socketOwner: string;
  /** What bounds a deploy's hook (hookTimeoutMs; the CLI's --hook-timeout, in seconds). */
  hookTimeout: string;
  /** What the log and status call the bound on every app's workers (maxWorkers; the CLI's --max-workers). */
  maxWorkers: string;
  /** What a stop's log lines call the time requests and shutdowns are given (graceMs; the CLI's --grace). */
  grace: string;
  /** What the log calls the scan of the apps directory's interval (watchIntervalMs; the CLI's --watch-interval). */
  watchInterval: string;
  /** What a fix calls what the CLI has a command for: the CLI's commands, the library's methods. */
  commands: CommandWords;
  /**
   * The command line that started the gateway, as its user gave it, after `apppkg-gateway` and
   * without --environment (the CLI's: `--apps DIR --listen ...`, `serve DIR --port 0`): a fix
   * that has it started again with an environment file says that very line with the file
   * added (without its --listen or --state-dir, the line started another gateway). Absent for
   * a library caller: the fix names the entry (apps or app) in Gateway.start's call.
   */
  startedAs?: string;
}

/**
 * A library caller's names. Told "--port: expected ..." or "pass --admin-token FILE", it read of
 * flags it never gave, and had to guess which of its options was meant.
 */
export const LIBRARY_OPTION_NAMES: OptionNames = { apps: 'apps', environment: 'environment', listen: 'listen', admin: 'admin', adminTokenFile: 'adminTokenFile', trustProxy: 'trustProxy', accessLog: 'accessLog', stateDir: 'stateDir', socketOwner: 'unixSocket', hookTimeout: 'hookTimeoutMs', maxWorkers: 'maxWorkers', grace: 'graceMs', watchInterval: 'watchIntervalMs', commands: LIBRARY_COMMAND_WORDS };

const RUN_MODES: readonly RunMode[] = ['production', 'development'];

/** How long a version's directory must not change before it is judged (--settle). */
export const DEFAULT_SETTLE_MS = 1000;

/**
 * The bound on a deploy's hook (hookTimeoutMs): a migration of a large table may take minutes,
 * one that hangs (a lock, a prompt) must not keep its version `starting` for ever.
 */
export const DEFAULT_HOOK_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * GatewayOptions.say's default. The lines of a line after its first (a refusal's message, fix and
 * the log's last lines; a description's several problems) hang under it: flush left, they lost
 * which app they belong to, and read as lines of their own.
 */
export const sayOnStderr = (line: string): void => {
  process.stderr.write(`apppkg-gateway: ${hangingLines(line, '  ').join('\n')}\n`);
};

/** Every key of GatewayOptions: Gateway.start refuses any other by name, as the CLI an unknown flag. */
const GATEWAY_OPTION_KEYS = optionKeys<GatewayOptions>({
  apps: true,
  app: true,
  listen: true,
  admin: true,
  adminTokenFile: true,
  environment: true,
  stateDir: true,
  mode: true,
  trustProxy: true,
  accessLog: true,
  unixSocket: true,
  graceMs: true,
  headerTimeoutMs: true,
  watchIntervalMs: true,
  settleMs: true,
  hookTimeoutMs: true,
  reload: true,
  workers: true,
  threads: true,
  maxWorkers: true,
  echoLogs: true,
  say: true,
  stopWaiting: true,
  optionNames: true,
});

/** What Gateway.start has checked and worked out before it opens the gateway. */
export interface CheckedStart {
  single: boolean;
  dir: string;
  mode: RunMode;
  say: (line: string) => void;
  names: OptionNames;
  listen: ListenAddress[];
  adminAddr: ListenAddress | null;
  adminToken: string | null;
  stateRoot: string;
}

/** The options checked, in Gateway.start's order; the state root is resolved, not yet prepared. */
export function checkGatewayOptions(options: GatewayOptions): CheckedStart {
  checkOptions('Gateway.start', options, GATEWAY_OPTION_KEYS, ['stateDir', 'environment', 'adminTokenFile'], "Gateway.start({ apps: '/srv/apps' })");
  const single = options.app !== undefined;
  if (single === (options.apps !== undefined)) {
    // A library call: the CLI's `--help` is no fix for it.
    throw usage(
      `expected either apps (a directory of app packages) or app (one app directory), found ${single ? 'both' : 'neither'}`,
      "give one: Gateway.start({ apps: '/srv/apps' }) serves every app under it, as --apps; Gateway.start({ app: '/srv/apps/blog' }) one app at /, as serve",
    );
  }
  const dirOption = options.apps ?? options.app;
  // "" was the working directory (resolve), a script's empty variable taken for it.
  if (typeof dirOption !== 'string' || dirOption === '') {
    throw usage(`${single ? 'app' : 'apps'}: expected a directory's path (a string), found ${dirOption === '' ? 'an empty string' : shownValue(dirOption)}`, `give ${single ? 'app' : 'apps'} a path, e.g. '/var/apps'`);
  }
  refuseEmptyPath('Gateway.start', 'accessLog', options.accessLog);
  const dir = resolve(dirOption);
  const names = options.optionNames ?? LIBRARY_OPTION_NAMES;
  if (!single) validateAppsDir(dir, names.apps);
  checkNumberOptions(options);
  const mode: RunMode = options.mode ?? (single ? 'development' : 'production');
  // A misspelt mode ('prod') was neither: the apps got APPPKG_ENV=prod, and what asks for
  // 'production' (a pending commands.update at the start, root's apps as other users) did not run.
  if (!RUN_MODES.includes(mode)) {
    throw usage(`mode: expected 'production' or 'development', found ${shownValue(mode)}`, "give mode: 'production' (as --apps: app users, hooks, no tracebacks in 500s) or mode: 'development' (as serve)");
  }
  const say = options.say ?? sayOnStderr;
  const listen = [options.listen ?? '127.0.0.1:8000'].flat().map((a) => toAddr(a, names.listen));
  const adminOption = options.admin ?? (single ? false : DEFAULT_ADMIN);
  const adminAddr = adminOption === false ? null : toAddr(adminOption, names.admin);
  const adminToken = options.adminTokenFile === undefined ? null : readAdminToken(options.adminTokenFile, say, names.adminTokenFile);
  if (adminAddr !== null) checkAdminAddress(adminAddr, adminToken, { key: names.admin, tokenKey: names.adminTokenFile });
  checkAddressesApart([...listen.map((addr) => ({ addr, flag: names.listen })), ...(adminAddr === null ? [] : [{ addr: adminAddr, flag: names.admin }])]);
  compileTrustProxy(options.trustProxy, names.trustProxy); // a bad address is a usage error now, not at the first request
  if (typeof options.accessLog === 'string') checkAccessLogFile(options.accessLog, names.accessLog, say);
  const stateRoot = resolveStateRoot({ flag: options.stateDir });
  return { single, dir, mode, say, names, listen, adminAddr, adminToken, stateRoot };
}

function usage(reason: string, fix: string): GatewayError {
  return new GatewayError('APPPKG_USAGE', { reason: `Gateway.start: ${reason}`, command: '', fix });
}

/**
 * The options in milliseconds, and the example each one's fix gives. A header timeout of 0 would
 * answer 408 before any head could come; the others may be 0 (none, only on rescan()).
 */
const MILLISECOND_OPTIONS = [
  { key: 'graceMs', zeroAllowed: true, example: 1000 },
  { key: 'watchIntervalMs', zeroAllowed: true, example: 1000 },
  { key: 'settleMs', zeroAllowed: true, example: 1000 },
  { key: 'headerTimeoutMs', zeroAllowed: false, example: 20000 },
  { key: 'hookTimeoutMs', zeroAllowed: false, example: 600000 },
] as const;

/**
 * The CLI refuses these in its flags; a library caller's number came unchecked, and
 * `workers: 0` or `maxWorkers: -1` gave a gateway that said "serving" while no worker could
 * ever start: every request hung, and stop() waited out the grace for them.
 */
function checkNumberOptions(options: GatewayOptions): void {
  for (const key of ['workers', 'threads', 'maxWorkers'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw usage(`${key}: expected a whole number of at least 1, found ${shownValue(value)}`, `give ${key} a whole number of at least 1, e.g. ${key}: 2`);
    }
  }
  for (const { key, zeroAllowed, example } of MILLISECOND_OPTIONS) checkMilliseconds('Gateway.start', key, options[key], { zeroAllowed, example });
}

/**
 * `--access-log FILE` can be appended to, before anything listens: opened only once the
 * gateway ran, a misspelt directory lost every line, with one line on stderr to say so (nginx
 * and gunicorn refuse to start). Opening it creates it, as the log's own stream would (0600);
 * one of the gateway's own left open to others by an older gateway is closed to them (closeToOthers).
 */
function checkAccessLogFile(file: string, key: string, say: (line: string) => void): void {
  try {
    closeSync(openSync(file, 'a', ACCESS_LOG_MODE));
  } catch (err) {
    throw new GatewayError('APPPKG_ACCESS_LOG_FILE', { file: resolve(file), key, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  const closed = closeToOthers(file);
  if (closed !== null) say(`${givenAs(key, file)} was mode ${octal(closed.from)}, readable by every user of this host (an app's too): made ${octal(closed.to)}, as its lines hold every app's requests`);
}

const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;
