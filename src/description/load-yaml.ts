// Reads a YAML file into a YamlFile, explains its syntax errors in the user's terms, checks it
// against a JSON Schema and runs the caller's semantic checks: every problem at once, each
// with file:line:column. app.yaml (load.ts) and the environment file (host-file.ts) use it.
//
// Why ajv: the schema in schema/*.schema.json is what editors (yaml-language-server) read, so
// validating against that same file keeps the editor and the gateway from disagreeing. ajv is
// the reference JSON Schema validator for JavaScript (fastify validates its config with it), is
// actively maintained, has no native parts, and reports every error at once (`allErrors`).

import { isUtf8 } from 'node:buffer';
import { constants, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError } from 'yaml';
import { GatewayError } from '../errors.js';
import { shellWord } from '../shell-words.js';
import { reportSchemaErrors, type ExpectedFor, type FixFor, type UnknownKeyFix } from './schema-problems.js';
import { blockKeyPath, enclosingKeyPath, lineKeyPath } from './source-key-path.js';
import { validatorFor, type JsonSchema } from './validators.js';
import { keyLabel, YamlFile } from './yaml-file.js';

export interface LoadYamlOptions<T> {
  /** The error for a file that does not exist; `code` is EISDIR when a directory is there. */
  notFound: (code: 'ENOENT' | 'ENOTDIR' | 'EISDIR') => GatewayError;
  /**
   * The error for a file that is there but no regular file (a FIFO, a socket, a device): when
   * given, such a file is refused, never read. app.yaml is its app's user's to replace, and a
   * FIFO there held `check` for ever; the environment file may be a pipe (`<(sops -d ...)`).
   */
  notAFile?: () => GatewayError;
  /**
   * Told of a regular file as it is opened, before anything of it is read: its real path (no
   * symlinks) and its stat. app.yaml's loader (load.ts) asks, once the file is read and before
   * anything of it is shown, whether the app's user could have read that very file.
   */
  onOpen?: (real: string, stat: Stats) => void;
  /** The code of the error that carries the problems. */
  invalidCode: 'APPPKG_DESC_INVALID' | 'APPPKG_ENVFILE_INVALID';
  /**
   * Semantic checks beyond the schema, and the normalisation. It runs even when the schema
   * found problems, so that one run reports everything; read values with `yaml.valid()`, which
   * hides those already reported. Whatever it returns is discarded when a problem was reported.
   */
  normalise: (yaml: YamlFile) => T;
  fixFor?: FixFor;
  expectedFor?: ExpectedFor;
  unknownKeyFix?: UnknownKeyFix;
}

/** The largest description or environment file read, in characters. */
const MAX_YAML_CHARS = 256 * 1024;

/** More bytes than this hold more than MAX_YAML_CHARS characters (UTF-8 spends at most 4 on one). */
const MAX_YAML_BYTES = 4 * MAX_YAML_CHARS;

/** What one read asks for: a description is a few hundred bytes, an environment file a few KiB. */
const READ_CHUNK = 64 * 1024;

/**
 * `file`'s bytes, no more than one chunk past MAX_YAML_BYTES: read whole, a sparse 1.5 GB
 * app.yaml its app's user made held 1.6 GB of the gateway's memory, and failed as "cannot read"
 * with a fix about permissions. With `notAFile`, opened without waiting (O_NONBLOCK) and refused
 * unless a regular file. Read in chunks, not by the size stat gives: the environment file may
 * be a pipe, and a file may grow between the two.
 */
async function readBounded(file: string, notAFile?: () => GatewayError, onOpen?: (real: string, stat: Stats) => void): Promise<Buffer> {
  const handle = await open(file, notAFile ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_RDONLY);
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw Object.assign(new Error(`${file} is a directory`), { code: 'EISDIR' });
    if (notAFile && !st.isFile()) throw notAFile();
    if (onOpen && st.isFile()) onOpen(openedPath(handle, file), st);
    if (st.isFile() && st.size > MAX_YAML_BYTES) throw new GatewayError('APPPKG_FILE_TOO_LARGE', { file, size: st.size, limit: MAX_YAML_CHARS });
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(READ_CHUNK), 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      length += bytesRead;
      if (length > MAX_YAML_BYTES) throw new GatewayError('APPPKG_FILE_TOO_LARGE', { file, size: length, limit: MAX_YAML_CHARS });
    }
    return Buffer.concat(chunks, length);
  } finally {
    await handle.close();
  }
}

/**
 * Where the file open as `handle` is: Linux names it in /proc/self/fd, the file opened, not one
 * its symlink leads to since; elsewhere the path resolved now. Synchronous: a promise's readlink
 * costs several times the call, once for each app at each look under --apps.
 */
function openedPath(handle: FileHandle, file: string): string {
  try {
    return readlinkSync(`/proc/self/fd/${handle.fd}`);
  } catch {
    return realpathSync(file);
  }
}

/**
 * Reads `file`, parses it as YAML, validates it against `schema`, runs `normalise`, and either
 * returns its result or throws `invalidCode` with every problem, sorted by position.
 */
export async function loadYamlWithSchema<T>(file: string, schema: JsonSchema, options: LoadYamlOptions<T>): Promise<T> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(file, options.notAFile, options.onOpen);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw options.notFound(code);
    throw new GatewayError('APPPKG_FILE_UNREADABLE', { file, reason: code ?? String(err), cause: err });
  }
  // A byte order mark is no character of the first line: counted, it would put every place
  // there one column right of where an editor shows it.
  // A CR alone (an old Mac editor's line end) is a line break in YAML 1.2 (section 5.4), but
  // yaml 2 reads it as part of the line: the whole file was one line, its first key's value
  // swallowing the rest. Each becomes an LF, one character for one, so that offsets stay those
  // of the file and lines are counted as an editor shows them.
  const source = bytes.toString('utf8').replace(/^\uFEFF/, '').replace(/\r(?!\n)/g, '\n');
  // Parsing with positions grows faster than the file (a 2 MB app.yaml held the gateway's one
  // thread 30 s): a description is a page or two, an environment file a few hundred apps.
  if (source.length > MAX_YAML_CHARS) {
    throw new GatewayError('APPPKG_FILE_TOO_LARGE', { file, size: source.length, limit: MAX_YAML_CHARS });
  }
  // A file saved as Latin-1 (`name: caf\xe9`) would otherwise be read with U+FFFD in its place,
  // and a setting's value or a name would silently differ from what the author wrote.
  if (!isUtf8(bytes)) {
    throw new GatewayError(options.invalidCode, { file, problems: [notUtf8Problem(file, bytes, source)] });
  }
  const stray = strayCharacterProblem(file, source);
  if (stray !== null) throw new GatewayError(options.invalidCode, { file, problems: [stray] });
  const yaml = parseYaml(file, source);
  if (yaml.problems.length === 0) {
    if (yaml.data === null || typeof yaml.data !== 'object' || Array.isArray(yaml.data)) {
      // `app:blog.wsgi:application` alone reads as one string: the colon lacks its space.
      const glued = typeof yaml.data === 'string' ? /^([\w.-]+):(\S\S*)/.exec(yaml.data) : null;
      const fix = glued !== null ? `write a space after each key's colon: ${glued[1]}: ${glued[2]}` : undefined;
      yaml.report('APPPKG_DESC_NOT_MAPPING', [], { key: '', found: yaml.found([]), fix });
    } else {
      const validate = validatorFor(schema);
      if (!validate(yaml.data)) reportSchemaErrors(yaml, validate.errors ?? [], options.fixFor, options.unknownKeyFix, options.expectedFor);
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

/** The first byte of `bytes` that does not begin or continue a UTF-8 character (RFC 3629 section 4). */
function firstNonUtf8Byte(bytes: Buffer): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (length === 0) return i;
    // The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF.
    const low = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const high = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? low : 0x80) || c > (k === 1 ? high : 0xbf)) return i;
    }
    i += length;
  }
  return bytes.length;
}

/**
 * The problem of a file that is not UTF-8, placed at its first bad byte and named by the key
 * whose key or value holds it (read from the text with that byte replaced), with the fix.
 */
function notUtf8Problem(file: string, bytes: Buffer, lossy: string): GatewayError {
  const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  const at = utf16 ? 0 : firstNonUtf8Byte(bytes);
  // Everything before the bad byte is UTF-8, so it decodes to the same characters in `lossy`.
  const before = bytes.toString('utf8', 0, at).replace(/^\uFEFF/, '');
  const lines = new LineCounter();
  const doc = parseDocument(lossy, { lineCounter: lines });
  const { line, col } = lines.linePos(before.length);
  const byte = bytes[at];
  const latin1 = byte >= 0xa0 ? ` (${JSON.stringify(String.fromCharCode(byte))} in Latin-1)` : '';
  const word = shellWord(path.basename(file));
  return new GatewayError('APPPKG_DESC_ENCODING', {
    file, line, column: col, key: utf16 ? undefined : keyHolding(doc, before.length),
    found: utf16
      ? 'UTF-16 text (the file begins with a UTF-16 byte order mark)'
      : `the byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')}${latin1}, which is not UTF-8 (at byte offset ${at})`,
    fix: `save the file as UTF-8 (an editor's "Save with Encoding"), or convert it in its directory: iconv -f ${utf16 ? 'utf-16' : 'latin1'} -t utf-8 ${word} > ${word}.new && mv ${word}.new ${word}`,
  });
}

/**
 * A character YAML does not allow in a file (YAML 1.2 section 5.1, c-printable: no C0 control
 * but tab, LF and CR, no DEL, no C1 control but NEL, no U+FFFE or U+FFFF). yaml reads most of
 * them as text, or stops on one in words of its own ("Implicit map keys need to be followed
 * by map values" for a NUL on a line of its own); a NUL in a comment, or an escape pasted from a
 * terminal into a command, it took without a word.
 */
const NOT_PRINTABLE = /[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

/** The C0 controls' names (ISO 646), as `man ascii` gives them. */
const CONTROL_NAMES = ['NUL', 'SOH', 'STX', 'ETX', 'EOT', 'ENQ', 'ACK', 'BEL', 'BS', 'HT', 'LF', 'VT', 'FF', 'CR', 'SO', 'SI',
  'DLE', 'DC1', 'DC2', 'DC3', 'DC4', 'NAK', 'SYN', 'ETB', 'CAN', 'EM', 'SUB', 'ESC', 'FS', 'GS', 'RS', 'US'];

/**
 * The problem of the first character of `source` that YAML does not allow, placed at it and
 * named by the key whose value holds it; null when there is none. Its value is never shown:
 * under the environment file's settings it is a secret.
 */
function strayCharacterProblem(file: string, source: string): GatewayError | null {
  const stray = NOT_PRINTABLE.exec(source);
  if (stray === null) return null;
  const offset = stray.index;
  const code = stray[0].codePointAt(0)!;
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, logLevel: 'error' });
  const { line, col } = lines.linePos(offset);
  // The line read without the character: `\0app:` is the key app, as an editor shows it.
  const lineStart = lines.lineStarts[line - 1];
  const without = source.slice(0, offset) + source.slice(offset + stray[0].length);
  const key = keyHolding(doc, offset, false) ?? lineKeyPath(without, lineStart) ?? enclosingKeyPath(without, lineStart);
  const hex = code.toString(16).toUpperCase().padStart(4, '0');
  const name = code < 0x20 ? ` (${CONTROL_NAMES[code]})` : code === 0x7f ? ' (DEL)' : '';
  // cat -A shows C0 controls and DEL in caret notation; what it shows of the rest is their bytes.
  const caret = code < 0x20 ? `^${String.fromCharCode(code + 0x40)}` : code === 0x7f ? '^?' : null;
  const word = shellWord(path.basename(file));
  const escape = code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${hex.toLowerCase()}`;
  return new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
    file, line, column: col, key,
    found: `the control character U+${hex}${name}, which YAML does not allow in a file: the file is binary, or has a stray control character here`,
    fix: `remove the character (${caret !== null ? `\`cat -A ${word}\` shows it as ${caret}` : `\`grep -nP '\\x{${hex}}' ${word}\` finds its line`})` +
      (code === 0 ? `; if the whole file is not text, write the app's description in it (\`file ${word}\` says what it holds)` : `, or, to keep it in the value, write it as an escape inside double quotes: "${escape}"`),
  });
}

/** The key path (as messages name keys) of the deepest key or value whose text holds `offset`. */
function keyHolding(doc: Document, offset: number, keys = true): string | undefined {
  let label: string | undefined;
  visit(doc, {
    Scalar(key, node, ancestors) {
      const range = node.range;
      // keys false: a key is left to its line's reading, which names the key itself, not its parent.
      if (!keys && key === 'key') return undefined;
      if (range && range[0] <= offset && offset < range[1]) label = keyOfNode(ancestors, node);
      return undefined;
    },
  });
  return label;
}

function parseYaml(file: string, source: string): YamlFile {
  const lines = new LineCounter();
  // resolveKnownTags off: YAML 1.1's !!set, !!omap, !!binary and !!timestamp would otherwise
  // come back as a Set, a Map, a Buffer or a Date, which the schema takes for an empty mapping
  // (`processes: !!set {a, b}` was no processes at all) or an object; unresolved, each is reported.
  // logLevel error: yaml's warnings went to Node's process.emitWarning, on the user's stderr
  // beside the gateway's own message; each one that matters is reported here instead ('silent'
  // would drop the error of a second document too).
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: true, resolveKnownTags: false, logLevel: 'error' });
  const complex = doc.errors.length === 0 ? complexKeyProblems(file, source, doc, lines) : [];
  let data: unknown = null;
  let tooManyAliases = false;
  try {
    // An empty file (or comments only) is an empty mapping.
    if (doc.errors.length === 0 && complex.length === 0) data = doc.toJS() ?? {};
  } catch {
    tooManyAliases = true; // yaml's guard against alias bombs (maxAliasCount)
  }
  const yaml = new YamlFile(file, data, doc.contents as YamlNode | null, lines, doc);
  yaml.problems.push(...complex);
  if (tooManyAliases) {
    yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
      file, line: 1, column: 1, found: 'more alias expansions than a description needs', fix: 'write the values out instead of repeating *aliases',
    }));
  }
  if (doc.errors.length === 0) {
    reportMergeKeys(yaml, doc, lines);
    reportTags(yaml, source, doc, lines);
  }
  const seenLines = new Set<number>();
  // An over-indented key is reported twice by yaml (a multi-line key, then a nested mapping);
  // the second says what is wrong, so the first is dropped.
  const nestedAt = new Set(doc.errors.filter((e) => e.code === 'BLOCK_AS_IMPLICIT_KEY').map((e) => e.pos[0]));
  for (const error of doc.errors) {
    if (error.code === 'MULTILINE_IMPLICIT_KEY' && nestedAt.has(error.pos[0])) continue;
    const quote = unclosedQuote(doc, error);
    // One mistake often makes yaml report a cascade on the same line; the first says it best.
    const { line, column } = syntaxPosition(source, error, lines, quote);
    if (seenLines.has(line)) continue;
    seenLines.add(line);
    const { found, fix, key } = quote ? explainUnclosedQuote(quote) : explainSyntaxError(file, source, error, doc);
    // A line with a key of its own (a tab before `name:`, an over-indented `health:`) is named by
    // that key; one with none (a bad `- item`) by the key it stands under.
    const lineStart = lines.lineStarts[line - 1];
    const under = key ?? lineKeyPath(source, lineStart) ?? enclosingKeyPath(source, lineStart);
    yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', { file, line, column, key: under, found, fix }));
  }
  return yaml;
}

/**
 * A key that is a list or a mapping (`? [a, b]` then `: x`, or `{a: 1}: x`), itself or through
 * an *alias: YAML allows it, a description has no use for it, and toJS() made it the string
 * "[ a, b ]", an unknown key placed at 1:1 (no key of that name is in the file), with a warning
 * of yaml's on stderr. Said at the key, as a syntax problem, so that toJS() never sees it.
 */
function complexKeyProblems(file: string, source: string, doc: Document, lines: LineCounter): GatewayError[] {
  const problems: GatewayError[] = [];
  visit(doc, {
    Pair(_key, pair, ancestors) {
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (!isMap(key) && !isSeq(key)) return undefined;
      const range = (pair.key as YamlNode).range;
      const { line, col } = lines.linePos(range?.[0] ?? 0);
      const written = range ? source.slice(range[0], range[1]).trim() : '';
      const shown = written.length > 40 ? `${written.slice(0, 37)}...` : written;
      problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
        file, line, column: col, key: keyOfNode([...ancestors, pair], pair.key),
        found: `a key that is ${isMap(key) ? 'a mapping' : 'a list'}${shown ? ` (${shown})` : ''}, which ${path.basename(file)} does not take`,
        fix: 'write each key as a plain name followed by ": " (name: value); a "? " line, or a [list] or {mapping} before ":", makes a complex key',
      }));
      return undefined;
    },
  });
  return problems;
}

/**
 * `<<: *defaults`, the merge key of YAML 1.1 (docker-compose's idiom), is a plain key `<<` in
 * the YAML 1.2 that app.yaml and the environment file are read as: said so, instead of an unknown key "<<" and the keys
 * it was meant to bring in missing. Reported as a syntax problem, so the schema does not run.
 */
function reportMergeKeys(yaml: YamlFile, doc: Document, lines: LineCounter): void {
  visit(doc, {
    Pair(_key, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.value !== '<<' || pair.key.type !== 'PLAIN') return undefined;
      const offset = pair.key.range?.[0] ?? 0;
      const { line, col } = lines.linePos(offset);
      const at = keyOfNode([...ancestors, pair], pair.key);
      yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
        file: yaml.file, line, column: col, key: at ? `${at}["<<"]` : '<<',
        found: `a YAML merge key "<<", which ${path.basename(yaml.file)} does not support`,
        fix: 'write the keys out in full, or keep the shared value under an x- key with an &anchor and give the whole value as an *alias (x-proc: &proc {...} then processes: {web: *proc})',
      }));
      return undefined;
    },
  });
}

/**
 * A tag the YAML 1.2 core schema does not resolve (`!include`, `!!set`, `!!binary`): yaml only
 * warns and reads the value as if untagged, so `!include other.yaml` was the string
 * "other.yaml" and `!!set {a, b}` a mapping of nulls. A description is plain values; said where
 * the tag is, as a syntax problem, so the schema does not run on what the tag was meant to make.
 */
function reportTags(yaml: YamlFile, source: string, doc: Document, lines: LineCounter): void {
  for (const warning of doc.warnings) {
    if (warning.code !== 'TAG_RESOLVE_FAILED') continue;
    const offset = warning.pos[0];
    const { line, col } = lines.linePos(offset);
    const tag = /^!\S*/.exec(source.slice(offset))?.[0] ?? 'a tag';
    const lineStart = lines.lineStarts[line - 1];
    yaml.problems.push(new GatewayError('APPPKG_DESC_YAML_SYNTAX', {
      file: yaml.file, line, column: col, key: lineKeyPath(source, lineStart) ?? enclosingKeyPath(source, lineStart),
      found: `the tag ${tag}, which ${path.basename(yaml.file)} does not read (it takes plain strings, numbers, lists and mappings; no file is included and no YAML 1.1 type is made)`,
      fix: `remove ${tag} and write the value itself${tag === '!!set' ? ' (a list is [a, b])' : ''}`,
    }));
  }
}

function syntaxPosition(source: string, error: YAMLError, lines: LineCounter, quote: UnclosedQuote | null): { line: number; column: number } {
  let offset = error.pos[0];
  // yaml points a bad indentation at the leading spaces; the user looks for the key after them.
  if (error.code === 'BAD_INDENT') {
    while (offset < source.length && source[offset] === ' ') offset++;
  }
  if (error.code === 'BLOCK_AS_IMPLICIT_KEY') {
    const culprit = overIndentedKeyLine(source, offset);
    if (culprit !== null) offset = culprit;
  }
  // yaml stops after the ">" or "|" (at "=" in `python: >=3.9`); the value to quote begins there.
  if (error.code === 'UNEXPECTED_TOKEN') offset = blockIndicatorAt(source, offset) ?? offset;
  // yaml finds an unclosed [ or { where the collection should have ended, often past the last
  // line; the user looks for the bracket they opened (issue 13).
  const opener = unclosedFlow(source, error);
  if (opener !== null) offset = opener.offset;
  // yaml finds a missing closing quote where it gave up reading the value (the end of its
  // line, or past the file's last line); the mistake is where the quoted value opens.
  if (quote !== null) offset = quote.offset;
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

/**
 * The offset of the ">" or "|" that begins a value on the line of `offset` (`python: >=3.9`,
 * which YAML reads as a block scalar's header and refuses past it); null when there is none.
 */
function blockIndicatorAt(source: string, offset: number): number | null {
  const colon = source.lastIndexOf(':', offset);
  if (colon < 0 || source.lastIndexOf('\n', offset - 1) > colon) return null;
  const header = /^[ \t]*[>|]/.exec(source.slice(colon + 1));
  return header === null ? null : colon + header[0].length;
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

/**
 * For yaml's "Flow sequence (map) ... must be ... end with a ]" (`deb: [a, b` never closed):
 * the outermost `[` or `{` still open where yaml gave up, found by matching brackets outside
 * quotes and comments; null for any other error.
 */
function unclosedFlow(source: string, error: YAMLError): { offset: number; open: string; close: string } | null {
  const what = /^Flow (sequence|map) in block collection must be sufficiently indented and end with a ([\]}])/.exec(error.message);
  if (error.code !== 'BAD_INDENT' || what === null) return null;
  const open: number[] = [];
  for (let i = 0; i < error.pos[0] && i < source.length; i++) {
    const c = source[i];
    const before = i === 0 ? '\n' : source[i - 1];
    if (c === '#' && /\s/.test(before)) {
      while (i < source.length && source[i] !== '\n') i++;
    } else if ((c === '"' || c === "'") && /[\s[{,:]/.test(before)) {
      // A quoted scalar (a quote inside a plain word, as in don't, opens none).
      for (i++; i < source.length && source[i] !== c; i++) if (c === '"' && source[i] === '\\') i++;
    } else if (c === '[' || c === '{') {
      open.push(i);
    } else if ((c === ']' || c === '}') && open.length > 0) {
      open.pop();
    }
  }
  const closer = what[2];
  const first = open.find((at) => (source[at] === '[') === (closer === ']'));
  return first === undefined ? null : { offset: first, open: source[first], close: closer };
}

interface UnclosedQuote {
  /** Where the opening quote is. */
  offset: number;
  quote: '"' | "'";
  /** The key whose value it is (`settings.A`, `deb[1]`), when it is one. */
  key: string | undefined;
}

/**
 * For yaml's "Missing closing "quote": the quoted value it read on to the end of the file,
 * found as the scalar of that quote ending where the error is; null for any other error.
 */
function unclosedQuote(doc: Document, error: YAMLError): UnclosedQuote | null {
  const what = /^Missing closing (["'])quote/.exec(error.message);
  if (error.code !== 'MISSING_CHAR' || what === null) return null;
  const quote = what[1] as '"' | "'";
  let found: UnclosedQuote | null = null;
  visit(doc, {
    Scalar(_key, node, path) {
      if (node.type !== (quote === '"' ? 'QUOTE_DOUBLE' : 'QUOTE_SINGLE') || !node.range || node.range[0] > error.pos[0]) return undefined;
      // The last such value opening before the error: the one still open where yaml gave up.
      if (found === null || node.range[0] > found.offset) found = { offset: node.range[0], quote, key: keyOfNode(path, node) };
      return undefined;
    },
  });
  return found;
}

/** The key path of `node` from the document's root (through the ancestors `visit` gives), as messages name keys. */
function keyOfNode(path: readonly unknown[], node: unknown): string | undefined {
  const at: Array<string | number> = [];
  const chain = [...path, node];
  for (let i = 0; i < chain.length; i++) {
    const step = chain[i];
    if (isPair(step)) {
      // A quoted key is itself the unclosed value: it has no key of its own.
      if (chain[i + 1] === step.key) return at.length > 0 ? keyLabel(at) : undefined;
      at.push(isScalar(step.key) ? String(step.key.value) : String(step.key));
    } else if (isSeq(step) && i + 1 < chain.length) {
      at.push(step.items.indexOf(chain[i + 1] as never));
    }
  }
  return at.length > 0 ? keyLabel(at) : undefined;
}

/** The key path of the mapping key that begins at `offset`, as messages name keys. */
function keyAt(doc: Document, offset: number): string | undefined {
  let label: string | undefined;
  visit(doc, {
    Pair(_key, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined;
      // Anything but the key itself stands for the value, so the pair's own key is counted.
      label = keyOfNode([...ancestors, pair], pair.value ?? {});
      return visit.BREAK;
    },
  });
  return label;
}

function explainUnclosedQuote(q: UnclosedQuote): { found: string; fix: string; key?: string } {
  const inside = q.quote === '"' ? 'write a " inside it as \\"' : "write a ' inside it as ''";
  return {
    key: q.key,
    found: `a ${q.quote} that opens a quoted value and is never closed`,
    fix: `end the value with a closing ${q.quote} (${inside})`,
  };
}

/**
 * The environment file's settings and services hold secrets, and what a start or a SIGHUP says
 * of the file stays in the gateway's log: under those keys a fix that writes the value out shows
 * its first character (the one YAML refuses) and "...", never the rest.
 */
// A setting's value is one level below settings: (settings.NAME); app.yaml's settings: is a
// list of names, settings or settings[1], and is shown.
const SECRET_VALUE = /^(?:(?:settings|apps(?:\.[^.[]+|\[[^\]]*\])\.settings)(?:\.|\[")|services(?:[.[]|$))/;

function shownValue(keyPath: string | undefined, value: string): string {
  return keyPath !== undefined && SECRET_VALUE.test(keyPath) ? `${value.slice(0, 1)}...` : value;
}

function explainSyntaxError(file: string, source: string, error: YAMLError, doc: Document): { found: string; fix?: string; key?: string } {
  const text = source.slice(error.pos[0], error.pos[1]);
  const own = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const opener = unclosedFlow(source, error);
  if (opener !== null) {
    const lineStart = source.lastIndexOf('\n', opener.offset - 1) + 1;
    const local = /^\s*(?:-\s+)?["']?([^\s"':#][^"':#]*?)["']?\s*:/.exec(source.slice(lineStart, opener.offset))?.[1];
    const key = local === undefined ? undefined : blockKeyPath(source, lineStart, local);
    const list = opener.open === '[';
    // The example closes what was written (`settings: [A, B` -> `settings: [A, B]`): Debian
    // package names under settings: or paths: sent users the wrong way.
    const lineEnd = source.indexOf('\n', opener.offset);
    const written = source.slice(opener.offset + 1, lineEnd === -1 ? undefined : lineEnd).replace(/\s#.*$/, '').trim().replace(/,$/, '').trim();
    const secret = key !== undefined && SECRET_VALUE.test(key);
    const items = written !== '' && !secret ? written : local === undefined || local === 'deb' || local === 'rpm' ? 'python3-flask, python3-yaml' : 'first, second';
    return {
      key,
      found: `a "${opener.open}" that is never closed: the ${list ? 'list' : 'mapping'} it opens has no "${opener.close}" before the lines that follow`,
      // The line to write names the key as it stands on its line, not by its path.
      fix: list
        ? `end the list on its line with "]", e.g. ${local ?? 'deb'}: [${items}], or write one "- item" per line below ${local ?? 'the key'}:`
        : `end the mapping on its line with "}", e.g. ${local ?? 'static'}: {/static: static/}, or write one "key: value" per line below it, indented`,
    };
  }
  switch (error.code) {
    case 'MULTIPLE_DOCS':
      return {
        found: 'a second YAML document, after a "---" line',
        fix: `${path.basename(file)} must be one YAML document: remove the second "---" (and move the keys below it up into the first)`,
      };
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
      // Labelled by its whole path, as every other problem is: `/a` twice under static: is
      // static["/a"], and a `name` twice under processes.ws is not the top-level name.
      return { found: `the key "${key}" a second time`, key: keyAt(doc, error.pos[0]) ?? key, fix: `keep one "${key}:" and remove the other` };
    }
    case 'MISSING_CHAR': {
      // yaml's "Implicit map keys need to be followed by map values": a line that reads as a
      // key with no ": " after it, `name blog` or `app:blog.wsgi:application` (the colon
      // without its space belongs to the text).
      const lineStart = source.lastIndexOf('\n', error.pos[0] - 1) + 1;
      const lineEnd = source.indexOf('\n', lineStart);
      const line = source.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).replace(/\s+#.*$/, '').trim();
      const glued = /^([\w.-]+):(\S.*)$/.exec(line);
      if (glued !== null) {
        return { found: `"${line}", a key with no space after its ":"`, key: blockKeyPath(source, lineStart, glued[1]), fix: `write a space after the colon: ${glued[1]}: ${glued[2]}` };
      }
      const spaced = /^([\w.-]+)\s+(\S.*)$/.exec(line);
      if (/^Implicit map keys/.test(own) && spaced !== null) {
        return { found: `"${line}", a line with no ":" after its key`, fix: `write the key, a colon and a space before the value: ${spaced[1]}: ${spaced[2]}` };
      }
      return { found: own };
    }
    case 'BAD_SCALAR_START': {
      // `check: @reboot`, a value in backticks: YAML keeps these characters for later use.
      const lineStart = source.lastIndexOf('\n', error.pos[0] - 1) + 1;
      const key = /^\s*(?:-\s+)?([^\s"':#][^"':#]*?)\s*:/.exec(source.slice(lineStart))?.[1];
      const lineEnd = source.indexOf('\n', error.pos[0]);
      const value = source.slice(error.pos[0], lineEnd === -1 ? undefined : lineEnd).replace(/\s+#.*$/, '').trim();
      const keyPath = key === undefined ? undefined : blockKeyPath(source, lineStart, key);
      return {
        found: `a value beginning with "${text}", which YAML reserves`,
        key: keyPath,
        fix: `quote the value: ${key ?? 'key'}: "${shownValue(keyPath, value).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
      };
    }
    case 'UNEXPECTED_TOKEN': {
      const indicator = blockIndicatorAt(source, error.pos[0]);
      if (indicator !== null) {
        // As BAD_SCALAR_START's: the key and the value written, quoted (`command: >run` under
        // processes.ws is not python's `>=3.9`).
        const lineStart = source.lastIndexOf('\n', indicator - 1) + 1;
        const key = /^\s*(?:-\s+)?([^\s"':#][^"':#]*?)\s*:/.exec(source.slice(lineStart))?.[1];
        const lineEnd = source.indexOf('\n', indicator);
        const value = source.slice(indicator, lineEnd === -1 ? undefined : lineEnd).replace(/\s+#.*$/, '').trim();
        const keyPath = key === undefined ? undefined : blockKeyPath(source, lineStart, key);
        return {
          found: 'a value beginning with ">" or "|", which YAML reads as a block of text',
          key: keyPath,
          fix: `quote the value: ${key ?? 'key'}: "${shownValue(keyPath, value).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
        };
      }
      return { found: own };
    }
    default:
      return { found: own };
  }
}
