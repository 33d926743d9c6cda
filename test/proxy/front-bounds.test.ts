// What one client costs the front, bounded. A large answer (a WSGI app's list body: one frame
// from the worker) held for a client that reads nothing costs the front about its size, not
// twice (the link's read slabs and a joined copy of them), and answers passed on are swept
// before their garbage piles up: RSS read from /proc of the real gateway. A deep pipeline
// (2,000 requests in one write) is answered in order, and the lean lane copies its bytes a
// bounded number of times, not the rest of the pipeline again at each request's turn (counted
// on a lane in this process, where its copies can be counted: Buffer.from and Buffer.concat).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { portOf } from '../helpers/both-readers.js';
import { appStatus } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { LeanLane } from '../../src/proxy/lean-lane.js';

const test = suite('front bounds');
const apps = tempDir('apppkg-front-bounds-apps-');
const state = tempDir('apppkg-front-bounds-state-');
let gw: RunningGateway;
const seen = new Set<number>();

test.before(async () => {
  addPackage(apps.path, 'lean-lane', 'lean');
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  lean:\n    mount: /\n    workers: 1\n    threads: 4\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off']);
});

test.after(async () => {
  for (const w of (await appStatus(gw, 'lean').catch(() => null))?.workers ?? []) seen.add(w.pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

/** The bodies of `count` responses in `answers` (each framed by its Content-Length), and nothing after them. */
function bodiesIn(answers: Buffer, count: number): string[] {
  const bodies: string[] = [];
  let at = 0;
  while (bodies.length < count) {
    const end = answers.indexOf('\r\n\r\n', at);
    assert.ok(end !== -1, `answer ${bodies.length + 1} of ${count}: no head (${answers.length} bytes read)`);
    const head = answers.toString('latin1', at, end);
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
    assert.ok(head.startsWith('HTTP/1.1 200 '), head);
    bodies.push(answers.toString('latin1', end + 4, end + 4 + length));
    at = end + 4 + length;
  }
  assert.is(at, answers.length, 'nothing after the last answer');
  return bodies;
}

/** The front's resident memory, MiB (the launcher execs node: its pid is the front's). */
const frontRssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.child.pid!}/status`, 'utf8'))![1]) / 1024;

/**
 * A client sends `requests` for answers of `size` bytes each and reads nothing until the front's
 * RSS has not grown for a second, then reads them all: how much the front grew while it held
 * them, and at its peak, from before the client came.
 */
async function heldThenRead(requests: string, count: number, size: number): Promise<{ heldMiB: number; peakMiB: number }> {
  const before = frontRssMiB();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, frontRssMiB())), 20);
  const socket = net.connect(portOf(gw), '127.0.0.1');
  socket.pause();
  let read = 0;
  try {
    await once(socket, 'connect');
    socket.write(requests);
    let [seen, steadySince] = [peak, performance.now()];
    await waitFor(() => {
      if (peak > seen) [seen, steadySince] = [peak, performance.now()];
      return performance.now() - steadySince > 1000;
    }, 30_000, 'the front to stop growing');
    const held = peak;
    socket.on('data', (chunk: Buffer) => (read += chunk.length));
    socket.resume();
    await waitFor(() => socket.readableEnded, 60_000, 'the answers and the close');
    assert.ok(read > count * size, `${read} bytes read for ${count} answers of ${size}`);
    return { heldMiB: held - before, peakMiB: peak - before };
  } finally {
    clearInterval(sampler);
    socket.destroy();
  }
}

const large = (size: number, count: number): string =>
  Array.from({ length: count }, (_, i) => `GET /large?n=${size}&i=${i} HTTP/1.1\r\nHost: d\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');

test('a 32 MiB answer held for a client that reads nothing costs the front about 32 MiB, not twice that', async () => {
  const { heldMiB } = await heldThenRead(large(32 << 20, 1), 1, 32 << 20);
  // The answer, and what the kernel did not take of it: read into slabs and joined, it was 63 MiB.
  assert.ok(heldMiB < 48, `the front grew by ${heldMiB.toFixed(1)} MiB holding one answer of 32 MiB`);
});

test('30 answers of 4 MiB pipelined, held, then read: the front grows by a few answers, not by the garbage of all', async () => {
  const { peakMiB } = await heldThenRead(large(4 << 20, 30), 30, 4 << 20);
  // One answer held, one being read in, and what a young GC every 8 MiB passed leaves: 14-17
  // MiB here; without the sweep for one-frame bodies and the read in place, 33 MiB.
  assert.ok(peakMiB < 24, `the front grew by ${peakMiB.toFixed(1)} MiB passing on 30 answers of 4 MiB`);
});

/** `count` GETs for /?i=0, /?i=1, ... in one string, the last asking to close. */
function pipeline(count: number): string {
  return Array.from({ length: count }, (_, i) => `GET /?i=${i} HTTP/1.1\r\nHost: d\r\n${i === count - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');
}

/** What `port` answers to `requests`, written in one write on a new connection, read until it closes. */
async function pipelined(port: number, requests: string): Promise<Buffer[]> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  try {
    await once(socket, 'connect');
    socket.write(requests);
    await waitFor(() => socket.readableEnded, 60_000, 'the answers and the close');
    return chunks;
  } finally {
    socket.destroy();
  }
}

const DEEP = 2000;

test('2,000 requests pipelined in one write are all answered, in order', async () => {
  const bodies = bodiesIn(Buffer.concat(await pipelined(portOf(gw), pipeline(DEEP))), DEEP);
  bodies.forEach((body, i) => assert.ok(body.startsWith(`GET /?i=${i} `), `answer ${i}: ${body}`));
});

/** What `run` copies out of Buffers (Buffer.from of one, Buffer.concat), in bytes, in this process. */
async function bytesCopiedBy<T>(run: () => Promise<T>): Promise<{ result: T; copied: number }> {
  const { from, concat } = Buffer;
  let copied = 0;
  Buffer.from = function (value: unknown, ...rest: unknown[]) {
    if (value instanceof Uint8Array) copied += value.length;
    return (from as (...args: unknown[]) => Buffer).call(Buffer, value, ...rest);
  } as typeof Buffer.from;
  Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
    copied += totalLength ?? list.reduce((sum, piece) => sum + piece.length, 0);
    return concat(list, totalLength);
  };
  try {
    return { result: await run(), copied };
  } finally {
    Buffer.from = from;
    Buffer.concat = concat;
  }
}

test('the lean lane copies a deep pipeline a bounded number of times, not the rest of it at each turn', async () => {
  // Answered a turn later each, as the app's answers come: each request behind waits its turn.
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    setImmediate(() => {
      const body = `${req.url} `;
      res.writeHead(200, { 'Content-Length': String(body.length) });
      res.end(body);
    });
    return true;
  };
  const server = http.createServer((_req, res) => res.writeHead(599).end());
  const toNode = server.listeners('connection')[0] as (socket: net.Socket) => void;
  server.removeAllListeners('connection');
  const lane = new LeanLane({ maxHeaderSize: 16 * 1024, headersTimeoutMs: 20_000, keepAliveTimeoutMs: 5_000, take: answer, toNode: (socket) => toNode.call(server, socket) });
  server.on('connection', (socket: net.Socket) => lane.accept(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    // Under the bytes past which the lane stops reading a client whose requests wait (a head and a read's worth).
    const requests = pipeline(DEEP);
    const { result: answers, copied } = await bytesCopiedBy(() => pipelined((server.address() as AddressInfo).port, requests));
    const bodies = bodiesIn(Buffer.concat(answers), DEEP);
    bodies.forEach((body, i) => assert.is(body, `/?i=${i} `));
    // Each byte once out of the read buffer (twice where a read ends inside a head): copied
    // again at each turn, it was ~DEEP/2 times the pipeline.
    assert.ok(copied <= 3 * requests.length, `${copied} bytes copied for a pipeline of ${requests.length}`);
  } finally {
    lane.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
