// A routed process whose response body stops short of its Content-Length with its socket open,
// through the real CLI, the app's `timeout` 1 s: the client's connection is cut once the body has
// been silent that long (it was held until the gateway stopped, then logged 444), logged with the
// status and bytes that went out, and the gateway's output says why; a body that keeps coming,
// each piece within the bound, runs longer than it and arrives whole (README, "Long responses").
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { httpProcessServer } from '../helpers/http-process.js';

const test = suite('processes: a response body that stops');
const work = tempDir('apppkg-body-stall-');
let gw: RunningGateway | null = null;

// stall: 2 of its 10 bytes, then silence with the socket open (for longer than the test waits);
// drip: its 6 bytes one every 0.4 s, 2.4 s in all, more than the 1 s timeout.
const SERVER = httpProcessServer(String.raw`import time


def serve(conn):
    with conn:
        data = read_head(conn)
        if data is None:
            return
        path = data.split(b" ")[1]
        if path.endswith(b"/stall"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxx")
            time.sleep(20)
        elif path.endswith(b"/drip"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
            for piece in b"abcdef":
                time.sleep(0.4)
                conn.sendall(bytes([piece]))
            time.sleep(1)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

`);

test.before(async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'slow', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\n', 'server.py': SERVER });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  slow:\n    workers: 1\n    timeout: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], { ms: 60_000 });
});

test.after(async () => {
  await gw?.stop();
  work.remove();
});

/** The raw answer to GET `path`, once the gateway closes the connection (or it ends with `end`) or `ms` passes. */
async function get(path: string, ms: number, end?: string): Promise<{ got: string; closed: boolean }> {
  const socket = net.connect(Number(new URL(gw!.url).port), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => seen.closed || (end !== undefined && seen.got.endsWith(end)), ms, () => `the connection to close, got ${JSON.stringify(seen.got)}`).catch(() => {});
    return { got: seen.got, closed: seen.closed };
  } finally {
    socket.destroy();
  }
}

test('a body silent for the app\'s timeout short of its Content-Length: the connection cut, logged with its status and bytes, the output says why', async () => {
  // Held until the gateway's stop before: 10 s is far past the 1 s bound and far short of that.
  const { got, closed } = await get('/slow/stall', 10_000);
  assert.ok(closed, `the gateway cut the connection: ${JSON.stringify(got)}`);
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nxx$/);
  await waitFor(() => gw!.output().includes('"GET /slow/stall HTTP/1.1" 200 2 '), 5000, () => `the access-log line, 200 2:\n${gw!.output()}`);
  assert.match(gw!.output(), /slow: processes\.web of slow sent nothing more of its 200 response to GET \/slow\/stall for 1 s \(the app's timeout, between two pieces of a body\): the client's connection is cut/);
});

test('a body that keeps coming, each piece within the timeout, outlasts it and arrives whole', async () => {
  const { got } = await get('/slow/drip', 10_000, 'abcdef');
  assert.match(got, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nabcdef$/);
  await waitFor(() => gw!.output().includes('"GET /slow/drip HTTP/1.1" 200 6 '), 5000, () => `the access-log line, 200 6:\n${gw!.output()}`);
  assert.not.match(gw!.output(), /sent nothing more of its 200 response to GET \/slow\/drip/);
});

test.run();
