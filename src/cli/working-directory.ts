// The directory the command was started in, which a deploy or a `rm -rf` in another terminal may
// have removed while the shell stayed in it. Every command reads it: APP_DIR's default and
// relative paths are resolved against it, and the interpreter probe asks pyenv's
// .python-version from it upwards. Node's process.cwd() then throws ENOENT (uv_cwd): a command
// ended with "internal error" and a stack, and the gateway started and refused every app, each
// worker "exited before it was ready (Error: ENOENT ... uv_cwd)".
import { readlinkSync } from 'node:fs';
import { GatewayError } from '../errors.js';

/** Throws APPPKG_CWD_GONE when the working directory no longer exists; other errors as they are. */
export function assertWorkingDirectory(): void {
  try {
    process.cwd();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new GatewayError('APPPKG_CWD_GONE', { dir: formerPath(), cause: err });
  }
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
