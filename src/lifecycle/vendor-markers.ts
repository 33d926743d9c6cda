// The requirements of a vendor directory that choose by Python version (`tomli; python_version
// < "3.11"`), in the requirements files it was made from and in its distributions' Requires-Dist.
// pip evaluated them with the interpreter that vendored (the manifest's interpreter.python); on a
// host whose Python is another version pip would choose otherwise, so the directory may lack what
// the app imports there, or hold a version its requirements exclude there, while every file is as
// vendored and `check` said `ok` (found by H277). check cannot evaluate a marker (pip's
// `packaging` does, and the host's interpreter may have no pip): it names them, as a warning.
import path from 'node:path';
import { readFileAsUserCould, type FileReader } from '../environment/user-readable.js';
import type { VendorManifest } from './vendor-manifest.js';

/** A requirement whose environment marker reads the Python version. */
const VERSION_MARKER = /;[^#]*\bpython_(?:full_)?version\b/;

/**
 * Each requirement of `manifest` (the vendor directory `vendorDir` of the app in `appDir`) whose
 * marker reads the Python version: `requirements.txt:2 (colorlib<2; python_version < "3.11")`
 * or `greetlib 1.0's Requires-Dist: tomli; python_version < "3.11"`. A file that cannot be read
 * counts none: check's other lines say what is wrong with it.
 */
export async function versionMarkers(appDir: string, vendorDir: string, manifest: VendorManifest, reader: FileReader | null): Promise<string[]> {
  const read = (file: string) => readFileAsUserCould(file, reader).then((data) => data.toString('utf8'), () => '');
  const found: string[] = [];
  for (const file of Object.keys(manifest.requirements.files ?? { [manifest.requirements.file]: null })) {
    (await read(path.resolve(appDir, file))).split('\n').forEach((line, i) => {
      if (!line.trimStart().startsWith('#') && VERSION_MARKER.test(line)) found.push(`${file}:${i + 1} (${line.trim()})`);
    });
  }
  for (const d of manifest.distributions) {
    const metadata = Object.keys(d.files).find((f) => f.endsWith('.dist-info/METADATA'));
    if (metadata === undefined) continue;
    // Its headers end at the first blank line; the long description after it is prose.
    for (const line of (await read(path.join(vendorDir, metadata))).split('\n')) {
      if (line.trim() === '') break;
      if (/^Requires-Dist:/i.test(line) && VERSION_MARKER.test(line)) found.push(`${d.name} ${d.version}'s Requires-Dist: ${line.slice(line.indexOf(':') + 1).trim()}`);
    }
  }
  return found;
}
