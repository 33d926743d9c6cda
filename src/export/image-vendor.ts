// Compiled distributions an app vendored with `vendor --allow-binary` (SPEC 5.9) that the
// image's python3 cannot load: the tags recorded in the vendor manifest, judged for Debian's
// python3 by the rules `check` judges them by for the host (APPPKG_VENDOR_HOST_MISMATCH), so
// that the image is refused here rather than every pod failing its import.
import type { Description } from '../description/types.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { GatewayError } from '../errors.js';
import { unloadableVendorDirs, type TagJudge } from '../lifecycle/vendor-check.js';
import { hostTags } from '../lifecycle/vendor-tags.js';
import { DEBIAN_GLIBC, DEBIAN_NAME, DEBIAN_PYTHON } from './image-layout.js';

const IMAGE_PYTHON = DEBIAN_PYTHON.split('.').slice(0, 2).join('.');

/**
 * The image's python3, asked through any interpreter of this host (the tag rules are stdlib
 * Python). None here: null, and the vendor directory is not judged (`check` in the pod will be).
 */
async function imageJudge(): Promise<TagJudge | null> {
  const runner = await pickInterpreter({ python: null, deb: [] }).catch(() => null);
  if (runner === null) return null;
  return {
    python: `${DEBIAN_NAME}'s python3 ${DEBIAN_PYTHON}`,
    tags: (tags) => hostTags(runner.executable, tags, { python: IMAGE_PYTHON, glibc: DEBIAN_GLIBC }),
  };
}

/** APPPKG_EXPORT_UNMAPPABLE for each vendor directory of `paths:` holding what the image cannot load. */
export async function unloadableVendor(desc: Pick<Description, 'dir' | 'paths' | 'file' | 'positions' | 'name'>): Promise<GatewayError[]> {
  const at = desc.positions.paths;
  return (await unloadableVendorDirs(desc, imageJudge)).map(({ mismatch }) => {
    const d = mismatch.details as Record<string, string>;
    return new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
      file: desc.file, line: at?.line, column: at?.column, key: 'paths', app: desc.name,
      reason: `expected a vendor directory the image's python3 loads, found ${mismatch.message}`,
      fix: `vendor it on ${DEBIAN_NAME} (python3 ${IMAGE_PYTHON}), e.g. in a debian:trixie container: \`${d.command}\`; or install ${d.names} from Debian with deb: (${d.debs}) and vendor without --allow-binary`,
    });
  });
}
