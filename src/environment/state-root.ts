// Where an app's state lives: data that outlives versions, logs, a private TMPDIR, its
// virtualenv and the generated `run` helpers (SPEC §2.1). One root for the gateway, one
// directory per app name beneath it, so a new version finds the old version's data.

import { chmodSync, lchownSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { access, chmod, constants, lchown, lstat, readdir, rmdir, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GatewayError, systemErrorReason } from '../errors.js';
import { makeDirectory } from '../make-dir.js';
import { chownIfNoFollow, inDirectory, openDirectoryNoFollow } from '../no-follow.js';

export interface StateRootOptions {
  /** --state-dir, when given. */
  flag?: string;
  env?: NodeJS.ProcessEnv;
  /** Effective uid; default process.getuid(). */
  uid?: number;
  home?: string;
}

/**
 * --state-dir > $APPPKG_STATE_DIR > /var/lib/apppkg-gateway (root) or the XDG state dir (a user).
 * The variable set empty is refused (APPPKG_STATE_DIR_EMPTY): taken for unset, it sent a
 * script's `APPPKG_STATE_DIR="$STATE"` with STATE unset into the machine's root.
 */
export function resolveStateRoot(opts: StateRootOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.flag) return path.resolve(opts.flag);
  if (env.APPPKG_STATE_DIR === '') throw new GatewayError('APPPKG_STATE_DIR_EMPTY', { fallback: defaultStateRoot(env, opts) });
  if (env.APPPKG_STATE_DIR) return path.resolve(env.APPPKG_STATE_DIR);
  return defaultStateRoot(env, opts);
}

/** The root when neither --state-dir nor APPPKG_STATE_DIR names one. */
function defaultStateRoot(env: NodeJS.ProcessEnv, opts: StateRootOptions): string {
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  if (uid === 0) return '/var/lib/apppkg-gateway';
  // XDG Base Directory spec: a relative XDG_STATE_HOME is invalid and must be ignored.
  const xdg = env.XDG_STATE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'apppkg-gateway');
  return path.join(opts.home ?? os.homedir(), '.local', 'state', 'apppkg-gateway');
}

/** The refusals whose fix names the option that chooses the state root (errors.ts, stateRootOption). */
const STATE_ROOT_CODES: ReadonlySet<string> = new Set(['APPPKG_STATE_DIR_FAILED', 'APPPKG_STATE_ROOT_IN_USE', 'APPPKG_APP_SERVED', 'APPPKG_STATE_DIR_EMPTY', 'APPPKG_SERVICE_OTHER_STATE_ROOT']);

/**
 * `err`, a state root's refusal, with its fix naming that option as `key` (the library's
 * `stateDir`, the CLI's `--state-dir`): it is thrown deep in what makes the state, which knows
 * nothing of its caller, and the call that took the option names it on its way out. Any other
 * error is returned as it is.
 */
export function namingStateRoot(err: unknown, key: string): unknown {
  if (!(err instanceof GatewayError) || !STATE_ROOT_CODES.has(err.code) || err.details.stateKey !== undefined) return err;
  return new GatewayError(err.code, { ...err.details, stateKey: key });
}

export interface AppStateDirs {
  root: string;
  /** <root>/apps/<name> */
  app: string;
  data: string;
  log: string;
  /** Mode 0700: TMPDIR for this app alone. */
  tmp: string;
  /** The app's virtualenv (created by `install`, only when `pip:` is used). */
  venv: string;
  /** Generated helpers for commands run in the app's environment (app-env.ts). */
  run: string;
}

/** What a gateway or a command keeps to spare later work (interpreters' answers, venv seeds). */
export function stateCacheDir(root: string): string {
  return path.join(root, 'cache');
}

/** The paths only; nothing is created. */
export function appStateDirs(root: string, name: string): AppStateDirs {
  // A name is one path segment (the description loader checks it too); never let it climb out.
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', {
      path: path.join(root, 'apps', name),
      reason: `expected the app name to be one path segment, found ${JSON.stringify(name)}`,
    });
  }
  const app = path.join(root, 'apps', name);
  return {
    root,
    app,
    data: path.join(app, 'data'),
    log: path.join(app, 'log'),
    tmp: path.join(app, 'tmp'),
    venv: path.join(app, 'venv'),
    run: path.join(app, 'run'),
  };
}

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * mkdir -p with a mode, then chmod when `forceMode` (mkdir's mode is filtered by the umask and
 * ignored for a directory that already exists), then chown when an owner is given. A symlink
 * where the directory should be is refused, never followed: under a root gateway an app's user
 * could otherwise point its data or tmp at /etc and have root chmod and chown that to it.
 */
export async function ensureDir(dir: string, mode: number, owner?: Owner, forceMode = false): Promise<void> {
  try {
    if ((await lstat(dir).catch(() => null))?.isSymbolicLink()) {
      throw Object.assign(new Error('it is a symbolic link, which the gateway does not follow in an app\'s state (remove it: the gateway makes the directory again)'), { code: 'ELOOP' });
    }
    const created = await makeDirectory(dir, mode);
    if (forceMode || created !== undefined) await chmod(dir, mode);
    if (owner) await lchown(dir, owner.uid, owner.gid);
  } catch (err) {
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: dir, reason: systemErrorReason(err, dir), cause: err });
  }
}

/**
 * The owner of what the gateway writes beside an app's own directories (the app's state
 * directory itself, its run helpers): the gateway's user whenever apps run as another (`owner`
 * given), so that the app cannot swap its data, log or tmp for a symlink, nor the helpers root
 * writes; undefined otherwise (nothing to change).
 */
export function gatewayOwned(owner: Owner | undefined): Owner | undefined {
  if (owner === undefined || process.getuid === undefined || process.getgid === undefined) return undefined;
  return { uid: process.getuid(), gid: process.getgid() };
}

/**
 * Makes the state root and checks that this process can write in it, before the gateway
 * listens: an unwritable root used to be found by each app's start, one refusal per app, while
 * the gateway ran on serving none of them. Returns the first directory it made (the root or a
 * parent), or undefined: a start that fails after this removes them again (removeMadeDirs).
 */
export async function prepareStateRoot(root: string): Promise<string | undefined> {
  let made: string | undefined;
  try {
    for (let tries = 0; ; tries++) {
      // Not mkdir's `recursive`, which spins for ever under /proc (make-dir.ts).
      made = (await makeDirectory(root, 0o755)) ?? made;
      // mkdir of a directory that is there already succeeds whoever may write in it.
      const gone = await access(root, constants.W_OK | constants.X_OK).then(() => false, (err: NodeJS.ErrnoException) => {
        // Removed since it was found (another start on this root that failed, removing the
        // empty root it made): made again, by us this time, as a root we found missing.
        if (err.code === 'ENOENT' && tries < 5) return true;
        throw err;
      });
      if (!gone) return made;
    }
  } catch (err) {
    const blocker = fileInTheWay(root);
    // A file at the root itself passes makeDirectory, and access() then fails for want of its x
    // bit: "EACCES: permission denied", as if rights were what was wrong.
    const reason = blocker === root ? 'it is a file, not a directory' : systemErrorReason(err, root);
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: root, reason, errno: (err as NodeJS.ErrnoException).code, blocker, cause: err });
  }
}

/**
 * Undoes makeDirectory's `first` (the first directory it made) for `deepest`: `deepest` and its
 * parents up to `first`, each removed only while empty, deepest first. A gateway that failed at
 * start (an environment file missing, an address it cannot listen on) left an empty state root
 * behind, made for nothing; one that had begun to fill it (an app's log of its refusal, serve's)
 * keeps what holds something, and whatever was there before it stays untouched.
 */
export async function removeMadeDirs(first: string | undefined, deepest: string): Promise<void> {
  if (first === undefined) return;
  const top = path.resolve(first);
  let at = path.resolve(deepest);
  if (at !== top && !at.startsWith(`${top}${path.sep}`)) return;
  for (;;) {
    // Not empty (ENOTEMPTY), or gone: what is above it is not ours to take either.
    if (!(await rmdir(at).then(() => true, () => false))) return;
    if (at === top) return;
    at = path.dirname(at);
  }
}

/** The nearest of `dir` and its parents that exists but is not a directory, if one is. */
export function fileInTheWay(dir: string): string | undefined {
  for (let p = dir; ; p = path.dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p;
    } catch {
      if (p === path.dirname(p)) return undefined;
    }
  }
}

/** Create (or repair) the app's data, log and tmp directories; tmp is re-chmodded to 0700 every time. */
export async function prepareAppStateDirs(root: string, name: string, owner?: Owner): Promise<AppStateDirs> {
  const dirs = await prepareAppLogDir(root, name, owner);
  await handOver(dirs.data, owner);
  await ensureDir(dirs.data, 0o700, owner);
  await handOver(dirs.tmp, owner);
  await ensureDir(dirs.tmp, 0o700, owner, true);
  return dirs;
}

/**
 * What the app's previous user (another `user:`, or its directory's owner changed) left in `dir`
 * given to `owner`, before `dir` itself is: ensureDir chowns the directory alone, so the app
 * found its own data unwritable under its new user (SPEC 2.1: writable). Only what the previous
 * user owned moves (the owner of `dir` tells who that was): a file root or anyone else put there
 * stays theirs (judged on the file chowned, by descriptor: where hard links to any file may be
 * made, one to root's swapped in after the look was handed over), and a symlink is chowned
 * itself, never followed. Once, at the change: `dir` is the new user's afterwards. Each
 * directory is held open as it is walked (no-follow.ts): the previous user's processes, still
 * draining, may swap one of its directories for a symlink between our look and our walk into it,
 * and root walked, by path, where the link led, giving the new user that user's files elsewhere.
 */
async function handOver(dir: string, owner: Owner | undefined): Promise<void> {
  const before = owner === undefined ? null : await lstat(dir).catch(() => null);
  if (owner === undefined || before === null || !before.isDirectory() || before.uid === owner.uid) return;
  const walk = async (held: FileHandle): Promise<void> => {
    for (const name of await readdir(inDirectory(held, '.')).catch(gone([]))) {
      const at = inDirectory(held, name);
      const st = await lstat(at).catch(gone(null));
      if (st === null) continue;
      if (!st.isDirectory()) {
        // Judged again on what is chowned: a hard link to another's file swapped in after the look is left.
        if (st.uid === before.uid) await chownIfNoFollow(at, owner, (held) => !held.isDirectory() && held.uid === before.uid).catch(gone(undefined));
        continue;
      }
      // Gone, or no longer a directory (a symlink swapped in): not followed, left to its user.
      const sub = await openDirectoryNoFollow(at).catch(gone(null, ['ELOOP', 'ENOTDIR']));
      if (sub === null) continue;
      try {
        if ((await sub.stat()).uid === before.uid) await sub.chown(owner.uid, owner.gid);
        await walk(sub);
      } finally {
        await sub.close();
      }
    }
  };
  // The old version, still draining as the previous user, may remove its temporary files meanwhile.
  const gone = <T>(value: T, also: readonly string[] = []) => (err: NodeJS.ErrnoException): T => {
    if (err.code === 'ENOENT' || also.includes(err.code ?? '')) return value;
    throw err;
  };
  try {
    const top = await openDirectoryNoFollow(dir).catch(gone(null));
    if (top === null) return;
    try {
      await walk(top);
    } finally {
      await top.close();
    }
  } catch (err) {
    throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: dir, reason: systemErrorReason(err, dir), cause: err });
  }
}

/**
 * The app's data, log and tmp directories made again where they went missing while it ran (an
 * operator's `rm -rf` of its data to start afresh, a cleaner sweeping its tmp): a worker or
 * process restarted after a crash, a recycle or a wake runs in the environment its version's
 * start built, and found none of them until the next deploy. Only what is missing is made (what
 * is there was checked by the start), synchronously because spawns are. A failure is left to
 * the app, whose own error names the directory it could not use.
 */
export function restoreMissingStateDirs(dirs: Pick<AppStateDirs, 'data' | 'log' | 'tmp'>, owner?: Owner): void {
  const made = (dir: string, mode: number, by: Owner | undefined): void => {
    try {
      lstatSync(dir);
      return;
    } catch {
      // missing: made below
    }
    try {
      mkdirSync(dir, { mode });
      chmodSync(dir, mode); // mkdir's mode passed through the umask
      if (by) lchownSync(dir, by.uid, by.gid);
    } catch {
      // see above
    }
  };
  // Their parent is the gateway's (prepareAppLogDir), so that the app cannot swap them for links.
  made(path.dirname(path.dirname(dirs.data)), 0o755, undefined);
  made(path.dirname(dirs.data), 0o755, gatewayOwned(owner));
  made(dirs.log, 0o750, owner);
  made(dirs.data, 0o700, owner);
  made(dirs.tmp, 0o700, owner);
}

/**
 * The app's log directory alone, as its start makes it: a version refused before anything of
 * the app ran (a setting missing at its first start) has its refusal written there, where
 * `apppkg-gateway logs NAME` looks.
 */
export async function prepareAppLogDir(root: string, name: string, owner?: Owner): Promise<AppStateDirs> {
  const dirs = appStateDirs(root, name);
  await ensureDir(root, 0o755);
  await ensureDir(path.join(root, 'apps'), 0o755);
  // Not the app's: it holds its data, log and tmp, which must stay the directories they are.
  await ensureDir(dirs.app, 0o755, gatewayOwned(owner));
  await handOver(dirs.log, owner);
  await ensureDir(dirs.log, 0o750, owner);
  return dirs;
}
