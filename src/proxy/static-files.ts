// `static:` mappings served by Node itself, never reaching Python: Content-Type, ETag and
// Last-Modified with conditional requests, a single byte Range (RFC 9110 §14), HEAD, and no
// way out of the mapped directory (dot segments, encoded or not, and symlinks that leave it).
import { createReadStream, promises as fs, realpathSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { sendError } from './error-response.js';
import { normalizePrefix } from './router.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.wav': 'audio/wav',
};

export interface StaticMount {
  /** Path prefix inside the app ('/static'), no trailing slash. */
  prefix: string;
  /** Absolute directory, symlinks resolved. */
  root: string;
}

/** An app's `static:` (prefix -> directory under `appDir`) as mounts, longest prefix first. */
export function staticMounts(appDir: string, mapping: Record<string, string>): StaticMount[] {
  return Object.entries(mapping)
    .map(([prefix, dir]) => ({ prefix: normalizePrefix(prefix), root: realpathOr(join(appDir, dir)) }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // not there (yet): serving from it answers 404
  }
}

/** The mount whose prefix covers `pathInfo`, with the file path inside it; null if none. */
export function matchStatic(mounts: StaticMount[], pathInfo: string): { mount: StaticMount; rest: string } | null {
  for (const mount of mounts) {
    if (pathInfo === mount.prefix || pathInfo.startsWith(`${mount.prefix}/`)) {
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

export async function serveStatic(req: IncomingMessage, res: ServerResponse, mount: StaticMount, rest: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, { headers: { Allow: 'GET, HEAD' } });
    return;
  }
  if (hasTraversal(rest)) {
    sendError(res, 404);
    return;
  }
  let file = join(mount.root, rest);
  let stat;
  try {
    file = await fs.realpath(file);
    if (file !== mount.root && !file.startsWith(mount.root + sep)) {
      sendError(res, 404);
      return;
    }
    stat = await fs.stat(file);
    if (stat.isDirectory()) {
      file = join(file, 'index.html');
      stat = await fs.stat(file);
    }
  } catch {
    sendError(res, 404);
    return;
  }
  if (!stat.isFile()) {
    sendError(res, 404);
    return;
  }
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString();
  const headers: Record<string, string> = {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    ETag: etag,
    'Last-Modified': lastModified,
    'Accept-Ranges': 'bytes',
  };
  if (isNotModified(req, etag, stat.mtimeMs)) {
    res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified });
    res.end();
    return;
  }
  let start = 0;
  let end = stat.size - 1;
  let status = 200;
  const range = req.headers.range;
  if (range && rangeApplies(req, etag, lastModified)) {
    const parsed = parseRange(range, stat.size);
    if (parsed === 'unsatisfiable') {
      sendError(res, 416, { headers: { 'Content-Range': `bytes */${stat.size}` } });
      return;
    }
    if (parsed) {
      [start, end] = parsed;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
    }
  }
  headers['Content-Length'] = String(Math.max(0, end - start + 1));
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || stat.size === 0) {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end });
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

function isNotModified(req: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    return inm.split(',').some((t) => {
      const tag = t.trim();
      return tag === '*' || tag === etag || tag === `W/${etag}`;
    });
  }
  const ims = req.headers['if-modified-since'];
  if (ims) {
    const since = Date.parse(ims);
    return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
  }
  return false;
}

/** If-Range: only serve the range when the validator still matches (RFC 9110 §13.1.5). */
function rangeApplies(req: IncomingMessage, etag: string, lastModified: string): boolean {
  const ifRange = req.headers['if-range'];
  return ifRange === undefined || ifRange === etag || ifRange === lastModified;
}

/** One range only; a multi-range request is answered with the whole file, which RFC 9110 allows. */
function parseRange(header: string, size: number): [number, number] | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null;
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}
