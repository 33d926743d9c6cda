// How the front reads a worker's link (net/slab-reads.ts): into slabs filled front to back, so a
// worker's answer reaches its request as a view of what the socket read, a frame split between
// two reads included, and nothing read is written over while a view of it lives; a short answer
// as a copy, so that one held long does not hold a slab. Over a real unix socket whose other end
// writes the frames a worker would.
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, HEADER_SIZE, encodeFrame } from '../../src/link/frames.js';
import { WorkerLink, type LinkExchange } from '../../src/link/worker-link.js';
import { SLAB_SIZE } from '../../src/net/slab-reads.js';

/** A link over a real unix socket, and the socket's other end, where the test plays the worker. */
async function linkWithPeer(): Promise<{ link: WorkerLink; peer: net.Socket; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-link-reads-'));
  const path = join(dir, 'link.sock');
  const server = net.createServer();
  server.listen(path);
  await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  const accepted = once(server, 'connection', { signal: AbortSignal.timeout(5000) });
  const socket = net.connect(path);
  const [peer] = (await accepted) as [net.Socket];
  const link = new WorkerLink(socket);
  return {
    link,
    peer,
    close: () => {
      link.fail('test over');
      peer.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('answers reach their request as views of the link\'s reads, split frames too, and stay as read', async () => {
  const { link, peer, close } = await linkWithPeer();
  try {
    const payloads: Buffer[] = [];
    const exchange: LinkExchange = { onFrame: (_type, payload) => payloads.push(payload), onLinkFailed: () => {} };
    const id = link.open(exchange);
    // 200 frames of 20,000 bytes, each its own byte, written 64 KiB at a time as a worker's
    // batches go: most reads end inside a frame. Heads, which are told whole (a body piece is
    // told in parts: below).
    const count = 200;
    const size = 20_000;
    const stream = Buffer.concat(Array.from({ length: count }, (_, i) => encodeFrame(Frame.RESPONSE, id, Buffer.alloc(size, i % 251))));
    for (let at = 0; at < stream.length; at += 65536) {
      if (!peer.write(stream.subarray(at, at + 65536))) await once(peer, 'drain', { signal: AbortSignal.timeout(5000) });
    }
    await until(() => payloads.length === count, 'every frame');
    payloads.forEach((payload, i) => assert.ok(payload.length === size && payload.every((b) => b === i % 251), `body ${i} as written, after every later read`));
    // A joined frame is a buffer of its own: header and body.
    const copies = payloads.filter((p) => p.buffer.byteLength === HEADER_SIZE + size).length;
    const slabs = new Set(payloads.filter((p) => p.buffer.byteLength === SLAB_SIZE).map((p) => p.buffer));
    assert.is(payloads.length - copies - payloads.filter((p) => p.buffer.byteLength === SLAB_SIZE).length, 0, 'each body a view of a slab, or joined');
    assert.ok(copies <= slabs.size, `only a frame split between two slabs is joined (${copies} joined, ${slabs.size} slabs)`);
  } finally {
    close();
  }
});

test('a streamed body\'s pieces go on in parts as they are read, views of the slabs, never copied into a buffer of their own', async () => {
  const { link, peer, close } = await linkWithPeer();
  try {
    const parts: Buffer[] = [];
    const types = new Set<number>();
    const id = link.open({ onFrame: (type, payload) => (types.add(type), parts.push(payload)), onLinkFailed: () => {} });
    // Pieces of 256 KiB, one write each, as the shim sends them (task.py _send_body): the read
    // that brings a piece's header brings much of the piece, which was copied when the rest of
    // the piece was read in place (docs/performance.md, H228).
    const pieceSize = 256 * 1024;
    const count = 12;
    const pieces = Array.from({ length: count }, (_, i) => Buffer.alloc(pieceSize, i + 1));
    for (const piece of pieces) {
      if (!peer.write(encodeFrame(Frame.RESPONSE_BODY, id, piece))) await once(peer, 'drain', { signal: AbortSignal.timeout(5000) });
    }
    const total = pieceSize * count;
    await until(() => parts.reduce((sum, p) => sum + p.length, 0) === total, 'every piece');
    assert.equal([...types], [Frame.RESPONSE_BODY]);
    assert.ok(parts.every((p) => p.length > 0), 'no empty part');
    assert.ok(Buffer.concat(parts).equals(Buffer.concat(pieces)), 'the pieces as written, in order');
    const own = parts.filter((p) => p.buffer.byteLength !== SLAB_SIZE);
    assert.ok(own.every((p) => p.length < SLAB_SIZE / 16), `only short parts are copies of their own (${own.map((p) => p.length).join(', ')})`);
    assert.ok(own.length < count, `most pieces no copy at all (${own.length} short parts for ${count} pieces)`);
  } finally {
    close();
  }
});

test('a short answer is a copy: waiting for a slow client, it holds its own bytes, not a slab', async () => {
  const { link, peer, close } = await linkWithPeer();
  try {
    const payloads: Buffer[] = [];
    const id = link.open({ onFrame: (_type, payload) => payloads.push(payload), onLinkFailed: () => {} });
    peer.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeFrame(Frame.RESPONSE_BODY, id, Buffer.alloc(100 + i, i)))));
    await until(() => payloads.length === 50, 'every frame');
    payloads.forEach((payload, i) => assert.ok(payload.length === 100 + i && payload.every((b) => b === i), `body ${i} as written`));
    assert.ok(payloads.every((p) => p.buffer.byteLength < SLAB_SIZE), 'none a view of a slab');
  } finally {
    close();
  }
});

test('the worker closing its end of a link read into slabs fails the link, and its request', async () => {
  const { link, peer, close } = await linkWithPeer();
  try {
    let failed = '';
    link.open({ onFrame: () => {}, onLinkFailed: (reason) => (failed = reason) });
    const closed = once(link, 'close', { signal: AbortSignal.timeout(5000) });
    peer.end();
    assert.is((await closed)[0], 'the worker closed the link');
    assert.is(failed, 'the worker closed the link');
  } finally {
    close();
  }
});

test.run();
