// Whether this host's apt lists have a package: what a fix may tell a user to apt-get install.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { programOutput } from '../program-output.js';

/** Where `apt-get update` keeps the sources' package indexes (apt's Dir::State::lists). */
const APT_LISTS = '/var/lib/apt/lists';
/** dpkg's database of what is installed, which apt-cache reads beside the lists. */
const DPKG_STATUS = '/var/lib/dpkg/status';
/**
 * The indexes named after the package, read as they are compressed (.lz4, .gz, .xz) by apt's own
 * reader, searched for the package's stanza (the search ends the reading once found). Prints
 * `Package: NAME` when found, FAILED when the reader failed before (a pipe's status is its last
 * command's: grep's alone would say "not found"), nothing when not found.
 */
const SEARCH_INDEXES = 'pkg=$1; shift; { /usr/lib/apt/apt-helper cat-file "$@" || echo FAILED; } 2>/dev/null | grep -m1 -xF -e "Package: $pkg" -e FAILED';

/**
 * True when apt has a version of `pkg`, false when it has none (a misspelt name, lists not
 * updated), null where there is no apt-cache. `--no-all-versions`: a purely virtual name fails.
 */
export async function aptKnows(pkg: string, timeoutMs = 15_000): Promise<boolean | null> {
  const listed = await inIndexes(pkg, timeoutMs);
  if (listed !== null) return listed;
  const answer = await programOutput('apt-cache', ['show', '--no-all-versions', pkg], { timeoutMs });
  if (answer.startError === 'ENOENT') return null;
  return answer.status === 0 && /^Package: /m.test(answer.stdout);
}

/**
 * apt-cache's answer read from what it reads, where that is plain: true when the indexes of this
 * host's architecture (or `all`) have a stanza for `pkg`, false when neither they nor dpkg's
 * status does. apt-cache builds its cache from them at every run where apt keeps none (Docker's
 * images set Dir::Cache::pkgcache ""), ~1.4 s of CPU; this is ~0.1 s. Null (ask apt-cache) for an
 * architecture-qualified name, a package dpkg alone knows, or when the indexes cannot be read.
 */
async function inIndexes(pkg: string, timeoutMs: number): Promise<boolean | null> {
  if (pkg.includes(':')) return null;
  const arch = await hostArchitecture(timeoutMs);
  if (arch === null) return null;
  const own = new RegExp(`_binary-(?:${arch}|all)_Packages(?:\\.\\w+)?$`);
  const indexes = (await readdir(APT_LISTS).catch((): string[] => [])).filter((name) => own.test(name));
  if (indexes.length === 0) return null;
  const search = await programOutput('sh', ['-c', SEARCH_INDEXES, 'sh', pkg, ...indexes.map((name) => path.join(APT_LISTS, name))], { timeoutMs });
  if (search.stdout.trim() === `Package: ${pkg}`) return true;
  if (search.status !== 1 || search.stdout !== '') return null;
  const status = await readFile(DPKG_STATUS, 'utf8').catch(() => null);
  return status === null || status.includes(`\nPackage: ${pkg}\n`) || status.startsWith(`Package: ${pkg}\n`) ? null : false;
}

let architecture: Promise<string | null> | undefined;

/**
 * dpkg's architecture, asked once a process: check asks aptKnows for every missing package at
 * once, and each started its own dpkg for the same answer. A failure (a timeout on a loaded
 * host) is not kept: the next question asks again.
 */
function hostArchitecture(timeoutMs: number): Promise<string | null> {
  architecture ??= programOutput('dpkg', ['--print-architecture'], { timeoutMs }).then((answer) => {
    if (answer.status === 0) return answer.stdout.trim();
    architecture = undefined;
    return null;
  });
  return architecture;
}
