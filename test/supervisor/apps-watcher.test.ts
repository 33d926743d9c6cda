// The apps directory's file watch (src/supervisor/watcher.ts) follows the directory at its path:
// removed and made again, or renamed away and replaced, the new one is watched, not only scanned.
// What the kernel watches is read from /proc/self/fdinfo (the inotify descriptor lists each
// watch's inode), so the test does not depend on which of the watch or the scan saw a change.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AppsWatcher } from '../../src/supervisor/watcher.js';
import { tempDir, waitFor } from '../helpers/process.js';

const test = suite('the apps directory watch');
const work = tempDir('apppkg-apps-watch-');
test.after(() => work.remove());

/** The inodes this process's inotify descriptors watch. */
function watchedInodes(): number[] {
  const inodes: number[] = [];
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
    } catch {
      continue;
    }
    for (const m of info.matchAll(/^inotify wd:\S+ ino:([0-9a-f]+) /gm)) inodes.push(parseInt(m[1], 16));
  }
  return inodes;
}

const inodeOf = (path: string) => statSync(path).ino;

test('removed and made again, or renamed away and made again, the new directory is watched', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  const watcher = new AppsWatcher(apps, () => {}, 100);
  watcher.start();
  try {
    assert.ok(watchedInodes().includes(inodeOf(apps)), 'watched at the start');
    rmSync(apps, { recursive: true });
    mkdirSync(apps);
    const again = inodeOf(apps);
    await waitFor(() => watchedInodes().includes(again), 10_000, () => `the new directory (inode ${again}) to be watched: ${watchedInodes().join(' ')}`);
    renameSync(apps, `${apps}.away`);
    mkdirSync(apps);
    const third = inodeOf(apps);
    await waitFor(() => watchedInodes().includes(third), 10_000, () => `the directory made after a rename (inode ${third}) to be watched: ${watchedInodes().join(' ')}`);
    assert.not.ok(watchedInodes().includes(inodeOf(`${apps}.away`)), 'the one renamed away is no longer watched');
  } finally {
    watcher.stop();
  }
});

test('a directory missing at the start is watched once it is there', async () => {
  const apps = join(work.path, 'later');
  const watcher = new AppsWatcher(apps, () => {}, 100);
  watcher.start();
  try {
    mkdirSync(apps);
    const inode = inodeOf(apps);
    await waitFor(() => watchedInodes().includes(inode), 10_000, () => `the directory (inode ${inode}) to be watched: ${watchedInodes().join(' ')}`);
  } finally {
    watcher.stop();
  }
});

test.run();
