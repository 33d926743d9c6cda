// Once a websocket of an ASGI app is closing, its client has the close timeout (10 s, the
// `websockets` library's close_timeout under uvicorn; forward-websocket.ts) to answer the close
// frame: a client that never does has its TCP connection ended then, whoever closed: the app
// (its own code), the gateway for a message past max_body (1009), a drain's end after a deploy
// (1012), the gateway's stop (1001) while a request in flight holds the stop. Before H319 it was
// the `ws` library's 30 s. Raw clients that read everything and answer nothing; the bound is
// shortened with the variable forward-websocket.ts names for tests alone (test-knob.ts), so
// each case waits about a second, not ten.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';

/** The close timeout the gateway runs with here. */
const CLOSE_MS = 1000;
/**
 * How long after its close frame a case waits for the gateway to end the connection: far past
 * CLOSE_MS for a loaded host, far short of the real bound (10 s), which a gateway that did not
 * apply it to that close would keep the connection for, or of ws's own 30 s.
 */
const ENDED_WITHIN_MS = 6000;
const DRAIN_S = 1;

const test = suite('asgi websockets: a client that never answers the close frame');
const work = tempDir('apppkg-asgi-ws-close-');
const apps = join(work.path, 'apps');
let gw: RunningGateway;
let pids: number[] = [];

test.before(async () => {
  addPackage(apps, 'ws-asgi', 'ws-asgi');
  addPackage(apps, 'ws-asgi', 'ws-drain.1.0');
  addPackage(apps, 'asgi-http', 'held');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  ws-asgi:\n    workers: 1\n    max_body: 1KB\n  ws-drain:\n    workers: 1\n    drain: ${DRAIN_S}\n  held:\n    workers: 1\n`);
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--watch-interval', '0.2'], {
    env: { APPPKG_TEST_WS_CLOSE_MS: String(CLOSE_MS) },
  });
  pids = statusPids(await gatewayStatus(gw));
});

test.after(async () => {
  pids.push(...(gw ? statusPids(await gatewayStatus(gw).catch(() => ({ apps: [] }))) : []));
  await gw?.stop();
  await assertNoOrphans([gw.child.pid!, ...pids], 10_000);
  work.remove();
});

interface DeafClient {
  socket: Socket;
  /** The close frame's code, once the gateway sent one. */
  closeCode: Promise<number>;
  /** The TCP connection ended (the gateway's FIN or reset). */
  ended: Promise<void>;
}

/**
 * Completes a websocket handshake by hand, then reads whatever comes and answers nothing: no
 * close frame, and no FIN, not even after the gateway's (`halfOpen`: its kernel's own answer
 * to a FIN otherwise, so that the connection ends when the gateway half-closes it).
 */
function deafClient(path: string, halfOpen = false): Promise<DeafClient> {
  const socket = connect({ port: Number(new URL(gw.url).port), host: '127.0.0.1', allowHalfOpen: halfOpen });
  socket.on('error', () => {});
  const ended = new Promise<void>((done) => socket.once('close', () => done()));
  let bytes = Buffer.alloc(0);
  let onCode: (code: number) => void = () => {};
  const closeCode = new Promise<number>((resolve) => (onCode = resolve));
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const headEnd = bytes.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = bytes.toString('latin1', 0, headEnd);
      if (!head.startsWith('HTTP/1.1 101 ')) return reject(new Error(`${path}: no 101: ${head}`));
      resolve({ socket, closeCode, ended });
      // The server's frames, unmasked: a close (opcode 8) carries its code first.
      const code = closeFrameCode(bytes.subarray(headEnd + 4));
      if (code !== null) onCode(code);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

/** The code of the first close frame among the server's `frames`, or null while none is whole. */
function closeFrameCode(frames: Buffer): number | null {
  let at = 0;
  while (at + 2 <= frames.length) {
    let length = frames[at + 1] & 0x7f;
    let start = at + 2;
    if (length === 126) {
      if (start + 2 > frames.length) return null;
      length = frames.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > frames.length) return null;
      length = Number(frames.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > frames.length) return null;
    if ((frames[at] & 0x0f) === 0x8) return length >= 2 ? frames.readUInt16BE(start) : 1005;
    at = start + length;
  }
  return null;
}

/** The close frame's code, then the connection ended within ENDED_WITHIN_MS of it. */
async function closedThenEnded(client: DeafClient, what: string, codeWithinMs = 10_000): Promise<number> {
  const code = await within(codeWithinMs, `${what}: the close frame`, client.closeCode);
  await within(ENDED_WITHIN_MS, `${what}: the gateway ending the connection its client left unanswered (close timeout ${CLOSE_MS} ms)`, client.ended);
  return code;
}

test('the app\'s own close', async () => {
  const client = await deafClient('/ws-asgi/bye');
  assert.is(await closedThenEnded(client, 'the app\'s close'), 4321);
});

test('a message past max_body: 1009', async () => {
  // ws half-closes at once behind a 1009 (its reader is done with the client): a client that
  // does not answer that FIN either holds the connection, which status counts while it is open.
  const client = await deafClient('/ws-asgi/echo', true);
  await waitFor(async () => (await appStatus(gw, 'ws-asgi')).websockets === 1, 5000, 'the websocket counted');
  // A masked binary frame announcing 2 KiB: ws refuses it at its length, before the payload.
  client.socket.write(Buffer.concat([Buffer.from([0x82, 0xfe, 0x08, 0x00]), randomBytes(4), Buffer.alloc(64)]));
  assert.is(await within(10_000, '1009: the close frame', client.closeCode), 1009);
  await waitFor(async () => (await appStatus(gw, 'ws-asgi')).websockets === 0, ENDED_WITHIN_MS, `1009: the gateway ending the connection its client left unanswered (close timeout ${CLOSE_MS} ms)`);
  client.socket.destroy();
});

test('a drain\'s end after a deploy: 1012', async () => {
  const client = await deafClient('/ws-drain/echo');
  addPackage(apps, 'ws-asgi', 'ws-drain.1.1');
  // The new version's start, then the old one's drain.
  assert.is(await closedThenEnded(client, '1012', 30_000 + DRAIN_S * 1000), 1012);
});

test('the gateway\'s stop, held by a request in flight: 1001, and the connection ends before the stop does', async () => {
  pids.push(...statusPids(await gatewayStatus(gw)));
  const inFlight = await request(`${gw.url}/held/late-body?t=5`);
  assert.is(inFlight.statusCode, 200);
  const late = inFlight.body.text();
  let bodyCame = false;
  void late.then(() => (bodyCame = true), () => {});
  const client = await deafClient('/ws-asgi/echo');
  await waitFor(async () => (await appStatus(gw, 'ws-asgi')).websockets === 1, 5000, 'the websocket counted');
  const stopping = gw.stop(20_000);
  assert.is(await closedThenEnded(client, '1001'), 1001);
  // Not the stop's own end of every connection, which waits for the request in flight.
  assert.not.ok(bodyCame, 'the request in flight had ended: the connection may have ended with the stop, not at the close timeout');
  assert.is(await within(15_000, 'the request in flight', late), 'late\n');
  assert.is(await stopping, 0);
});

test.run();
