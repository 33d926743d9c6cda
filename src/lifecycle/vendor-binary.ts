// What `vendor` says about a distribution that is not portable (issue 19): a compiled extension
// built for one interpreter and platform. The seed proposal's own example is M2Crypto, whose
// fix is `deb: python3-m2crypto`: Debian names a library's Python 3 package python3-NAME, so
// that is the package we suggest, and we say whether this host's apt knows it (apt-cache
// reads the local package lists; nothing is fetched).
import { GatewayError } from '../errors.js';
import { aptKnows } from '../environment/apt-knows.js';
import { debianPackagesFor } from '../environment/debian-python-name.js';
import { normalizeName } from '../environment/requirements.js';
import type { InstalledDistribution } from './vendor-dists.js';
import { neededTags } from './vendor-tags.js';

/**
 * The refusal of `binary` (each one's tags and compiled files), with its deb packages;
 * `installed`: every distribution pip installed, for those of `binary` that the requirements do
 * not name (MarkupSafe, which pip installs for flask): leaving one out of the requirements does
 * nothing, so the fix names the requirements that need it, to install from the system instead.
 * `vendoredWith`: the tag of the interpreter that installed them ('' when unknown).
 */
export async function binaryRefusal(binary: InstalledDistribution[], installed: InstalledDistribution[], requirements: string, vendoredWith: string): Promise<GatewayError> {
  const pulled = binary.map((d) => (d.requested ? null : neededBy(d, installed)));
  const pulledNotes = binary.flatMap((d, i) => (pulled[i] ? [`${d.name} (for ${pulled[i]!.map((r) => r.name).join(', ')})`] : []));
  // What to take out of the requirements and install with deb: instead, in the order found.
  const replace = [...new Set(binary.flatMap((d, i) => (pulled[i] ? pulled[i]!.map((r) => r.name) : [d.name])))];
  const debs = await debianPackagesFor(replace);
  // Not map(aptKnows): its index would be aptKnows' timeout, 0 ms for the first, and every answer "no".
  const known = await Promise.all(debs.map((deb) => aptKnows(deb)));
  const has = debs.filter((_, i) => known[i] === true);
  const lacks = debs.filter((_, i) => known[i] === false);
  const debNote = [
    has.length > 0 ? `Debian has ${has.join(', ')}` : '',
    lacks.length > 0 ? `this host's apt lists have no ${lacks.join(', ')}: look with \`apt-cache search\`` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const found = binary
    .map((d) => `${d.name} ${d.version} (${d.tags.join(', ') || 'no tag'}${d.compiledFiles.length > 0 ? `: ${d.compiledFiles.slice(0, 3).join(', ')}` : ''})`)
    .join(', ');
  return new GatewayError('APPPKG_VENDOR_BINARY', {
    found,
    names: replace.join(', '),
    ...(pulledNotes.length > 0 ? { pulled: pulledNotes.join(', ') } : {}),
    requirements,
    debs: debs.join(', '),
    debNote,
    tags: [...new Set(binary.flatMap((d) => neededTags(d.tags, vendoredWith)))].join(', '),
  });
}

/** What neededBy reads of a distribution: installed (vendor-dists) or vendored with what it needs. */
export interface NeedingDistribution {
  name: string;
  requested: boolean;
  requires: string[];
}

/**
 * The distributions the requirements name (REQUESTED) that need `dist`, directly or through
 * others; null when none is found (metadata that says nothing of it).
 */
export function neededBy<T extends NeedingDistribution>(dist: { name: string }, installed: T[]): T[] | null {
  const byName = new Map(installed.map((d) => [normalizeName(d.name), d]));
  const target = normalizeName(dist.name);
  const reaches = (from: T): boolean => {
    const seen = new Set<string>();
    const queue = [...from.requires];
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === target) return true;
      if (seen.has(name)) continue;
      seen.add(name);
      queue.push(...(byName.get(name)?.requires ?? []));
    }
    return false;
  };
  const found = installed.filter((d) => d.requested && normalizeName(d.name) !== target && reaches(d));
  return found.length > 0 ? found : null;
}
