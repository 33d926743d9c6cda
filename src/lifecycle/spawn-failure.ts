// Why a command could not be started, said as its user needs it. spawn's ENOENT alone does not
// tell a name missing from the app's PATH (the app's, not the caller's: vendor/bin and the venv
// come first) from a relative path taken from the app directory, nor from a script whose `#!`
// interpreter is not there; EACCES is a file that is not executable, or (asked of the kernel as
// the app's user) a directory on its way that user may not search, or an ACL entry's refusal.
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { shebang, which } from '../environment/executable.js';
import type { FileReader } from '../environment/user-readable.js';
import { commandProgram, programProblem } from './command-program.js';

/**
 * The GatewayError for `file` that spawn refused with `err`, run in `cwd` with `searchPath` as
 * PATH, by `runner` (the app's user; null: as we are).
 */
export async function spawnFailure(file: string, err: NodeJS.ErrnoException, cwd: string, searchPath: string, runner: FileReader | null = null): Promise<GatewayError> {
  const details = { program: file, dir: cwd, reason: err.code ?? err.message, cause: err };
  if (err.code === 'EACCES') {
    // Asked of the kernel as that user: a directory on the way it may not search, or an ACL
    // entry, is no matter of the file's x bit, which chmod's fix alone named.
    const problem = runner === null ? null : await programProblem(file, cwd, searchPath, runner, 'kernel').catch(() => null);
    if (problem?.why === 'mode') return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, ...problem, reason: notExecutableReason(problem, runner!.user) });
    return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'mode' });
  }
  if (err.code !== 'ENOENT') return new GatewayError('APPPKG_COMMAND_NOT_STARTED', details);
  const dirs = searchPath.split(path.delimiter).filter(Boolean);
  const found = file.includes('/') ? path.resolve(cwd, file) : await which(file, dirs.map((dir) => path.resolve(cwd, dir)));
  const interpreter = found === null ? null : ((await shebang(found))?.interpreter ?? null);
  if (interpreter !== null) return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'interpreter', interpreter });
  if (file.includes('/')) return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'file', relative: !path.isAbsolute(file) });
  return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'path', dirs: dirs.join(', ') });
}

/**
 * Why a command that was started exited 127 or 126, when its program could not run: a script
 * whose `#!/usr/bin/env NAME` finds no NAME on the app's PATH starts (env is there) and exits
 * 127 with env's "No such file or directory"; a hook's `sh -c` answers "not found" (127) or
 * "Permission denied" (126) of a file that is there. Judged as `runner` (the app's user) runs it.
 * Null when its program and interpreter are there (the program's own status), or the shell
 * decides what runs.
 */
export async function exitFailure(
  what: { argv: readonly string[] } | { shell: string; key: string },
  cwd: string,
  searchPath: string,
  runner: FileReader | null,
): Promise<GatewayError | null> {
  const program = 'argv' in what ? what.argv[0] : commandProgram(what.shell);
  if (program === undefined || program === null) return null;
  // Only here, once it failed: the kernel asked as the app's user, a process per file.
  const problem = await programProblem(program, cwd, searchPath, runner, 'kernel');
  if (problem === null) return null;
  const dirs = searchPath.split(path.delimiter).filter(Boolean).join(', ');
  if ('shell' in what) return new GatewayError('APPPKG_PROGRAM_MISSING', { key: what.key, command: what.shell, program, dir: cwd, dirs, ...problem });
  return new GatewayError('APPPKG_COMMAND_NOT_STARTED', {
    program,
    dir: cwd,
    dirs,
    relative: !path.isAbsolute(program),
    ...problem,
    ...(problem.why === 'mode' ? { reason: notExecutableReason(problem, runner?.user ?? 'this user') } : {}),
  });
}

/** Why the app's user may not execute the file, as run's and a hook's 126 says it. */
function notExecutableReason(problem: { unsearchable?: string; modeAllows?: boolean }, user: string): string {
  if (problem.unsearchable !== undefined) return `${user} may not search ${problem.unsearchable}, on its way`;
  if (problem.modeAllows) return `not executable by ${user}, though its mode bits allow it: an ACL entry or a noexec mount refuses it`;
  return `not executable by ${user}`;
}
