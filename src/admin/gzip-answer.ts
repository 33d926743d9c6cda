// The admin listener's whole answers (the page, its script and style, /status, /metrics, errors)
// written gzipped when the client takes gzip (docs/admin.md, "Compression"): ~580 KB of status at
// 300 apps and the page's script took minutes over a slow link (an SSH tunnel, a phone). The
// streams are written by their own modules, as they come: /events through event-stream-gzip.ts,
// which flushes after every event (a gzip stream holds back what it has not flushed, and a live
// event must not wait for the next); a followed log uncompressed.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type * as Zlib from 'node:zlib';

/**
 * Below this a body goes as it is: an error or an action's answer fits in one packet either way,
 * and gzip's frame (18 bytes) and a trip to the thread pool are then all it would add.
 */
export const GZIP_MIN_BYTES = 1024;

/**
 * zlib, loaded at the first answer that is gzipped: most gateways' admin listeners are asked
 * nothing but a `status` now and then, and the front's idle RSS is counted (docs/performance.md).
 */
let zlib: Promise<typeof Zlib> | null = null;

/**
 * Whether an `Accept-Encoding` value takes gzip (RFC 9110 section 12.5.3): `gzip` or `x-gzip`
 * with a q above 0, or, when neither is named, `*` with a q above 0. `gzip;q=0` refuses it.
 */
export function takesGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  let named: boolean | null = null;
  let any = false;
  for (const item of acceptEncoding.split(',')) {
    const [coding, ...params] = item.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((p) => /^q\s*=/.test(p));
    const wanted = q === undefined || Number(q.slice(q.indexOf('=') + 1).trim()) > 0;
    if (coding === 'gzip' || coding === 'x-gzip') named = (named ?? false) || wanted;
    else if (coding === '*') any = wanted;
  }
  return named ?? any;
}

/** `body` gzipped, off the event loop (zlib's thread pool): a big status must not stall the proxy. */
export async function gzipBody(body: Buffer): Promise<Buffer> {
  const { gzip } = await (zlib ??= import('node:zlib'));
  return new Promise((resolve, reject) => gzip(body, (err, out) => (err === null ? resolve(out) : reject(err))));
}

/**
 * Writes a whole answer: gzipped (`Content-Encoding: gzip`) when the request takes it and the
 * body is at least GZIP_MIN_BYTES, as it is otherwise. `Vary: Accept-Encoding` on every answer
 * that could have gone either way, so that no cache gives one client's form to another.
 * `gzipped`: the body already compressed (a cached page file), else it is compressed here.
 */
export async function writeAnswer(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer, gzipped?: () => Promise<Buffer>): Promise<void> {
  if (body.length < GZIP_MIN_BYTES) return writeWhole(res, status, headers, body);
  const vary = { ...headers, Vary: 'Accept-Encoding' };
  if (!takesGzip(res.req.headers['accept-encoding'])) return writeWhole(res, status, vary, body);
  let compressed: Buffer;
  try {
    compressed = await (gzipped ?? (() => gzipBody(body)))();
  } catch {
    // zlib failing (out of memory) costs the client its savings, not its answer.
    return writeWhole(res, status, vary, body);
  }
  return writeWhole(res, status, { ...vary, 'Content-Encoding': 'gzip' }, compressed);
}

function writeWhole(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer): void {
  // The client may have left while the body was compressed.
  if (res.destroyed) return;
  if (res.headersSent) return void res.end();
  res.writeHead(status, { ...headers, 'Content-Length': body.length });
  res.end(body);
}

/**
 * The page's files gzipped once each, not at every request: keyed by the file and its identity
 * (device, inode, size, mtime), so a package upgraded in place is compressed again, as it is
 * read again (admin-server.ts reads the files at each request).
 */
export class GzippedFiles {
  private readonly files = new Map<string, { identity: string; gzipped: Promise<Buffer> }>();

  /** `body` (the file `file` whose identity is `identity`) gzipped, compressed at the first ask. */
  gzipped(file: string, identity: string, body: Buffer): Promise<Buffer> {
    const known = this.files.get(file);
    if (known !== undefined && known.identity === identity) return known.gzipped;
    const gzipped = gzipBody(body);
    this.files.set(file, { identity, gzipped });
    // A failure is not kept: the next request tries again.
    gzipped.catch(() => {
      if (this.files.get(file)?.gzipped === gzipped) this.files.delete(file);
    });
    return gzipped;
  }
}
