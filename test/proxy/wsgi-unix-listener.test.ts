// A WSGI app over a unix-socket listener (`--listen unix:PATH`, the shipped systemd unit's), raw
// bytes through the real CLI (probe-l finding 2): a client that reads a whole streamed response
// (Content-Length honoured) and closes at once is logged with the status it got, not 499, as
// over TCP: the response's end wrote no bytes, and a zero-byte write to a unix socket whose
// peer has gone fails (EPIPE).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('wsgi over a unix-socket listener');
const work = tempDir('apppkg-wsgi-unix-');
const socketPath = join(work.path, 'gateway.sock');
let gw: RunningGateway;
const pids: number[] = [];

// The body leaves as a generator's pieces (RESPONSE, RESPONSE_BODY, RESPONSE_END frames): the
// response ends after the client may already have read all of it.
const APP = `import json

def application(environ, start_response):
    if environ["PATH_INFO"] == "/environ":
        keys = ("SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "wsgi.url_scheme")
        body = json.dumps({k: environ.get(k) for k in keys}).encode()
    else:
        body = b"x" * 700
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return iter([body])
`;

test.before(async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'uw', { 'app.yaml': 'platform: python, wsgi\napp: uw:application\n', 'uw.py': APP });
  gw = await startCli([
    '--apps', apps, '--listen', `unix:${socketPath}`, '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'),
  ]);
});

test.after(async () => {
  if (gw) pids.push(...statusPids(await gatewayStatus(gw)));
  await gw?.stop();
  await assertNoOrphans(pids, 10_000);
  work.remove();
});

/** Sends `request` on a new unix-socket connection and reads the answer's head and exactly its Content-Length. */
function exchange(request: string): Promise<{ head: string; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no whole answer within 10 s to ${JSON.stringify(request)}`));
    }, 10_000);
    let got = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = got.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (got.length - end - 4 < length) return;
      clearTimeout(timer);
      resolve({ head, body: got.toString('latin1', end + 4, end + 4 + length), socket });
    });
  });
}

test('a whole response read, then the connection closed at once: logged 200, never 499', async () => {
  const rounds = 40;
  for (let i = 0; i < rounds; i++) {
    const { head, body, socket } = await exchange(`GET /uw/read-${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.is(body.length, 700);
    socket.destroy(); // as curl and health checkers do, before the gateway's end could be seen
  }
  const line = (i: number) => new RegExp(`"GET /uw/read-${i} HTTP/1\\.1" (\\d{3}) `);
  await waitFor(() => Array.from({ length: rounds }, (_, i) => line(i).test(gw.output())).every(Boolean), 10_000, () => `${rounds} access-log lines in\n${gw.output()}`);
  const statuses = Array.from({ length: rounds }, (_, i) => line(i).exec(gw.output())![1]);
  assert.equal(statuses.filter((s) => s !== '200'), [], 'every complete response logged as 200');
});

test.run();
