// How the admin listener ends a stream (/events, a followed log) that the gateway cuts rather
// than its client: with a trailer saying why, so that a client tells a stream revoked by a
// rotated token from a gateway that went away, and stops instead of waiting for it to come
// back (docs/admin.md "To rotate the token"). Declared in the stream's head, as HTTP asks.
import type { ServerResponse } from 'node:http';

/** The trailer of a stream the gateway ended, and the head's `Trailer` value announcing it. */
export const STREAM_END_TRAILER = 'Apppkg-Stream-End';

/** Why: the token the stream was let in by is no longer accepted (rotated at SIGHUP). */
export const TOKEN_CHANGED = 'token-changed';

/** Ends `res`, whose head is written, with the trailer saying why. */
export function endStream(res: ServerResponse, why: typeof TOKEN_CHANGED): void {
  if (streamEnded(res)) return;
  res.addTrailers({ [STREAM_END_TRAILER]: why });
  res.end();
}

/**
 * True once `res` was ended or destroyed, by its client or by the gateway (endStream): its
 * 'close' comes only once what was sent is flushed, and a write meanwhile is an 'error' on the
 * response, which nobody listens for. What streams on a timer looks here before each write.
 */
export function streamEnded(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded;
}
