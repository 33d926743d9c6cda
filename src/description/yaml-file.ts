// A parsed YAML file that knows where each value came from and collects problems, with the
// helpers that name its keys in messages and read its values. app.yaml and the environment
// file (src/environment/host-file.ts) both go through it, so their messages read alike.

import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node as YamlNode } from 'yaml';
import { GatewayError, type ErrorCode, type ErrorDetails } from '../errors.js';
import { countOf } from '../count.js';
import { maskUrlPassword } from '../net/service-url.js';
import { keyLabel, type YamlPath } from './key-label.js';

// A file's readers name its keys too: one import gives them both.
export { keyLabel, type YamlPath };

export interface ProblemDetails {
  expected?: string;
  found?: string;
  fix?: string;
  suggestion?: string;
  known?: string[];
  /** An unknown key known in another file: what it is there. */
  elsewhere?: string;
}

export class YamlFile {
  readonly problems: GatewayError[] = [];
  private readonly failed = new Set<string>();

  constructor(
    readonly file: string,
    /** The plain JavaScript value of the document ({} for an empty file). */
    readonly data: unknown,
    private readonly root: YamlNode | null,
    private readonly lines: LineCounter,
    /** The document `root` is of, to follow an *alias to its &anchor. */
    private readonly doc?: Document,
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

  /**
   * The place of every key below `at`, `depth` levels down: a mapping's entry at its key, a
   * list's item at itself. One walk of the nodes: `position()` for each of 18 000 static
   * entries searched each mapping from its start, 11 s for a 256 KiB app.yaml.
   */
  placesBelow(at: YamlPath, depth: number): Array<[YamlPath, { line: number; column: number }]> {
    const places: Array<[YamlPath, { line: number; column: number }]> = [];
    const walk = (given: YamlNode | null, where: YamlPath, left: number) => {
      if (left === 0) return;
      const node = this.resolved(given);
      const children: Array<[string | number, YamlNode | null, YamlNode | null]> = isMap(node)
        ? node.items.map((p) => [keyName(p.key), p.key as YamlNode | null, (p.value as YamlNode | null) ?? null])
        : isSeq(node) ? node.items.map((item, i) => [i, null, (item as YamlNode | null) ?? null]) : [];
      for (const [segment, key, value] of children) {
        const offset = (key ?? value)?.range?.[0];
        if (offset === undefined) continue;
        const { line, col } = this.lines.linePos(offset);
        places.push([[...where, segment], { line, column: col }]);
        walk(value, [...where, segment], left - 1);
      }
    };
    walk(this.node(at)?.value ?? null, at, depth);
    return places;
  }

  /**
   * The node an *alias stands for (`paths: *vendored`), so that an entry of it is placed at its
   * own line in the &anchor, not at the alias, where no entry is written; any other node itself.
   */
  private resolved(node: YamlNode | null): YamlNode | null {
    return isAlias(node) && this.doc ? ((node.resolve(this.doc) as YamlNode | undefined) ?? node) : node;
  }

  private node(at: YamlPath): { key: YamlNode | null; value: YamlNode | null } | undefined {
    let key: YamlNode | null = null;
    let value: YamlNode | null = this.root;
    for (const segment of at) {
      value = this.resolved(value);
      if (isMap(value)) {
        const pair = value.items.find((p) => keyName(p.key) === String(segment));
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

/** A JSON pointer (RFC 6901) for `at`: the key under which a reported value is remembered. */
function pointer(at: YamlPath): string {
  return at.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** How a value reads in a message: the scalar as written, or the shape of a list or mapping. */
function describeFound(node: YamlNode | null, value: unknown): string {
  if (value === undefined) return 'nothing';
  // `key: null` or `key: ~` is written; `key:` alone is nothing.
  if (value === null) return node && isScalar(node) && typeof node.source === 'string' && node.source !== '' ? node.source : 'nothing';
  if (typeof value === 'string') {
    // A URL's password (a services: URL of the wrong scheme, say) is never echoed into a log.
    const shown = maskUrlPassword(value);
    return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return node && isScalar(node) && typeof node.source === 'string' && node.source !== '' ? node.source : String(value);
  }
  if (Array.isArray(value)) {
    const scalars = value.every((v) => v === null || typeof v !== 'object');
    const text = scalars ? `[${value.map((v) => String(v)).join(', ')}]` : '';
    return scalars && text.length <= 60 ? `a list ${text}` : `a list of ${countOf(value.length, 'item')}`;
  }
  const keys = Object.keys(value as object);
  return keys.length === 0 ? 'an empty mapping' : `a mapping (${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''})`;
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

/**
 * A mapping key as the data from toJS() names it: a null key (`~: x`, `: x`) is "" there, where
 * String(null) would be "null", and the key was not found (its error placed at 1:1).
 */
function keyName(key: unknown): string {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  return String(key);
}
