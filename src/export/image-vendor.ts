// Compiled distributions an app vendored with `vendor --allow-binary` (SPEC 5.9), judged for the
// image: built for another architecture than the image's (image-architecture.ts), or tagged for
// what Debian's python3 cannot load (the tags recorded in the vendor manifest, judged by the
// rules `check` judges them by for the host, APPPKG_VENDOR_HOST_MISMATCH), so that the image
// is refused here rather than every pod failing its import. The tag rules are stdlib Python
// asked through any python3 of this host; a host without one cannot judge them, and says so
// (a pod's import failing later was the only sign before).
import path from 'node:path';
import type { Description } from '../description/types.js';
import { placeOf } from '../description/key-place.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { GatewayError } from '../errors.js';
import type { FileReader } from '../environment/user-readable.js';
import { compiledVendorDirs, type CompiledVendorDir, type TagJudge } from '../lifecycle/vendor-check.js';
import { hostTags } from '../lifecycle/vendor-tags.js';
import { imageArchitecture, loadsOn, tagArchitectures, type ImageArchitecture } from './image-architecture.js';
import { DEBIAN_GLIBC, DEBIAN_NAME, DEBIAN_PYTHON, IMAGE_STATE_DIR, imageAppDir } from './image-layout.js';

const IMAGE_PYTHON = DEBIAN_PYTHON.split('.').slice(0, 2).join('.');

type VendorDesc = Pick<Description, 'dir' | 'paths' | 'file' | 'positions' | 'name' | 'version'>;

export interface ImageVendor {
  /** APPPKG_EXPORT_UNMAPPABLE for each vendor directory holding what the image cannot load. */
  problems: GatewayError[];
  /** The architecture the image is pinned to: null when no compiled distribution is vendored. */
  architecture: ImageArchitecture | null;
  /** The architecture assumed, said on stderr, in the recipe and in the manifests' notes. */
  notes: string[];
  /** What could not be checked on this host, and how to check it: said as warnings in the same places. */
  unchecked: string[];
}

/** The image's python3, asked through any interpreter of this host; null when it has none. */
async function imageJudge(arch: ImageArchitecture): Promise<TagJudge | null> {
  const runner = await pickInterpreter({ python: null, deb: [] }).catch(() => null);
  if (runner === null) return null;
  return {
    python: `${DEBIAN_NAME}'s python3 ${DEBIAN_PYTHON}`,
    tags: (tags) => hostTags(runner.executable, tags, { python: IMAGE_PYTHON, glibc: DEBIAN_GLIBC, machine: arch.machine }),
  };
}

/** The compiled distributions of `paths:` as the image would hold them; `reader`: whose rights their manifests are read with (null: ours). */
export async function judgeImageVendor(desc: VendorDesc, reader: FileReader | null = null): Promise<ImageVendor> {
  const arch = imageArchitecture();
  const dirs = await compiledVendorDirs(desc, () => imageJudge(arch), { unaskable: 'report', reader });
  if (dirs.length === 0) return { problems: [], architecture: null, notes: [], unchecked: [] };
  const problems = dirs.flatMap((d) => {
    const problem = otherArchitecture(desc, d, arch) ?? unloadable(desc, d);
    return problem === null ? [] : [problem];
  });
  return { problems, architecture: arch, notes: [architectureNote(desc, dirs, arch)], unchecked: dirs.filter((d) => !d.judged).map((d) => uncheckedNote(desc, d)) };
}

const shown = (desc: VendorDesc, d: CompiledVendorDir): string => `${path.relative(desc.dir, d.dir) || '.'}/`;

function unmappable(desc: VendorDesc, d: CompiledVendorDir, reason: string, fix: string): GatewayError {
  // At the entry of `paths:` that names the directory, not at the list: with `paths: [lib/, vendor/]`
  // the user must see which one to vendor again. One path alone has no entries: the key then.
  const entry = desc.paths.findIndex((p) => path.resolve(desc.dir, p) === d.dir);
  const at = placeOf(desc, entry === -1 ? ['paths'] : ['paths', entry]);
  return new GatewayError('APPPKG_EXPORT_UNMAPPABLE', { file: desc.file, line: at?.line, column: at?.column, key: 'paths', app: desc.name, reason, fix });
}

/** Compiled distributions built for another architecture than the image's: named with their platform tags. */
function otherArchitecture(desc: VendorDesc, d: CompiledVendorDir, arch: ImageArchitecture): GatewayError | null {
  const foreign = d.binary.filter((dist) => !loadsOn(dist.tags, arch.machine));
  if (foreign.length === 0) return null;
  const built = foreign.map((dist) => `${dist.name} ${dist.version} built for ${[...new Set(dist.tags.flatMap(tagArchitectures))].join(' or ')} (${dist.tags.join(', ')})`);
  const theirs = [...new Set(foreign.flatMap((dist) => dist.tags.flatMap(tagArchitectures)))];
  return unmappable(
    desc,
    d,
    `expected compiled distributions for the image's architecture, ${arch.machine} (this host's \`uname -m\`, which the image is pinned to), found ${shown(desc, d)}: ${built.join(', ')}`,
    `export on a machine whose \`uname -m\` is ${theirs.join(' or ')} (the image is built for the exporting host's architecture), or vendor it again on one whose is ${arch.machine}: \`${d.refresh}\``,
  );
}

/** APPPKG_VENDOR_HOST_MISMATCH for the image's python3, as an export problem with the fix for the image. */
function unloadable(desc: VendorDesc, d: CompiledVendorDir): GatewayError | null {
  if (d.mismatch === null) return null;
  const details = d.mismatch.details as Record<string, string>;
  return unmappable(
    desc,
    d,
    `expected a vendor directory the image's python3 loads, found ${d.mismatch.message}`,
    `vendor it on ${DEBIAN_NAME} (python3 ${IMAGE_PYTHON}), e.g. in a debian:trixie container: \`${details.command}\`; or install ${details.names} from Debian with deb: (${details.debs}) and vendor without --allow-binary`,
  );
}

function architectureNote(desc: VendorDesc, dirs: CompiledVendorDir[], arch: ImageArchitecture): string {
  const tagged = [...new Set(dirs.flatMap((d) => d.binary.flatMap((dist) => dist.tags.map((t) => t.split('-')[2] ?? t))))];
  const pinned = arch.platform === null
    ? `the image is not pinned (Debian's image names no platform for ${arch.machine}): build it on a ${arch.machine} machine`
    : `the image is pinned to ${arch.platform} (FROM --platform), and its pods must run on ${arch.machine} nodes`;
  return `paths: ${dirs.map((d) => shown(desc, d)).join(', ')} ${dirs.length === 1 ? 'holds' : 'hold'} compiled distributions (platform tags ${tagged.join(', ')}), ` +
    `judged for ${arch.machine}, this host's \`uname -m\`: ${pinned}`;
}

function uncheckedNote(desc: VendorDesc, d: CompiledVendorDir): string {
  const dists = d.binary.map((dist) => `${dist.name} ${dist.version} (${dist.tags.join(', ')})`).join(', ');
  const check = `podman run --rm IMAGE apppkg-gateway check ${imageAppDir(desc)} --state-dir ${IMAGE_STATE_DIR}`;
  return `paths: ${shown(desc, d)}: not checked whether ${DEBIAN_NAME}'s python3 ${IMAGE_PYTHON} loads ${dists}: ` +
    `this host has no python3 to ask the wheel tag rules of; export where one is (any python3 >= 3.9), or check the built image: \`${check}\``;
}
