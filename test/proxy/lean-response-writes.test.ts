// What a lean response hands its socket for a body that is a Buffer (an answer over 4 KiB from a
// worker, a static file): head, body and framing in one writev of Buffers only. A string among
// them sent Node's writev down its slower way (each piece asked for its encoding, strings copied
// into a buffer of their own): docs/performance.md, "A 16 KiB answer's way out". Over a real
// socket, whose client reads the answer back.
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePlainHead } from '../../src/net/plain-head.js';
import { SocketWrites } from '../../src/net/socket-writes.js';
import { LeanRequest, type BodySource } from '../../src/proxy/lean-request.js';
import { LeanResponse, type ResponseOutput } from '../../src/proxy/lean-response.js';

type Writev = (chunks: Array<{ chunk: unknown }>, cb: (err?: Error | null) => void) => void;

/** Answers one request on a real connection with `answer`; the client's bytes, and every writev's pieces. */
async function answerOnce(answer: (res: LeanResponse) => void): Promise<{ received: string; writevs: unknown[][] }> {
  const writevs: unknown[][] = [];
  const server = net.createServer((socket) => {
    const own = socket as net.Socket & { _writev: Writev };
    const writev = own._writev.bind(socket);
    own._writev = (chunks, cb) => {
      writevs.push(chunks.map((c) => c.chunk));
      writev(chunks, cb);
    };
    const writes = new SocketWrites(socket);
    const output: ResponseOutput = {
      send: (_res, data, done) => writes.write(data, done),
      ended: () => {},
      finished: () => socket.end(),
      destroy: () => socket.destroy(),
      keepAliveSeconds: 5,
      closesAfter: () => false,
    };
    const source: BodySource = { bodyFlowChanged: () => {} };
    const req = new LeanRequest(parsePlainHead('GET /16k HTTP/1.1\r\nHost: x')!, socket, source);
    answer(new LeanResponse(output, req, true));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  await once(client, 'end', { signal: AbortSignal.timeout(5000) });
  client.destroy();
  server.close();
  return { received: Buffer.concat(chunks).toString('latin1'), writevs };
}

const body = Buffer.alloc(16384, 'x');

test('a Buffer body with a Content-Length: the head and the body in one writev of Buffers', async () => {
  const { received, writevs } = await answerOnce((res) => {
    res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(body.length)]);
    res.end(body);
  });
  assert.ok(received.startsWith('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16384\r\nDate: '));
  assert.ok(received.endsWith(`\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n${body.toString('latin1')}`));
  assert.is(writevs.length, 1, 'one writev');
  assert.is(writevs[0].length, 2);
  assert.ok(writevs[0].every((piece) => Buffer.isBuffer(piece)), 'Buffers only');
});

test('a chunked Buffer body: the head, the size line, the body and the last chunk in one writev of Buffers', async () => {
  const { received, writevs } = await answerOnce((res) => {
    res.writeHead(200, ['Content-Type', 'text/plain']);
    res.end(body);
  });
  assert.ok(received.endsWith(`Transfer-Encoding: chunked\r\n\r\n4000\r\n${body.toString('latin1')}\r\n0\r\n\r\n`));
  assert.is(writevs.length, 1, 'one writev');
  assert.is(writevs[0].length, 3);
  assert.ok(writevs[0].every((piece) => Buffer.isBuffer(piece)), 'Buffers only');
});

test.run();
