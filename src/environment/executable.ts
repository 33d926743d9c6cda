// Finding a program as a shell does: an executable regular file, by path or on a list of
// directories in order. Interpreter discovery looks for `python3` this way, `check` for the
// program each process and hook runs.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';

/** `file` is a regular file (symlinks followed) that this process may execute. */
export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** The first `dir/name` of `dirs` that is an executable file; null when none is. */
export async function which(name: string, dirs: string[]): Promise<string | null> {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (await isExecutableFile(file)) return file;
  }
  return null;
}
