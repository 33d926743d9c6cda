// The program a process's or a hook's command line runs, found as `sh -c` finds it, so that
// `check` can say that `processes.worker: celery -A blog worker` would exit 127 ("not found")
// before a start or a deploy learns it from a crash loop or a refused version, and a running
// gateway what such an exit meant; and for `python -m celery worker`, the module the
// interpreter would not find ("No module named").
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isExecutableFile, runnerRefusal, shebang, which, type ExecuteJudge } from '../environment/executable.js';
import { userHas, type FileReader } from '../environment/user-readable.js';

/**
 * Words the shell itself runs (builtins and keywords): nothing on PATH to find. `exec` is not
 * among them: the word after it is the program.
 */
const SHELL_WORDS = new Set([
  '.', ':', '[', 'alias', 'bg', 'break', 'case', 'cd', 'command', 'continue', 'echo', 'eval', 'exit',
  'export', 'false', 'fg', 'for', 'getopts', 'hash', 'if', 'jobs', 'kill', 'printf', 'pwd', 'read',
  'readonly', 'return', 'set', 'shift', 'source', 'test', 'times', 'trap', 'true', 'type', 'ulimit',
  'umask', 'unalias', 'unset', 'until', 'wait', 'while', '{', '(', '!',
]);
/** `NAME=value` before a command sets its environment; the program comes after. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=\S*$/;
/** A word the shell takes as it is: no expansion, quote or operator that only the shell can resolve. */
const LITERAL = /^[A-Za-z0-9_./+@%:,-]+$/;

/**
 * The program `sh -c command` runs first, or null when the shell decides what runs (a builtin,
 * a keyword, an expansion such as `$VENV/bin/app`, a quoted word): those are not judged here.
 */
export function commandProgram(command: string): string | null {
  return programWords(command)?.[0] ?? null;
}

/** The program's word and the words after it; null as for commandProgram. */
function programWords(command: string): string[] | null {
  const words = command.trim().split(/\s+/);
  let i = 0;
  while (i < words.length && ASSIGNMENT.test(words[i])) i++;
  if (words[i] === 'exec') i++;
  // `exec env NAME=value PROGRAM` sets variables and still lets the shell become the program
  // (the README's Jupyter line): the program is the word after them. env's options (`-i`,
  // `-u NAME`, `-S`) change what it runs or how it reads its words: not judged.
  if (words[i] === 'env') {
    i++;
    while (i < words.length && ASSIGNMENT.test(words[i])) i++;
    if (words[i]?.startsWith('-')) return null;
  }
  const word = words[i];
  if (word === undefined || !LITERAL.test(word) || SHELL_WORDS.has(word)) return null;
  return words.slice(i);
}

/** `python`, `python3`, `python3.11`, by any path: the app's interpreter on its PATH. */
const PYTHON = /^python(\d+(\.\d+)?)?$/;
/** Python's options that take the next word as their value (`-W error`, `-X dev`). */
const PYTHON_OPTION_WITH_VALUE = new Set(['-W', '-X', '--check-hash-based-pycs']);
const MODULE_NAME = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

/**
 * The module `python -m MODULE` runs (`python -u -m celery worker`, `exec python3 -mblog.live`),
 * or null when the command runs no module that way: a script, `-c`, an expansion, or another
 * program. Its program is the interpreter the app's PATH gives, which is not judged here.
 */
export function pythonModule(command: string): string | null {
  const words = programWords(command);
  if (words === null || !PYTHON.test(path.basename(words[0]))) return null;
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    if (word === '-m') return MODULE_NAME.test(words[i + 1] ?? '') ? words[i + 1] : null;
    if (word.startsWith('-m')) return MODULE_NAME.test(word.slice(2)) ? word.slice(2) : null;
    // A script, `-c CODE`, `-` (stdin) or `--`: what follows is no module of ours.
    if (!word.startsWith('-') || word === '-' || word === '--' || word.startsWith('-c')) return null;
    if (PYTHON_OPTION_WITH_VALUE.has(word)) i++;
  }
  return null;
}

/**
 * Where `program` is, as the shell looks for it: a word with a slash against `cwd`, any other on
 * the directories of `searchPath` in order; null when no file `runner` (the app's user; default
 * ours) may execute is there, its right judged as `judge` says.
 */
export async function findProgram(program: string, cwd: string, searchPath: string, runner?: FileReader | null, judge: ExecuteJudge = 'mode'): Promise<string | null> {
  if (program.includes('/')) {
    const file = path.resolve(cwd, program);
    return (await isExecutableFile(file, runner, judge)) ? file : null;
  }
  return which(program, searchPath.split(path.delimiter).filter(Boolean).map((dir) => path.resolve(cwd, dir)), runner, judge);
}

/**
 * Why the shell could not run `program` (its 127 "not found", its 126 "Permission denied"):
 * `path`/`file`, nothing executable by that name; `mode`, a file there that is not executable
 * (judged by the kernel: `unsearchable`, a directory on its way the user may not search;
 * `modeAllows`, its mode bits let the user execute it, and an ACL entry or a noexec mount does not);
 * `interpreter`, a script whose `#!` interpreter is not there (the shell says "not found" of a
 * file that exists), or, through `#!/usr/bin/env NAME`, NAME not on `searchPath` (env's own
 * "No such file or directory"). Null when the program and its interpreter are there.
 */
export type ProgramProblem =
  | { why: 'path' | 'file' }
  | { why: 'mode'; located: string; user?: string; unsearchable?: string; modeAllows?: boolean }
  | { why: 'interpreter'; located: string; interpreter: string; throughEnv: boolean };

/**
 * What keeps `sh -c` from running `program` in `cwd` with `searchPath` as PATH, or null; as
 * `runner` runs it (the app's user: the gateway, as root, may execute what it may not), its
 * rights judged as `judge` says: `kernel` for a command that exited 126 or 127, whose
 * diagnosis by the mode bits alone missed an ACL entry and a directory the user may not search.
 */
export async function programProblem(program: string, cwd: string, searchPath: string, runner?: FileReader | null, judge: ExecuteJudge = 'mode'): Promise<ProgramProblem | null> {
  const file = await findProgram(program, cwd, searchPath, runner, judge);
  if (file === null) {
    const present = await firstFile(program, cwd, searchPath);
    if (present !== null) return { why: 'mode', located: present, ...(judge === 'kernel' && runner ? await refusedWhere(present, runner) : {}) };
    return { why: program.includes('/') ? 'file' : 'path' };
  }
  const line = await shebang(file);
  if (line === null) return null;
  if (path.basename(line.interpreter) === 'env' && (await isExecutableFile(line.interpreter, runner, judge))) {
    // env's options (`-S`, `-i`) change what it runs: not judged.
    const named = line.argument;
    if (named === null || named.startsWith('-') || named.includes('=')) return null;
    return (await findProgram(named, cwd, searchPath, runner, judge)) === null ? { why: 'interpreter', located: file, interpreter: named, throughEnv: true } : null;
  }
  return (await isExecutableFile(line.interpreter, runner, judge)) ? null : { why: 'interpreter', located: file, interpreter: line.interpreter, throughEnv: false };
}

/**
 * Why the kernel refuses `runner` the file `located`, for its fix: a directory on the way it
 * may not search (chmod +x of the file changes nothing), or a file whose mode bits allow it
 * (an ACL entry or a noexec mount refuses it, which chmod does not change either).
 */
async function refusedWhere(located: string, runner: FileReader): Promise<{ user: string; unsearchable?: string; modeAllows?: boolean }> {
  const refused = await runnerRefusal(located, runner).catch(() => null);
  if (refused !== null && refused !== located) return { user: runner.user, unsearchable: refused };
  const st = await stat(located).catch(() => null);
  // Root executes a file with any x bit, and one with none not even as root (userHas says yes to root).
  const modeAllows = st !== null && (runner.uid === 0 ? (st.mode & 0o111) !== 0 : userHas(st, runner, 1));
  return modeAllows ? { user: runner.user, modeAllows } : { user: runner.user };
}

/** The file `program` names, executable or not, where the shell looks: the first regular file there. */
async function firstFile(program: string, cwd: string, searchPath: string): Promise<string | null> {
  const candidates = program.includes('/') ? [path.resolve(cwd, program)] : searchPath.split(path.delimiter).filter(Boolean).map((dir) => path.resolve(cwd, dir, program));
  for (const file of candidates) {
    if ((await stat(file).catch(() => null))?.isFile()) return file;
  }
  return null;
}
