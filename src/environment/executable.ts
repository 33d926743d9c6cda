// Finding a program as a shell does: an executable regular file, by path or on a list of
// directories in order, and the interpreter its `#!` line names, which the kernel needs in turn.
// Interpreter discovery looks for `python3` this way, `check` for the program each process and
// hook runs.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { userHas, type FileReader } from './user-readable.js';

const EXECUTE = 1;

/**
 * How a runner's right to execute a file is judged. `mode`: by the file's mode bits for its uid
 * and gid, no process (check, before anything ran). `kernel`: asked of the kernel as that user
 * (runnerRefusal), so that an ACL entry that grants or denies, a directory on the way it may not
 * search, or a noexec mount count as for its processes: a process per file, for a command that
 * already exited 126 or 127.
 */
export type ExecuteJudge = 'mode' | 'kernel';

/**
 * `file` is a regular file (symlinks followed) that this process may execute, or, given
 * `runner`, that user (an app's `user:`, whose processes run it): root may run a file with any
 * x bit, the app's user only by the rights it has (a root-owned 0744 script is Permission
 * denied), as `judge` tells them.
 */
export async function isExecutableFile(file: string, runner?: FileReader | null, judge: ExecuteJudge = 'mode'): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    const st = await stat(file);
    if (!st.isFile() || runner == null) return st.isFile();
    if (judge === 'kernel' && runner.uid !== process.getuid?.()) {
      const refused = await runnerRefusal(file, runner).catch(() => undefined);
      if (refused !== undefined) return refused === null;
    }
    return userHas(st, runner, EXECUTE);
  } catch {
    return false;
  }
}

/** The first `dir/name` of `dirs` that is an executable file (for `runner`, as isExecutableFile); null when none is. */
export async function which(name: string, dirs: string[], runner?: FileReader | null, judge: ExecuteJudge = 'mode'): Promise<string | null> {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (await isExecutableFile(file, runner, judge)) return file;
  }
  return null;
}

/**
 * Asks `test -x` of each path in turn, printing the first one refused. coreutils' test asks the
 * kernel (access(2)); a shell's own builtin may read the mode bits (dash built without
 * faccessat), which an ACL entry contradicts.
 */
const FIRST_REFUSED = 'for p; do /usr/bin/test -x "$p" || { printf "%s" "$p"; exit 0; }; done';
/** A bound on that process: a hung NFS directory on the way must not hold a diagnosis for ever. */
const ASK_TIMEOUT_MS = 5000;

/**
 * Where the kernel refuses `runner` the execution of `file`: the first directory on its way
 * that the user may not search, or the file itself (its mode, an ACL entry, a noexec mount);
 * null when the user may execute it. Asked by `test -x` run with the runner's uid and gid and
 * no supplementary groups, as libuv spawns the app's processes (setgroups(0)); rejects when the
 * question cannot be asked (we are not root: EPERM), for the caller to judge by the mode bits.
 */
export async function runnerRefusal(file: string, runner: FileReader): Promise<string | null> {
  const absolute = path.resolve(file);
  const dirs: string[] = [];
  for (let dir = path.dirname(absolute); ; dir = path.dirname(dir)) {
    dirs.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', FIRST_REFUSED, 'sh', ...dirs, absolute], { uid: runner.uid, gid: runner.gid, env: { PATH: '/usr/bin:/bin' }, cwd: '/', timeout: ASK_TIMEOUT_MS }, (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout === '' ? null : stdout);
    });
  });
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
