// The access log's size column is the response body's bytes, as the combined format's %b (nginx's
// $body_bytes_sent): not the head, not the chunked framing. A lean response counts its own
// (lean-response.ts); a node:http response is counted here, as its body is written.
import type { ServerResponse } from 'node:http';

const kBodyBytes = Symbol('apppkg.bodyBytes');

type Counted = ServerResponse & { [kBodyBytes]?: number; bodyBytes?: number };

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** From now on, what `res.write()` and `res.end()` are given for its body is counted. */
export function countBodyBytes(res: ServerResponse): void {
  const counted = res as Counted;
  counted[kBodyBytes] = 0;
  const { write, end } = res;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    counted[kBodyBytes]! += byteLength(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (typeof args[0] !== 'function') counted[kBodyBytes]! += byteLength(args[0], args[1]);
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.end;
}

/** `res` is logged with `bytes` sent: the body of the answer the gateway wrote on the connection in its place. */
export function setBodyBytes(res: ServerResponse, bytes: number): void {
  (res as Counted).bodyBytes = bytes;
}

/** The body bytes `res` sent: none for a HEAD, a 204 or a 304, whatever the app wrote. */
export function bodyBytesOf(res: ServerResponse, method: string | undefined): number {
  if (method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return 0;
  const counted = res as Counted;
  return counted.bodyBytes ?? counted[kBodyBytes] ?? 0;
}
