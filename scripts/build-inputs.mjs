// What dist/ is made from, as one hash: the sources, the build's own scripts, the lock of the
// packages the bundle inlines, and the versions of Node, TypeScript and esbuild. scripts/build.mjs
// writes it into dist/ as its last step; `npm test` builds only when dist/ lacks it or it no longer
// matches. CI's `npm install` has just built (the `prepare` script): a second build there was ~19 s
// of the run's wall time (tsc alone ~15 s, on one core) for the same dist/.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const STAMP = join('dist', '.build-inputs');
const SOURCE_DIRS = ['src', 'schema', 'python-shim'];
const SOURCE_FILES = [
  'package.json', 'package-lock.json', 'tsconfig.json',
  'scripts/build.mjs', 'scripts/build-inputs.mjs', 'scripts/build-validators.mjs', 'scripts/bundle-cli.mjs', 'scripts/merge-chunks.mjs',
];
const TOOLS = ['typescript', 'esbuild'];
/** What the build itself writes beside the sources (the shim's bytecode), or pip leaves there. */
const NOT_SOURCE = /(^|\/)(__pycache__|build|[^/]*\.egg-info)(\/|$)|\.py[co]$/;

function filesUnder(root, dir) {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath ?? entry.path, entry.name)))
    .filter((path) => !NOT_SOURCE.test(path));
}

function inputsHash(root) {
  const hash = createHash('sha256').update(`${process.version}\0`);
  for (const tool of TOOLS) hash.update(`${JSON.parse(readFileSync(join(root, 'node_modules', tool, 'package.json'), 'utf8')).version}\0`);
  const files = [...SOURCE_DIRS.flatMap((dir) => filesUnder(root, dir)), ...SOURCE_FILES].sort();
  for (const path of files) hash.update(`${path}\0`).update(readFileSync(join(root, path))).update('\0');
  return hash.digest('hex');
}

/** Marks dist/ as built from the sources as they are now. */
export function stampBuild(root) {
  writeFileSync(join(root, STAMP), `${inputsHash(root)}\n`);
}

/** Whether dist/ was built, to its end, from the sources as they are now. */
export function builtFromSources(root) {
  try {
    return readFileSync(join(root, STAMP), 'utf8').trim() === inputsHash(root);
  } catch {
    return false;
  }
}
