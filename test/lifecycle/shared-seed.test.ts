// The test run's shared caches (test/helpers/shared-cache.ts) against the product: a state root
// runCli is handed fresh starts with the run's probe cache and its venv seeds behind a link, and
// a venv made from a seed that another root made (and that root removed since) has a pip that
// runs. What makes this safe is venv-seed.ts's: the seed's scripts are rewritten from the path
// in its stamp, not from the root the install runs in.
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { sharedCacheDir } from '../helpers/shared-cache.js';
import { coldStateDir } from '../helpers/warm-state.js';
import { makeApp, wheelApp } from './lifecycle-apps.js';

const test = suite('lifecycle: the test run\'s shared venv seeds');
const work = tempDir('apppkg-shared-seed-work-');
test.after(() => work.remove());

const pipApp = (name: string): string => wheelApp(work.path, name);

test('a fresh root gets the run\'s seeds; a venv from a seed another root made, that root gone, has a pip that runs', async () => {
  const first = tempDir('apppkg-shared-seed-a-');
  const firstInstall = await runCli(['install', pipApp('alpha'), '--state-dir', first.path], { ms: 300_000 });
  try {
    assert.is(firstInstall.status, 0, firstInstall.stdout + firstInstall.stderr);
    const link = join(first.path, 'cache', 'venv-seeds');
    assert.ok(lstatSync(link).isSymbolicLink(), 'the root\'s venv-seeds is the run\'s');
    assert.is(readlinkSync(link), join(sharedCacheDir(), 'venv-seeds'));
    assert.match(firstInstall.stdout, /\(pip from the seed\)/);
  } finally {
    first.remove();
  }
  assert.ok(readdirSync(join(sharedCacheDir(), 'venv-seeds')).some((name) => !name.startsWith('.')), 'the seed outlives the root it was made in');

  // Absent, in a directory of ours: made and given the caches too.
  const second = join(work.path, 'second-state');
  const beta = pipApp('beta');
  const r = await runCli(['install', beta, '--state-dir', second], { ms: 300_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout, /venv seed made/);
  assert.match(r.stdout, /\(pip from the seed\)/);
  const version = await runCli(['run', beta, '--state-dir', second, '--', 'pip', '--version'], { ms: 120_000 });
  assert.is(version.status, 0, version.stdout + version.stderr);
  assert.match(version.stdout, new RegExp(`^pip \\S+ from ${join(second, 'apps', 'beta')}/venv[^/]*/lib/`, 'm'));
});

test('a root made by coldStateDir, and one inside it, stays as the product leaves a fresh one', async () => {
  const cold = coldStateDir('apppkg-shared-seed-cold-');
  try {
    const plain = makeApp(work.path, 'plain', 'platform: python, wsgi\napp: wsgi:application\n');
    for (const root of [cold.path, join(cold.path, 'state')]) {
      const r = await runCli(['install', plain, '--state-dir', root], { ms: 120_000 });
      assert.is(r.status, 0, r.stdout + r.stderr);
      assert.ok(existsSync(join(root, 'apps', 'plain')));
      // Install keeps the interpreters' answers it probed, as a gateway's start and run do: the
      // product's own file, and no more (a root given the run's caches has their venv-seeds link).
      assert.equal(readdirSync(join(root, 'cache')), ['interpreters.json'], `${root}: the run's caches given`);
    }
  } finally {
    cold.remove();
  }
});

test.run();
