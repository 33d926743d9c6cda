// docs/errors.md is the user's table of every error: it must list exactly the codes that
// src/errors.ts can raise, each with a "how to fix" (fastify's errors test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, GatewayError } from '../src/errors.js';
import { ROOT } from './helpers/process.js';

const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\|\s*`(APPPKG_[A-Z_]+)`\s*\|([^|]*)\|([^|]*)\|/gm)].map((m) => [m[1], { what: m[2].trim(), fix: m[3].trim() }]),
);

test('docs/errors.md lists every code of src/errors.ts, and no other', () => {
  const codes = Object.keys(ERROR_CODES).sort();
  assert.equal([...rows.keys()].sort(), codes);
});

test('every documented code has what happened and how to fix it', () => {
  for (const [code, row] of rows) {
    assert.ok(row.what.length > 10, `${code}: "What happened" is empty`);
    assert.ok(row.fix.length > 10, `${code}: "How to fix" is empty`);
  }
});

test('every code renders a message and a hint without its details', () => {
  for (const code of Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>) {
    const err = new GatewayError(code, {});
    assert.type(err.message, 'string');
    assert.ok(err.hint.length > 0, code);
    assert.ok(err.exitStatus === 1 || err.exitStatus === 2, code);
  }
});

test.run();
