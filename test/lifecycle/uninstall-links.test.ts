// What root does by path in a tree the app's user owns, that user can redirect: a directory of
// its swapped for a symlink between root's look and root's act had `uninstall` (rm -r as root)
// delete where the link led, and a change of the app's user (the state root's hand-over, lchown
// by path) give the new user files where it led. A process of the app's user swaps, root's files
// where the links lead stay as they were. Needs root to run the app as another user: skipped
// otherwise.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostUser } from '../helpers/host-accounts.js';
import { installForOtherUsers, runCli, tempDir } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { makeApp } from './lifecycle-apps.js';
import { idOf, victimTree, whileSwapping } from './subdir-swapper.js';

const test = suite('lifecycle: uninstall and a change of user under links the app\'s user swaps in');
const ifRoot = runIf(test, isRoot, 'needs root to run an app as another user');
const USER = 'apppkg-iso-b';
const OTHER = 'apppkg-iso-c';
const work = isRoot ? tempDir('apppkg-uninstall-links-') : null;
test.after(() => work?.remove());

const cli = ([command, app, ...rest]: string[]) =>
  runCli([command, app, '--state-dir', join(work!.path, 'state'), '--environment', join(work!.path, 'environment.yaml'), ...rest], { bin: installForOtherUsers().bin });

test.before(() => {
  if (!isRoot) return;
  for (const user of [USER, OTHER]) hostUser(user);
  chmodSync(work!.path, 0o755);
  writeFileSync(join(work!.path, 'environment.yaml'), 'python: /usr/bin/python3\n');
  mkdirSync(join(work!.path, 'signals'), { mode: 0o777 });
  chmodSync(join(work!.path, 'signals'), 0o777);
});

/** An app of USER's whose data holds `count` directories sub0, sub1... of ten files each. */
async function appWithSubdirs(name: string, count = 50): Promise<{ app: string; data: string }> {
  const app = makeApp(work!.path, name, 'app: wsgi:application\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const made = await cli(['run', app, '--', 'python3', '-c', `import os\nd = os.environ["APPPKG_DATA_DIR"]\nfor s in range(${count}):\n  os.makedirs(d + "/sub%d" % s)\n  for i in range(10): open(d + "/sub%d/f%d" % (s, i), "w").close()`]);
  assert.is(made.status, 0, made.stderr);
  return { app, data: join(work!.path, 'state', 'apps', name, 'data') };
}

ifRoot('uninstall: directories of the app\'s data its user swaps for symlinks as they are removed: nothing where they lead is removed', async () => {
  const victim = victimTree(work!.path, 'victim-uninstalled');
  const { app, data } = await appWithSubdirs('uninstalled');
  const r = await whileSwapping(USER, join(work!.path, 'signals'), { dir: data, victim }, () => cli(['uninstall', app, '--yes']));
  assert.is(readdirSync(victim).length, 10, `root removed files where the app's symlinks lead (${r.stdout}${r.stderr})`);
  // What the app's user swapped in as root removed its data may be left: said, with the fix.
  if (r.status !== 0) assert.match(r.stderr, /cannot remove .*apps\/uninstalled: [^]*fix: /, r.stderr);
  const again = await cli(['uninstall', app, '--yes']);
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.not.ok(existsSync(join(work!.path, 'state', 'apps', 'uninstalled')), again.stdout);
});

ifRoot('uninstall as root: a directory of root\'s in the app\'s data, which its user cannot empty, is left and said, with the fix; the rest goes', async () => {
  const { app, data } = await appWithSubdirs('owned');
  mkdirSync(join(data, 'roots'));
  writeFileSync(join(data, 'roots', 'file'), 'root\'s\n');
  const state = join(work!.path, 'state', 'apps', 'owned');
  const r = await cli(['uninstall', app, '--yes']);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, `cannot remove ${state}: find: `);
  assert.match(r.stderr, `${join(data, 'roots', 'file')}`);
  assert.match(r.stderr, `remove it with rm -rf ${state}`);
  assert.equal(readdirSync(data), ['roots']);
  assert.not.ok(existsSync(join(state, 'tmp')), 'the rest of the state directory was left');
});

ifRoot('a change of the app\'s user: directories of its data the previous user swaps for symlinks as they are handed over: nothing where they lead changes owner', async () => {
  const victim = victimTree(work!.path, 'victim-handed', idOf(USER, '-u'));
  const { app, data } = await appWithSubdirs('handed', 200);
  spawnSync('chown', ['-R', `${OTHER}:`, app]);
  // The previous user's process swaps each directory once it is the new user's, before root goes into it.
  const r = await whileSwapping(USER, join(work!.path, 'signals'), { dir: data, victim, onlyOwnedBy: idOf(OTHER, '-u') }, () => cli(['run', app, '--', 'true']));
  assert.is(r.status, 0, r.stdout + r.stderr);
  for (const name of readdirSync(victim)) assert.is(lstatSync(join(victim, name)).uid, idOf(USER, '-u'), `root gave ${join(victim, name)}, where a symlink of the previous user's leads, to the new user`);
  assert.is(lstatSync(data).uid, idOf(OTHER, '-u'));
});

test.run();
