// SPEC 4: a stop finishes the requests in flight. One read pipelined behind an answer that had
// ended but was not sent yet (its client reading slowly) was cut with its connection, and that
// answer truncated: node:http's closeIdleConnections, which the stop runs, took the connection
// for idle since the answer it was writing had ended, the next one waiting its turn unseen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { portOf } from '../helpers/both-readers.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, within } from '../helpers/process.js';
import { appStatus } from '../helpers/status.js';
import { canConnect } from '../helpers/servers.js';

const PIECE = 16 * 1024;

/**
 * How far /measure streams into a connection whose client reads nothing before the response
 * window (256 KiB unflushed in the front) and the kernel's buffers stop it: the bytes the
 * kernel takes vary by host, and an answer only ends in the front, unsent, between the two.
 */
async function stallPoint(port: number, measured: string): Promise<number> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  try {
    await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
    socket.pause();
    socket.write('GET /pipe/measure HTTP/1.1\r\nHost: x\r\n\r\n');
    let last = -1;
    let since = performance.now();
    return await waitFor(() => {
      const now = existsSync(measured) ? Number(readFileSync(measured, 'utf8') || 0) : 0;
      if (now !== last) {
        last = now;
        since = performance.now();
      }
      return now > 0 && performance.now() - since > 500 && now;
    }, 15_000, 'the measured stream to stop');
  } finally {
    socket.destroy();
  }
}

interface Held {
  socket: net.Socket;
  chunks: Buffer[];
  closed(): boolean;
}

/** A connection that sends `requests` and reads nothing until resumed: what came, kept. */
async function holdAnswers(port: number, requests: string): Promise<Held> {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
  socket.pause();
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(requests);
  return { socket, chunks, closed: () => closed };
}

for (const [reader, lane] of [['node:http', '0'], ['the lean lane', '1']]) test(`a stop while an ended answer waits for its client, a request pipelined behind it: both answered whole, on ${reader}`, async () => {
  const apps = tempDir('apppkg-stop-pipelined-apps-');
  const state = tempDir('apppkg-stop-pipelined-state-');
  const measured = join(state.path, 'measured');
  writePackage(apps.path, 'pipe', {
    'app.yaml': 'platform: python, wsgi\napp: pipe:application\n',
    'pipe.py': `def application(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/measure":  # pieces for ever, noting how many went, each asked for once the last went
        def stream():
            sent = 0
            while True:
                yield b"m" * ${PIECE}
                sent += ${PIECE}
                with open(${JSON.stringify(measured)}, "w") as f:
                    f.write(str(sent))
        return stream()
    open(${JSON.stringify(state.path)} + "/ran-" + path.strip("/").replace("/", "-"), "w").close()
    if path.startswith("/big/"):  # one list item, streamed under the response window past it
        return [b"x" * int(environ["QUERY_STRING"])]
    return [b"small"]
`,
  });
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  pipe:\n    workers: 1\n    threads: 2\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, '--access-log', '-'], { env: { APPPKG_LEAN_LANE: lane } });
  // Where the stream stopped, short of half a window: the whole answer leaves the worker and
  // ends in the front, with more than the kernel takes (an 8 MiB answer, as this test had
  // until the window came to list bodies on 2026-12-06, never ended: the test could not fail).
  // The kernel takes more or less on another connection: a size it took all of (the second
  // request ran, on node:http), or one that never ended, is tried again on a new connection.
  let size = (await stallPoint(portOf(gw), measured)) - 128 * 1024;
  await waitFor(async () => (await appStatus(gw, 'pipe')).workers[0]?.inFlight === 0, 10_000, 'the measured stream cut', ASK_GATEWAY_EVERY_MS);
  let held: (Held & { tag: string; size: number }) | null = null;
  const tried: string[] = [];
  try {
    for (let attempt = 1; held === null; attempt++) {
      assert.ok(attempt <= 8, `no answer ended unsent in 8 tries: ${tried.join(', ')}`);
      const tag = `${attempt}`;
      const next = await holdAnswers(portOf(gw), `GET /pipe/big/${tag}?${size} HTTP/1.1\r\nHost: x\r\n\r\nGET /pipe/small-${tag} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const sent = performance.now();
      // The first answer ended in the front (out of the worker's flight), not all of it sent.
      // The second waits for it to be written (R6.27): unrun on node:http, which gives it its
      // turn at the first's 'finish', once the kernel has taken it all; run at once on the
      // lean lane, whose turn passes once the answer is all in the socket's hands.
      const outcome = await waitFor(async () => {
        const worker = (await appStatus(gw, 'pipe')).workers[0];
        if (worker?.inFlight === 0 && existsSync(join(state.path, `ran-big-${tag}`))) return lane === '0' && existsSync(join(state.path, `ran-small-${tag}`)) ? 'all sent' : 'ended';
        return performance.now() - sent > 2000 && 'never ended';
      }, 10_000, `try ${attempt} (${size} bytes) to end or stop`, ASK_GATEWAY_EVERY_MS);
      tried.push(`${size} bytes ${outcome}`);
      if (outcome === 'ended') {
        held = { ...next, tag, size };
        break;
      }
      next.socket.destroy();
      await waitFor(async () => (await appStatus(gw, 'pipe')).workers[0]?.inFlight === 0, 10_000, 'the try cut', ASK_GATEWAY_EVERY_MS);
      size += outcome === 'never ended' ? -48 * 1024 : 32 * 1024;
    }
    if (held === null) throw new Error('unreachable: the loop ends with an answer held');
    const stopped = gw.stop();
    await waitFor(async () => !(await canConnect(portOf(gw))), 10_000, 'the stop to begin (its listener closed)');
    held.socket.resume();
    await waitFor(() => held!.closed(), 10_000, 'the connection to close');
    assert.is(await stopped, 0);
    const got = Buffer.concat(held.chunks).toString('latin1');
    const heads = [...got.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.equal(heads, ['200', '200'], `${tried.join(', ')}; ${got.length} bytes: ${got.slice(0, 300)}`);
    assert.ok(got.includes('x'.repeat(held.size)) && got.endsWith('small'), `${got.length} bytes, ending ${JSON.stringify(got.slice(-80))}`);
    assert.not.match(gw.output(), new RegExp(`"GET /pipe/(big/${held.tag}|small-${held.tag})\\S* HTTP/1\\.1" 499 `));
  } finally {
    held?.socket.destroy();
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test.run();
