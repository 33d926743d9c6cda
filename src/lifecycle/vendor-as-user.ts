// `vendor` run as root for an app that runs as another user (its `user:`, else its directory's
// owner, as install decides: run-as.ts): pip, and what pip builds (a setup.py, a build backend:
// the app's own code), ran as root. They run as that user now, in a directory of the scratch
// directory lent to it. Before root reads what pip left there, it is taken back: the scratch
// directory closed to the user, everything in the lent one root's (lchown, links never
// followed), and the stage refused unless it holds only directories and regular files, all that
// pip makes from wheels: a link a build left there had root copy what it leads to into the
// vendor directory, which the user reads.
import { chmod, lstat } from 'node:fs/promises';
import path from 'node:path';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { kindOf, symlinkWords } from '../no-follow.js';
import { resolveRunAs, type RunAs } from '../environment/run-as.js';
import type { FilePlace } from '../environment/host-file.js';
import { chownTree, isInside } from './data-tree.js';
import { asAppUser } from './pip-environment.js';

/** The user vendor's pip runs as: the app's when we are root and it is not; else null (pip runs as we do). */
export function vendorUser(desc: Pick<Description, 'dir' | 'name'>, configured: string | null, at?: FilePlace | null): RunAs | null {
  const runAs = resolveRunAs(desc, configured, at);
  return runAs && !runAs.isRoot ? runAs : null;
}

/** `env` for pip run as `user`: its HOME, TMPDIR and pip's cache in `lent`, the directory it was lent. */
export function vendorUserEnv(env: Record<string, string | undefined>, user: RunAs, lent: string): Record<string, string> {
  const defined = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return asAppUser(defined, user, lent);
}

/**
 * `lent` (with what we made in it: the stage) given to `user`; `work`, root's, above it opened
 * for it to pass through. `work` itself is never the user's: it could rename it and leave a link
 * where root then looks.
 */
export async function lendScratch(work: string, lent: string, user: RunAs): Promise<void> {
  await chmod(work, 0o711);
  await chownTree(lent, user);
}

/**
 * `lent` taken back after pip (whose processes have ended with it: runProgram): `work` closed to
 * the user first, so nothing in it changes while it is walked; then everything in `lent` root's.
 * Throws APPPKG_VENDOR_STAGE_UNSAFE when `stage` holds anything but directories and regular files.
 */
export async function takeScratchBack(work: string, lent: string, stage: string, user: RunAs): Promise<void> {
  await chmod(work, 0o700);
  const odd: string[] = [];
  await chownTree(lent, { uid: 0, gid: 0 }, (file, entry) => {
    if (!entry.isDirectory() && !entry.isFile() && isInside(file, stage)) odd.push(file);
  });
  if (odd.length === 0) return;
  const found = await Promise.all(odd.slice(0, 3).map(async (file) => `${path.relative(stage, file) || '.'}, ${await whatIsAt(file)}`));
  const more = odd.length > 3 ? ` and ${odd.length - 3} more` : '';
  throw new GatewayError('APPPKG_VENDOR_STAGE_UNSAFE', { found: `${found.join(', ')}${more}`, user: user.user });
}

/** What is at `file`, in an error's words: "a symlink (to /etc/shadow)", "a FIFO". */
async function whatIsAt(file: string): Promise<string> {
  const st = await lstat(file);
  return st.isSymbolicLink() ? symlinkWords(file) : kindOf(st);
}
