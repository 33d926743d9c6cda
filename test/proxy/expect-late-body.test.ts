// The gateway's own answer (a 404) to a request with `Expect: 100-continue` whose body the client
// held back, waiting for the 100, and then sends anyway once the 404 is in, with a request
// pipelined behind it. RFC 9110 §10.1.1 lets a server that answers before it has read the
// content either close or read on and drop it, saying which; a client that got a final status
// may send its body or not (curl does not), so what follows the head may be that body or the
// next request, and reading on could take one for the other. Both readers close: `Connection:
// close` on the 404, the late body and the request behind it never answered. The lean lane and
// node:http (APPPKG_LEAN_LANE=0) must give the same bytes, as the first request of a connection
// and behind one it answered. Pins what both do since 2026-12-07 (H264 found them agreeing).
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { portOf, startBothReaders, statusesOf, withoutDates, type BothReaders } from '../helpers/both-readers.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus } from '../helpers/status.js';

const test = suite('proxy: Expect: 100-continue, the body sent after the gateway\'s own answer');
const apps = tempDir('apppkg-expect-late-apps-');
let both: BothReaders | null = null;

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'wsgi');
  both = await startBothReaders(apps, ['--access-log', 'off']);
  for (const gw of [both.lean, both.node]) {
    await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the app to serve');
  }
});

test.after(async () => {
  await both?.stop();
});

const NEXT = 'GET /wsgi/echo?next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** `before` and the Expect head; once its 404 is in, `body` and NEXT: everything back until the close. */
async function lateBody(gw: RunningGateway, before: string, framing: string, body: string): Promise<string> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(`${before}POST /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n${framing}\r\n`);
    const answers = statusesOf(before).length + 1;
    await waitFor(() => seen.closed || statusesOf(seen.got).length >= answers && seen.got.endsWith('no app is mounted at /nowhere\n'), 10_000, () => `the 404, got ${JSON.stringify(seen.got)}`);
    if (!seen.closed) socket.write(body + NEXT, () => {});
    await waitFor(() => seen.closed, 10_000, () => `the close, got ${JSON.stringify(seen.got)}`);
    return seen.got;
  } finally {
    socket.destroy();
  }
}

const framings: Array<[string, string, string]> = [
  ['Content-Length', 'Content-Length: 5\r\n', 'hello'],
  ['chunked', 'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'],
];
const befores: Array<[string, string]> = [
  ['first on its connection', ''],
  ['behind an answered request', 'GET /wsgi/echo?before HTTP/1.1\r\nHost: x\r\n\r\n'],
];

for (const [framingName, framing, body] of framings) {
  for (const [where, before] of befores) {
    test(`${framingName}, ${where}: the 404 says close and the connection closes, the late body and the request behind it unread, on both readers`, async () => {
      const lean = await lateBody(both!.lean, before, framing, body);
      const node = await lateBody(both!.node, before, framing, body);
      const expected = before === '' ? [404] : [200, 404];
      assert.equal(statusesOf(lean), expected, lean);
      const last = lean.slice(lean.lastIndexOf('HTTP/1.1 404 '));
      assert.match(last, /\r\nConnection: close\r\n/, last);
      assert.not.match(lean, /next/, 'the request behind the late body is never read');
      assert.is(withoutDates(node), withoutDates(lean), 'node:http gives the same bytes');
    });
  }
}

test.run();
