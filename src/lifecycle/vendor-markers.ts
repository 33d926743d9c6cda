// The requirements of a vendor directory that choose by the host pip runs on (`tomli;
// python_version < "3.11"`, `pywin32; sys_platform == "win32"`), in the requirements files it was
// made from and in its distributions' Requires-Dist. pip evaluated them with the interpreter that
// vendored, whose wheel tag the manifest records (interpreter.tag, `cp311-cp311-linux_x86_64`:
// its implementation and Python version, its operating system and machine). On a host that
// differs in what a marker reads, pip would choose otherwise, so the directory may lack what the
// app imports there, or hold a version its requirements exclude there, while every file is as
// vendored and `check` said `ok` (found by H277). check cannot evaluate a marker (pip's
// `packaging` does, and the host's interpreter may have no pip): it names them, as a warning.
// The tag records nothing of platform_release, platform_version or a micro version
// (python_full_version `3.11.4` and `3.11.9` are both cp311): markers on the first two go
// unjudged. One on the micro version is evaluated with the interpreter's own markers and the
// full version the manifest records beside the tag; in a manifest written before it did, it is
// judged where the series decides it (every 3.11.x reads `python_full_version >= "3.8.1"`
// alike) and named as not judged otherwise.
import path from 'node:path';
import type { MarkerEnvironment } from '../environment/interpreter-probe.js';
import { evaluateMarker } from '../environment/requirements.js';
import { readFileAsUserCould, type FileReader } from '../environment/user-readable.js';
import type { VendorManifest } from './vendor-manifest.js';

/** What an interpreter tag tells of a host, as a marker reads it. */
export type HostTrait = 'Python version' | 'Python implementation' | 'operating system' | 'machine';

/** PEP 508's environment markers that an interpreter tag answers, by the trait each reads. */
const TRAIT_OF: Readonly<Record<string, HostTrait>> = {
  python_version: 'Python version',
  python_full_version: 'Python version',
  implementation_version: 'Python version',
  implementation_name: 'Python implementation',
  platform_python_implementation: 'Python implementation',
  sys_platform: 'operating system',
  platform_system: 'operating system',
  os_name: 'operating system',
  platform_machine: 'machine',
};

const MARKER_NAME = new RegExp(`\\b(${Object.keys(TRAIT_OF).join('|')})\\b`, 'g');

/** A requirement whose marker reads the host: where it is, and what of the host it reads. */
export interface ChoosingRequirement {
  /** `requirements.txt:2 (colorlib<2; python_version < "3.11")`, or `greetlib 1.0's Requires-Dist: ...`. */
  where: string;
  reads: Set<HostTrait>;
  /** The marker itself, after the `;` (and before a comment). */
  marker: string;
}

/** The marker of a requirement line: after its `;`, before a comment; '' for a line without one. */
function markerOf(line: string): string {
  const semicolon = line.indexOf(';');
  if (semicolon < 0) return '';
  const hash = line.indexOf('#', semicolon);
  return line.slice(semicolon + 1, hash < 0 ? undefined : hash).trim();
}

/** What `marker` reads of the host. */
function traitsRead(marker: string): Set<HostTrait> {
  const reads = new Set<HostTrait>();
  for (const [, name] of marker.matchAll(MARKER_NAME)) reads.add(TRAIT_OF[name]);
  return reads;
}

/** The markers that read a micro version, which an interpreter tag (cp311) does not record. */
const MICRO_MARKERS = /\b(python_full_version|implementation_version)\b/;

/**
 * Whether `req`'s marker, on the micro version, chooses otherwise on the Python that vendored
 * (`vendored`, its full version, "3.11.2") than `here`; with that version unknown (a manifest
 * that records the tag alone, cp311), whether it may: evaluated with the micro version set to
 * each side of every version the marker names in `here`'s series, false when every one reads it
 * as `here` does. Evaluated with `here`'s markers otherwise; one that cannot be evaluated may.
 */
export function choosesByMicroVersion(req: ChoosingRequirement, here: MarkerEnvironment, vendored?: string): boolean {
  if (!MICRO_MARKERS.test(req.marker)) return false;
  const series = here.python_version;
  if (series === undefined) return true;
  const micros = new Set([0, 999]);
  for (const [, micro] of req.marker.matchAll(/["']\s*(\d+\.\d+)\.(\d+)/g)) {
    const n = Number(micro);
    for (const near of [n - 1, n, n + 1]) if (near >= 0) micros.add(near);
  }
  const versions = vendored !== undefined ? [vendored] : [...micros].map((micro) => `${series}.${micro}`);
  try {
    const reads = evaluateMarker(req.marker, here);
    for (const version of versions) {
      const there: MarkerEnvironment = { ...here, python_full_version: version };
      // CPython's implementation_version is its Python version; PyPy's is its own (7.3.x).
      if (here.implementation_name === 'cpython') there.implementation_version = version;
      if (evaluateMarker(req.marker, there) !== reads) return true;
    }
    return false;
  } catch {
    return true;
  }
}

/**
 * Each requirement of `manifest` (the vendor directory `vendorDir` of the app in `appDir`) whose
 * marker reads the host. A file that cannot be read counts none: check's other lines say what
 * is wrong with it.
 */
export async function choosingRequirements(appDir: string, vendorDir: string, manifest: VendorManifest, reader: FileReader | null): Promise<ChoosingRequirement[]> {
  const read = (file: string) => readFileAsUserCould(file, reader).then((data) => data.toString('utf8'), () => '');
  const found: ChoosingRequirement[] = [];
  for (const file of Object.keys(manifest.requirements.files ?? { [manifest.requirements.file]: null })) {
    (await read(path.resolve(appDir, file))).split('\n').forEach((line, i) => {
      if (line.trimStart().startsWith('#')) return;
      const marker = markerOf(line);
      const reads = traitsRead(marker);
      if (reads.size > 0) found.push({ where: `${file}:${i + 1} (${line.trim()})`, reads, marker });
    });
  }
  for (const d of manifest.distributions) {
    const metadata = Object.keys(d.files).find((f) => f.endsWith('.dist-info/METADATA'));
    if (metadata === undefined) continue;
    // Its headers end at the first blank line; the long description after it is prose.
    for (const line of (await read(path.join(vendorDir, metadata))).split('\n')) {
      if (line.trim() === '') break;
      if (!/^Requires-Dist:/i.test(line)) continue;
      const marker = markerOf(line);
      const reads = traitsRead(marker);
      if (reads.size > 0) found.push({ where: `${d.name} ${d.version}'s Requires-Dist: ${line.slice(line.indexOf(':') + 1).trim()}`, reads, marker });
    }
  }
  return found;
}

/** A tag's platform (`linux_x86_64`, `macosx_14_0_arm64`, `win_amd64`) as its system and machine. */
function platformOf(platform: string): { system: string; machine: string } {
  const mac = /^macosx_\d+_\d+_(.+)$/.exec(platform);
  if (mac !== null) return { system: 'macosx', machine: mac[1] };
  if (platform === 'win32') return { system: 'win', machine: 'x86' };
  const underscore = platform.indexOf('_');
  // linux_aarch64, win_arm64; another system's (freebsd_14_0_release_amd64) keeps its release
  // in the machine part: a release changed reads as another machine, a warning too many.
  return underscore < 0 ? { system: platform, machine: '' } : { system: platform.slice(0, underscore), machine: platform.slice(underscore + 1) };
}

/**
 * What differs between the host that vendored and this one, each by its interpreter's tag
 * (`cp311-cp311-linux_x86_64`, or the interpreter alone, `cp311`, where no more is known).
 * Only what both tags record is compared: a manifest without the platform part judges none.
 */
export function differingTraits(vendored: string, here: string): Set<HostTrait> {
  const differ = new Set<HostTrait>();
  const [vendoredPython = '', , vendoredPlatform = ''] = vendored.split('-');
  const [herePython = '', , herePlatform = ''] = here.split('-');
  if (vendoredPython !== '' && herePython !== '') {
    const implementation = (python: string) => python.replace(/\d+$/, '');
    if (implementation(vendoredPython) !== implementation(herePython)) differ.add('Python implementation');
    if (vendoredPython.slice(implementation(vendoredPython).length) !== herePython.slice(implementation(herePython).length)) differ.add('Python version');
  }
  if (vendoredPlatform !== '' && herePlatform !== '') {
    const [was, is] = [platformOf(vendoredPlatform), platformOf(herePlatform)];
    if (was.system !== is.system) differ.add('operating system');
    if (was.machine !== is.machine) differ.add('machine');
  }
  return differ;
}
