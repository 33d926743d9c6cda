// The state root as the commands meet it: a path that cannot be a directory, said once and
// plainly. (Tests run as root, so a read-only parent would not stop them: a regular file
// where a directory should be, ENOTDIR, does.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: the state root');
const work = tempDir('apppkg-state-root-');
const aFile = join(work.path, 'a-file');
writeFileSync(aFile, 'not a directory\n');
const underAFile = join(aFile, 'state');

test.after(() => work.remove());

test('a system error in a message names its code once (run, state root under a file)', async () => {
  const r = await runCli(['run', join(EXAMPLES, 'hello'), '--state-dir', underAFile, '--', 'true'], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `cannot prepare ${underAFile}: ENOTDIR: not a directory`);
  // It was "ENOTDIR: ENOTDIR: not a directory, mkdir '<the path just named>'".
  assert.is(r.stderr.split('ENOTDIR').length - 1, 1, r.stderr);
  assert.not.match(r.stderr, `mkdir '${underAFile}'`);
});

test.run();
