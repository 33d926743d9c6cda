// The status is built at every /status and, while anyone listens on /events, up to twice a
// second, on the gateway's one thread: with 300 apps a build took 15-290 ms, most of it a
// realpath of every serving app's directory (to tell whether a broken package is one that
// serves) and per-app work that never changes. Counted here where it touches the filesystem:
// the apps' directories are not resolved again at every build.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs, { mkdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, waitFor } from '../helpers/process.js';

const test = suite('building the status');
const work = tempDir('apppkg-lib-status-build-');
const APPS = 12;
let gateway: Gateway | null = null;

const realRealpath = fs.realpathSync;
let resolved: string[] = [];

/** Counts realpathSync as every module's named import sees it (node:fs's ESM exports follow its object once synced). */
function countRealpaths(on: boolean): void {
  const counting = Object.assign((path: fs.PathLike, options?: any) => {
    resolved.push(String(path));
    return realRealpath(path, options);
  }, { native: realRealpath.native });
  fs.realpathSync = on ? (counting as typeof fs.realpathSync) : realRealpath;
  syncBuiltinESMExports();
}

test.after(async () => {
  countRealpaths(false);
  const pids = gateway?.pids ?? [];
  await gateway?.stop();
  await assertNoOrphans(pids);
  work.remove();
});

test(`a status of ${APPS} apps and a broken package resolves the broken package's directory, not every app's`, async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  for (let i = 0; i < APPS; i++) {
    writePackage(apps, `app${i}`, {
      'app.yaml': 'platform: python, wsgi\napp: app:application\n',
      'app.py': "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    });
  }
  writePackage(apps, 'broken', { 'app.yaml': 'platform: python, wsgi\napp: [app:application\n' });
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  gateway = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(work.path, 'state'), settleMs: 0, say: () => {} });
  await waitFor(() => gateway!.status().apps.length === APPS && gateway!.status().apps.every((a) => a.state === 'ready'), 60_000, () => `every app ready: ${gateway!.status().apps.map((a) => a.state).join(' ')}`);
  gateway.status();
  countRealpaths(true);
  let status;
  try {
    for (let i = 0; i < 3; i++) status = gateway.status();
  } finally {
    countRealpaths(false);
  }
  assert.equal(status!.broken.map((b) => b.dir), [join(apps, 'broken')], 'the broken package is listed');
  assert.ok(resolved.every((p) => p === join(apps, 'broken')), `resolved at 3 builds: ${resolved.join(' ')}`);
});

test.run();
