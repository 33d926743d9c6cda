// Makes the vendor directory hold what was staged (issue 19), touching only what differs: an
// unchanged file keeps its bytes and mtime (a commit or `--apps` sees no change), a file the
// previous manifest owned and the new tree lacks is removed (a requirement dropped), a file
// nobody vendored (a README the user put there) is left and reported. __pycache__ directories
// go: Python rebuilds them, and they must not be committed. The manifest is written last, so a
// vendor interrupted midway leaves the old manifest over changed files, which `check` reports.
import { chmod, copyFile, lstat, mkdir, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_NAME } from './vendor-manifest.js';
import { makeDirectory } from '../make-dir.js';

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

async function removePycache(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const sub = path.join(dir, e.name);
    if (e.name === '__pycache__') await rm(sub, { recursive: true, force: true });
    else await removePycache(sub);
  }
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([readFile(a), readFile(b)]);
    return x.equals(y);
  } catch {
    return false;
  }
}

/** Directories under `root` left empty, deepest first, removed (root itself stays). */
async function removeEmptyDirs(root: string): Promise<void> {
  const visit = async (dir: string): Promise<boolean> => {
    const entries = await readdir(dir, { withFileTypes: true });
    let empty = true;
    for (const e of entries) {
      if (e.isDirectory() && (await visit(path.join(dir, e.name)))) await rmdir(path.join(dir, e.name));
      else empty = false;
    }
    return empty;
  };
  await visit(root);
}

/**
 * Make `target` hold `stage`'s files. `owned`: the files the previous manifest listed (removed
 * when the stage lacks them); anything else the stage lacks is foreign and kept.
 */
export async function syncTree(stage: string, target: string, owned: Set<string>): Promise<SyncResult> {
  await makeDirectory(target);
  await removePycache(target);
  const wanted = await listFiles(stage);
  const wantedSet = new Set(wanted);
  const result: SyncResult = { added: [], changed: [], removed: [], foreign: [] };
  for (const file of await listFiles(target)) {
    if (wantedSet.has(file)) continue;
    if (owned.has(file) || file === MANIFEST_NAME) {
      await rm(path.join(target, file), { force: true });
      result.removed.push(file);
    } else result.foreign.push(file);
  }
  // The manifest last: until it is written, the old one (if any) still describes what it owned.
  const ordered = [...wanted.filter((f) => f !== MANIFEST_NAME), ...wanted.filter((f) => f === MANIFEST_NAME)];
  for (const file of ordered) {
    const from = path.join(stage, file);
    const to = path.join(target, file);
    // One mode per kind, whatever the umask of whoever vendored: 0755 for what pip or we made executable.
    const mode = ((await lstat(from)).mode & 0o111) !== 0 ? 0o755 : 0o644;
    let existing: Awaited<ReturnType<typeof lstat>> | null = null;
    try {
      existing = await lstat(to);
    } catch {
      existing = null;
    }
    if (existing?.isFile() && (await sameBytes(from, to))) {
      if ((existing.mode & 0o777) !== mode) await chmod(to, mode);
      continue;
    }
    if (existing && !existing.isFile()) await rm(to, { recursive: true, force: true });
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(from, to);
    await chmod(to, mode);
    (existing ? result.changed : result.added).push(file);
  }
  await removeEmptyDirs(target);
  await openDirectories(target, wanted);
  return result;
}

/**
 * The directories holding `files` (and `target` itself) made 0755, as the files are made 0644
 * or 0755: under `umask 077` they would be 0700, and an app run as another user than whoever
 * vendored (`user:` in the environment file) could not import what lies in them.
 */
async function openDirectories(target: string, files: string[]): Promise<void> {
  const dirs = new Set<string>([target]);
  for (const file of files) {
    for (let dir = path.dirname(file); dir !== '.'; dir = path.dirname(dir)) dirs.add(path.join(target, dir));
  }
  for (const dir of dirs) {
    if (((await lstat(dir)).mode & 0o777) !== 0o755) await chmod(dir, 0o755);
  }
}
