// Debian's names for Python distributions, the rule said once: a distribution NAME is packaged
// as python3-NAME, NAME lowercase with each run of "-", "_" and "." one "-" (PEP 503's
// normalisation; a Debian name has no "_" nor upper case), and often without a prefix that only
// says it is Python's: python-dateutil is python3-dateutil, PyYAML python3-yaml, py-cpuinfo
// python3-cpuinfo (Debian names the package after the module it ships). check's pip: fallback
// reads it one way (which distributions a missing python3-NAME stands for), vendor the other
// (which package to suggest for a distribution that cannot be vendored).
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
