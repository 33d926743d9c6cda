// `paths: "vendor, lib"`, written as `platform: python, wsgi` is, is one path to YAML. When each
// part is a directory of the app, the list was meant: check and serve said "vendor, lib are not
// directories ... fix: create it" of two directories that were there. Now they say it is one
// path, and give the list to write; a part that is not there either is named alone.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: paths: as one comma-separated string');
const work = tempDir('apppkg-paths-comma-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const dir = writePackage(work.path, 'pc', {
  'app.yaml': 'platform: python, wsgi\napp: app:application\npaths: "vendor, lib"\n',
  'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
});
mkdirSync(join(dir, 'vendor'));
mkdirSync(join(dir, 'lib'));

const REFUSAL =
  `${join(dir, 'app.yaml')}:3:8: paths: "vendor, lib" is one path, and ${dir} has no directory of that name\n` +
  '  fix: write the paths as a list, one entry each: paths: [vendor, lib]';

test('check and serve: the list to write, at the line of paths:', async () => {
  const checked = await runCli(['check', dir, '--state-dir', state]);
  assert.is(checked.status, 1, checked.stdout);
  assert.match(checked.stdout, `FAIL  paths     ${REFUSAL.replace('\n  fix:', '\n      fix:')}`);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', state], { ms: 60_000 });
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, `apppkg-gateway: ${REFUSAL}\n`);
});

test('one part missing: named alone, with the list to write and the part to create', async () => {
  // It said "vendor, nope are not directories", sending the user to create vendor, which is there.
  const partly = writePackage(work.path, 'pc-partly', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\npaths: "vendor, nope"\n',
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
  });
  mkdirSync(join(partly, 'vendor'));
  const checked = await runCli(['check', partly, '--state-dir', state]);
  assert.is(checked.status, 1, checked.stdout);
  assert.match(
    checked.stdout,
    `FAIL  paths     ${join(partly, 'app.yaml')}:3:8: paths: "vendor, nope" is one path, and ${partly} has no directory of that name; as a list, nope is not a directory there either\n` +
      '      fix: write the paths as a list, one entry each: paths: [vendor, nope], and create nope (or commit it: `apppkg-gateway vendor` fills vendor/), or take it out of the list',
  );
});

test.run();
