// What root looks at in an app's virtualenv, which is the app's user's when a root gateway or
// install builds it as that user (install-venv.ts): whether it is one, and made from the
// interpreter it is judged for. access(2) and realpath(3) of its bin/python and of pyvenv.cfg's
// `home` followed whatever links the user left there, and answered, for root, whether a path the
// user may not search (/root/...) held an executable: check's pip line said "venv" or not by it.
// Now nothing under the venv is followed: its directories are looked at with lstat, and a link
// is followed only within its bin/ (python -> python3) or, out of it, to the interpreter, whose
// directory alone is looked into. pyvenv.cfg is read by readRegularFile (no-follow.ts).
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Interpreter } from './interpreter-probe.js';

/** How many links bin/python may go through within bin/ (python -> python3 -> python3.11). */
const MAX_LINKS_IN_BIN = 8;

/** Whether each of `parts` below `dir` is a directory itself, none a link (`dir` itself may be one: the venv link, which we made). */
export async function isDirectoryPath(dir: string, parts: string[]): Promise<boolean> {
  let at = dir;
  for (const part of parts) {
    at = path.join(at, part);
    if (!(await lstat(at).then((st) => st.isDirectory(), () => false))) return false;
  }
  return true;
}

/**
 * Whether the venv `dir`'s bin/python runs `interpreter`: an executable file in bin/ (a venv made
 * with --copies), or links within bin/ ending at one to the interpreter, named as it was named or
 * as any other name of its directory that leads to the same file (python3 -> /usr/bin/python3.11).
 */
export async function venvPythonIs(dir: string, interpreter: Interpreter): Promise<boolean> {
  const bin = path.join(dir, 'bin');
  if (!(await isDirectoryPath(dir, ['bin']))) return false;
  let at = path.join(bin, 'python');
  for (let links = 0; links <= MAX_LINKS_IN_BIN; links++) {
    const st = await lstat(at).catch(() => null);
    if (st === null) return false;
    if (st.isFile()) return (st.mode & 0o111) !== 0;
    if (!st.isSymbolicLink()) return false;
    const target = path.resolve(bin, await readlink(at));
    if (path.dirname(target) !== bin) return isInterpreter(target, interpreter);
    at = target;
  }
  return false;
}

/** Whether pyvenv.cfg's `home` is the interpreter's directory, as named or as it really is: compared, never resolved. */
export async function homeIs(home: string, interpreter: Interpreter): Promise<boolean> {
  return (await interpreterDirs(interpreter)).has(path.resolve(home));
}

/** `file` (a path out of a venv's bin/) is `interpreter` when it lies in the interpreter's directory and leads to the same file. */
async function isInterpreter(file: string, interpreter: Interpreter): Promise<boolean> {
  if (file === interpreter.executable) return true;
  // Only the interpreter's directory is looked into (root's, as a rule): not where the user points.
  if (!(await interpreterDirs(interpreter)).has(path.dirname(file))) return false;
  const [real, wanted] = await Promise.all([realpath(file).catch(() => null), realpath(interpreter.executable).catch(() => null)]);
  return real !== null && real === wanted;
}

async function interpreterDirs(interpreter: Interpreter): Promise<Set<string>> {
  const named = path.dirname(interpreter.executable);
  const dirs = new Set([named]);
  const real = await realpath(interpreter.executable).catch(() => null);
  if (real !== null) dirs.add(path.dirname(real));
  const realDir = await realpath(named).catch(() => null);
  if (realDir !== null) dirs.add(realDir);
  return dirs;
}
