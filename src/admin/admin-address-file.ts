// Where a running gateway's admin listener is, kept in its state root (STATE/admin.address), so
// that `status`, `logs`, `restart`, `rollback` and `mail` given no --admin find a gateway
// started with `--admin unix:/run/apppkg-gateway/admin.sock` (the shipped unit) as they find
// one on the default address: a user of supervisorctl expects the bare command to work. Only a
// gateway that holds the state root's lock (`--apps`) writes it: serves share a root, one app
// each, and would overwrite each other's. The address alone, never the token.
import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { recordRunFile, type RunFileRecord } from './run-file.js';

export const ADMIN_ADDRESS_FILE = 'admin.address';

export function adminAddressFile(root: string): string {
  return path.join(root, ADMIN_ADDRESS_FILE);
}

/** What removes the file again: at stop, and at an exit that skipped the stop. */
export type AdminAddressRecord = RunFileRecord;

/**
 * Writes `address` (as `--admin` takes it) to the state root, whole or not at all, readable by
 * all as the root's lock is (0644): the address is no secret, the socket's mode guards it.
 */
export async function recordAdminAddress(root: string, address: string): Promise<AdminAddressRecord> {
  const file = adminAddressFile(root);
  const content = `${address}\n`;
  // A process that exits without stop() leaves no address behind that nobody answers on.
  return recordRunFile(file, content, 0o644);
}

/** Removes what a gateway that crashed left (the root's lock is ours now: nobody else's can be there). */
export async function forgetAdminAddress(root: string): Promise<void> {
  await unlink(adminAddressFile(root)).catch(() => {});
}

/**
 * What keeps the state root's file from naming an address: `denied`, this user may not read it
 * (its mode, or a directory on the way closed); `directory`, one is in its place; `other`, any
 * other error reading it. The reason is the error's code and words.
 */
export interface UnreadableAdminAddress {
  file: string;
  kind: 'denied' | 'directory' | 'other';
  reason: string;
}

/**
 * The address in the state root's file; null when there is none; what keeps it from being read
 * otherwise (the command then tries the default address, as it did before there was a file,
 * and says why the file named none when nobody answers there).
 */
export function readAdminAddress(root: string): { address: string; file: string } | UnreadableAdminAddress | null {
  const file = adminAddressFile(root);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: the state root is no directory, so no gateway wrote there.
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    const kind = code === 'EACCES' || code === 'EPERM' ? 'denied' : code === 'EISDIR' ? 'directory' : 'other';
    return { file, kind, reason: code ?? String(err) };
  }
  const address = text.split('\n', 1)[0].trim();
  return address === '' ? null : { address, file };
}
