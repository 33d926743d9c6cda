// The lean lane (src/proxy/lean-lane.ts) against node:http (a second gateway with
// APPPKG_LEAN_LANE=0), on odd request bytes: a seeded generator of request lines, versions,
// header fields, framings and chunked bodies, pipelined and sent whole or a few bytes at a time.
// Two readers that frame a request differently are how requests are smuggled, so each case must
// come out the same from both: the answers' statuses in order, what the app saw and answered,
// whether the connection ended. A refusal's reason and the order of its fields are left out:
// they are worded by two parsers (llhttp's code, or the lane's own), and say the same 400.
// The cases a difference was found in and fixed are kept beside the generator, access-log
// lines compared too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, type BothReaders } from '../helpers/both-readers.js';
import { tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane against node:http, on odd inputs');
const apps = tempDir('apppkg-lean-diff-apps-');
const config = tempDir('apppkg-lean-diff-env-');
let both: BothReaders | null = null;
let lean: RunningGateway;
let node: RunningGateway;

/** What the app saw: method, route, version, the framing fields, the body and its length. */
const ECHO = `import json


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    seen = {k: environ.get(k) for k in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "SERVER_PROTOCOL",
                                        "CONTENT_LENGTH", "HTTP_HOST", "HTTP_TRANSFER_ENCODING", "HTTP_X_A", "HTTP_USER_AGENT")}
    seen["fields"] = sorted(k for k in environ if k.startswith("HTTP_"))
    seen["body"] = body.decode("latin-1")
    seen["length"] = len(body)
    out = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
`;

test.before(async () => {
  writePackage(apps.path, 'echo', { 'app.yaml': 'platform: python, wsgi\napp: echo:application\n', 'echo.py': ECHO });
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  echo:\n    mount: /\n    workers: 1\n    threads: 4\n');
  both = await startBothReaders(apps, ['--environment', envFile, '--header-timeout', '2']);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

interface Case {
  name: string;
  bytes: Buffer;
  /** Written this many bytes at a time, each in a turn of its own; 0: in one write. */
  split: number;
  /** The client half-closes once it has sent all (as `printf ... | nc`). */
  fin: boolean;
}

const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);

/** Everything the server sent on one connection, and how it ended (`closed`, or `open` after 1.5 s). */
async function exchange(port: number, c: Case): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let got = '';
  let closed = false;
  let reset = false;
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  // A server that answers 400 and closes while the client still sends makes its kernel reset
  // the connection, and the client's kernel may drop the 400 unread (both readers do so; nginx
  // drains the input a while first, its lingering close): such a case is told apart.
  socket.on('error', (err: NodeJS.ErrnoException) => (reset ||= err.code === 'ECONNRESET' || err.code === 'EPIPE'));
  const done = new Promise<string>((resolve) => socket.on('close', () => ((closed = true), resolve('closed'))));
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    if (c.split === 0) socket.write(c.bytes);
    // A long head (a 9 KB target or field) in pieces of 1 KB at most: a byte a turn is slow.
    const step = Math.max(c.split, Math.ceil(c.bytes.length / 1024));
    for (let at = 0; c.split > 0 && at < c.bytes.length && !closed; at += step) {
      socket.write(c.bytes.subarray(at, at + step));
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (c.fin && !closed) socket.end();
    let timer: NodeJS.Timeout | undefined;
    const how = await Promise.race([done, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('open'), 1000)))]);
    clearTimeout(timer);
    return `${got}\n<${reset ? 'reset' : how}>`;
  } finally {
    socket.destroy();
  }
}

/**
 * What must be the same from both readers: each answer's status in order, the whole of the
 * app's answers (what it saw), the connection's end. Dates differ; so do a refusal's reason and
 * field order (see the top).
 */
function comparable(raw: string): string {
  return raw
    .replace(/\r\nDate: [^\r]*/g, '')
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .map((answer) => (/^HTTP\/1\.1 [45]\d\d /.test(answer) ? `${answer.slice(0, 12)} (refused)${answer.match(/\n<[^>]*>$/)?.[0] ?? ''}` : answer))
    .join('');
}

/** The access-log lines whose request line has `tag`, without their time and duration. */
const linesOf = (gw: RunningGateway, tag: string): string[] =>
  gw
    .output()
    .split('\n')
    .filter((l) => l.includes(tag))
    .map((l) => l.replace(/\[[^\]]*\]/, '[-]').replace(/ dur=[\d.]+$/, ''));

/** `bytes` to both gateways (whole, then a FIN): the answers, as comparable() makes them, and the log lines with `tag`. */
async function bothAnswer(bytes: string, tag: string, expectedLines: number): Promise<{ lean: string; node: string; leanLines: string[]; nodeLines: string[] }> {
  const c: Case = { name: tag, bytes: Buffer.from(bytes, 'latin1'), split: 0, fin: true };
  const [a, b] = await Promise.all([exchange(portOf(lean), c), exchange(portOf(node), c)]);
  const lines = (gw: RunningGateway): Promise<string[]> => waitFor(() => linesOf(gw, tag).length >= expectedLines && linesOf(gw, tag), 5000, `${expectedLines} access-log lines with ${tag}`);
  const [leanLines, nodeLines] = await Promise.all([lines(lean), lines(node)]);
  return { lean: a, node: b, leanLines, nodeLines };
}

const statusesOf = (raw: string): number[] => [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('a pipelined head llhttp refuses, behind an answered request, the client half-closed (`printf ... | nc`): its 400 and its access-log line, on node:http too', async () => {
  const got = await bothAnswer('GET /fin-1 HTTP/1.1\r\nHost: h\r\n\r\nGET\t /fin-2 HTTP/1.1\r\nHost: h\r\n\r\n', '/fin-', 2);
  for (const raw of [got.lean, got.node]) assert.equal(statusesOf(raw), [200, 400], raw);
  assert.is(comparable(got.lean), comparable(got.node));
  assert.is(got.nodeLines.length, 2, got.nodeLines.join('\n'));
  assert.match(got.nodeLines[1], /\/fin-2 HTTP\/1\.1" 400 /);
  assert.equal(got.leanLines, got.nodeLines);
});

test('a request behind a refusal that closes the connection (HTTP/2.0, 505) is not answered, though llhttp reads on (Proxy-Connection: keep-alive)', async () => {
  const bytes = 'POST /pc-1 HTTP/2.0\r\nProxy-Connection: keep-alive\r\nContent-Length: 5\r\n\r\nhello' + 'HEAD /pc-2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nHost: h\r\n\r\n0\r\n\r\n';
  const got = await bothAnswer(bytes, '/pc-', 1);
  for (const raw of [got.lean, got.node]) assert.equal(statusesOf(raw), [505], raw);
  assert.is(comparable(got.lean), comparable(got.node));
  assert.equal(got.leanLines, got.nodeLines);
});

test('a version llhttp refuses (HTTP/1.x) in a read whose later line says HTTP/2.0: 400 for the line refused, not 505', async () => {
  const got = await bothAnswer('GET /omv-1 HTTP/1.x\r\nHost: h\r\n\r\nGET /omv-2 HTTP/2.0\r\nHost: h\r\n\r\n', '/omv-', 1);
  for (const raw of [got.lean, got.node]) assert.equal(statusesOf(raw), [400], raw);
  assert.equal(got.leanLines, got.nodeLines);
});

test('PRI, the HTTP/2 preface\'s method, in an HTTP/1.1 line: 400 from both, first or pipelined, never the app\'s', async () => {
  for (const [bytes, statuses] of [
    ['PRI /pri-1 HTTP/1.1\r\nHost: h\r\n\r\n', [400]],
    ['GET /pri-2 HTTP/1.1\r\nHost: h\r\n\r\nPRI /pri-3 HTTP/1.1\r\nHost: h\r\n\r\n', [200, 400]],
  ] as const) {
    const got = await bothAnswer(bytes, '/pri-', statuses.length);
    for (const raw of [got.lean, got.node]) {
      assert.equal(statusesOf(raw), [...statuses], raw);
      assert.ok(raw.includes('PRI begins the HTTP/2 connection preface'), raw);
    }
    assert.is(comparable(got.lean), comparable(got.node));
  }
});

test.run();
