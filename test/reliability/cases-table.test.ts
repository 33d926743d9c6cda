// docs/reliability.md promises a list of cases; tests are what prove them. Each case has an ID
// (R<item>.<n>, or R<item>.<n><letter> for a case beside it) that opens both its table row and
// its test's name (a string literal in a test file, `'R1.3 ...'` or a table entry `['R2.1', ...]`):
// a row without a test, or a test without a row, fails here. A row's test lives in
// test/reliability or, where the row names one, beside the code it drives (test/proxy/...).
// A row may open with several IDs (`R6.1c, d, e`, `R6.1m-q`), and name more cases in its text
// (`R6.3b with a password`, `R6.16b-g`): each needs its test. A lettered ID a test names needs
// a row of its own, or a row of its item (R6.3's, R6.3c's) naming it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.js';

const test = suite('reliability cases table');
const TESTS = join(ROOT, 'test');
const ID = /^R(\d+\.\d+)([a-z])?$/;

/** The IDs a row's first cell opens with: `R6.1c, d, e` and `R6.1m-q` are three and five. */
function cellIds(cell: string): string[] {
  const ids: string[] = [];
  const [first, ...rest] = cell.split(/,\s*/);
  const range = /^(R\d+\.\d+)([a-z])-([a-z])$/.exec(first);
  if (range !== null) {
    for (let c = range[2].charCodeAt(0); c <= range[3].charCodeAt(0); c++) ids.push(range[1] + String.fromCharCode(c));
  } else {
    assert.match(first, ID, `a row's ID cell is not R<item>.<n>[letter]: ${cell}`);
    ids.push(first);
  }
  const item = ID.exec(ids[0])![1];
  for (const letter of rest) {
    assert.match(letter, /^[a-z]$/, `a row's ID cell lists something other than letters after its ID: ${cell}`);
    ids.push(`R${item}${letter}`);
  }
  return ids;
}

interface Table {
  /** The IDs rows open with. */
  rows: string[];
  /** What each item's rows (`R6.3`, `R6.3c`) name in their text: `R6.3b`, `R6.16b-g`. */
  named: Map<string, Set<string>>;
}

/** The IDs `text` names, a range (`R6.16b-g`) as each of its letters. */
function namedIn(text: string): string[] {
  return [...text.matchAll(/\b(R\d+\.\d+)([a-z])(?:-([a-z]))?(?![a-z0-9])/g)].flatMap((m) => {
    const [from, to] = [m[2].charCodeAt(0), (m[3] ?? m[2]).charCodeAt(0)];
    return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => m[1] + String.fromCharCode(from + i));
  });
}

function table(): Table {
  const doc = readFileSync(join(ROOT, 'docs', 'reliability.md'), 'utf8');
  const rows: string[] = [];
  const named = new Map<string, Set<string>>();
  for (const m of doc.matchAll(/^\|\s*(R\d+\.\d+[^|]*?)\s*\|.*$/gm)) {
    const ids = cellIds(m[1]);
    rows.push(...ids);
    const item = ID.exec(ids[0])![1];
    const names = named.get(item) ?? new Set<string>();
    for (const id of namedIn(m[0])) names.add(id);
    named.set(item, names);
  }
  return { rows, named };
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testFiles(join(dir, e.name));
    return e.name.endsWith('.test.ts') && e.name !== 'cases-table.test.ts' ? [join(dir, e.name)] : [];
  });
}

function testIds(): Map<string, string> {
  const ids = new Map<string, string>();
  for (const file of testFiles(TESTS)) {
    const source = readFileSync(file, 'utf8');
    const name = file.slice(TESTS.length + 1);
    for (const id of new Set([...source.matchAll(/['"`](R\d+\.\d+[a-z]?)[ '"`]/g)].map((m) => m[1]))) {
      assert.not.ok(ids.has(id), `${id} names tests in two files (${ids.get(id)} and ${name})`);
      ids.set(id, name);
    }
  }
  return ids;
}

test('every case in docs/reliability.md has its test, and every test its row', () => {
  const { rows, named } = table();
  const tests = testIds();
  assert.ok(tests.size >= 30, `the suite has ${tests.size} cases`);
  assert.equal(rows.filter((id, i) => rows.indexOf(id) !== i), [], 'an ID appears twice in the table');
  const missingTests = [...new Set([...rows, ...[...named.values()].flatMap((ids) => [...ids])])].filter((id) => !tests.has(id));
  const missingRows = [...tests.keys()].filter((id) => !rows.includes(id) && !named.get(ID.exec(id)![1])?.has(id));
  assert.equal(missingTests, [], 'rows without a test');
  assert.equal(missingRows, [], 'tests without a row');
});

test('a row opening with several IDs needs a test for each; a range in a row\'s text names each letter', () => {
  assert.equal(cellIds('R6.1c, d, e'), ['R6.1c', 'R6.1d', 'R6.1e']);
  assert.equal(cellIds('R6.1m-q'), ['R6.1m', 'R6.1n', 'R6.1o', 'R6.1p', 'R6.1q']);
  assert.equal(cellIds('R6.29b'), ['R6.29b']);
  assert.equal(namedIn('(R6.16b-g); R6.16l a HEAD; as R6.1f, R6.13b: the same; R6.2 and R6.20'), ['R6.16b', 'R6.16c', 'R6.16d', 'R6.16e', 'R6.16f', 'R6.16g', 'R6.16l', 'R6.1f', 'R6.13b']);
});

test.run();
