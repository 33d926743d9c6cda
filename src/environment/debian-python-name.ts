// Debian's names for Python distributions, the rule said once: a distribution NAME is packaged
// as python3-NAME, NAME lowercase with each run of "-", "_" and "." one "-" (PEP 503's
// normalisation; a Debian name has no "_" nor upper case), and often without a prefix that only
// says it is Python's: python-dateutil is python3-dateutil, PyYAML python3-yaml, py-cpuinfo
// python3-cpuinfo (Debian names the package after the module it ships). check's pip: fallback
// reads it one way (which distributions a missing python3-NAME stands for), vendor the other
// (which package to suggest for a distribution that cannot be vendored), and system-module.ts
// which package ships a module the app imports (its deb: line). Where a package
// installed here ships the distribution's metadata, its real name wins over the rule: Pillow is
// python3-pil, PyJWT python3-jwt, beautifulsoup4 python3-bs4, which no rule guesses.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { programOutput } from '../program-output.js';
import { normalizeName } from './requirements.js';

/** A Debian package of Python 3 (or 2) modules: python3-NAME, python-NAME. */
const PYTHON_DEB = /^python3?-(.+)$/;
/**
 * The prefixes Debian drops: `python-` before `py`, so that python-dateutil is not py + thon-;
 * nor is a name that begins with "python" (pythonnet) read as py + thonnet. Something must follow.
 */
const DROPPED_PREFIX = /^(python-|py-|py(?!thon))(?=[a-z0-9])/;
const PREFIXES = ['python-', 'py-', 'py'];

/**
 * The Debian packages that may be `distribution`'s, most likely first: python3-NAME less a
 * `python-` prefix (python3-python-NAME is seldom a package), else python3-NAME and then without
 * its `py` prefix (pyparsing is python3-pyparsing, PyYAML python3-yaml: no rule tells which).
 */
export function debianPackageNames(distribution: string): string[] {
  const name = normalizeName(distribution);
  const prefix = DROPPED_PREFIX.exec(name)?.[1];
  if (prefix === undefined) return [`python3-${name}`];
  const bare = `python3-${name.slice(prefix.length)}`;
  return prefix === 'python-' ? [bare, `python3-${name}`] : [`python3-${name}`, bare];
}

/**
 * The names of a Debian package that ships the top-level module `module`: python3-NAME by the
 * rule (python3-yaml for yaml, python3-pkg-resources for pkg_resources), or the module's own
 * name, as an application's package has it (mercurial). No prefix is dropped: Debian already
 * named the module's package after the module, not after its distribution.
 */
export function debianNamesOfModule(module: string): [string, string] {
  const name = normalizeName(module);
  return [`python3-${name}`, name];
}

/** The package to name for `distribution`: the likeliest of debianPackageNames. */
export function debianPackageName(distribution: string): string {
  return debianPackageNames(distribution)[0];
}

/**
 * The distributions (PEP 503-normalised) a python3-NAME package may stand for, by the same rule
 * read backwards: NAME, and NAME behind each prefix Debian drops. [] for a package not so named.
 */
export function distributionNamesOf(debPackage: string): string[] {
  const base = PYTHON_DEB.exec(debPackage)?.[1];
  if (base === undefined) return [];
  const name = normalizeName(base);
  return [name, ...PREFIXES.map((prefix) => `${prefix}${name}`)];
}

/**
 * The Debian package to name for each of `distributions`: the one installed here that ships it
 * (installedDebianPackage), else the rule's (debianPackageName).
 */
export function debianPackagesFor(distributions: readonly string[]): Promise<string[]> {
  return Promise.all(distributions.map(async (name) => (await installedDebianPackage(name)) ?? debianPackageName(name)));
}

/** Where Debian's python3-* packages put their distributions (and so their .dist-info/.egg-info). */
const DEBIAN_DIST_PACKAGES = '/usr/lib/python3/dist-packages';
/** `NAME-VERSION.dist-info`, `NAME-VERSION[-pyX.Y].egg-info`: NAME has its "-" written "_". */
const METADATA_DIR = /^([^-]+)-[^-].*\.(?:dist|egg)-info$/;

/**
 * The installed Debian package that ships `distribution`'s metadata (its .dist-info or .egg-info
 * in Debian's dist-packages, `dpkg -S` naming the owner), or null: not installed from a package,
 * or no dpkg here. Its name, not the rule's guess, is the one apt knows.
 */
export async function installedDebianPackage(distribution: string): Promise<string | null> {
  const wanted = normalizeName(distribution);
  const entry = (await readdir(DEBIAN_DIST_PACKAGES).catch((): string[] => [])).find((e) => normalizeName(METADATA_DIR.exec(e)?.[1] ?? '') === wanted);
  if (entry === undefined) return null;
  const answer = await programOutput('dpkg', ['-S', path.join(DEBIAN_DIST_PACKAGES, entry)], { timeoutMs: 10_000 });
  if (answer.status !== 0) return null;
  // "python3-pil:amd64: /usr/lib/...": the first owner, without its architecture.
  const line = answer.stdout.split('\n')[0];
  const owner = line.slice(0, line.lastIndexOf(': ')).split(', ')[0].split(':')[0];
  return owner || null;
}
