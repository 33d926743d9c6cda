// A websocket handshake or a CONNECT pipelined behind requests whose answers are not out yet, on
// a connection node:http reads (APPPKG_LEAN_LANE=0, or after a request the lean lane handed it:
// an absolute-form target here). node:http gives up the socket as soon as it reads such a head;
// the 101, or the refusal, was written at once and closed or took over the connection, and the
// answers owed before it were lost, though the app had run their requests (the access log said
// 499). They now go out first, in order (RFC 9112 §9.3.2), as the lean lane sends them. So does
// the gateway's own answer to an `Expect: 100-continue` request behind them (R6.20b).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, logLinesOf, withoutDates, type BothReaders, statusesOf } from '../helpers/both-readers.js';
import { rawRequest, recorded, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('an upgrade or a CONNECT behind answers not out yet');
const apps = tempDir('apppkg-handover-apps-');
const config = tempDir('apppkg-handover-env-');
let both: BothReaders | null = null;

/** `/slow...` answers after 0.5 s; anything else at once. */
const APP = `import time

def application(environ, start_response):
    if environ["PATH_INFO"].startswith("/slow"):
        time.sleep(0.5)
    out = ("%s %s\\n" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]
`;

test.before(async () => {
  writePackage(apps.path, 's', { 'app.yaml': 'platform: python, wsgi\napp: slow:application\n', 'slow.py': APP });
  addPackage(apps.path, 'ws-asgi', 'ws');
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  s:\n    workers: 1\n    threads: 4\n    max_body: 1000\n  ws:\n    workers: 1\n');
  both = await startBothReaders(apps, ['--environment', envFile]);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

/** The first request of each case: absolute-form, so that node:http reads the connection on the lane too. */
const slow = (tag: string, fields = ''): string => `GET http://h/s/slow/${tag} HTTP/1.1\r\nHost: h\r\n${fields}\r\n`;
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;
const handshake = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

test('a CONNECT or a refused handshake behind answers owed: they go out whole and in order, then its refusal and the close; from both readers, byte for byte, and logged in order', async () => {
  const cases: Array<[bytes: string, tag: string, statuses: number[]]> = [
    [`${slow('ho1')}${get('/s/fast/ho1')}CONNECT ho1.example:443 HTTP/1.1\r\nHost: ho1.example:443\r\n\r\n${get('/s/never/ho1')}`, 'ho1', [200, 200, 501]],
    [`${slow('ho2')}${handshake('/nowhere/ho2')}`, 'ho2', [200, 404]],
    // Behind an answer that closes the connection nothing is read (RFC 9112 §9.6).
    [`${slow('ho3', 'Connection: close\r\n')}CONNECT ho3.example:443 HTTP/1.1\r\nHost: ho3.example:443\r\n\r\n`, 'ho3', [200]],
  ];
  for (const [bytes, tag, statuses] of cases) {
    const [lean, node] = await Promise.all([both!.lean, both!.node].map((gw) => rawRequest(portOf(gw), bytes, 5000)));
    for (const raw of [lean, node]) {
      assert.equal(statusesOf(raw), statuses, raw);
      assert.ok(raw.includes('Connection: close\r\n'), `the last answer closes: ${raw}`);
      assert.ok(raw.includes(`GET /slow/${tag}\n`), raw);
    }
    assert.is(withoutDates(lean), withoutDates(node));
    const lines = (gw: RunningGateway): Promise<string[]> =>
      waitFor(() => logLinesOf(gw, tag).length >= statuses.length && logLinesOf(gw, tag), 5000, () => `${statuses.length} access-log lines with ${tag}\n${gw.output()}`);
    for (const gw of [both!.lean, both!.node]) {
      const logged = await lines(gw);
      assert.equal(logged.map((l) => Number(/" (\d{3}) /.exec(l)![1])), statuses, logged.join('\n'));
    }
  }
  for (const gw of [both!.lean, both!.node]) {
    assert.equal(logLinesOf(gw, '/never/').length, 0, 'nothing after the CONNECT is read');
    assert.equal(logLinesOf(gw, 'ho3.example').length, 0, 'nothing after a closing answer is read');
  }
});

test('a websocket handshake behind an answer owed: that answer first, then the 101, and the websocket echoes', async () => {
  for (const gw of [both!.lean, both!.node]) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
      socket.write(`${slow('ho4')}${handshake('/ws/echo')}`);
      const headOf101 = (): boolean => seen.got.includes('HTTP/1.1 101 ') && seen.got.includes('\r\n\r\n', seen.got.indexOf('HTTP/1.1 101 '));
      await waitFor(headOf101, 5000, () => `the 101, got ${JSON.stringify(seen.got)}`);
      assert.equal(statusesOf(seen.got), [200, 101], seen.got);
      assert.ok(seen.got.indexOf('GET /slow/ho4\n') < seen.got.indexOf('HTTP/1.1 101 '), seen.got);
      // A masked text frame "hi" (RFC 6455 §5.2), mask 0: echoed unmasked.
      socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]));
      await waitFor(() => seen.got.endsWith('\x81\x02hi'), 5000, () => `the echo, got ${JSON.stringify(seen.got)}`);
    } finally {
      socket.destroy();
    }
  }
});

test('an Expect: 100-continue request the gateway answers itself (404, 413) behind an answer owed: after it, at once, never a 100; the connection kept when its body came, closed when held back; from both readers, byte for byte', async () => {
  const expecting = (path: string, framing: string): string => `POST ${path} HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n${framing}`;
  const cases: Array<[bytes: string, tag: string, statuses: number[]]> = [
    // Its body with its head: the 404 waits for llhttp to read it (front.ts routeRequest), then
    // keeps the connection for the requests behind.
    [`${slow('ex1')}${expecting('/nowhere/ex1', 'Content-Length: 5\r\n\r\nhello')}${get('/s/fast/ex1')}GET /s/last/ex1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, 'ex1', [200, 404, 200, 200]],
    // Held back (a client waiting for the 100): answered once the answer before is out, and
    // closed; nothing waits for a body that may never come (a 408 at --header-timeout, 20 s).
    [`${slow('ex2')}${expecting('/nowhere/ex2', 'Content-Length: 5\r\n\r\n')}`, 'ex2', [200, 404]],
    [`${slow('ex3')}${expecting('/s/big/ex3', 'Content-Length: 5000\r\n\r\n')}`, 'ex3', [200, 413]],
  ];
  for (const [bytes, tag, statuses] of cases) {
    const started = performance.now();
    const [lean, node] = await Promise.all([both!.lean, both!.node].map((gw) => rawRequest(portOf(gw), bytes, 5000)));
    const ms = performance.now() - started;
    for (const raw of [lean, node]) {
      assert.equal(statusesOf(raw), statuses, raw);
      assert.ok(raw.indexOf(`GET /slow/${tag}\n`) < raw.indexOf(`HTTP/1.1 ${statuses[1]} `), raw);
      assert.not.match(raw, '100 Continue', 'no 100 to a request the gateway answers itself');
      assert.match(raw.split(`HTTP/1.1 ${statuses[1]} `)[1], statuses.length > 2 ? /^[^]*?Connection: keep-alive\r\n/ : /^[^]*?Connection: close\r\n/);
    }
    assert.ok(ms < 3000, `${tag}: answered in ${Math.round(ms)} ms`);
    assert.is(withoutDates(lean), withoutDates(node));
  }
});

test.run();
