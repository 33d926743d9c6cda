// State roots a test makes itself, warm or cold. runCli and startCli give an empty root the
// run's caches (shared-cache.ts) on their own; these are for the rest: a root a gateway started
// in the test process (Gateway.start) uses, and the roots that must stay as a fresh install has
// them.
import { tempDir } from './process.js';
import { giveSharedCaches, markCold } from './shared-cache.js';

/** tempDir(prefix) for a gateway's --state-dir, holding the run's probe cache and venv seeds. */
export function warmStateDir(prefix: string): { path: string; remove(): void } {
  const root = tempDir(prefix);
  giveSharedCaches(root.path);
  return root;
}

/**
 * tempDir(prefix) that neither it nor a state root made inside it is ever given the run's
 * caches: for the tests of a first start's probing, of the venv seed, or of what a root holds.
 */
export function coldStateDir(prefix?: string): { path: string; remove(): void } {
  const root = tempDir(prefix);
  markCold(root.path);
  return root;
}
