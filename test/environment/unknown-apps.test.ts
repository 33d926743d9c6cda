// The gateway's warning for an `apps.NAME` entry of the environment file that names no app under
// --apps (src/environment/unknown-apps.ts): the words a user reads to mend the entry.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadEnvironmentFile } from '../../src/environment/host-file.js';
import { unknownAppWarnings } from '../../src/environment/unknown-apps.js';

let scratch = '';
test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'apppkg-unknown-apps-'));
});
test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

test('an entry named as a version directory (blog.1.10) says that entries name the app, for all its versions', async () => {
  const file = path.join(scratch, 'environment.yaml');
  await writeFile(file, 'apps:\n  blog.1.10:\n    workers: 1\n  my.site.2:\n    workers: 1\n  wiki.2:\n    workers: 1\n');
  const warnings = unknownAppWarnings(await loadEnvironmentFile(file), ['blog', 'my.site', 'shop'], '/srv/apps');
  assert.equal(warnings, [
    `${file}:2:3: apps["blog.1.10"]: no app of that name under /srv/apps (the name of a version's directory: write the app's name, "blog", whose entry holds for every version of it); its keys apply to nothing until one is deployed (apps there: blog, my.site, shop)`,
    `${file}:4:3: apps["my.site.2"]: no app of that name under /srv/apps (the name of a version's directory: write the app's name, "my.site", whose entry holds for every version of it); its keys apply to nothing until one is deployed (apps there: blog, my.site, shop)`,
    // No app wiki there: the version's split tells nothing, and no name is near.
    `${file}:6:3: apps["wiki.2"]: no app of that name under /srv/apps; its keys apply to nothing until one is deployed (apps there: blog, my.site, shop)`,
  ]);
});

test.run();
