// docs/reliability.md promises a list of cases; the suite in this directory is what proves
// them. Each case has an ID (R<item>.<n>) that opens both its table row and its test's name
// (a string literal in the test file, `'R1.3 ...'` or a table entry `['R2.1', ...]`): a row
// without a test, or a test without a row, fails here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.js';

const test = suite('reliability cases table');
const HERE = join(ROOT, 'test', 'reliability');

function tableIds(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'reliability.md'), 'utf8');
  return [...doc.matchAll(/^\|\s*(R\d+\.\d+)\s*\|/gm)].map((m) => m[1]);
}

function testIds(): Map<string, string> {
  const ids = new Map<string, string>();
  for (const file of readdirSync(HERE).filter((f) => f.endsWith('.test.ts') && f !== 'cases-table.test.ts')) {
    const source = readFileSync(join(HERE, file), 'utf8');
    for (const id of new Set([...source.matchAll(/['"`](R\d+\.\d+)[ '"`]/g)].map((m) => m[1]))) {
      assert.not.ok(ids.has(id), `${id} names tests in two files (${ids.get(id)} and ${file})`);
      ids.set(id, file);
    }
  }
  return ids;
}

test('every case in docs/reliability.md has its test, and every test its row', () => {
  const rows = tableIds();
  const tests = testIds();
  assert.ok(tests.size >= 30, `the suite has ${tests.size} cases`);
  assert.equal(new Set(rows).size, rows.length, 'an ID appears twice in the table');
  const missingTests = rows.filter((id) => !tests.has(id));
  const missingRows = [...tests.keys()].filter((id) => !rows.includes(id));
  assert.equal(missingTests, [], 'rows without a test');
  assert.equal(missingRows, [], 'tests without a row');
});

test.run();
