// Reading, as a root gateway, a file an app names (its `pip:` requirements and their -r/-c
// includes, pip's log in the venv the app's user wrote): root reads anything, so a line of
// `-r /etc/shadow` came back in check's notes and the app's log. A file is read only when the
// app's user could read it itself: the mode bits of the opened file (its fstat, so a symlink
// swapped after the look changes nothing) for that user's uid and primary group, and the search bit of
// every directory above it. No file content is in the refusal. readable-by.ts asks the same of
// app.yaml with these rules.
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import path from 'node:path';
import { inDirectory, kindOf } from '../no-follow.js';
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
  const handle = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${absolute} is ${kindOf(st)}, not a regular file`), { code: 'EINVAL', path: absolute });
    if (reader === null || reader.uid === 0) return await handle.readFile();
    if (!userHas(st, reader, 4)) throw new UserCannotRead(absolute, reader, describeMode(st));
    await assertSearchableAbove(absolute, reader);
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
  const handle = await open(absolute, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    if (reader !== null && reader.uid !== 0) {
      const st = await handle.stat();
      if (!userHas(st, reader, 5)) throw new UserCannotRead(absolute, reader, describeMode(st));
      await assertSearchableAbove(absolute, reader);
    }
    return await readdir(inDirectory(handle, '.'));
  } finally {
    await handle.close();
  }
}

/** Throws UserCannotRead unless `reader` may search each directory above `absolute`, as named and where it leads: the user goes through both. */
async function assertSearchableAbove(absolute: string, reader: FileReader): Promise<void> {
  const real = await realpath(absolute);
  for (const start of new Set([path.dirname(absolute), path.dirname(real)])) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const dirStat = await stat(dir);
      if (!userHas(dirStat, reader, 1)) throw new UserCannotRead(absolute, reader, `no search permission on ${dir}: ${describeMode(dirStat)}`);
      if (dir === path.dirname(dir)) break;
    }
  }
}
