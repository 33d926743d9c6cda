// The manifest of a vendor directory, `vendor/.apppkg-vendor.json` (issue 19): what `vendor`
// put there (each distribution, its version, wheel tags and files with their sha256), the
// digest of the requirements it came from, and the interpreter it ran with. `check` compares
// it with the requirements, the interpreter and the files; `vendor` reads it to keep versions
// (a lock, as Bundler's) and to know which files are its own to remove.
//
// Written sorted, without timestamps or absolute paths: the same requirements and wheels give
// the same bytes, so a commit of the vendor directory changes only when its contents do.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readFileAsUserCould, type FileReader } from '../environment/user-readable.js';

export const MANIFEST_NAME = '.apppkg-vendor.json';
const FORMAT = 1;

export interface VendoredDistribution {
  /** As its METADATA spells it. */
  name: string;
  version: string;
  /** Its wheel's `Tag:` lines, e.g. ["py3-none-any"] or ["cp311-cp311-linux_x86_64"]. */
  tags: string[];
  /** Compiled for one interpreter or platform: kept only with --allow-binary. */
  binary: boolean;
  /** Named in the requirements file (pip's REQUESTED), not only pulled in by another. */
  requested: boolean;
  /** Its console and GUI scripts, as written into bin/ ("bin/greet"). */
  scripts: string[];
  /** Every file it owns, relative to the vendor directory, with its sha256 (hex). */
  files: Record<string, string>;
}

export interface VendorManifest {
  format: number;
  requirements: {
    /** Relative to the app directory, "/"-separated. */
    file: string;
    /** sha256 of the file and of each file it includes (-r, -c), see readRequirementsTree. */
    sha256: string;
    /**
     * Each of those files with the sha256 of its bytes (null: an include that could not be read),
     * so that `check` names the one that changed. Absent in manifests written before it was.
     */
    files?: Record<string, string | null>;
  };
  interpreter: {
    /** "cp311": which Python the requirements were resolved for. */
    python: string;
    /** "cp311-cp311-linux_x86_64": what a wheel built by it is tagged. */
    tag: string;
    /**
     * "3.11.2": its python_full_version, which the tag does not tell (cp311 is any 3.11.x), for
     * `check` to judge a requirement's marker on the micro version. Absent in manifests written
     * before it was.
     */
    version?: string;
  };
  distributions: VendoredDistribution[];
  /** Files in the directory that no distribution's RECORD names (kept, listed so check sees them). */
  otherFiles: Record<string, string>;
  /**
   * Where pip looked, when not only its index: for the command `check` offers. Written only then,
   * and with no host's path in it (the tree stays the same wherever it is made).
   */
  sources?: VendorSources;
}

export interface VendorSources {
  noIndex: boolean;
  /** --find-links inside the app directory ("/"-separated, relative to it) and URLs (no user:password). */
  findLinks: string[];
  /** How many --find-links named a directory outside the app (not recorded: a host's path). */
  findLinksElsewhere: number;
  /** --index-url, when given: a URL (no user:password), a directory inside the app, or INDEX_ELSEWHERE. */
  indexUrl?: string;
  /** Each --extra-index-url, recorded as indexUrl is; absent when none. */
  extraIndexUrls?: string[];
}

/** Stands for an index directory outside the app (a host's path is not recorded), for the user to name. */
export const INDEX_ELSEWHERE = 'DIR';

export function manifestPath(vendorDir: string): string {
  return path.join(vendorDir, MANIFEST_NAME);
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The manifest as written: keys in a fixed order, distributions and files sorted. */
export function renderManifest(m: VendorManifest): string {
  const sortedRecord = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => compare(a, b)));
  const ordered: VendorManifest = {
    format: FORMAT,
    requirements: {
      file: m.requirements.file,
      sha256: m.requirements.sha256,
      ...(m.requirements.files ? { files: Object.fromEntries(Object.entries(m.requirements.files).sort(([a], [b]) => compare(a, b))) } : {}),
    },
    interpreter: { python: m.interpreter.python, tag: m.interpreter.tag, ...(m.interpreter.version !== undefined ? { version: m.interpreter.version } : {}) },
    distributions: [...m.distributions]
      .sort((a, b) => compare(a.name.toLowerCase(), b.name.toLowerCase()))
      .map((d) => ({
        name: d.name,
        version: d.version,
        tags: [...d.tags].sort(compare),
        binary: d.binary,
        requested: d.requested,
        scripts: [...d.scripts].sort(compare),
        files: sortedRecord(d.files),
      })),
    otherFiles: sortedRecord(m.otherFiles),
    ...(m.sources ? { sources: renderSources(m.sources) } : {}),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

function renderSources(s: VendorSources): VendorSources {
  return {
    noIndex: s.noIndex,
    findLinks: [...s.findLinks],
    findLinksElsewhere: s.findLinksElsewhere,
    ...(s.indexUrl !== undefined ? { indexUrl: s.indexUrl } : {}),
    ...(s.extraIndexUrls && s.extraIndexUrls.length > 0 ? { extraIndexUrls: [...s.extraIndexUrls] } : {}),
  };
}

/** Code-point order, never the locale's: the same on every host. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function writeManifest(vendorDir: string, m: VendorManifest): Promise<void> {
  await writeFile(manifestPath(vendorDir), renderManifest(m), { mode: 0o644 });
}

export type ManifestRead = { manifest: VendorManifest } | { manifest: null; reason: 'absent' | string };

/**
 * The manifest in `vendorDir`, or why not: 'absent', or what is wrong with it. `reader`: read
 * only if that user could (readFileAsUserCould), as a root `check` reads an app's files.
 */
export async function readManifest(vendorDir: string, reader: FileReader | null = null): Promise<ManifestRead> {
  let text: string;
  try {
    text = (await readFileAsUserCould(manifestPath(vendorDir), reader)).toString('utf8');
  } catch (err) {
    // ENOTDIR: a paths: entry that is a file holds no vendoring; check's paths line says what it is.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { manifest: null, reason: 'absent' };
    return { manifest: null, reason: `cannot read ${MANIFEST_NAME}: ${(err as Error).message}` };
  }
  try {
    const data = JSON.parse(text) as VendorManifest;
    const ok =
      data.format === FORMAT &&
      typeof data.requirements?.sha256 === 'string' &&
      typeof data.requirements?.file === 'string' &&
      typeof data.interpreter?.tag === 'string' &&
      (data.interpreter.version === undefined || typeof data.interpreter.version === 'string') &&
      Array.isArray(data.distributions) &&
      data.distributions.every((d) => typeof d.name === 'string' && typeof d.version === 'string' && typeof d.files === 'object' && Array.isArray(d.tags));
    if (!ok) return { manifest: null, reason: `${MANIFEST_NAME} is not a format ${FORMAT} manifest` };
    data.otherFiles ??= {};
    return { manifest: data };
  } catch (err) {
    return { manifest: null, reason: `${MANIFEST_NAME} is not JSON: ${(err as Error).message}` };
  }
}

/** Every file the manifest names, relative to the vendor directory, with its sha256. */
export function manifestFiles(m: VendorManifest): Map<string, string> {
  const files = new Map<string, string>();
  for (const d of m.distributions) for (const [file, sha] of Object.entries(d.files)) files.set(file, sha);
  for (const [file, sha] of Object.entries(m.otherFiles)) files.set(file, sha);
  return files;
}
