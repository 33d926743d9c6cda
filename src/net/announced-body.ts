// How many bytes a chunked request body has announced so far: the sizes of its chunk-size
// lines, each added once its line has ended, before the chunk's data comes. Whoever bounds the
// body (the app's max_body, proxy/wsgi-exchange.ts) can refuse it there, as nginx refuses it at
// the size line, rather than pass the app a read that waits for bytes the client may never
// send. Both readers announce: the lean lane's decoder (proxy/lean-connection.ts) and the size
// lines read beside llhttp (net/chunk-size-lines.ts), each on the request the body is of.
import type { EventEmitter } from 'node:events';

/** The event a request emits with its new total when a size line raises it, and at its first size line (a `0` too). */
export const BODY_ANNOUNCED = Symbol('apppkg.bodyAnnounced');
const kAnnounced = Symbol('apppkg.announcedBody');

type Announcing = { [kAnnounced]?: number };

/**
 * `req`'s chunked body has announced `total` bytes in all, a size line having ended: said once
 * per new total, and once at the first line whatever its size (an empty body's only line is `0`).
 */
export function announceBody(req: EventEmitter, total: number): void {
  const held = req as EventEmitter & Announcing;
  const before = held[kAnnounced];
  if (before !== undefined && before >= total) return;
  held[kAnnounced] = total;
  req.emit(BODY_ANNOUNCED, total);
}

/** What `req`'s body has announced so far (0 when it is not chunked, or no size line ended yet). */
export function announcedBody(req: object): number {
  return (req as Announcing)[kAnnounced] ?? 0;
}

/** A size line of `req`'s chunked body has ended: what it announces is known, if only its first line's. */
export function bodySizeKnown(req: object): boolean {
  return (req as Announcing)[kAnnounced] !== undefined;
}
