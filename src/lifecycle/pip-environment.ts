// The environment of the `-m venv` and the pip that `install` (and `--apps`, `serve`, `export
// venv`) run to build an app's virtualenv (SPEC §3). The app's files decide *what* is installed,
// pinned; the host decides *where from*. Until 2026-12-07 pip read neither pip.conf nor PIP_*
// (PIP_CONFIG_FILE=os.devnull, every PIP_* removed, as CPython's ensurepip does: bpo-19734,
// bpo-20053), so a host whose pip.conf names the company's mirror, or whose PIP_FIND_LINKS names
// its wheelhouse, installed `six` with plain pip and not with `install`: mirrors configured by
// the host are how Python hosts are set up. So pip reads the host's configuration, files and
// variables, as it does for the shell, except what sends the install elsewhere than the venv or
// installs other than the app's requirements: PIP_TARGET, PIP_PREFIX, PIP_ROOT, PIP_PYTHON
// (another interpreter's environment), PIP_USER (the user site, which a venv refuses), PIP_SRC
// (editable checkouts outside the venv), PIP_REQUIREMENT and PIP_EDITABLE (requirements of the
// shell's), PIP_DRY_RUN (a venv stamped as built, left empty). Those are dropped; the same
// settings in a file are undone (PIP_USER=0, PIP_DRY_RUN=0, install's own --src) or refused before
// pip runs (pip-host-config.ts), as no variable undoes them. Nor do the PYTHON* variables reach
// it, which point the interpreter elsewhere (PYTHONPATH, PYTHONHOME, PYTHONUSERBASE,
// PYTHONPLATLIBDIR, ...); VIRTUAL_ENV names another virtualenv.
import path from 'node:path';

export interface PipEnvironment {
  env: Record<string, string>;
  /**
   * The PIP_* variables of the caller's environment that pip does not read (but those we set
   * to the same value), for the user whose install relied on one.
   */
  ignored: string[];
}

/**
 * What we tell pip ourselves: no prompt (nobody may be there to answer), no look for a newer pip,
 * and a file's `user` or `dry-run` undone (a variable outranks pip.conf).
 */
const OURS: Record<string, string> = { PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_USER: '0', PIP_DRY_RUN: '0' };

/** The caller's variables that would send the install out of the venv, or install what the app did not name. */
const DROPPED = new Set(['PIP_TARGET', 'PIP_PREFIX', 'PIP_ROOT', 'PIP_PYTHON', 'PIP_USER', 'PIP_SRC', 'PIP_REQUIREMENT', 'PIP_EDITABLE', 'PIP_DRY_RUN']);

export function pipEnvironment(processEnv: NodeJS.ProcessEnv = process.env): PipEnvironment {
  const env: Record<string, string> = {};
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(processEnv)) {
    if (value === undefined) continue;
    if (key in OURS || DROPPED.has(key)) {
      if (OURS[key] !== value) ignored.push(key);
    } else if (!key.startsWith('PYTHON') && key !== 'VIRTUAL_ENV' && key !== '__PYVENV_LAUNCHER__') {
      env[key] = value;
    }
  }
  return { env: { ...env, ...OURS }, ignored: ignored.sort() };
}

/**
 * `env` for a venv and pip run as the app's user by a root gateway: root's HOME held pip's cache
 * and what a build writes under ~, so HOME is the user's own (as its hooks get), and TMPDIR and
 * pip's cache are in the app's TMPDIR (`tmpDir`, which that user owns). pip then reads that
 * user's pip.conf, as `pip install` run by them would.
 */
export function asAppUser(env: Record<string, string>, user: { user: string; home: string }, tmpDir: string): Record<string, string> {
  return { ...env, HOME: user.home, USER: user.user, LOGNAME: user.user, TMPDIR: tmpDir, PIP_CACHE_DIR: path.join(tmpDir, 'pip-cache') };
}

/** The progress line (and the fix's words) naming the caller's variables pip did not read, and why. */
export function ignoredPipSettings(ignored: readonly string[]): string {
  return `pip read none of ${ignored.join(', ')} (install puts the app's requirements into its virtualenv: a destination of their own, or requirements other than the app's, are not read)`;
}
