// A process of an app's user that swaps the directories of a tree it owns for symlinks to a
// victim and back while root acts on that tree, for the tests that check root's acts never go
// where the links lead (uninstall-links, backup-links). Run as the user itself, not as the app:
// uninstall and restore refuse a running app.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, within } from '../helpers/process.js';

// Swaps each directory of argv[1] whose name starts with argv[4] that its user may swap (when
// argv[5] is a uid: only once that uid owns it) for a symlink to argv[2] and back, its content
// kept, over and over, until argv[3] exists (60 s at most).
const SWAPPER = `
import os, sys, time
data, victim, stop, prefix = sys.argv[1:5]
only = int(sys.argv[5]) if len(sys.argv) > 5 else None
give_up = time.monotonic() + 60
open(stop + '.started', 'w').close()
while not os.path.exists(stop) and time.monotonic() < give_up:
    try: subs = [s for s in os.listdir(data) if s.startswith(prefix) and not s.endswith('.away')]
    except OSError: continue
    for sub in subs:
        p = os.path.join(data, sub)
        try:
            if os.path.islink(p):
                os.unlink(p); os.rename(p + '.away', p)
            elif only is None or os.lstat(p).st_uid == only:
                os.rename(p, p + '.away'); os.symlink(victim, p)
        except OSError: pass
`;

export const idOf = (user: string, flag: '-u' | '-g') => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());

export interface Swap {
  /** The directory whose directories are swapped. */
  dir: string;
  /** Those whose name starts with this; default 'sub'. */
  prefix?: string;
  /** Where the symlinks lead. */
  victim: string;
  /** Swaps a directory only once this uid owns it. */
  onlyOwnedBy?: number;
}

let swappers = 0;

/** `during()` while a process of `user`'s swaps as `swap` says; the process is stopped (and waited for) whatever `during` does. */
export async function whileSwapping<T>(user: string, signals: string, swap: Swap, during: () => Promise<T>): Promise<T> {
  const stopFile = join(signals, `stop-subdirs-${++swappers}`);
  const only = swap.onlyOwnedBy === undefined ? [] : [String(swap.onlyOwnedBy)];
  const swapper = spawn('python3', ['-c', SWAPPER, swap.dir, swap.victim, stopFile, swap.prefix ?? 'sub', ...only], { uid: idOf(user, '-u'), gid: idOf(user, '-g'), cwd: '/', stdio: 'ignore' });
  const exited = new Promise((resolve) => swapper.on('close', resolve));
  try {
    await waitFor(() => existsSync(`${stopFile}.started`), 20_000, 'the swapping process to start');
    return await during();
  } finally {
    writeFileSync(stopFile, '');
    await within(20_000, 'the swapping process to stop', exited);
  }
}

/** `parent/name`, a directory holding f0..f9, all `owner`'s (a uid; root's by default). */
export function victimTree(parent: string, name: string, owner = 0): string {
  const victim = join(parent, name);
  mkdirSync(victim);
  for (let i = 0; i < 10; i++) writeFileSync(join(victim, `f${i}`), 'not the app\'s\n');
  execFileSync('chown', ['-R', String(owner), victim]);
  return victim;
}
