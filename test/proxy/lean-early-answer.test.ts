// An app that answers a POST without reading its body, its answer whole before the body is all
// in (the body came in a later TCP segment): the lane holds the answer until the body's end
// (up to 256 KiB to come, 1 s), reading and dropping the body meanwhile. nginx with
// `proxy_request_buffering off` (the shipped site) that got the whole answer while still
// sending the body closed the client's connection after it without `Connection: close`, and the
// client's next request on it failed (test/production/nginx.test.ts has that end to end).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane: an answer before its body');
const apps = tempDir('apppkg-early-apps-');
const state = tempDir('apppkg-early-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'lean-lane', 'lean');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  lean:\n    mount: /\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
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
    // The parts before the body is sent: they were held with the rest (up to 1 s) and came
    // all at once, the end with them.
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

test('a body that does not come: the answer goes after the wait', async () => {
  const client = await connect();
  try {
    client.send(postHead(10));
    await waitFor(() => client.got.endsWith('fields'), 5000, 'the answer without the body');
    // The rest of the body still belongs to that request: sent now, it is dropped, and the
    // next request is read after it.
    client.send('0123456789GET /after HTTP/1.1\r\nHost: lean.test\r\n\r\n');
    await waitFor(() => client.got.includes('GET /after'), 5000, 'the request after the late body');
  } finally {
    client.destroy();
  }
});

test('a large body\'s early answer goes at once', async () => {
  const client = await connect();
  try {
    client.send(postHead(1024 * 1024));
    await waitFor(() => client.got.endsWith('fields'), 900, 'the answer before the wait for a small body would end');
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

test.run();
