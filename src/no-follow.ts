// Opening what lies in a directory another user may write in (an app's data directory, a
// backup directory a hook wrote as the app's user), as root, so that nothing that user puts
// there, before or while we look, makes root read or write another file: the last name is
// never followed (O_NOFOLLOW), never waited on (O_NONBLOCK: a FIFO), and checked for what it is
// on the descriptor (fstat), not by a look at the path beforehand, which a swap outruns. The
// directories above it are held by descriptor too: `/proc/self/fd/N/name` is resolved from the
// directory N was opened on, as openat(2) would, whatever has since been renamed into its place.
import { closeSync, constants, openSync, readdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { chown, open, readdir, readlink, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** A name of `dir` as the kernel resolves it from the directory `dir` holds open. */
export function inDirectory(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** `file`, a directory, opened to be looked into by inDirectory; a symlink at its name is refused (ELOOP, ENOTDIR). */
export function openDirectoryNoFollow(file: string): Promise<FileHandle> {
  return open(file, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
}

/** What `st` is, in the words of an error: "a symlink", "a FIFO". */
export function kindOf(st: Pick<Stats, 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isSocket'>): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/** A symlink at `file`, in the words of an error, with where it leads: "a symlink (to /etc/shadow)". */
export async function symlinkWords(file: string): Promise<string> {
  return `a symlink (to ${await readlink(file).catch(() => '?')})`;
}

/**
 * The regular file at `file` opened for reading, with its stats; else an error (code ELOOP,
 * EISDIR or EINVAL) whose message says what is there instead ("a symlink (to /etc/shadow)").
 */
export async function openRegularFile(file: string): Promise<{ handle: FileHandle; stats: Stats }> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    const found = await symlinkWords(file);
    throw Object.assign(new Error(`${file} is ${found}, not a regular file`), { code: 'ELOOP', path: file, found });
  }
  const stats = await handle.stat().catch(async (err: unknown) => {
    await handle.close();
    throw err;
  });
  if (stats.isFile()) return { handle, stats };
  await handle.close();
  const found = kindOf(stats);
  throw Object.assign(new Error(`${file} is ${found}, not a regular file`), { code: stats.isDirectory() ? 'EISDIR' : 'EINVAL', path: file, found });
}

/**
 * The text of the regular file at `file` (openRegularFile: never followed, never waited on), up
 * to `maxBytes`; a larger one is refused (EFBIG) unread, as a sparse file of gigabytes would be
 * held whole.
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<string> {
  const { handle, stats } = await openRegularFile(file);
  try {
    if (stats.size > maxBytes) throw Object.assign(new Error(`${file} is ${stats.size} bytes, more than ${maxBytes}`), { code: 'EFBIG', path: file });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Linux's O_PATH (asm-generic), which fs.constants lacks: a descriptor of the name's file that opens nothing. */
export const O_PATH = 0o10000000;

/**
 * The file at `file`, not followed (a symlink is the link itself), given to `owner` if its stats
 * pass `wanted`: both on one descriptor, so the file judged is the file chowned, whatever is
 * renamed or hard-linked to its name meanwhile (an lstat then an lchown by name chowned what
 * was swapped in between). O_PATH opens nothing: a FIFO is not waited on, a device not woken.
 * True when chowned.
 */
export async function chownIfNoFollow(file: string, owner: { uid: number; gid: number }, wanted: (st: Stats) => boolean): Promise<boolean> {
  const handle = await open(file, O_PATH | constants.O_NOFOLLOW);
  try {
    if (!wanted(await handle.stat())) return false;
    // fchown refuses an O_PATH descriptor; chown of its /proc link reaches the file it holds (the link itself, for a symlink).
    await chown(`/proc/self/fd/${handle.fd}`, owner.uid, owner.gid);
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * The entry `name` of `dir` removed, with all it holds when it is a directory, each directory
 * opened from the one above (a link is unlinked, never followed); gone already is done.
 */
export async function removeInDirectory(dir: FileHandle, name: string): Promise<void> {
  const at = inDirectory(dir, name);
  const unlinked = await unlink(at).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return true;
      if (err.code === 'EISDIR' || err.code === 'EPERM') return false;
      throw err;
    },
  );
  if (unlinked) return;
  const sub = await openDirectoryNoFollow(at);
  try {
    for (const entry of await readdir(inDirectory(sub, '.'))) await removeInDirectory(sub, entry);
  } finally {
    await sub.close();
  }
  await rmdir(at).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * The directory `dir` removed with all it holds, as removeInDirectory removes an entry: by
 * descriptor, no link followed. By path (rm -r), a process of another user's that may still
 * write in the tree swapped a directory for a link between root's listing and its unlinks, and
 * root removed what the link led to. The directory above is ours, reached as its path says.
 */
export async function removeTree(dir: string): Promise<void> {
  const above = await open(path.dirname(dir), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await removeInDirectory(above, path.basename(dir));
  } finally {
    await above.close();
  }
}

/** removeTree, synchronous: for a signal's handler, after which the process ends before a promise settles. */
export function removeTreeSync(dir: string): void {
  const above = openSync(path.dirname(dir), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    removeInDirectorySync(above, path.basename(dir));
  } finally {
    closeSync(above);
  }
}

function removeInDirectorySync(dirFd: number, name: string): void {
  const at = `/proc/self/fd/${dirFd}/${name}`;
  try {
    unlinkSync(at);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'EISDIR' && code !== 'EPERM') throw err;
  }
  const sub = openSync(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    for (const entry of readdirSync(`/proc/self/fd/${sub}/`)) removeInDirectorySync(sub, entry);
  } finally {
    closeSync(sub);
  }
  try {
    rmdirSync(at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** A new file at `file` (O_EXCL, hence never through a symlink at its name), for writing. */
export function createNewFile(file: string, mode: number): Promise<FileHandle> {
  return open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
}

/** The rest of what `from` holds written to `to`, descriptor to descriptor (neither reopened by a name). */
export async function copyContent(from: FileHandle, to: FileHandle): Promise<void> {
  const buffer = Buffer.allocUnsafe(COPY_CHUNK);
  for (;;) {
    const { bytesRead } = await from.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) return;
    await to.write(buffer, 0, bytesRead);
  }
}

const COPY_CHUNK = 1 << 20;
