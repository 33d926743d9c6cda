// What `install`'s pip will not find, said by `check` before it runs: a requirement not installed
// yet whose wheel or sdist is in none of the directories pip reads, or only at another version,
// or only as wheels built for another interpreter or platform (cp39 where the app runs 3.11).
// check said "run install" for those, and install then failed at pip. Judged only where pip reads
// no more than this host's directories (offline: nothing names an index, or --no-index): what
// an index holds cannot be known without asking it, and check sends no request.
// The directories are install-venv.ts's: the app's and the requirements' (its --find-links), the
// requirements' own --find-links lines, and the host's (PIP_FIND_LINKS, a pip.conf's find-links).
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { satisfies } from '@renovatebot/pep440';
import type { Interpreter } from '../environment/interpreter-probe.js';
import { logicalLines, normalizeName, type Requirement } from '../environment/requirements.js';
import { readRequirementsTree } from '../environment/requirements-tree.js';
import { readFileAsUserCould, type FileReader } from '../environment/user-readable.js';
import { programOutput } from '../program-output.js';
import { hostSourceSettings, noIndexOn } from './pip-host-config.js';

export interface OfflineFinds {
  /** One sentence per requirement install's pip will not find. */
  unfindable: string[];
  /** Where pip looks, for the fix. */
  dirs: string[];
}

/** `-f DIR`, `--find-links=DIR`, `-i URL`, `--index-url URL`, `--extra-index-url URL`, `--no-index`. */
const SOURCE_LINE = /^(-f|--find-links|-i|--index-url|--extra-index-url|--no-index)(?:(?:\s*=\s*|\s+)(\S+))?$/;
const DIST = /\.(whl|tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$/i;
const REMOTE = /^[a-z][a-z0-9+.-]*:/i;

/** The tags the interpreter's pip accepts a wheel for, best first (packaging's sys_tags, as pip has them). */
const SUPPORTED_TAGS = String.raw`
import json, sys
sys.path = [p for p in sys.path if p not in ('', '.')]
from pip._vendor.packaging import tags
print(json.dumps([str(t) for t in tags.sys_tags()]))
`;

/**
 * For `missing`, the requirements check found not installed (or at another version), what install's
 * pip, run offline, will not find; null when pip would read an index (the requirements', the
 * host's, or pip's default one), whose holdings are not known here.
 */
export async function offlineFinds(opts: {
  appDir: string;
  requirements: string;
  missing: Requirement[];
  interpreter: Interpreter;
  reader: FileReader | null;
  env?: NodeJS.ProcessEnv;
}): Promise<OfflineFinds | null> {
  const requirementsDir = path.dirname(opts.requirements);
  const tree = await readRequirementsTree(opts.appDir, opts.requirements, opts.reader).catch(() => null);
  if (tree === null) return null;
  const dirs = [opts.appDir, requirementsDir];
  let ownNoIndex = false;
  let ownIndex = false;
  for (const [rel, sha] of Object.entries(tree.files)) {
    if (sha === null) continue;
    const file = path.resolve(opts.appDir, rel);
    const text = await readFileAsUserCould(file, opts.reader).then((b) => b.toString('utf8'), () => '');
    for (const { line } of logicalLines(text)) {
      const m = SOURCE_LINE.exec(line);
      if (m === null) continue;
      if (m[1] === '--no-index') ownNoIndex = true;
      else if (m[2] === undefined) continue;
      else if (m[1] === '-f' || m[1] === '--find-links') {
        const dir = await findLinksDir(m[2], path.dirname(file), requirementsDir);
        if (dir === null) return null;
        dirs.push(dir);
      } else ownIndex = true;
    }
  }
  const host = await hostSourceSettings(opts.interpreter.executable, opts.env ?? process.env);
  if (host === null) return null;
  const hostNoIndex = host.some(noIndexOn);
  for (const s of host.filter((h) => h.name === 'find-links')) {
    for (const value of s.value.split(/\s+/).filter(Boolean)) {
      const dir = await findLinksDir(value, requirementsDir, requirementsDir);
      if (dir === null) return null;
      dirs.push(dir);
    }
  }
  // install-venv.ts passes --no-index when neither the requirements nor the host name a source.
  const installNoIndex = !ownIndex && host.filter((s) => s.name !== 'no-index' || noIndexOn(s)).length === 0;
  // Without --no-index pip reads an index: the named one, or pypi.org.
  if (!(ownNoIndex || hostNoIndex || installNoIndex)) return null;

  const unique = [...new Set(dirs)];
  const listed = await Promise.all(unique.map(async (dir) => ({ dir, files: (await readdir(dir).catch(() => [] as string[])).filter((f) => DIST.test(f)) })));
  let supported: Set<string> | null | undefined;
  const tagsOk = async (wheel: string): Promise<boolean> => {
    supported ??= await supportedTags(opts.interpreter);
    return supported === null || wheelTags(wheel).some((t) => supported!.has(t));
  };
  const unfindable: string[] = [];
  for (const req of opts.missing) {
    if (req.from !== undefined) continue; // a project directory: pip builds it, from what it holds
    if (req.file !== undefined) {
      const name = path.basename(req.file);
      const there = (await readdir(path.dirname(req.file)).catch(() => [] as string[])).includes(name);
      if (!there) unfindable.push(`${req.text}: no such file`);
      else if (name.toLowerCase().endsWith('.whl') && !(await tagsOk(name))) unfindable.push(`${req.text}: ${name} (${tagText(name)}) is built for another interpreter or platform`);
      continue;
    }
    if (REMOTE.test(req.text) || req.text.includes('@')) continue; // a URL pip fetches
    const key = normalizeName(req.name);
    const ofProject = listed.flatMap(({ dir, files }) => files.filter((f) => projectOf(f) === key).map((f) => ({ dir, file: f })));
    const wanted = `${req.name}${req.specifier}`;
    if (ofProject.length === 0) {
      unfindable.push(`${wanted}: no wheel or sdist of ${req.name}`);
      continue;
    }
    const atVersion = ofProject.filter(({ file }) => req.specifier === '' || versionAllows(versionOf(file), req.specifier));
    if (atVersion.length === 0) {
      const versions = [...new Set(ofProject.map(({ file }) => versionOf(file)))].join(', ');
      unfindable.push(`${wanted}: only ${req.name} ${versions} there`);
      continue;
    }
    let loadable = false;
    for (const { file } of atVersion) {
      if (!file.toLowerCase().endsWith('.whl') || (await tagsOk(file))) {
        loadable = true;
        break;
      }
    }
    if (!loadable) {
      // Relative to the app directory where inside it (as requirements name them), else this host's path.
      const shown = (at: string) => (at.startsWith(`${opts.appDir}${path.sep}`) ? path.relative(opts.appDir, at) : at);
      const wheels = atVersion.map(({ dir, file }) => `${shown(path.join(dir, file))} (${tagText(file)})`);
      unfindable.push(`${wanted}: ${wheels.join(' and ')} ${wheels.length === 1 ? 'is a wheel' : 'are wheels'} built for another interpreter or platform`);
    }
  }
  return { unfindable, dirs: unique };
}

/** A --find-links value as a directory of this host: relative to its file's directory when there, else to pip's (the requirements'); null for a URL pip fetches. */
async function findLinksDir(value: string, fileDir: string, cwd: string): Promise<string | null> {
  if (/^file:/i.test(value)) {
    try {
      return fileURLToPath(value);
    } catch {
      return null;
    }
  }
  if (REMOTE.test(value)) return null;
  if (path.isAbsolute(value)) return value;
  const beside = path.resolve(fileDir, value);
  return (await readdir(beside).then(() => true, () => false)) ? beside : path.resolve(cwd, value);
}

/** A wheel's or sdist's project, normalised: a wheel's name ends at its first -, an sdist's before its version. */
function projectOf(file: string): string | null {
  if (file.toLowerCase().endsWith('.whl')) return normalizeName(file.split('-')[0]);
  const m = /^(.+?)-\d/.exec(file);
  return m ? normalizeName(m[1]) : null;
}

function versionOf(file: string): string {
  if (file.toLowerCase().endsWith('.whl')) return file.split('-')[1] ?? '';
  return /^.+?-(\d[^-]*?)\.(tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$/i.exec(file)?.[1] ?? '';
}

function versionAllows(version: string, specifier: string): boolean {
  try {
    return satisfies(version, specifier, { prereleases: true });
  } catch {
    return true; // not judged: pip's to say
  }
}

/** `cp39-cp39-manylinux1_x86_64`: a wheel name's last three parts. */
function tagText(wheel: string): string {
  return wheel.slice(0, -4).split('-').slice(-3).join('-');
}

/** Every tag a wheel's name stands for (PEP 425's compressed sets: `py2.py3-none-any`). */
function wheelTags(wheel: string): string[] {
  const [pys, abis, plats] = tagText(wheel).split('-').map((part) => part.split('.'));
  return pys.flatMap((py) => abis.flatMap((abi) => plats.map((plat) => `${py}-${abi}-${plat}`)));
}

/** The interpreter's tags, or null when its pip cannot say (then no wheel is judged by its tags). */
async function supportedTags(interpreter: Interpreter): Promise<Set<string> | null> {
  const answer = await programOutput(interpreter.executable, ['-E', '-c', SUPPORTED_TAGS], { timeoutMs: 30_000, maxBuffer: 8 << 20, cwd: '/' });
  if (answer.status !== 0) return null;
  try {
    return new Set(JSON.parse(answer.stdout.trim().split('\n').pop() ?? '[]') as string[]);
  } catch {
    return null;
  }
}
