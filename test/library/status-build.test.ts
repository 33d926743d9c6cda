// The status is built at every /status and, while anyone listens on /events, up to twice a
// second, on the gateway's one thread: with 300 apps a build took 15-290 ms, most of it a
// realpath of every serving app's directory (to tell whether a broken package is one that
// serves) and per-app work that never changes. Counted here where it touches the filesystem:
// the apps' directories are not resolved again at every build.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { startManyApps } from '../helpers/many-apps.js';
import { assertNoOrphans, tempDir } from '../helpers/process.js';

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
  const started = await startManyApps(work.path, APPS);
  gateway = started.gateway;
  const apps = started.apps;
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
