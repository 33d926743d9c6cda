// The `vendor` line of `apppkg-gateway check` (issue 19): for each directory of `paths:` that
// `vendor` filled (it holds .apppkg-vendor.json), is it current with the requirements it came
// from, are its files the ones vendor wrote, and does this host's interpreter load the compiled
// distributions it was allowed to keep (--allow-binary)? A `paths:` directory that is missing
// in an app with a requirements file was never vendored (or never committed). Apps without
// either get no line at all. Each failure carries the command that refreshes the directory.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Description } from '../description/types.js';
import type { YamlPath } from '../description/yaml-file.js';
import type { Interpreter } from '../environment/interpreter-probe.js';
import { formatInterpreter, pickInterpreter } from '../environment/interpreters.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { countOf } from '../count.js';
import { debianPackagesFor } from '../environment/debian-python-name.js';
import { manifestFiles, readManifest, INDEX_ELSEWHERE, sha256Hex, type VendoredDistribution, type VendorManifest } from './vendor-manifest.js';
import { readRequirementsTree, requirementChanges } from '../environment/requirements-tree.js';
import { readFileAsUserCould, UserCannotRead, type FileReader } from '../environment/user-readable.js';
import { hostTags, neededTags, type HostTags } from './vendor-tags.js';
import { neededBy } from './vendor-binary.js';
import { requiresOf } from './vendor-dists.js';
import { choosesByMicroVersion, choosingRequirements, differingTraits, type ChoosingRequirement, type HostTrait } from './vendor-markers.js';
import { DEFAULT_REQUIREMENTS, displayDir, isUrl, vendorCommand } from './vendor.js';

/** One line of check, shaped as lifecycle/check.ts's CheckItem. */
export interface VendorCheckItem {
  name: 'vendor';
  ok: boolean;
  detail: string;
  fix: string;
  code?: ErrorCode;
  /** The `paths:` entry of the directory a failure is about (`['paths', 1]`), for its place in app.yaml. */
  at?: YamlPath;
}

export interface VendorCheckOptions {
  /** The environment file's `python:` for this app. */
  pythonOverride?: string;
  /**
   * The environment file that gave it: the refresh command names it, so that vendor runs pip with
   * the interpreter the app runs on, not the `python3` on PATH.
   */
  environmentFile?: string;
  /**
   * As a root check reads the requirements (check.ts requirementsReader): the app's user, whose
   * rights its manifest, the requirements it names and the vendored files are read with, so that
   * a manifest naming /etc/shadow learns nothing of it. null: read as we are.
   */
  reader?: FileReader | null;
}

/** The vendor line, or null when the app has no vendored directory and nothing to vendor. */
export async function checkVendor(desc: Pick<Description, 'dir' | 'paths' | 'python' | 'deb'>, opts: VendorCheckOptions = {}): Promise<VendorCheckItem | null> {
  const found: Array<{ dir: string; manifest: VendorManifest; entry: number }> = [];
  const env = environmentOption(opts);
  const reader = opts.reader ?? null;
  for (const [entry, p] of desc.paths.entries()) {
    const dir = path.resolve(desc.dir, p);
    const read = await readManifest(dir, reader);
    if (read.manifest) found.push({ dir, manifest: read.manifest, entry });
    else if (read.reason !== 'absent') return failure(new GatewayError('APPPKG_VENDOR_STALE', { into: displayDir(desc.dir, dir), reason: read.reason, command: vendorCommand(desc.dir, path.join(desc.dir, DEFAULT_REQUIREMENTS), dir, env) }), entry);
  }
  if (found.length === 0) return neverVendored(desc, env);

  const interpreter = await pickInterpreter(desc, { override: opts.pythonOverride }).catch(() => null);
  const judge = interpreterJudge(interpreter);
  const lines: string[] = [];
  for (const { dir, manifest, entry } of found) {
    const problem =
      (await staleness(desc.dir, dir, manifest, env, reader)) ?? (await modified(desc.dir, dir, manifest, env, reader)) ?? (await hostMismatch(desc.dir, dir, manifest, judge, { unaskable: 'report', env, reader }));
    if (problem) return failure(problem, entry);
    lines.push(`${summary(desc.dir, dir, manifest)}${await otherHostWarning(desc.dir, dir, manifest, interpreter, env, reader)}`);
  }
  return { name: 'vendor', ok: true, detail: lines.join('; '), fix: '' };
}

/** A vendor directory of `paths:` holding compiled distributions, as a judge found it. */
export interface CompiledVendorDir {
  dir: string;
  /** Its compiled distributions, as its manifest records them. */
  binary: VendoredDistribution[];
  /** APPPKG_VENDOR_HOST_MISMATCH when the judged interpreter cannot load one; else null. */
  mismatch: GatewayError | null;
  /** false: there was no interpreter to ask (the judge was null), so nothing was judged. */
  judged: boolean;
  /** The command that vendors it again (check's fix). */
  refresh: string;
}

/**
 * Each vendor directory of `paths:` holding a compiled distribution, judged for the interpreter
 * `judge` gives. `judge` is asked only once a directory holds a compiled one (finding the
 * interpreter to ask may take a probe).
 */
export async function compiledVendorDirs(
  desc: Pick<Description, 'dir' | 'paths'>, judge: () => Promise<TagJudge | null>, opts?: { unaskable: 'report' | 'ignore'; env?: string; reader?: FileReader | null },
): Promise<CompiledVendorDir[]> {
  const found: CompiledVendorDir[] = [];
  let asked: TagJudge | null | undefined;
  for (const p of desc.paths) {
    const dir = path.resolve(desc.dir, p);
    const { manifest } = await readManifest(dir, opts?.reader ?? null);
    if (manifest === null || !manifest.distributions.some((d) => d.binary)) continue;
    if (asked === undefined) asked = await judge();
    found.push({
      dir,
      binary: manifest.distributions.filter((d) => d.binary),
      mismatch: await hostMismatch(desc.dir, dir, manifest, asked, opts),
      judged: asked !== null,
      refresh: refreshCommand(desc.dir, dir, manifest, opts?.env),
    });
  }
  return found;
}

/**
 * Why an app's import may have failed: a compiled distribution of its vendor directory that
 * `interpreter` cannot load (Python then finds no module of that name at all). The same facts
 * and fix as check's vendor line; null when every vendored directory loads here, or when the
 * interpreter cannot be asked (that says nothing about the import).
 */
export async function vendorHostMismatch(desc: Pick<Description, 'dir' | 'paths'>, interpreter: Interpreter, opts: VendorCheckOptions = {}): Promise<GatewayError | null> {
  const dirs = await compiledVendorDirs(desc, async () => interpreterJudge(interpreter), { unaskable: 'ignore', env: environmentOption(opts) });
  return dirs.find((d) => d.mismatch !== null)?.mismatch ?? null;
}

/** ` --environment FILE` when that file picks the app's interpreter, else ''. */
function environmentOption(opts: VendorCheckOptions): string {
  return opts.pythonOverride !== undefined && opts.environmentFile !== undefined ? ` --environment ${opts.environmentFile}` : '';
}

/** `entry`: the index in `paths:` of the directory it is about. */
function failure(err: GatewayError, entry: number): VendorCheckItem {
  return { name: 'vendor', ok: false, detail: err.message, fix: err.hint, code: err.code, at: ['paths', entry] };
}

/** `env`: ` --environment FILE` when the environment file picks the app's interpreter, else ''. */
function refreshCommand(appDir: string, dir: string, manifest: VendorManifest, env = ''): string {
  const binary = manifest.distributions.some((d) => d.binary) ? ' --allow-binary' : '';
  return vendorCommand(appDir, path.resolve(appDir, manifest.requirements.file), dir, `${sourceOptions(appDir, manifest)}${env}${binary}`);
}

/**
 * Where pip looked when it was vendored, so that the command also works offline: a directory
 * outside the app was not recorded (a host's path), and stands as DIR.
 */
function sourceOptions(appDir: string, manifest: VendorManifest): string {
  const sources = manifest.sources;
  if (!sources) return '';
  const where = (link: string) => (isUrl(link) || link === INDEX_ELSEWHERE ? link : path.join(appDir, link));
  const links = sources.findLinks.map(where);
  if (sources.findLinksElsewhere > 0) links.push('DIR');
  const index = sources.indexUrl !== undefined ? ` --index-url ${where(sources.indexUrl)}` : '';
  const extra = (sources.extraIndexUrls ?? []).map((url) => ` --extra-index-url ${where(url)}`).join('');
  return `${index}${extra}${sources.noIndex ? ' --no-index' : ''}${links.map((link) => ` --find-links ${link}`).join('')}`;
}

/** An app with a requirements file whose `paths:` directory is missing was meant to be vendored. */
function neverVendored(desc: Pick<Description, 'dir' | 'paths'>, env: string): VendorCheckItem | null {
  const requirements = path.join(desc.dir, DEFAULT_REQUIREMENTS);
  if (!existsSync(requirements)) return null;
  const entry = desc.paths.findIndex((p) => !existsSync(path.resolve(desc.dir, p)));
  if (entry === -1) return null;
  const missing = path.resolve(desc.dir, desc.paths[entry]);
  return failure(new GatewayError('APPPKG_VENDOR_MISSING', { into: displayDir(desc.dir, missing), reason: 'does not exist', command: vendorCommand(desc.dir, requirements, missing, env) }), entry);
}

async function staleness(appDir: string, dir: string, manifest: VendorManifest, env: string, reader: FileReader | null): Promise<GatewayError | null> {
  const file = path.resolve(appDir, manifest.requirements.file);
  let reason: string | null = null;
  try {
    const tree = await readRequirementsTree(appDir, file, reader);
    if (tree.sha256 !== manifest.requirements.sha256) reason = `${requirementChanges(manifest.requirements.file, manifest.requirements.files, tree)} since it was vendored`;
  } catch (err) {
    // Whether its digest matches would tell of a file the app's user may not read: not compared.
    if (err instanceof UserCannotRead) return new GatewayError('APPPKG_PIP_FILE_UNREADABLE', { requirements: err.file, reason: err.message, user: err.reader.user, cause: err });
    reason = `${manifest.requirements.file}, which it was vendored from, is gone`;
  }
  return reason === null ? null : new GatewayError('APPPKG_VENDOR_STALE', { into: displayDir(appDir, dir), reason, command: refreshCommand(appDir, dir, manifest, env) });
}

async function modified(appDir: string, dir: string, manifest: VendorManifest, env: string, reader: FileReader | null): Promise<GatewayError | null> {
  const wrong: string[] = [];
  for (const [file, sha] of manifestFiles(manifest)) {
    let data: Buffer;
    try {
      data = await readFileAsUserCould(path.join(dir, file), reader);
    } catch (err) {
      wrong.push(`${file} (${err instanceof UserCannotRead ? 'the app\'s user cannot read it' : 'missing'})`);
      continue;
    }
    if (sha256Hex(data) !== sha) wrong.push(`${file} (changed)`);
  }
  if (wrong.length === 0) return null;
  const shown = wrong.length > 5 ? `${wrong.slice(0, 5).join(', ')} and ${wrong.length - 5} more` : wrong.join(', ');
  return new GatewayError('APPPKG_VENDOR_MODIFIED', { into: displayDir(appDir, dir), found: `${countOf(wrong.length, 'file')}: ${shown}`, command: refreshCommand(appDir, dir, manifest, env) });
}

/** The interpreter a vendor directory is judged for: how it is named, and which tags it loads. */
export interface TagJudge {
  python: string;
  tags(tags: string[]): Promise<HostTags>;
}

/** The judge for an interpreter of this host. */
function interpreterJudge(interpreter: Interpreter | null): TagJudge | null {
  return interpreter === null ? null : { python: formatInterpreter(interpreter), tags: (tags: string[]) => hostTags(interpreter.executable, tags) };
}

/**
 * APPPKG_VENDOR_HOST_MISMATCH when `judge`'s interpreter cannot load a compiled distribution
 * of the vendor directory `dir`; null when it loads them all (or there are none). `unaskable`:
 * what an interpreter that cannot be asked for its tags is, a mismatch to report or nothing known.
 */
async function hostMismatch(
  appDir: string, dir: string, manifest: VendorManifest, judge: TagJudge | null, opts: { unaskable: 'report' | 'ignore'; env?: string; reader?: FileReader | null } = { unaskable: 'report' },
): Promise<GatewayError | null> {
  const binary = manifest.distributions.filter((d) => d.binary);
  if (binary.length === 0 || judge === null) return null;
  const needs = (d: VendoredDistribution) => neededTags(d.tags, manifest.interpreter.tag);
  const tags = [...new Set(binary.flatMap(needs))];
  let host;
  try {
    host = await judge.tags(tags);
  } catch (err) {
    if (opts.unaskable === 'ignore') return null;
    return new GatewayError('APPPKG_VENDOR_HOST_MISMATCH', {
      into: displayDir(appDir, dir),
      tags: tags.join(', '),
      python: judge.python,
      hostTag: 'unknown',
      found: `(cannot ask it which tags it loads: ${isGatewayError(err) ? err.message : (err as Error).message})`,
      names: binary.map((d) => d.name).join(', '),
      debs: (await debianPackagesFor(binary.map((d) => d.name))).join(', '),
      command: refreshCommand(appDir, dir, manifest, opts.env),
    });
  }
  const unloadable = binary.filter((d) => !needs(d).some((t) => host.supported[t]));
  if (unloadable.length === 0) return null;
  // One the requirements do not name comes back at the next vendor: what needs it is what to replace.
  const vendored = unloadable.some((d) => !d.requested) ? await withRequires(dir, manifest, opts.reader ?? null) : null;
  const pulled = unloadable.map((d) => (d.requested || vendored === null ? null : neededBy(d, vendored)));
  const replace = [...new Set(unloadable.flatMap((d, i) => (pulled[i] ? pulled[i]!.map((r) => r.name) : [d.name])))];
  const pulledNotes = unloadable.flatMap((d, i) => (pulled[i] ? [`${d.name} (for ${pulled[i]!.map((r) => r.name).join(', ')})`] : []));
  return new GatewayError('APPPKG_VENDOR_HOST_MISMATCH', {
    into: displayDir(appDir, dir),
    tags: [...new Set(unloadable.flatMap(needs))].join(', '),
    python: judge.python,
    hostTag: host.tag,
    found: unloadable.map((d) => `${d.name} ${d.version}`).join(', '),
    names: replace.join(', '),
    ...(pulledNotes.length > 0 ? { pulled: pulledNotes.join(', '), requirements: manifest.requirements.file } : {}),
    debs: (await debianPackagesFor(replace)).join(', '),
    command: refreshCommand(appDir, dir, manifest, opts.env),
  });
}

/**
 * The manifest's distributions with what each needs, read from its METADATA in `dir` (as `reader`
 * could); null when one cannot be read (an edit since: the fix then names the distributions alone).
 */
async function withRequires(dir: string, manifest: VendorManifest, reader: FileReader | null): Promise<Array<VendoredDistribution & { requires: string[] }> | null> {
  try {
    return await Promise.all(
      manifest.distributions.map(async (d) => {
        const metadata = Object.keys(d.files).find((f) => /^[^/]+\.dist-info\/METADATA$/.test(f));
        if (metadata === undefined) return { ...d, requires: [] };
        return { ...d, requires: requiresOf((await readFileAsUserCould(path.join(dir, metadata), reader)).toString('utf8')) };
      }),
    );
  } catch {
    return null;
  }
}

/**
 * `; WARNING: ...` when `interpreter`, the one the app runs on here, differs from the one that
 * vendored `dir` (its Python version or implementation, its operating system or machine, as
 * their tags say) in what a requirement's marker reads (vendor-markers.ts); '' otherwise, or
 * when that cannot be told.
 */
async function otherHostWarning(appDir: string, dir: string, manifest: VendorManifest, interpreter: Interpreter | null, env: string, reader: FileReader | null): Promise<string> {
  if (interpreter === null || manifest.interpreter.python === '') return '';
  const choosing = await choosingRequirements(appDir, dir, manifest, reader);
  if (choosing.length === 0) return '';
  const here = await hostTags(interpreter.executable).catch(() => null);
  if (here === null) return '';
  const differ = differingTraits(manifest.interpreter.tag || manifest.interpreter.python, here.tag || here.interpreter);
  const chosen = choosing.filter((c) => [...c.reads].some((t) => differ.has(t)));
  // The same series on both sides (cp311): a marker on the micro version, which the tag does
  // not record; the manifest does since 2026-12-07 (interpreter.version).
  const vendoredVersion = manifest.interpreter.version;
  const byMicro = differ.has('Python version') ? [] : choosing.filter((c) => !chosen.includes(c) && choosesByMicroVersion(c, interpreter.markers, vendoredVersion));
  if (chosen.length === 0 && byMicro.length === 0) return '';
  const refresh = refreshCommand(appDir, dir, manifest, env);
  const micro = byMicro.length === 0 ? '' : microVersionNote(byMicro, manifest, interpreter, displayDir(appDir, dir));
  if (chosen.length === 0) {
    return `; WARNING: vendored with ${manifest.interpreter.python}, and the app runs here on ${formatInterpreter(interpreter)}, while ${micro}. ` +
      (vendoredVersion === undefined
        ? `Vendor it again (here: \`${refresh}\`): the manifest then records the Python's full version, and check judges ${byMicro.length === 1 ? 'it' : 'them'}`
        : `Vendor it with the Python the app runs on (here: \`${refresh}\`), or give app.yaml a \`python:\` that picks one version everywhere`);
  }
  const by = TRAITS.filter((t) => differ.has(t) && chosen.some((c) => c.reads.has(t)));
  // The platform is named only when it differs: on one platform, the Python tells them apart.
  const elsewhere = differ.has('operating system') || differ.has('machine');
  const platformOf = (tag: string) => tag.split('-')[2] ?? '';
  const vendoredWith = elsewhere ? `${manifest.interpreter.python} on ${platformOf(manifest.interpreter.tag)}` : manifest.interpreter.python;
  const hereWith = elsewhere ? `${here.interpreter} on ${platformOf(here.tag)}` : here.interpreter;
  const shown = listed(chosen);
  return `; WARNING: vendored with ${vendoredWith}, and the app runs here on ${formatInterpreter(interpreter)}, ${hereWith}, ` +
    `while ${shown} choose${chosen.length === 1 ? 's' : ''} by ${joinedAnd(by)}: pip on ${hereWith} may install other distributions than ${displayDir(appDir, dir)} holds` +
    `${micro === '' ? '' : `; also, ${micro}`}. ` +
    (elsewhere
      ? `Vendor it on a host like this one, with the Python the app runs on (here: \`${refresh}\`)`
      : `Vendor it with the Python the app runs on (here: \`${refresh}\`), or give app.yaml a \`python:\` that picks one version everywhere`);
}

/** Requirements named in a warning: the first three, and how many more. */
function listed(requirements: ChoosingRequirement[]): string {
  const where = requirements.map((c) => c.where);
  return where.length > 3 ? `${where.slice(0, 3).join(', ')} and ${where.length - 3} more` : where.join(', ');
}

/**
 * What a warning says of requirements whose markers read the micro version within the series
 * both interpreters share: judged when the manifest records the vendoring Python's full
 * version; when it does not (one written before it did), said to be not judged rather than
 * passed over.
 */
function microVersionNote(requirements: ChoosingRequirement[], manifest: VendorManifest, interpreter: Interpreter, into: string): string {
  const full = `Python ${interpreter.markers.python_full_version ?? interpreter.version}`;
  const chooses = `${listed(requirements)} choose${requirements.length === 1 ? 's' : ''} by the micro version (python_full_version)`;
  const vendored = manifest.interpreter.version;
  return vendored !== undefined
    ? `${chooses}: vendored with Python ${vendored}, pip on ${full} may install other distributions than ${into} holds`
    : `${chooses}, which this manifest does not record (${manifest.interpreter.python} is any ${interpreter.markers.python_version ?? 'such'}.x): not judged, pip on ${full} may install other distributions than ${into} holds`;
}

/** The traits a warning names, in the order it names them. */
const TRAITS: readonly HostTrait[] = ['Python version', 'Python implementation', 'operating system', 'machine'];

function joinedAnd(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function summary(appDir: string, dir: string, manifest: VendorManifest): string {
  const dists = manifest.distributions.map((d) => `${d.name} ${d.version}${d.binary ? ` (binary, loads here)` : ''}`).join(', ');
  const python = manifest.interpreter.python ? `, vendored with ${manifest.interpreter.python}` : '';
  return `${displayDir(appDir, dir)} current with ${manifest.requirements.file}, files as vendored: ${countOf(manifest.distributions.length, 'distribution')}${dists ? ` (${dists})` : ''}${python}`;
}
