// Reads of a worker's link into large buffers filled front to back and never written twice.
// Node reads a socket into a fresh 64 KiB buffer per read and copies what came into one of the
// read's size (zero-filled first), so every byte from a worker was copied twice in the front,
// and a frame split between two reads a third time, to join it (docs/performance.md, "A 16 KiB
// answer's way out"). Here each read lands right after the one before in the same slab: a frame
// split between them is one run of memory (FrameParser makes it a view, not a copy), and what a
// read gave stays as it is for as long as anything holds a view of it, as Node's own reads do.
// The cost is memory: a slab lives while any view of it does, so a piece of an answer waiting
// for a slow client would hold a whole slab where it held its own bytes; a piece under
// VIEW_MIN is therefore copied out (ownedPiece), which bounds what a held piece holds to 16
// times its size, and costs little: small answers become strings at once anyway.

import type { Socket } from 'node:net';
import { readFields, type StreamHandle } from './shared-read-buffer.js';

export const SLAB_SIZE = 256 * 1024;
/** A read has at least this much room, as much as Node gives one: less, and a new slab starts. */
const MIN_ROOM = 64 * 1024;
/** Pieces of a slab at least this long are handed on as views of it; shorter ones as copies. */
const VIEW_MIN = SLAB_SIZE / 16;

/** `piece` of a slab, as what may be kept for long: a copy when it is short (see the top). */
export function ownedPiece(piece: Buffer): Buffer {
  return piece.length < VIEW_MIN ? Buffer.from(piece) : piece;
}

/**
 * Reads `socket` into slabs from now on: `onRead` gets each read as a view it may keep. No 'data'
 * is emitted; 'end', 'close' and 'error' are as before. False when this Node cannot: then
 * nothing changed. Call it before the event loop reads the socket. `into`, asked before each
 * read, may name where that read lands instead of a slab (a large frame read in place), at most
 * as many bytes as it is long.
 */
export function readIntoSlabs(socket: Socket, onRead: (data: Buffer) => void, into: () => Buffer | null = () => null): boolean {
  const handle = (socket as Socket & { _handle: StreamHandle | null })._handle;
  const f = readFields(socket);
  if (f === null || typeof handle?.useUserBuffer !== 'function') return false;
  let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
  let at = 0;
  let inSlab = true;
  const own = socket as unknown as Record<symbol, unknown>;
  own[f.buffer] = slab;
  own[f.callback] = (nread: number, buffer: Buffer): void => {
    if (inSlab) at += nread;
    onRead(buffer.subarray(0, nread));
  };
  own[f.generator] = (): Buffer => {
    const target = into();
    inSlab = target === null;
    if (target !== null) return target;
    if (slab.length - at < MIN_ROOM) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      at = 0;
    }
    return slab.subarray(at);
  };
  handle.useUserBuffer(slab);
  return true;
}
