// Key paths read from the text of a YAML file that did not parse, where its nodes cannot say
// them: from the block keys above a line with less indentation than it (SPEC §1.1: every error
// names its key, a syntax error on a line with no key of its own too).
import { keyLabel } from './yaml-file.js';

/** A line's leading blanks as columns; a tab to the next multiple of 8, as a terminal shows it. */
function indentOf(line: string): number {
  let width = 0;
  for (const c of /^[ \t]*/.exec(line)![0]) width = c === '\t' ? width + 8 - (width % 8) : width + 1;
  return width;
}

/** `key` of a line `key:` or `key: value` (after any `- `), without its quotes; undefined for a line with none. */
const BLOCK_KEY = /^["']?([^\s"':#-][^"':#]*?)["']?\s*:(\s|$)/;

/** The lines above the one at `lineStart`, nearest first, blank lines and comments passed over. */
function* linesAbove(source: string, lineStart: number): Generator<{ start: number; line: string }> {
  for (let end = lineStart - 1; end > 0; ) {
    const start = source.lastIndexOf('\n', end - 1) + 1;
    const line = source.slice(start, end);
    end = start - 1;
    const text = line.trim();
    if (text !== '' && !text.startsWith('#')) yield { start, line };
  }
}

/** Whether `text`, a line whose key `key` matched, has nothing after its colon but a comment: a key that holds the lines below it. */
function holdsBelow(text: string, key: RegExpExecArray): boolean {
  return text.slice(key[0].length).replace(/(^|\s)#.*$/, '').trim() === '';
}

/**
 * The whole key path (`processes.worker.command`) of `key`, the key on the line at `lineStart`,
 * read from the block keys above it with less indentation. A list item on the way (`- `) stops
 * the reading at `key` alone.
 */
export function blockKeyPath(source: string, lineStart: number, key: string): string {
  const path: string[] = [key];
  let indent = /^ */.exec(source.slice(lineStart))![0].length;
  if (source.slice(lineStart + indent).startsWith('-')) return key;
  for (const { line } of linesAbove(source, lineStart)) {
    if (indent === 0) break;
    const own = /^ */.exec(line)![0].length;
    if (own >= indent) continue;
    const parent = /^ *["']?([^\s"':#-][^"':#]*?)["']?\s*:(\s|$)/.exec(line)?.[1];
    if (parent === undefined) return key;
    path.unshift(parent);
    indent = own;
  }
  return keyLabel(path);
}

/**
 * The key path of the mapping or list that the line at `lineStart` stands in (`deb` for a bad
 * `- item` under deb:, `settings[1]` for a line inside its second item), judged by indentation
 * as its writer meant it: the nearest line above with less indentation that can hold one, a
 * `key:` with no value on its line or a `- ` item, then that line's own parents. A `key: value`
 * holds nothing, so it is passed over (a tab-indented `/media: m/` below `  /static: s/` is in
 * static, not in /static), and so is a `- scalar` item. Undefined at the top level, or above a
 * line it cannot read.
 */
export function enclosingKeyPath(source: string, lineStart: number): string | undefined {
  const path = enclosingKeyParts(source, lineStart);
  return path !== undefined && path.length > 0 ? keyLabel(path) : undefined;
}

/**
 * The whole key path of the key the line at `lineStart` begins with (`processes.ws` for a
 * tab-indented `ws:` under processes:, `health` for a top-level `health: /h` indented by
 * mistake), its parents read as enclosingKeyPath reads them: a syntax error on a line with a key
 * of its own is that key's (SPEC §1.1). Undefined for a line with none (a `- item`, text).
 */
export function lineKeyPath(source: string, lineStart: number): string | undefined {
  const lineEnd = source.indexOf('\n', lineStart);
  const key = BLOCK_KEY.exec(source.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).trim());
  if (key === null) return undefined;
  // Parents it cannot read leave the key alone, which still says more than no key.
  return keyLabel([...(enclosingKeyParts(source, lineStart) ?? []), key[1]]);
}

/** enclosingKeyPath's path as its parts; [] at the top level, undefined above a line it cannot read. */
function enclosingKeyParts(source: string, lineStart: number): Array<string | number> | undefined {
  const lineEnd = source.indexOf('\n', lineStart);
  const first = source.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  let indent = indentOf(first);
  // A `- ` item may stand at its key's own indentation (`deb:` then `- a`), as YAML allows.
  let afterItem = /^-(\s|$)/.test(first.trim());
  const path: Array<string | number> = [];
  for (const { start, line } of linesAbove(source, lineStart)) {
    if (indent === 0 && !afterItem) break;
    const text = line.trim();
    const own = indentOf(line);
    const item = /^-(\s|$)/.test(text);
    if (own > indent || (own === indent && !(afterItem && !item))) continue;
    if (item) {
      // `- name: x` then a line indented past `name`: inside name's value, in the item.
      const inner = text.slice(1).trimStart();
      const innerKey = BLOCK_KEY.exec(inner);
      const innerColumn = own + text.length - inner.length;
      // `- python3-flask` holds nothing: a line below it is the list's, as one below `key: value` is the mapping's.
      if (innerKey === null && inner !== '' && !/^-(\s|$)/.test(inner)) continue;
      if (innerKey !== null && holdsBelow(inner, innerKey) && indent > innerColumn) path.unshift(innerKey[1]);
      path.unshift(itemIndex(source, start, own));
      indent = own;
      afterItem = true;
      continue;
    }
    const key = BLOCK_KEY.exec(text);
    if (key === null) return undefined;
    // `key: value` holds no line below it: not what encloses this one.
    if (!holdsBelow(text, key)) continue;
    path.unshift(key[1]);
    indent = own;
    afterItem = false;
  }
  return path;
}

/** The index of the `- ` item whose line begins at `lineStart`, indented `indent`: the items above it in its list. */
function itemIndex(source: string, lineStart: number, indent: number): number {
  let index = 0;
  for (const { line } of linesAbove(source, lineStart)) {
    const own = indentOf(line);
    if (own > indent) continue;
    if (own < indent || !/^-(\s|$)/.test(line.trim())) break;
    index++;
  }
  return index;
}
