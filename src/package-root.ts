// Where the package's own files are (python-shim/, schema/, admin-page/, package.json, the
// compiled validators under dist/). The module asking may run from src/ (the tests' scripts/ts-hooks.mjs), from dist/ (tsc,
// the library), or inlined in the one-file CLI at dist/cli/main.js (scripts/bundle-cli.mjs), each
// at its own depth below the root, so the root is found by walking up instead of by a fixed `../..`.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here, i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'python-shim', 'apppkg_shim_main.py'))) return dir;
  }
  return resolve(here, '..');
}

/** Absolute path of the package's root directory. */
export const PACKAGE_ROOT = findPackageRoot();
