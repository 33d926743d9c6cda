// `apppkg-backup.json`: what lets `restore` recognise a backup that `backup` wrote (no hook),
// and refuse an empty directory or another app's. Written last, so a backup cut short has none.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DatabaseSnapshot } from '../services/database-backup.js';
import type { RedisSnapshot } from '../services/redis-backup.js';

export const MANIFEST_FILE = 'apppkg-backup.json';
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
  /** Written by commands.backup (then files/bytes are 0: the hook's files are its own). */
  hook?: boolean;
}

export function makeManifest(fields: Omit<BackupManifest, 'format' | 'createdAt'>): BackupManifest {
  return { format: FORMAT, ...fields, createdAt: new Date().toISOString() };
}

/** The manifest in `dir`; null when there is none or it is not ours. */
export async function readManifest(dir: string): Promise<BackupManifest | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    return null;
  }
  try {
    const m = JSON.parse(text) as BackupManifest;
    return m && m.format === FORMAT && typeof m.app === 'string' ? m : null;
  } catch {
    return null;
  }
}

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  const temp = path.join(dir, `.${MANIFEST_FILE}.tmp`);
  await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  await rename(temp, path.join(dir, MANIFEST_FILE));
}
