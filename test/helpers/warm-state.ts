// State roots that start with the interpreter probes an earlier gateway of this test process
// made. A gateway on a fresh root probes every python on PATH again (through pyenv's shims,
// ~0.5 s of CPU: most of a cold start); the probe cache (src/environment/probe-cache.ts) holds
// an answer only while the binary and all it reads are unchanged, so it is as valid in a new
// root as in the one that made it. For tests that are not about a first start's probing.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from './process.js';

const CACHE = join('cache', 'interpreters.json');

const handedOut: string[] = [];
let kept: string | null = null;

/** The first probe cache a root handed out here holds, kept aside once one does (null: none yet). */
function keptCache(): string | null {
  if (kept !== null) return kept;
  const made = handedOut.map((root) => join(root, CACHE)).find((file) => existsSync(file));
  if (made === undefined) return null;
  const aside = mkdtempSync(join(tmpdir(), 'apppkg-probe-cache-'));
  process.on('exit', () => rmSync(aside, { recursive: true, force: true }));
  copyFileSync(made, join(aside, 'interpreters.json'));
  return (kept = join(aside, 'interpreters.json'));
}

/** tempDir(prefix) for a gateway's --state-dir, its probe cache copied from an earlier one's. */
export function warmStateDir(prefix: string): { path: string; remove(): void } {
  const cache = keptCache();
  const root = tempDir(prefix);
  handedOut.push(root.path);
  if (cache !== null) {
    mkdirSync(join(root.path, 'cache'));
    copyFileSync(cache, join(root.path, CACHE));
  }
  return root;
}
