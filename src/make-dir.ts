// `mkdir -p` that fails where Node's spins: `mkdir(dir, { recursive: true })` loops forever at
// full CPU when a parent exists but answers ENOENT for a new child, as procfs and sysfs do
// (`backup --to /proc/x` and `--state-dir /sys/x` never returned; the same loop bun fixed in
// oven-sh/bun#36162). Here each missing directory is made once, parent first, and the first
// refusal is the answer, but for a parent removed under us (below).
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * How many times a walk starts again when a parent it found is removed before its child is
 * made: another start on a shared state root that failed removes the empty directories it made
 * (H310: `serve` of one app failing as another's made its STATE/apps/NAME, which then met
 * ENOENT). Each removal needs a process that made the parent and failed, so a few suffice.
 */
const REMOVED_UNDER_US_RETRIES = 5;

const exists = (at: string): Promise<boolean> =>
  stat(at).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return false;
    throw err;
  });

/** Makes `dir` and its missing parents; returns the first one made, as mkdir's `recursive` does, or undefined. */
export async function makeDirectory(dir: string, mode?: number): Promise<string | undefined> {
  // Made by this call, across walks: the shallowest is what a failed start removes again.
  let first: string | undefined;
  for (let walk = 0; ; walk++) {
    const missing: string[] = [];
    for (let at = path.resolve(dir); ; at = path.dirname(at)) {
      if (await exists(at)) break;
      missing.unshift(at);
      if (path.dirname(at) === at) break;
    }
    let removedUnderUs = false;
    for (const each of missing) {
      // Another process may make it meanwhile (two installs, a gateway and a CLI): then it is there.
      const made = await mkdir(each, { mode }).then(() => true, async (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') return false;
        // The parent is gone since the walk: made again by the next one. A parent still there
        // that refuses its child (procfs) is the answer, not a reason to walk again.
        if (err.code === 'ENOENT' && walk < REMOVED_UNDER_US_RETRIES && !(await exists(path.dirname(each)))) {
          removedUnderUs = true;
          return false;
        }
        throw err;
      });
      if (removedUnderUs) break;
      if (made && (first === undefined || each.length < first.length)) first = each;
    }
    if (!removedUnderUs) return first;
  }
}
