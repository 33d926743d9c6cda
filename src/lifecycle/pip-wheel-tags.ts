// A wheel the app ships that its interpreter cannot load (built for CPython 3.9, `cp39-cp39-...`,
// on a host whose app runs 3.11) fails pip offline in one of two ways: named as a file, "is not a
// supported wheel on this platform"; named as a requirement, pip skips the file in silence (its
// log alone says "none of the wheel's tags (...) are compatible") and then finds "no matching
// distribution". The hint for either had been to put the wheel in the app, where it already was.
// This reads pip's log for those wheels, for the hint of APPPKG_PIP_INSTALL_FAILED.
import type { Interpreter } from '../environment/interpreter-probe.js';
import { normalizeName } from '../environment/requirements.js';

export interface UnloadableWheel {
  /** The wheel's file name: "other-1.0-cp39-cp39-manylinux_2_17_x86_64.whl". */
  file: string;
  /** Its tags, as its name gives them: "cp39-cp39-manylinux_2_17_x86_64". */
  tags: string;
}

/** The wheels pip refused for their tags in a failed run whose log (`--log`) is `pipLog`. */
export function unloadableWheels(pipLog: string): UnloadableWheel[] {
  const found = new Map<string, UnloadableWheel>();
  const add = (file: string) => {
    const tags = /-([^-]+-[^-]+-[^-]+)\.whl$/.exec(file)?.[1];
    if (tags !== undefined) found.set(file, { file, tags });
  };
  for (const m of pipLog.matchAll(/ERROR: (\S+\.whl) is not a supported wheel on this platform/g)) add(m[1]);
  // A skipped wheel counts only for a requirement nothing else met: a project may ship wheels
  // for several interpreters beside each other, and pip skips all but the one that fits.
  const missing = new Set([...pipLog.matchAll(/No matching distribution found for ([A-Za-z0-9._-]*[A-Za-z0-9])/g)].map((m) => normalizeName(m[1])));
  // The link is a file: URL (--find-links DIR) or an index's, with a #sha256= fragment.
  for (const m of pipLog.matchAll(/Skipping link: none of the wheel's tags \([^)]*\) are compatible[^\n]*?: (\S+?\.whl)(?:#\S*)?$/gm)) {
    const file = decodeURIComponent(m[1].split('/').pop()!);
    if (missing.has(normalizeName(file.split('-')[0]))) add(file);
  }
  return [...found.values()];
}

/** The interpreter tag a wheel built for `python` carries ("cp311"), or null for one not CPython. */
export function interpreterTag(python: Interpreter): string | null {
  const m = /^(\d+)\.(\d+)/.exec(python.version);
  return python.implementation === 'cpython' && m !== null ? `cp${m[1]}${m[2]}` : null;
}
