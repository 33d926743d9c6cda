// A websocket to a `processes:` route whose process gets the handshake's answer wrong, through
// the real gateway, a raw-socket Python server and a real websocket client (ws): bytes that are
// not HTTP, a head cut by the process's close, a 101 whose Sec-WebSocket-Accept is not the
// key's (or none). The client gets a 502 that says which, with its access-log line, and the
// app's log says each kind once per process with the fix (it said nothing: the 502 said the
// process went away, and a wrong accept went out as a 101 every client then failed with no
// words). A handshake declined with a body that then goes silent is cut at the app's timeout
// (it was held as long as the process held it). A right answer still opens. docs/reliability.md R6.31.
import net from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { writePackage } from '../helpers/apps-dir.js';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { httpProcessServer } from '../helpers/http-process.js';

const test = suite('processes: a websocket handshake the process answers wrong is a 502 said once in the app\'s log');
const work = tempDir('apppkg-proc-upgrade-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let gw: RunningGateway;

// Each case's answer, as written, after the handshake's head: the last path segment names it.
const SERVER = httpProcessServer(String.raw`import base64, hashlib, time

SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def accept_of(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return b""


def serve(conn):
    with conn:
        data = read_head(conn)
        if data is None:
            return
        head = data.partition(b"\r\n\r\n")[0]
        case = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
        if case.startswith("garbage"):
            conn.sendall(b"hello, this is not HTTP\r\n\r\n")
        elif case == "cut-status":
            conn.sendall(b"HTTP/1.1 101 Switching Pro")
            return
        elif case == "cut-fields":
            conn.sendall(SWITCH)
            return
        elif case.startswith("close-now"):
            return
        elif case.startswith("stall-"):
            conn.sendall(b"HTTP/1.1 101 Switching Pro" if case == "stall-status" else SWITCH)
            time.sleep(10)
            return
        elif case == "wrong-upgrade":
            conn.sendall(SWITCH.replace(b"websocket", b"h2c") + b"Sec-WebSocket-Accept: " + accept_of(head) + b"\r\n\r\n")
        elif case == "no-connection":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: " + accept_of(head) + b"\r\n\r\n")
        elif case == "interim-100":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + SWITCH + b"Sec-WebSocket-Accept: " + accept_of(head) + b"\r\n\r\n")
        elif case == "interim-103":
            conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + SWITCH + b"Sec-WebSocket-Accept: " + accept_of(head) + b"\r\n\r\n")
        elif case == "declined-raw":
            conn.sendall(b"HTTP/1.1 403 Not You\r\nX-Up: 1\r\nSet-Cookie: a=1\r\nx-low: 2\r\nSet-Cookie: b=2\r\nContent-Length: 3\r\n\r\nno\n")
        elif case.startswith("st-"):
            conn.sendall(b"HTTP/1.1 " + case[3:].encode() + b" Beyond\r\nContent-Length: 1\r\n\r\nx")
        elif case == "wrong-accept":
            conn.sendall(SWITCH + b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
        elif case == "no-accept":
            conn.sendall(SWITCH + b"\r\n")
        elif case == "no-upgrade-field":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
        elif case == "empty-upgrade-field":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: \r\nConnection: Upgrade\r\n\r\n")
        elif case == "h2c-no-key":
            conn.sendall(SWITCH.replace(b"websocket", b"h2c") + b"\r\n")
        elif case == "seen-upgrade":
            seen = [line.partition(b":")[2].strip() for line in head.split(b"\r\n")[1:] if line.partition(b":")[0].strip().lower() == b"upgrade"]
            conn.sendall(SWITCH + b"Sec-WebSocket-Accept: " + accept_of(head) + b"\r\nX-Seen-Upgrade: " + b" | ".join(seen) + b"\r\n\r\n")
        elif case == "declined-unframed":
            # A refusal whose body ends with its connection, which it then holds.
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nnot you\n")
            time.sleep(60)
        elif case == "declined-short":
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nnot")
            time.sleep(60)
        else:
            conn.sendall(SWITCH + b"Sec-WebSocket-Accept: " + accept_of(head) + b"\r\n\r\n")
        # Held open otherwise (a wrong 101, garbage): the gateway's answer needs no close of ours.
        time.sleep(10)

`);

test.before(async () => {
  writePackage(apps, 'wsp', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\n', 'server.py': SERVER });
  // timeout 2: a declined handshake's body silent that long is cut, long before the process's own 60 s hold.
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  wsp:\n    timeout: 2\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', env], { ms: 60_000 });
});

test.after(async () => {
  await gw?.stop();
  work.remove();
});

type Outcome = { open: true } | { open: false; status: number; body: string } | { open: false; error: string };

/** What a ws client gets for a websocket to `path`: open, the answer it was refused with, or its error. */
function connect(path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}${path}`);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ open: false, error: 'no outcome within 10 s' });
    }, 10_000);
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    ws.on('open', () => {
      ws.terminate();
      done({ open: true });
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (body += piece));
      res.on('end', () => {
        req.destroy();
        done({ open: false, status: res.statusCode ?? 0, body });
      });
      res.on('error', (err) => done({ open: false, error: `mid-body: ${err.message}` }));
    });
    ws.on('error', (err) => done({ open: false, error: err.message }));
  });
}

function appLog(): string[] {
  const file = join(state, 'apps', 'wsp', 'log', 'app.log');
  return (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n');
}

const CASES: Array<{ paths: string[]; what: string; said: string | ((path: string) => string); line: RegExp; status?: 502 | 504; did?: string }> = [
  {
    // One kind, said once: the status first, that its line shows.
    paths: ['st-600', 'st-999', 'garbage', 'garbage-again'],
    what: 'a status past 599 (RFC 9110 §15: it was passed on), or bytes that are not HTTP',
    said: (path) => `processes.web of wsp sent a response that is not HTTP/1.1 (${path.startsWith('st-') ? `a status above 599: ${path.slice(3)}` : 'Expected HTTP/, RTSP/ or ICE/'})`,
    line: /fix: a status line "HTTP\/1\.1 200 OK"/,
  },
  {
    paths: ['cut-status', 'cut-fields'],
    what: 'a head cut by its close (in the status line, then after its fields, before the empty line)',
    said: 'processes.web of wsp closed its connection in the middle of its answer\'s head',
    line: /\(a head ends with an empty line: RFC 9112 2\.1\).*fix: write the whole head/,
  },
  {
    paths: ['wrong-accept', 'no-accept'],
    what: 'a 101 whose Sec-WebSocket-Accept is not its key\'s, or none',
    said: 'processes.web of wsp switched to websocket without the Sec-WebSocket-Accept the handshake\'s key asks for',
    line: /\(RFC 6455 4\.2\.2: .*\).*fix: let a websocket library answer the handshake/,
  },
  {
    paths: ['wrong-upgrade', 'no-connection'],
    what: 'a 101 with the right Sec-WebSocket-Accept but Upgrade: h2c, or a Connection without upgrade (it went out as a 101 every client fails)',
    said: 'processes.web of wsp switched to another protocol than the websocket the handshake asked for',
    line: /\(a 101 to a websocket handshake carries Upgrade: websocket and Connection: Upgrade: RFC 6455 4\.2\.2\).*fix: let a websocket library answer the handshake/,
  },
  {
    paths: ['close-now', 'close-now-again'],
    what: 'a close without a byte of an answer (the 502 it had, but the app\'s log said nothing)',
    said: 'processes.web of wsp went away before it answered',
    did: 'closed its connection before it answered',
    line: /fix: answer every request it reads before it closes the connection/,
  },
  {
    paths: ['stall-status', 'stall-fields'],
    what: 'a head begun, then silence for the app\'s timeout (in the status line, then after its fields: the 504 it had, but the app\'s log said nothing)',
    said: 'processes.web of wsp sent part of its answer\'s head and then nothing more',
    status: 504,
    line: /\(a head ends with an empty line: RFC 9112 2\.1\), so the client got 504 Gateway Timeout, .*fix: write the whole head/,
  },
];

for (const c of CASES) {
  test(`R6.31 ${c.what}: 502 saying so to the client, an access-log line, the app's log told once`, async () => {
    for (const path of c.paths) {
      const status = c.status ?? 502;
      const said = typeof c.said === 'string' ? c.said : c.said(path);
      const got = await connect(`/wsp/ws/${path}`);
      assert.equal(got, { open: false, status, body: `${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}\n${said}\n` }, `${path}: ${JSON.stringify(got)}`);
      await waitFor(() => gw.output().includes(`"GET /wsp/ws/${path} HTTP/1.1" ${status} `), 5000, () => `the access-log line of ${path}`);
    }
    const said = (): string[] => appLog().filter((l) => c.paths.some((p) => l.includes(` answered GET /wsp/ws/${p}:`)));
    const lines = await waitFor(() => (said().length > 0 ? said() : null), 5000, () => `wsp's log to say ${c.paths.join(', ')}; it has ${JSON.stringify(appLog().slice(-5))}`);
    assert.is(lines.length, 1, `said once for the kind: ${lines.join('\n')}`);
    assert.ok(lines[0].startsWith(`[apppkg-gateway] processes.web of wsp answered GET /wsp/ws/${c.paths[0]}: it ${c.did ?? (typeof c.said === 'string' ? c.said : c.said(c.paths[0])).slice('processes.web of wsp '.length)}`), lines[0]);
    assert.match(lines[0], new RegExp(`, so the client got ${c.status === 504 ? '504 Gateway Timeout' : '502 Bad Gateway'}, as will any such answer of this process \\(said once\\); `));
    assert.match(lines[0], c.line);
  });
}

test('R6.31 a declined handshake whose body then goes silent (close-delimited, or short of its Content-Length) is cut at the app\'s timeout, logged with its status and bytes, the output saying why (it was held for as long as the process held it)', async () => {
  for (const [path, bytes, ending] of [['declined-unframed', 8, 'ended'], ['declined-short', 3, 'cut']] as const) {
    const got = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/wsp/ws/${path}`);
      // Well within the process's 60 s hold, which would end it otherwise.
      const timer = setTimeout(() => {
        ws.terminate();
        resolve('still open after 20 s');
      }, 20_000);
      ws.on('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (body += piece));
        const done = (how: string): void => {
          clearTimeout(timer);
          req.destroy();
          resolve(`${res.statusCode} ${how} ${JSON.stringify(body)}`);
        };
        res.on('end', () => done('ended'));
        res.on('aborted', () => done('cut'));
        res.on('error', () => done('cut'));
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        resolve(`error: ${err.message}`);
      });
    });
    assert.is(got, `403 ${ending} ${JSON.stringify(path === 'declined-short' ? 'not' : 'not you\n')}`, path);
    await waitFor(() => gw.output().includes(`"GET /wsp/ws/${path} HTTP/1.1" 403 ${bytes} `), 5000, () => `the access-log line of ${path} with its 403 and ${bytes} bytes`);
    assert.ok(gw.output().includes(`processes.web of wsp sent nothing more of its 403 answer to the upgrade GET /wsp/ws/${path} for 2 s (the app's timeout, between two pieces of a body): the client's connection is cut`), gw.output());
  }
});

test('a handshake\'s answer goes out with its fields as the process wrote them: a 101\'s names in their case, a refusal\'s in their case and order (a name\'s repeats, each on its line, after its first), its reason phrase (node:http\'s lowercased names went out)', async () => {
  const opened = await new Promise<string[]>((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/wsp/ws/right-raw`);
    const timer = setTimeout(() => reject(new Error('no 101 within 10 s')), 10_000);
    ws.on('upgrade', (res) => {
      clearTimeout(timer);
      resolve(res.rawHeaders.filter((_, i) => i % 2 === 0));
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
  assert.equal(opened, ['Upgrade', 'Connection', 'Sec-WebSocket-Accept']);
  const declined = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/wsp/ws/declined-raw`);
    const timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      req.destroy();
      resolve(`${res.statusCode} ${res.statusMessage} ${JSON.stringify(res.rawHeaders)}`);
    });
    ws.on('error', (err) => reject(err));
  });
  assert.is(declined, `403 Not You ${JSON.stringify(['X-Up', '1', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-low', '2', 'Content-Length', '3', 'Connection', 'close'])}`);
});

/**
 * What a raw client asking to upgrade `path` to `protocol` reads: all until the close, or the
 * head and what follows it within 0.5 s. `fields`: more lines for its head (a websocket key).
 */
async function upgradeTo(path: string, protocol: string, fields = ''): Promise<string> {
  const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n${fields}\r\n`);
    await waitFor(() => seen.closed || seen.got.includes('\r\n\r\n'), 10_000, () => `an answer to ${path}, got ${JSON.stringify(seen.got)}`);
    if (!seen.closed) await new Promise((resolve) => setTimeout(resolve, 500));
    return seen.got;
  } finally {
    socket.destroy();
  }
}

// RFC 9110 §15.2: a client takes any 1xx before the final answer. The gateway takes them from the
// process and passes the 101 on alone, as it does before a request's final answer (process-answers).
test('a 100, or a 103 and a 100, before the 101 to a websocket handshake: taken, and the websocket opens; nothing is said of it', async () => {
  for (const path of ['interim-100', 'interim-103']) {
    assert.equal(await connect(`/wsp/ws/${path}`), { open: true }, path);
    const got = await upgradeTo(`/wsp/raw/${path}`, 'websocket');
    assert.ok(got.startsWith('HTTP/1.1 101 Switching Protocols\r\n'), `${path}: ${got}`);
    assert.not.match(got, /^HTTP\/1\.1 1\d\d (?!Switching)/m, `${path}: no 1xx passed on: ${got}`);
  }
  assert.not.ok(appLog().some((l) => l.includes('/interim-')), appLog().join('\n'));
});

const KEY = 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
/** What the gateway takes for a websocket handshake (RFC 6455 4.1: Upgrade includes "websocket"; RFC 9110 7.8: a list, any case). */
const WEBSOCKET_UPGRADES = ['websocket, foo', 'foo, WebSocket', 'WEBSOCKET', 'foo ,  websocket  '];

// Until 2026-12-08 the 101's accept was checked only for an Upgrade of exactly "websocket": one
// the front took for a websocket with another token beside it went out unchecked, and the
// process was handed the list as sent, from which it might pick a protocol the gateway does not carry.
test('every Upgrade the gateway takes for a websocket handshake goes to the process as "Upgrade: websocket", and its 101 is checked: a wrong accept is a 502 whatever else the list held', async () => {
  for (const protocol of WEBSOCKET_UPGRADES) {
    const wrong = await upgradeTo('/wsp/raw/wrong-accept', protocol, KEY);
    assert.ok(wrong.startsWith('HTTP/1.1 502 Bad Gateway\r\n'), `${protocol}: ${wrong}`);
    assert.ok(wrong.includes('processes.web of wsp switched to websocket without the Sec-WebSocket-Accept the handshake\'s key asks for'), `${protocol}: ${wrong}`);
    const right = await upgradeTo('/wsp/raw/seen-upgrade', protocol, KEY);
    assert.ok(right.startsWith('HTTP/1.1 101 Switching Protocols\r\n'), `${protocol}: ${right}`);
    assert.match(right, /\r\nX-Seen-Upgrade: websocket\r\n/, `${protocol}: ${right}`);
  }
});

// RFC 9110 15.2.2: a server that sends 101 names the protocol it switches to in Upgrade. Until
// 2026-12-08 a 101 to a websocket request without a key went out unchecked when node:http took
// it for a switch (an Upgrade field, empty), and one with no Upgrade field at all was said to
// have switched "to another protocol"; one switching to h2c went out too.
test('a 101 with no Upgrade field, or an empty one, to a websocket request without a key is a 502 saying so, and the app\'s log says it once; one switching to h2c is a 502 as for a keyed handshake', async () => {
  for (const protocol of ['websocket', 'foo, WebSocket']) {
    const h2c = await upgradeTo('/wsp/raw/h2c-no-key', protocol);
    assert.ok(h2c.startsWith('HTTP/1.1 502 Bad Gateway\r\n'), `${protocol}: ${h2c}`);
    assert.ok(h2c.includes('processes.web of wsp switched to another protocol than the websocket the handshake asked for'), `${protocol}: ${h2c}`);
    for (const path of ['empty-upgrade-field', 'no-upgrade-field']) {
      const got = await upgradeTo(`/wsp/raw/${path}`, protocol);
      assert.ok(got.startsWith('HTTP/1.1 502 Bad Gateway\r\n'), `${protocol} ${path}: ${got}`);
      assert.ok(got.includes('processes.web of wsp sent 101 Switching Protocols without an Upgrade field naming the protocol it switched to'), `${protocol} ${path}: ${got}`);
    }
  }
  const said = (): string[] => appLog().filter((l) => / answered GET \/wsp\/raw\/(empty|no)-upgrade-field:/.test(l));
  const lines = await waitFor(() => (said().length > 0 ? said() : null), 5000, () => `wsp's log to say empty-upgrade-field; it has ${JSON.stringify(appLog().slice(-5))}`);
  assert.is(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /without an Upgrade field naming the protocol it switched to \(.*RFC 9110 15\.2\.2.*\), so the client got 502 Bad Gateway, .*fix: let a websocket library answer the handshake/);
});

test('a right handshake still opens, and nothing is said of it', async () => {
  assert.equal(await connect('/wsp/ws/right'), { open: true });
  assert.not.ok(appLog().some((l) => l.includes('/wsp/ws/right')), appLog().join('\n'));
});

test.run();
