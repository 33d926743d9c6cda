// `apppkg-backup.json`: what lets `restore` recognise a backup that `backup` wrote (by copying the
// data or by commands.backup alike), and refuse an empty directory or another app's. Written
// last, so a backup cut short has none; `apppkg-backup.unfinished` stands in for it meanwhile.
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import type { DatabaseSnapshot } from '../services/database-backup.js';
import type { RedisSnapshot } from '../services/redis-backup.js';

export const MANIFEST_FILE = 'apppkg-backup.json';
/**
 * Names the app whose backup is being written: one cut short (a failed commands.backup, a full
 * disk) is then replaced by the app's next backup into the same directory, as a finished one
 * is, instead of being refused as a directory of other things; restore refuses it, saying why.
 */
export const UNFINISHED_FILE = 'apppkg-backup.unfinished';
/** The copy of APPPKG_DATA_DIR inside a backup directory. */
export const BACKUP_DATA_DIR = 'data';
const FORMAT = 'apppkg-backup/1';

export interface BackupManifest {
  format: typeof FORMAT;
  app: string;
  /** The app's version (NAME.VERSION directory), null when it has none. */
  version: string | null;
  createdAt: string;
  files: number;
  bytes: number;
  /** The app's database (SPEC 5.2), dumped under database/; absent when it has none. */
  database?: DatabaseSnapshot;
  /** The app's Redis keys (`redis: redis`), under database/ too; absent when it has none. */
  redis?: RedisSnapshot;
  /**
   * The data's directories whose mode had group's or others' write, by path under data/ (octal):
   * the copy holds them without it (restore refuses a directory others may write in), and
   * restore gives these back. Absent when there were none.
   */
  directoryModes?: Record<string, string>;
  /** Written by commands.backup (then files/bytes are 0: the hook's files are its own). */
  hook?: boolean;
}

export function makeManifest(fields: Omit<BackupManifest, 'format' | 'createdAt'>): BackupManifest {
  return { format: FORMAT, ...fields, createdAt: new Date().toISOString() };
}

/** The manifest in `dir`; null when there is none or it is not ours. */
export async function readManifest(dir: string): Promise<BackupManifest | null> {
  const text = await readMarker(path.join(dir, MANIFEST_FILE));
  if (text === null) return null;
  try {
    const m = JSON.parse(text) as BackupManifest;
    return m && m.format === FORMAT && typeof m.app === 'string' ? m : null;
  } catch {
    return null;
  }
}

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  const temp = path.join(dir, `.${MANIFEST_FILE}.tmp`);
  await writeNewFile(temp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(temp, path.join(dir, MANIFEST_FILE));
  await rm(path.join(dir, UNFINISHED_FILE), { force: true });
}

/** Before a backup of `app` changes `dir`: the unfinished marker, then no manifest. */
export async function markUnfinished(dir: string, app: string): Promise<void> {
  await writeNewFile(path.join(dir, UNFINISHED_FILE), `${JSON.stringify({ format: FORMAT, app })}\n`);
  await rm(path.join(dir, MANIFEST_FILE), { force: true });
}

/**
 * `file` made anew (0600) in a directory commands.backup may have written as the app's user:
 * whatever is at its name goes, and O_EXCL then never opens a symlink put back there. Opened
 * through one, root wrote the manifest over the file it named (/etc/shadow).
 */
export async function writeNewFile(file: string, text: string): Promise<void> {
  await rm(file, { force: true });
  await writeFile(file, text, { mode: 0o600, flag: 'wx' });
}

/** Far above a manifest's few hundred bytes: a larger file is none of ours, and is not read whole. */
const MARKER_MAX_BYTES = 1 << 20;

/**
 * The text of the manifest or the unfinished marker at `file`, or null when that is no regular
 * file of DIR: DIR is the app's user's when commands.backup wrote it, and a FIFO its hook left
 * at the manifest's name held restore's read for ever (a symlink had root read what it named).
 * Hence not followed (O_NOFOLLOW), not waited on (O_NONBLOCK), and not read past its bound.
 */
async function readMarker(file: string): Promise<string | null> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (handle === null) return null;
  try {
    const st = await handle.stat();
    return st.isFile() && st.size <= MARKER_MAX_BYTES ? await handle.readFile('utf8') : null;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/** The app whose unfinished backup `dir` holds, or null. */
export async function unfinishedBackupOf(dir: string): Promise<string | null> {
  try {
    const marker = JSON.parse((await readMarker(path.join(dir, UNFINISHED_FILE))) ?? '') as { format?: string; app?: unknown };
    return marker.format === FORMAT && typeof marker.app === 'string' ? marker.app : null;
  } catch {
    return null;
  }
}

/**
 * The manifest of the backup of `app` in `dir`, for restore, before anything runs or changes:
 * a missing or empty directory, one without a manifest or with another app's, is refused,
 * whether commands.restore or the data copy would read it.
 */
export async function backupOf(dir: string, app: string): Promise<BackupManifest> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A file named for the directory (the backup's apppkg-backup.json, an archive of it) is no "unreadable directory".
    const found = code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'a file, not a directory' : `an unreadable directory (${code})`;
    throw new GatewayError('APPPKG_BACKUP_EMPTY', { path: dir, app, found });
  }
  if (entries.length === 0) throw new GatewayError('APPPKG_BACKUP_EMPTY', { path: dir, app, found: 'an empty directory' });
  const manifest = await readManifest(dir);
  const unfinished = manifest ? null : await unfinishedBackupOf(dir);
  if (unfinished !== null) {
    const whose = unfinished === app ? '' : ` of ${JSON.stringify(unfinished)}`;
    throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: dir, app, found: `an unfinished backup${whose} (the backup that wrote it failed or was cut short)` });
  }
  if (!manifest) {
    // Not a file: the hint's `echo ... > apppkg-backup.json` would write through it, or wait on it.
    const found = await lstat(path.join(dir, MANIFEST_FILE)).catch(() => null);
    if (found !== null && !found.isFile()) {
      const what = found.isSymbolicLink() ? 'a symlink' : found.isFIFO() ? 'a FIFO' : found.isDirectory() ? 'a directory' : 'no regular file';
      throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: dir, app, found: `an ${MANIFEST_FILE} that is ${what}, not the file backup writes` });
    }
    throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: dir, app, found: `no ${MANIFEST_FILE} (not written by apppkg-gateway backup)`, unmarked: true });
  }
  if (manifest.app !== app) throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: dir, app, found: `a backup of ${JSON.stringify(manifest.app)}` });
  return manifest;
}
