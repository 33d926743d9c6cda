// The settings of pip's own configuration (pip.conf, PIP_*) that vendor's `pip install --target`
// cannot run under. vendor reads pip's configuration on purpose (the user's index, mirror,
// certificates), but `prefix` and `root` name a destination of their own: pip refuses `prefix`
// beside --target ("Cannot set --home and --prefix together"), and under `root` installs there
// instead of into the staging directory, which stays empty, and vendor then empties the vendor
// directory to match. pip ignores a setting with an empty value, so no PIP_* variable undoes one
// set in a file (as PIP_USER=0 undoes `user`): they are refused before pip runs, each where it is set.
// install reads the same configuration for where packages come from (pip-host-config.ts), through
// the same question and the same reading of its answer.
// pip is asked once, for its version as well, without its CLI: each `python -m pip` is most of
// a second of CPU spent importing pip, which `--version` and `config debug` spent twice on every vendor run.
import { programOutput } from '../program-output.js';
import { NO_WORKING_DIRECTORY_ON_PATH } from './pip-command.js';

/** pip's settings that give `pip install` a destination other than --target's. */
const TARGET_CONFLICTS = ['prefix', 'root'];

/** Where pip reads a setting of `pip install`: the `[global]` and `[install]` sections of a file. */
const INSTALL_SECTIONS = ['global', 'install'];

export interface ConflictingSetting {
  /** pip's name of the setting (`prefix`), as pip normalises it (`index_url` is `index-url`). */
  name: string;
  value: string;
  /** The variable that sets it (`PIP_PREFIX`), or undefined when a file does. */
  variable?: string;
  /** The configuration file that sets it, and its section. */
  file?: string;
  section?: string;
}

/** What the interpreter's pip said before vendor runs it, or why there is no pip. */
export type PipAnswer =
  | {
      /** "23.0.1" */
      version: string;
      /** What `pip config debug` prints of its files; null from a pip without it (older than 20.0). */
      configDebug: string | null;
    }
  | { missing: string };

// pip's version, then what `pip config debug` prints of its configuration files, in its format,
// from the class that command reads them with: the command itself imports pip's whole CLI,
// ~0.4 s of CPU more on every vendor run, for the same lines. isolated=False, as vendor's
// `pip install` (no --isolated) reads them. The class is pip's internals: a pip where it has
// moved, or that cannot read its files (a malformed one), runs the command after all, whose
// answer or failure is what it was before (a pip older than 20.0 has neither: null, no
// refusal from files). A missing pip is said in Python's words (No module named 'pip').
const ASK_PIP = [
  ...NO_WORKING_DIRECTORY_ON_PATH,
  'import os',
  'try:',
  '    import pip',
  'except ImportError as e:',
  '    sys.exit(str(e))',
  'print("pip " + pip.__version__, flush=True)',
  'try:',
  '    from pip._internal.configuration import Configuration',
  '    configuration = Configuration(isolated=False)',
  '    configuration.load()',
  '    variants = sorted(configuration.iter_config_files())',
  'except Exception:',
  '    import runpy',
  '    sys.argv[1:] = ["config", "debug"]',
  '    runpy.run_module("pip", run_name="__main__", alter_sys=True)',
  '    sys.exit(0)',
  'for variant, files in variants:',
  '    print("%s:" % variant)',
  '    for name in files:',
  '        exists = os.path.exists(name)',
  '        print("  %s, exists: %r" % (name, exists))',
  '        if exists:',
  '            for key, value in configuration.get_values_in_config(variant).items():',
  '                print("    %s: %s" % (key, value))',
].join('\n');

/**
 * `python`'s pip, asked with `env` in one run: its version and its configuration. `as`: the user
 * pip will run as (vendor-as-user.ts), whose configuration counts, and the directory it runs in.
 */
export async function askPip(python: string, env: Record<string, string | undefined>, as?: { uid: number; gid: number; cwd: string }): Promise<PipAnswer> {
  const answer = await programOutput(python, ['-c', ASK_PIP], { env, timeoutMs: 60_000, ...(as ? { uid: as.uid, gid: as.gid, cwd: as.cwd } : {}) });
  const [first, ...rest] = answer.stdout.split('\n');
  const version = /^pip (\S+)$/.exec(first.trim());
  if (!version) return { missing: answer.stderr.trim().split('\n').pop() || answer.message };
  return { version: version[1], configDebug: answer.status === 0 ? rest.join('\n') : null };
}

/**
 * Every place where pip's configuration (`configDebug`, from askPip with `env`) sets a
 * destination that conflicts with --target. A pip without `config debug` (older than 20.0)
 * gives none from files: its own error, if any, is then what the user sees.
 */
export function targetConflicts(env: Record<string, string | undefined>, configDebug: string | null): ConflictingSetting[] {
  return [...variablesSetting(env, TARGET_CONFLICTS), ...(configDebug === null ? [] : filesSetting(configDebug))];
}

/** The PIP_* variables of `env` that set one of `names` for `pip install` (pip ignores an empty one). */
export function variablesSetting(env: Record<string, string | undefined>, names: readonly string[]): ConflictingSetting[] {
  const found: ConflictingSetting[] = [];
  for (const name of names) {
    const variable = pipVariable(name);
    const value = env[variable];
    if (value) found.push({ name, value, variable });
  }
  return found;
}

/** The variable pip reads a setting from: `index-url` from PIP_INDEX_URL. */
export function pipVariable(name: string): string {
  return `PIP_${name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * The settings among `names` (default: those that conflict with --target) in the files `pip config debug` lists: a variant's line (`global:`),
 * under it each file (`  /etc/pip.conf, exists: True`) and its settings (`    install.prefix: /x`).
 * Its `env_var:` variant is read from the environment instead (targetConflicts).
 */
export function filesSetting(debug: string, names: readonly string[] = TARGET_CONFLICTS): ConflictingSetting[] {
  const found: ConflictingSetting[] = [];
  let file: string | null = null;
  for (const line of debug.split('\n')) {
    const variant = /^(\S.*):$/.exec(line);
    if (variant) {
      file = null;
      continue;
    }
    const opened = /^ {2}(\S.*), exists: (True|False)$/.exec(line);
    if (opened) {
      file = opened[1];
      continue;
    }
    const setting = /^ {4}([^.\s]+)\.([^:\s]+): (.*)$/.exec(line);
    if (!setting || file === null) continue;
    const [, section, name, value] = setting;
    if (INSTALL_SECTIONS.includes(section) && names.includes(name) && value.trim() !== '') found.push({ name, value, file, section });
  }
  return found;
}
