// What root does by path in a tree the app's user owns, that user can redirect: a directory of
// its swapped for a symlink between root's look and root's act had `uninstall` (rm -r as root)
// delete where the link led, and a change of the app's user (the state root's hand-over, lchown
// by path) give the new user files where it led. A process of the app's user swaps, root's files
// where the links lead stay as they were. Nor, where fs.protected_hardlinks=0, does a file of its
// swapped for a hard link to a root-only file as it is handed over give that file to the new
// user. Needs root to run the app as another user: skipped otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostUser } from '../helpers/host-accounts.js';
import { installForOtherUsers, runCli, tempDir, waitFor, within } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { makeApp } from './lifecycle-apps.js';
import { canUnprotectHardlinks, UNPROTECT_REASON, withUnprotectedHardlinks } from './protected-hardlinks.js';
import { idOf, victimTree, whileSwapping } from './subdir-swapper.js';

const test = suite('lifecycle: uninstall and a change of user under links the app\'s user swaps in');
const ifRoot = runIf(test, isRoot, 'needs root to run an app as another user');
const ifHardlinks = runIf(test, isRoot && canUnprotectHardlinks, UNPROTECT_REASON);
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

// Swaps the files f* of argv[1] (those of uid argv[5]) for hard links to argv[2] and back
// (renameat2's RENAME_EXCHANGE with a link each in argv[3]), over and over, until argv[4] exists
// (60 s at most). Only those root is about to hand over: the next few in its walk's order
// (sorted: Node's readdir sorts), past those it handed already (their file no longer argv[5]'s);
// a swap elsewhere would be in root's way as rarely as a few microseconds in the walk's second.
const HARD_LINK_SWAPPER = `
import ctypes, os, sys, time
data, victim, keep, stop, uid = sys.argv[1:6]
uid = int(uid)
renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
os.mkdir(keep)
order = sorted(n for n in os.listdir(data) if n.startswith('f'))
at = [os.path.join(data, n).encode() for n in order]
away = [os.path.join(keep, 'v' + n).encode() for n in order]
own = [os.path.join(keep, 'a' + n) for n in order]
for k in range(len(order)):
    os.link(victim, away[k]); os.link(at[k], own[k])
open(stop + '.started', 'w').close()
give_up = time.monotonic() + 60
handed = lambda k: k < len(order) and os.lstat(own[k]).st_uid != uid
pos = 0
while not os.path.exists(stop) and time.monotonic() < give_up:
    while handed(pos) or handed(pos + 1) or handed(pos + 2): pos += 1
    if pos >= len(order): time.sleep(0.01)
    for k in range(pos, min(pos + 2, len(order))): renameat2(-100, at[k], -100, away[k], 2)
`;

ifHardlinks('a change of the app\'s user: files of its data the previous user swaps for hard links to a root-only file as they are handed over: that file stays root\'s', async () => {
  const victim = join(work!.path, 'victim-hard-linked');
  writeFileSync(victim, 'root\'s own\n', { mode: 0o600 });
  const app = makeApp(work!.path, 'hardhanded', 'app: wsgi:application\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const made = await cli(['run', app, '--', 'python3', '-c', 'import os\nfor i in range(3000): open(os.environ["APPPKG_DATA_DIR"] + "/f%d" % i, "w").close()']);
  assert.is(made.status, 0, made.stderr);
  const data = join(work!.path, 'state', 'apps', 'hardhanded', 'data');
  spawnSync('chown', ['-R', `${OTHER}:`, app]);
  const stop = join(work!.path, 'signals', 'stop-hard-links');
  const r = await withUnprotectedHardlinks(async () => {
    const swapper = spawn('python3', ['-c', HARD_LINK_SWAPPER, data, victim, join(work!.path, 'signals', 'kept-files'), stop, String(idOf(USER, '-u'))], { uid: idOf(USER, '-u'), gid: idOf(USER, '-g'), cwd: '/', stdio: 'ignore' });
    const exited = new Promise((resolve) => swapper.on('close', resolve));
    try {
      await waitFor(() => existsSync(`${stop}.started`), 20_000, 'the hard-linking process to start');
      return await cli(['run', app, '--', 'true']);
    } finally {
      writeFileSync(stop, '');
      await within(20_000, 'the hard-linking process to stop', exited);
    }
  });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(lstatSync(victim).uid, 0, 'root gave the root-only file the previous user hard-linked into its data to the new user');
  assert.is(lstatSync(data).uid, idOf(OTHER, '-u'));
});

test.run();
