// The key a root gateway without --admin-token keeps in its state root (STATE/admin.key, 0600,
// root's), so that root's own `apppkg-gateway logs|restart|rollback|status` on this host is served
// as supervisorctl and docker serve root through a root-only file, while the apps' processes (which
// reach a loopback port as well as root does, but cannot read the file) still are not (SPEC 5.4,
// docs/admin.md "Who may do what"). New at every start, so a copy taken from an old one is worth
// nothing; removed at stop, as admin.address is.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { recordRunFile } from './run-file.js';

export const ADMIN_KEY_FILE = 'admin.key';

export function adminKeyFile(root: string): string {
  return path.join(root, ADMIN_KEY_FILE);
}

export interface AdminKeyRecord {
  key: string;
  file: string;
  remove(): Promise<void>;
}

/**
 * A fresh key (32 random bytes, hex) written to the state root, whole or not at all: the
 * temporary file is made 0600, so no app's user ever reads it, even between write and rename.
 */
export async function recordAdminKey(root: string): Promise<AdminKeyRecord> {
  const file = adminKeyFile(root);
  const key = randomBytes(32).toString('hex');
  const content = `${key}\n`;
  const record = await recordRunFile(file, content, 0o600);
  return { key, file, remove: () => record.remove() };
}

/** Removes what a gateway that crashed left (the root's lock is ours now: nobody else's can be there). */
export async function forgetAdminKey(root: string): Promise<void> {
  await unlink(adminKeyFile(root)).catch(() => {});
}

/**
 * The key in the state root, or null when this user cannot read one (none written, not root):
 * the CLI then sends none, and a refusal says what it would have said without the file.
 */
export function readAdminKey(root: string): string | null {
  try {
    const key = readFileSync(adminKeyFile(root), 'utf8').trim();
    return /^[0-9a-f]{64}$/.test(key) ? key : null;
  } catch {
    return null;
  }
}
