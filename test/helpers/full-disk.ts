// A full file system for tests of what a full disk does (the app log, the mail spool): a small
// tmpfs (root only) filled up by one file.
import { writeFileSync } from 'node:fs';

/**
 * Writes `file` until the file system is full: a write past its size fails with ENOSPC.
 * `bytes`: more than the file system holds.
 */
export function fill(file: string, bytes = 4 * 1024 * 1024): void {
  try {
    writeFileSync(file, Buffer.alloc(bytes));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
}
