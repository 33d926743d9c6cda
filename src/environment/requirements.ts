// A pip requirements file read just far enough for `check` to ask "is each one installed, at
// a matching version?". Names and PEP 440 specifiers come from PEP 508 lines; a local wheel or
// sdist gives its name (and version) from its filename, a local project directory (`-e ./pkg`,
// `./pkg`) from its pyproject.toml, setup.cfg or setup.py; options (-i, --hash ...) are skipped,
// `-r` is followed, and so is a `-r` inside a `-c` file (pip installs what that names); PEP 508
// markers are evaluated against the interpreter's values, and a marker we cannot evaluate makes
// the line a note, not a verdict.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { satisfies, valid, validRange } from '@renovatebot/pep440';
import type { MarkerEnvironment } from './interpreter-probe.js';
import { readFileAsUserCould, UserCannotRead, type FileReader } from './user-readable.js';

export interface Requirement {
  /** "requirements.txt:3" */
  where: string;
  /** The line as written (continuations joined, comment removed). */
  text: string;
  /** As written; compare with `normalizeName`. */
  name: string;
  /** PEP 440 specifier, "" = any version. */
  specifier: string;
  /** PEP 508 marker, or null. */
  marker: string | null;
  /** A local project directory's line (`-e ./pkg`): said beside the version found, whose source it is. */
  from?: string;
  /** A wheel or sdist named by its path (`wheels/x-1.0-py3-none-any.whl`): where pip reads it. */
  file?: string;
}

export interface RequirementsFile {
  requirements: Requirement[];
  /** Lines that name nothing we can check (a directory, an unnamed URL, a bad specifier). */
  notes: string[];
}

/** PEP 503 normalisation: "Flask_SQLAlchemy" and "flask-sqlalchemy" are one project. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

const ARCHIVE = /\.(whl|tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$/i;
const NAMED = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$/;

/** A line that includes another file: `-r FILE`, `--requirement=FILE`, `-c FILE`, `--constraint FILE`. */
export interface RequirementsInclude {
  /** The line as written, e.g. "-r ../shared.txt". */
  text: string;
  /** Absolute: pip reads the target relative to the including file's directory; a URL as written. */
  target: string;
  /** pip fetches the target (`-r https://...`): no file of the app's, nothing on disk to read. */
  url: boolean;
  /** -c / --constraint: it limits versions, it asks for nothing. */
  constraint: boolean;
  line: number;
  column: number;
}

const INCLUDE = /^(-r|--requirement|-c|--constraint)(?:\s*=?\s*)(\S+)$/;
/** What pip fetches rather than opens: its own http/https/file, and any other scheme://. */
const URL_TARGET = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/|(?:https?|file):)/i;

const INDEX_OPTION = /^(-i|--index-url|--extra-index-url)(\s*=?\s*)\S/;

/**
 * Whether `text` names a package index itself (`--index-url URL`, `-i URL`, `--extra-index-url
 * URL`): the app's author chose where its packages come from, and install's --no-index, which
 * outranks the file's lines, must not take that choice away.
 */
export function namesAnIndex(text: string): boolean {
  return logicalLines(text).some(({ line }) => INDEX_OPTION.test(line));
}

/** The -r and -c lines of `file`, whose text is `text`, with their targets resolved as pip does. */
export function requirementIncludes(file: string, text: string): RequirementsInclude[] {
  const includes: RequirementsInclude[] = [];
  for (const { line, number, column } of logicalLines(text)) {
    const m = INCLUDE.exec(line);
    if (!m) continue;
    const url = URL_TARGET.test(m[2]);
    includes.push({ text: line, target: url ? m[2] : path.resolve(path.dirname(file), m[2]), url, constraint: m[1] === '-c' || m[1] === '--constraint', line: number, column });
  }
  return includes;
}

/**
 * Read `file` and every file it includes with -r; throws only when `file` itself cannot be read,
 * or `reader` (the app's user, when we are root and it is not) could not read one of them
 * (UserCannotRead, naming that file): such a file is not read.
 */
export async function readRequirements(file: string, reader: FileReader | null = null): Promise<RequirementsFile> {
  const out: RequirementsFile = { requirements: [], notes: [] };
  const top = path.resolve(file);
  // pip runs in the top file's directory (install-venv.ts): a project directory's path is read from there.
  await readInto(top, out, { seen: new Set(), cwd: path.dirname(top), reader }, true, false);
  return out;
}

interface ReadState {
  /** Files read, as requirements (`r:`) or as constraints (`c:`): one read as both gives each its part. */
  seen: Set<string>;
  cwd: string;
  reader: FileReader | null;
}

/**
 * `constraint`: `file` came in by -c: its lines limit versions and ask for nothing, but pip reads
 * a -r inside it as requirements (a -c inside it stays a constraint), so its includes are followed.
 */
async function readInto(file: string, out: RequirementsFile, state: ReadState, top: boolean, constraint: boolean): Promise<void> {
  const key = `${constraint ? 'c' : 'r'}:${file}`;
  if (state.seen.has(key)) return;
  state.seen.add(key);
  const reader = state.reader;
  let text: string;
  try {
    text = (await readFileAsUserCould(file, reader)).toString('utf8');
  } catch (err) {
    // One the app's user may not read fails its install (pip runs as that user): not a note.
    if (top || err instanceof UserCannotRead) throw err;
    out.notes.push(`${path.basename(file)}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return;
  }
  const base = path.basename(file);
  const includes = new Map(requirementIncludes(file, text).map((include) => [include.line, include]));
  for (const { line, number } of logicalLines(text)) {
    const where = `${base}:${number}`;
    const include = includes.get(number);
    if (include) {
      if (include.url) out.notes.push(`${where}: ${include.text}: a URL, not read`);
      else await readInto(include.target, out, state, false, include.constraint);
      continue;
    }
    if (constraint) continue;
    const editable = /^(?:-e|--editable)(?:\s*=?\s*)(\S+)$/.exec(line);
    if (editable) {
      await addLocation(editable[1], where, line, null, out, state);
      continue;
    }
    if (line.startsWith('-')) continue; // -i, --extra-index-url, -f, --pre ...: not requirements
    await parseLine(line, where, out, state);
  }
}

/** Physical lines joined at a trailing backslash, comments (" #" or line-initial) removed; `column` is where the line's text begins. */
export function logicalLines(text: string): Array<{ line: string; number: number; column: number }> {
  const result: Array<{ line: string; number: number; column: number }> = [];
  let pending = '';
  let start = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    if (pending === '') start = i + 1;
    if (raw.endsWith('\\')) {
      pending += raw.slice(0, -1);
      return;
    }
    const uncommented = (pending + raw).replace(/(^|\s)#.*$/, '');
    const joined = uncommented.trim();
    pending = '';
    if (joined !== '') result.push({ line: joined, number: start, column: uncommented.length - uncommented.trimStart().length + 1 });
  });
  return result;
}

async function parseLine(line: string, where: string, out: RequirementsFile, state: ReadState): Promise<void> {
  // Per-requirement options (--hash=..., --global-option) follow the requirement.
  const withoutOptions = line.replace(/\s+--[A-Za-z][\w-]*(=\S+)?/g, '').trim();
  const isUrl = withoutOptions.includes('://');
  // PEP 508: a URL must be followed by whitespace before ";"; a name requirement may not be.
  const semi = isUrl ? withoutOptions.search(/\s;/) : withoutOptions.indexOf(';');
  const body = (semi >= 0 ? withoutOptions.slice(0, semi) : withoutOptions).trim();
  const marker = semi >= 0 ? withoutOptions.slice(semi).replace(/^\s*;/, '').trim() || null : null;

  const named = NAMED.exec(body);
  if (named && named[3].startsWith('@')) {
    out.requirements.push({ where, text: line, name: named[1], specifier: '', marker });
    return;
  }
  if (isUrl || body.includes('/') || body.startsWith('.') || ARCHIVE.test(body)) {
    await addLocation(body, where, line, marker, out, state);
    return;
  }
  if (!named) {
    out.notes.push(`${where}: not understood: ${line}`);
    return;
  }
  let specifier = named[3].trim();
  if (specifier.startsWith('(') && specifier.endsWith(')')) specifier = specifier.slice(1, -1).trim();
  if (specifier !== '' && !validRange(specifier)) {
    out.notes.push(`${where}: ${named[1]}: version not checked, ${JSON.stringify(specifier)} is not a PEP 440 specifier`);
    specifier = '';
  }
  out.requirements.push({ where, text: line, name: named[1], specifier, marker });
}

/** A path or URL: the name from #egg=, from a wheel/sdist filename, or from a local project directory's metadata. */
async function addLocation(location: string, where: string, line: string, marker: string | null, out: RequirementsFile, state: ReadState): Promise<void> {
  const egg = /[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(location);
  if (egg) {
    out.requirements.push({ where, text: line, name: egg[1], specifier: '', marker });
    return;
  }
  const file = decodeURIComponent(location.replace(/[?#].*$/, '').split('/').pop() ?? '');
  const local = localDirectory(location, state.cwd);
  const at = local === null ? {} : { file: local };
  if (/\.whl$/i.test(file)) {
    // {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl (PEP 427)
    const [name, version] = file.slice(0, -4).split('-');
    if (name && version) {
      out.requirements.push({ where, text: line, name, specifier: `==${version}`, marker, ...at });
      return;
    }
  }
  const sdist = /^(.+?)-(\d[^-]*)\.(tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$/i.exec(file);
  if (sdist) {
    out.requirements.push({ where, text: line, name: sdist[1], specifier: valid(sdist[2]) ? `==${sdist[2]}` : '', marker, ...at });
    return;
  }
  const name = local === null ? null : await projectNameIn(local, state.reader);
  if (name !== null) {
    out.requirements.push({ where, text: line, name, specifier: '', marker, from: line });
    return;
  }
  out.notes.push(`${where}: ${location}: not checked (a directory or URL without a project name)`);
}

/** The path of a location that is no remote URL (`./pkg`, `/abs/pkg`, `file:///abs/pkg`), read from `cwd`. */
function localDirectory(location: string, cwd: string): string | null {
  if (/^file:/i.test(location)) {
    try {
      return fileURLToPath(location.replace(/[?#].*$/, ''));
    } catch {
      return null;
    }
  }
  return URL_TARGET.test(location) || /^[A-Za-z][A-Za-z0-9+.-]*\+/.test(location) ? null : path.resolve(cwd, location);
}

/**
 * The project name a source directory declares, as its build backend would give it: PEP 621's
 * `[project] name`, else setup.cfg's `[metadata] name`, else a literal `name=` in setup.py. null
 * when none says (a dynamic name, or no project there): the line stays a note.
 */
async function projectNameIn(dir: string, reader: FileReader | null): Promise<string | null> {
  const text = (file: string) => readFileAsUserCould(path.join(dir, file), reader).then((b) => b.toString('utf8'), () => null);
  const pyproject = await text('pyproject.toml');
  const fromToml = pyproject === null ? null : sectionValue(pyproject, 'project', /^name\s*=\s*["']([^"']+)["']/);
  if (fromToml !== null) return fromToml;
  const cfg = await text('setup.cfg');
  const fromCfg = cfg === null ? null : sectionValue(cfg, 'metadata', /^name\s*[=:]\s*(\S+)/);
  if (fromCfg !== null) return fromCfg;
  const setup = await text('setup.py');
  return (setup === null ? null : /\bname\s*=\s*["']([A-Za-z0-9][A-Za-z0-9._-]*)["']/.exec(setup)?.[1]) ?? null;
}

/** The first line of section `[name]` of an INI or TOML text that `pattern` matches, its group 1. */
function sectionValue(text: string, name: string, pattern: RegExp): string | null {
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) inside = header[1].trim() === name;
    else if (inside) {
      const m = pattern.exec(line);
      if (m) return m[1];
    }
  }
  return null;
}

// --- PEP 508 markers -------------------------------------------------------------------------

const LEGACY_NAMES: Record<string, string> = {
  'os.name': 'os_name',
  'sys.platform': 'sys_platform',
  'platform.version': 'platform_version',
  'platform.machine': 'platform_machine',
  'platform.python_implementation': 'platform_python_implementation',
  python_implementation: 'platform_python_implementation',
};

type Token = { kind: 'str' | 'var' | 'op' | 'and' | 'or' | '(' | ')'; value: string };

function tokenize(marker: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(?:("[^"]*"|'[^']*')|(not\s+in\b|in\b|===|==|!=|<=|>=|~=|<|>)|(and\b|or\b)|([()])|([A-Za-z_][A-Za-z0-9_.]*))/y;
  let at = 0;
  while (at < marker.length) {
    if (/^\s*$/.test(marker.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(marker);
    if (!m) throw new Error(`unexpected ${JSON.stringify(marker.slice(at))}`);
    at = re.lastIndex;
    if (m[1]) tokens.push({ kind: 'str', value: m[1].slice(1, -1) });
    else if (m[2]) tokens.push({ kind: 'op', value: m[2].replace(/\s+/, ' ') });
    else if (m[3]) tokens.push({ kind: m[3] as 'and' | 'or', value: m[3] });
    else if (m[4]) tokens.push({ kind: m[4] as '(' | ')', value: m[4] });
    else tokens.push({ kind: 'var', value: m[5] });
  }
  return tokens;
}

/** True/false for a marker; throws when it cannot be evaluated (unknown variable, bad syntax). */
export function evaluateMarker(marker: string, env: MarkerEnvironment): boolean {
  const tokens = tokenize(marker);
  let i = 0;
  const peek = () => tokens[i];
  const value = (): string => {
    const t = tokens[i++];
    if (t?.kind === 'str') return t.value;
    if (t?.kind === 'var') {
      const key = LEGACY_NAMES[t.value] ?? t.value;
      if (key === 'extra') return '';
      const v = env[key];
      if (v === undefined) throw new Error(`unknown marker variable ${t.value}`);
      return v;
    }
    throw new Error('expected a value');
  };
  const atom = (): boolean => {
    if (peek()?.kind === '(') {
      i++;
      const result = or();
      if (tokens[i++]?.kind !== ')') throw new Error('expected )');
      return result;
    }
    const left = value();
    const op = tokens[i++];
    if (op?.kind !== 'op') throw new Error('expected an operator');
    return compare(left, op.value, value());
  };
  const and = (): boolean => {
    let result = atom();
    while (peek()?.kind === 'and') {
      i++;
      result = atom() && result;
    }
    return result;
  };
  const or = (): boolean => {
    let result = and();
    while (peek()?.kind === 'or') {
      i++;
      result = and() || result;
    }
    return result;
  };
  const result = or();
  if (i !== tokens.length) throw new Error('trailing input');
  return result;
}

function compare(left: string, op: string, right: string): boolean {
  if (op === 'in') return right.includes(left);
  if (op === 'not in') return !right.includes(left);
  if (op === '===') return left === right;
  // PEP 508: a version comparison when both sides parse as versions, else string comparison.
  if (valid(left) && validRange(`${op}${right}`)) return satisfies(left, `${op}${right}`, { prereleases: true });
  switch (op) {
    case '==': return left === right;
    case '!=': return left !== right;
    case '<': return left < right;
    case '<=': return left <= right;
    case '>': return left > right;
    case '>=': return left >= right;
    default: throw new Error(`${op} needs versions on both sides`);
  }
}
