// A websocket carried to a `processes:` route is closed by the gateway at a drain's end (1012):
// its close frame must go to the client between two of the process's frames, never inside one
// (a frame cut in the middle is a protocol error for the client), and the process's side ends.
// Real sockets on both sides; test/processes/draining.test.ts drives the whole drain.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { once } from 'node:events';
import { WebsocketTunnel } from '../../src/proxy/websocket-tunnel.js';

const test = suite('websocket tunnel: the gateway\'s close');

/** Two connected sockets: [the far end, the gateway's end]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const far = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [near] = (await accepted) as [net.Socket];
  await once(far, 'connect');
  server.close();
  return [far, near];
}

/** An unmasked binary frame of `length` bytes of `fill`, as a server sends it. */
function frame(length: number, fill: number): Buffer {
  const head = length < 126 ? Buffer.from([0x82, length]) : Buffer.from([0x82, 126, length >> 8, length & 0xff]);
  return Buffer.concat([head, Buffer.alloc(length, fill)]);
}

test('closed while the process is in the middle of a frame: the close frame (1012) follows that frame whole, and the process\'s side ends', async () => {
  const [client, clientSide] = await socketPair();
  const [processEnd, processSide] = await socketPair();
  try {
    const tunnel = new WebsocketTunnel(clientSide, processSide);
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const clientEnded = once(client, 'end');
    const processEnded = once(processEnd, 'end');
    const first = frame(10, 1);
    const second = frame(4000, 2);
    processEnd.write(Buffer.concat([first, second.subarray(0, 1000)]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    tunnel.closeByGateway(1012, 'app is restarting');
    // The rest of the frame under way, then one the client must not get.
    processEnd.write(Buffer.concat([second.subarray(1000), frame(5, 3)]));
    await clientEnded;
    await processEnded;
    const got = Buffer.concat(received);
    const close = Buffer.concat([Buffer.from([0x88, 2 + 17, 0x03, 0xf4]), Buffer.from('app is restarting')]);
    assert.equal([...got], [...Buffer.concat([first, second, close])]);
  } finally {
    for (const s of [client, clientSide, processEnd, processSide]) s.destroy();
  }
});

test('closed between frames: the close frame goes at once', async () => {
  const [client, clientSide] = await socketPair();
  const [processEnd, processSide] = await socketPair();
  try {
    const tunnel = new WebsocketTunnel(clientSide, processSide);
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const clientEnded = once(client, 'end');
    const whole = Buffer.concat([frame(200, 1), frame(0, 0)]);
    processEnd.write(whole);
    while (Buffer.concat(received).length < whole.length) await new Promise((resolve) => setTimeout(resolve, 10));
    tunnel.closeByGateway(1001, '');
    await clientEnded;
    assert.equal([...Buffer.concat(received)], [...whole, 0x88, 2, 0x03, 0xe9]);
  } finally {
    for (const s of [client, clientSide, processEnd, processSide]) s.destroy();
  }
});

test.run();
