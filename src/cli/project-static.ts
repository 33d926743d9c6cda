// The `static:` mappings init writes for a project: a static/ directory at its top (Django's
// STATIC_ROOT, Flask's static folder) at /static, and a Pecan project's static_root (`pecan
// create` makes public/css and public/images, which its templates link as /css/style.css and
// /images/logo.png). Pecan serves static_root from `/` only with debug: True, through its
// StaticFileMiddleware, and warns that it is ignored otherwise: a production config served
// its pages without their stylesheet. A prefix is not `/` itself, so each directory in it is
// mapped at its own name.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

export interface StaticMapping {
  /** The URL prefix, `/static`. */
  prefix: string;
  /** The directory, relative to the project, with a trailing `/`: `public/css/`. */
  dir: string;
}

/** Pecan's `'static_root': '%(confdir)s/public'` (its default, `public`, when the key is absent). */
const STATIC_ROOT = /['"]static_root['"]\s*:\s*['"]([^'"]+)['"]/;

/**
 * What init maps under `static:` for the project in `root`; `pecanConfig` is the project's
 * Pecan configuration file (relative to `root`) when it is a Pecan project, else null.
 */
export function projectStatic(root: string, pecanConfig: string | null): StaticMapping[] {
  const mappings: StaticMapping[] = isDirectory(join(root, 'static')) ? [{ prefix: '/static', dir: 'static/' }] : [];
  const pecanRoot = pecanConfig === null ? null : pecanStaticRoot(root, pecanConfig);
  if (pecanRoot === null) return mappings;
  for (const name of subdirectories(join(root, pecanRoot))) {
    const prefix = `/${name}`;
    if (!mappings.some((m) => m.prefix === prefix)) mappings.push({ prefix, dir: `${pecanRoot}/${name}/` });
  }
  return mappings;
}

/**
 * The files directly in a Pecan project's static_root (`public/favicon.ico`, `public/robots.txt`),
 * relative to `root`, sorted: at `/favicon.ico` under Pecan's debug: True, and served by no
 * mapping init writes, since a `static:` prefix maps a directory (check refuses a file) and is
 * never `/` itself. init says so in the app.yaml rather than leave them to 404 unnoticed.
 */
export function pecanUnmappedFiles(root: string, pecanConfig: string | null): string[] {
  const pecanRoot = pecanConfig === null ? null : pecanStaticRoot(root, pecanConfig);
  if (pecanRoot === null) return [];
  try {
    return readdirSync(join(root, pecanRoot), { withFileTypes: true })
      .filter((e) => (e.isFile() || (e.isSymbolicLink() && isFile(join(root, pecanRoot, e.name)))) && !e.name.startsWith('.'))
      .map((e) => `${pecanRoot}/${e.name}`)
      .sort();
  } catch {
    return [];
  }
}

/** The Pecan configuration's static_root, relative to `root`; null when it leaves the project or is no directory. */
function pecanStaticRoot(root: string, config: string): string | null {
  let text: string;
  try {
    text = readFileSync(join(root, config), 'utf8');
  } catch {
    return null;
  }
  const confdir = dirname(join(root, config));
  const written = STATIC_ROOT.exec(text)?.[1] ?? 'public';
  const expanded = written.replace('%(confdir)s', confdir);
  const dir = relative(root, isAbsolute(expanded) ? expanded : join(confdir, expanded));
  if (dir === '' || dir === '..' || dir.startsWith(`..${sep}`) || isAbsolute(dir) || !isDirectory(join(root, dir))) return null;
  return dir.split(sep).join('/');
}

/** The directories in `dir` a URL can name, sorted; none when it cannot be read. */
function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && /^[A-Za-z0-9_][\w.-]*$/.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
