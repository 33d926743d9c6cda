// installed.json and update-failed.json are replaced whole (a new file renamed over the old),
// never truncated and rewritten in place: a full disk or a crash between the truncation and the
// write left an empty installed.json, read as "no record", and the next start would have taken
// the newest version for installed without running its commands.update. A hard link to the old
// file tells the two apart: a rename leaves its inode as it was; a rewrite in place changes it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { linkSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepFailedUpdate, readInstalled, recordInstalled } from '../../src/lifecycle/installed-version.js';
import type { Description } from '../../src/description/types.js';
import { tempDir } from '../helpers/process.js';

const test = suite('installed.json replaced whole');
const dir = tempDir('apppkg-installed-record-');
test.after(() => dir.remove());

const version = (v: string) => ({ version: v, dir: join(dir.path, `blog.${v}`) }) as unknown as Description;

test('recordInstalled renames a new installed.json over the old one; nothing else is left beside it', () => {
  const file = join(dir.path, 'installed.json');
  recordInstalled(file, version('1.0'), 'install');
  const old = join(dir.path, 'old-installed.json');
  linkSync(file, old);
  recordInstalled(file, version('1.1'), 'update', 'abc123');
  assert.is(JSON.parse(readFileSync(old, 'utf8')).version, '1.0', 'the old inode was rewritten in place');
  assert.is(readInstalled(file)?.version, '1.1');
  assert.equal(readdirSync(dir.path).sort(), ['installed.json', 'old-installed.json']);
});

test('keepFailedUpdate renames a new update-failed.json over the old one', () => {
  const file = join(dir.path, 'update-failed.json');
  keepFailedUpdate(file, '/apps/blog.1.1', { files: 'f1', code: 'APPPKG_HOOK_FAILED', details: { status: 1 } });
  const old = join(dir.path, 'old-update-failed.json');
  linkSync(file, old);
  keepFailedUpdate(file, '/apps/blog.1.2', { files: 'f2', code: 'APPPKG_HOOK_FAILED', details: { status: 2 } });
  assert.equal(Object.keys(JSON.parse(readFileSync(old, 'utf8'))), ['/apps/blog.1.1']);
  assert.equal(Object.keys(JSON.parse(readFileSync(file, 'utf8'))).sort(), ['/apps/blog.1.1', '/apps/blog.1.2']);
});

test.run();
