// Copying and swapping whole directory trees for backup and restore: copy into a temporary
// directory beside the destination, then rename it into place, so the destination holds the
// old tree or the new one, never half of each.
import { randomBytes } from 'node:crypto';
import { constants, type Dirent, type Stats } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, readlink, rename, rm, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../environment/state-root.js';
import { GatewayError, systemErrorReason } from '../errors.js';
import { removeTreeAsOwners } from '../remove-as-owner.js';
import { copyContent, createNewFile, inDirectory, openDirectoryNoFollow } from '../no-follow.js';

export interface TreeCount {
  files: number;
  bytes: number;
}

/** Regular files and symlinks under `dir` (directories themselves not counted). */
export async function countTree(dir: string): Promise<TreeCount> {
  const total: TreeCount = { files: 0, bytes: 0 };
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else {
        total.files++;
        if (entry.isFile()) total.bytes += (await lstat(p)).size;
      }
    }
  };
  await walk(dir);
  return total;
}

/**
 * chown -R without following symlinks (restored data belongs to the app's user), each directory
 * after what it holds: given to that user first, a directory let a process of the app's swap a
 * subdirectory for a symlink before root went into it, and root chowned to the app what the
 * link led to (readdir and the path of each entry follow a link above them). A directory still
 * root's holds its names still. `seen` is told of each entry below `dir` (vendor looks for what
 * pip should not have left).
 */
export async function chownTree(dir: string, owner: Owner, seen?: (file: string, entry: Dirent) => void): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    seen?.(p, entry);
    if (entry.isDirectory()) await chownTree(p, owner, seen);
    else await lchown(p, owner.uid, owner.gid);
  }
  await lchown(dir, owner.uid, owner.gid);
}

/**
 * The modes a backup withheld (CopyOptions.withholdOthersWrite), given back to the directories
 * of a restored copy at `top`, by their paths under it; '' (the top) is left to the caller, which
 * gives it the app's data directory's mode. Each directory is opened from the one above, no link
 * followed, and changed only if it is `uid`'s (the app's user's, once the copy is theirs): the
 * manifest is DIR's, which its owner may have written. A name gone or not a directory is passed.
 */
export async function giveBackModes(top: string, modes: Readonly<Record<string, string>> | undefined, uid: number | undefined): Promise<void> {
  for (const [under, octal] of Object.entries(modes ?? {})) {
    const mode = /^0?[0-7]{3,4}$/.test(octal) ? Number.parseInt(octal, 8) & 0o7777 : NaN;
    const names = under.split('/');
    if (under === '' || Number.isNaN(mode) || names.some((n) => n === '' || n === '.' || n === '..')) continue;
    let dir: FileHandle | null = await openDirectoryNoFollow(top).catch(() => null);
    for (const name of names) {
      if (dir === null) break;
      const next: FileHandle | null = await openDirectoryNoFollow(inDirectory(dir, name)).catch(() => null);
      await dir.close();
      dir = next;
    }
    if (dir === null) continue;
    try {
      if (uid === undefined || (await dir.stat()).uid === uid) await dir.chmod(mode);
    } finally {
      await dir.close();
    }
  }
}

export function besideName(target: string, what: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${what}-${randomBytes(4).toString('hex')}`);
}

export interface CopyOptions {
  /** Names directly under `from` not copied, nor even looked at (SQLite's live files, backed up online). */
  leaveOut?: readonly string[];
  /**
   * A file or directory under `from` gone between its listing and its copy is left out and
   * counted, as rsync's "file has vanished" and tar's "file removed before we read it": a running
   * app deletes and renames its own temporary files, cache entries and locks all the time, and
   * one of them failed the whole backup. Off for restore, whose source nothing should change.
   */
  tolerateVanished?: boolean;
  /**
   * The uid whose regular files alone are copied (the app's user's, its data copied as root):
   * where hard links to any file may be made (fs.protected_hardlinks=0), that user links a
   * root-only file into its data, and root's copy took the file into the backup, the app's once
   * restored. Others' are left out, named in `foreign`.
   */
  onlyOwnedBy?: number;
  /**
   * Each directory of the copy gets its source's mode without group's and others' write; the
   * modes so changed are returned (`withheldModes`). For a backup: restore refuses a DIR/data
   * with a directory others may write in (what it holds may be anyone's), and an app's own 0777
   * upload directory made its every backup one to mend by hand before it could be restored.
   */
  withholdOthersWrite?: boolean;
}

export interface CopyResult {
  staging: string;
  /** Entries (a directory counted once, with what it held) gone before they could be copied. */
  vanished: number;
  /** Sockets and FIFOs left out: endpoints of a running program, with no content to copy. */
  endpoints: number;
  /** The regular files left out as not `onlyOwnedBy`'s. */
  foreign: string[];
  /** With `withholdOthersWrite`: each directory's own mode, by its path under `from` ('' for `from`), where the copy's lacks go+w. */
  withheldModes: Record<string, number>;
}

/**
 * Copy `from` to a new directory beside `target`. Modes, times and symlinks kept. Both sides are
 * walked by descriptor (no-follow.ts): `from` is the app's user's (its data directory, or a
 * backup directory its hook wrote), and an entry it swapped for a symlink or a FIFO between the
 * listing and the copy had root copy a root-only file into the backup (the app's once restored)
 * or wait on the FIFO for ever.
 */
export async function copyBeside(from: string, target: string, what: string, opts: CopyOptions = {}): Promise<CopyResult> {
  const staging = besideName(target, what);
  const copy = new TreeCopy(opts.tolerateVanished ?? false, opts.onlyOwnedBy, opts.withholdOthersWrite ?? false);
  let source: FileHandle | null = null;
  try {
    await mkdir(path.dirname(staging), { recursive: true });
    source = await openDirectoryNoFollow(from);
    await mkdir(staging, { mode: 0o700 });
    await copy.directory(source, from, await openOwnDirectory(staging), new Set(opts.leaveOut ?? []));
  } catch (err) {
    await removeTreeAsOwners(staging);
    throw ioFailure(`copy ${from} to ${staging}`, err);
  } finally {
    await source?.close();
  }
  return { staging, vanished: copy.vanished, endpoints: copy.endpoints, foreign: copy.foreign, withheldModes: copy.withheldModes };
}

/**
 * The directory just made at `dir`, by descriptor: refused unless it is ours (a directory the
 * app's user put at the name meanwhile would take root's copy where that user reads it).
 */
async function openOwnDirectory(dir: string): Promise<FileHandle> {
  const handle = await openDirectoryNoFollow(dir);
  const st = await handle.stat();
  if (st.uid !== process.getuid?.()) {
    await handle.close();
    throw Object.assign(new Error(`${dir} was replaced by a directory of uid ${st.uid} as it was made`), { code: 'EEXIST', path: dir });
  }
  return handle;
}

/** Marks an error of the source's side, which may be a vanished entry; the copy's side never is. */
function onSource<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((err: unknown) => {
    throw Object.assign(err as Error, { fromSource: true });
  });
}

/** A recursive copy (fs.cp's, which stops at the first entry gone) that may step over vanished entries. */
class TreeCopy {
  vanished = 0;
  endpoints = 0;
  foreign: string[] = [];
  withheldModes: Record<string, number> = {};

  constructor(
    private readonly tolerateVanished: boolean,
    private readonly onlyOwnedBy: number | undefined,
    private readonly withholdOthersWrite: boolean,
  ) {}

  /**
   * `src`'s entries into `dest` (made by us, still 0700), then `dest` given `src`'s mode and
   * times; closes `dest`. `under` is `src`'s path below the copy's top ('' for the top).
   */
  async directory(src: FileHandle, srcPath: string, dest: FileHandle, leaveOut: ReadonlySet<string> = new Set(), under = ''): Promise<void> {
    try {
      for (const entry of await onSource(readdir(inDirectory(src, '.'), { withFileTypes: true }))) {
        if (leaveOut.has(entry.name)) continue;
        const from = path.join(srcPath, entry.name);
        try {
          await this.entry(src, dest, entry, from, under === '' ? entry.name : `${under}/${entry.name}`);
        } catch (err) {
          if (!this.isVanished(err)) throw err;
          this.vanished++;
          // A directory that went while its entries were copied: what was copied of it goes too.
          await rm(inDirectory(dest, entry.name), { recursive: true, force: true });
        }
      }
      const st = await src.stat();
      let mode = st.mode & 0o7777;
      if (this.withholdOthersWrite && (mode & 0o022) !== 0) {
        this.withheldModes[under] = mode;
        mode &= ~0o022;
      }
      await dest.chmod(mode);
      await dest.utimes(st.atime, st.mtime);
    } finally {
      await dest.close();
    }
  }

  private async entry(src: FileHandle, dest: FileHandle, listed: Dirent, from: string, under: string): Promise<void> {
    const name = listed.name;
    // A device cannot be made by the app's user, and opening one may act (a tape rewinds): said, not opened.
    if (listed.isBlockDevice() || listed.isCharacterDevice()) {
      throw Object.assign(new Error(`${from} is a device, which a copy cannot hold`), { code: 'EINVAL', path: from });
    }
    const opened = await this.openEntry(src, name, from);
    if (typeof opened === 'string') {
      await symlink(opened, inDirectory(dest, name));
      return;
    }
    if (opened === null) {
      this.endpoints++;
      return;
    }
    try {
      const st = await opened.stat();
      if (st.isDirectory()) {
        await mkdir(inDirectory(dest, name), { mode: 0o700 });
        await this.directory(opened, from, await openDirectoryNoFollow(inDirectory(dest, name)), undefined, under);
      } else if (st.isFile()) {
        // Judged on the descriptor: the file that would be copied, whatever the name holds now.
        if (this.onlyOwnedBy !== undefined && st.uid !== this.onlyOwnedBy) this.foreign.push(from);
        else await copyFileAt(opened, inDirectory(dest, name), st);
      } else {
        // A running app's unix socket or pipe in its data (a server's, a supervisor's): nothing to
        // restore but a name its program makes again at start, so left out, as tar ("socket
        // ignored") and rsync ("skipping non-regular file") do, where it failed the whole backup.
        this.endpoints++;
      }
    } finally {
      await opened.close();
    }
  }

  /**
   * The entry `name` of `src` opened, never followed nor waited on; or, where it is a symlink, its
   * target; or null for a socket (which cannot be opened). The app may swap it between the
   * open and the readlink (ELOOP, then no link: EINVAL): then looked at again, a few times.
   */
  private async openEntry(src: FileHandle, name: string, from: string): Promise<FileHandle | string | null> {
    for (let attempt = 0; attempt < SWAPPED_ATTEMPTS; attempt++) {
      try {
        return await onSource(open(inDirectory(src, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK));
      } catch (err) {
        const { code } = err as NodeJS.ErrnoException;
        if (code === 'ENXIO') return null;
        if (code !== 'ELOOP') throw err;
      }
      try {
        return await onSource(readlink(inDirectory(src, name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      }
    }
    // Counted as vanished where that is tolerated: a name whose file the app keeps replacing has none to copy.
    throw Object.assign(new Error(`${from} changed between a symlink and a file ${SWAPPED_ATTEMPTS} times as it was copied`), { code: 'ENOENT', path: from, fromSource: true });
  }

  /**
   * ENOENT (or ENOTDIR, a directory above it replaced) from the source's side, not the copy's:
   * the app deletes and renames its own files as it runs.
   */
  private isVanished(err: unknown): boolean {
    if (!this.tolerateVanished) return false;
    const { code, fromSource } = err as NodeJS.ErrnoException & { fromSource?: boolean };
    return fromSource === true && (code === 'ENOENT' || code === 'ENOTDIR');
  }
}

/** The regular file open at `from` copied into the new file `to` (never through a link there), its mode and times kept. */
async function copyFileAt(from: FileHandle, to: string, st: Stats): Promise<void> {
  const out = await createNewFile(to, 0o600);
  try {
    await onSource(copyContent(from, out));
    await out.chmod(st.mode & 0o7777);
    await out.utimes(st.atime, st.mtime);
  } finally {
    await out.close();
  }
}

const SWAPPED_ATTEMPTS = 10;

/**
 * Put `staging` at `target` (which may not exist yet) and remove what was there, by `removeOld`
 * when given, else each part as its owner (remove-as-owner.ts), what is left failing the swap.
 */
export async function swapInto(staging: string, target: string, removeOld?: (old: string) => Promise<void>): Promise<void> {
  const old = besideName(target, 'old');
  const hadTarget = await lstat(target).then(
    () => true,
    () => false,
  );
  try {
    if (hadTarget) await rename(target, old);
    await rename(staging, target);
  } catch (err) {
    // Put the old tree back where it was; the staging copy is of no use without it.
    if (hadTarget) await rename(old, target).catch(() => {});
    await removeTreeAsOwners(staging);
    throw ioFailure(`move ${staging} to ${target}`, err);
  }
  if (!hadTarget) return;
  if (removeOld) return removeOld(old);
  const left = await removeTreeAsOwners(old);
  if (left !== null) throw ioFailure(`remove ${old}, the tree ${target} replaced`, left);
}

export function ioFailure(action: string, err: unknown): GatewayError {
  return new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: systemErrorReason(err), cause: err });
}

export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
