#!/usr/bin/env node
// After tsc: compile schema/*.schema.json into dist/description/compiled/NAME.cjs with ajv's
// standalone code, so the gateway does not load ajv and generate the validators at every start
// (~80 ms). Each file carries the hash of the schema text it was compiled from:
// src/description/validators.ts uses it only while that still matches the schema file.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { makeAjv, schemaHash } = await import(join(root, 'dist', 'description', 'validators.js'));
const out = join(root, 'dist', 'description', 'compiled');
mkdirSync(out, { recursive: true });

for (const name of ['app', 'environment']) {
  const text = readFileSync(join(root, 'schema', `${name}.schema.json`), 'utf8');
  const ajv = makeAjv({ code: { source: true } });
  const validate = ajv.compile(JSON.parse(text));
  const code = standaloneCode.default(ajv, validate);
  writeFileSync(join(out, `${name}.cjs`), `${code}\nmodule.exports.schemaHash = ${JSON.stringify(schemaHash(text))};\n`);
}
