// The directory a command or a program was started in, which a deploy or a `rm -rf` in another
// terminal may have removed while the shell (or the program) stayed in it. Node's process.cwd()
// then throws ENOENT (uv_cwd), and every relative path is resolved against it: the CLI's commands
// read it (APP_DIR's default, relative paths, the interpreter probe asks pyenv's
// .python-version from it upwards) and ended with "internal error" and a stack, and the gateway
// started and refused every app, each worker "exited before it was ready (Error: ENOENT ...
// uv_cwd)"; a library call given a relative path (Gateway.start, AppPackage.open) threw the raw
// ENOENT. Each is APPPKG_CWD_GONE, its fix in its caller's words (CommandWords.cwdGone).
import { readlinkSync } from 'node:fs';
import { CLI_COMMAND_WORDS, type CommandWords } from './command-words.js';
import { GatewayError, isGatewayError } from './errors.js';

/** Throws APPPKG_CWD_GONE when the working directory no longer exists (the CLI asks before any command); other errors as they are. */
export function assertWorkingDirectory(words: Pick<CommandWords, 'cwdGone'> = CLI_COMMAND_WORDS): void {
  try {
    process.cwd();
  } catch (err) {
    throw namingCwdGone(err, words);
  }
}

/** `err` as APPPKG_CWD_GONE when it is process.cwd()'s ENOENT, its fix in `words`; any other error as it is. */
export function namingCwdGone(err: unknown, words: Pick<CommandWords, 'cwdGone'>): unknown {
  if (isGatewayError(err)) return err;
  const e = err as NodeJS.ErrnoException | null;
  if (e?.code !== 'ENOENT' || e.syscall !== 'uv_cwd') return err;
  const dir = formerPath();
  const caller = words.cwdGone === null ? {} : { enteredBy: words.cwdGone.enteredBy, fix: words.cwdGone.fix(dir) };
  return new GatewayError('APPPKG_CWD_GONE', { ...(dir === undefined ? {} : { dir }), ...caller, cause: err });
}

/**
 * Where the removed directory was, for the fix (a deploy may have made it again there): Linux's
 * /proc link reads "PATH (deleted)". Not $PWD, which a parent other than a shell leaves as its own.
 */
function formerPath(): string | undefined {
  try {
    return /^(\/.*) \(deleted\)$/.exec(readlinkSync('/proc/self/cwd'))?.[1];
  } catch {
    return undefined; // no /proc (macOS): the message names no path
  }
}
