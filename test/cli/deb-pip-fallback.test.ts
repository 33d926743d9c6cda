// SPEC 1.1 calls `pip:` the fallback for `deb:`: a `deb:` package that is not installed, whose
// distribution the `pip:` file lists (Debian's python3-NAME), is a note in check (status 0), the
// app's virtualenv giving it; one the pip: file does not list still fails, named alone. A start
// says the same: only the uncovered package is said missing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('cli: check, a deb: package the pip: file stands in for');
const onDebian = runIf(test, hasProgram('dpkg-query'), 'needs dpkg-query (a Debian host)');
const work = tempDir('apppkg-deb-pip-fallback-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const COVERED = 'python3-apppkg-fallback-demo';
const UNCOVERED = 'python3-apppkg-no-such-package';

/**
 * An app whose pip: requirement (`distribution`) is met by a distribution in vendor/ (on paths:),
 * as a venv would meet it.
 */
function app(name: string, deb: string[], distribution = 'apppkg_fallback_demo'): string {
  const dir = writePackage(work.path, name, {
    'app.yaml': `platform: python, wsgi\napp: wsgi:application\ndeb: [${deb.join(', ')}]\npip: requirements.txt\npaths: [vendor]\n`,
    'requirements.txt': `${distribution}>=1.0\n`,
    'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n',
  });
  const info = join(dir, 'vendor', `${distribution.replace(/[-_.]+/g, '_')}-1.0.dist-info`);
  mkdirSync(info, { recursive: true });
  writeFileSync(join(info, 'METADATA'), `Metadata-Version: 2.1\nName: ${distribution}\nVersion: 1.0\n`);
  return dir;
}

onDebian('covered by pip: a note, status 0; not covered: still a failure, naming only that package', async () => {
  const covered = await runCli(['check', app('covered', [COVERED]), '--state-dir', state]);
  assert.is(covered.status, 0, covered.stdout + covered.stderr);
  assert.match(covered.stdout, `ok    deb       note: not installed, the pip: fallback will be used: ${COVERED} (pip: lists apppkg_fallback_demo), installed into the app's virtualenv by \`apppkg-gateway install\`\n`);
  const mixed = app('mixed', [COVERED, UNCOVERED]);
  const failing = await runCli(['check', mixed, '--state-dir', state]);
  assert.is(failing.status, 1, failing.stdout + failing.stderr);
  assert.match(failing.stdout, `FAIL  deb       ${join(mixed, 'app.yaml')}:3:${'deb: ['.length + COVERED.length + 3}: deb: package not installed: ${UNCOVERED}\n`);
  assert.not.match(failing.stdout, `not installed: ${COVERED}`);
});

onDebian('Debian\'s naming rule (debian-python-name.ts): python3-NAME stands for a py- distribution of any case and separators', async () => {
  // py-cpuinfo is Debian's python3-cpuinfo: the py- prefix was not dropped, and the app failed.
  const deb = 'python3-apppkg-cpuinfo-demo';
  const dir = app('prefixed', [deb], 'Py-Apppkg_CPUInfo.demo');
  const r = await runCli(['check', dir, '--state-dir', state]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, `note: not installed, the pip: fallback will be used: ${deb} (pip: lists Py-Apppkg_CPUInfo.demo)`);
});

onDebian('serve: a covered package is not said missing at the start; an uncovered one still is', async () => {
  // The start's line said the covered one was missing too, with `apt-get install` for it. Its own
  // app, not the check case's: run alone (uvu's .only, a filter), that one was never written.
  const served = await startCli(['serve', app('served', [COVERED, UNCOVERED]), '--port', '0', '--state-dir', state]);
  try {
    assert.match(served.output(), `: deb: package not installed: ${UNCOVERED}; starting the app anyway`);
    assert.not.match(served.output(), `not installed: ${COVERED}`);
  } finally {
    await served.stop();
  }
});

test.run();
