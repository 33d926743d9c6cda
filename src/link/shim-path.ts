// Where python-shim/ is, whether this module runs from src/link (tsx) or dist/link (tsc):
// both are two levels below the package root, which holds python-shim/.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function findShimDir(): string {
  for (let dir = here, i = 0; i < 4; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'python-shim');
    if (existsSync(join(candidate, 'apppkg_shim_main.py'))) return candidate;
  }
  return resolve(here, '..', '..', 'python-shim');
}

/** Absolute path of the python-shim directory. */
export const SHIM_DIR = findShimDir();

/** Absolute path of the script the gateway runs: `python <SHIM_MAIN> serve|check`. */
export const SHIM_MAIN = join(SHIM_DIR, 'apppkg_shim_main.py');
