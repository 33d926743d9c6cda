// An Upgrade refused (the gateway's 501 on a WSGI path, its 404 where no app is, a process's own
// 403 under its route) closes its connection even when the client writes after the request head (a websocket client's first frame or its
// close frame, sent before it reads the refusal). node:http hands an upgrade's socket over
// paused: unread bytes held the client's FIN behind them, so the socket never ended, its
// descriptor stayed open for good and its access-log line (written at the close, SPEC §4: one
// per request) never came. Found by H262 from the outside.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { wsgiPackage, writePackage } from '../helpers/apps-dir.js';
import { runIf } from '../helpers/skip.js';
import { startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('a refused upgrade closes, whatever the client wrote');
const apps = tempDir('apppkg-refused-upgrade-apps-');
const state = tempDir('apppkg-refused-upgrade-state-');
let gw: RunningGateway;

/** A process that declines every websocket under its route: 403, as a server checking Origin does. */
const LIVE = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(403)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"no")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

test.before(async () => {
  wsgiPackage(apps.path, 'w', 'platform: python, wsgi\napp: wsgi:application\n');
  writePackage(apps.path, 'p', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nprocesses:\n  live:\n    command: python3 live.py\n    route: /live\n',
    'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'live.py': LIVE,
  });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  for (const path of ['/w/', '/p/live/x']) {
    await waitFor(async () => (await fetch(`${gw.url}${path}`)).status === (path === '/w/' ? 200 : 403), 30_000, () => `${path} answered in\n${gw.output()}`);
  }
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

const port = (): number => Number(new URL(gw.url).port);

/** A masked text frame, as a client sends it (RFC 6455 §5.3). */
const FRAME = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);

/**
 * A websocket handshake to `path` whose client writes a frame once the answer begins to come,
 * then ends its side when the gateway ends its own: what it read.
 */
function handshakeThenFrame(path: string): Promise<string> {
  return within(10_000, `the refused handshake to ${path} to close`, new Promise<string>((resolve) => {
    const socket = net.connect(port(), '127.0.0.1');
    let got = '';
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`),
    );
    socket.on('data', (c: Buffer) => {
      if (got === '') socket.write(FRAME);
      got += c.toString('latin1');
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
  }));
}

/** The gateway's open sockets: listeners, worker links, and each client connection. */
function gatewaySockets(): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${gw.child.pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${gw.child.pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

test('the refusal has its access-log line once the client is gone (501 on a WSGI path, 404 where no app is, a process\'s 403)', async () => {
  assert.match(await handshakeThenFrame('/w/chat'), /^HTTP\/1\.1 501 Not Implemented\r\n/);
  assert.match(await handshakeThenFrame('/nothing-here/chat'), /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.match(await handshakeThenFrame('/p/live/chat'), /^HTTP\/1\.1 403 Forbidden\r\n/);
  const line = (path: string, status: number, app: string) => new RegExp(`"GET ${path} HTTP/1\\.1" ${status} \\d+ "-" "-" app=${app} dur=`);
  await waitFor(() => line('/w/chat', 501, 'w').test(gw.output()), 5000, () => `the 501's access-log line in\n${gw.output()}`);
  await waitFor(() => line('/nothing-here/chat', 404, '-').test(gw.output()), 5000, () => `the 404's access-log line in\n${gw.output()}`);
  await waitFor(() => line('/p/live/chat', 403, 'p').test(gw.output()), 5000, () => `the 403's access-log line in\n${gw.output()}`);
});

runIf(test, existsSync('/proc/self/fd'), 'counts the gateway\'s descriptors in /proc/PID/fd (Linux)')(
  'no descriptor is left behind by 30 such refusals',
  async () => {
    const before = gatewaySockets();
    for (let i = 0; i < 10; i++) {
      await handshakeThenFrame(`/w/chat-${i}`);
      await handshakeThenFrame(`/nothing-here/chat-${i}`);
      await handshakeThenFrame(`/p/live/chat-${i}`);
    }
    await waitFor(() => gatewaySockets() <= before, 5000, () => `the gateway's sockets back to ${before} (it holds ${gatewaySockets()})`);
  },
);

test.run();
