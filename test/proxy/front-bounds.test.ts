// What one client costs the front, bounded: a deep pipeline (2,000 requests in one write) is
// answered in order, and the lean lane copies its bytes a bounded number of times, not the rest
// of the pipeline again at each request's turn (counted on a lane in this process, where its
// copies can be counted: Buffer.from and Buffer.concat of bytes).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
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
