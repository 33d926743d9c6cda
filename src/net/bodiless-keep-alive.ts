// An answer with no body (to a HEAD, a 204, a 304: RFC 9112 §6.3) has nothing to delimit, so an
// HTTP/1.0 client that asked to keep the connection (RFC 9112 §9.3) keeps it, as nginx keeps it.
// node:http's _storeHeader keeps an HTTP/1.0 connection only when the answer has a Content-Length
// or may be chunked (which a 1.0 client allows only by TE: chunked), body or none: a HEAD of a
// streamed answer got `Connection: close`. Told it may chunk, it says keep-alive, and still
// writes no framing where there is no body.
import type { IncomingMessage, ServerResponse } from 'node:http';

type ChunkingResponse = ServerResponse & { useChunkedEncodingByDefault: boolean };

/** Keeps `req`'s HTTP/1.0 keep-alive connection after an answer with no body. */
export function keepAliveWithoutBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 0 || !res.shouldKeepAlive) return;
  const writeHead = res.writeHead;
  // Every head node:http writes goes through writeHead (_implicitHeader calls it too).
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const code = Number(args[0]);
    if (req.method === 'HEAD' || code === 204 || code === 304) (this as ChunkingResponse).useChunkedEncodingByDefault = true;
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
