// A package directory the gateway's user may not look into is reported (status's broken list,
// a 503 naming why at its URL), never skipped as if it were no package at all. Root reads
// through any mode, so the discovery runs as nobody.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EXAMPLES, ROOT, TS_REGISTER, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('an unreadable package directory');
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0;
const ifNobody = runIf(test, asNobody, 'needs root and runuser to run the discovery as another user');
const work = tempDir('apppkg-unreadable-');
test.after(() => {
  chmodSync(join(work.path, 'apps', 'locked'), 0o755);
  work.remove();
});

ifNobody('is listed as broken with APPPKG_FILE_UNREADABLE; the readable one is found', () => {
  chmodSync(work.path, 0o755);
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'locked'), { recursive: true });
  chmodSync(join(apps, 'locked'), 0o000);
  const script = join(work.path, 'discover.mts');
  writeFileSync(script, [
    `import { appsDirSource } from ${JSON.stringify(join(ROOT, 'src', 'supervisor', 'discovery.ts'))};`,
    `const found = await appsDirSource(${JSON.stringify(apps)})();`,
    'console.log(JSON.stringify({ apps: found.apps.map((a) => a.name), broken: found.broken.map((b) => [b.dir, b.error.code, b.error.message]) }));',
  ].join('\n'));
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--import', TS_REGISTER, script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const found = JSON.parse(r.stdout.trim().split('\n').pop()!) as { apps: string[]; broken: Array<[string, string, string]> };
  assert.equal(found.apps, ['hello']);
  assert.is(found.broken.length, 1, r.stdout);
  assert.equal(found.broken[0].slice(0, 2), [join(apps, 'locked'), 'APPPKG_FILE_UNREADABLE']);
  assert.match(found.broken[0][2], /permission denied: the gateway's user may not look into/);
});

test.run();
