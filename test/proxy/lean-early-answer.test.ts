// An app that answers a POST without reading its body, its answer whole before the body is all
// in (the body came in a later TCP segment): the lane holds the answer until the body's end
// (up to 256 KiB to come, while it keeps arriving: the app's `timeout`, restarted by each
// piece), reading and dropping the body meanwhile. nginx with
// `proxy_request_buffering off` (the shipped site) that got the whole answer while still
// sending the body closed the client's connection after it without `Connection: close`, and the
// client's next request on it failed (test/production/nginx.test.ts has that end to end).
// node:http's requests get the same hold (proxy/node-body-hold.ts): tested here after a hand-off.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';
import { withDeadline } from '../helpers/link-harness.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane: an answer before its body');
const apps = tempDir('apppkg-early-apps-');
const state = tempDir('apppkg-early-state-');
/** The app's `timeout` (s): how long a held answer waits for a body that stopped arriving. */
const TIMEOUT_S = 2;
/** --header-timeout (s): how long a held answer waits for its body's first byte, when below the app's timeout. */
const HEADER_TIMEOUT_S = 2;
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'lean-lane', 'lean');
  // The same app with the default timeout (60 s), which a body's first byte is not waited for.
  addPackage(apps.path, 'lean-lane', 'patient');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, `apps:\n  lean:\n    mount: /\n    workers: 1\n    timeout: ${TIMEOUT_S}\n  patient:\n    workers: 1\n`);
  gw = await startCli([
    '--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off',
    '--header-timeout', String(HEADER_TIMEOUT_S),
  ]);
});

test.after(async () => {
  await stopGatewayChecked(gw, state, apps);
});

interface Client {
  send(data: string): void;
  end(): void;
  /** Everything received so far, as latin-1. */
  readonly got: string;
  readonly closed: boolean;
  destroy(): void;
}

async function connect(): Promise<Client> {
  const socket = net.connect(new URL(gw.url).port as unknown as number, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.setNoDelay(true);
  const client = { got: '', closed: false } as Client & { got: string; closed: boolean };
  socket.on('data', (c: Buffer) => (client.got += c.toString('latin1')));
  socket.on('close', () => (client.closed = true));
  socket.on('error', () => {});
  client.send = (data) => void socket.write(data, 'latin1');
  client.end = () => void socket.end();
  client.destroy = () => void socket.destroy();
  return client;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const postHead = (length: number): string => `POST /fields HTTP/1.1\r\nHost: lean.test\r\nContent-Length: ${length}\r\n\r\n`;
const answers = (text: string): number => text.split('HTTP/1.1 ').length - 1;

test('an answer whole before its body waits for the body, and the connection goes on', async () => {
  const client = await connect();
  try {
    client.send(postHead(10));
    // /fields answers at once without reading wsgi.input; a worker answers in milliseconds.
    await sleep(500);
    assert.is(client.got, '', 'nothing went out before the body was in');
    client.send('0123456789');
    await waitFor(() => client.got.endsWith('fields'), 5000, 'the answer once the body is in');
    assert.match(client.got, /^HTTP\/1\.1 299 Odd Reason\r\n/);
    assert.not.match(client.got, /Connection: close/i);
    client.send('GET /second HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => answers(client.got) === 2 && client.got.includes('GET /second'), 5000, 'the next request answered on the same connection');
    assert.not.ok(client.closed);
  } finally {
    client.destroy();
  }
});

test('a streamed answer (an iterable, not a list): its head and parts go at once, only its end waits for the body', async () => {
  const client = await connect();
  try {
    client.send('POST /stream HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 10\r\n\r\n');
    // The parts before the body is sent go at once: only the end waits.
    await waitFor(() => client.got.includes('piece 2\n'), 5000, 'the parts before the body is sent');
    assert.match(client.got, /^HTTP\/1\.1 200 OK\r\n/);
    assert.not.ok(client.got.endsWith('0\r\n\r\n'), `the answer's end waits for the body: ${JSON.stringify(client.got)}`);
    client.send('0123456789');
    await waitFor(() => client.got.endsWith('0\r\n\r\n'), 5000, 'the end of the chunked answer once the body is in');
    client.send('GET /second HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => client.got.includes('GET /second'), 5000, 'the next request answered on the same connection');
  } finally {
    client.destroy();
  }
});

test('a body sent slowly, over more than a second: the answer waits for its end, the app\'s timeout restarted by each piece', async () => {
  const client = await connect();
  try {
    client.send(postHead(10));
    // Four pieces, 0.8 s before each: 3.2 s in all, past the second the wait once had and
    // past the app's timeout (2 s), while no gap reaches it.
    for (const piece of ['01', '23', '45']) {
      await sleep(800);
      assert.is(client.got, '', `nothing went out before the body was in (before ${piece})`);
      client.send(piece);
    }
    await sleep(800);
    assert.is(client.got, '', 'nothing went out before the body was in');
    client.send('6789');
    await waitFor(() => client.got.endsWith('fields'), 5000, 'the answer once the body is in');
    client.send('GET /second HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => answers(client.got) === 2 && client.got.includes('GET /second'), 5000, 'the next request answered on the same connection');
  } finally {
    client.destroy();
  }
});

test('a body that does not come: the answer goes once it has stopped for the app\'s timeout', async () => {
  const client = await connect();
  try {
    const sentAt = Date.now();
    client.send(postHead(10));
    client.send('012');
    await waitFor(() => client.got.endsWith('fields'), 10_000, 'the answer without the body');
    const took = Date.now() - sentAt;
    assert.ok(took >= TIMEOUT_S * 1000 - 100, `answered after ${took} ms, with the app's timeout ${TIMEOUT_S} s`);
    // The rest of the body still belongs to that request: sent now, it is dropped, and the
    // next request is read after it.
    client.send('3456789GET /after HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => client.got.includes('GET /after'), 5000, 'the request after the late body');
  } finally {
    client.destroy();
  }
});

test('a head whose body does not begin (no Expect: 100-continue): the answer goes at --header-timeout, not the app\'s 60 s timeout', async () => {
  // Such a client may be waiting for the answer before it sends the body, or never send it:
  // held for the app's timeout, a minute, it waited that long for an answer ready at once.
  const client = await connect();
  try {
    const sentAt = Date.now();
    client.send(postHead(10).replace('/fields', '/patient/fields'));
    await waitFor(() => client.got.endsWith('fields'), 10_000, 'the answer without the body');
    const took = Date.now() - sentAt;
    assert.ok(took >= HEADER_TIMEOUT_S * 1000 - 100, `answered after ${took} ms: held for the body's first byte up to --header-timeout (${HEADER_TIMEOUT_S} s)`);
    // Sent now, the body is read and dropped, and the next request is read after it.
    client.send('0123456789GET /patient/after HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => client.got.includes('GET /after'), 5000, 'the request after the late body');
  } finally {
    client.destroy();
  }
});

test('a body begun is waited for by the app\'s timeout, not --header-timeout: its first byte restarts the clock for that', async () => {
  const client = await connect();
  try {
    client.send(postHead(10).replace('/fields', '/patient/fields'));
    await sleep(1000);
    client.send('01');
    // 3 s past the first byte: beyond --header-timeout, well within the app's 60 s.
    await sleep(HEADER_TIMEOUT_S * 1000 + 1000);
    assert.is(client.got, '', 'nothing went out before the body was in');
    client.send('23456789');
    await waitFor(() => client.got.endsWith('fields'), 5000, 'the answer once the body is in');
  } finally {
    client.destroy();
  }
});

test('on node:http too (a field sent twice hands the connection over): the answer waits for the body, and for a body that does not begin, --header-timeout', async () => {
  const client = await connect();
  try {
    client.send('GET /first HTTP/1.1\r\nHost: lean.test\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n');
    await waitFor(() => client.got.includes('GET /first'), 5000, 'the request node:http reads');
    client.send(postHead(10));
    await sleep(500);
    assert.is(answers(client.got), 1, `nothing went out before the body was in: ${client.got}`);
    client.send('0123456789');
    await waitFor(() => client.got.endsWith('fields'), 5000, 'the answer once the body is in');
    assert.not.match(client.got, /Connection: close/i);
    const sentAt = Date.now();
    client.send(postHead(10).replace('/fields', '/patient/fields'));
    await waitFor(() => answers(client.got) === 3, 10_000, 'the answer without the body');
    const took = Date.now() - sentAt;
    assert.ok(took >= HEADER_TIMEOUT_S * 1000 - 100, `answered after ${took} ms: held for the body's first byte up to --header-timeout (${HEADER_TIMEOUT_S} s)`);
    client.send('0123456789GET /patient/after HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => client.got.includes('GET /after'), 5000, 'the request after the late body, on the same connection');
    assert.not.ok(client.closed);
  } finally {
    client.destroy();
  }
});

test('a large body\'s early answer goes at once', async () => {
  const client = await connect();
  try {
    client.send(postHead(1024 * 1024));
    await waitFor(() => client.got.endsWith('fields'), TIMEOUT_S * 1000 - 500, 'the answer before the wait for a small body would end');
  } finally {
    client.destroy();
  }
});

test('a client that half-closes inside the body gets the answer held for it', async () => {
  const client = await connect();
  try {
    client.send(postHead(10));
    client.send('012');
    await sleep(300);
    client.end();
    await waitFor(() => client.closed, 5000, 'the connection to close');
    assert.ok(client.got.endsWith('fields'), `the whole answer before the close: ${JSON.stringify(client.got)}`);
  } finally {
    client.destroy();
  }
});

// Last: it stops the gateway.
test('a stop does not wait for a held answer\'s body: the answer goes at once, and the connection closes after it', async () => {
  const pids = statusPids(await gatewayStatus(gw));
  const client = await connect();
  // A byte every 300 ms: the body never stops for the app's timeout, and is far from its end.
  const trickle = setInterval(() => client.send('x'), 300);
  try {
    client.send(postHead(1000));
    client.send('x');
    await sleep(500);
    assert.is(client.got, '', 'the answer waits for the body');
    const exited = gw.stop();
    await waitFor(() => client.got.endsWith('fields') && client.closed, 8000, 'the held answer, then the close, while the body still comes');
    await withDeadline(exited, 15_000, 'the gateway to exit');
  } finally {
    clearInterval(trickle);
    client.destroy();
  }
  await assertNoOrphans(pids);
});

test.run();
