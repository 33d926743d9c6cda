// What `vendor` says about a distribution that is not portable (issue 19): a compiled extension
// built for one interpreter and platform. The seed proposal's own example is M2Crypto, whose
// fix is `deb: python3-m2crypto`: Debian names a library's Python 3 package python3-NAME, so
// that is the package we suggest, and we say whether this host's apt knows it (apt-cache
// reads the local package lists; nothing is fetched).
import { GatewayError } from '../errors.js';
import { aptKnows } from '../environment/apt-knows.js';
import { debianPackagesFor } from '../environment/debian-python-name.js';
import type { InstalledDistribution } from './vendor-dists.js';
import { neededTags } from './vendor-tags.js';

/**
 * The refusal of `binary` (each one's tags and compiled files), with its deb packages;
 * `vendoredWith`: the tag of the interpreter that installed them ('' when unknown).
 */
export async function binaryRefusal(binary: InstalledDistribution[], requirements: string, vendoredWith: string): Promise<GatewayError> {
  const debs = await debianPackagesFor(binary.map((d) => d.name));
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
    names: binary.map((d) => d.name).join(', '),
    requirements,
    debs: debs.join(', '),
    debNote,
    tags: [...new Set(binary.flatMap((d) => neededTags(d.tags, vendoredWith)))].join(', '),
  });
}
