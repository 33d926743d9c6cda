// SPEC 4: a stop finishes the requests in flight. One read pipelined behind an answer that had
// ended but was not sent yet (its client reading slowly) was cut with its connection, and that
// answer truncated: node:http's closeIdleConnections, which the stop runs, took the connection
// for idle since the answer it was writing had ended, the next one waiting its turn unseen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { portOf } from '../helpers/both-readers.js';
import { startCli, tempDir, waitFor, within } from '../helpers/process.js';
import { canConnect } from '../helpers/servers.js';

const BIG = 8 * 1024 * 1024;

for (const [reader, lane] of [['node:http', '0'], ['the lean lane', '1']]) test(`a stop while an ended answer waits for its client, a request pipelined behind it: both answered whole, on ${reader}`, async () => {
  const apps = tempDir('apppkg-stop-pipelined-apps-');
  const state = tempDir('apppkg-stop-pipelined-state-');
  // Returned as one list item, /big leaves the worker whole: the front ends its answer at once,
  // more than the socket's buffers hold while the client does not read.
  writePackage(apps.path, 'pipe', {
    'app.yaml': 'platform: python, wsgi\napp: pipe:application\n',
    'pipe.py': `import os
def application(environ, start_response):
    path = environ["PATH_INFO"]
    body = b"x" * ${BIG} if path == "/big" else b"small"
    start_response("200 OK", [("Content-Type", "text/plain")])
    open(os.path.join(${JSON.stringify(state.path)}, path.strip("/") + ".done"), "w").close()
    return [body]
`,
  });
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  pipe:\n    workers: 1\n    threads: 2\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, '--access-log', '-'], { env: { APPPKG_LEAN_LANE: lane } });
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  try {
    await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
    socket.pause();
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write('GET /pipe/big HTTP/1.1\r\nHost: x\r\n\r\nGET /pipe/small HTTP/1.1\r\nHost: x\r\n\r\n');
    // The second waits, unrun, for the first's answer to be written (R6.27): on node:http until the client reads it.
    await waitFor(() => existsSync(join(state.path, 'big.done')), 10_000, 'the first request to reach the app');
    // The worker's frame of 8 MiB on its way to the front: ended there in a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopped = gw.stop();
    await waitFor(async () => !(await canConnect(portOf(gw))), 10_000, 'the stop to begin (its listener closed)');
    socket.resume();
    await waitFor(() => closed, 10_000, 'the connection to close');
    assert.is(await stopped, 0);
    const got = Buffer.concat(chunks).toString('latin1');
    const heads = [...got.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.equal(heads, ['200', '200'], `${got.length} bytes: ${got.slice(0, 300)}`);
    assert.ok(got.includes('x'.repeat(1000)) && got.endsWith('small'), `${got.length} bytes, ending ${JSON.stringify(got.slice(-80))}`);
    assert.not.match(gw.output(), /" 499 /);
  } finally {
    socket.destroy();
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test.run();
