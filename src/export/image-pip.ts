// What the image's venv step (`export venv`: pip, offline from the app directory unless the image's
// own pip configuration or the requirements name an index) will not find: the requirements file,
// or a requirement none of the places pip looks in the image holds. The recipe is built elsewhere,
// from the app directory as it is then (a CI job may add the wheels first), so these are said,
// not refused; without them the build failed minutes later, deep in pip's output.
// pip in the image reads the paths the requirements name as written: a relative one lies in the
// build context (the app directory), an absolute one or a `file:` URL only where it falls inside
// the app's directory there (image-layout.ts); what is elsewhere on this host the image lacks.
// A requirement pip fetches over the network (a direct URL, or a remote index the requirements
// name) is not judged: the build fetches it, and what a remote index holds cannot be told here.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Description } from '../description/types.js';
import { logicalLines } from '../environment/requirements.js';
import { readDirectoryAsUserCould, readFileAsUserCould, UserCannotRead, type FileReader } from '../environment/user-readable.js';
import { imageAppDir } from './image-layout.js';

/** PEP 503: names compare lowercased, runs of -, _ and . as one -. */
const normalise = (name: string): string => name.toLowerCase().replace(/[-_.]+/g, '-');

const DIST_FILE = /\.(whl|tar\.gz|tgz|zip|tar\.bz2)$/i;

/** A URL of any scheme (`https://`, `file:`); a VCS one (`git+https://`) is one too. */
const URL = /^[a-z][a-z0-9+.-]*:/i;

/** The tool pip runs for a VCS URL, and Debian's package of it. */
const VCS: Record<string, string> = { git: 'git', hg: 'mercurial', svn: 'subversion', bzr: 'bzr' };

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

/** The projects of the wheels and sdists in `dir`. */
async function projectsIn(dir: string, reader: FileReader | null): Promise<Set<string>> {
  return new Set((await listDir(dir, reader)).map(projectOf).filter((p): p is string => p !== null));
}

/**
 * Where a path the requirements name is when the image's pip reads it: `here` (its place in the
 * app directory on this host), `away` (this host's path, which the image lacks; `inApp` when it
 * is this host's path of the app directory, which the image has elsewhere) or `remote` (a URL
 * pip fetches). `relativeTo`: the requirements' directory, whence pip reads a relative one (its
 * working directory in the venv step, and where it first looks for a relative find-links).
 */
type Place = { here: string } | { away: string; inApp: boolean } | { remote: true };

/** `rel` from `from`, when it does not climb out of it. */
function within(from: string, to: string): string | null {
  const rel = path.relative(from, to);
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel) ? null : rel;
}

function placeInImage(location: string, desc: Pick<Description, 'dir' | 'name' | 'version'>, relativeTo: string): Place {
  let file: string;
  if (/^file:/i.test(location)) {
    try {
      file = fileURLToPath(location);
    } catch {
      return { remote: true }; // file://otherhost/...: no path of the image
    }
  } else if (URL.test(location)) return { remote: true };
  else file = location;
  if (!path.isAbsolute(file)) {
    const resolved = path.resolve(relativeTo, file);
    return within(desc.dir, resolved) === null ? { away: resolved, inApp: false } : { here: resolved };
  }
  const inImage = within(imageAppDir(desc), path.normalize(file));
  if (inImage !== null) return { here: path.join(desc.dir, inImage) };
  return { away: file, inApp: within(desc.dir, file) !== null };
}

/** Why the image's pip finds nothing at a path the requirements name (`written`), and the fix. */
function awayWords(written: string, place: { away: string; inApp: boolean }, desc: Pick<Description, 'dir' | 'name' | 'version' | 'pip'>, relativeTo: string): string {
  if (!place.inApp) return `${written}: ${place.away} is a path of this host outside the app directory (the build context), which the image does not have`;
  const rel = path.relative(relativeTo, place.away) || '.';
  const from = path.relative(desc.dir, relativeTo) || '.';
  return `${written}: ${place.away} is this host's path of the app directory, which the image holds at ${imageAppDir(desc)}: name it relative to ${from === path.dirname(desc.pip!) ? desc.pip : `${from}/`} (${rel.startsWith('.') ? rel : `./${rel}`})`;
}

/** `-i URL`, `--index-url=URL`, `-f DIR`, `--find-links DIR`, `--no-index`: a line's option and its value. */
const SOURCE_OPTION = /^(-i|--index-url|--extra-index-url|-f|--find-links|--no-index)(?:(?:\s*=\s*|\s+)(\S+))?$/;

interface Source {
  /** The line as written. */
  line: string;
  /** An index (`--index-url`, `--extra-index-url`: a PEP 503 directory), not a find-links directory. */
  index: boolean;
  place: Place;
}

/** A link's file name as pip reads it (`%2B` is `+`); a malformed escape left as written. */
function decoded(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** Whether the PEP 503 index at `dir` (this host's path of it) lists a wheel or sdist of `project`. */
async function indexHas(dir: string, project: string, reader: FileReader | null): Promise<boolean> {
  const page = await readFileAsUserCould(path.join(dir, project, 'index.html'), reader).then((b) => b.toString('utf8'), () => '');
  for (const m of page.matchAll(/href\s*=\s*["']([^"'#]+)/gi)) {
    if (projectOf(decoded(m[1].split('/').pop() ?? '')) === project) return true;
  }
  return false;
}

/**
 * One sentence per requirement the image build's pip will not find; [] when all are there.
 * `reader`: as root, the app's user, whose rights the requirements are read with (their lines
 * are said back): one it may not read is said as such, none of it shown.
 */
export async function unbuildableRequirements(desc: Pick<Description, 'dir' | 'pip' | 'name' | 'version' | 'deb'>, reader: FileReader | null = null): Promise<string[]> {
  if (desc.pip === null) return [];
  const file = path.resolve(desc.dir, desc.pip);
  let text: string;
  try {
    text = (await readFileAsUserCould(file, reader)).toString('utf8');
  } catch (err) {
    if (err instanceof UserCannotRead) return [`${desc.pip} (pip:): cannot be read: ${err.message}`];
    return [`${desc.pip} (pip:) does not exist`];
  }
  const requirementsDir = path.dirname(file);
  const tree: Tree = { lines: [], problems: [], unknown: false };
  await readTree(file, text, desc, reader, new Set([file]), tree, false);
  // A constraints file's requirements limit versions, they ask for nothing: its options count.
  const lines = tree.lines.filter((l) => !l.constraint).map((l) => l.text);
  const sources: Source[] = [];
  let noIndex = false;
  for (const { text: line, dir } of tree.lines) {
    const m = SOURCE_OPTION.exec(line);
    if (!m) continue;
    if (m[1] === '--no-index') noIndex = true;
    else if (m[2] !== undefined) {
      const index = !/^(-f|--find-links)$/.test(m[1]);
      // pip reads a relative find-links from its file's directory when it is there, else (as an
      // index) from its working directory, the requirements' directory in the venv step.
      const from = !index && !URL.test(m[2]) && (await exists(path.resolve(dir, m[2]), reader)) ? dir : requirementsDir;
      sources.push({ line, index, place: placeInImage(m[2], desc, from) });
    }
  }
  // pip with --no-index reads no index, wherever the option is.
  const read = sources.filter((s) => !(noIndex && s.index));
  // pip's --find-links of the venv step (lifecycle/install-venv.ts): the app and requirements directories.
  const dirs = [...new Set([desc.dir, requirementsDir])];
  const flat = [...dirs, ...read.flatMap((s) => ('here' in s.place && !s.index ? [s.place.here] : []))];
  const local = new Set((await Promise.all(flat.map((dir) => projectsIn(dir, reader)))).flatMap((set) => [...set]));
  const indexes = read.flatMap((s) => ('here' in s.place && s.index ? [s.place.here] : []));
  // A remote index or find-links may hold any requirement, and an include pip fetches may name
  // one: what they hold is the build's to learn.
  const remote = tree.unknown || read.some((s) => 'remote' in s.place);
  const missing = [...tree.problems];
  let unfound = false;
  for (const line of lines) {
    if (line.startsWith('-')) continue; // options (-r, -c, --hash ...) are pip's to judge
    const direct = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*)?(\S+)/.exec(line)![1];
    const vcs = /^(git|hg|svn|bzr)\+/i.exec(direct);
    if (vcs) {
      const tool = vcs[1].toLowerCase();
      if (!desc.deb.includes(VCS[tool])) missing.push(`${withoutCredentials(line)}: pip runs ${tool} for it, which the image has only when deb: names ${VCS[tool]}`);
    } else if (URL.test(direct) || DIST_FILE.test(line) || line.includes('/')) {
      // pip fetches a direct URL, --no-index or not; a file: one, or a path, it reads where the image has it.
      const place = placeInImage(URL.test(direct) ? direct : line.split(/[;\s]/)[0], desc, requirementsDir);
      if ('away' in place) missing.push(awayWords(line, place, desc, requirementsDir));
      else if ('here' in place && !(await exists(place.here, reader))) missing.push(`${line}: no such file`);
    } else {
      const name = /^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(line)?.[0];
      if (name === undefined || local.has(normalise(name)) || remote) continue;
      if ((await Promise.all(indexes.map((index) => indexHas(index, normalise(name), reader)))).some(Boolean)) continue;
      unfound = true;
      const where = [...flat, ...indexes.map((index) => `the index ${index}`)];
      missing.push(`${line}: no wheel or sdist of ${name} in ${where.join(' or ')}`);
    }
  }
  // Where the requirements send pip outside the build context: why a requirement above is not found there.
  if (unfound) {
    for (const s of read) {
      if ('away' in s.place) missing.push(awayWords(s.line, s.place, desc, requirementsDir));
    }
  }
  return missing;
}

/**
 * A line as the recipe's comment and stderr say it: a URL's user and password (`https://TOKEN@`,
 * a deploy token) are a secret of the host's, not the app's, and a Containerfile is committed.
 */
function withoutCredentials(line: string): string {
  return line.replace(/(:\/\/)[^/@\s]*@/g, '$1');
}

/** `-r FILE`, `--requirement=FILE`, `-c FILE`: a line including another file, and its target. */
const INCLUDE_OPTION = /^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s*)(\S+)$/;

interface Tree {
  /** Every line but the includes, each with its file's directory, and whether that file is a constraints file (-c). */
  lines: { text: string; dir: string; constraint: boolean }[];
  /** What the image's pip cannot read of the includes. */
  problems: string[];
  /** An include pip fetches (`-r https://...`): what it names cannot be told here. */
  unknown: boolean;
}

/**
 * The lines of `file` (whose text is `text`) and of each file it includes with -r or -c, at any
 * depth, as the image's pip reads them: lines continued by a backslash joined (pip's `NAME \`
 * then `==1.0` is one requirement, not a requirement "NAME \" said missing), an include relative
 * to its file, outside the app directory or missing, said in `problems`. A constraints file (-c,
 * `constraint`) names nothing to install, but its options (`--find-links`, `--index-url`,
 * `--no-index`) are pip's for the whole install, and a -r in it includes requirements, as pip has it.
 */
async function readTree(file: string, text: string, desc: Pick<Description, 'dir' | 'pip' | 'name' | 'version'>, reader: FileReader | null, seen: Set<string>, tree: Tree, constraint: boolean): Promise<void> {
  const dir = path.dirname(file);
  for (const { line } of logicalLines(text)) {
    const include = INCLUDE_OPTION.exec(line);
    if (include === null) {
      tree.lines.push({ text: line, dir, constraint });
      continue;
    }
    const nested = include[1] === '-c' || include[1] === '--constraint';
    const place = placeInImage(include[2], desc, dir);
    if ('remote' in place) tree.unknown = true;
    else if ('away' in place) tree.problems.push(awayWords(line, place, desc, dir));
    else if (!seen.has(place.here)) {
      seen.add(place.here);
      const included = await readFileAsUserCould(place.here, reader).then(
        (b) => b.toString('utf8'),
        (err: unknown) => {
          tree.problems.push(`${line} (in ${path.relative(desc.dir, file)}): ${err instanceof UserCannotRead ? `cannot be read: ${err.message}` : 'no such file'}`);
          return null;
        },
      );
      if (included !== null) await readTree(place.here, included, desc, reader, seen, tree, nested);
    }
  }
}

/** Whether `file` is there as `reader` could see it (listed in its directory). */
async function exists(file: string, reader: FileReader | null): Promise<boolean> {
  return (await listDir(path.dirname(file), reader)).includes(path.basename(file));
}
