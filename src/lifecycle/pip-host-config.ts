// What the host's pip configuration (pip.conf files, PIP_* variables) means for the pip that
// builds an app's virtualenv (install-venv.ts): where packages come from (pip-environment.ts
// says why the host decides that), and the settings no variable undoes, refused before pip runs.
// A file's `target`, `prefix`, `root` or `python` sends every `pip install` of the host out of
// the venv (into a directory, another prefix, another interpreter's environment): the venv was
// left empty and stamped as built. Its `requirement` or `editable` installs what the app did
// not name. pip ignores a variable with an empty value, so none of those can be switched off
// from here as PIP_USER=0 does `user`. The configuration is pip's own answer (askPip), read as
// vendor reads it.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { GatewayError } from '../errors.js';
import { askPip, filesSetting, variablesSetting, type ConflictingSetting } from './vendor-pip-config.js';

/** A file's settings that the venv's install cannot run under. */
const REFUSED = ['target', 'prefix', 'root', 'python', 'requirement', 'editable'];

/** The settings that name where packages come from: with one, install leaves its --no-index out. */
const SOURCES = ['index-url', 'extra-index-url', 'find-links', 'no-index'];

/** pip reads no configuration file when PIP_CONFIG_FILE is this (pip's own os.devnull test). */
const NO_FILES = '/dev/null';

export interface HostPipSources {
  /** Where the host names its sources, for the progress line: `FILE (find-links)`, `PIP_FIND_LINKS`. */
  named: string[];
  /**
   * The configuration files there that pip could not be asked about, and why: `named` is then
   * the PIP_* variables alone. Not read another way: pip itself is all that reads them as pip
   * does, and a pip that cannot answer (none in the venv, one that cannot load a malformed file)
   * fails the install for the same reason, which the failure's fix then says.
   */
  unread?: { files: string[]; reason: string; noPip: boolean };
  /** pip answered (it imports): asked only when a configuration file is there (pipUnimportable). */
  pipAnswered: boolean;
}

/**
 * The sources the host's pip configuration names for the venv's pip (`python`, run with `env`,
 * as `as` when given), or a refusal of the settings that send the install elsewhere.
 * `venvDir` is the venv, whose own pip.conf pip reads too. pip is asked only when a file it
 * would read is there: each question is a Python that imports pip's configuration (~0.2 s).
 */
export async function hostPipSources(opts: {
  python: string;
  env: Record<string, string>;
  venvDir: string;
  as?: { uid: number; gid: number; cwd: string };
}): Promise<HostPipSources> {
  const variables = variablesSetting(opts.env, SOURCES).filter(names).map((s) => s.variable!);
  const files = configFilesThere(opts.env, opts.venvDir);
  if (files.length === 0) return { named: variables, pipAnswered: false };
  const pip = await askPip(opts.python, opts.env, opts.as);
  // No pip, or a pip whose files cannot be read (a malformed one): pip install fails the same way.
  if ('missing' in pip) return { named: variables, unread: { files, reason: pip.missing, noPip: true }, pipAnswered: false };
  const debug = pip.configDebug;
  if (debug === null) return { named: variables, unread: { files, reason: `pip ${pip.version} could not read them (\`python -m pip config debug\` says why)`, noPip: false }, pipAnswered: true };
  const refused = filesSetting(debug, REFUSED);
  if (refused.length > 0) throw new GatewayError('APPPKG_PIP_CONFIG_REFUSED', { settings: refused });
  return { named: [...namedByFile(filesSetting(debug, SOURCES).filter(names)), ...variables], pipAnswered: true };
}

/**
 * The host's settings of where pip looks (`index-url`, `extra-index-url`, `find-links`,
 * `no-index`), variables and files, for `python`'s pip run with `env`: what check judges install's
 * offline pip by. null when a file is there that pip could not be asked about: where pip would
 * look is then not known.
 */
export async function hostSourceSettings(python: string, env: Record<string, string | undefined>): Promise<ConflictingSetting[] | null> {
  const variables = variablesSetting(env, SOURCES);
  const defined = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  // No venv yet: the venv's own pip.conf is the interpreter's prefix's, which a venv does not read.
  if (configFilesThere(defined, path.join(path.dirname(path.dirname(python)), 'no-venv')).length === 0) return variables;
  const pip = await askPip(python, env);
  if ('missing' in pip || pip.configDebug === null) return null;
  return [...filesSetting(pip.configDebug, SOURCES), ...variables];
}

/** Whether a `no-index` setting's value switches the index off (`no-index = false` does not). */
export function noIndexOn(setting: ConflictingSetting): boolean {
  return setting.name === 'no-index' && names(setting);
}

/**
 * Why the venv's pip cannot be imported, or null when it can: asked once pip install failed,
 * when hostPipSources had not asked pip (no configuration file): its failure was read as a
 * requirement pip could not find, and the fix sent the user to wheels for a pip that never
 * looked. Not asked before pip runs: an install that succeeds pays nothing for it.
 */
export async function pipUnimportable(opts: { python: string; env: Record<string, string>; as?: { uid: number; gid: number; cwd: string } }): Promise<string | null> {
  const pip = await askPip(opts.python, opts.env, opts.as);
  return 'missing' in pip ? pip.missing : null;
}

/** `no-index = false` names no source: pip then goes to its default index, as without it. */
function names(setting: ConflictingSetting): boolean {
  return setting.name !== 'no-index' || !/^(n|no|f|false|off|0)$/i.test(setting.value.trim());
}

/** `/etc/pip.conf (extra-index-url, find-links)`: each file once, with the settings it names. */
function namedByFile(settings: ConflictingSetting[]): string[] {
  const byFile = new Map<string, Set<string>>();
  for (const s of settings) byFile.set(s.file!, (byFile.get(s.file!) ?? new Set()).add(s.name));
  return [...byFile].map(([file, names]) => `${file} (${[...names].join(', ')})`);
}

/**
 * The files pip would read that are there (pip's `iter_config_files` on Linux): PIP_CONFIG_FILE's,
 * the site-wide ones (XDG_CONFIG_DIRS, /etc), the user's (~/.pip, XDG_CONFIG_HOME) and the venv's.
 */
function configFilesThere(env: Record<string, string>, venvDir: string): string[] {
  if (env.PIP_CONFIG_FILE === NO_FILES) return [];
  const home = env.HOME || homedir();
  const files = [
    ...(env.PIP_CONFIG_FILE ? [env.PIP_CONFIG_FILE] : []),
    ...(env.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean).map((d) => path.join(d, 'pip', 'pip.conf')),
    '/etc/pip.conf',
    path.join(home, '.pip', 'pip.conf'),
    path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'pip', 'pip.conf'),
    path.join(venvDir, 'pip.conf'),
  ];
  return [...new Set(files)].filter((f) => existsSync(f));
}
