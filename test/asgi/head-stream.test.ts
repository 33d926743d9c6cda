// A HEAD to an endless stream whose app never listens for http.disconnect (a Channels 4.0
// AsyncHttpConsumer streaming events from handle(), a raw ASGI app). The answer to a HEAD is its
// head alone, so nothing the app sends on is written, and no failed write tells the gateway the
// client left: the answer waited for the app's end, which never came, the app in flight in
// `status` for ever (holding a drain to its end, an idle app awake) and the connection held,
// the next request on it (nginx reuses its upstream connections) never answered.
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('asgi: a HEAD to an endless stream');
const apps = tempDir('apppkg-head-stream-apps-');
const state = tempDir('apppkg-head-stream-state-');
let gw: RunningGateway | undefined;

test.before(async () => {
  addPackage(apps.path, 'asgi-http', 'm');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
});

test.after(() => stopGatewayChecked(gw, apps, state));

/** Sends `request` on a connection of its own, resolves with the response head once it is in, the connection left open. */
function headOf(request: string): Promise<{ head: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(gw!.url).port), '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response head within 10 s: ${JSON.stringify(text)}`));
    }, 10_000);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        clearTimeout(timer);
        resolve({ head: text, socket });
      }
    });
    socket.write(request);
  });
}

async function inFlight(): Promise<number> {
  return (await appStatus(gw!, 'm')).versions.reduce((n: number, v: { inFlight: number }) => n + v.inFlight, 0);
}

test('the client that has its HEAD answer and closes its side: the app streaming on is cancelled, and the request leaves the in-flight count', async () => {
  const { head, socket } = await headOf('HEAD /m/spin?t=120 HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.is(await inFlight(), 1, 'the app streams on after the head');
  socket.end(); // what `curl -I` does once it has the head
  try {
    await waitFor(async () => (await inFlight()) === 0, 10_000, 'the HEAD to leave the in-flight count');
  } finally {
    socket.destroy();
  }
  const log = join(state.path, 'apps', 'm', 'log', 'app.log');
  await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('spin: cancelled'), 5000, "the app's task cancelled (its finally ran)");
});

test('a HEAD answered by its head frees its connection at once: the next request on it (nginx reuses an upstream connection so) is answered while the app streams on', async () => {
  const { head, socket } = await headOf('HEAD /m/spin?t=120 HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    assert.match(head, /^HTTP\/1\.1 200 /);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('GET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => text.includes('Hello, world!'), 10_000, 'the next answer on the connection');
    await waitFor(async () => (await inFlight()) === 0, 10_000, 'the HEAD to leave the in-flight count');
  } finally {
    socket.destroy();
  }
});

test('a HEAD whose client stays gets its head and the connection its next answer once the app has ended: a finite stream is not cut', async () => {
  const { head, socket } = await headOf('HEAD /m/spin?t=1 HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    assert.match(head, /^HTTP\/1\.1 200 /);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('GET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => text.includes('Hello, world!'), 10_000, 'the next answer on the connection');
  } finally {
    socket.destroy();
  }
});

test.run();
