// The environment of the `-m venv` and the pip that `install` (and `--apps`) run to build an
// app's virtualenv (SPEC §3): what gets installed is decided by the app's requirements file and
// the files it names, whatever shell `install` was typed in. pip takes options from PIP_*
// variables and from pip.conf files as well: a PIP_FIND_LINKS, PIP_CONSTRAINT, PIP_CONFIG_FILE,
// PIP_TARGET or PIP_USER of the caller's shell changed which versions were installed, from
// where, or where to (PIP_TARGET: into a directory outside the venv, the venv left empty). So
// neither reaches it, as CPython's ensurepip keeps them from its own pip (bpo-19734: every PIP_*
// removed; bpo-20053: PIP_CONFIG_FILE=os.devnull, which makes pip read no configuration file).
// Nor do the PYTHON* variables, which point the interpreter elsewhere (PYTHONPATH, PYTHONHOME,
// PYTHONUSERBASE, PYTHONPLATLIBDIR, ...); VIRTUAL_ENV names another virtualenv.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export interface PipEnvironment {
  env: Record<string, string>;
  /**
   * What pip would have read and does not, for the user whose install relied on it: the PIP_*
   * variables set in the caller's environment (but those we set anyway) and the pip.conf files
   * there are.
   */
  ignored: string[];
}

/** What we tell pip ourselves: no prompt (nobody may be there to answer), no look for a newer pip (offline). */
const OURS: Record<string, string> = { PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_CONFIG_FILE: '/dev/null' };

export function pipEnvironment(processEnv: NodeJS.ProcessEnv = process.env): PipEnvironment {
  const env: Record<string, string> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(processEnv)) {
    if (value === undefined) continue;
    if (key.startsWith('PIP_')) {
      if (OURS[key] !== value) ignored.push(key);
    } else if (!key.startsWith('PYTHON') && key !== 'VIRTUAL_ENV' && key !== '__PYVENV_LAUNCHER__') {
      env[key] = value;
    }
  }
  return { env: { ...env, ...OURS }, ignored: [...ignored.sort(), ...pipConfigFiles(processEnv)] };
}

/**
 * `env` for a venv and pip run as the app's user by a root gateway: root's HOME held pip's cache
 * and what a build writes under ~, so HOME is the user's own (as its hooks get), and TMPDIR and
 * pip's cache are in the app's TMPDIR (`tmpDir`, which that user owns).
 */
export function asAppUser(env: Record<string, string>, user: { user: string; home: string }, tmpDir: string): Record<string, string> {
  return { ...env, HOME: user.home, USER: user.user, LOGNAME: user.user, TMPDIR: tmpDir, PIP_CACHE_DIR: path.join(tmpDir, 'pip-cache') };
}

/** The configuration files pip reads on Linux (pip's `get_configuration_files`) that exist here. */
function pipConfigFiles(processEnv: NodeJS.ProcessEnv): string[] {
  const home = processEnv.HOME || homedir();
  const siteDirs = (processEnv.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean);
  const files = [
    ...siteDirs.map((d) => path.join(d, 'pip', 'pip.conf')),
    '/etc/pip.conf',
    path.join(home, '.pip', 'pip.conf'),
    path.join(processEnv.XDG_CONFIG_HOME || path.join(home, '.config'), 'pip', 'pip.conf'),
  ];
  return [...new Set(files)].filter((f) => existsSync(f));
}

/**
 * The progress line (and the fix's words) naming what pip did not read, with where each goes
 * instead: requirements files take `--find-links`, `-c`, `--pre`, ... as lines of their own.
 */
export function ignoredPipSettings(ignored: readonly string[], requirements: string): string {
  return `pip read none of ${ignored.join(', ')} (install reads no PIP_* variable nor pip.conf: the app's files alone decide what it installs); an option the app needs goes in ${requirements} as a line (\`-c constraints.txt\`, \`--find-links wheels\` with the wheels in the app)`;
}
