// removeAsOwner (src/remove-as-owner.ts) on a directory that is gone before it starts: a venv
// build another removal took meanwhile was reported as "ENOENT (starting in DIR)", a failure to
// remove what was no longer there. As whoever runs the test (the owner is ourselves): real find.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { removeAsOwner } from '../../src/remove-as-owner.js';
import { tempDir } from '../helpers/process.js';

const test = suite('lifecycle: removeAsOwner');
const work = tempDir('apppkg-remove-as-owner-');
test.after(() => work.remove());
const self = { uid: process.getuid!(), gid: process.getgid!() };

test('a directory that is gone is removed already: null, not ENOENT', async () => {
  assert.is(await removeAsOwner(join(work.path, 'never-there'), self), null);
});

test('a directory with files: emptied and removed', async () => {
  const dir = join(work.path, 'full');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'sub', 'file'), 'x');
  assert.is(await removeAsOwner(dir, self), null);
});

test.run();
