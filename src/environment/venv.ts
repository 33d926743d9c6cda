// The app's virtualenv on disk (SPEC §3 `install`): what it was built from, where a new one is
// built, and the switch to it. `<app>/venv` is a symlink to a build directory `<app>/venv-<id>`;
// a new build goes into a new directory at its final path (a venv is not relocatable: its
// scripts' shebangs name it) and the link is renamed over the old one, so a gateway or a
// command reading `<app>/venv` sees the old venv or the new one, never a half-built one.

import { createHash, randomBytes } from 'node:crypto';
import { lstat, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { findVenv, VENV_FILE_MAX } from './app-env.js';
import type { Interpreter } from './interpreter-probe.js';
import { readRequirementsTree, requirementChanges, type RequirementsTree } from './requirements-tree.js';
import { readFileAsUserCould, type FileReader } from './user-readable.js';
import { writeFileAtomicSync } from '../write-file-atomic.js';
import { removeAsOwner } from '../remove-as-owner.js';
import { readRegularFile } from '../no-follow.js';

/** Written into the build directory once pip succeeded: a venv without it is incomplete. */
export const VENV_STAMP_FILE = 'apppkg-venv.json';

export interface VenvStamp {
  /** sha256 of the requirements file's bytes. */
  requirementsSha256: string;
  requirementsFile: string;
  /**
   * The requirements file and what it includes (-r, -c), relative to the app directory. A stamp
   * written before it was kept is judged by the top file alone, as it was, and given the tree at
   * that look (adoptRequirementsTree): a gateway upgrade rebuilds no venv by itself (offline, a
   * rebuild can fail where the old venv served), and an include edited after it is seen.
   */
  requirementsTree?: RequirementsTree & { top: string };
  interpreter: { executable: string; version: string };
  /** Made with --system-site-packages (the app lists `deb` packages, which must stay importable). */
  systemSitePackages: boolean;
  createdAt: string;
}

export type VenvVerdict =
  | { current: true; dir: string; stamp: VenvStamp }
  | { current: false; why: string };

/** `reader`: the app's user, whose rights the requirements' reads are held to (readRequirements). */
export async function wantedStamp(appDir: string, requirementsFile: string, interpreter: Interpreter, systemSitePackages: boolean, reader: FileReader | null = null): Promise<VenvStamp> {
  const bytes = await readFileAsUserCould(requirementsFile, reader);
  const tree = await readRequirementsTree(appDir, requirementsFile, reader);
  return {
    requirementsSha256: createHash('sha256').update(bytes).digest('hex'),
    requirementsFile,
    requirementsTree: { top: path.relative(appDir, requirementsFile).split(path.sep).join('/'), ...tree },
    interpreter: { executable: interpreter.executable, version: interpreter.version },
    systemSitePackages,
    createdAt: new Date().toISOString(),
  };
}

export async function readVenvStamp(dir: string): Promise<VenvStamp | null> {
  try {
    // The build is the app's user's (pip runs as that user): what it left under the stamp's name
    // is not followed nor waited on by root's judge.
    const parsed = JSON.parse(await readRegularFile(path.join(dir, VENV_STAMP_FILE), VENV_FILE_MAX)) as VenvStamp;
    return typeof parsed.requirementsSha256 === 'string' && parsed.interpreter ? parsed : null;
  } catch {
    return null;
  }
}

/**
 * Into a build the app's user may own (pip ran there as that user): what it left under the
 * stamp's name (a symlink to a file of root's) is removed, and the stamp made new (O_EXCL),
 * never written through.
 */
export async function writeVenvStamp(dir: string, stamp: VenvStamp): Promise<void> {
  const file = path.join(dir, VENV_STAMP_FILE);
  await rm(file, { force: true });
  await writeFile(file, `${JSON.stringify(stamp, null, 2)}\n`, { flag: 'wx' });
}

/**
 * Removes a venv build. One the app's user owns (built as that user by a root gateway) is
 * emptied by that user, then its empty directory removed by us (remove-as-owner.ts says why).
 * Left when the user refilled it meanwhile: removeStaleVenvBuilds tries again at the next build.
 */
export async function removeVenvBuild(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => null);
  if (st === null) return;
  if (st.isDirectory() && process.getuid?.() === 0 && st.uid !== 0) {
    await removeAsOwner(dir, st);
    return;
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * A stamp from before the requirements' tree was kept, on a venv judged current by its top file
 * (`dir`, the build the link points at): the tree as it is now goes into it. Left without one,
 * an upgraded host judged that venv by its top file for as long as the file stayed the same, so
 * an edit to an included file (-r base.txt) was never seen. Whether the includes changed before
 * this look cannot be told; from it on a change rebuilds. A stamp that cannot be written (a
 * read-only state root) is left as it was: the venv is current all the same, and judged so again.
 */
export async function adoptRequirementsTree(dir: string, stamp: VenvStamp, wanted: VenvStamp): Promise<void> {
  if (stamp.requirementsTree || !wanted.requirementsTree) return;
  // Stamps without the tree are older installs', which root made its own; a build the app's user
  // owns is not written into by us but through writeVenvStamp (its temporary file could be a link).
  if ((await lstat(dir).catch(() => null))?.uid !== process.getuid?.()) return;
  try {
    writeFileAtomicSync(path.join(dir, VENV_STAMP_FILE), `${JSON.stringify({ ...stamp, requirementsTree: wanted.requirementsTree }, null, 2)}\n`);
  } catch {
    // Kept as it was, above.
  }
}

/** Is the venv at `venvPath` usable (findVenv) and built from these requirements on this interpreter? */
export async function judgeVenv(venvPath: string, interpreter: Interpreter, wanted: VenvStamp): Promise<VenvVerdict> {
  const venv = await findVenv(venvPath, interpreter);
  if (!venv) return { current: false, why: (await exists(venvPath)) ? `it was made from another interpreter or is incomplete` : 'there is none yet' };
  const stamp = await readVenvStamp(venvPath);
  if (!stamp) return { current: false, why: `${VENV_STAMP_FILE} is missing (not built by install)` };
  if (stamp.interpreter.executable !== wanted.interpreter.executable || stamp.interpreter.version !== wanted.interpreter.version) {
    return { current: false, why: `the interpreter changed (${stamp.interpreter.executable} ${stamp.interpreter.version} -> ${wanted.interpreter.executable} ${wanted.interpreter.version})` };
  }
  if (stamp.systemSitePackages !== wanted.systemSitePackages) return { current: false, why: 'deb packages were added or removed' };
  const [was, now] = [stamp.requirementsTree, wanted.requirementsTree];
  if (was && now && was.sha256 !== now.sha256) {
    return { current: false, why: `the requirements changed: ${requirementChanges(now.top, was.top === now.top ? was.files : undefined, now)}` };
  }
  if (stamp.requirementsSha256 !== wanted.requirementsSha256) {
    return { current: false, why: `the requirements changed (sha256 ${stamp.requirementsSha256.slice(0, 12)} -> ${wanted.requirementsSha256.slice(0, 12)})` };
  }
  return { current: true, dir: await realTarget(venvPath), stamp };
}

/** A fresh build directory beside the link; nothing is created. */
export function newVenvBuildDir(venvPath: string, stamp: VenvStamp): string {
  const id = `${stamp.requirementsSha256.slice(0, 12)}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  return path.join(path.dirname(venvPath), `${path.basename(venvPath)}-${id}`);
}

/**
 * Point `venvPath` at `buildDir` with one rename, then remove the previous build, unless
 * `keepPrevious`: a version that drains still runs on it (its workers' sys.path and python name
 * the build), and its caller removes it once the version is gone (removeStaleVenvBuilds). A plain
 * directory there (a venv made by hand or by an older install) is moved aside first.
 */
export async function switchVenv(venvPath: string, buildDir: string, keepPrevious = false): Promise<void> {
  const parent = path.dirname(venvPath);
  const tag = randomBytes(4).toString('hex');
  const link = `${venvPath}.link-${tag}`;
  // Relative, so a state root that is moved or mounted elsewhere keeps working.
  await symlink(path.basename(buildDir), link);
  let previous: string | null = null;
  const st = await lstat(venvPath).catch(() => null);
  if (st?.isSymbolicLink()) {
    previous = path.resolve(parent, await readlink(venvPath));
  } else if (st) {
    previous = `${venvPath}.old-${tag}`;
    await rename(venvPath, previous);
  }
  await rename(link, venvPath);
  if (!keepPrevious && previous && previous !== buildDir && path.dirname(previous) === parent) {
    await removeVenvBuild(previous);
  }
}

/**
 * Left by an install that was killed, or by a version that drained: builds and links that the
 * venv link does not point at, but those in `inUse` (the builds versions still running started on).
 */
export async function removeStaleVenvBuilds(venvPath: string, inUse: ReadonlySet<string> = new Set()): Promise<string[]> {
  const parent = path.dirname(venvPath);
  const base = path.basename(venvPath);
  const live = await realTarget(venvPath).catch(() => null);
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return [];
  }
  const stale = entries
    .filter((e) => e.startsWith(`${base}-`) || e.startsWith(`${base}.link-`) || e.startsWith(`${base}.old-`))
    .map((e) => path.join(parent, e))
    .filter((p) => p !== live && !inUse.has(p));
  for (const p of stale) await removeVenvBuild(p);
  return stale;
}

/**
 * The build directory the venv link leads to, named beside the link as the builds are (not
 * through realpath, which would name it otherwise under a state root reached by a symlink), or the
 * venv itself when it is a directory; rejects when there is none.
 */
export async function venvBuildOf(venvPath: string): Promise<string> {
  return realTarget(venvPath);
}

async function realTarget(venvPath: string): Promise<string> {
  const st = await lstat(venvPath);
  return st.isSymbolicLink() ? path.resolve(path.dirname(venvPath), await readlink(venvPath)) : venvPath;
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}
