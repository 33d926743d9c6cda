// Finding a program as a shell does: an executable regular file, by path or on a list of
// directories in order, and the interpreter its `#!` line names, which the kernel needs in turn.
// Interpreter discovery looks for `python3` this way, `check` for the program each process and
// hook runs.
import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { userHas, type FileReader } from './user-readable.js';

const EXECUTE = 1;

/**
 * `file` is a regular file (symlinks followed) that this process may execute, or, given
 * `runner`, that user (an app's `user:`, whose processes run it): root may run a file with any
 * x bit, the app's user only by the bits it has (a root-owned 0744 script is Permission denied).
 */
export async function isExecutableFile(file: string, runner?: FileReader | null): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    const st = await stat(file);
    return st.isFile() && (runner == null || userHas(st, runner, EXECUTE));
  } catch {
    return false;
  }
}

/** The first `dir/name` of `dirs` that is an executable file (for `runner`, as isExecutableFile); null when none is. */
export async function which(name: string, dirs: string[], runner?: FileReader | null): Promise<string | null> {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (await isExecutableFile(file, runner)) return file;
  }
  return null;
}

/**
 * What the `#!` line of `file` runs: its interpreter and the first word after it (`env`'s
 * program in `#!/usr/bin/env python3`), or null when the file has no `#!` line or cannot be read.
 */
export async function shebang(file: string): Promise<{ interpreter: string; argument: string | null } | null> {
  try {
    const handle = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(256), 0, 256, 0);
      const line = buffer.subarray(0, bytesRead).toString('latin1').split('\n')[0];
      if (!line.startsWith('#!')) return null;
      const [interpreter, argument] = line.slice(2).trim().split(/\s+/);
      return interpreter ? { interpreter, argument: argument || null } : null;
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}
