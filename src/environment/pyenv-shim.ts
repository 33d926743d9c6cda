// What a pyenv shim says when the version that has the command is installed but not enabled
// ("pyenv: python3.9: command not found ... exists in these Python versions: 3.9.18"): read so
// that the error names the interpreter's own path, which the user can write in the environment
// file, where its first line alone sent them after an interpreter that seemed not to be there.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PyenvMiss {
  /** What the shim said, its lines joined, without pyenv's closing note. */
  said: string;
  /** The command's full path in each installed version that has it (existing files only). */
  paths: string[];
  /** Those versions, as pyenv names them (3.9.18). */
  versions: string[];
}

/** The shim's refusal read from `stderr` for `command`; null when it is not one. */
export function pyenvMiss(command: string, stderr: string, env: NodeJS.ProcessEnv = process.env): PyenvMiss | null {
  const lines = stderr.split('\n').map((l) => l.trim());
  const at = lines.findIndex((l) => /^The `.+' command exists in these Python versions:$/.test(l));
  if (!lines.some((l) => l.startsWith('pyenv: ')) || at === -1) return null;
  const versions: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l === '' || l.startsWith('Note:')) break;
    versions.push(l);
  }
  const root = env.PYENV_ROOT || path.join(os.homedir(), '.pyenv');
  const name = path.basename(command);
  const paths = versions.map((v) => path.join(root, 'versions', v, 'bin', name)).filter((p) => existsSync(p));
  const said = lines.slice(0, at + 1 + versions.length).filter((l) => l !== '').join(' ');
  return { said, paths, versions };
}
