#!/usr/bin/env node
// Renders docs/errors.md from the error table in src/errors.ts, so that the table is the one
// source: "What happened" is each code's summary, and "How to fix" is the very hint the CLI
// prints, rendered with the code's example details. test/errors.test.ts renders the same text
// and fails when the committed file differs (fastify keeps its Errors.md honest the same way).
//
// Run it with `npm run docs:errors` (node --import ./scripts/ts-register.mjs, so it reads src/errors.ts as it is now,
// never a stale build); importing this module only gives renderErrorsDoc, for the test.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ERRORS_DOC = join(ROOT, 'docs', 'errors.md');

const INTRO = `<!-- Generated from src/errors.ts by scripts/errors-doc.mjs: edit the table there, then run \`npm run docs:errors\`. -->
# Errors

Every failure the gateway reports carries a stable code. Scripts should match on the code,
never on the message. The CLI prints \`apppkg-gateway: FILE:LINE:COLUMN: KEY: expected X,
found Y\` (position when the error is about a file) and then \`fix: ...\`. Exit status 2 means
bad usage, 1 means the command ran and failed. This table is generated from \`src/errors.ts\`;
"How to fix" is the hint the CLI prints, shown with example values, and \`test/errors.test.ts\`
fails when this file and the code disagree.
`;

/**
 * The Markdown of docs/errors.md for an error table (ERROR_CODES of src/errors.ts).
 * @param {Record<string, { summary: string, hint: (d: import('../src/errors.js').ErrorDetails) => string, exitStatus: number, example: import('../src/errors.js').ErrorDetails }>} codes
 * @returns {string}
 */
export function renderErrorsDoc(codes) {
  const rows = Object.entries(codes).map(([code, entry]) => {
    const fix = asSentence(entry.hint(entry.example));
    return `| \`${code}\` | ${cell(code, entry.summary)} | ${cell(code, fix)} | ${entry.exitStatus} |`;
  });
  return [INTRO, '| Code | What happened | How to fix | Exit |', '| --- | --- | --- | --- |', ...rows, ''].join('\n');
}

/** A table cell: one line, with "|" escaped (GFM reads `\|` as a pipe, even inside code spans). */
function cell(code, text) {
  if (/[\r\n]/.test(text)) throw new Error(`${code}: a docs/errors.md cell must be one line, found ${JSON.stringify(text)}`);
  return text.replace(/\|/g, '\\|');
}

/** A hint reads as the rest of a `fix:` line; in a table cell it reads better as a sentence. */
function asSentence(text) {
  const capitalised = text.replace(/^[a-z]/, (c) => c.toUpperCase());
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { ERROR_CODES } = await import('../src/errors.ts');
  writeFileSync(ERRORS_DOC, renderErrorsDoc(ERROR_CODES));
  console.log(`wrote ${ERRORS_DOC}`);
}
