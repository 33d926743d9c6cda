// Reads of client connections into one buffer the whole process reuses. Node reads every
// socket it accepts into a newly allocated 64 KiB buffer, one per read, freed only when a
// young GC finds it dead: an allocation, a shrink and an external-memory count per read, and
// the kernel's copy lands in memory no cache holds (docs/performance.md, "Cold read buffers").
// Node offers its `onread` option (one buffer, a callback per read) only to sockets it
// connects itself; this gives it to accepted ones, through the same internal fields that
// option sets (net.js reads them in onStreamRead). Where a Node lacks them, nothing changes:
// the caller reads 'data' as before.
//
// The rule that makes one shared buffer safe: a read is a view of it that lives only for the
// call. Whatever outlives the call (a body piece, bytes handed to node:http) is copied first.

import type { Socket } from 'node:net';

// Twice Node's 64 KiB: a 64 KiB body and its head come in one read, so they reach the worker as
// one piece, which wsgi.input.read() gives the app uncopied (docs/performance.md, "A 64 KiB
// POST's way in"). One buffer for the process: its size costs no memory per connection.
export const SHARED_READ_BYTES = 128 * 1024;

export interface ReadFields {
  buffer: symbol;
  callback: symbol;
  /** Called after each read for the buffer of the next (net/slab-reads.ts). */
  generator: symbol;
}

export interface StreamHandle {
  useUserBuffer?(buffer: Uint8Array): void;
}

type ReadCallback = (this: Socket, nread: number, buffer: Buffer) => boolean | void;

let fields: ReadFields | null | undefined;
let shared: Buffer | null = null;

/** net.Socket's own (symbol-keyed) fields for `onread`, found by name on a socket; null if absent. */
export function readFields(socket: Socket): ReadFields | null {
  if (fields !== undefined) return fields;
  const byName = new Map(Object.getOwnPropertySymbols(socket).map((s) => [s.description, s]));
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  fields = buffer !== undefined && callback !== undefined && generator !== undefined ? { buffer, callback, generator } : null;
  return fields;
}

/**
 * Reads `socket` into the shared buffer from its first read on: `onRead` gets each read as a
 * view that is valid only until it returns, and no 'data' is emitted. Call it where the socket
 * is accepted ('connection'), before the event loop reads it. False when this Node cannot: then
 * nothing changed.
 */
export function readIntoSharedBuffer(socket: Socket, onRead: (data: Buffer) => void): boolean {
  const handle = (socket as Socket & { _handle: StreamHandle | null })._handle;
  const f = readFields(socket);
  if (f === null || typeof handle?.useUserBuffer !== 'function') return false;
  const buffer = (shared ??= Buffer.allocUnsafeSlow(SHARED_READ_BYTES));
  const own = socket as unknown as Record<symbol, unknown>;
  own[f.buffer] = buffer;
  own[f.callback] = ((nread: number) => onRead(buffer.subarray(0, nread))) satisfies ReadCallback;
  handle.useUserBuffer(buffer);
  return true;
}

/**
 * From now on `socket` reads as any socket does: each read copied and pushed to its Readable
 * side ('data', pause and resume as usual), for a reader that listens as node:http does. The
 * handle keeps the shared buffer (Node has no way back), so every read is one copy.
 */
export function readAsStream(socket: Socket): void {
  const f = readFields(socket);
  if (f === null) return;
  const own = socket as unknown as Record<symbol, unknown>;
  if (own[f.buffer] !== shared || shared === null) return;
  own[f.callback] = function (this: Socket, nread: number, buffer: Buffer): boolean {
    return this.push(Buffer.from(buffer.subarray(0, nread)));
  } satisfies ReadCallback;
}
