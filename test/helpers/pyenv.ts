// The CPythons pyenv keeps on this host, found where the tests that run the worker, the library
// or a refusal on one series look for them.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** pyenv's newest CPython of `series` (`3.6`): its `bin/python3.6`, or null. */
export function pyenvPython(series: string): string | null {
  const root = join(homedir(), '.pyenv', 'versions');
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => new RegExp(`^${series.replace('.', '\\.')}\\.\\d+$`).test(v));
  versions.sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  const bin = versions.length === 0 ? '' : join(root, versions[versions.length - 1], 'bin', `python${series}`);
  return bin !== '' && existsSync(bin) ? bin : null;
}
