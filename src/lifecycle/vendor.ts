// `apppkg-gateway vendor` (issue 19): the app's requirements installed into a directory of the
// app (`paths: [vendor/]`), the third supported way beside `deb:` and `pip:`. The seed proposal
// calls bundling "much more reliable" and its recipe, `pip install --target`, one that "almost
// works"; this is that recipe finished:
//
//   1. pip, run by the app's own interpreter, installs into an empty staging directory (so the
//      same requirements and wheels always give the same tree, and a failure changes nothing),
//      with the versions already vendored kept (a lock, as Bundler's) unless --update frees one;
//   2. a distribution compiled for one interpreter and platform is refused with its deb package,
//      or kept with --allow-binary, its tag recorded for `check`;
//   3. pip's scripts (an absolute `#!`) are replaced by relocatable ones in bin/, a
//      distribution's own scripts made relocatable too (vendor-scripts.ts), its absolute direct_url.json dropped, each RECORD rewritten;
//   4. the manifest is written (vendor-manifest.ts) and the vendor directory made to match the
//      stage, removing what is no longer required (vendor-sync.ts).
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { satisfies } from '@renovatebot/pep440';
import { describeApp } from '../app-context.js';
import type { Interpreter } from '../environment/interpreter-probe.js';
import { formatInterpreter, pickInterpreter } from '../environment/interpreters.js';
import { pathsEntryKind } from '../environment/paths-entries.js';
import { normalizeName, readRequirements, requirementIncludes } from '../environment/requirements.js';
import { GatewayError } from '../errors.js';
import { countOf } from '../count.js';
import { isInside } from './data-tree.js';
import { quiet, seconds, type Say } from './progress.js';
import { runProgram } from './run-command.js';
import { binaryRefusal } from './vendor-binary.js';
import { readDataScripts, readDistributions, rewriteRecord, type DataScript, type InstalledDistribution } from './vendor-dists.js';
import {
  INDEX_ELSEWHERE,
  manifestFiles,
  readManifest,
  sha256Hex,
  writeManifest,
  MANIFEST_NAME,
  type VendoredDistribution,
  type VendorManifest,
} from './vendor-manifest.js';
import { readRequirementsTree } from '../environment/requirements-tree.js';
import { askPip, targetConflicts } from './vendor-pip-config.js';
import { SCRIPTS_DIR, writeScripts } from './vendor-scripts.js';
import { assertVendorDirPath, listFiles, syncTree, type SyncResult } from './vendor-sync.js';
import { hostTags, neededTags } from './vendor-tags.js';
import { readWheelFileTags, reportArgs, withWheelFileTags } from './vendor-wheel-files.js';
import { pipCommandArgs } from './pip-command.js';
import { failedSubprocessOutput } from './pip-hidden-output.js';
import { buildDependenciesFailed, missingBuildDependency, sourceRequirement } from './pip-source-requirement.js';
import { interpreterTag, unloadableWheels } from './pip-wheel-tags.js';
import { withScratchDir } from './scratch-dir.js';
import { lendScratch, takeScratchBack, vendorUser, vendorUserEnv } from './vendor-as-user.js';
import { assertCanExecute } from '../environment/run-as.js';
import { readFileAsUserCould, type FileReader } from '../environment/user-readable.js';
import { readRegularFile } from '../no-follow.js';

export const DEFAULT_REQUIREMENTS = 'requirements.txt';
export const DEFAULT_VENDOR_DIR = 'vendor';

export interface VendorOptions {
  /** The app directory. */
  dir: string;
  /** The requirements file, relative to the app directory; default requirements.txt. */
  from?: string;
  /** The vendor directory, relative to the app directory; default vendor/. */
  into?: string;
  /** Absolute directories (or URLs) of wheels, passed to pip as --find-links. */
  findLinks?: string[];
  /** pip's --index-url: the package index instead of PyPI (a URL, or an absolute directory laid out as one). */
  indexUrl?: string;
  /** pip's --extra-index-url: more indexes, looked in as well. */
  extraIndexUrls?: string[];
  /** pip's --no-index: only --find-links, no package index. */
  noIndex?: boolean;
  /** Keep distributions compiled for this interpreter and platform, recording their tags. */
  allowBinary?: boolean;
  /** Distributions whose vendored version is not kept (re-resolved to the newest allowed). */
  update?: string[];
  /** The environment file (its `python:` picks the interpreter, as for every app command). */
  environmentFile?: string;
  say?: Say;
  /** Where pip's output goes; default: ours. */
  output?: Writable;
}

export interface VendorResult {
  vendorDir: string;
  manifest: VendorManifest;
  sync: SyncResult;
  /** No manifest was there before: the first vendoring of this directory. */
  first: boolean;
  interpreter: Interpreter;
  /** Whether app.yaml's `paths:` names the vendor directory (else the app does not see it); null: no app.yaml. */
  onAppPath: boolean | null;
  /** app.yaml's `pip:`, which would still build a virtualenv beside the vendor directory. */
  pip: string | null;
}

/** pip's log is read for a hint only: one larger than this (a build's endless output) is not. */
const PIP_LOG_MAX_BYTES = 64 << 20;

// Variables of the caller's shell that would point pip at another Python's packages.
const UNSAFE_ENV = ['PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'VIRTUAL_ENV', 'PYTHONUSERBASE', '__PYVENV_LAUNCHER__'];

/** "vendor/" for messages: relative to the app directory, "/"-separated, with a trailing slash. */
export function displayDir(appDir: string, dir: string): string {
  return `${path.relative(appDir, dir).split(path.sep).join('/') || '.'}/`;
}

/** The command that refreshes `vendorDir`, for fixes and advice. */
export function vendorCommand(appDir: string, requirements: string, vendorDir: string, extra = ''): string {
  const from = path.relative(appDir, requirements).split(path.sep).join('/');
  return `apppkg-gateway vendor ${appDir} --from ${from} --into ${displayDir(appDir, vendorDir)}${extra}`;
}

export async function vendorApp(opts: VendorOptions): Promise<VendorResult> {
  const say = opts.say ?? quiet;
  const appDir = path.resolve(opts.dir);
  // Said as such: "no requirements.txt in it" would send the user to write one there.
  const found = statSync(appDir, { throwIfNoEntry: false });
  if (!found?.isDirectory()) {
    // A file (`vendor app/requirements.txt`) is said as the file it is, as check and describe say it, not as nothing there.
    const holder = path.dirname(appDir);
    throw new GatewayError('APPPKG_DESC_NOT_FOUND', found === undefined ? { dir: appDir, missing: true } : { dir: appDir, notDirectory: true, ...(existsSync(path.join(holder, 'app.yaml')) ? { holder } : {}) });
  }
  const requirements = path.resolve(appDir, opts.from ?? DEFAULT_REQUIREMENTS);
  const vendorDir = path.resolve(appDir, opts.into ?? DEFAULT_VENDOR_DIR);
  const rel = path.relative(appDir, vendorDir);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new GatewayError('APPPKG_VENDOR_INTO_OUTSIDE', { into: opts.into ?? DEFAULT_VENDOR_DIR, dir: appDir, found: vendorDir });
  }
  // A file there (an archive that paths: names) was read as an earlier vendoring: an internal ENOTDIR.
  const intoKind = pathsEntryKind(appDir, rel);
  if (intoKind === 'archive' || intoKind === 'file') {
    throw new GatewayError('APPPKG_VENDOR_INTO_FILE', { into: opts.into ?? DEFAULT_VENDOR_DIR, found: vendorDir, archive: intoKind === 'archive' });
  }
  // Before pip, not after it: a link there was refused only once pip had run for minutes.
  await assertVendorDirPath(appDir, rel);
  if (!isInside(requirements, appDir)) {
    throw new GatewayError('APPPKG_VENDOR_FROM_OUTSIDE', { from: opts.from ?? DEFAULT_REQUIREMENTS, dir: appDir, found: requirements });
  }
  const desc = existsSync(path.join(appDir, 'app.yaml')) ? await describeApp({ dir: appDir, mode: 'development', environmentFile: opts.environmentFile }) : null;
  // As root for an app of another user, pip runs as that user, and what it is given is read only as that user could.
  const user = vendorUser(desc?.desc ?? { dir: appDir, name: path.basename(appDir) }, desc?.overrides.user ?? null, desc?.overrides.userAt);
  await refuseIncludesOutside(appDir, requirements, user);
  const into = displayDir(appDir, vendorDir);
  const requirementsTree = await readRequirementsTree(appDir, requirements, user).catch((err: NodeJS.ErrnoException) => {
    const reason = err.code === 'ENOENT' ? 'no such file' : err.message;
    throw new GatewayError('APPPKG_VENDOR_REQUIREMENTS_UNREADABLE', { file: requirements, reason, cause: err });
  });

  const interpreter = await pickInterpreter(desc?.desc ?? { python: null, deb: [] }, { override: desc?.overrides.python ?? undefined });
  // Said as what it is: pyenv's under /root, run as the app's user, was "has no pip (EACCES)".
  if (user) assertCanExecute(interpreter.executable, user);
  const previous = await previousManifest(vendorDir, user);
  const pins = await keptVersions(previous, requirements, opts.update ?? [], user);

  say(`==> vendoring ${path.relative(appDir, requirements)} into ${into} with ${formatInterpreter(interpreter)}`);
  const env: Record<string, string | undefined> = {
    ...process.env,
    PIP_NO_INPUT: '1',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_ROOT_USER_ACTION: 'ignore',
    // pip's configuration is the user's (their index, their mirror), but for `user`: PIP_USER=1
    // or `user = true` in pip.conf names the user site as the destination, which pip refuses
    // beside --target ("Can not combine '--user' and '--target'"), and vendor's destination is
    // the point. A variable overrides pip.conf, so this undoes both.
    PIP_USER: '0',
    // `dry-run` installs nothing, and the empty stage would empty the vendor directory.
    PIP_DRY_RUN: '0',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  for (const key of UNSAFE_ENV) delete env[key];

  return withScratchDir('apppkg-vendor-', async (work) => {
    // What pip writes in: lent to the app's user when it runs as that user (vendor-as-user.ts).
    const lent = path.join(work, 'pip');
    const stage = path.join(lent, 'stage');
    // Made here: requirements that install nothing leave pip no reason to create it.
    await mkdir(stage, { recursive: true });
    const report = path.join(lent, 'pip-report.json');
    // pip's log, beside its console output: a wheel it skipped for its tags is said only there.
    const pipLog = path.join(lent, 'pip.log');
    const pipEnv = user ? vendorUserEnv(env, user, lent) : env;
    // --no-warn-conflicts: pip checks what it installed against the packages of the interpreter's
    // own environment, not the target's (pypa/pip#7821), and said on a vendor that succeeded
    // "ERROR: ... X requires Y<1.0, but you have Y 1.0", of an environment it did not change;
    // reading every distribution's metadata for it was half of pip's CPU beside Debian's
    // python3. (pip 10 added the option; no pip older runs on Python 3.9.)
    const pipArgs = ['install', '--target', stage, '--no-compile', '--no-warn-conflicts', '--log', pipLog, ...(opts.noIndex ? ['--no-index'] : [])];
    if (opts.indexUrl !== undefined) pipArgs.push('--index-url', opts.indexUrl);
    for (const index of opts.extraIndexUrls ?? []) pipArgs.push('--extra-index-url', index);
    for (const link of opts.findLinks ?? []) pipArgs.push('--find-links', link);
    pipArgs.push('-r', requirements);
    if (pins.length > 0) {
      const constraints = path.join(work, 'vendored-versions.txt');
      await writeFile(constraints, `${pins.join('\n')}\n`, { mode: 0o644 });
      pipArgs.push('-c', constraints);
      say(`==> keeping the vendored versions of ${pins.length === 1 ? pins[0] : countOf(pins.length, 'distribution')}${opts.update?.length ? ` (updating ${opts.update.join(', ')})` : ''}`);
    }
    let started = performance.now();
    const index = opts.indexUrl !== undefined ? ` --index-url ${isUrl(opts.indexUrl) ? withoutCredentials(opts.indexUrl) : opts.indexUrl}` : '';
    if (user) await lendScratch(work, lent, user);
    let status: number;
    // What root reads of the lent directory after pip, and why not, for each it must not (vendor-as-user.ts).
    let unsafeToRead = new Map<string, string>();
    try {
      const pip = await askPip(interpreter.executable, pipEnv, user ? { uid: user.uid, gid: user.gid, cwd: lent } : undefined);
      if ('missing' in pip) throw new GatewayError('APPPKG_VENDOR_NO_PIP', { python: interpreter.executable, reason: pip.missing });
      // `prefix` and `root` cannot be undone so: refused, each where it is set.
      const conflicts = targetConflicts(pipEnv, pip.configDebug);
      if (conflicts.length > 0) throw new GatewayError('APPPKG_VENDOR_PIP_DESTINATION', { into, settings: conflicts });
      pipArgs.push(...reportArgs(pip.version, report));
      say(`==> pip install --target (a staging directory)${index}${opts.noIndex ? ' --no-index' : ''} -r ${path.relative(appDir, requirements)}${user ? ` as ${user.user}` : ''}`);
      status = await runProgram({ file: interpreter.executable, args: pipCommandArgs(pipArgs), cwd: path.dirname(requirements), env: pipEnv, output: opts.output, uid: user?.uid, gid: user?.gid });
    } finally {
      if (user) unsafeToRead = await takeScratchBack(work, lent, stage, user, [pipLog, report]);
    }
    if (status !== 0) {
      const logUnsafe = unsafeToRead.get(pipLog);
      const log = logUnsafe === undefined ? await readRegularFile(pipLog, PIP_LOG_MAX_BYTES).catch(() => '') : '';
      const unloadable = unloadableWheels(log);
      // A requirement pip has to build fails on its build backend, which offline pip cannot fetch
      // and an index (a mirror of some packages) may lack: with one, the log tells which.
      const source = (opts.noIndex || buildDependenciesFailed(log)) && unloadable.length === 0 ? sourceRequirement(await readFileAsUserCould(requirements, user).then((b) => b.toString('utf8'), () => '')) : null;
      if (source !== null) {
        // Its reason is in the log alone (pip's console says "See above for output").
        const hidden = failedSubprocessOutput(log);
        if (hidden.length > 0) (opts.output ?? process.stderr).write(`==> what pip's console left out ("See above for output"), from its log:\n${hidden.map((l) => `  ${l}\n`).join('')}`);
      }
      throw new GatewayError('APPPKG_VENDOR_PIP_FAILED', {
        status,
        into,
        pinned: pins.join(', '),
        ...(logUnsafe !== undefined ? { logUnread: logUnsafe, user: user!.user } : {}),
        ...(source !== null ? { source, backend: missingBuildDependency(log), requirements: path.relative(appDir, requirements), executable: interpreter.executable, offline: opts.noIndex === true } : {}),
        ...(unloadable.length > 0 ? { unloadable: unloadable.map((w) => `${w.file} (${w.tags})`), python: formatInterpreter(interpreter), executable: interpreter.executable, pythonTag: interpreterTag(interpreter) } : {}),
        // The requirement pip named ("No matching distribution found for X"), for the fix to name.
        ...(source === null && unloadable.length === 0 && missingBuildDependency(log) !== null ? { notFound: missingBuildDependency(log) } : {}),
      });
    }
    say(`==> installed in ${seconds(started)}`);

    started = performance.now();
    const reportUnsafe = unsafeToRead.get(report);
    if (reportUnsafe !== undefined) say(`==> pip's report (${path.basename(report)}) not read: ${reportUnsafe}, left by a process of ${user!.user}'s; each distribution's WHEEL file tells its tags instead`);
    const installed = withWheelFileTags(await readDistributions(stage), reportUnsafe === undefined ? await readWheelFileTags(report) : new Map());
    const binary = installed.filter((d) => d.binary);
    const host = await hostTags(interpreter.executable).catch(() => null);
    if (binary.length > 0 && !opts.allowBinary) throw await binaryRefusal(binary, installed, path.relative(appDir, requirements), host?.tag ?? '');
    const manifest = await finishTree(stage, installed, {
      requirements: { file: path.relative(appDir, requirements).split(path.sep).join('/'), sha256: requirementsTree.sha256, files: requirementsTree.files },
      interpreter: { python: host?.interpreter ?? '', tag: host?.tag ?? '', ...(interpreter.markers.python_full_version ? { version: interpreter.markers.python_full_version } : {}) },
      ...vendorSources(appDir, opts),
    });
    for (const d of manifest.distributions) {
      const scripts = d.scripts.length > 0 ? `; ${d.scripts.join(', ')}` : '';
      const builtFor = neededTags(d.tags, manifest.interpreter.tag).filter((t) => !d.tags.includes(t));
      say(`    ${d.name} ${d.version}${d.binary ? ` (binary: ${d.tags.join(', ')}${builtFor.length > 0 ? `, built for ${builtFor.join(', ')}` : ''}, kept by --allow-binary)` : ''}${scripts}`);
    }
    await writeManifest(stage, manifest);
    const sync = await syncTree(stage, appDir, rel, new Set(previous ? manifestFiles(previous).keys() : []), user ?? undefined);
    const changes = [`${sync.added.length} added`, `${sync.changed.length} changed`, `${sync.removed.length} removed`].join(', ');
    say(`==> ${into}: ${countOf(manifest.distributions.length, 'distribution')}, files ${changes} in ${seconds(started)}`);
    for (const file of sync.foreign) say(`    ${into}${file}: not written by vendor, left as it is`);
    const paths = desc?.desc.paths.map((p) => path.resolve(appDir, p));
    return { vendorDir, manifest, sync, first: previous === null, interpreter, onAppPath: paths ? paths.includes(vendorDir) : null, pip: desc?.desc.pip ?? null };
  });
}

/**
 * Every file the requirements include, at any depth, must be inside the app, as `--from` must:
 * the manifest hashes each by its path relative to the app, and `check` reads them again
 * wherever the app is copied, where `../shared.txt` is another file or none. A URL is refused
 * too: what it serves can change under the manifest's hash, and an offline host cannot read it. Each include that
 * leaves is reported at its line, all at once. An unreadable file is left to the digest and pip.
 */
async function refuseIncludesOutside(appDir: string, requirements: string, reader: FileReader | null): Promise<void> {
  const problems: GatewayError[] = [];
  const seen = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFileAsUserCould(file, reader).then((b) => b.toString('utf8'), () => null);
    if (text === null) return;
    for (const include of requirementIncludes(file, text)) {
      if (include.url) {
        problems.push(new GatewayError('APPPKG_VENDOR_INCLUDE_URL', {
          file, line: include.line, column: include.column,
          include: include.text, url: include.target, name: urlFileName(include.target), option: include.constraint ? '-c' : '-r',
        }));
        continue;
      }
      if (isInside(include.target, appDir)) {
        await visit(include.target);
        continue;
      }
      problems.push(new GatewayError('APPPKG_VENDOR_INCLUDE_OUTSIDE', {
        file, line: include.line, column: include.column,
        include: include.text, dir: appDir, found: include.target,
        name: path.basename(include.target), option: include.constraint ? '-c' : '-r',
      }));
    }
  };
  await visit(requirements);
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new GatewayError(problems[0].code, { ...problems[0].details, problems });
}

/** The name a downloaded include would have: the URL's last path segment. */
function urlFileName(url: string): string {
  const last = url.replace(/[?#].*$/, '').split('/').filter(Boolean).pop() ?? '';
  return /\.(txt|in)$/.test(last) ? last : 'requirements-included.txt';
}

/** The manifest already in `vendorDir`; refuses a directory with files but no manifest. */
async function previousManifest(vendorDir: string, reader: FileReader | null): Promise<VendorManifest | null> {
  const read = await readManifest(vendorDir, reader);
  if (read.manifest) return read.manifest;
  // Python's caches and dotfiles (a .gitignore) are nobody's: they do not make the dir someone else's.
  const files = (await listFiles(vendorDir, (name) => name === '__pycache__')).filter((f) => !f.startsWith('.'));
  if (files.length === 0) return null;
  throw new GatewayError('APPPKG_VENDOR_NOT_OURS', {
    path: vendorDir,
    found: countOf(files.length, 'file'),
    reason: read.reason === 'absent' ? '' : read.reason,
  });
}

/**
 * NAME==VERSION of each distribution vendored before, for pip's -c: a second `vendor` changes
 * no version the requirements still allow. Not kept: the ones `update` frees, and the ones the
 * requirements file now asks another version of (its own specifier wins).
 */
async function keptVersions(previous: VendorManifest | null, requirements: string, update: string[], reader: FileReader | null): Promise<string[]> {
  const vendored = new Map((previous?.distributions ?? []).map((d) => [normalizeName(d.name), d]));
  for (const name of update) {
    if (!vendored.has(normalizeName(name))) {
      const found = [...vendored.values()].map((d) => d.name).join(', ') || 'no vendored distribution (nothing vendored yet)';
      throw new GatewayError('APPPKG_VENDOR_UNKNOWN_UPDATE', { name, found });
    }
  }
  const freed = new Set(update.map(normalizeName));
  const asked = new Map<string, string[]>();
  for (const req of (await readRequirements(requirements, reader)).requirements) {
    const key = normalizeName(req.name);
    asked.set(key, [...(asked.get(key) ?? []), req.specifier]);
  }
  return [...vendored.entries()]
    .filter(([key, d]) => !freed.has(key) && (asked.get(key) ?? []).every((spec) => spec === '' || allows(d.version, spec)))
    .map(([, d]) => `${d.name}==${d.version}`)
    .sort();
}

function allows(version: string, specifier: string): boolean {
  try {
    return satisfies(version, specifier, { prereleases: true });
  } catch {
    return false;
  }
}

/** A --find-links that is a URL (pip takes those as they are), not a directory. */
export function isUrl(link: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(link);
}

/** A URL without its user and password (a secret, not the app's), as the manifest keeps it. */
function withoutCredentials(link: string): string {
  const url = new URL(link);
  url.username = '';
  url.password = '';
  return url.href;
}

/**
 * The directory a --find-links or --index-url names, as a path: a `file:` URL names one on this
 * host as a path does, so that neither puts the host's path into the manifest; null for a URL
 * pip fetches (http, https, a file: URL of another host).
 */
function localDirectory(link: string): string | null {
  if (!isUrl(link)) return path.resolve(link);
  if (!/^file:/i.test(link)) return null;
  try {
    return fileURLToPath(link);
  } catch {
    return null;
  }
}

/** An index as the manifest keeps it: a URL, a directory inside the app (relative), else DIR (a host's path). */
function recordedIndex(appDir: string, index: string): string {
  const dir = localDirectory(index);
  if (dir === null) return withoutCredentials(index);
  return isInside(dir, appDir) ? path.relative(appDir, dir).split(path.sep).join('/') || '.' : INDEX_ELSEWHERE;
}

/** What the manifest keeps of pip's index options; nothing when pip used its default index alone. */
function vendorSources(appDir: string, opts: Pick<VendorOptions, 'noIndex' | 'findLinks' | 'indexUrl' | 'extraIndexUrls'>): Pick<VendorManifest, 'sources'> {
  const links = opts.findLinks ?? [];
  const extra = opts.extraIndexUrls ?? [];
  if (!opts.noIndex && links.length === 0 && opts.indexUrl === undefined && extra.length === 0) return {};
  const findLinks: string[] = [];
  let findLinksElsewhere = 0;
  for (const link of links) {
    const dir = localDirectory(link);
    if (dir === null) {
      findLinks.push(withoutCredentials(link));
      continue;
    }
    if (isInside(dir, appDir)) findLinks.push(path.relative(appDir, dir).split(path.sep).join('/') || '.');
    else findLinksElsewhere++;
  }
  return {
    sources: {
      noIndex: opts.noIndex === true,
      findLinks,
      findLinksElsewhere,
      // Written only when given, so that a manifest made without them keeps its bytes.
      ...(opts.indexUrl !== undefined ? { indexUrl: recordedIndex(appDir, opts.indexUrl) } : {}),
      ...(extra.length > 0 ? { extraIndexUrls: extra.map((index) => recordedIndex(appDir, index)) } : {}),
    },
  };
}

/**
 * Make the staged tree the one to commit: pip's bin/ and direct_url.json out, our scripts in,
 * no __pycache__, each RECORD rewritten; then the manifest of what is there.
 */
async function finishTree(
  stage: string,
  installed: InstalledDistribution[],
  facts: Pick<VendorManifest, 'requirements' | 'interpreter' | 'sources'>,
): Promise<VendorManifest> {
  // A distribution's own scripts are read before pip's bin/ goes, to be written again relocatable.
  const ownScripts = new Map<InstalledDistribution, DataScript[]>();
  for (const d of installed) ownScripts.set(d, await readDataScripts(stage, d));
  await rm(path.join(stage, SCRIPTS_DIR), { recursive: true, force: true });
  for (const d of installed) await rm(path.join(stage, d.distInfo, 'direct_url.json'), { force: true });
  await removeAll(stage, '__pycache__');
  const distributions: VendoredDistribution[] = [];
  const owned = new Set<string>();
  for (const d of installed) {
    const scripts = await writeScripts(stage, d, ownScripts.get(d));
    const record = await rewriteRecord(stage, d, scripts);
    const files: Record<string, string> = {};
    for (const file of record) {
      files[file] = sha256Hex(await readFile(path.join(stage, file)));
      owned.add(file);
    }
    distributions.push({ name: d.name, version: d.version, tags: d.tags, binary: d.binary, requested: d.requested, scripts, files });
  }
  const otherFiles: Record<string, string> = {};
  for (const file of await listFiles(stage)) {
    if (!owned.has(file) && file !== MANIFEST_NAME) otherFiles[file] = sha256Hex(await readFile(path.join(stage, file)));
  }
  return { format: 1, ...facts, distributions, otherFiles };
}

async function removeAll(dir: string, name: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    if (e.name === name) await rm(path.join(dir, e.name), { recursive: true, force: true });
    else await removeAll(path.join(dir, e.name), name);
  }
}

