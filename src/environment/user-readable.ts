// Reading, as a root gateway, a file an app names (its `pip:` requirements and their -r/-c
// includes, pip's log in the venv the app's user wrote): root reads anything, so a line of
// `-r /etc/shadow` came back in check's notes and the app's log. A file is read only when the
// app's user could read it itself: the mode bits of the opened file (its fstat, so a symlink
// swapped after the look changes nothing) for that user's uid and primary group, and the search bit of
// every directory on the way to it, judged before root looks below it: a root open first said
// "missing" of an absent file under a root-only directory and "cannot read it" of a present one,
// which told the app's user what root's directories hold. No file content is in the refusal.
// readable-by.ts asks the same of app.yaml with these rules.
import { open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import path from 'node:path';
import { inDirectory, kindOf, O_PATH } from '../no-follow.js';
import { findUser } from './run-as.js';

/** The user whose rights a read is held to (RunAs has these). */
export interface FileReader {
  user: string;
  uid: number;
  gid: number;
}

/** Refused because `reader` could not read `file`: `code` EACCES, as the kernel would say it. */
export class UserCannotRead extends Error {
  readonly code = 'EACCES';
  constructor(
    readonly file: string,
    readonly reader: FileReader,
    why: string,
  ) {
    super(`the app's user, ${reader.user}, cannot read it (${why})`);
  }
}

/**
 * Whether `reader` has `bits` (4 read, 1 search) on a file of this stat: owner, else group, else
 * other. Its primary group alone: what we spawn as a user (pip, the app) runs without the
 * supplementary groups of /etc/group (libuv's setgroups(0) before setgid), so they grant nothing.
 */
export function userHas(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, reader: FileReader, bits: number): boolean {
  if (reader.uid === 0) return true;
  const shift = st.uid === reader.uid ? 6 : st.gid === reader.gid ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}

/** "mode 0640, owner root, gid 42": what a refusal says of the file, none of its content. */
export function describeMode(st: Pick<Stats, 'uid' | 'gid' | 'mode'>): string {
  return `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner ${findUser(String(st.uid))?.user ?? st.uid}, gid ${st.gid}`;
}

/**
 * The bytes of `file` (resolved from the working directory) if `reader` could read it; throws
 * UserCannotRead if not, or what open/read throws (ENOENT). `reader` null: read as we are.
 */
export async function readFileAsUserCould(file: string, reader: FileReader | null): Promise<Buffer> {
  const absolute = path.resolve(file);
  // Not waited on: a FIFO named by `pip:` (or put where an include was) held check, install and
  // the gateway's venv judge at open(2) for ever.
  const handle = await openAsUserCould(absolute, reader, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${absolute} is ${kindOf(st)}, not a regular file`), { code: 'EINVAL', path: absolute });
    if (reader !== null && !userHas(st, reader, 4)) throw new UserCannotRead(absolute, reader, describeMode(st));
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * The names in the directory `dir` (resolved from the working directory) if `reader` could list
 * it (read and search on it, search on every directory above it); throws UserCannotRead if not,
 * or what open throws (ENOENT, ENOTDIR). As root, a listing of any directory a file names (a
 * requirement's `../../root/keys/x.whl`) told whether root's own files were there. `reader` null:
 * listed as we are.
 */
export async function readDirectoryAsUserCould(dir: string, reader: FileReader | null): Promise<string[]> {
  const absolute = path.resolve(dir);
  const handle = await openAsUserCould(absolute, reader, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    if (reader !== null) {
      const st = await handle.stat();
      if (!userHas(st, reader, 5)) throw new UserCannotRead(absolute, reader, describeMode(st));
    }
    return await readdir(inDirectory(handle, '.'));
  } finally {
    await handle.close();
  }
}

/** Linux's MAXSYMLINKS: links followed in one resolution before ELOOP, as the kernel counts them. */
const MAX_LINKS = 40;

/**
 * `absolute` opened with `flags`, resolved as the kernel would resolve it for `reader`: from `/`
 * down, one name at a time, each directory held by descriptor and its search bit judged before
 * anything in it is looked at, a link's target resolved the same way from where it is. So the
 * first directory the user could not search refuses (UserCannotRead) whatever lies below it,
 * there or not, and a directory renamed or swapped for a link meanwhile is not the one read
 * through. Errors are the kernel's (ENOENT, ENOTDIR, ELOOP), for `absolute`. `reader` null or
 * root: opened by name, as we are.
 */
async function openAsUserCould(absolute: string, reader: FileReader | null, flags: number): Promise<FileHandle> {
  if (reader === null || reader.uid === 0) return open(absolute, flags);
  const pending = absolute.split('/').filter(Boolean);
  let current = await open('/', O_PATH | constants.O_DIRECTORY);
  let currentName = '/';
  let links = 0;
  const moveTo = async (next: FileHandle, name: string) => {
    await current.close();
    current = next;
    currentName = name;
  };
  try {
    for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
      const st = await current.stat();
      if (!st.isDirectory()) throw kernelError('ENOTDIR', 'not a directory', absolute);
      if (!userHas(st, reader, 1)) throw new UserCannotRead(absolute, reader, `no search permission on ${currentName}: ${describeMode(st)}`);
      if (name === '.') continue;
      const at = inDirectory(current, name);
      const next = await open(at, O_PATH | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
        throw kernelError(err.code ?? 'EIO', err.message.replace(/^\w+: ([^,]*),.*$/s, '$1'), absolute);
      });
      const nextStat = await next.stat().catch(async (err: unknown) => {
        await next.close();
        throw err;
      });
      if (!nextStat.isSymbolicLink()) {
        await moveTo(next, name === '..' ? path.dirname(currentName) : path.join(currentName, name));
        continue;
      }
      await next.close();
      if (++links > MAX_LINKS) throw kernelError('ELOOP', 'too many symbolic links encountered', absolute);
      const target = await readlink(at);
      pending.unshift(...target.split('/').filter(Boolean));
      if (target.startsWith('/')) await moveTo(await open('/', O_PATH | constants.O_DIRECTORY), '/');
    }
    // Reopened through the descriptor: the file resolved, not whatever its name now holds.
    return await open(`/proc/self/fd/${current.fd}`, flags);
  } finally {
    await current.close();
  }
}

/** An error as open(2) gives it (`ENOENT: no such file or directory, open '/x'`), naming `file`, not the /proc path it was reached by. */
function kernelError(code: string, words: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${words}, open '${file}'`), { code, syscall: 'open', path: file });
}
