// What `--apps DIR` must be: a directory whose subdirectories are app packages. The mistakes a
// new user makes (issue 13, item 10) are each named with what was found and what to do: a path
// that is not there (a typo of a directory beside it named as such), a file, an app package
// itself given where its parent was meant, and the parent of the directory of packages.
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { closest } from '../closest.js';
import { countOf } from '../count.js';
import { GatewayError } from '../errors.js';
import { shellWord } from '../shell-words.js';

/**
 * Throws APPPKG_APPS_DIR_INVALID unless `dir` can hold app packages; never creates anything.
 * `key` is what the caller calls it: the CLI's `--apps`, Gateway.start's `apps`.
 */
export function validateAppsDir(dir: string, key = '--apps'): void {
  const invalid = (found: string, fix: string) => new GatewayError('APPPKG_APPS_DIR_INVALID', { found, fix, key });
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      // `--apps /srv/aps` beside /srv/apps: told to mkdir it, a user made a second, empty one.
      const near = nearDirectory(dir);
      const create = `create it (mkdir -p ${dir}) and copy app packages into it, each a directory holding app.yaml`;
      if (near !== undefined) {
        const held = appPackagesIn(near).length;
        throw invalid(`nothing at ${dir}`, `did you mean ${near}${held > 0 ? ` (it holds ${countOf(held, 'app package')})` : ''}? point ${key} at it; or ${create}`);
      }
      throw invalid(`nothing at ${dir}`, `${create}, or point ${key} at the directory that holds them`);
    }
    throw invalid(`${dir}, which cannot be read (${code ?? String(err)})`, 'let the user the gateway runs as read and search the directory');
  }
  if (!isDirectory) {
    throw invalid(`a file (${dir})`, `point ${key} at the directory that holds the app packages (each a directory holding app.yaml)`);
  }
  // stat needs no right on the directory itself: one this user may not list would be served as
  // empty, and watched for packages it can never see.
  try {
    readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw invalid(`${dir}, which this user (uid ${process.getuid?.() ?? '?'}) cannot list (${code})`, `let the user the gateway runs as read and search it (chmod a+rx ${shellWord(dir)}, or run the gateway as its owner)`);
  }
  if (holdsAppYaml(dir)) {
    throw invalid(
      `an app package (${join(dir, 'app.yaml')})`,
      `serve it with ${key.startsWith('-') ? `\`apppkg-gateway serve ${dir}\`` : `Gateway.start({ app: '${dir}' })`}, or point ${key} at its parent, ${dirname(dir)}, which serves every package in it`,
    );
  }
}

function holdsAppYaml(dir: string): boolean {
  try {
    return statSync(join(dir, 'app.yaml')).isFile();
  } catch {
    return false;
  }
}

/** The names of the app packages directly in `dir` (each a directory holding app.yaml), sorted. */
export function appPackagesIn(dir: string): string[] {
  return visibleDirectories(dir).filter((name) => holdsAppYaml(join(dir, name)));
}

/**
 * The directories in `dir` that hold app packages, for an apps directory that holds none itself:
 * `--apps /srv` where the packages are in /srv/apps is served as empty, every URL a 404.
 */
export function appsDirectoriesIn(dir: string): { dir: string; packages: string[] }[] {
  return visibleDirectories(dir)
    .map((name) => ({ dir: join(dir, name), packages: appPackagesIn(join(dir, name)) }))
    .filter((below) => below.packages.length > 0);
}

/** A directory beside `dir` whose name is a typo away from its. */
function nearDirectory(dir: string): string | undefined {
  const parent = dirname(dir);
  const near = closest(basename(dir), visibleDirectories(parent));
  return near === undefined ? undefined : join(parent, near);
}

/** The directories (or links to one) in `dir` whose names do not begin with a dot, sorted; none when it cannot be listed. */
function visibleDirectories(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => !name.startsWith('.') && isDirectory(join(dir, name))).sort();
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
