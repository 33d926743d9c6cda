// `mkdir -p` that fails where Node's spins: `mkdir(dir, { recursive: true })` loops forever at
// full CPU when a parent exists but answers ENOENT for a new child, as procfs and sysfs do
// (`backup --to /proc/x` and `--state-dir /sys/x` never returned; the same loop bun fixed in
// oven-sh/bun#36162). Here each missing directory is made once, parent first, and the first
// refusal is the answer.
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Makes `dir` and its missing parents; returns the first one made, as mkdir's `recursive` does, or undefined. */
export async function makeDirectory(dir: string, mode?: number): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const found = await stat(at).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    });
    if (found) break;
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  let first: string | undefined;
  for (const each of missing) {
    // Another process may make it meanwhile (two installs, a gateway and a CLI): then it is there.
    const made = await mkdir(each, { mode }).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return false;
      throw err;
    });
    if (made) first ??= each;
  }
  return first;
}
