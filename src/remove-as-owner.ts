// Removing, as root, a tree another user owns (an app's replaced data, a venv build pip wrote as
// the app's user): root's recursive rm walks it by path, and a directory that user swapped for a
// symlink meanwhile had root delete where the link led. The owner empties it with its own rights
// (what it cannot delete, root need not either), then root removes the empty directory, whose
// parent is root's.
import { lstat, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { systemErrorReason } from './errors.js';
import { programOutput } from './program-output.js';

/**
 * Empties `dir` as `owner`, then removes it: null when it is gone (or was gone already), else why
 * it is left. `owner` starts in `dir` (root's chdir, by the name its parent holds still), not at
 * its path: a directory above it may be closed to that user (a backup directory, root's and 0700).
 */
export async function removeAsOwner(dir: string, owner: { uid: number; gid: number }): Promise<string | null> {
  const found = await programOutput('find', ['.', '-mindepth', '1', '-delete'], { timeoutMs: 300_000, uid: owner.uid, gid: owner.gid, cwd: dir });
  if (found.status !== 0) {
    // Gone before find could start in it (removed by another, or by its owner): what was asked is
    // done. ENOENT alone does not say so: a host without find says it too.
    if (found.startError === 'ENOENT' && (await lstat(dir).catch(() => null)) === null) return null;
    // find names what it could not delete from where it started: said from `dir`, as the user looks for it.
    const said = found.startError ? `${found.startError} (starting in ${dir})` : found.stderr.trim().split('\n')[0].replace(/(['\u2018`])\.\//g, `$1${dir}/`);
    return said || found.message || `find exited ${found.status}`;
  }
  return rmdir(dir).then(() => null, gone);
}

/**
 * Removes `file` and all it holds, whoever owns its parts (an app's state directory: root's, its
 * data, tmp and venv the app's user's; a backup directory a hook wrote): as root, each directory
 * of another user's by removeAsOwner, root's own directories, where no one else renames, walked
 * by path. `file`'s parent must be ours, so that its name holds still. Not root, nothing can lead
 * the removal past what we may remove anyway: rm -r. Null when it is gone, else why something is
 * left (the first reason; what else could go went).
 */
export async function removeTreeAsOwners(file: string): Promise<string | null> {
  if (process.getuid?.() !== 0) {
    return rm(file, { recursive: true, force: true, maxRetries: 2 }).then(
      () => null,
      (err: unknown) => systemErrorReason(err),
    );
  }
  const st = await lstat(file).catch(() => null);
  if (st === null) return null;
  if (!st.isDirectory()) return removeFile(file);
  if (st.uid !== 0) return removeAsOwner(file, st);
  const entries = await readdir(file, { withFileTypes: true }).catch(() => []);
  // Listed in a directory of root's, where no one else renames: a file listed stays a file, and
  // is unlinked without a look of its own, all of them at once (one by one, a tree of small
  // files took twice rm's CPU and more).
  const reasons = await Promise.all(entries.filter((e) => !e.isDirectory()).map((e) => removeFile(path.join(file, e.name))));
  for (const entry of entries.filter((e) => e.isDirectory())) reasons.push(await removeTreeAsOwners(path.join(file, entry.name)));
  const left = reasons.find((reason) => reason !== null);
  if (left !== undefined) return left;
  return rmdir(file).then(() => null, gone);
}

function removeFile(file: string): Promise<string | null> {
  return unlink(file).then(() => null, gone);
}

/** Null for a removal that found nothing to remove (ENOENT), else its reason. */
function gone(err: unknown): string | null {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : systemErrorReason(err);
}
