// `static:` mappings served by Node itself, never reaching Python: Content-Type, ETag and
// Last-Modified with conditional requests, a single byte Range (RFC 9110 §14), HEAD. A URL
// never leaves the mapped directory (the router resolved its dot segments, encoded or not,
// and refused a `..` above the root; what could still mean "up" is refused here). Symlinks in it
// are followed as nginx follows them by default, so that a Debian package's links into
// /usr/share/javascript work; but the gateway may run as root, where nginx's worker runs as an
// unprivileged user, so a link that leaves the directory is followed only to a file anyone on
// the host could read (world-readable, every directory above it searchable by all): never to
// /etc/shadow or into another app's 0700 data directory. A broken or refused link is a 404
// and a line in the app's log.
// This file finds the file and keeps the cache; static-response.ts writes the response.
//
// Speed (issue 11: at least 0.8x nginx on the same file). Finding a file costs a realpath and
// a stat, reading it an open, reads and a close: each a round trip through libuv's thread pool.
// That was ~270 us of the gateway's CPU per 16 KiB file (wrk -c32, 2 cores), six times a hello
// proxied to Python. So files up to CACHED_FILE_MAX live in memory with their 200's headers
// built once, and a request for one is a map lookup, then writeHead + end(buffer); on the lean
// lane (lean-lane.ts) that is ~25-30 us in all, ~1.5 us of it this file's (nginx with
// sendfile: ~25 us over its two workers). Larger files stream from disk.
//
// Freshness: an entry is trusted for REVALIDATE_MS after it was last checked. The first request
// after that resolves the path again (realpath, the symlink rule, stat) and keeps the entry only
// if it is the same file (real path, inode, size, mtime, ctime); otherwise it reads it anew. So a
// file changed, replaced or removed on disk, or a symlink re-pointed out of the directory, is
// served as it was for at most REVALIDATE_MS. A file asked for in the second half of that is
// looked at meanwhile (recheck), so under steady traffic no request waits for the disk. Why a
// time bound rather than fs.watch: inotify watches one directory each (a tree takes one per
// subdirectory, under a per-user limit), does not see a change behind a symlink to elsewhere,
// and differs off Linux; two stats a second per hot file cost nothing measurable, and
// Last-Modified has a one-second resolution anyway. A new version of an app is a new directory
// with new mounts: a deploy never meets the old entries.
import { promises as fs, realpathSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, sep } from 'node:path';
import { sendError } from './error-response.js';
import { normalizePrefix } from './router.js';
import { describe, respond, type FileInfo } from './static-response.js';

/** How long a cached file is served without looking at the disk: the staleness bound. */
export const REVALIDATE_MS = 1000;
/** Files up to this size are kept in memory (a site's CSS, scripts, icons); larger ones stream. */
export const CACHED_FILE_MAX = 256 * 1024;
/** The whole cache, across apps: the bytes it may hold, and how many files. */
const CACHE_BYTES = 8 * 1024 * 1024;
const CACHE_ENTRIES = 4096;
/** An entry nobody asked for in this long leaves at the next insertion (an old version's, say). */
const IDLE_MS = 60_000;

export interface StaticMount {
  /** Writes a line to the app's log (a static symlink that is broken or leads where it may not). */
  report: (line: string) => void;
  /** Path prefix inside the app ('/static'), no trailing slash. */
  prefix: string;
  /** Absolute directory, symlinks resolved. */
  root: string;
}

interface CachedFile extends FileInfo {
  body: Buffer;
  /** performance.now() when the disk was last looked at (before the look, to err early). */
  checkedAt: number;
  /** A look at the disk is under way for it (refresh-ahead, below). */
  rechecking: boolean;
}

/**
 * mount root + NUL + the path inside it -> the file. Map order is the order of the last checks,
 * so its head is what went longest unasked: eviction takes from there.
 */
const cache = new Map<string, CachedFile>();
let cachedBytes = 0;

/** An app's `static:` (prefix -> directory under `appDir`) as mounts, longest prefix first. */
export function staticMounts(appDir: string, mapping: Record<string, string>, report: (line: string) => void = () => {}): StaticMount[] {
  return Object.entries(mapping)
    .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), root: realpathOr(join(appDir, dir)), report }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // not there (yet): serving from it answers 404
  }
}

/**
 * The mount whose prefix covers `routed` (PATH_INFO as the router compares it: an encoded slash
 * is no separator, so `/static%2Fx.css` is not under `/static`), with the file path inside it
 * cut from `pathInfo` (the same path decoded, char for char); null if none.
 */
export function matchStatic(mounts: StaticMount[], routed: string, pathInfo = routed): { mount: StaticMount; rest: string } | null {
  for (const mount of mounts) {
    // The prefix, then the end or a '/' (every request to the app passes here: no allocation).
    if (routed.startsWith(mount.prefix) && (routed.length === mount.prefix.length || routed.charCodeAt(mount.prefix.length) === 47)) {
      return { mount, rest: pathInfo.slice(mount.prefix.length) };
    }
  }
  return null;
}

function hasTraversal(rest: string): boolean {
  // The router already removed dot segments from the decoded path; refuse what remains that
  // could still mean "up" on some filesystem (backslashes, NUL) rather than guess.
  return rest.split('/').some((s) => s === '..' || s === '.') || rest.includes('\\') || rest.includes('\0');
}

/** Answers a request under `mount`: from memory when a checked copy is fresh, else via the disk. */
export function serveStatic(req: IncomingMessage, res: ServerResponse, mount: StaticMount, rest: string): void | Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, { headers: { Allow: 'GET, HEAD' } });
    return;
  }
  // Only a path that passed every check below is ever a key (a root holds no NUL).
  const key = `${mount.root}\0${rest}`;
  const cached = cache.get(key);
  if (cached !== undefined) {
    const age = performance.now() - cached.checkedAt;
    if (age < REVALIDATE_MS) {
      if (age >= REVALIDATE_MS / 2 && !cached.rechecking) void recheck(mount, rest, key, cached);
      respond(req, res, cached, cached.body);
      return;
    }
  }
  return lookUp(req, res, mount, rest, key, cached);
}

/**
 * Refresh-ahead: a file still asked for in the second half of its trust is looked at on disk
 * meanwhile, so that under steady traffic no request waits for the disk (nor do all the
 * requests of the moment it would have gone stale). The bound holds as before: the entry is
 * trusted anew only from the time this look began, and dropped if the file is not the same.
 */
async function recheck(mount: StaticMount, rest: string, key: string, cached: CachedFile): Promise<void> {
  cached.rechecking = true;
  const checkedAt = performance.now();
  const found = await resolve(mount, rest).catch(() => null);
  cached.rechecking = false;
  if (cache.get(key) !== cached) return; // replaced or evicted meanwhile
  if (!retrusted(key, cached, found, checkedAt)) forget(key); // the next request reads it anew (or answers 404)
}

/** Trusts `cached` again from `checkedAt` when the disk still has the same file; false when not. */
function retrusted(key: string, cached: CachedFile, found: { file: string; stat: Stats } | null, checkedAt: number): boolean {
  if (found === null || cached.file !== found.file || !sameVersion(cached, found.stat)) return false;
  cached.checkedAt = checkedAt;
  cache.delete(key); // to the tail: checked last, evicted last
  cache.set(key, cached);
  return true;
}

/** The disk's answer: a new or changed file is read (or streamed), an unchanged one re-trusted. */
async function lookUp(req: IncomingMessage, res: ServerResponse, mount: StaticMount, rest: string, key: string, cached: CachedFile | undefined): Promise<void> {
  const checkedAt = performance.now();
  const found = hasTraversal(rest) ? null : await resolve(mount, rest).catch(() => null);
  if (found === null) {
    if (cached !== undefined) forget(key);
    sendError(res, 404);
    return;
  }
  if (cached !== undefined && retrusted(key, cached, found, checkedAt)) {
    respond(req, res, cached, cached.body);
    return;
  }
  if (cached !== undefined) forget(key);
  if (found.stat.size > CACHED_FILE_MAX) {
    respond(req, res, describe(found.file, found.stat), null);
    return;
  }
  const read = await readWhole(found.file).catch(() => null);
  if (read === null || !read.stat.isFile()) {
    sendError(res, 404);
    return;
  }
  const info = describe(found.file, read.stat);
  if (read.body === null) {
    respond(req, res, info, null); // grew past the limit, or changed while read: stream it
    return;
  }
  remember(key, { ...info, body: read.body, checkedAt, rechecking: false });
  respond(req, res, info, read.body);
}

/** `rest` under the mount as a real path and its stat; a directory means its index.html. */
async function resolve(mount: StaticMount, rest: string): Promise<{ file: string; stat: Stats } | null> {
  let file = await followed(mount, join(mount.root, rest));
  if (file === null) return null;
  let stat = await fs.stat(file);
  if (stat.isDirectory()) {
    // The index may be a symlink as well: the same rule holds for it.
    file = await followed(mount, join(file, 'index.html'));
    if (file === null) return null;
    stat = await fs.stat(file);
  }
  return stat.isFile() ? { file, stat } : null;
}

/** The real path of `path`, or null (logged) when it is a broken link, or leads out to what not everyone may read. */
async function followed(mount: StaticMount, path: string): Promise<string | null> {
  let real: string;
  try {
    real = await fs.realpath(path);
  } catch (err) {
    const link = await fs.lstat(path).then((s) => s.isSymbolicLink(), () => false);
    if (link) mount.report(`static: ${path} is a broken symlink (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}); answered 404`);
    return null;
  }
  if (isInside(mount.root, real) || (await readableByAnyone(real))) return real;
  mount.report(`static: ${path} leads to ${real}, outside ${mount.root} and not readable by everyone on the host; answered 404`);
  return null;
}

function isInside(root: string, file: string): boolean {
  return file === root || file.startsWith(root + sep);
}

/** Whether a user with no special rights could read `file`: other-readable, every directory above other-searchable. */
async function readableByAnyone(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if ((stat.mode & 0o004) === 0 && !stat.isDirectory()) return false;
    if (stat.isDirectory() && (stat.mode & 0o005) !== 0o005) return false;
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      if (((await fs.stat(dir)).mode & 0o001) === 0) return false;
      if (dir === dirname(dir)) return true;
    }
  } catch {
    return false;
  }
}

/**
 * The whole file through one descriptor, so that its bytes and the stat they are described by
 * are of the same inode; body null when it is too large or was written to while being read.
 */
async function readWhole(file: string): Promise<{ stat: Stats; body: Buffer | null }> {
  const handle = await fs.open(file, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size > CACHED_FILE_MAX) return { stat, body: null };
    // Unpooled: a small cached file must not pin a shared 8 KiB pool slab for its lifetime.
    const body = Buffer.allocUnsafeSlow(stat.size);
    let length = 0;
    while (length < body.length) {
      const { bytesRead } = await handle.read(body, length, body.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    const after = await handle.stat();
    return length === stat.size && sameVersion(stat, after) ? { stat, body } : { stat: after, body: null };
  } finally {
    await handle.close();
  }
}

function sameVersion(a: Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>, b: Stats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function remember(key: string, entry: CachedFile): void {
  forget(key);
  cache.set(key, entry);
  cachedBytes += entry.body.length;
  const idleSince = performance.now() - IDLE_MS;
  for (const [oldest, old] of cache) {
    if (cachedBytes <= CACHE_BYTES && cache.size <= CACHE_ENTRIES && old.checkedAt >= idleSince) break;
    cache.delete(oldest);
    cachedBytes -= old.body.length;
  }
}

function forget(key: string): void {
  const old = cache.get(key);
  if (old === undefined) return;
  cache.delete(key);
  cachedBytes -= old.body.length;
}
