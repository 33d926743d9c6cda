// A `processes:` route's answers at the edges of HTTP (SPEC 5.8, "a process that answers
// garbage"), through the real gateway to a raw-socket Python server: a close without a byte, a
// status past 599, a 1xx before the final answer (RFC 9110 §15.2: taken, the final one served),
// a 100 and then silence, and a head passed on as the process wrote it (its fields' case and
// order, its reason phrase, as nginx does), hop-by-hop fields still dropped. Each wrong answer
// is a worded 502 (504 for the silence), an access-log line, and the app's log told once per
// kind. docs/reliability.md R6.29c.
import net from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { rawRequest, recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { httpProcessServer } from '../helpers/http-process.js';

const test = suite('R6.29c a process route\'s answers at the edges of HTTP');
const work = tempDir('apppkg-proc-answers-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let gw: RunningGateway;

const SERVER = httpProcessServer(String.raw`import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
ANSWERS = {
    "st-600": b"HTTP/1.1 600 Beyond\r\nContent-Length: 1\r\n\r\nx",
    "st-999": b"HTTP/1.1 999 Beyond\r\nContent-Length: 1\r\n\r\nx",
    "st-100-200": b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
    "st-102-200": b"HTTP/1.1 102 Processing\r\n\r\n" + OK,
    "st-103-200": b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + OK,
    "st-100-103-200": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK,
    "st-100-close": b"HTTP/1.1 100 Continue\r\n\r\n",
    "st-100-open": b"HTTP/1.1 100 Continue\r\n\r\n",
    "raw-head": b"HTTP/1.1 299 Quite Fine\r\nX-Up: 1\r\nSet-Cookie: a=1\r\nx-low: 2\r\nKeep-Alive: timeout=9\r\nConnection: keep-alive, X-Private\r\nX-Private: p\r\nSet-Cookie: b=2\r\nETag: \"e\"\r\nContent-Length: 2\r\n\r\nok",
    "no-reason": b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
    "latin1-reason": b"HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 2\r\n\r\nok",
    "utf8-reason": b"HTTP/1.1 200 Tr\xc3\xa8s bien\r\nContent-Length: 2\r\n\r\nok",
    "switch-101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    "switch-101-plain": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    "head-cut": b"HTTP/1.1 200 OK\r\nContent-Ty",
    "head-stall": b"HTTP/1.1 200 OK\r\nContent-Ty",
}


def serve(conn):
    with conn:
        data = read_head(conn)
        if data is None:
            return
        case = data.split(b" ")[1].decode().rsplit("/", 1)[-1]
        if case.startswith("close-"):
            return
        conn.sendall(ANSWERS.get(case, OK))
        if case in ("st-100-open", "head-stall"):
            time.sleep(10)
        # One answer a connection: the close tells undici so, as Connection: close would.

`);

test.before(async () => {
  // live: the same server as a process's route (processes.NAME.route), beside the command app's web.
  writePackage(apps, 'pa', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\n  live:\n    command: exec python server.py\n    route: /live\n', 'server.py': SERVER });
  // timeout 2: a 100 and then silence is a 504 that soon, well within the process's 10 s hold.
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  pa:\n    timeout: 2\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', env], { ms: 60_000 });
});

test.after(async () => {
  await gw?.stop();
  work.remove();
});

/** The whole answer to one GET of `path` on its own connection, Date values as `-`; the gateway answers and closes within 10 s. */
async function get(path: string): Promise<string> {
  const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(`GET /pa/${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await waitFor(() => seen.closed, 10_000, () => `the answer to ${path} and the close, got ${JSON.stringify(seen.got)}`);
    return seen.got.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -');
  } finally {
    socket.destroy();
  }
}

function appLog(): string[] {
  const file = join(state, 'apps', 'pa', 'log', 'app.log');
  return (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n');
}

/** The gateway's short answer for `status` with `detail`, as the client reads it. */
function short(status: 502 | 504, detail: string): string {
  const body = `${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}\n${detail}\n`;
  return `HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nDate: -\r\nConnection: close\r\n\r\n${body}`;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: -\r\nConnection: close\r\n\r\nok';

// Before st-100-close below: the app's log says a kind once, and this is the 504's line.
test('a 100 Continue and then silence: 504 at the app\'s timeout, and the app\'s log says the 100 came with nothing after it (it was a 502 at once: undici refused any 100); a 100 and then the close later is not said again', async () => {
  assert.is(await get('st-100-open'), short(504, 'processes.web of pa did not answer in time'));
  await waitFor(() => gw.output().includes('"GET /pa/st-100-open HTTP/1.1" 504 '), 5000, 'the access-log line');
  const lines = await waitFor(() => appLog().filter((l) => l.includes(' answered GET /pa/st-100-open:')), 5000, 'the app log line');
  assert.match(lines[0], /: it sent 100 Continue and then no final answer \(.*\), so the client got 504 Gateway Timeout, as will any such answer/);
  assert.is(await get('st-100-close'), short(502, 'processes.web of pa sent 100 Continue and then no final answer'));
  await waitFor(() => gw.output().includes('"GET /pa/st-100-close HTTP/1.1" 502 '), 5000, 'the access-log line of st-100-close');
  assert.is(appLog().filter((l) => l.includes(' sent 100 Continue and then')).length, 1, appLog().join('\n'));
});

const WRONG: Array<{ what: string; paths: string[]; answer: (path: string) => string; status: 502 | 504; line: RegExp }> = [
  {
    what: 'a process that closes the connection without a byte of an answer: the 502 it had, and now the app\'s log says so (it said nothing)',
    paths: ['close-a', 'close-b'],
    answer: () => short(502, 'processes.web of pa went away before it answered'),
    status: 502,
    line: /: it closed its connection before it answered, so the client got 502 Bad Gateway, as will any such answer of this process \(said once\); fix: answer every request/,
  },
  {
    what: 'a status past 599 (RFC 9110 §15: 100 to 599): 502 saying so (it was passed on)',
    paths: ['st-600', 'st-999'],
    answer: (path) => short(502, `processes.web of pa sent a response that is not HTTP/1.1 (a status above 599: ${path.slice(3)})`),
    status: 502,
    line: /: it sent a response that is not HTTP\/1\.1 \(a status above 599: 600\), so the client got 502 Bad Gateway, .*fix: a status line "HTTP\/1\.1 200 OK" \(3 digits, 100 to 599\)/,
  },
];

for (const c of WRONG) {
  test(c.what, async () => {
    for (const path of c.paths) {
      assert.is(await get(path), c.answer(path), path);
      await waitFor(() => gw.output().includes(`"GET /pa/${path} HTTP/1.1" ${c.status} `), 5000, () => `the access-log line of ${path}`);
    }
    const said = (): string[] => appLog().filter((l) => c.paths.some((p) => l.includes(` answered GET /pa/${p}:`)));
    const lines = await waitFor(() => (said().length > 0 ? said() : null), 5000, () => `pa's log to say ${c.paths.join(', ')}; it has ${JSON.stringify(appLog().slice(-5))}`);
    assert.is(lines.length, 1, `said once for the kind: ${lines.join('\n')}`);
    assert.ok(lines[0].startsWith(`[apppkg-gateway] processes.web of pa answered GET /pa/${c.paths[0]}: it `), lines[0]);
    assert.match(lines[0], c.line);
  });
}

// undici's failures before a whole head name no bytes: a head begun and then silent was a 504
// with no line in the app's log, and one begun and then closed was said as a close before any
// answer (until 2026-12-08), where a websocket handshake's were told apart (upgrade-answers).
test('a process route\'s answer whose head begins and then stops: 504 at the app\'s timeout, and the app\'s log says part of a head came; one whose head begins and then closes: 502, said as a head cut, not as a close before any answer', async () => {
  assert.is(await get('live/head-stall'), short(504, 'processes.live of pa sent part of its answer\'s head and then nothing more'));
  assert.is(await get('live/head-cut'), short(502, 'processes.live of pa closed its connection in the middle of its answer\'s head'));
  // A close before any byte is still that, on the same process, after the cut head.
  assert.is(await get('live/close-c'), short(502, 'processes.live of pa went away before it answered'));
  for (const [path, status] of [['live/head-stall', 504], ['live/head-cut', 502], ['live/close-c', 502]] as const) {
    await waitFor(() => gw.output().includes(`"GET /pa/${path} HTTP/1.1" ${status} `), 5000, () => `the access-log line of ${path}`);
  }
  const said = (path: string): string[] => appLog().filter((l) => l.includes(` answered GET /pa/${path}:`));
  const stalled = await waitFor(() => (said('live/head-stall').length > 0 ? said('live/head-stall') : null), 5000, () => `pa's log to say head-stall; it has ${JSON.stringify(appLog().slice(-5))}`);
  assert.ok(stalled[0].startsWith('[apppkg-gateway] processes.live of pa answered GET /pa/live/head-stall: it sent part of its answer\'s head and then nothing more (a head ends with an empty line: RFC 9112 2.1), so the client got 504 Gateway Timeout'), stalled[0]);
  const cut = await waitFor(() => (said('live/head-cut').length > 0 ? said('live/head-cut') : null), 5000, () => `pa's log to say head-cut; it has ${JSON.stringify(appLog().slice(-5))}`);
  assert.ok(cut[0].startsWith('[apppkg-gateway] processes.live of pa answered GET /pa/live/head-cut: it closed its connection in the middle of its answer\'s head (a head ends with an empty line: RFC 9112 2.1), so the client got 502 Bad Gateway'), cut[0]);
  const closed = await waitFor(() => (said('live/close-c').length > 0 ? said('live/close-c') : null), 5000, () => `pa's log to say close-c; it has ${JSON.stringify(appLog().slice(-5))}`);
  assert.match(closed[0], /: it closed its connection before it answered, so the client got 502 Bad Gateway/);
});

// The gateway passes an upgrade to websocket alone on, and serves any other (h2c, curl --http2's)
// as the request it also is: a 101 the process then sends was said as one "to a request that
// asked for no upgrade", its fix to answer 101 to a request with Upgrade, "which the gateway
// passes on" (until 2026-12-08): neither was true of the h2c its client asked for.
test('a 101 to a request whose client asked for h2c, which the gateway served without its Upgrade: 502 and the app\'s log naming h2c and that the gateway passes websocket alone; the same 101 to a request with no Upgrade is still the one that asked for none', async () => {
  const said = 'processes.web of pa sent 101 Switching Protocols to a request the gateway passed on without its Upgrade (h2c): it carries an upgrade to websocket alone';
  const h2c = await rawRequest(Number(new URL(gw.url).port), 'GET /pa/switch-101 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n', 10_000);
  assert.is(h2c.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -'), short(502, said));
  assert.is(await get('switch-101-plain'), short(502, 'processes.web of pa sent 101 Switching Protocols to a request that asked for no upgrade'));
  await waitFor(() => gw.output().includes('"GET /pa/switch-101 HTTP/1.1" 502 '), 5000, 'the access-log line');
  const lines = await waitFor(() => {
    const found = appLog().filter((l) => l.includes(' answered GET /pa/switch-101'));
    return found.length > 0 ? found : null;
  }, 5000, () => `pa's log to say switch-101; it has ${JSON.stringify(appLog().slice(-5))}`);
  assert.is(lines.length, 1, `said once for the kind: ${lines.join('\n')}`);
  assert.ok(lines[0].startsWith(`[apppkg-gateway] processes.web of pa answered GET /pa/switch-101: it ${said.slice('processes.web of pa '.length)} (RFC 9110 7.8: a server may ignore an Upgrade; 15.2.2: a 101 only to a request that has one), so the client got 502 Bad Gateway`), lines[0]);
  assert.match(lines[0], /fix: answer with a final status a request that comes without Upgrade; the gateway switches no connection to h2c/);
});

test('RFC 9110 §15.2: a 100, 102 or 103 (or two) before the final answer is taken, and the final answer served, the 1xx not passed on (a 100 was a 502: undici refuses any)', async () => {
  const paths = ['st-100-200', 'st-102-200', 'st-103-200', 'st-100-103-200'];
  for (const path of paths) {
    assert.is(await get(path), OK, path);
    await waitFor(() => gw.output().includes(`"GET /pa/${path} HTTP/1.1" 200 2 `), 5000, () => `the access-log line of ${path}`);
  }
  assert.not.ok(appLog().some((l) => paths.some((p) => l.includes(`/pa/${p}:`))), appLog().join('\n'));
});

test('a process\'s head goes out as it wrote it: its fields\' case and order (Set-Cookie where they were), its reason phrase; hop-by-hop fields and those its Connection names still dropped (node:http lowercased every name, put them in its own order and wrote its own phrase)', async () => {
  assert.is(await get('raw-head'), 'HTTP/1.1 299 Quite Fine\r\nX-Up: 1\r\nSet-Cookie: a=1\r\nx-low: 2\r\nSet-Cookie: b=2\r\nETag: "e"\r\nContent-Length: 2\r\nDate: -\r\nConnection: close\r\n\r\nok');
  // None, or one past ASCII (undici reads it as UTF-8, node:http writes latin-1: its bytes would change): the standard one.
  assert.is(await get('no-reason'), OK);
  assert.is(await get('latin1-reason'), OK);
  assert.is(await get('utf8-reason'), OK);
});

test.run();
