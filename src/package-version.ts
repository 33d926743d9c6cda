import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './package-root.js';

let cached: string | null = null;

/** The package's version, from its package.json. */
export function packageVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8'));
    cached = String(pkg.version);
  }
  return cached;
}
