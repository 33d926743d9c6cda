// The JSON Schema validators for app.yaml and the environment file. The schemas in schema/ are
// what editors read, and ajv checks files against those very schemas (see load-yaml.ts for
// why ajv). Compiling them costs ~80 ms of every cold start (ajv's import and code generation),
// so `npm run build` compiles them once, with ajv's standalone code, into
// dist/description/compiled/NAME.cjs (scripts/build-validators.mjs). A compiled validator is
// used only while its schema's hash matches the schema file; otherwise (not built yet, a schema
// edited since the build) ajv compiles at first use, as before.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import type { Ajv as AjvType, ErrorObject, ValidateFunction } from 'ajv';

export type JsonSchema = Record<string, unknown>;
export type SchemaName = 'app' | 'environment';
export type { ErrorObject, ValidateFunction };

const require = createRequire(import.meta.url);

interface ShippedSchema {
  schema: JsonSchema;
  hash: string;
}
const shipped = new Map<SchemaName, ShippedSchema>();
const nameOf = new WeakMap<JsonSchema, SchemaName>();
const validators = new WeakMap<JsonSchema, ValidateFunction>();

/** The schema shipped in the package. */
export function readSchema(name: SchemaName): JsonSchema {
  let entry = shipped.get(name);
  if (!entry) {
    const text = readFileSync(join(PACKAGE_ROOT, 'schema', `${name}.schema.json`), 'utf8');
    entry = { schema: JSON.parse(text) as JsonSchema, hash: schemaHash(text) };
    shipped.set(name, entry);
    nameOf.set(entry.schema, name);
  }
  return entry.schema;
}

export function schemaHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** ajv as both the build and a fallback compile need it: `verbose` gives each error its parentSchema, where the `x-expected` / `x-fix` annotations live. */
export function makeAjv(extra: Record<string, unknown> = {}): AjvType {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, ...extra });
  ajv.addKeyword({ keyword: 'x-expected', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-fix', schemaType: 'string' });
  return ajv;
}

let runtimeAjv: AjvType | null = null;

export function validatorFor(schema: JsonSchema): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = compiled(schema) ?? (runtimeAjv ??= makeAjv()).compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

function compiled(schema: JsonSchema): ValidateFunction | null {
  const name = nameOf.get(schema);
  if (name === undefined) return null;
  try {
    const validate = require(join(PACKAGE_ROOT, 'dist', 'description', 'compiled', `${name}.cjs`)) as ValidateFunction & { schemaHash?: string };
    return validate.schemaHash === shipped.get(name)!.hash ? validate : null;
  } catch {
    return null; // not built yet
  }
}
