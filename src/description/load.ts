// Reads app.yaml (SPEC §1.1) into the normalised Description, and holds the one machinery that
// both app.yaml and the environment file (src/environment/host-file.ts) go through:
// YAML with node positions -> JSON Schema -> semantic checks -> every problem at once.
//
// Why ajv: the schema in schema/*.schema.json is what editors (yaml-language-server) read, so
// validating against that same file keeps the editor and the gateway from disagreeing. ajv is
// the reference JSON Schema validator for JavaScript (fastify validates its config with it), is
// actively maintained, has no native parts, and reports every error at once (`allErrors`).

import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { validRange } from '@renovatebot/pep440';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLError } from 'yaml';
import { GatewayError, type ErrorCode, type ErrorDetails } from '../errors.js';
import { parsePackageDirName } from './package-dir.js';
import { COMMAND_NAMES, type Description, type ProcessSpec } from './types.js';
import { readSchema, validatorFor, type ErrorObject, type JsonSchema } from './validators.js';

export { readSchema, type JsonSchema };
/** Keys and list indexes from the document root, e.g. ['processes', 'ws', 'route']. */
export type YamlPath = readonly (string | number)[];

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------
// A parsed YAML file that knows where each value came from and collects problems.

export interface ProblemDetails {
  expected?: string;
  found?: string;
  fix?: string;
  suggestion?: string;
  known?: string[];
}

/** Returns a fix hint better than the schema's for a bad value, or undefined. */
export type FixFor = (key: string, value: unknown, found: string) => string | undefined;

export class YamlFile {
  readonly problems: GatewayError[] = [];
  private readonly failed = new Set<string>();

  constructor(
    readonly file: string,
    /** The plain JavaScript value of the document ({} for an empty file). */
    readonly data: unknown,
    private readonly root: YamlNode | null,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Adds a problem located at the value (or the key) found at `at`. The value at `about`
   * (default: `at`; null for none) is then hidden from `valid()`, so no second problem is
   * reported about it.
   */
  report(
    code: ErrorCode,
    at: YamlPath,
    details: ProblemDetails & { key?: string },
    where: 'key' | 'value' = 'value',
    about: YamlPath | null = at,
  ): void {
    const { line, column } = this.position(at, where);
    if (about !== null) this.failed.add(pointer(about));
    const entry: ErrorDetails = { file: this.file, line, column, key: details.key ?? keyLabel(at) };
    for (const [name, value] of Object.entries(details)) if (value !== undefined && name !== 'key') entry[name] = value;
    this.problems.push(new GatewayError(code, entry));
  }

  /** The raw value at `at`, whatever its shape; undefined when absent. */
  raw(at: YamlPath): unknown {
    let value: unknown = this.data;
    for (const segment of at) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return undefined;
      value = (value as Record<string | number, unknown>)[segment];
    }
    return value;
  }

  /** The value at `at` when no problem was reported at, above or below it; else undefined. */
  valid(at: YamlPath): unknown {
    const p = pointer(at);
    for (const f of this.failed) {
      if (f === p || p.startsWith(`${f}/`) || f.startsWith(`${p}/`)) return undefined;
    }
    return this.raw(at);
  }

  /** True when a problem was reported at `at` or at one of its parents. */
  failedAtOrAbove(at: YamlPath): boolean {
    const p = pointer(at);
    for (const f of this.failed) if (f === p || p.startsWith(`${f}/`)) return true;
    return false;
  }

  /** How the value at `at` reads in the file: `"three"`, `3.10`, `a list [a, b]`, `nothing`. */
  found(at: YamlPath): string {
    const node = this.node(at)?.value;
    return describeFound(node ?? null, this.raw(at));
  }

  /** The text of a scalar as written (`0755` stays `0755`), or undefined. */
  sourceText(at: YamlPath): string | undefined {
    const node = this.node(at)?.value;
    if (node && isScalar(node) && typeof node.source === 'string' && node.type === 'PLAIN') return node.source;
    return undefined;
  }

  /** 1-based line and column of the value (or key) at `at`; the nearest existing parent otherwise. */
  position(at: YamlPath, where: 'key' | 'value' = 'value'): { line: number; column: number } {
    for (let depth = at.length; depth >= 0; depth--) {
      const found = this.node(at.slice(0, depth));
      if (!found) continue;
      const emptyValue = !found.value || (isScalar(found.value) && found.value.value === null && !found.value.source);
      const node = (where === 'key' || emptyValue) && found.key ? found.key : found.value;
      const offset = node?.range?.[0];
      if (offset !== undefined) {
        const { line, col } = this.lines.linePos(offset);
        return { line, column: col };
      }
    }
    return { line: 1, column: 1 };
  }

  private node(at: YamlPath): { key: YamlNode | null; value: YamlNode | null } | undefined {
    let key: YamlNode | null = null;
    let value: YamlNode | null = this.root;
    for (const segment of at) {
      if (isMap(value)) {
        const pair = value.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment));
        if (!pair) return undefined;
        key = pair.key as YamlNode;
        value = (pair.value as YamlNode | null) ?? null;
      } else if (isSeq(value) && typeof segment === 'number') {
        key = null;
        value = (value.items[segment] as YamlNode | undefined) ?? null;
        if (value === null) return undefined;
      } else {
        return undefined;
      }
    }
    return { key, value };
  }
}

export interface LoadYamlOptions<T> {
  /** The error for a file that does not exist. */
  notFound: () => GatewayError;
  /** The code of the error that carries the problems. */
  invalidCode: 'APPPKG_DESC_INVALID' | 'APPPKG_ENVFILE_INVALID';
  /**
   * Semantic checks beyond the schema, and the normalisation. It runs even when the schema
   * found problems, so that one run reports everything; read values with `yaml.valid()`, which
   * hides those already reported. Whatever it returns is discarded when a problem was reported.
   */
  normalise: (yaml: YamlFile) => T;
  fixFor?: FixFor;
}

/**
 * Reads `file`, parses it as YAML, validates it against `schema`, runs `normalise`, and either
 * returns its result or throws `invalidCode` with every problem, sorted by position.
 */
export async function loadYamlWithSchema<T>(file: string, schema: JsonSchema, options: LoadYamlOptions<T>): Promise<T> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw options.notFound();
    throw new GatewayError('APPPKG_FILE_UNREADABLE', { file, reason: code ?? String(err), cause: err });
  }
  const yaml = parseYaml(file, source);
  if (yaml.problems.length === 0) {
    if (yaml.data === null || typeof yaml.data !== 'object' || Array.isArray(yaml.data)) {
      yaml.report('APPPKG_DESC_NOT_MAPPING', [], { key: '', found: yaml.found([]) });
    } else {
      const validate = validatorFor(schema);
      if (!validate(yaml.data)) reportSchemaErrors(yaml, validate.errors ?? [], options.fixFor);
    }
  }
  let result: T | undefined;
  if (yaml.problems.length === 0 || yaml.problems.every((p) => p.code !== 'APPPKG_DESC_YAML_SYNTAX' && p.code !== 'APPPKG_DESC_NOT_MAPPING')) {
    result = options.normalise(yaml);
  }
  if (yaml.problems.length > 0) {
    const problems = [...yaml.problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new GatewayError(options.invalidCode, { file, problems });
  }
  return result as T;
}

function parseYaml(file: string, source: string): YamlFile {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: true });
  let data: unknown = null;
  let tooManyAliases = false;
  try {
    // An empty file (or comments only) is an empty mapping.
    if (doc.errors.length === 0) data = doc.toJS() ?? {};
  } catch {
    tooManyAliases = true; // yaml's guard against alias bombs (maxAliasCount)
  }
  const yaml = new YamlFile(file, data, doc.contents as YamlNode | null, lines);
  if (tooManyAliases) {
    yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
      file, line: 1, column: 1, found: 'more alias expansions than a description needs', fix: 'write the values out instead of repeating *aliases',
    }));
  }
  const seenLines = new Set<number>();
  // An over-indented key is reported twice by yaml (a multi-line key, then a nested mapping);
  // the second says what is wrong, so the first is dropped.
  const nestedAt = new Set(doc.errors.filter((e) => e.code === 'BLOCK_AS_IMPLICIT_KEY').map((e) => e.pos[0]));
  for (const error of doc.errors) {
    if (error.code === 'MULTILINE_IMPLICIT_KEY' && nestedAt.has(error.pos[0])) continue;
    // One mistake often makes yaml report a cascade on the same line; the first says it best.
    const { line, column } = syntaxPosition(source, error, lines);
    if (seenLines.has(line)) continue;
    seenLines.add(line);
    const { found, fix, key } = explainSyntaxError(source, error);
    yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', { file, line, column, key, found, fix }));
  }
  return yaml;
}

function syntaxPosition(source: string, error: YAMLError, lines: LineCounter): { line: number; column: number } {
  let offset = error.pos[0];
  // yaml points a bad indentation at the leading spaces; the user looks for the key after them.
  if (error.code === 'BAD_INDENT') {
    while (offset < source.length && source[offset] === ' ') offset++;
  }
  if (error.code === 'BLOCK_AS_IMPLICIT_KEY') {
    const culprit = overIndentedKeyLine(source, offset);
    if (culprit !== null) offset = culprit;
  }
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

/**
 * `key: value` followed by a more indented `other: value` makes YAML read the second line as
 * part of the first value; the mistake is the second line's indentation, so point there.
 * Returns the offset of that line's first non-space character, or null.
 */
function overIndentedKeyLine(source: string, offset: number): number | null {
  const lineStart = source.lastIndexOf('\n', offset - 1) + 1;
  const indent = /^ */.exec(source.slice(lineStart))![0].length;
  let next = source.indexOf('\n', offset);
  while (next >= 0) {
    const start = next + 1;
    const line = source.slice(start, source.indexOf('\n', start) >= 0 ? source.indexOf('\n', start) : undefined);
    const own = /^ */.exec(line)![0].length;
    if (line.trim() !== '' && !line.trim().startsWith('#')) {
      return own > indent && /^\s*[^\s#][^:]*:(\s|$)/.test(line) ? start + own : null;
    }
    next = source.indexOf('\n', start);
  }
  return null;
}

function explainSyntaxError(source: string, error: YAMLError): { found: string; fix?: string; key?: string } {
  const text = source.slice(error.pos[0], error.pos[1]);
  const own = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  switch (error.code) {
    case 'TAB_AS_INDENT':
      return { found: 'a tab in the indentation', fix: 'indent with spaces only: YAML does not allow tabs there' };
    case 'BAD_INDENT':
      return { found: `a line indented differently from the lines beside it (${own})`, fix: 'indent the keys of one mapping by the same number of spaces, and nested keys further than their parent' };
    case 'BLOCK_AS_IMPLICIT_KEY':
      if (overIndentedKeyLine(source, error.pos[0]) !== null) {
        return {
          found: 'a key indented further than the key above it, which YAML reads as part of that key\'s value',
          fix: 'indent this key like its siblings (or, if it belongs under the key above, give that key no value on its own line)',
        };
      }
      return {
        found: `a value that YAML reads as a nested key (${own})`,
        fix: 'quote a value that contains ": " (app: "module:object"), or put a nested key on its own line, indented',
      };
    case 'MULTILINE_IMPLICIT_KEY':
      return { found: 'a key that runs over several lines', fix: 'check that each key is followed by ": " and that the next line is indented like its siblings' };
    case 'DUPLICATE_KEY': {
      // yaml points at the key's first character; the key is what precedes ":" on that line.
      const lineStart = source.lastIndexOf('\n', error.pos[0] - 1) + 1;
      const key = /^\s*(?:-\s+)?["']?([^"':#]+?)["']?\s*:/.exec(source.slice(lineStart))?.[1] ?? text;
      return { found: `the key "${key}" a second time`, key, fix: `keep one "${key}:" and remove the other` };
    }
    case 'UNEXPECTED_TOKEN':
      if (/^\s*[>|]/.test(source.slice(source.lastIndexOf(':', error.pos[0]) + 1))) {
        return {
          found: 'a value beginning with ">" or "|", which YAML reads as a block of text',
          fix: 'quote the value, e.g. python: ">=3.9"',
        };
      }
      return { found: own };
    default:
      return { found: own };
  }
}

// ---------------------------------------------------------------------------------------------
// ajv errors -> problems.

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', array: 'a list', object: 'a mapping', integer: 'a whole number',
  number: 'a number', boolean: 'true or false', null: 'nothing',
};

function note(schema: JsonSchema | undefined, name: 'x-expected' | 'x-fix'): string | undefined {
  const value = schema?.[name];
  return typeof value === 'string' ? value : undefined;
}

function reportSchemaErrors(yaml: YamlFile, errors: ErrorObject[], fixFor: FixFor | undefined): void {
  const { kept, enclosing } = relevantErrors(errors);
  for (const error of kept) {
    const at = pointerToPath(error.instancePath);
    const parent = (error.parentSchema ?? {}) as JsonSchema;
    // A branch of "one name or a list" says little itself; the key's own notes say more.
    const expectedNote = note(parent, 'x-expected') ?? note(enclosing.get(error), 'x-expected');
    const fixNote = note(parent, 'x-fix') ?? note(enclosing.get(error), 'x-fix');

    if (error.keyword === 'additionalProperties') {
      const name = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as object);
      yaml.report('APPPKG_DESC_UNKNOWN_KEY', [...at, name], { suggestion: closest(name, known), known }, 'key');
    } else if (error.keyword === 'required') {
      const name = String((error.params as { missingProperty: string }).missingProperty);
      const property = ((parent.properties ?? {}) as Record<string, JsonSchema>)[name] ?? {};
      const expected = typeof property['x-expected'] === 'string' ? property['x-expected'] : 'a value';
      const under = at.length > 0 ? ` under ${keyLabel(at)}` : '';
      yaml.report('APPPKG_DESC_MISSING_KEY', [...at, name], { expected, fix: `add \`${name}: ...\`${under}` }, 'key');
    } else if (error.propertyName !== undefined) {
      // A propertyNames failure: the key itself is the bad value (e.g. a static prefix without /).
      const name = error.propertyName;
      const found = JSON.stringify(name);
      yaml.report('APPPKG_DESC_BAD_VALUE', [...at, name], {
        key: keyLabel(at),
        expected: expectedNote ?? expectedFromKeyword(error),
        found,
        fix: fixFor?.(keyLabel(at), name, found) ?? fixNote,
      }, 'key');
    } else {
      const value = yaml.raw(at);
      const found = yaml.found(at);
      const key = keyLabel(at);
      let fix = fixFor?.(key, value, found) ?? fixNote;
      let suggestion: string | undefined;
      if (error.keyword === 'enum' && typeof value === 'string') {
        suggestion = closest(value, (error.params as { allowedValues: unknown[] }).allowedValues.map(String));
        if (suggestion && !fixFor?.(key, value, found)) fix = `write ${suggestion}`;
      }
      yaml.report('APPPKG_DESC_BAD_VALUE', at, { expected: expectedNote ?? expectedFromKeyword(error), found, fix, suggestion });
    }
  }
}

/**
 * With allErrors, an `anyOf` that fails reports every branch's errors plus its own. When the
 * value's type picks one branch (a list for "one name or a list"), that branch's errors say
 * more (`deb[1]: expected a package name`); otherwise the anyOf's own error, which carries the
 * x-expected of the key, says it best.
 */
function relevantErrors(errors: ErrorObject[]): { kept: ErrorObject[]; enclosing: Map<ErrorObject, JsonSchema> } {
  const dropped = new Set<ErrorObject>();
  const enclosing = new Map<ErrorObject, JsonSchema>();
  for (const outer of errors) {
    if (outer.keyword === 'propertyNames') dropped.add(outer); // its inner error names the key
    if (outer.keyword !== 'anyOf') continue;
    const branches = outer.schema as JsonSchema[];
    const matching = branches.flatMap((branch, i) => (acceptsType(branch, outer.data) ? [i] : []));
    const keep = matching.length === 1 ? `${outer.schemaPath}/${matching[0]}/` : null;
    for (const inner of errors) {
      const under = inner.schemaPath.startsWith(`${outer.schemaPath}/`)
        && (inner.instancePath === outer.instancePath || inner.instancePath.startsWith(`${outer.instancePath}/`));
      if (under && (keep === null || !inner.schemaPath.startsWith(keep))) dropped.add(inner);
      else if (under && !enclosing.has(inner)) enclosing.set(inner, outer.parentSchema as JsonSchema);
    }
    if (keep !== null) dropped.add(outer);
  }
  return { kept: errors.filter((e) => !dropped.has(e)), enclosing };
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;
}

function acceptsType(branch: JsonSchema, value: unknown): boolean {
  const type = jsonType(value);
  let types: unknown[] | undefined;
  if (branch.type !== undefined) types = Array.isArray(branch.type) ? branch.type : [branch.type];
  else if (Array.isArray(branch.enum)) types = branch.enum.map(jsonType);
  if (types === undefined) return true;
  return types.includes(type) || (type === 'integer' && types.includes('number'));
}

function expectedFromKeyword(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type': {
      const types = Array.isArray(params.type) ? params.type : String(params.type).split(',');
      return types.map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(' or ');
    }
    case 'enum': return `one of ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'pattern': return `text matching ${String(params.pattern)}`;
    case 'minLength': return 'a non-empty string';
    case 'minItems': return 'a non-empty list';
    case 'minimum': return `a number of at least ${String(params.limit)}`;
    case 'exclusiveMinimum': return `a number greater than ${String(params.limit)}`;
    default: return error.message ?? 'a valid value';
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared with host-file.ts.

function pointer(at: YamlPath): string {
  return at.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function pointerToPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((s) => {
    const key = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(key) ? Number(key) : key;
  });
}

/** `processes.ws.route`, `deb[1]`, `static["/static"]`: how a key is named in messages. */
export function keyLabel(at: YamlPath): string {
  let label = '';
  for (const segment of at) {
    if (typeof segment === 'number') label += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) label += label === '' ? segment : `.${segment}`;
    else label += `[${JSON.stringify(segment)}]`;
  }
  return label;
}

function describeFound(node: YamlNode | null, value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') {
    return node && isScalar(node) && typeof node.source === 'string' && node.source !== '' ? node.source : String(value);
  }
  if (Array.isArray(value)) {
    const scalars = value.every((v) => v === null || typeof v !== 'object');
    const text = scalars ? `[${value.map((v) => String(v)).join(', ')}]` : '';
    return scalars && text.length <= 60 ? `a list ${text}` : `a list of ${value.length} item(s)`;
  }
  const keys = Object.keys(value as object);
  return keys.length === 0 ? 'an empty mapping' : `a mapping (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})`;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The candidate within 2 edits of `word` (case ignored), for "did you mean"; undefined if none. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = levenshtein(lower, candidate.toLowerCase());
    // Short words are 2 edits away from almost anything; demand less of them.
    if (distance < bestDistance && distance < Math.max(candidate.length, lower.length) - 1) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Sets an own, enumerable property even for a key like "__proto__" that came from a file. */
export function setOwn<V>(record: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** One name or a list of names, as a list without duplicates. */
export function toList(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return [...new Set(list.map((v) => String(v)))];
}

// ---------------------------------------------------------------------------------------------
// app.yaml.

const APP_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

const OS_ALIASES: Record<string, string> = {
  macos: 'darwin', osx: 'darwin', mac: 'darwin', macosx: 'darwin',
  win32: 'windows', win: 'windows', nt: 'windows', win64: 'windows', unix: 'posix',
};

/** Fix hints for app.yaml that depend on the value found. */
const descriptionFixFor: FixFor = (key, value, found) => {
  if ((key === 'app' || key === 'wsgi.app') && Array.isArray(value)) {
    const joined = value.length === 2 && value.every((v) => typeof v === 'string') ? value.join(':') : 'myapp.wsgi:application';
    return `write one module:object, not a list: ${key}: ${joined}`;
  }
  if ((key === 'app' || key === 'wsgi.app') && typeof value === 'string') {
    if (!value.includes(':')) {
      const module = value.replace(/\.py$/, '').replace(/[/\\]/g, '.');
      return `write module:object, e.g. ${key}: ${module || 'myapp.wsgi'}:application`;
    }
    if (/[/\\]|\.py:/.test(value)) {
      return `name the module with dots, not as a file: ${key}: ${value.replace(/\.py(?=:)/, '').replace(/[/\\]/g, '.')}`;
    }
    return 'write module:object, both dotted Python names, e.g. myapp.wsgi:application';
  }
  if (key === 'platform' && typeof value === 'string') {
    const unknown = value.split(',').map((s) => s.trim()).filter((m) => m !== '' && !['python', 'wsgi', 'command'].includes(m));
    if (unknown.length > 0) {
      const names = `${unknown.map((m) => JSON.stringify(m)).join(', ')} ${unknown.length === 1 ? 'is not a mixin' : 'are not mixins'}`;
      return `${names} (a framework needs none: a Flask or Django app is wsgi); write platform: python, wsgi or platform: python, command`;
    }
  }
  if (key === 'python') {
    // A number is shown as written: `python: 3.10` is 3.1 to YAML, "3.10" to the user.
    const text = typeof value === 'number' ? found : typeof value === 'string' ? value.trim() : '';
    if (/^\d+(\.\d+)*$/.test(text)) {
      return `add an operator: python: ">=${text}" (this version or later) or python: "==${text}.*" (this series)`;
    }
  }
  if (/^settings(\[\d+\])?$/.test(key) && typeof value === 'string' && !/[,\s]/.test(value) && value !== '') {
    return `name it with letters, digits and "_" only, e.g. ${value.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=\d)/, '_')}`;
  }
  if (/^(health|processes\..+\.route|static)$/.test(key) && typeof value === 'string' && !value.startsWith('/')) {
    return key === 'static' ? `write the prefix with a leading slash: /${value}: ...` : `write ${key.split('.').pop()}: /${value}`;
  }
  if (/^os(\[\d+\])?$/.test(key) && typeof value === 'string' && OS_ALIASES[value.toLowerCase()]) {
    return `write ${OS_ALIASES[value.toLowerCase()]} (the name the host reports for it)`;
  }
  return undefined;
};

/**
 * A path inside the package, normalised (`./vendor/` -> `vendor`); reports and returns
 * undefined for an absolute path or one that climbs out with `..`.
 */
function packagePath(yaml: YamlFile, at: YamlPath, value: string, example: string): string | undefined {
  const slashed = value.replace(/\\/g, '/');
  if (path.posix.isAbsolute(slashed) || /^[A-Za-z]:/.test(slashed) || slashed.startsWith('~')) {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'a path relative to the package directory',
      found: yaml.found(at),
      fix: `write it relative to the directory that holds app.yaml, e.g. ${example}`,
    });
    return undefined;
  }
  const normal = path.posix.normalize(slashed).replace(/(.)\/+$/, '$1');
  if (normal === '..' || normal.startsWith('../')) {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'a path inside the package (no ".." out of it)',
      found: yaml.found(at),
      fix: 'move what it points at into the package; a package must work wherever it is copied',
    });
    return undefined;
  }
  return normal;
}

/** A URL prefix normalised without its trailing "/"; "/" alone is refused (it would take every request). */
function urlPrefix(yaml: YamlFile, at: YamlPath, value: string, where: 'key' | 'value', what: string): string | undefined {
  const prefix = value.replace(/\/+$/, '');
  if (prefix === '') {
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      key: where === 'key' ? keyLabel(at.slice(0, -1)) : undefined,
      expected: `a URL prefix longer than "/" (${what})`,
      found: JSON.stringify(value),
      fix: 'use a prefix such as /static or /live; "/" would hide the rest of the app',
    }, where);
    return undefined;
  }
  return prefix;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function normaliseDescription(yaml: YamlFile, file: string, dir: string, dirName: string): Description {
  const fromDir = parsePackageDirName(dirName);

  let name = str(yaml.valid(['name']));
  if (name === undefined && yaml.raw(['name']) === undefined) {
    name = fromDir.name;
    if (!APP_NAME.test(name)) {
      yaml.report('APPPKG_DESC_BAD_VALUE', [], {
        key: 'name',
        expected: 'an app name of letters, digits, ".", "-" and "_"',
        found: `${JSON.stringify(name)} (the directory name)`,
        fix: 'add `name: ...` to app.yaml, or rename the directory',
      }, 'value', null);
    }
  }

  // platform: the mixins, and from them what kind of app this is.
  const hasApp = yaml.raw(['app']) !== undefined || yaml.raw(['wsgi', 'app']) !== undefined;
  const hasWeb = yaml.raw(['processes', 'web']) !== undefined;
  let kind: Description['kind'] = hasApp || !hasWeb ? 'wsgi' : 'command';
  let platform: string[] = ['python', kind];
  const platformValue = yaml.valid(['platform']);
  if (platformValue !== undefined) {
    platform = toList(typeof platformValue === 'string' ? platformValue.split(',').map((s) => s.trim()).filter(Boolean) : platformValue);
    const kinds = platform.filter((m) => m === 'wsgi' || m === 'command');
    if (!platform.includes('python') || kinds.length !== 1) {
      yaml.report('APPPKG_DESC_BAD_VALUE', ['platform'], {
        expected: 'python plus exactly one of wsgi or command, e.g. "python, wsgi"',
        found: yaml.found(['platform']),
        fix: 'write platform: python, wsgi (the gateway imports app:) or platform: python, command (processes.web.command serves on $PORT)',
      });
    } else {
      kind = kinds[0] as Description['kind'];
    }
  }

  // app: or wsgi: {app:}, required for wsgi, refused for command.
  if (yaml.raw(['app']) !== undefined && yaml.raw(['wsgi']) !== undefined) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['wsgi'], {
      expected: 'either app: or wsgi: {app: ...}, not both',
      found: 'both',
      fix: 'remove wsgi: and keep app:',
    }, 'key');
  }
  let app = str(yaml.valid(['app'])) ?? str(yaml.valid(['wsgi', 'app'])) ?? null;
  const missingAt: YamlPath = yaml.raw(['platform']) !== undefined ? ['platform'] : [];
  // (`wsgi:` without app: is the schema's to report.)
  if (kind === 'wsgi' && !hasApp && yaml.raw(['wsgi']) === undefined) {
    yaml.report('APPPKG_DESC_MISSING_KEY', missingAt, {
      key: 'app',
      expected: 'module:object, the WSGI callable (e.g. app: myapp.wsgi:application)',
      fix: 'add app: module:object, or write platform: python, command and give processes.web.command',
    }, 'key', ['app']);
  }
  if (kind === 'command' && hasApp) {
    const at = yaml.raw(['app']) !== undefined ? ['app'] : ['wsgi'];
    yaml.report('APPPKG_DESC_BAD_VALUE', at, {
      expected: 'no app: for platform command (processes.web.command serves the app)',
      found: yaml.found(at),
      fix: 'remove it, or write platform: python, wsgi to let the gateway import it',
    }, 'key');
    app = null;
  }
  if (kind === 'command' && yaml.raw(['processes', 'web', 'command']) === undefined && !yaml.failedAtOrAbove(['processes', 'web', 'command'])) {
    yaml.report('APPPKG_DESC_MISSING_KEY', yaml.raw(['processes']) !== undefined ? ['processes'] : missingAt, {
      key: 'processes.web.command',
      expected: "the command that starts the app's own server on $PORT",
      fix: 'add processes: {web: {command: python -m myapp --port $PORT}}, or write platform: python, wsgi with app: module:object',
    }, 'key', ['processes', 'web', 'command']);
  }
  if (kind === 'wsgi' && hasWeb && !yaml.failedAtOrAbove(['processes', 'web'])) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['processes', 'web'], {
      expected: "a process name other than web for platform wsgi (the gateway's workers are the web process)",
      found: 'web',
      fix: 'rename the process, or write platform: python, command if processes.web is the app\'s own server',
    }, 'key');
  }

  let python = str(yaml.valid(['python']))?.trim() ?? null;
  if (python !== null && (python === '' || !validRange(python))) {
    yaml.report('APPPKG_DESC_BAD_VALUE', ['python'], {
      expected: 'a PEP 440 specifier like ">=3.9"',
      found: yaml.found(['python']),
      fix: descriptionFixFor('python', python, '') ?? 'write a specifier such as ">=3.9", "~=3.11" or ">=3.9,<3.13" (operators: >=, <=, >, <, ==, !=, ~=)',
    });
    python = null;
  }

  const pipValue = str(yaml.valid(['pip']));
  const pip = pipValue === undefined ? null : packagePath(yaml, ['pip'], pipValue, 'requirements.txt') ?? null;

  const pathsValue = yaml.valid(['paths']);
  const pathList = Array.isArray(pathsValue) ? pathsValue.map((p, i) => [['paths', i], p] as const) : pathsValue === undefined ? [] : [[['paths'], pathsValue] as const];
  const paths: string[] = [];
  for (const [at, value] of pathList) {
    const normal = packagePath(yaml, at, String(value), 'vendor/');
    if (normal !== undefined && !paths.includes(normal)) paths.push(normal);
  }

  const staticDirs: Record<string, string> = {};
  const staticValue = yaml.raw(['static']);
  if (staticValue !== null && typeof staticValue === 'object' && !yaml.failedAtOrAbove(['static'])) {
    for (const rawPrefix of Object.keys(staticValue)) {
      const dirValue = str(yaml.valid(['static', rawPrefix]));
      if (dirValue === undefined) continue;
      const prefix = urlPrefix(yaml, ['static', rawPrefix], rawPrefix, 'key', 'the gateway serves files under it');
      const target = packagePath(yaml, ['static', rawPrefix], dirValue, 'static/');
      if (prefix === undefined || target === undefined) continue;
      if (Object.hasOwn(staticDirs, prefix)) {
        yaml.report('APPPKG_DESC_BAD_VALUE', ['static', rawPrefix], {
          key: 'static', expected: 'each URL prefix once', found: `${JSON.stringify(rawPrefix)} again`, fix: 'remove one of the two entries',
        }, 'key');
        continue;
      }
      setOwn(staticDirs, prefix, target);
    }
  }

  const processes: Record<string, ProcessSpec> = {};
  const processesValue = yaml.raw(['processes']);
  const routes = new Map<string, string>();
  if (processesValue !== null && typeof processesValue === 'object' && !yaml.failedAtOrAbove(['processes'])) {
    for (const processName of Object.keys(processesValue)) {
      const command = str(yaml.valid(['processes', processName, 'command']));
      const routeValue = str(yaml.valid(['processes', processName, 'route']));
      if (command === undefined) continue;
      let route: string | null = null;
      if (routeValue !== undefined) {
        const at = ['processes', processName, 'route'];
        route = urlPrefix(yaml, at, routeValue, 'value', 'its requests go to this process') ?? null;
        if (route !== null && processName === 'web') {
          yaml.report('APPPKG_DESC_BAD_VALUE', at, {
            expected: 'no route for processes.web (it takes every request not routed elsewhere)',
            found: yaml.found(at),
            fix: 'remove the route',
          });
        } else if (route !== null && routes.has(route)) {
          yaml.report('APPPKG_DESC_BAD_VALUE', at, {
            expected: `a route no other process has (processes.${routes.get(route)} has ${route})`,
            found: yaml.found(at),
            fix: 'give each process its own route',
          });
        } else if (route !== null) {
          routes.set(route, processName);
        }
      }
      setOwn(processes, processName, { command, route: processName === 'web' ? null : route });
    }
  }

  const commands: Description['commands'] = {};
  for (const hook of COMMAND_NAMES) {
    const command = str(yaml.valid(['commands', hook]));
    if (command !== undefined) commands[hook] = command;
  }

  const extensions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(yaml.data as Record<string, unknown>)) {
    if (key.startsWith('x-')) setOwn(extensions, key, value);
  }

  return {
    file,
    dir,
    name: name ?? fromDir.name,
    version: fromDir.version,
    kind,
    platform,
    os: toList(yaml.valid(['os'])),
    python,
    deb: toList(yaml.valid(['deb'])),
    rpm: toList(yaml.valid(['rpm'])),
    pip,
    paths,
    app: kind === 'wsgi' ? app : null,
    settings: toList(yaml.valid(['settings'])),
    static: staticDirs,
    health: str(yaml.valid(['health'])) ?? null,
    processes,
    commands,
    extensions,
    positions: Object.fromEntries(Object.keys((yaml.data ?? {}) as Record<string, unknown>).map((key) => [key, yaml.position([key])])),
  };
}

export interface LoadDescriptionOptions {
  /**
   * The directory name the app's default name and version come from; default: the basename of
   * the (symlink-resolved) directory that holds the file.
   */
  dirName?: string;
}

/** Loads one description file. Throws APPPKG_DESC_NOT_FOUND or APPPKG_DESC_INVALID (with every problem). */
export async function loadDescriptionFile(file: string, options: LoadDescriptionOptions = {}): Promise<Description> {
  const given = path.resolve(file);
  let dir: string;
  try {
    dir = await realpath(path.dirname(given));
  } catch {
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: path.dirname(given), file: given });
  }
  const absolute = path.join(dir, path.basename(given));
  return loadYamlWithSchema(absolute, readSchema('app'), {
    notFound: () => new GatewayError('APPPKG_DESC_NOT_FOUND', { dir, file: absolute }),
    invalidCode: 'APPPKG_DESC_INVALID',
    fixFor: descriptionFixFor,
    normalise: (yaml) => normaliseDescription(yaml, absolute, dir, options.dirName ?? path.basename(dir)),
  });
}

/**
 * Loads `DIR/app.yaml`. A symlinked directory is resolved first, so `dir` and `file` are the
 * target's. The default name and version come from the link's own name (`bench -> app`
 * is the app "bench"), except that a link without a version to a target of the same name
 * with one (`blog -> blog.2026.11.24`) takes the target's version.
 */
export async function loadDescription(dir: string): Promise<Description> {
  let resolved: string;
  try {
    resolved = await realpath(dir);
  } catch {
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: path.resolve(dir) });
  }
  const linkName = path.basename(path.resolve(dir));
  const targetName = path.basename(resolved);
  const link = parsePackageDirName(linkName);
  const target = parsePackageDirName(targetName);
  const dirName = link.version === null && link.name === target.name ? targetName : linkName;
  return loadDescriptionFile(path.join(resolved, 'app.yaml'), { dirName });
}
