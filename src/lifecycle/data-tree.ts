// Copying and swapping whole directory trees for backup and restore: copy into a temporary
// directory beside the destination, then rename it into place, so the destination holds the
// old tree or the new one, never half of each.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdir, readdir, readlink, rename, rm, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../environment/state-root.js';
import { GatewayError, systemErrorReason } from '../errors.js';

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

/** chown -R without following symlinks (restored data belongs to the app's user). */
export async function chownTree(dir: string, owner: Owner): Promise<void> {
  await lchown(dir, owner.uid, owner.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, owner);
    else await lchown(p, owner.uid, owner.gid);
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
}

export interface CopyResult {
  staging: string;
  /** Entries (a directory counted once, with what it held) gone before they could be copied. */
  vanished: number;
  /** Sockets and FIFOs left out: endpoints of a running program, with no content to copy. */
  endpoints: number;
}

/** Copy `from` to a new directory beside `target`. Modes, times and symlinks kept. */
export async function copyBeside(from: string, target: string, what: string, opts: CopyOptions = {}): Promise<CopyResult> {
  const staging = besideName(target, what);
  const copy = new TreeCopy(new Set((opts.leaveOut ?? []).map((name) => path.join(from, name))), opts.tolerateVanished ?? false);
  try {
    await mkdir(path.dirname(staging), { recursive: true });
    await copy.directory(from, staging, await lstat(from));
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw ioFailure(`copy ${from} to ${staging}`, err);
  }
  return { staging, vanished: copy.vanished, endpoints: copy.endpoints };
}

type Stats = Awaited<ReturnType<typeof lstat>>;

/** A recursive copy (fs.cp's, which stops at the first entry gone) that may step over vanished entries. */
class TreeCopy {
  vanished = 0;
  endpoints = 0;

  constructor(
    private readonly leaveOut: ReadonlySet<string>,
    private readonly tolerateVanished: boolean,
  ) {}

  async directory(src: string, dest: string, st: Stats): Promise<void> {
    // Owner-writable until its entries are in; its own mode is set last.
    await mkdir(dest, { mode: 0o700 });
    for (const name of await readdir(src)) {
      const from = path.join(src, name);
      if (this.leaveOut.has(from)) continue;
      const to = path.join(dest, name);
      try {
        await this.entry(from, to);
      } catch (err) {
        if (!(await this.isVanished(err, from, to))) throw err;
        this.vanished++;
        // A directory that went while its entries were copied: what was copied of it goes too.
        await rm(to, { recursive: true, force: true });
      }
    }
    await chmod(dest, Number(st.mode) & 0o7777);
    await utimes(dest, st.atime, st.mtime);
  }

  private async entry(from: string, to: string): Promise<void> {
    const st = await lstat(from);
    if (st.isDirectory()) await this.directory(from, to, st);
    else if (st.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (st.isFile()) {
      // copyFile gives the copy the source's mode.
      await copyFile(from, to, constants.COPYFILE_EXCL);
      await utimes(to, st.atime, st.mtime);
    } else if (st.isSocket() || st.isFIFO()) {
      // A running app's unix socket or pipe in its data (a server's, a supervisor's): nothing to
      // restore but a name its program makes again at start, so left out, as tar ("socket
      // ignored") and rsync ("skipping non-regular file") do, where it failed the whole backup.
      this.endpoints++;
    } else {
      throw Object.assign(new Error(`${from} is a ${st.isSocket() ? 'socket' : st.isFIFO() ? 'FIFO' : 'device'}, which a copy cannot hold`), { code: 'EINVAL', path: from });
    }
  }

  /**
   * ENOENT (or ENOTDIR, a directory above it replaced) from the source's side, not the copy's.
   * Told by the copy's directory still being there, not by looking at the source again: the app
   * may have made the same name anew meanwhile (a temporary file's name used over and over).
   */
  private async isVanished(err: unknown, from: string, to: string): Promise<boolean> {
    if (!this.tolerateVanished) return false;
    const { code, path: at } = err as NodeJS.ErrnoException;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return false;
    if (at === undefined || !isInside(at, from)) return false;
    return lstat(path.dirname(to)).then(
      (st) => st.isDirectory(),
      () => false,
    );
  }
}

/** Put `staging` at `target` (which may not exist yet) and remove what was there. */
export async function swapInto(staging: string, target: string): Promise<void> {
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
    await rm(staging, { recursive: true, force: true });
    throw ioFailure(`move ${staging} to ${target}`, err);
  }
  if (hadTarget) await rm(old, { recursive: true, force: true });
}

export function ioFailure(action: string, err: unknown): GatewayError {
  return new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: systemErrorReason(err), cause: err });
}

export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
