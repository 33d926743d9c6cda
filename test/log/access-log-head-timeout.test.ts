// A request whose head does not arrive within --header-timeout is answered 408 and gets its
// access-log line (SPEC 4: one line per request), as nginx logs it: the request line as far as
// it was read. On the lean lane (a request line cut short, a head handed to node:http half read)
// and with node:http reading every request (APPPKG_LEAN_LANE=0), the same line. A connection that
// sent nothing made no request: no line, as in nginx's log. The line's duration is the wait
// (the head timed out, so at least --header-timeout), and a head gets --header-timeout once,
// from its first byte, whichever reader (the lane, node:http) has it when the time is up.
import { connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, type BothReaders } from '../helpers/both-readers.js';
import { spacedOut, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('access log: a head that times out');
const apps = tempDir('apppkg-head-timeout-apps-');
let lean: RunningGateway | null = null;
let node: RunningGateway | null = null;
let both: BothReaders | null = null;

const APP = `import time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        time.sleep(1.5)
    if environ["PATH_INFO"] == "/longer":
        time.sleep(2.5)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\\n"]
`;

test.before(async () => {
  writePackage(apps.path, 'slowheads', { 'app.yaml': 'platform: python, wsgi\napp: slowheads:application\n', 'slowheads.py': APP });
  both = await startBothReaders(apps, ['--header-timeout', '1']);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
});

const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);

const lineFor = (request: string) => new RegExp(`\\n127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "${request}" 408 0 "-" "-" app=- dur=(\\d+\\.\\d+)(?=\\n)`);

/** The duration of the 408 line for `request`: it waited --header-timeout (1 s), not 0. */
function assertWaited(output: string, request: string, atLeast = 0.95): void {
  const lines = [...output.matchAll(new RegExp(lineFor(request).source, 'g'))];
  const seconds = Number(lines[lines.length - 1]?.[1]);
  assert.ok(seconds >= atLeast, `the last 408 line for ${request} says it waited ${seconds} s, less than ${atLeast} s:\n${output}`);
}

// The same lines from both readers (node:http logged `-` for them, keeping no bytes of a head it
// could not finish).
const partial = 'GET /slowheads/line HT';
const afterAnswer = 'GET /slowheads/head HTTP/1\\.1';

for (const [name, gw] of [
  ['the lean lane', () => lean!],
  ['node:http', () => node!],
] as const) {
  test(`${name}: a request line cut short, and a head cut short after an answered request, each get a 408 line; a silent connection none`, async () => {
    const before = (gw().output().match(/ 408 /g) ?? []).length;
    const [cutLine, cutHead, silent] = await Promise.all([
      spacedOut(portOf(gw()), ['GET /slowheads/line HT'], 50),
      spacedOut(portOf(gw()), ['GET /slowheads/ HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /slowheads/head HTTP/1.1\r\nHost: x\r\nX-a: b'], 50),
      spacedOut(portOf(gw()), [], 50),
    ]);
    assert.match(cutLine, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(cutHead, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok\nHTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(silent === '' || silent.startsWith('HTTP/1.1 408 '), silent);
    await waitFor(() => (gw().output().match(/ 408 /g) ?? []).length >= before + 2, 5000, `two 408 lines in\n${gw().output()}`);
    assert.match(gw().output(), lineFor(partial));
    assert.match(gw().output(), lineFor(afterAnswer));
    assertWaited(gw().output(), partial);
    assertWaited(gw().output(), afterAnswer);
    // Two requests timed out; the silent connection made none (the flush of its would-be line is immediate).
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.is((gw().output().match(/ 408 /g) ?? []).length, before + 2, gw().output());
  });

  test(`R1.18c ${name}: a request line pipelined behind a slow answer times out after it, and its line counts the wait from its first byte`, async () => {
    const before = (gw().output().match(/ 408 /g) ?? []).length;
    const raw = await spacedOut(portOf(gw()), ['GET /slowheads/sleep HTTP/1.1\r\nHost: x\r\n\r\nGET /slowheads/behind HT'], 0);
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok\nHTTP\/1\.1 408 Request Timeout\r\n/);
    await waitFor(() => (gw().output().match(/ 408 /g) ?? []).length > before, 3000, `the 408 line in\n${gw().output()}`);
    // Written after the answer before it, which took the app's 1.5 s sleep.
    assertWaited(gw().output(), 'GET /slowheads/behind HT', 1.5);
  });

  test(`R1.18b ${name}: a head begun on the lean lane and finished on node:http gets --header-timeout once, from its first byte`, async () => {
    // The request line waits on the lane for 0.7 s; the next piece is a field, which hands the
    // head to node:http; the last would finish it at 1.4 s, past the 1 s bound. A clock that
    // started again at the hand-off would let it through (its 408 at 1.7 s at the earliest).
    const raw = await spacedOut(portOf(gw()), ['GET /slowheads/split HT', 'TP/1.1\r\nHost: x\r\n', 'Connection: close\r\n\r\n'], 700);
    assert.match(raw, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    await waitFor(() => lineFor('GET /slowheads/split HTTP/1\\.1').test(gw().output()), 3000, `the 408 line in\n${gw().output()}`);
    assert.not.match(gw().output(), /GET \/slowheads\/split HTTP\/1\.1" 200/);
    // Its line's duration is the whole wait, from the first byte on the lane, not from the hand-off.
    assertWaited(gw().output(), 'GET /slowheads/split HTTP/1\\.1');
  });
}

for (const [name, gw] of [['the lean lane', () => lean!], ['node:http', () => node!]] as const) {
  test(`R1.18c ${name}: a head pipelined behind a slow answer gets --header-timeout from that answer's end (nginx's client_header_timeout): its rest, sent before that answer is out, is served`, async () => {
    // The answer takes 2.5 s, past the 1 s bound; the rest of the head behind it comes at 1.8 s.
    const raw = await spacedOut(portOf(gw()), ['GET /slowheads/longer HTTP/1.1\r\nHost: x\r\n\r\nGET /slowheads/late HT', 'TP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 1800);
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\nHTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\n$/);
    await waitFor(() => /"GET \/slowheads\/late HTTP\/1\.1" 200 /.test(gw().output()), 3000, 'the second answer\'s line');
  });
}

for (const [name, gw] of [['the lean lane', () => lean!], ['node:http', () => node!]] as const) {
  test(`${name}: a connection idle after a chunked request whose trailer had a Content-Length (dropped) gets no 408: no head came`, async () => {
    const socket = connect(portOf(gw()), '127.0.0.1');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('error', () => {});
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('POST /slowheads/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n');
      await waitFor(() => got.endsWith('ok\n'), 5000, 'the answer');
      // Past --header-timeout (1 s) and node:http's next look at its connections; short of keep-alive (5 s).
      await new Promise((resolve) => setTimeout(resolve, 1800));
    } finally {
      socket.destroy();
    }
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\n$/);
  });
}

test('R1.18c node:http: a head put off behind a slow answer that does not come whole gets its 408 --header-timeout after that answer, logged with the wait from its first byte', async () => {
  // A request node:http reads (a field sent twice is not plain) takes 1.5 s; the head behind it is due 1 s after that.
  const raw = await spacedOut(portOf(lean!), ['GET /slowheads/sleep HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\n\r\nGET /slowheads/never HT'], 0);
  assert.match(raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\nHTTP\/1\.1 408 Request Timeout\r\n[^]*\r\n\r\n$/);
  assert.is(raw.match(/HTTP\/1\.1 /g)?.length, 2, raw);
  await waitFor(() => lineFor('GET /slowheads/never HT').test(lean!.output()), 3000, 'the 408\'s line');
  assertWaited(lean!.output(), 'GET /slowheads/never HT', 2.5);
});

test.run();
