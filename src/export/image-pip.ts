// What the image's venv step (`export venv`, pip offline from the app directory unless the image's
// own pip configuration or the requirements name an index) will not find:
// the requirements file, or a local file for each requirement. The recipe is built elsewhere,
// from the app directory as it is then (a CI job may add the wheels first), so these are said,
// not refused; without them the build failed minutes later, deep in pip's output.
import path from 'node:path';
import type { Description } from '../description/types.js';
import { readDirectoryAsUserCould, readFileAsUserCould, UserCannotRead, type FileReader } from '../environment/user-readable.js';

/** PEP 503: names compare lowercased, runs of -, _ and . as one -. */
const normalise = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

const DIST_FILE = /\.(whl|tar\.gz|tgz|zip|tar\.bz2)$/i;

/** The project a wheel or sdist file is of: a wheel's name ends at its first -, an sdist's before its version. */
function projectOf(file: string): string | null {
  if (!DIST_FILE.test(file)) return null;
  if (file.toLowerCase().endsWith('.whl')) return normalise(file.split('-')[0]);
  const m = /^(.+?)-\d/.exec(file);
  return m ? normalise(m[1]) : null;
}

/**
 * The names in `dir` as `reader` could list them: [] when it could not. As root, a listing of a
 * directory the app's user may not list told of root's own files there (whether the wheel a
 * line names was): what the user cannot see is said missing, whatever is there.
 */
async function listDir(dir: string, reader: FileReader | null): Promise<string[]> {
  return readDirectoryAsUserCould(dir, reader).catch(() => []);
}

/**
 * One sentence per requirement the image build's pip, offline, will not find; [] when all are
 * there. `reader`: as root, the app's user, whose rights the requirements are read with (their
 * lines are said back): one it may not read is said as such, none of it shown.
 */
export async function unbuildableRequirements(desc: Pick<Description, 'dir' | 'pip'>, reader: FileReader | null = null): Promise<string[]> {
  if (desc.pip === null) return [];
  const file = path.resolve(desc.dir, desc.pip);
  let text: string;
  try {
    text = (await readFileAsUserCould(file, reader)).toString('utf8');
  } catch (err) {
    if (err instanceof UserCannotRead) return [`${desc.pip} (pip:): cannot be read: ${err.message}`];
    return [`${desc.pip} (pip:) does not exist`];
  }
  // pip's --find-links of the venv step (lifecycle/install-venv.ts): the app and requirements directories.
  const dirs = [...new Set([desc.dir, path.dirname(file)])];
  const local = new Set((await Promise.all(dirs.map((dir) => listDir(dir, reader)))).flat().map(projectOf).filter((p): p is string => p !== null));
  const missing: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '' || line.startsWith('-')) continue; // options (-r, -c, --hash ...) are pip's to judge
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(line) || /^(git|hg|svn|bzr)\+/.test(line)) {
      missing.push(`${line}: a URL, which the offline build cannot fetch`);
    } else if (DIST_FILE.test(line) || line.includes('/')) {
      const target = line.split(/[;\s]/)[0];
      if ((await listDir(path.dirname(path.resolve(path.dirname(file), target)), reader)).includes(path.basename(target))) continue;
      missing.push(`${line}: no such file`);
    } else {
      const name = /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(line)?.[0];
      if (name !== undefined && !local.has(normalise(name))) missing.push(`${line}: no wheel or sdist of ${name} in ${dirs.join(' or ')}`);
    }
  }
  return missing;
}
