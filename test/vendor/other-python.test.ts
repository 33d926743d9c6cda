// A vendor directory whose requirements choose by Python version (SPEC 5.9: `check` reports a
// vendor directory that no longer matches the requirements): vendored with one Python, checked
// where the app runs on another, pip there would have chosen otherwise, while every file is as
// vendored. `check` said `ok`; it now warns, naming the requirements that choose and the command
// that vendors with the Python the app runs on (found by H277).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { anotherPython, appToVendor, BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildWheels, pythonVersion } from './vendor-fixtures.js';

const test = suite('vendor: checked on another Python version');
const other = canBuildWheels ? anotherPython(pythonVersion(BUILD_PYTHON)) : null;
const ifOtherPython = runIf(test, other !== null, canBuildWheels ? `no Python 3.9+ here other than ${BUILD_PYTHON}'s version` : BUILD_REASON);
const work = tempDir('apppkg-vendor-other-python-');
const wheels = join(work.path, 'wheels');
const state = join(work.path, 'state');
const vendoredWith = join(work.path, 'vendored-with.yaml');
const runsOn = join(work.path, 'runs-on.yaml');

test.before(() => {
  writeFileSync(vendoredWith, `python: ${BUILD_PYTHON}\n`);
  writeFileSync(runsOn, `python: ${other}\n`);
  if (other !== null) buildWheels(wheels, ['demo-greeting', 'demo-words']);
});
test.after(() => work.remove());

const app = (name: string, requirements: string): string => appToVendor(work.path, name, requirements);

ifOtherPython('requirements that choose by Python version: check on another version warns, naming them and the command; on the same one, or with none, it does not', async () => {
  const chooses = app('chooses', `apppkg-demo-greeting\n# apppkg-demo-words; python_version < "3.0" (a comment)\napppkg-demo-words; python_version >= "${pythonVersion(BUILD_PYTHON)}"\n`);
  const plain = app('plain', 'apppkg-demo-greeting\n');
  for (const dir of [chooses, plain]) {
    const r = await runCli(['vendor', dir, '--find-links', wheels, '--no-index', '-e', vendoredWith], { ms: 180_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
  }

  const there = await runCli(['check', chooses, '-e', runsOn, '--state-dir', state]);
  assert.is(there.status, 0, there.stdout + there.stderr);
  const line = there.stdout.split('\n').find((l) => /^ok\s+vendor\s/.test(l)) ?? '';
  assert.match(line, /vendor\/ current with requirements\.txt, files as vendored: 2 distributions \(apppkg-demo-greeting 1\.0, apppkg-demo-words 1\.0\), vendored with cp3\d+; WARNING: vendored with cp3\d+, and the app runs here on /, there.stdout);
  assert.ok(line.includes(`while requirements.txt:3 (apppkg-demo-words; python_version >= "${pythonVersion(BUILD_PYTHON)}") chooses by Python version: pip on cp3`), line);
  assert.ok(line.includes(`(here: \`apppkg-gateway vendor ${chooses} --from requirements.txt --into vendor/ --no-index --find-links DIR --environment ${runsOn}\`)`), line);
  assert.not.match(line, 'requirements.txt:2', 'a commented line counted');

  for (const [dir, envFile] of [[chooses, vendoredWith], [plain, runsOn]]) {
    const r = await runCli(['check', dir, '-e', envFile, '--state-dir', state]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+vendor\s+vendor\/ current with requirements\.txt/);
    assert.not.match(r.stdout, 'WARNING: vendored with', `${dir} with ${envFile}`);
  }
});

test.run();
