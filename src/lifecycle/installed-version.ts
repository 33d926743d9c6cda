// The version of an app whose commands.install or commands.update last succeeded under this
// state root (STATE/apps/NAME/installed.json, written here for `install` and the gateway's
// version judge alike; `export containerfile` writes one into the image),
// and which versions have not had their update run since. A version copied in while the
// gateway was down, one whose update a SIGTERM cut, or one whose update failed is newer than
// it: at the gateway's start that version is deployed as while it runs (update, start, probe,
// switch), never served straight away (probe-n finding 1).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions } from '../description/package-dir.js';
import type { Description } from '../description/types.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';

export interface InstalledVersion {
  version: string | null;
  dir: string;
  /**
   * Written by a gateway that records each update that passed (`updates: true`). A marker from
   * before that names the first install only, while later versions were migrated unrecorded:
   * judged by it, a start would serve that old version against a database its successors
   * migrated. Such a marker decides nothing (the newest version serves, as it did then), and
   * the version that serves is recorded in its place (`adopted`).
   */
  tracksUpdates: boolean;
}

/** Where the installed version of `name` is kept under the state root (`--state-dir`, else the default root). */
export function installedFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).app, 'installed.json');
}

/** The version recorded in `file`; null when the app was never installed here (or the file is unreadable). */
export function readInstalled(file: string): InstalledVersion | null {
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; dir?: unknown; updates?: unknown };
    if (typeof kept.dir !== 'string') return null;
    return { version: typeof kept.version === 'string' ? kept.version : null, dir: kept.dir, tracksUpdates: kept.updates === true };
  } catch {
    return null;
  }
}

/**
 * Records `desc` as the version whose `by` hook succeeded (`install`: whose first install was
 * done; `adopted`: the one that served at the first start after a marker from before updates
 * were recorded, InstalledVersion.tracksUpdates).
 */
export function recordInstalled(file: string, desc: Description, by: 'install' | 'update' | 'adopted'): void {
  writeFileSync(file, `${JSON.stringify({ version: desc.version, dir: desc.dir, at: new Date().toISOString(), by, updates: true })}\n`);
}

/**
 * The versions of `versions` (highest first) whose commands.update has to run before they take
 * traffic though nothing serves yet: those with an update hook above the installed one. The
 * installed version and those below it passed theirs (or went before it); a first install
 * (`installed` null) runs commands.install instead.
 */
export function updatesPending(versions: readonly Description[], installed: InstalledVersion | null): Set<string> {
  const pending = new Set<string>();
  if (installed === null || !installed.tracksUpdates) return pending;
  const at = versions.findIndex((d) => d.dir === installed.dir);
  versions.forEach((desc, i) => {
    if (!desc.commands.update || desc.dir === installed.dir) return;
    // Its directory gone (or the apps moved): its version still says which are newer.
    const newer = at >= 0 ? i < at : compareVersions(desc.version, installed.version) > 0;
    if (newer) pending.add(desc.dir);
  });
  return pending;
}
