// Copying and swapping whole directory trees for backup and restore: copy into a temporary
// directory beside the destination, then rename it into place, so the destination holds the
// old tree or the new one, never half of each.
import { randomBytes } from 'node:crypto';
import { cp, lchown, lstat, readdir, rename, rm } from 'node:fs/promises';
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

/**
 * Copy `from` to a new directory beside `target`; returns its path. Modes, times and symlinks kept.
 * `leaveOut`: names directly under `from` not copied, nor even looked at: a file its app makes
 * and deletes while it runs (SQLite's journal) would fail the copy once gone between the listing
 * and its copy.
 */
export async function copyBeside(from: string, target: string, what: string, leaveOut: readonly string[] = []): Promise<string> {
  const staging = besideName(target, what);
  const skipped = new Set(leaveOut.map((name) => path.join(from, name)));
  try {
    await cp(from, staging, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, errorOnExist: true, force: false, filter: (src) => !skipped.has(src) });
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw ioFailure(`copy ${from} to ${staging}`, err);
  }
  return staging;
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
