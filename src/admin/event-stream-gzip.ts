// /events gzipped for a client that takes gzip (docs/admin.md, "Compression"): its first event is
// the whole status (~1 MB with 300 apps, ~25 KB gzipped), which is what the status page waits for
// over a slow link. Each chunk better-sse writes (an event, a keep-alive comment) is flushed
// through the gzip stream at once (Z_SYNC_FLUSH), so no event waits for the next to be sent.
// Loaded with better-sse, at the first stream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, createGzip } from 'node:zlib';
import { NodeHttp1Connection, type Connection } from 'better-sse';
import { endStreamWith, streamEnded } from './stream-end.js';

/** A connection for better-sse whose chunks go gzipped; `queued`: bytes not yet compressed and sent on. */
export function gzipEventConnection(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): { connection: Connection; queued: () => number } {
  const gzip = createGzip();
  // Written on by hand, not piped: the end is the stream's (the trailer after the gzip's last
  // block, stream-end.ts), and a response already ended takes nothing more.
  gzip.on('data', (chunk: Buffer) => {
    if (!streamEnded(res)) res.write(chunk);
  });
  gzip.on('error', () => res.destroy());
  res.once('close', () => gzip.destroy());
  if (res.destroyed) gzip.destroy();
  // The gzip's last block before the trailer: a client reading the body through gunzip would
  // otherwise end on a truncated stream.
  endStreamWith(res, (end) => {
    if (gzip.destroyed) return end();
    gzip.once('end', end);
    gzip.end();
  });
  class GzipConnection extends NodeHttp1Connection {
    override sendChunk = (chunk: string): void => {
      if (gzip.writableEnded || gzip.destroyed) return;
      gzip.write(chunk);
      gzip.flush(constants.Z_SYNC_FLUSH);
    };
  }
  const connection = new GzipConnection(req, res, { headers: { ...headers, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } });
  return { connection, queued: () => gzip.writableLength + gzip.readableLength };
}
