// The lean lane's holdForBody (lean-connection.ts) for the requests node:http reads: the end of
// an answer that is whole before its request's body is all in waits for the rest of that body.
// nginx (`proxy_request_buffering off`, the shipped site) that gets a whole answer while it still
// sends the body closes the client's connection after it, without `Connection: close`, and the
// client's next request on it fails. node:http reads every request on an upstream connection
// the lane handed over (a field sent twice, a process's route: README, "Faults"), and nginx
// reuses such a connection for any client's requests after it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { HOLD_BODY_BYTES } from './lean-connection.js';

/** What a hold is told by the front: its clocks, and where it is kept for a stop to release. */
export interface NodeBodyHoldOptions {
  /** How long the body may stop arriving once a byte of it is in: the app's `timeout`. */
  stallMs(res: ServerResponse): number;
  /** The most the body's first byte is waited for (--header-timeout). */
  firstByteMs: number;
  /** The releases of the answers held now: a stop runs them all (the connection closes after anyway). */
  held: Set<() => void>;
}

type ExpectingResponse = ServerResponse & { _expect_continue?: boolean };

/**
 * Makes `res.end()` wait for the rest of `req`'s body when it comes first: for a body framed by
 * Content-Length of HOLD_BODY_BYTES at most (a chunked one, or a larger one, goes at once, as on
 * the lane), and not for an `Expect: 100-continue` that got no 100 (node:http closes the
 * connection after its answer). What is left of the body is read and dropped meanwhile; the end
 * goes when the body is in, when it stops arriving for the app's timeout (each piece restarts
 * the clock), when none of it came within --header-timeout, when the client leaves, or at a stop.
 */
export function holdEndForBody(req: IncomingMessage, res: ServerResponse, opts: NodeBodyHoldOptions): void {
  const length = Number(req.headers['content-length']);
  if (!(length > 0 && length <= HOLD_BODY_BYTES) || req.headers['transfer-encoding'] !== undefined) return;
  // Whether a byte of the body has come, as the lane's receivedAny: node:http pushes each piece
  // llhttp reads into the request, those in the head's own read too (they come after this, in
  // the same execute). Judged by the socket's bytes read past the head, a body begun in the
  // head's read was taken for one not begun, its answer held --header-timeout (20 s) where the
  // lane held it the app's timeout (60 s with the defaults).
  let received = false;
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk != null && (chunk as Buffer).length > 0) received = true;
    return push.call(this, chunk, encoding);
  };
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    const endNow = (): ServerResponse => (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    res.end = end;
    // A 408 is the verdict that the body stopped arriving: held for that body, it waited the
    // app's timeout a second time (lean-connection.ts holdForBody alike).
    if (req.complete || req.destroyed || res.destroyed || res.statusCode === 408 || (res as ExpectingResponse)._expect_continue === true) return endNow();
    let begun = received;
    const stallMs = opts.stallMs(res);
    const release = (): void => {
      if (!opts.held.delete(release)) return;
      clearTimeout(timer);
      req.removeListener('data', onPiece);
      req.removeListener('end', release);
      res.removeListener('close', release);
      if (!res.destroyed) endNow();
    };
    const onPiece = (): void => {
      if (begun) return void timer.refresh();
      begun = true;
      clearTimeout(timer);
      timer = setTimeout(release, stallMs).unref();
    };
    let timer = setTimeout(release, begun ? stallMs : Math.min(stallMs, opts.firstByteMs)).unref();
    opts.held.add(release);
    // The app is done with the body: the rest is dropped as node:http drops it (_dump), read so
    // that its end is seen.
    req.removeAllListeners('data');
    req.on('data', onPiece);
    req.once('end', release);
    res.once('close', release);
    req.resume();
    return res;
  } as ServerResponse['end'];
}
