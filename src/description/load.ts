// Reads app.yaml (SPEC §1.1) into the normalised Description: finds the file (following a
// symlinked package directory), then runs the shared YAML machinery (load-yaml.ts) with the
// app schema and the app.yaml semantics (normalise-description.ts).

import { lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { whyNotReadableBy } from '../environment/readable-by.js';
import type { FileReader } from '../environment/user-readable.js';
import { GatewayError, givenAs } from '../errors.js';
import { loadYamlWithSchema } from './load-yaml.js';
import { misnamedDescriptionError } from './misnamed.js';
import type { UnknownKeyFix } from './schema-problems.js';
import { descriptionExpectedFor, descriptionFixFor, normaliseDescription } from './normalise-description.js';
import { parsePackageDirName } from './package-dir.js';
import type { Description } from './types.js';
import { readSchema, type JsonSchema } from './validators.js';

export interface LoadDescriptionOptions {
  /**
   * The directory name the app's default name and version come from; default: the basename of
   * the (symlink-resolved) directory that holds the file.
   */
  dirName?: string;
  /**
   * As root: the user the app named `name` (in the package directory `dir`) runs as, or null
   * when the gateway switches to no user for it. The file app.yaml leads to is then shown (its
   * values, its problems) only when that user may read it: an app must not read through the
   * gateway what its user cannot (a symlink to /etc/shadow). `name` is the description's, or
   * the directory's when the description does not load.
   */
  readerFor?: (name: string, dir: string) => FileReader | null | Promise<FileReader | null>;
  /**
   * What the caller calls the option that gives the environment file, for the fix of a host's
   * key written in app.yaml: the CLI's --environment (the default), the library's `environment`,
   * Python's `environment=`.
   */
  environmentKey?: string;
}

/** Loads one description file. Throws APPPKG_DESC_NOT_FOUND or APPPKG_DESC_INVALID (with every problem). */
export async function loadDescriptionFile(file: string, options: LoadDescriptionOptions = {}): Promise<Description> {
  const given = path.resolve(file);
  let dir: string;
  try {
    dir = await realpath(path.dirname(given));
  } catch {
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: path.dirname(given), file: given });
  }
  const absolute = path.join(dir, path.basename(given));
  const dirName = options.dirName ?? path.basename(dir);
  const opened: { real?: string; stat?: Stats } = {};
  // Read as root, but nothing of it shown (nor served) before the app's user is found to be
  // able to read it: which user that is may depend on the name the description gives.
  const admit = async (name: string): Promise<void> => {
    if (options.readerFor === undefined || opened.real === undefined || opened.stat === undefined) return;
    const reader = await options.readerFor(name, dir);
    if (reader === null || reader.uid === 0) return;
    const why = await whyNotReadableBy(opened.real, opened.stat, reader);
    if (why === null) return;
    const leads = opened.real === absolute ? '' : `it leads to ${opened.real}, and `;
    throw new GatewayError('APPPKG_FILE_UNREADABLE', { file: absolute, reason: `${leads}the app's user, ${reader.user} (uid ${reader.uid}), ${why}`, appUser: reader.user });
  };
  let desc: Description;
  try {
    desc = await loadYamlWithSchema(absolute, readSchema('app'), {
      notAFile: () => new GatewayError('APPPKG_DESC_NOT_FOUND', { dir, file: absolute, stands: standingAt(absolute) ?? 'no regular file' }),
      notFound: () => {
        const stands = standingAt(absolute);
        if (stands !== null) return new GatewayError('APPPKG_DESC_NOT_FOUND', { dir, file: absolute, stands });
        return misnamedDescriptionError(dir) ?? new GatewayError('APPPKG_DESC_NOT_FOUND', { dir, file: absolute });
      },
      invalidCode: 'APPPKG_DESC_INVALID',
      fixFor: descriptionFixFor,
      expectedFor: descriptionExpectedFor,
      unknownKeyFix: hostKeyFix(dirName, options.environmentKey ?? '--environment'),
      normalise: (yaml) => normaliseDescription(yaml, absolute, dir, dirName),
      onOpen: options.readerFor && ((real, stat) => Object.assign(opened, { real, stat })),
    });
  } catch (err) {
    await admit(parsePackageDirName(dirName).name);
    throw err;
  }
  await admit(desc.name);
  return desc;
}

/**
 * What is at app.yaml's place when it cannot be read as a file: a directory, or a symlink to
 * nothing (a deploy that links app.yaml from a shared place), which "no app.yaml" would deny.
 */
function standingAt(file: string): string | null {
  try {
    const entry = lstatSync(file, { throwIfNoEntry: false });
    if (entry === undefined) return null;
    const target = statSync(file, { throwIfNoEntry: false });
    if (entry.isSymbolicLink() && target === undefined) return `a symlink to ${readlinkSync(file)}, which is not there`;
    if (target?.isDirectory()) return 'a directory';
    if (target?.isFIFO()) return 'a FIFO';
    if (target?.isSocket()) return 'a socket';
    if (target?.isCharacterDevice() || target?.isBlockDevice()) return 'a device';
  } catch {
    // A loop of links, or no permission: the plain "no app.yaml" stands.
  }
  return null;
}

/** The host keys `serve` also takes as flags, and Gateway.start({ app }) as options of the same names. */
const SERVE_FLAGS = new Set(['workers', 'threads']);

/** Where one app's run takes `key` besides the environment file, in the caller's terms; '' for Python's library, which has no serve. */
function serveAlsoTakes(key: string, shown: string, environmentKey: string): string {
  if (!SERVE_FLAGS.has(key) || environmentKey.endsWith('=')) return '';
  return environmentKey.startsWith('-') ? ` (serve also takes --${key} ${shown})` : ` (Gateway.start({ app }) also takes ${key}: ${shown})`;
}

/**
 * The keys of the environment file's `apps.NAME`: how the host runs an app (`workers`, `mount`)
 * is not the package's to say, but it is what Gunicorn's and uWSGI's users write in their app's
 * own config first, so app.yaml's "unknown key" says where it goes instead of "remove it".
 */
function hostKeyFix(dirName: string, environmentKey: string): UnknownKeyFix {
  const hostKeys = new Set(Object.keys((readSchema('environment').definitions as Record<string, JsonSchema>).app.properties as object));
  return (at, key, value, root) => {
    if (at.length > 0 || !hostKeys.has(key)) return undefined;
    const given = (root as Record<string, unknown>).name;
    const name = typeof given === 'string' ? given : parsePackageDirName(dirName).name;
    const shown = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '...';
    return {
      elsewhere: "a key of the host's environment file, not of app.yaml",
      fix: `move it to the environment file the gateway is given with ${givenAs(environmentKey, 'FILE')}, under the app's name: apps: {${name}: {${key}: ${shown}}}${serveAlsoTakes(key, shown, environmentKey)}`,
    };
  };
}

/**
 * Loads `DIR/app.yaml`. A symlinked directory is resolved first, so `dir` and `file` are the
 * target's. The default name and version come from the link's own name (`bench -> app`
 * is the app "bench"), except that a link without a version takes its target's: one of the
 * same name with one (`blog -> blog.2026.11.24`), or one whose whole name is a version, as
 * Capistrano and its kin name releases (`blog -> releases/20261124083000`, version
 * 20261124083000): without it every switch of the link was between two unversioned
 * directories, so a new release was taken for a rollback and its commands.update never ran.
 */
export async function loadDescription(dir: string, options: Pick<LoadDescriptionOptions, 'readerFor' | 'environmentKey'> = {}): Promise<Description> {
  let resolved: string;
  try {
    resolved = await realpath(dir);
  } catch {
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: path.resolve(dir), missing: true });
  }
  // A file named where its directory was meant (`check app/wsgi.py`) is no "missing app.yaml".
  if (!(await stat(resolved)).isDirectory()) {
    const holder = path.dirname(path.resolve(dir));
    const holds = await stat(path.join(holder, 'app.yaml')).then((s) => s.isFile(), () => false);
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', { dir: path.resolve(dir), notDirectory: true, ...(holds ? { holder } : {}) });
  }
  const linkName = path.basename(path.resolve(dir));
  const targetName = path.basename(resolved);
  const link = parsePackageDirName(linkName);
  const target = parsePackageDirName(targetName);
  const dirName = link.version !== null ? linkName
    : link.name === target.name ? targetName
    : /^\d/.test(targetName) ? `${link.name}.${targetName}`
    : linkName;
  return loadDescriptionFile(path.join(resolved, 'app.yaml'), { dirName, readerFor: options.readerFor, environmentKey: options.environmentKey });
}
