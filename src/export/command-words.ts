// The words of a process's or a hook's command line as `sh -c` reads them (quotes and
// backslashes resolved), for the export's host-path check (unmappable.ts): it looks for the
// host's paths among the words the shell and the programs take as names, and not in the code
// of `python -c CODE`, whose string literals (`re.compile('/api')`, `DATA + "/cache"`) are
// Python's, not paths the command needs. The code of `sh -c CODE` is a command line itself:
// its words are read the same way.
import path from 'node:path';

type Token = { kind: 'word'; value: string } | { kind: 'separator' } | { kind: 'redirect' };

/** Ends a simple command: `;`, `&`, `|`, `&&`, `||`, a newline, and the parentheses of a subshell or `$(...)`. */
const SEPARATORS = new Set([';', '&', '|', '\n', '(', ')']);

/** sh's words and operators; `# comment` dropped. Expansions stay in their words as written. */
function tokens(command: string): Token[] {
  const out: Token[] = [];
  let word: string | null = null;
  const flush = () => {
    if (word !== null) out.push({ kind: 'word', value: word });
    word = null;
  };
  for (let i = 0; i < command.length; ) {
    const c = command[i];
    if (c === ' ' || c === '\t') {
      flush();
      i++;
    } else if (SEPARATORS.has(c)) {
      flush();
      out.push({ kind: 'separator' });
      i++;
    } else if (c === '<' || c === '>') {
      flush();
      out.push({ kind: 'redirect' });
      while (command[i] === '<' || command[i] === '>') i++;
    } else if (c === '#' && word === null) {
      while (i < command.length && command[i] !== '\n') i++;
    } else if (c === '\\') {
      word = (word ?? '') + (command[i + 1] ?? '');
      i += 2;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      const stop = end === -1 ? command.length : end;
      word = (word ?? '') + command.slice(i + 1, stop);
      i = stop + 1;
    } else if (c === '"') {
      let value = '';
      let j = i + 1;
      for (; j < command.length && command[j] !== '"'; j++) {
        // Inside double quotes a backslash escapes only these (POSIX 2.2.3).
        if (command[j] === '\\' && '$`"\\\n'.includes(command[j + 1] ?? '')) j++;
        value += command[j] ?? '';
      }
      word = (word ?? '') + value;
      i = j + 1;
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  flush();
  return out;
}

/** `NAME=value` before a program sets its environment. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
/** `python`, `python3`, `python3.11`, by any path. */
const PYTHON = /^python(\d+(\.\d+)?)?$/;
/** A shell that runs `-c CODE` as a command line. */
const SHELL = /^(ba|da|k|z)?sh$/;

/**
 * Every word of `command` in which a path would be a path: each word as the shell passes it, the
 * words of an `sh -c` line read again as a command, and without the code of `python -c`.
 */
export function pathWords(command: string): string[] {
  const out: string[] = [];
  let words: string[] = [];
  // A redirection's file is no word of the program's (nor its program); it is a path all the same.
  let files: string[] = [];
  const end = () => {
    out.push(...simpleCommandWords(words), ...files);
    words = [];
    files = [];
  };
  let redirected = false;
  for (const token of tokens(command)) {
    if (token.kind === 'separator') end();
    else if (token.kind === 'redirect') redirected = true;
    else if (redirected) {
      files.push(token.value);
      redirected = false;
    } else words.push(token.value);
  }
  end();
  return out;
}

function simpleCommandWords(words: string[]): string[] {
  let i = 0;
  while (i < words.length && (ASSIGNMENT.test(words[i]) || words[i] === 'exec' || words[i] === 'env' || words[i] === 'nohup')) i++;
  const program = words[i];
  if (program === undefined) return words;
  const name = path.basename(program);
  const [before, rest] = [words.slice(0, i + 1), words.slice(i + 1)];
  if (PYTHON.test(name)) return [...before, ...withoutPythonCode(rest)];
  if (SHELL.test(name)) return [...before, ...withShellCode(rest)];
  return words;
}

/**
 * Python's arguments without the code of `-c CODE` (`-uc CODE`, `-cCODE`): options are read as
 * its getopt does, up to the script, `-m MODULE`, `-` or `--`, after which all are the program's.
 */
function withoutPythonCode(args: string[]): string[] {
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    if (!word.startsWith('-') || word === '-' || word === '--') return args;
    if (word.startsWith('--')) {
      if (word === '--check-hash-based-pycs') i++;
      continue;
    }
    for (let j = 1; j < word.length; j++) {
      const letter = word[j];
      if (letter === 'c') {
        // The code is the rest of this word, or the next word; what follows it is sys.argv.
        const codeEnd = j + 1 < word.length ? i + 1 : i + 2;
        return [...args.slice(0, i), ...(j > 1 ? [word.slice(0, j)] : []), ...args.slice(codeEnd)];
      }
      if (letter === 'm') return args;
      // `-W error`, `-X dev`: the value is the rest of the word, or the next word.
      if (letter === 'W' || letter === 'X') {
        if (j + 1 === word.length) i++;
        break;
      }
    }
  }
  return args;
}

/** A shell's arguments with the command line of `-c` (`sh -ec '...'`) read as words again. */
function withShellCode(args: string[]): string[] {
  let command = false;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    // `-o pipefail`: the option's value is no command.
    if (word === '-o' || word === '+o') {
      i++;
      continue;
    }
    if (word.startsWith('-') && !word.startsWith('--') && word.length > 1) {
      if (word.includes('c')) command = true;
      continue;
    }
    if (!command) return args;
    return [...args.slice(0, i), ...pathWords(word), ...args.slice(i + 1)];
  }
  return args;
}
