// net/shared-read-buffer.ts on real accepted sockets: this Node lets it in (else the front
// silently reads as before, and its saving is gone), every connection's reads land in one
// buffer, and after readAsStream a socket reads as any other, 'data', pause and end included.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { readAsStream, readIntoSharedBuffer } from '../../src/net/shared-read-buffer.js';

const test = suite('shared read buffer');

async function serverWith(onSocket: (socket: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(check(), 'timed out');
};

test('every accepted connection reads into the same buffer, one view per read, no data event', async () => {
  const reads: Array<{ text: string; arrayBuffer: ArrayBufferLike }> = [];
  let installed = 0;
  let dataEvents = 0;
  const { server, port } = await serverWith((socket) => {
    if (readIntoSharedBuffer(socket, (data) => reads.push({ text: data.toString(), arrayBuffer: data.buffer }))) installed++;
    socket.on('data', () => dataEvents++);
  });
  const a = await connect(port);
  const b = await connect(port);
  a.write('first from a');
  await until(() => reads.length === 1);
  b.write('then b');
  await until(() => reads.length === 2);
  a.write('a again');
  await until(() => reads.length === 3);
  assert.is(installed, 2, 'this Node lets the front read accepted sockets into its own buffer');
  assert.equal(reads.map((r) => r.text), ['first from a', 'then b', 'a again']);
  assert.ok(reads.every((r) => r.arrayBuffer === reads[0].arrayBuffer), 'one buffer for all');
  assert.is(dataEvents, 0);
  a.destroy();
  b.destroy();
  server.close();
});

test('a read takes up to 128 KiB: a 64 KiB body and its head, in the kernel at once, come in one read', async () => {
  // Node's own reads are of 64 KiB: a 64 KiB POST took two, and went to its worker in two pieces.
  const lengths: number[] = [];
  const { server, port } = await serverWith((socket) => {
    readIntoSharedBuffer(socket, (data) => lengths.push(data.length));
  });
  const client = await connect(port);
  const request = Buffer.alloc(200 + 64 * 1024, 'a');
  client.write(request);
  await until(() => lengths.reduce((sum, n) => sum + n, 0) === request.length);
  assert.ok(lengths.length === 1 || lengths[0] > 64 * 1024, `reads of ${lengths.join(', ')} bytes`);
  client.destroy();
  server.close();
});

test('readAsStream: copies as data events, backpressure by pause and resume, then the end', async () => {
  const seen: Buffer[] = [];
  let ended = false;
  let accepted: net.Socket | null = null;
  const { server, port } = await serverWith((socket) => {
    accepted = socket;
    readIntoSharedBuffer(socket, () => assert.unreachable('read after readAsStream'));
    readAsStream(socket);
    socket.on('data', (chunk: Buffer) => seen.push(chunk));
    socket.on('end', () => (ended = true));
  });
  const client = await connect(port);
  client.write('one');
  await until(() => seen.length === 1);
  accepted!.pause();
  client.write('two');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(seen.length, 1, 'paused: nothing read');
  accepted!.resume();
  await until(() => seen.length === 2);
  client.write('three');
  await until(() => seen.length === 3);
  assert.equal(seen.map((c) => c.toString()), ['one', 'two', 'three'], 'each a copy: later reads did not change earlier chunks');
  assert.ok(seen[0].buffer !== seen[2].buffer || seen[0].byteOffset !== seen[2].byteOffset);
  client.end();
  await until(() => ended);
  server.close();
});

test.run();
