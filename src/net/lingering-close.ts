// A connection the gateway closes while its client is still sending (a refused head with bytes
// behind it, a 413 for an upload under way, a Connection: close answer with requests pipelined
// behind): closed with unread bytes, the kernel sends a RST instead of a FIN (RFC 1122
// 4.2.2.13), and the client's kernel may throw away the answer it has not read yet, so the
// client never learns why. As nginx's lingering_close: the answer, then the FIN, then what the
// client sends is read and dropped until it closes too, then the close. Bounded as nginx bounds
// it: LINGER_MS without a byte from the client (lingering_timeout), LINGER_TOTAL_MS in all
// (lingering_time) and LINGER_BYTES, so that a client that never stops cannot hold the socket.

import type { Socket } from 'node:net';
import { afterNextPoll } from './after-next-poll.js';
import { readAsStream } from './shared-read-buffer.js';

/**
 * nginx's lingering_timeout, 5 s: a wait between the client's bytes, not for all of them. A client
 * still sending a byte at a time when the answer went out would be cut mid-stream by a 5 s total,
 * and its next byte draws the RST that can destroy the answer it has not read yet.
 */
export const LINGER_MS = 5_000;
/** nginx's lingering_time, 30 s: how long a client still sending may keep the socket at all. */
export const LINGER_TOTAL_MS = 30_000;
/** What a client may still send: an upload's bytes in flight, not a whole upload. */
export const LINGER_BYTES = 4 * 1024 * 1024;

const lingering = new WeakSet<Socket>();

/** Whether `socket` is closing by endLingering: what it reads is dropped, not parsed. */
export function isLingering(socket: Socket): boolean {
  return lingering.has(socket);
}

/**
 * Ends `socket` after `last` (an answer's last bytes, or none), then reads and drops until the
 * client's FIN or a bound, and destroys it. Nothing it reads from now on reaches a parser.
 */
export function endLingering(socket: Socket, last?: string | Buffer): void {
  if (socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  if (socket.writable) {
    if (last === undefined) socket.end();
    else if (typeof last === 'string') socket.end(last, 'latin1');
    else socket.end(last);
  }
  // Destroyed only once the answer is in the kernel's hands: destroy() drops what is not.
  const close = (): void => {
    if (socket.writableFinished || !socket.writable) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  };
  if (socket.readableEnded) return close();
  // The client's silence is judged after the poll (net/after-next-poll.ts): after a stall of
  // the gateway's loop, bytes it sent in time wait unread, and a destroy then would be the RST
  // that loses the answer. A read there refreshes the timer: the silence is judged again later.
  let reads = 0;
  const quiet = setTimeout(() => {
    const heard = reads;
    afterNextPoll(() => {
      if (reads === heard) socket.destroy();
    });
  }, LINGER_MS).unref();
  const total = setTimeout(() => socket.destroy(), LINGER_TOTAL_MS).unref();
  socket.once('close', () => {
    clearTimeout(quiet);
    clearTimeout(total);
  });
  let dropped = 0;
  readAsStream(socket);
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    reads++;
    if (dropped > LINGER_BYTES) socket.destroy();
    else quiet.refresh();
  });
  socket.once('end', close);
  socket.on('error', noop); // a client's reset ends the wait early: 'close' follows
  socket.resume();
}

/**
 * Makes `socket.destroySoon()`, which node:http calls after an answer that closes the
 * connection (its only way to close one), close lingering as well.
 */
export function destroySoonLingering(socket: Socket): void {
  socket.destroySoon = () => endLingering(socket);
}

function noop(): void {}
