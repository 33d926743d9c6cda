// The version of an app whose commands.install or commands.update last succeeded under this
// state root (STATE/apps/NAME/installed.json, written here for `install` and the gateway's
// version judge alike; `export containerfile` writes one into the image),
// and which versions have not had their update run since. A version copied in while the
// gateway was down, one whose update a SIGTERM cut, or one whose update failed is newer than
// it: at the gateway's start that version is deployed as while it runs (update, start, probe,
// switch), never served straight away (probe-n finding 1). A switch to a version not newer than
// it (a rollback) runs no update: the data stays as the newer one migrated it. A failed update is
// kept too (update-failed.json), with the files it failed with: the next start refuses that
// version again without running the hook, until its files change or SIGHUP asks.
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomicSync } from '../write-file-atomic.js';
import { join } from 'node:path';
import { compareVersions } from '../description/package-dir.js';
import type { Description } from '../description/types.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { systemErrorReason } from '../errors.js';

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
  /**
   * The digest of its directory's files when its hook passed (supervisor/package-tree.ts
   * treeDigest); null in a marker from before it was recorded, and after `install` run by hand.
   * Its directory copied back after a rollback with these very files has passed its update
   * already; with other files it is a new deploy of that version.
   */
  files: string | null;
}

/** Where the installed version of `name` is kept under the state root (`--state-dir`, else the default root). */
export function installedFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).app, 'installed.json');
}

/** The version recorded in `file`; null when the app was never installed here (or the file is unreadable). */
export function readInstalled(file: string): InstalledVersion | null {
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; dir?: unknown; updates?: unknown; files?: unknown };
    if (typeof kept.dir !== 'string') return null;
    return {
      version: typeof kept.version === 'string' ? kept.version : null,
      dir: kept.dir,
      tracksUpdates: kept.updates === true,
      files: typeof kept.files === 'string' ? kept.files : null,
    };
  } catch {
    return null;
  }
}

/**
 * Records `desc` as the version whose `by` hook succeeded (`install`: whose first install was
 * done; `adopted`: the one that served at the first start after a marker from before updates
 * were recorded, InstalledVersion.tracksUpdates), its directory holding `files` then.
 */
export function recordInstalled(file: string, desc: Description, by: 'install' | 'update' | 'adopted', files: string | null = null): void {
  const kept = { version: desc.version, dir: desc.dir, at: new Date().toISOString(), by, updates: true, ...(files === null ? {} : { files }) };
  writeFileAtomicSync(file, `${JSON.stringify(kept)}\n`);
}

/**
 * recordInstalled for the gateway, whose hook has passed by then (whether the version's workers
 * then start or not: the data is migrated either way): a state root gone full or read-only must
 * not turn that into a refusal of the version. Why it could not be kept, for the caller to say; null when it was.
 */
export function tryRecordInstalled(file: string, desc: Description, by: 'install' | 'update' | 'adopted', files: string | null = null): string | null {
  try {
    recordInstalled(file, desc, by, files);
    return null;
  } catch (err) {
    return systemErrorReason(err, file);
  }
}

/**
 * Is `desc` newer than the installed version? `versions` (highest first) decides while the
 * installed one's directory is among them; gone (removed, or the apps moved), its version does.
 */
function aboveInstalled(desc: Description, versions: readonly Description[], installed: InstalledVersion): boolean {
  if (desc.dir === installed.dir) return false;
  const at = versions.findIndex((d) => d.dir === installed.dir);
  const mine = versions.indexOf(desc);
  if (at >= 0 && mine >= 0) return mine < at;
  return compareVersions(desc.version, installed.version) > 0;
}

/**
 * Why `desc`, taking over from another version while the gateway runs, runs no commands.update:
 * `rollback` when it is not newer than the installed version (its successor migrated the data
 * already, and a rollback keeps the data as it is: SPEC 2, the hook belongs to a new version);
 * `passed` when it is the installed version itself, copied back with the files its update
 * passed with. null when the hook runs: a newer version, the installed one with other files
 * (a new deploy of it), or no marker that records updates to judge by.
 */
export function updateSkipped(
  desc: Description,
  versions: readonly Description[],
  installed: InstalledVersion | null,
  files: () => string,
): 'rollback' | 'passed' | null {
  if (installed === null || !installed.tracksUpdates) return null;
  if (desc.dir === installed.dir) return installed.files === null || installed.files === files() ? 'passed' : null;
  return aboveInstalled(desc, versions, installed) ? null : 'rollback';
}

/**
 * The versions of `versions` (highest first) whose commands.update has to run before they take
 * traffic though nothing serves yet: those with an update hook above the installed one, and the
 * installed one itself when its files are no longer those its hook passed with (`files` gives
 * a directory's treeDigest): edited in place while the gateway was down, it is a new deploy of
 * that version, as updateSkipped judges it while the gateway runs. Those below it passed theirs
 * (or went before it); a first install (`installed` null) runs commands.install instead.
 */
export function updatesPending(versions: readonly Description[], installed: InstalledVersion | null, files: (dir: string) => string): Set<string> {
  const pending = new Set<string>();
  if (installed === null || !installed.tracksUpdates) return pending;
  for (const desc of versions) {
    if (!desc.commands.update) continue;
    const changed = desc.dir === installed.dir && installed.files !== null && installed.files !== files(desc.dir);
    if (changed || aboveInstalled(desc, versions, installed)) pending.add(desc.dir);
  }
  return pending;
}

/**
 * A version whose commands.update failed, kept across the gateway's restarts: its files then
 * (treeDigest) and why (a GatewayError's code and the details its message is made of).
 */
export interface FailedUpdate {
  files: string;
  at: string;
  code: string;
  details: Record<string, unknown>;
}

/** Where the failed updates of `name` are kept (STATE/apps/NAME/update-failed.json, by directory). */
export function failedUpdatesFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).app, 'update-failed.json');
}

/** dir -> its failed update; empty when none is kept (or the file is unreadable). */
export function readFailedUpdates(file: string): Map<string, FailedUpdate> {
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as Record<string, FailedUpdate>;
    return new Map(Object.entries(kept).filter(([, f]) => typeof f?.files === 'string' && typeof f.code === 'string'));
  } catch {
    return new Map();
  }
}

/**
 * Keeps (`failed`) or forgets (null) the failed update of `dir`. Only the values a message is
 * made of are kept: strings, numbers, booleans and lists of strings (a traceback's tail).
 */
export function keepFailedUpdate(file: string, dir: string, failed: { files: string; code: string; details: Record<string, unknown> } | null): void {
  const kept = readFailedUpdates(file);
  if (failed === null && !kept.delete(dir)) return;
  if (failed !== null) {
    const plain = (v: unknown) => ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    const details = Object.fromEntries(Object.entries(failed.details).filter(([, v]) => plain(v)));
    kept.set(dir, { files: failed.files, at: new Date().toISOString(), code: failed.code, details });
  }
  if (kept.size === 0) rmSync(file, { force: true });
  else writeFileAtomicSync(file, `${JSON.stringify(Object.fromEntries(kept))}\n`);
}
