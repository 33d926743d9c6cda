// check's report is a column of checks: `ok`/`FAIL`, the check's name, its detail. A detail of
// several lines (an import that raised a pydantic-style error, its fields nested under it) had
// its lines after the first flush left, where they read as lines of the report of their own;
// they hang in the detail's column now, each keeping its own indentation, as status prints them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: check, a detail of several lines');
const work = tempDir('apppkg-check-lines-');
test.after(() => work.remove());

test('an import error whose message has lines of its own hangs them under the detail, the fix after', async () => {
  const dir = join(work.path, 'settings');
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: app:application\n');
  writeFileSync(
    join(dir, 'app.py'),
    'def load():\n    raise ValueError("2 validation errors for Settings\\ndatabase_url\\n  field required")\n\n\nload()\n',
  );
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  const report = r.stdout.slice(r.stdout.indexOf('FAIL  app'));
  const column = ' '.repeat(report.indexOf('app: cannot import'));
  assert.ok(
    report.startsWith(`FAIL  app       app: cannot import app:application (${join(dir, 'app.py')}:2): ValueError: 2 validation errors for Settings\n${column}database_url\n${column}  field required\n      fix: `),
    report,
  );
});

test.run();
