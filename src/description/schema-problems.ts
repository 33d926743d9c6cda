// ajv's errors -> problems on a YamlFile, one per mistake, in the user's words: "KEY: expected
// X, found Y", a "did you mean" when a near name exists, and the schema's own x-expected and
// x-fix notes (schema/*.schema.json) where it has them.

import type { ErrorObject, JsonSchema } from './validators.js';
import { keyLabel, type YamlFile } from './yaml-file.js';
import { closest } from '../closest.js';

/**
 * A setting name like `name` that is valid (letters, digits, "_", not beginning with a digit),
 * for a fix's "e.g.": `my-key` -> `my_key`; MY_SETTING when nothing of `name` is usable ("", "-").
 */
export function settingNameLike(name: string): string {
  const like = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^(?=\d)/, '_');
  return /[A-Za-z0-9]/.test(like) ? like : 'MY_SETTING';
}

/**
 * Returns a fix hint better than the schema's for a bad value, or undefined; `root` is the whole
 * document, for a fix that depends on another key (an `app:` example fits `platform:`'s kind).
 */
export type FixFor = (key: string, value: unknown, found: string, root?: unknown) => string | undefined;

/** Returns what a bad value should be, when it depends on the document (`root`) more than the schema's x-expected can say. */
export type ExpectedFor = (key: string, root: unknown) => string | undefined;

/** What an unknown key `name` under `at` is, when it is known elsewhere (another file's key), and its fix. */
export type UnknownKeyFix = (at: Array<string | number>, name: string, value: unknown, root: unknown) => { elsewhere: string; fix: string } | undefined;

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', array: 'a list', object: 'a mapping', integer: 'a whole number',
  number: 'a number', boolean: 'true or false', null: 'nothing',
};

function note(schema: JsonSchema | undefined, name: 'x-expected' | 'x-fix'): string | undefined {
  const value = schema?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** Reports ajv's `errors` as problems of `yaml`; `fixFor` may know a better fix for a bad value. */
export function reportSchemaErrors(yaml: YamlFile, errors: ErrorObject[], fixFor: FixFor | undefined, unknownKeyFix?: UnknownKeyFix, expectedFor?: ExpectedFor): void {
  const { kept, enclosing } = relevantErrors(errors);
  // A value can break two rules at once ("" is both too short and without a non-space): one
  // mistake, one problem, or the user reads the same line twice.
  const valuesReported = new Set<string>();
  for (const error of kept) {
    const at = pointerToPath(error.instancePath);
    const parent = (error.parentSchema ?? {}) as JsonSchema;
    // A branch of "one name or a list" says little itself; the key's own notes say more.
    const expectedNote = note(parent, 'x-expected') ?? note(enclosing.get(error), 'x-expected');
    const fixNote = note(parent, 'x-fix') ?? note(enclosing.get(error), 'x-fix');

    if (error.keyword === 'additionalProperties') {
      const name = String((error.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as object);
      const elsewhere = unknownKeyFix?.(at, name, yaml.sourceText([...at, name]) ?? yaml.raw([...at, name]), yaml.data);
      // `X-Team`: meant as the user's own, but only a lower-case `x-` is (as in Compose and OpenAPI).
      const upperX = /^X-/.test(name) ? { fix: `a key of your own begins with a lower-case "x-": write x-${name.slice(2)}` } : undefined;
      yaml.report('APPPKG_DESC_UNKNOWN_KEY', [...at, name], elsewhere ?? upperX ?? { suggestion: closest(name, known), known }, 'key');
    } else if (error.keyword === 'required') {
      const name = String((error.params as { missingProperty: string }).missingProperty);
      const property = ((parent.properties ?? {}) as Record<string, JsonSchema>)[name] ?? {};
      const expected = typeof property['x-expected'] === 'string' ? property['x-expected'] : 'a value';
      const under = at.length > 0 ? ` under ${keyLabel(at)}` : '';
      // `comand:` for `command:` is one mistake, said once: at the typo, with "did you mean".
      if (typoOf(yaml.raw(at), name, Object.keys((parent.properties ?? {}) as object))) continue;
      yaml.report('APPPKG_DESC_MISSING_KEY', [...at, name], { expected, fix: `add \`${name}: ...\`${under}` }, 'key');
    } else if (error.propertyName !== undefined) {
      // A propertyNames failure: the key itself is the bad value (e.g. a static prefix without
      // /), named as the entry it is (processes["bad name"]), as every other problem is.
      const name = error.propertyName;
      const found = JSON.stringify(name);
      const expected = expectedNote ?? expectedFromKeyword(error);
      yaml.report('APPPKG_DESC_BAD_VALUE', [...at, name], {
        expected,
        found,
        fix: fixFor?.(keyLabel(at), name, found, yaml.data) ?? fixNote ?? `rename the key to ${expected}`,
      }, 'key');
    } else {
      if (valuesReported.has(error.instancePath)) continue;
      valuesReported.add(error.instancePath);
      const value = yaml.raw(at);
      const found = yaml.found(at);
      const key = keyLabel(at);
      let fix = fixFor?.(key, value, found, yaml.data) ?? fixNote;
      let suggestion: string | undefined;
      if (error.keyword === 'enum' && typeof value === 'string') {
        suggestion = closest(value, (error.params as { allowedValues: unknown[] }).allowedValues.map(String));
        if (suggestion && !fixFor?.(key, value, found, yaml.data)) fix = `write ${suggestion}`;
      }
      const expected = expectedFor?.(key, yaml.data) ?? expectedNote ?? expectedFromKeyword(error);
      yaml.report('APPPKG_DESC_BAD_VALUE', at, { expected, found, fix, suggestion });
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

/** ajv's instancePath (a JSON pointer) as a YamlPath, list indexes as numbers. */
function pointerToPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((s) => {
    const key = s.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(key) ? Number(key) : key;
  });
}

/**
 * Whether `mapping` holds a key that is not one of `known` and is a typo of the missing `name`
 * (`comand` for `command`): reported as that unknown key, with "did you mean", the missing key
 * would be the same mistake said twice, its fix ("add `command: ...`") beside a key that is there.
 */
export function typoOf(mapping: unknown, name: string, known: readonly string[]): boolean {
  if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) return false;
  return Object.keys(mapping).some((key) => !known.includes(key) && !key.startsWith('x-') && closest(key, known) === name);
}
