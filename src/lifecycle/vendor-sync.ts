// Makes the vendor directory hold what was staged (issue 19), touching only what differs: an
// unchanged file keeps its bytes and mtime (a commit or `--apps` sees no change), a file the
// previous manifest owned and the new tree lacks is removed (a requirement dropped), a file
// nobody vendored (a README the user put there) is left and reported. __pycache__ directories
// go: Python rebuilds them, and they must not be committed. The manifest is written last, so a
// vendor interrupted midway leaves the old manifest over changed files, which `check` reports.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rename, rmdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../environment/state-root.js';
import { GatewayError } from '../errors.js';
import { createNewFile, inDirectory, kindOf, openDirectoryNoFollow, removeInDirectory, symlinkWords } from '../no-follow.js';
import { MANIFEST_NAME } from './vendor-manifest.js';

export interface SyncResult {
  added: string[];
  changed: string[];
  removed: string[];
  /** Files in the vendor directory that no manifest owns, left where they are. */
  foreign: string[];
}

/** Every regular file under `root`, relative, "/"-separated, sorted; `skipDir` names are not entered. */
export async function listFiles(root: string, skipDir: (name: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!skipDir(e.name)) await walk(path.join(dir, e.name), rel);
      } else out.push(rel);
    }
  };
  await walk(root, '');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Make `target` (`into`, below `appDir`) hold `stage`'s files, as `owner` when given (root
 * vendoring for an app's user: what it writes is that user's, as the rest of the app is).
 * `owned`: the files the previous manifest listed (removed when the stage lacks them); anything
 * else the stage lacks is foreign and kept.
 *
 * The vendor directory is the app's user's, who may put links in it, or swap one in while this
 * runs: written by path, root followed them (a `vendor/pkg` linked to /etc had root's files
 * written and chmodded there). So every directory is opened from the one above it, never through
 * a symlink (no-follow.ts), and each file is written new (O_EXCL) beside its name and renamed
 * onto it: a link at a file's or a directory's name is replaced, not followed; one at `into` or
 * above it is refused (APPPKG_VENDOR_INTO_LINK). A file is kept unchanged only if it is `owner`'s
 * (ours, without one): another's, a hard link to a file of root's among them, is not read.
 */
export async function syncTree(stage: string, appDir: string, into: string, owned: Set<string>, owner?: Owner): Promise<SyncResult> {
  const writer = new HeldTree(await openVendorDir(appDir, into, owner), owner);
  try {
    return await writer.sync(stage, owned);
  } finally {
    await writer.close();
  }
}

/** `into` (relative to `appDir`), each directory opened from the one above and made when missing; a link on the way refused. */
async function openVendorDir(appDir: string, into: string, owner: Owner | undefined): Promise<FileHandle> {
  let held = await open(appDir, constants.O_RDONLY | constants.O_DIRECTORY);
  let at = appDir;
  try {
    for (const part of into.split(path.sep).filter((p) => p !== '' && p !== '.')) {
      at = path.join(at, part);
      const next = await openOrMakeDirectory(held, part, owner).catch(async (err: NodeJS.ErrnoException) => {
        throw await notADirectory(err, held, part, into, at);
      });
      await held.close();
      held = next;
    }
    return held;
  } catch (err) {
    await held.close();
    throw err;
  }
}

/**
 * Refuses what syncTree would: a link or a file at `into` (relative to `appDir`) or at a
 * directory above it (APPPKG_VENDOR_INTO_LINK), for vendor to say before pip runs, which was
 * minutes of downloads and builds thrown away. Makes nothing: what is missing, syncTree makes.
 */
export async function assertVendorDirPath(appDir: string, into: string): Promise<void> {
  let held = await open(appDir, constants.O_RDONLY | constants.O_DIRECTORY);
  let at = appDir;
  try {
    for (const part of into.split(path.sep).filter((p) => p !== '' && p !== '.')) {
      at = path.join(at, part);
      const next = await openDirectoryNoFollow(inDirectory(held, part)).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw await notADirectory(err, held, part, into, at);
      });
      if (next === null) return;
      await held.close();
      held = next;
    }
  } finally {
    await held.close();
  }
}

/** `err`, from opening `part` of `held` as a directory, as APPPKG_VENDOR_INTO_LINK saying what is there when it is a link or a file; else as it is. */
async function notADirectory(err: NodeJS.ErrnoException, held: FileHandle, part: string, into: string, at: string): Promise<Error> {
  if (err.code !== 'ELOOP' && err.code !== 'ENOTDIR') return err;
  const st = await lstat(inDirectory(held, part));
  const found = st.isSymbolicLink() ? await symlinkWords(inDirectory(held, part)) : kindOf(st);
  return new GatewayError('APPPKG_VENDOR_INTO_LINK', { into: `${into.split(path.sep).join('/')}/`, found, path: at });
}

/** The directory `name` of `dir`, opened without following a link; made (0755, `owner`'s) when missing. */
async function openOrMakeDirectory(dir: FileHandle, name: string, owner: Owner | undefined): Promise<FileHandle> {
  const at = inDirectory(dir, name);
  try {
    return await openDirectoryNoFollow(at);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(at, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const made = await openDirectoryNoFollow(at);
  await giveTo(made, owner);
  return made;
}

/** A directory or file we made given to `owner` when we are root and it is another. */
async function giveTo(handle: FileHandle, owner: Owner | undefined): Promise<void> {
  if (owner !== undefined && process.getuid?.() === 0) await handle.chown(owner.uid, owner.gid);
}

/** The vendor directory held open, with the chain of directories below it the last file was written in. */
class HeldTree {
  /** The directories from the vendor directory down to the last one entered: names and handles. */
  private chain: Array<{ name: string; handle: FileHandle }> = [];

  constructor(
    private readonly root: FileHandle,
    private readonly owner: Owner | undefined,
  ) {}

  async sync(stage: string, owned: Set<string>): Promise<SyncResult> {
    const wanted = await listFiles(stage);
    const wantedSet = new Set(wanted);
    const result: SyncResult = { added: [], changed: [], removed: [], foreign: [] };
    for (const file of await this.list()) {
      if (wantedSet.has(file)) continue;
      if (owned.has(file) || file === MANIFEST_NAME) {
        const dir = await this.enter(path.posix.dirname(file), false);
        if (dir !== null) await removeInDirectory(dir, path.posix.basename(file));
        result.removed.push(file);
      } else result.foreign.push(file);
    }
    // The manifest last: until it is written, the old one (if any) still describes what it owned.
    const ordered = [...wanted.filter((f) => f !== MANIFEST_NAME), ...wanted.filter((f) => f === MANIFEST_NAME)];
    for (const file of ordered) {
      const content = await readFile(path.join(stage, file));
      // One mode per kind, whatever the umask of whoever vendored: 0755 for what pip or we made executable.
      const mode = ((await lstat(path.join(stage, file))).mode & 0o111) !== 0 ? 0o755 : 0o644;
      const dir = (await this.enter(path.posix.dirname(file), true))!;
      const found = await this.write(dir, path.posix.basename(file), content, mode);
      if (found === 'new') result.added.push(file);
      else if (found === 'different') result.changed.push(file);
    }
    await this.leave(0);
    await removeEmptyDirs(this.root);
    await openToAll(this.root);
    return result;
  }

  /** Every file under the vendor directory (what is not a directory), relative; __pycache__ directories removed on the way. */
  private async list(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: FileHandle, prefix: string): Promise<void> => {
      for (const entry of await readdir(inDirectory(dir, '.'), { withFileTypes: true })) {
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (!entry.isDirectory()) {
          out.push(rel);
          continue;
        }
        // Python rebuilds them, and they must not be committed.
        if (entry.name === '__pycache__') {
          await removeInDirectory(dir, entry.name);
          continue;
        }
        const sub = await openDirectoryNoFollow(inDirectory(dir, entry.name)).catch(() => null);
        if (sub === null) continue;
        try {
          await walk(sub, rel);
        } finally {
          await sub.close();
        }
      }
    };
    await walk(this.root, '');
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * The directory `rel` ('.': the vendor directory), from the chain as far as it matches; each
   * directory entered made 0755 and, when we made it or an earlier vendor as root did, `owner`'s.
   * `make`: what is missing is made, and what is at a directory's name but a directory (a
   * link) replaced; else null when it is not there.
   */
  private async enter(rel: string, make: boolean): Promise<FileHandle | null> {
    const parts = rel === '.' ? [] : rel.split('/');
    let same = 0;
    while (same < parts.length && same < this.chain.length && this.chain[same].name === parts[same]) same++;
    await this.leave(same);
    for (const part of parts.slice(same)) {
      const above = this.chain.length > 0 ? this.chain[this.chain.length - 1].handle : this.root;
      let handle: FileHandle;
      try {
        handle = make ? await this.directoryAt(above, part) : await openDirectoryNoFollow(inDirectory(above, part));
      } catch (err) {
        if (!make && ['ENOENT', 'ELOOP', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return null;
        throw err;
      }
      this.chain.push({ name: part, handle });
    }
    return this.chain.length > 0 ? this.chain[this.chain.length - 1].handle : this.root;
  }

  /** The directory `name` of `above`, made if missing; a link or file in its place removed first. */
  private async directoryAt(above: FileHandle, name: string): Promise<FileHandle> {
    const handle = await openOrMakeDirectory(above, name, this.owner).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ELOOP' && err.code !== 'ENOTDIR') throw err;
      await removeInDirectory(above, name);
      return openOrMakeDirectory(above, name, this.owner);
    });
    await openToAll(handle);
    const st = await handle.stat();
    if (st.uid === process.getuid?.()) await giveTo(handle, this.owner);
    return handle;
  }

  /** The chain closed below its first `keep` directories. */
  private async leave(keep: number): Promise<void> {
    while (this.chain.length > keep) await this.chain.pop()!.handle.close();
  }

  /**
   * `content` at `name` of `dir` with `mode`: kept when a regular file of the writer's with those
   * bytes is there (its mode set), else written new beside it and renamed onto the name.
   */
  private async write(dir: FileHandle, name: string, content: Buffer, mode: number): Promise<'new' | 'same' | 'different'> {
    const at = inDirectory(dir, name);
    const writer = this.owner?.uid ?? process.getuid?.();
    const existing = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      // A symlink (ELOOP) or a socket (ENXIO) there: replaced below.
      if (err.code === 'ELOOP' || err.code === 'ENXIO') return 'other' as const;
      throw err;
    });
    const found: 'new' | 'different' = existing === null ? 'new' : 'different';
    if (existing !== null && existing !== 'other') {
      try {
        const st = await existing.stat();
        if (st.isFile() && st.uid === writer && st.size === content.length && (await existing.readFile()).equals(content)) {
          if ((st.mode & 0o777) !== mode) await existing.chmod(mode);
          return 'same';
        }
        if (st.isDirectory()) await removeInDirectory(dir, name);
      } finally {
        await existing.close();
      }
    } else if (existing === 'other') await removeInDirectory(dir, name);
    const temporary = `.${name}.vendor-${randomBytes(4).toString('hex')}`;
    const out = await createNewFile(inDirectory(dir, temporary), 0o600);
    try {
      await out.writeFile(content);
      await out.chmod(mode);
      await giveTo(out, this.owner);
    } finally {
      await out.close();
    }
    await rename(inDirectory(dir, temporary), at).catch(async (err: unknown) => {
      await removeInDirectory(dir, temporary);
      throw err;
    });
    return found;
  }

  async close(): Promise<void> {
    await this.leave(0);
    await this.root.close();
  }
}

/** Directories under `root` left empty, deepest first, removed (root itself stays). */
async function removeEmptyDirs(root: FileHandle): Promise<void> {
  const visit = async (dir: FileHandle): Promise<boolean> => {
    let empty = true;
    for (const entry of await readdir(inDirectory(dir, '.'), { withFileTypes: true })) {
      const sub = entry.isDirectory() ? await openDirectoryNoFollow(inDirectory(dir, entry.name)).catch(() => null) : null;
      if (sub === null) {
        empty = false;
        continue;
      }
      const subEmpty = await visit(sub).finally(() => sub.close());
      if (subEmpty) await rmdir(inDirectory(dir, entry.name)).catch(() => (empty = false));
      else empty = false;
    }
    return empty;
  };
  await visit(root);
}

/**
 * A directory holding vendored files made 0755, as the files are made 0644 or 0755: under
 * `umask 077` they would be 0700, and an app run as another user than whoever vendored (`user:`
 * in the environment file) could not import what lies in them.
 */
async function openToAll(dir: FileHandle): Promise<void> {
  if (((await dir.stat()).mode & 0o777) !== 0o755) await dir.chmod(0o755);
}
