// docs/errors.md is the user's table of every error, generated from the table in src/errors.ts
// (scripts/errors-doc.mjs): it must be what the generator renders now, and every entry must
// render a readable message and hint (fastify's errors test keeps its Errors.md honest alike).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, GatewayError, type ErrorCode } from '../src/errors.js';
import { ERRORS_DOC, renderErrorsDoc } from '../scripts/errors-doc.mjs';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];
const doc = readFileSync(ERRORS_DOC, 'utf8');

/** What a template leaves behind when a detail it uses is missing or of the wrong kind. */
const ARTEFACTS: Array<[RegExp, string]> = [
  [/undefined|null|NaN|\[object Object\]/, 'a missing value'],
  [/""|''|\(\s*\)|\[\s*\]/, 'an empty placeholder'],
  [/ {2}/, 'a double space'],
  [/ [,;:)]| \.(?!\.\.)|^[\s,;:.]|\s$/, 'a space or a stray mark around an empty value'],
];

function artefactIn(text: string): string | undefined {
  const codeSpans = [...text.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
  if (codeSpans.some((span) => span.trim() === '' || span !== span.trim())) return 'a code span with an empty value';
  return ARTEFACTS.find(([pattern]) => pattern.test(text))?.[1];
}

test('docs/errors.md is what scripts/errors-doc.mjs renders from src/errors.ts', () => {
  assert.fixture(doc, renderErrorsDoc(ERROR_CODES), 'docs/errors.md is stale: run `npm run docs:errors`');
});

test('docs/errors.md lists every code of src/errors.ts, and no other', () => {
  const rows = [...doc.matchAll(/^\|\s*`(APPPKG_[A-Z_]+)`\s*\|/gm)].map((m) => m[1]);
  assert.equal(rows.sort(), [...codes].sort());
});

test('every code is named APPPKG_<AREA>_<WHAT> and has a summary of what happened', () => {
  for (const code of codes) {
    assert.match(code, /^APPPKG_[A-Z]+(_[A-Z]+)*$/, code);
    const { summary } = ERROR_CODES[code];
    assert.ok(summary.length > 20, `${code}: the summary says too little: ${JSON.stringify(summary)}`);
    assert.ok(!/[\r\n]/.test(summary), `${code}: the summary must be one line`);
    assert.match(summary, /^[A-Z`]/, `${code}: the summary begins a sentence`);
    assert.match(summary, /\.$/, `${code}: the summary ends with a full stop`);
  }
});

test('every code renders its example into a message and a hint without artefacts', () => {
  for (const code of codes) {
    const err = new GatewayError(code, ERROR_CODES[code].example);
    for (const [what, text] of [['message', err.message], ['hint', err.hint]]) {
      assert.ok(text.length > 0, `${code}: the ${what} is empty`);
      const artefact = artefactIn(text);
      assert.not.ok(artefact, `${code}: the ${what} rendered from the example has ${artefact}: ${JSON.stringify(text)}`);
    }
  }
});

test('every code renders a message and a hint without its details', () => {
  for (const code of codes) {
    const err = new GatewayError(code, {});
    assert.type(err.message, 'string');
    assert.ok(err.hint.length > 0, code);
    assert.ok(err.exitStatus === 1 || err.exitStatus === 2, code);
  }
});

test.run();
