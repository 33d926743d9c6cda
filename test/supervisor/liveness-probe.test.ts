// The question the liveness of a routed process asks (src/supervisor/liveness.ts probeConnection),
// against real servers: one that keeps a connection open after the client's end (Node's
// allowHalfOpen) runs and is not judged dead; a
// program that takes nothing from its listen queue (stopped, its loop stuck: here it never
// calls accept()) is, though the kernel completed the connection.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { probeConnection } from '../../src/supervisor/liveness.js';
import { assertNoOrphans, isAlive } from '../helpers/process.js';

const test = suite('liveness probe');
const PROBE_MS = 1500;

test('a server that keeps the connection open after our end took it: alive', async () => {
  const held = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    held.add(socket);
    socket.resume();
    socket.on('error', () => {});
    socket.once('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    assert.is(await probeConnection(port, PROBE_MS), null);
    assert.is(held.size, 1, 'the server took the connection and kept it');
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a program that takes nothing from its listen queue is judged, though the kernel completed the connection', async () => {
  // Listens and never accepts, as a stopped process or a stuck event loop does.
  const child = spawn('python3', ['-c', "import socket, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen(8)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(120)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', () => reject(new Error('the listener exited')));
    });
    const why = await probeConnection(port, PROBE_MS);
    assert.is(why, `127.0.0.1:${port} accepted no connection within ${PROBE_MS / 1000} s (ours waited in its listen queue)`);
  } finally {
    if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
    await assertNoOrphans(child.pid === undefined ? [] : [child.pid]);
  }
});

test('nothing listening: judged at once', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  assert.match((await probeConnection(port, PROBE_MS)) ?? '', `nothing accepts connections on 127.0.0.1:${port}`);
});

test.run();
