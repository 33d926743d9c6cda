// What a `paths:` entry is on disk, as Python's sys.path reads it: a directory, or a zip
// archive, which zipimport imports from as well (a .zip, an .egg, a pure-Python .whl). Any
// other file (`paths: main.py`) is skipped by Python without a word, so its modules would not
// import: check, serve and --apps refuse it alike, at its entry of app.yaml. So do they an
// entry that is not there at all, which Python skips as silently.
import { statSync } from 'node:fs';
import path from 'node:path';
import { placeOf } from '../description/key-place.js';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';

/** The file names Python imports from when they are on sys.path (zipimport). */
export const ARCHIVE_SUFFIXES: readonly string[] = ['.zip', '.egg', '.whl'];

export type PathsEntryKind = 'directory' | 'archive' | 'file' | 'missing';

export function pathsEntryKind(appDir: string, entry: string): PathsEntryKind {
  const resolved = path.resolve(appDir, entry);
  let found;
  try {
    found = statSync(resolved);
  } catch {
    return 'missing';
  }
  if (found.isDirectory()) return 'directory';
  return found.isFile() && ARCHIVE_SUFFIXES.includes(path.extname(resolved).toLowerCase()) ? 'archive' : 'file';
}

/** APPPKG_PATHS_MISSING for the first entry naming a file Python cannot import from, placed at it; null when none does. */
export function pathsFileRefusal(desc: Pick<Description, 'dir' | 'file' | 'paths' | 'positions'>): GatewayError | null {
  const index = desc.paths.findIndex((entry) => pathsEntryKind(desc.dir, entry) === 'file');
  if (index < 0) return null;
  // At the entry of a list, not at the list (one path alone has no entries).
  const at = placeOf(desc, ['paths', index]);
  return new GatewayError('APPPKG_PATHS_MISSING', {
    missing: desc.paths[index],
    isFile: true,
    dir: desc.dir,
    ...(at ? { file: at.file, line: at.line, column: at.column, key: 'paths' } : {}),
  });
}

/**
 * APPPKG_PATHS_MISSING for the entries that are not there, placed at the first of them; null
 * when every one is.
 */
export function pathsMissingRefusal(desc: Pick<Description, 'dir' | 'file' | 'paths' | 'positions'>): GatewayError | null {
  const missing = desc.paths.filter((entry) => pathsEntryKind(desc.dir, entry) === 'missing');
  if (missing.length === 0) return null;
  // `paths: "vendor, lib"`, written as platform: is, is one path to YAML: the list was meant, and
  // "vendor, lib are not directories" sent the user to create what was there already. A part that
  // is not there either is named alone (`paths: "vendor, nope"`: nope).
  const parts = (entry: string): string[] => entry.split(',').map((part) => part.trim());
  const listed = missing.find((entry) => parts(entry).length > 1 && parts(entry).every((part) => part !== ''));
  if (listed !== undefined) {
    const at = placeOf(desc, ['paths', desc.paths.indexOf(listed)]);
    return new GatewayError('APPPKG_PATHS_MISSING', {
      missing: listed,
      asList: desc.paths.flatMap((entry) => (entry === listed ? parts(entry) : [entry])),
      partsMissing: parts(listed).filter((part) => pathsEntryKind(desc.dir, part) === 'missing'),
      dir: desc.dir,
      ...(at ? { file: at.file, line: at.line, column: at.column, key: 'paths' } : {}),
    });
  }
  // At the first missing entry of a list, not at the list (one path alone has no entries).
  const at = placeOf(desc, ['paths', desc.paths.indexOf(missing[0])]);
  return new GatewayError('APPPKG_PATHS_MISSING', {
    missing: missing.join(', '),
    dir: desc.dir,
    ...(at ? { file: at.file, line: at.line, column: at.column, key: 'paths' } : {}),
  });
}
