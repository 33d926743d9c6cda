import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

/** The package's version, from package.json (beside src/ and dist/). */
export function packageVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8'));
    cached = String(pkg.version);
  }
  return cached;
}
