// An answer the app gave before its request's body was in waits for that body (lean-connection.ts
// holdForBody, node-body-hold.ts): --header-timeout for the body's first byte, the app's `timeout`
// from the last byte on. Both readers must hold it alike: node:http took a body begun in the
// head's own read for one not begun, and let the answer go at --header-timeout (20 s) where the
// lane held it the app's timeout (60 s). Here --header-timeout is 2 s and the app's timeout 8 s,
// so that the two bounds are told apart by what comes back, not by a clock read in the test.
// Also here, where a path no app serves is at hand (the app is mounted at /w): the gateway's own
// 404 to a request whose chunked body breaks in the bytes that came with it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, statusesOf, withoutDates, type BothReaders } from '../helpers/both-readers.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('what waits for a request body, alike on both readers');
const apps = tempDir('apppkg-stall-hold-apps-');
const config = tempDir('apppkg-stall-hold-env-');
let both: BothReaders | null = null;

/** Answers without reading its body: the answer is whole before the body is in. */
const NO_READ = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
`;

/** Reads its body; when the read raises (the client stopped sending: the gateway's 408), makes the file its query names. */
const READS = `import os

def application(environ, start_response):
    try:
        environ["wsgi.input"].read()
    except Exception:
        open(environ["QUERY_STRING"], "w").close()
        raise
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
`;

test.before(async () => {
  writePackage(apps.path, 'noread', { 'app.yaml': 'platform: python, wsgi\napp: noread:application\n', 'noread.py': NO_READ });
  writePackage(apps.path, 'reads', { 'app.yaml': 'platform: python, wsgi\napp: reads:application\n', 'reads.py': READS });
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  noread:\n    mount: /w\n    workers: 1\n    timeout: 8\n  reads:\n    mount: /r\n    workers: 1\n    timeout: 8\n', { mode: 0o600 });
  both = await startBothReaders(apps, ['--environment', envFile, '--header-timeout', '2']);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `first` (a head and a part of its body, in one write), then, once past --header-timeout and
 * well within the app's timeout, what came back; then the rest of the body and a second request.
 */
async function heldThenServed(gw: RunningGateway, first: string, rest: string, path: string): Promise<{ early: string; got: string; closed: boolean }> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(Buffer.from(first, 'latin1'));
    await sleep(4000);
    const early = seen.got;
    socket.write(Buffer.from(`${rest}GET ${path}-next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, 'latin1'));
    await waitFor(() => seen.closed, 10_000, `the close after the second answer, got ${JSON.stringify(seen.got)}`);
    return { early, got: seen.got, closed: seen.closed };
  } finally {
    socket.destroy();
  }
}

test('a body begun in the head\'s own read, then stalled past --header-timeout: the answer waits the app\'s timeout on both readers, and goes once the body is in', async () => {
  for (const [name, gw] of [['lean lane', both!.lean], ['node:http', both!.node]] as const) {
    const r = await heldThenServed(gw, 'POST /w/h1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab', 'cdefghij', '/w/h1');
    assert.not.match(r.early, /\r\n\r\nok/, `${name}: the answer went before its body was in: ${JSON.stringify(r.early)}`);
    assert.equal(statusesOf(r.got), [200, 200], `${name}: ${JSON.stringify(r.got)}`);
  }
});

test('a body the app reads that stops arriving: the 408 goes when it is decided, on both readers, not held the app\'s timeout again for the body it gave up on', async () => {
  // The 408 (wsgi-exchange.ts expireClient) is whole before its body is in, and both readers
  // held it for that body, as any such answer: the client had it after twice the app's timeout.
  const markers = tempDir('apppkg-stall-408-');
  try {
    for (const [name, gw] of [['lean', both!.lean], ['node', both!.node]] as const) {
      const marker = join(markers.path, name);
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        socket.write(`POST /r/stall?${marker} HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab`);
        await waitFor(() => existsSync(marker), 20_000, `${name}: the app's read raising (the 408 decided)`);
        // Well within the app's timeout (8 s), which the held 408 waited again.
        await waitFor(() => seen.closed, 4000, () => `${name}: the 408 and the close soon after the app's read raised, got ${JSON.stringify(seen.got)}`);
        assert.equal(statusesOf(seen.got), [408], seen.got);
      } finally {
        socket.destroy();
      }
    }
  } finally {
    markers.remove();
  }
});

test('the gateway\'s own 404 to a request whose chunked body breaks in the bytes that came with it: the 400 from both readers, first on its connection or pipelined behind another 404', async () => {
  // The lane answered 404 and closed; node:http too for the request it read first, and the 400
  // for one pipelined (its answer waited its turn while llhttp read the body).
  const broken = 'POST /nowhere HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET /w/never HTTP/1.1\r\nHost: h\r\n\r\n';
  for (const before of ['', 'GET /nowhere-first HTTP/1.1\r\nHost: h\r\n\r\n']) {
    const answers: string[] = [];
    for (const gw of [both!.lean, both!.node]) {
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        socket.write(before + broken);
        await waitFor(() => seen.closed, 5000, () => `the close, got ${JSON.stringify(seen.got)}`);
        answers.push(seen.got);
      } finally {
        socket.destroy();
      }
    }
    for (const raw of answers) {
      assert.equal(statusesOf(raw), before === '' ? [400] : [404, 400], raw);
      assert.ok(raw.endsWith('\na chunk-size line does not end in CRLF\n'), raw);
    }
    assert.is(withoutDates(answers[0]), withoutDates(answers[1]));
  }
});

test.run();
