// Which app packages there are: under --apps, every directory (or symlink to one) holding
// app.yaml, loaded and grouped by app name, highest version first (SPEC §1.2); under serve,
// the one directory given. A broken description is reported, never fatal.
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { namingFixes, type CommandWords } from '../command-words.js';
import { loadDescription, type LoadDescriptionOptions } from '../description/load.js';
import { misnamedDescriptionError } from '../description/misnamed.js';
import { compareVersions, parsePackageDirName } from '../description/package-dir.js';
import type { Description } from '../description/types.js';
import { GatewayError, isGatewayError } from '../errors.js';

export interface DiscoveredApp {
  name: string;
  /** Loadable versions, highest first. */
  versions: Description[];
  /** Symlinks under --apps to one of them (`blog -> blog.1.9`), as found: `path` the link, `dir` its real target. */
  links?: Array<{ path: string; target: string; dir: string }>;
}

export interface BrokenPackage {
  /** The directory as found under --apps (or given to serve). */
  dir: string;
  error: GatewayError;
  /**
   * True for a symlink refused for where it leads (a directory another entry serves as another
   * app), whose app.yaml loads: its real directory's description is not what is wrong.
   */
  loads?: boolean;
}

export interface Discovery {
  apps: DiscoveredApp[];
  broken: BrokenPackage[];
}

/** Where the registry's desired state comes from. */
export type AppSource = () => Promise<Discovery>;

/**
 * `source` with each broken package's fix in `words`: a program running a Gateway was told to
 * run `apppkg-gateway describe DIR` for an app.yaml with problems, `init` for none.
 */
export function namingBroken(source: AppSource, words: Pick<CommandWords, 'fixDetails'>): AppSource {
  return async () => {
    const found = await source();
    return { ...found, broken: found.broken.map((b) => ({ ...b, error: namingFixes(b.error, words, b.dir) })) };
  };
}

/** `dir` with symlinks resolved, to tell whether a broken package is one that serves. */
export function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

function asError(err: unknown, dir: string): GatewayError {
  return isGatewayError(err) ? err : new GatewayError('APPPKG_FILE_UNREADABLE', { file: join(dir, 'app.yaml'), reason: String(err), cause: err });
}

/** APPPKG_APPS_LINK_BROKEN when `dir` is a symlink that leads nowhere (ENOENT) or to itself (ELOOP); else null. */
function brokenLink(dir: string, code: 'ENOENT' | 'ELOOP'): GatewayError | null {
  try {
    if (!lstatSync(dir).isSymbolicLink()) return null;
    return new GatewayError('APPPKG_APPS_LINK_BROKEN', { dir, target: readlinkSync(dir), loop: code === 'ELOOP' });
  } catch {
    return null; // removed while we looked
  }
}

/** A package under --apps that loads: `target` the link's text for a symlink, else null. */
interface Loaded {
  path: string;
  target: string | null;
  desc: Description;
}

/**
 * For a symlink whose real directory another entry serves under another app name (`shoplink ->
 * shop.1.2` beside `shop.1.2`), that entry; else null. Each would have run the one directory as
 * an app of its own, with workers, data and database of its own, `update` hooks run twice. The
 * directory's own entry keeps it; of links alone (`a -> /srv/x`, `b -> /srv/x`), the first.
 */
function otherAppOf(path: string, desc: Description, loaded: readonly Loaded[]): Loaded | null {
  const same = loaded.filter((l) => l.desc.dir === desc.dir);
  const keeper = same.find((l) => l.target === null) ?? same[0];
  return keeper.path === path || keeper.desc.name === desc.name ? null : keeper;
}

/**
 * Every package under `appsDir` (--apps); `readerFor`: as root, whose rights each app.yaml is
 * shown with, `environmentKey`: what its fixes call the environment file's option (load.ts).
 */
export function appsDirSource(appsDir: string, readerFor?: LoadDescriptionOptions['readerFor'], environmentKey?: string): AppSource {
  return async () => {
    const broken: BrokenPackage[] = [];
    const loaded: Loaded[] = [];
    const entries = readdirSync(appsDir).filter((e) => !e.startsWith('.')).sort();
    for (const entry of entries) {
      const dir = join(appsDir, entry);
      try {
        // A directory, FIFO, socket or device at app.yaml's place is loaded, to be refused as a
        // broken package by name: skipped, a running app whose user put one there was stopped
        // as "removed" without a word, and a new package never appeared in the log or status.
        if (!statSync(dir).isDirectory()) continue;
        statSync(join(dir, 'app.yaml')); // none: no package, or a misnamed one (below)
      } catch (err) {
        // A directory the gateway may not look into may well be a package: said, not skipped.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES') {
          broken.push({ dir, error: new GatewayError('APPPKG_FILE_UNREADABLE', { file: join(dir, 'app.yaml'), reason: `permission denied: the gateway's user may not look into ${dir}`, cause: err }) });
        }
        // `blog -> blog.2026.11.24` whose target was removed or mistyped is a package that
        // went away, said as such, not as if there never was one.
        const link = code === 'ENOENT' || code === 'ELOOP' ? brokenLink(dir, code) : null;
        if (link !== null) broken.push({ dir, error: link });
        // `blog/app.yml`: a package whose description has another name is said, not passed over.
        const misnamed = code === 'ENOENT' && link === null ? misnamedDescriptionError(dir) : null;
        if (misnamed !== null) broken.push({ dir, error: misnamed });
        continue; // not a package
      }
      try {
        const desc = await loadDescription(dir, { readerFor, environmentKey });
        loaded.push({ path: dir, target: lstatSync(dir).isSymbolicLink() ? readlinkSync(dir) : null, desc });
      } catch (err) {
        broken.push({ dir, error: asError(err, dir) });
      }
    }
    const byName = new Map<string, Description[]>();
    const links = new Map<string, Array<{ path: string; target: string; dir: string }>>();
    for (const { path, target, desc } of loaded) {
      const servedAs = otherAppOf(path, desc, loaded);
      if (servedAs !== null) {
        const details = { dir: path, target, app: desc.name, servedBy: servedAs.path, servedAs: servedAs.desc.name, byLink: servedAs.target !== null };
        broken.push({ dir: path, error: new GatewayError('APPPKG_APPS_LINK_DUPLICATE', details), loads: true });
        continue;
      }
      const list = byName.get(desc.name) ?? [];
      // A symlink (blog -> blog.1.2) and its target are the same package: keep it once.
      if (!list.some((d) => d.dir === desc.dir)) list.push(desc);
      byName.set(desc.name, list);
      if (target !== null) links.set(desc.name, [...(links.get(desc.name) ?? []), { path, target, dir: desc.dir }]);
    }
    const apps = [...byName.entries()]
      // Code-point order: localeCompare would load ICU's collation data (2.6 MiB of RSS).
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, versions]) => ({ name, versions: versions.sort((a, b) => compareVersions(b.version, a.version)), links: links.get(name) ?? [] }));
    return { apps, broken };
  };
}

/**
 * The name of the app `serve` runs from `dir` (its state's apps/NAME): its description's, or,
 * while that does not load (serve --reload waits for a fix), the one its directory gives.
 */
export function servedAppName(dir: string): Promise<string> {
  return loadDescription(dir).then((desc) => desc.name, () => parsePackageDirName(basename(resolve(dir))).name);
}

/** The one package `dir` (serve); `environmentKey` as for appsDirSource. */
export function appDirSource(dir: string, environmentKey?: string): AppSource {
  return async () => {
    try {
      const desc = await loadDescription(dir, { environmentKey });
      return { apps: [{ name: desc.name, versions: [desc] }], broken: [] };
    } catch (err) {
      return { apps: [], broken: [{ dir: resolve(dir), error: asError(err, dir) }] };
    }
  };
}
