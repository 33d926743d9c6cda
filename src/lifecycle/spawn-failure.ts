// Why a command could not be started, said as its user needs it. spawn's ENOENT alone does not
// tell a name missing from the app's PATH (the app's, not the caller's: vendor/bin and the venv
// come first) from a relative path taken from the app directory, nor from a script whose `#!`
// interpreter is not there; EACCES is a file that is not executable.
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { shebang, which } from '../environment/executable.js';

/** The GatewayError for `file` that spawn refused with `err`, run in `cwd` with `searchPath` as PATH. */
export async function spawnFailure(file: string, err: NodeJS.ErrnoException, cwd: string, searchPath: string): Promise<GatewayError> {
  const details = { program: file, dir: cwd, reason: err.code ?? err.message, cause: err };
  if (err.code === 'EACCES') return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'mode' });
  if (err.code !== 'ENOENT') return new GatewayError('APPPKG_COMMAND_NOT_STARTED', details);
  const dirs = searchPath.split(path.delimiter).filter(Boolean);
  const found = file.includes('/') ? path.resolve(cwd, file) : await which(file, dirs.map((dir) => path.resolve(cwd, dir)));
  const interpreter = found === null ? null : ((await shebang(found))?.interpreter ?? null);
  if (interpreter !== null) return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'interpreter', interpreter });
  if (file.includes('/')) return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'file', relative: !path.isAbsolute(file) });
  return new GatewayError('APPPKG_COMMAND_NOT_STARTED', { ...details, why: 'path', dirs: dirs.join(', ') });
}
