// A requirements file and every file it includes with -r or -c: one digest for all of them, so
// that an edit to an included file counts as a change (a vendor directory goes stale, a venv is
// rebuilt), and each file's own digest, so that the change can be named.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { requirementIncludes } from './requirements.js';
import { readFileAsUserCould, UserCannotRead, type FileReader } from './user-readable.js';

export interface RequirementsTree {
  /** sha256 over every file, each as its path and its bytes. */
  sha256: string;
  /** Each file, relative to the app directory ("/"-separated), with its bytes' sha256; null for an include that could not be read. */
  files: Record<string, string | null>;
  /** The file whose -r or -c line brought each in (the top file has none). */
  includedBy: Record<string, string>;
}

/**
 * The requirements file and every file it includes with -r or -c, in the order pip reads them,
 * each as its path relative to `appDir` and its bytes: an edit to an included file is a change
 * too, and is named. Rejects when the top file cannot be read; an included file
 * that cannot be read counts as empty in the digest. `reader`: as readRequirements's (rejects
 * with UserCannotRead for any file of the tree it could not read).
 */
export async function readRequirementsTree(appDir: string, file: string, reader: FileReader | null = null): Promise<RequirementsTree> {
  const hash = createHash('sha256');
  const files: Record<string, string | null> = {};
  const includedBy: Record<string, string> = {};
  const relative = (at: string) => path.relative(appDir, at).split(path.sep).join('/');
  const visit = async (at: string, by: string | null): Promise<void> => {
    const rel = relative(at);
    if (Object.hasOwn(files, rel)) return;
    let data: Buffer | null = null;
    try {
      data = await readFileAsUserCould(at, reader);
    } catch (err) {
      if (by === null || err instanceof UserCannotRead) throw err;
    }
    files[rel] = data === null ? null : createHash('sha256').update(data).digest('hex');
    if (by !== null) includedBy[rel] = by;
    hash.update(`${rel}\0`).update(data ?? Buffer.alloc(0)).update('\0');
    // A URL's content is not the app's to hash (vendor refuses it); its line is in `data`.
    for (const include of requirementIncludes(at, (data ?? Buffer.alloc(0)).toString('utf8'))) if (!include.url) await visit(include.target, rel);
  };
  await visit(path.resolve(file), null);
  return { sha256: hash.digest('hex'), files, includedBy };
}

/**
 * Which of the requirements files changed, named: `reqs/pins.txt (included by reqs/base.txt)
 * changed`, not the top file, which may be as it was. A record from before each file's
 * sha256 was kept (a vendor manifest, a venv's stamp) can only say that one of them did.
 */
export function requirementChanges(top: string, recorded: Record<string, string | null> | undefined, tree: RequirementsTree): string {
  const by = (file: string) => (Object.hasOwn(tree.includedBy, file) ? ` (included by ${tree.includedBy[file]})` : '');
  if (recorded === undefined) {
    const others = Object.keys(tree.files).filter((file) => file !== top);
    return others.length === 0 ? `${top} changed` : `${top} or a file it includes (${others.join(', ')}) changed`;
  }
  const was = recorded;
  const said: string[] = [];
  for (const [file, sha] of Object.entries(tree.files)) {
    if (!Object.hasOwn(was, file)) said.push(`${file}${by(file)} is new`);
    else if (sha === null && was[file] !== null) said.push(`${file}${by(file)} is gone`);
    else if (sha !== was[file]) said.push(`${file}${by(file)} changed`);
  }
  for (const file of Object.keys(was)) if (!Object.hasOwn(tree.files, file)) said.push(`${file} is no longer included`);
  // The digest differs, so something did; a recorded file list that disagrees says the top file.
  return said.length > 0 ? said.join(', ') : `${top} changed`;
}
