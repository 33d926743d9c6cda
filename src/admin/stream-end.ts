// How the admin listener ends a stream (/events, a followed log) that the gateway cuts rather
// than its client: with a trailer saying why, so that a client tells a stream revoked by a
// rotated token from a gateway that went away, and stops instead of waiting for it to come
// back (docs/admin.md "To rotate the token"); or the gateway stopping, whose listener closes
// once its streams end rather than cutting them as a crash does. Declared in the stream's head,
// as HTTP asks.
import type { ServerResponse } from 'node:http';

/** The trailer of a stream the gateway ended, and the head's `Trailer` value announcing it. */
export const STREAM_END_TRAILER = 'Apppkg-Stream-End';

/** Why: the token the stream was let in by is no longer accepted (rotated at SIGHUP). */
export const TOKEN_CHANGED = 'token-changed';

/** Why: the gateway stops (its admin listener closes). */
export const GATEWAY_STOPPED = 'gateway-stopped';

/** What a stream writes before its trailer (a gzip stream's last block), then calls `end`. */
const finishers = new WeakMap<ServerResponse, (end: () => void) => void>();
/** Streams whose finisher runs: a second end waits for it, rather than cutting what it writes. */
const finishing = new WeakSet<ServerResponse>();

/** Has endStream() call `finish` first, which calls back once what it must write is written. */
export function endStreamWith(res: ServerResponse, finish: (end: () => void) => void): void {
  finishers.set(res, finish);
}

/** Ends `res`, whose head is written, with the trailer saying why. */
export function endStream(res: ServerResponse, why: typeof TOKEN_CHANGED | typeof GATEWAY_STOPPED): void {
  if (streamEnded(res) || finishing.has(res)) return;
  const end = (): void => {
    if (streamEnded(res)) return;
    res.addTrailers({ [STREAM_END_TRAILER]: why });
    res.end();
  };
  const finish = finishers.get(res);
  if (finish === undefined) return end();
  finishing.add(res);
  finish(end);
}

/**
 * True once `res` was ended or destroyed, by its client or by the gateway (endStream): its
 * 'close' comes only once what was sent is flushed, and a write meanwhile is an 'error' on the
 * response, which nobody listens for. What streams on a timer looks here before each write.
 */
export function streamEnded(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded;
}

/**
 * The streams an admin listener is sending, to end at its close: a client whose socket was
 * destroyed mid-body got ECONNRESET, which said the gateway crashed, not that it stopped.
 */
export class OpenStreams {
  private readonly streams = new Set<ServerResponse>();

  add(res: ServerResponse): void {
    if (streamEnded(res)) return;
    this.streams.add(res);
    res.once('close', () => this.streams.delete(res));
  }

  /**
   * Ends every stream whose head was sent with the trailer saying the gateway stopped; settles
   * once each end was handed to the kernel, or after `ms` (a client taking nothing, its socket
   * full, holds no stop: its socket is destroyed with the others). One whose head is still to
   * come has no stream to end: its socket goes as any other.
   */
  async endAll(ms: number): Promise<void> {
    const flushed: Promise<void>[] = [];
    for (const res of this.streams) {
      if (!res.headersSent || streamEnded(res)) continue;
      flushed.push(new Promise<void>((resolve) => {
        res.once('finish', resolve);
        res.once('close', resolve);
      }));
      endStream(res, GATEWAY_STOPPED);
    }
    if (flushed.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(flushed), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
}
