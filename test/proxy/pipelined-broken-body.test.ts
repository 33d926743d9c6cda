// A chunked body that breaks (a bad chunk size) in a request pipelined behind one whose answer is
// not out yet, the app slow: that answer must still go out whole, then the 400 for the broken
// request, then the close (RFC 9112 §9.3.2; nginx, which turns to a request only when the one
// before is answered, does so). The lean lane cut the connection, losing the first answer;
// node:http sent that answer saying close, and never answered the broken request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, logLinesOf, withoutDates, type BothReaders, statusesOf } from '../helpers/both-readers.js';
import { recorded, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('a broken body behind an answer not out yet');
const apps = tempDir('apppkg-broken-body-apps-');
const config = tempDir('apppkg-broken-body-env-');
let both: BothReaders | null = null;

/**
 * `/slow` answers after 0.5 s; anything else at once, after reading its body. `/hold?FILE` answers
 * once FILE exists (at most 10 s); `/early?FILE` answers without reading its body, then makes FILE.
 */
const APP = `import os, time

def application(environ, start_response):
    marker = environ["QUERY_STRING"]
    if environ["PATH_INFO"].startswith("/hold"):
        for _ in range(1000):
            if os.path.exists(marker):
                break
            time.sleep(0.01)
    if environ["PATH_INFO"].startswith("/early"):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        open(marker, "w").close()
        return [b"early\\n"]
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"].startswith("/slow"):
        time.sleep(0.5)
    out = ("%s %s %d\\n" % (environ["REQUEST_METHOD"], environ["PATH_INFO"], len(body))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]
`;

test.before(async () => {
  writePackage(apps.path, 'slow', { 'app.yaml': 'platform: python, wsgi\napp: slow:application\n', 'slow.py': APP });
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  slow:\n    mount: /\n    workers: 1\n    threads: 4\n');
  both = await startBothReaders(apps, ['--environment', envFile]);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

/** `bytes` in one write on a fresh connection (then a FIN if `fin`): everything that came back until the close. */
async function answersTo(gw: RunningGateway, bytes: string, fin: boolean): Promise<string> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const seen = recorded(socket);
  try {
    await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
    socket.write(bytes);
    if (fin) socket.end();
    await waitFor(() => seen.closed, 5000, () => `the close, got ${JSON.stringify(seen.got)}`);
    return seen.got;
  } finally {
    socket.destroy();
  }
}

const broken = (tag: string, body: string): string => `POST /broken/${tag} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;

test('the answers owed go out whole and in order, then the 400 saying why, then the close; from both readers, byte for byte, and logged alike', async () => {
  const cases: Array<[bytes: string, tag: string, statuses: number[], says: string, fin?: boolean]> = [
    [`GET /slow/bb1 HTTP/1.1\r\nHost: h\r\n\r\n${broken('bb1', 'zz\r\nabc\r\n0\r\n\r\n')}`, 'bb1', [200, 400], 'a chunk size is not a hexadecimal number'],
    // Two answers owed before it, the second one quick: each goes out in its turn.
    [`GET /slow/bb2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast/bb2 HTTP/1.1\r\nHost: h\r\n\r\n${broken('bb2', '3\r\nabcd\r\n0\r\n\r\n')}GET /never/bb2 HTTP/1.1\r\nHost: h\r\n\r\n`, 'bb2', [200, 200, 400], 'chunk data is longer than its size'],
    // Good chunks first, then the break: the app may have begun that request; its answer is the 400.
    [`GET /slow/bb3 HTTP/1.1\r\nHost: h\r\n\r\n${broken('bb3', '3\r\nabc\r\n-1\r\nx\r\n0\r\n\r\n')}`, 'bb3', [200, 400], 'a chunk size is not a hexadecimal number'],
    // The client's FIN inside the body (`printf ... | nc`): the body can never end.
    [`GET /slow/bb4 HTTP/1.1\r\nHost: h\r\n\r\n${broken('bb4', '3\r\nab')}`, 'bb4', [200, 400], 'the connection ended before the whole request came', true],
  ];
  for (const [bytes, tag, statuses, says, fin = false] of cases) {
    const [lean, node] = await Promise.all([answersTo(both!.lean, bytes, fin), answersTo(both!.node, bytes, fin)]);
    for (const raw of [lean, node]) {
      assert.equal(statusesOf(raw), statuses, raw);
      assert.ok(raw.includes(`GET /slow/${tag} 0\n`), raw);
      assert.ok(raw.endsWith(`\n${says}\n`), raw);
      // The answers before it are as they would have been: the break was not theirs.
      assert.ok(raw.split('HTTP/1.1 400 ')[0].includes('Connection: keep-alive'), raw);
    }
    assert.is(withoutDates(lean), withoutDates(node));
    const lines = (gw: RunningGateway): Promise<string[]> =>
      waitFor(() => logLinesOf(gw, tag).length >= statuses.length && logLinesOf(gw, tag), 5000, `${statuses.length} access-log lines with ${tag}`);
    const [leanLines, nodeLines] = await Promise.all([lines(both!.lean), lines(both!.node)]);
    assert.match(nodeLines[nodeLines.length - 1], new RegExp(`"POST /broken/${tag} HTTP/1\\.1" 400 `));
    assert.equal(leanLines, nodeLines, `${both!.lean.output()}\n---\n${both!.node.output()}`);
    assert.not.ok(logLinesOf(both!.node, '/never').length + logLinesOf(both!.lean, '/never').length, 'nothing after the broken body is read');
  }
});

test('a body that breaks behind an answer not written yet, its app one that answers before reading: never run before its turn, so its answer has no head to replace; that answer whole, then the 400', async () => {
  // Tries to reach lean-connection.ts refuseBody with the refused request's index past the
  // writer's (its answer's head given, waiting behind another): the lane reads no head while an
  // answer before it is unwritten (awaitTurn), so the request whose body breaks is always the
  // writer's or before it. /early would make its marker at once if it were run ahead.
  const markers = tempDir('apppkg-broken-body-markers-');
  try {
    for (const [reader, gw] of [['lean', both!.lean], ['node', both!.node]] as const) {
      const early = join(markers.path, `early-${reader}`);
      const go = join(markers.path, `go-${reader}`);
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        await within(5000, 'the connect', new Promise((resolve) => socket.once('connect', resolve)));
        socket.write(`GET /hold/bb5?${go} HTTP/1.1\r\nHost: h\r\n\r\nPOST /early/bb5?${early} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
        // Time for /early to run if it were run ahead: it is not, however long this is.
        await waitFor(() => existsSync(early), 1000).catch(() => {});
        assert.not.ok(existsSync(early), `${reader}: the request behind an answer not written yet was run ahead`);
        socket.write('zz\r\n');
        writeFileSync(go, '');
        await waitFor(() => seen.closed, 10_000, () => `${reader}: the close, got ${JSON.stringify(seen.got)}`);
        assert.equal(statusesOf(seen.got), [200, 400], `${reader}: ${seen.got}`);
        assert.ok(seen.got.includes('GET /hold/bb5 0\n'), `${reader}: ${seen.got}`);
        assert.ok(seen.got.endsWith('\na chunk size is not a hexadecimal number\n'), `${reader}: ${seen.got}`);
      } finally {
        socket.destroy();
      }
    }
  } finally {
    markers.remove();
  }
});

test.run();
