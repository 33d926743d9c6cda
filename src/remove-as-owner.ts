// Removing, as root, a tree another user owns (an app's replaced data, a venv build pip wrote as
// the app's user): root's recursive rm walks it by path, and a directory that user swapped for a
// symlink meanwhile had root delete where the link led. The owner empties it with its own rights
// (what it cannot delete, root need not either), then root removes the empty directory, whose
// parent is root's.
import { rmdir } from 'node:fs/promises';
import { systemErrorReason } from './errors.js';
import { programOutput } from './program-output.js';

/** Empties `dir` as `owner`, then removes it: null when it is gone, else why it is left. */
export async function removeAsOwner(dir: string, owner: { uid: number; gid: number }): Promise<string | null> {
  const found = await programOutput('find', [dir, '-mindepth', '1', '-delete'], { timeoutMs: 300_000, uid: owner.uid, gid: owner.gid, cwd: '/' });
  if (found.status !== 0) return found.startError ?? (found.stderr.trim().split('\n')[0] || found.message || `find exited ${found.status}`);
  return rmdir(dir).then(
    () => null,
    (err: unknown) => systemErrorReason(err),
  );
}
