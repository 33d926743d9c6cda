// A requirements line that pip has to build (a source directory, an sdist): offline, pip
// cannot fetch the build backend it needs (setuptools, ...), and an index (a mirror) may not
// have it. install and vendor say so, with the fix, where pip's own words are about a build
// dependency the user never named.

/**
 * The first requirement that pip has to build (a source directory or an sdist): offline, its
 * build backend (setuptools, ...) is not there to fetch, and the fix is a wheel built beforehand.
 */
export function sourceRequirement(text: string): string | null {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim().replace(/^(-e|--editable)\s+/, '');
    if (line === '' || line.startsWith('-')) continue;
    const target = line.split(/\s*[;@]\s*|\s+/)[0];
    if (/\.(tar\.gz|tar\.bz2|tgz|zip)$/i.test(target) || (/^(\.{1,2}(\/|$)|\/|file:)/.test(target) && !/\.whl$/i.test(target))) return target;
  }
  return null;
}

/** The build dependency pip found no distribution of, from its log ("No matching distribution found for setuptools>=61"); null when none. */
export function missingBuildDependency(pipLog: string): string | null {
  // Without its colours (FORCE_COLOR, a terminal), which would end the name.
  return /No matching distribution found for ([^\s\x1b]+)/.exec(pipLog.replace(/\x1b\[[0-9;]*m/g, ''))?.[1] ?? null;
}

/**
 * Whether pip's log shows the build dependencies of a source requirement could not be installed
 * (pip 23.0 and 23.2 write "pip subprocess to install build dependencies exited with 1" in
 * their log; "did not run successfully" is their console's word for it): what tells a missing backend from a failure of the build itself, or of another
 * requirement, when an index was there to fetch it from.
 */
export function buildDependenciesFailed(pipLog: string): boolean {
  return /pip subprocess to install build dependencies (did not run successfully|exited with)/.test(pipLog.replace(/\x1b\[[0-9;]*m/g, ''));
}
