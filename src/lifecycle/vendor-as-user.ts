// `vendor` run as root for an app that runs as another user (its `user:`, else its directory's
// owner, as install decides: run-as.ts): pip, and what pip builds (a setup.py, a build backend:
// the app's own code), ran as root. They run as that user now, in a directory of the scratch
// directory lent to it. Before root reads what pip left there, it is taken back: the scratch
// directory closed to the user, everything of the user's in the lent one root's (each directory
// held by descriptor as it is walked, each file chowned through the descriptor it was judged on:
// a process of the user's with its working directory in there keeps working in it once the
// scratch directory is closed, and swapped a directory for a link to one of another's between
// root's listing and its walk into it, which gave root that one's files), and the stage refused
// unless it holds only directories and the user's regular files, all that pip makes from wheels:
// a link a build left there had root copy what it leads to into the vendor directory, which the
// user reads, and so would a hard link to another's file.
import type { Stats } from 'node:fs';
import { chmod, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { findUser } from '../environment/run-as.js';
import { chownIfNoFollow, inDirectory, kindOf, openDirectoryNoFollow, symlinkWords } from '../no-follow.js';
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
 * the user first; then every directory in `lent` root's and writable by root alone before it is
 * listed, and every file of the user's root's. Throws APPPKG_VENDOR_STAGE_UNSAFE when `stage`
 * holds anything but directories and the user's regular files; returns, for each of `readLater`
 * (what root reads there next: pip's log, its report) that is not the user's own regular file
 * with one name, why not (a hard link to another's file, made where fs.protected_hardlinks=0
 * lets it, would have root read that file).
 *
 * Each directory is made root's, and go-w, before it is listed, not after: once it is, no
 * process of the user's (one still working in there, by its working directory) adds or renames
 * an entry in it, so the listing is the whole of it, and the tree root then removes
 * (scratch-dir.ts) or reads holds nothing the user may swap. Changed after, a directory the
 * build made 0777 stayed open to the user's process, root's or not.
 */
export async function takeScratchBack(work: string, lent: string, stage: string, user: RunAs, readLater: readonly string[] = []): Promise<Map<string, string>> {
  await chmod(work, 0o700);
  const odd: Array<{ file: string; words: string }> = [];
  const unsafeToRead = new Map<string, string>();
  const judge = async (file: string, at: string, st: Stats) => {
    const words = await strangerWords(st, at, user);
    if (words === null) return;
    if (isInside(file, stage)) odd.push({ file, words });
    if (readLater.includes(file)) unsafeToRead.set(file, words);
  };
  const walk = async (dir: FileHandle, dirPath: string): Promise<void> => {
    try {
      await dir.chown(ROOT.uid, ROOT.gid);
      await dir.chmod((await dir.stat()).mode & 0o7777 & ~0o022);
      for (const name of await readdir(inDirectory(dir, '.'))) {
        const at = inDirectory(dir, name);
        const file = path.join(dirPath, name);
        // A link swapped in for a directory before the listing is refused here (ELOOP), never followed.
        const sub = await openDirectoryNoFollow(at).catch(unless(['ELOOP', 'ENOTDIR', 'ENOENT']));
        if (sub !== null) {
          await walk(sub, file);
          continue;
        }
        const judged: Stats[] = [];
        // One of several names is left as it is: chowned, it would be root's under its other names too, outside.
        await chownIfNoFollow(at, ROOT, (st) => {
          judged.push(st);
          return !st.isDirectory() && st.uid === user.uid && st.nlink === 1;
        }).catch(unless(['ENOENT']));
        if (judged.length > 0) await judge(file, at, judged[0]);
        // Gone since the listing: only a process of the user's still working in there removes anything now.
        else if (isInside(file, stage)) odd.push({ file, words: `gone as it was taken back (a process of ${user.user}'s still works there)` });
      }
    } finally {
      await dir.close();
    }
  };
  await walk(await openDirectoryNoFollow(lent), lent);
  if (odd.length === 0) return unsafeToRead;
  const found = odd.slice(0, 3).map(({ file, words }) => `${path.relative(stage, file) || '.'}, ${words}`);
  const more = odd.length > 3 ? ` and ${odd.length - 3} more` : '';
  throw new GatewayError('APPPKG_VENDOR_STAGE_UNSAFE', { found: `${found.join(', ')}${more}`, user: user.user });
}

/** Why what `st` says is at `at` is not a regular file of `user`'s with one name, all pip makes; null when it is. */
async function strangerWords(st: Stats, at: string, user: RunAs): Promise<string | null> {
  if (st.isSymbolicLink()) return symlinkWords(at);
  if (!st.isFile()) return kindOf(st);
  if (st.uid !== user.uid) return `a file of ${findUser(String(st.uid))?.user ?? `uid ${st.uid}`}, not ${user.user}'s (a hard link)`;
  if (st.nlink > 1) return `a hard link (a file with ${st.nlink} names)`;
  return null;
}

const ROOT = { uid: 0, gid: 0 };

/** A rejection handler: null for an error of one of `codes`, else the error thrown again. */
function unless(codes: readonly string[]) {
  return (err: NodeJS.ErrnoException): null => {
    if (codes.includes(err.code ?? '')) return null;
    throw err;
  };
}
