// An app's run helpers (app-env.ts) are one directory per configuration it was started with,
// named by a hash of what they hold: each change of a setting, of app.yaml or of the
// interpreter writes another, and nothing else ever removes them. The registry prunes those
// none of the app's live versions uses; a worker restarted later reads its version's own
// helpers again (its PYTHONPATH names them), so those always stay, and so do those another
// live process holds (environment/run-helper-holds.ts): a `run` begun before this gateway.
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { heldByOthers } from '../environment/run-helper-holds.js';

/** How writeRunHelpers names a directory: the first 16 hex digits of a sha256. */
const HELPER_DIR = /^[0-9a-f]{16}$/;

export interface PruneRunHelpersOptions {
  /** The helper directories of the versions running or draining now. */
  inUse: ReadonlySet<string>;
  /** Those this gateway wrote for its own starts: no other process uses them. */
  ours: ReadonlySet<string>;
  /**
   * When this gateway started: a directory written since that it did not write itself is a
   * command's run beside it (`apppkg-gateway run APP -- ...`, `test`) that may still need it.
   */
  since: number;
}

/**
 * Removes the helper directories under `runRoot` that may go; returns them. Synchronous, so
 * that no start of the same app can write a directory between the listing and the removal.
 */
export function pruneRunHelpers(runRoot: string, opts: PruneRunHelpersOptions): string[] {
  let names: string[];
  try {
    names = readdirSync(runRoot);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const name of names) {
    const dir = path.join(runRoot, name);
    if (!HELPER_DIR.test(name) || opts.inUse.has(dir)) continue;
    try {
      const stat = lstatSync(dir);
      if (!stat.isDirectory() || (!opts.ours.has(dir) && stat.mtimeMs >= opts.since) || heldByOthers(dir)) continue;
      rmSync(dir, { recursive: true, force: true });
      gone.push(dir);
    } catch {
      // Gone already, or not ours to remove: the next prune looks again.
    }
  }
  return gone;
}
