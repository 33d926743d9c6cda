// The response for one static file, once static-files.ts has found it: the 200's headers built
// once per version of the file (Content-Type from the extension, ETag, Last-Modified), then 304
// for a conditional request that matches, a single byte range (206, or 416), HEAD, and the body
// from memory when the cache holds it or streamed from the disk (RFC 9110 §13, §14).
import { createReadStream, type Stats } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { bodyBytesPassed } from '../net/body-garbage.js';
import { sendError } from './error-response.js';

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

/** What a response needs to know about one file, validators and the 200's headers included. */
export interface FileInfo {
  /** The real path: symlinks resolved, inside the mount's root. */
  file: string;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  etag: string;
  lastModified: string;
  headers: OutgoingHttpHeaders;
}

/** A file's validators and its 200's headers, from its stat. */
export function describe(file: string, stat: Stats): FileInfo {
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString();
  return {
    file,
    ino: stat.ino,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
    etag,
    lastModified,
    headers: {
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(stat.size),
      ETag: etag,
      'Last-Modified': lastModified,
      'Accept-Ranges': 'bytes',
    },
  };
}

/** 304, 416, 206 or 200 for `info`, the bytes from `body` when cached, else from the disk. */
export function respond(req: IncomingMessage, res: ServerResponse, info: FileInfo, body: Buffer | null): void {
  if (preconditionFails(req, info.etag, info.mtimeMs)) {
    sendError(res, 412, { detail: 'the file is not the one If-Match or If-Unmodified-Since names', headers: { ETag: info.etag, 'Last-Modified': info.lastModified } });
    return;
  }
  if (isNotModified(req, info.etag, info.mtimeMs)) {
    res.writeHead(304, { ETag: info.etag, 'Last-Modified': info.lastModified });
    res.end();
    return;
  }
  let start = 0;
  let end = info.size - 1;
  let status = 200;
  let headers = info.headers;
  const range = req.headers.range;
  if (range !== undefined && rangeApplies(req, info.etag, info.lastModified)) {
    const parsed = parseRange(range, info.size);
    if (parsed === 'unsatisfiable') {
      sendError(res, 416, { headers: { 'Content-Range': `bytes */${info.size}` } });
      return;
    }
    if (parsed) {
      [start, end] = parsed;
      status = 206;
      headers = { ...headers, 'Content-Range': `bytes ${start}-${end}/${info.size}`, 'Content-Length': String(end - start + 1) };
    }
  }
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || info.size === 0) {
    res.end();
    return;
  }
  if (body !== null) {
    res.end(start === 0 && end === body.length - 1 ? body : body.subarray(start, end + 1));
    return;
  }
  sendFile(res, info.file, start, end);
}

/** Bytes of a streamed file written to a response and not yet in the kernel's hands, at most. */
const FILE_WINDOW = 128 * 1024;

/**
 * Streams `file` from `start` to `end` into `res`, holding at most FILE_WINDOW of it unflushed:
 * a client that reads slowly holds the file, not the gateway's memory; what was written counts
 * toward the young GC that frees read buffers (net/body-garbage.ts). Counted by the write's
 * callback (a flush), which node:http's ServerResponse and the lean lane's response both call;
 * not by write()'s return value, which the lean response does not give.
 */
function sendFile(res: ServerResponse, file: string, start: number, end: number): void {
  const stream = createReadStream(file, { start, end });
  let unflushed = 0;
  stream.on('data', (chunk: string | Buffer) => {
    unflushed += chunk.length;
    res.write(chunk, () => {
      unflushed -= chunk.length;
      bodyBytesPassed(chunk.length); // each read is a fresh buffer, garbage once written
      if (unflushed < FILE_WINDOW && stream.isPaused()) stream.resume();
    });
    if (unflushed >= FILE_WINDOW) stream.pause();
  });
  stream.on('end', () => res.end());
  stream.on('error', () => res.destroy());
  res.once('close', () => stream.destroy());
}

/**
 * RFC 9110 §13.2.2, steps 1 and 2, before If-None-Match: If-Match compares strongly (a weak
 * tag never matches), and only without it If-Unmodified-Since counts (an invalid date is
 * ignored). Either failing is a 412: the client's copy is not this file.
 */
function preconditionFails(req: IncomingMessage, etag: string, mtimeMs: number): boolean {
  const im = req.headers['if-match'];
  if (im !== undefined) return !im.split(',').some((t) => t.trim() === '*' || t.trim() === etag);
  const ius = req.headers['if-unmodified-since'];
  if (ius) {
    const since = Date.parse(ius);
    return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 > since;
  }
  return false;
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
