// A chunked body that breaks (a bad chunk size) in a request pipelined behind one whose answer is
// not out yet, the app slow: that answer must still go out whole, then the 400 for the broken
// request, then the close (RFC 9112 §9.3.2; nginx, which turns to a request only when the one
// before is answered, does so). The lean lane cut the connection, losing the first answer;
// node:http sent that answer saying close, and never answered the broken request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, logLinesOf, withoutDates, type BothReaders, statusesOf } from '../helpers/both-readers.js';
import { recorded, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('a broken body behind an answer not out yet');
const apps = tempDir('apppkg-broken-body-apps-');
const config = tempDir('apppkg-broken-body-env-');
let both: BothReaders | null = null;

/** `/slow` answers after 0.5 s; anything else at once, after reading its body. */
const APP = `import time

def application(environ, start_response):
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

test.run();
