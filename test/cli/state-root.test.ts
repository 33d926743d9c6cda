// The state root as the commands meet it: a path that cannot be a directory, said once and
// plainly. (Tests run as root, so a read-only parent would not stop them: a regular file
// where a directory should be, ENOTDIR, does.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { EXAMPLES, runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: the state root');
const work = tempDir('apppkg-state-root-');
const aFile = join(work.path, 'a-file');
writeFileSync(aFile, 'not a directory\n');
const underAFile = join(aFile, 'state');
const apps = join(work.path, 'apps');
mkdirSync(apps);
addPackage(apps, 'examples/hello', 'hello');

test.after(() => work.remove());

test('a system error in a message names its code once (run, state root under a file)', async () => {
  const r = await runCli(['run', join(EXAMPLES, 'hello'), '--state-dir', underAFile, '--', 'true'], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `cannot prepare ${underAFile}: ENOTDIR: not a directory`);
  // It was "ENOTDIR: ENOTDIR: not a directory, mkdir '<the path just named>'".
  assert.is(r.stderr.split('ENOTDIR').length - 1, 1, r.stderr);
  assert.not.match(r.stderr, `mkdir '${underAFile}'`);
});

test('a gateway whose state root cannot be made fails at start (exit 1), naming the path, the errno and what is in the way', async () => {
  // It used to listen and run on, refusing every app one by one: runCli's deadline fails that.
  const r = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', underAFile], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.not.match(r.stdout, 'listening on');
  assert.match(r.stderr, `apppkg-gateway: cannot prepare ${underAFile}: ENOTDIR: not a directory`);
  assert.match(r.stderr, `fix: ${aFile} is a file, not a directory: move it away, or choose a writable state root with --state-dir`);
});

test('serve fails the same way, before it listens', async () => {
  const r = await runCli(['serve', join(apps, 'hello'), '--port', '0', '--reload', '--state-dir', underAFile], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, `cannot prepare ${underAFile}: ENOTDIR: not a directory`);
});

test('a state root the kernel will not make (under /proc) is an error at start, not a loop at full CPU', async () => {
  const proc = `/proc/apppkg-test-state-${process.pid}`;
  const r = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', proc], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, `cannot prepare ${proc}: ENOENT`);
});

test.run();
