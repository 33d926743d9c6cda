// ASGI websockets at the link (docs/protocol.md §8 "Websockets"): the test plays Node's part,
// writing WS_CONNECT / WS_MESSAGE / WS_CLOSE / RESPONSE_CREDIT on a real worker's link and
// reading what the app answers: WS_ACCEPT, messages both ways, closes both ways, the denial
// response, send() after close, ERROR, and both message windows.
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, encodeFrame, encodeU32Frame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { RawExchange, withDeadline, workerFor } from '../helpers/link-harness.js';

const PYTHONS = ['python3', ...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : [])];

/** Opens a websocket to `path` on the worker's link: WS_CONNECT has a REQUEST's payload. */
function connect(worker: Worker, path: string, { query = '', scheme = 'http', pairs = '' } = {}): RawExchange {
  const x = new RawExchange(worker.link!);
  const frame = encodeRequest(
    x.id,
    {
      method: 'GET', scheme, serverName: 'example.test', serverPort: 443, remoteAddr: '10.0.0.7', remotePort: 5555,
      scriptName: '/chat', pathInfo: path, queryString: query, requestUri: `/chat${path}${query ? `?${query}` : ''}`,
      protocol: 'HTTP/1.1', body: '',
    },
    `\0HTTP_HOST\0example.test${pairs}`,
    Frame.WS_CONNECT,
  );
  x.write(frame);
  return x;
}

function message(x: RawExchange, data: string | Buffer): void {
  const kind = Buffer.from([typeof data === 'string' ? 0 : 1]);
  x.write(encodeFrame(Frame.WS_MESSAGE, x.id, Buffer.concat([kind, Buffer.from(data)])));
}

function close(x: RawExchange, code: number, reason = ''): void {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  x.write(encodeFrame(Frame.WS_CLOSE, x.id, payload));
}

function decodeMessage(payload: Buffer): string | Buffer {
  return payload[0] === 0 ? payload.subarray(1).toString('utf8') : payload.subarray(1);
}

async function outputLine(output: string[], prefix: string, ms = 5000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = output.find((l) => l.startsWith(prefix));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no output line starting with ${JSON.stringify(prefix)} within ${ms} ms; got:\n${output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Frames of `type` that have arrived, once their number stops growing for `quietMs`. */
async function settledCount(x: RawExchange, type: number, quietMs: number): Promise<number> {
  let last = -1;
  let now = x.of(type).length;
  while (now !== last) {
    await new Promise((r) => setTimeout(r, quietMs));
    last = now;
    now = x.of(type).length;
  }
  return now;
}

for (const python of PYTHONS) {
  const t = suite<{ worker: Worker; output: string[] }>(`asgi-websocket (${python})`);

  t.before(async (ctx) => {
    ctx.output = [];
    ctx.worker = workerFor('asgi-ws', { python, threads: 2 }, ctx.output);
    await ctx.worker.start(15_000);
  });
  t.after(async (ctx) => {
    await ctx.worker?.stop(3000);
  });

  t('the websocket scope: ws/wss, subprotocols, the denial extension', async ({ worker }) => {
    const x = connect(worker, '/scope', { scheme: 'https', query: 'a=1', pairs: '\0HTTP_SEC_WEBSOCKET_PROTOCOL\0chat, superchat' });
    await x.next(Frame.WS_ACCEPT);
    const scope = decodeMessage(await x.next(Frame.WS_APP_MESSAGE)) as string;
    assert.match(scope, /'type': 'websocket'/);
    assert.match(scope, /'scheme': 'wss'/);
    assert.match(scope, /'path': '\/scope', 'root_path': '\/chat', 'raw_path': b'\/chat\/scope', 'query_string': b'a=1'/);
    assert.match(scope, /'subprotocols': \['chat', 'superchat'\]/);
    assert.match(scope, /'extensions': \{'websocket.http.response': \{\}\}/);
    assert.match(scope, /'asgi': \{'version': '3.0', 'spec_version': '2.5'\}/);
    close(x, 1000);
    await x.next(Frame.RESPONSE_END);
  });

  t('accept with a subprotocol and headers; messages both ways; the client closes', async ({ worker, output }) => {
    const x = connect(worker, '/echo', { query: 'room=1', pairs: '\0HTTP_SEC_WEBSOCKET_PROTOCOL\0chat' });
    const accept = await x.next(Frame.WS_ACCEPT);
    assert.equal(accept.toString('latin1').split('\0'), ['chat', 'x-scope-path', '/echo', 'x-query', 'room=1']);
    message(x, 'héllo ✓');
    message(x, Buffer.from([0, 1, 2, 255]));
    const first = await x.next(Frame.WS_APP_MESSAGE);
    assert.is(first[0], 0, 'text');
    assert.is(decodeMessage(first), 'héllo ✓');
    await x.next(Frame.WS_APP_MESSAGE, 3000, x.frames.findIndex((f) => f.type === Frame.WS_APP_MESSAGE) + 1);
    const [, second] = x.of(Frame.WS_APP_MESSAGE);
    assert.is(second[0], 1, 'binary');
    assert.ok((decodeMessage(second) as Buffer).equals(Buffer.from([0, 1, 2, 255])));
    close(x, 1001, 'going away');
    await x.next(Frame.RESPONSE_END);
    assert.is(await outputLine(output, 'echo: disconnect'), 'echo: disconnect 1001 going away');
    assert.equal(x.of(Frame.ERROR), []);
  });

  t('no subprotocol offered: WS_ACCEPT starts with an empty one', async ({ worker }) => {
    const x = connect(worker, '/echo');
    assert.equal((await x.next(Frame.WS_ACCEPT)).toString('latin1').split('\0').slice(0, 2), ['', 'x-scope-path']);
    close(x, 1000);
    await x.next(Frame.RESPONSE_END);
  });

  t('the app closes: WS_CLOSE with its code and reason; its receive() then gives websocket.disconnect', async ({ worker, output }) => {
    const x = connect(worker, '/server-close');
    await x.next(Frame.WS_ACCEPT);
    assert.is(decodeMessage(await x.next(Frame.WS_APP_MESSAGE)), 'bye');
    const closed = await x.next(Frame.WS_APP_CLOSE);
    assert.is(closed.readUInt16BE(0), 4001);
    assert.is(closed.subarray(2).toString('utf8'), 'done here');
    await x.next(Frame.RESPONSE_END);
    assert.is(await outputLine(output, 'server-close:'), 'server-close: receive gives websocket.disconnect');
  });

  t('the denial response: RESPONSE, RESPONSE_BODY, RESPONSE_END instead of WS_ACCEPT', async ({ worker }) => {
    const x = connect(worker, '/deny');
    assert.equal((await x.next(Frame.RESPONSE)).toString('latin1').split('\0'), ['401', 'x-denied', 'yes']);
    await x.next(Frame.RESPONSE_END);
    assert.is(Buffer.concat(x.of(Frame.RESPONSE_BODY)).toString(), 'no entry');
    assert.equal(x.of(Frame.WS_ACCEPT), []);
  });

  t('a denial\'s start and no body: ERROR saying the body is missing, not that more_body was true', async ({ worker, output }) => {
    const x = connect(worker, '/deny-start-only');
    const said = 'the app returned after websocket.http.response.start without its body: a denial response ends with a websocket.http.response.body (more_body false, the default)';
    assert.is((await x.next(Frame.ERROR)).toString('utf8'), said);
    assert.equal(x.of(Frame.RESPONSE), [], 'no head went out');
    assert.is(await outputLine(output, said), said); // the app log's failure line
  });

  t('websocket.close before accept: WS_CLOSE, then RESPONSE_END (Node answers 403)', async ({ worker }) => {
    const x = connect(worker, '/refuse');
    assert.is((await x.next(Frame.WS_APP_CLOSE)).readUInt16BE(0), 1000);
    await x.next(Frame.RESPONSE_END);
    assert.equal(x.of(Frame.WS_ACCEPT), []);
  });

  t('send() after the client closed raises ClientDisconnected (an OSError); no app error', async ({ worker, output }) => {
    const x = connect(worker, '/send-after-close');
    await x.next(Frame.WS_ACCEPT);
    close(x, 1000);
    await x.next(Frame.RESPONSE_END);
    assert.is(await outputLine(output, 'send-after-close:'), 'send-after-close: websocket.disconnect ClientDisconnected (True)');
    assert.equal(x.of(Frame.WS_APP_MESSAGE), [], 'nothing sent after the close');
    assert.not.ok(output.some((l) => l.includes('Traceback')), output.join('\n'));
  });

  t('ABORT (the client went away): websocket.disconnect 1006, then RESPONSE_END', async ({ worker, output }) => {
    const x = connect(worker, '/echo');
    await x.next(Frame.WS_ACCEPT);
    x.write(encodeFrame(Frame.ABORT, x.id));
    await x.next(Frame.RESPONSE_END);
    await withDeadline(
      (async () => {
        while (!output.includes('echo: disconnect 1006 ')) await new Promise((r) => setTimeout(r, 20));
      })(),
      3000,
      'the 1006 disconnect',
    );
  });

  t('an app that calls receive() on after the disconnect does not hold the worker\'s loop: another websocket is answered meanwhile', async ({ worker, output }) => {
    const x = connect(worker, '/receive-on');
    await x.next(Frame.WS_ACCEPT);
    close(x, 1000);
    await outputLine(output, 'receive-on: disconnected');
    // A receive() that returned the disconnect without yielding left every other exchange of
    // the worker waiting until the app stopped asking.
    const other = connect(worker, '/scope');
    await other.next(Frame.WS_ACCEPT);
    assert.equal(x.of(Frame.RESPONSE_END), [], 'answered while the app still called receive()');
    close(other, 1000);
    await other.next(Frame.RESPONSE_END);
    // Not for the 30 s it would ask: cancelled once it went on so for a second (after_gone).
    await x.next(Frame.RESPONSE_END);
    await outputLine(output, 'receive-on: cancelled');
  });

  t('a close code no close frame may carry is refused with the exact rule; the codes around it go out', async ({ worker }) => {
    for (const code of [1004, 1005, 1006, 1015, 2000, 999]) {
      const x = connect(worker, '/close-code');
      await x.next(Frame.WS_ACCEPT);
      message(x, String(code));
      const error = (await x.next(Frame.ERROR)).toString('utf8');
      assert.ok(error.includes('expected a code 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 7.4: 1004-1006 and 1015 never go in a close frame)'), error);
      assert.ok(error.includes(`got ${code},`), error);
    }
    for (const code of [1003, 1007, 1014, 3000, 4999]) {
      const x = connect(worker, '/close-code');
      await x.next(Frame.WS_ACCEPT);
      message(x, String(code));
      assert.is((await x.next(Frame.WS_APP_CLOSE)).readUInt16BE(0), code);
      await x.next(Frame.RESPONSE_END);
    }
  });

  t('websocket.send with both text and bytes sends the bytes, as uvicorn does', async ({ worker }) => {
    const x = connect(worker, '/both');
    await x.next(Frame.WS_ACCEPT);
    const sent = decodeMessage(await x.next(Frame.WS_APP_MESSAGE));
    assert.ok(Buffer.isBuffer(sent), 'a binary message');
    assert.is(sent.toString(), 'the bytes');
    close(x, 1000);
    await x.next(Frame.RESPONSE_END);
  });

  t('websocket.send goes by the type of what it carries, as under uvicorn (a str as text, bytes as binary); anything else is a clear error', async ({ worker }) => {
    const x = connect(worker, '/by-type');
    await x.next(Frame.WS_ACCEPT);
    await x.next(Frame.WS_APP_MESSAGE);
    await x.next(Frame.WS_APP_MESSAGE, 5000, x.frames.findIndex((f) => f.type === Frame.WS_APP_MESSAGE) + 1);
    const [text, binary] = x.of(Frame.WS_APP_MESSAGE).map(decodeMessage);
    assert.is(text, 'a str as bytes');
    assert.ok(Buffer.isBuffer(binary), 'a binary message');
    assert.is(binary.toString(), 'bytes as text');
    message(x, 'go');
    assert.match((await x.next(Frame.ERROR)).toString('utf8'), /InvalidResponse: websocket\.send: expected text \(a str\) or bytes, got int 42\n/);
  });

  t('the app raises: ERROR with the traceback, and the log line', async ({ worker, output }) => {
    const x = connect(worker, '/raise');
    await x.next(Frame.WS_ACCEPT);
    message(x, 'go');
    const error = (await x.next(Frame.ERROR)).toString('utf8');
    assert.match(error, /Traceback[\s\S]*RuntimeError: the websocket app failed/);
    // stderr is another pipe than the link: the line may come after the frame.
    const line = await outputLine(output, `apppkg-shim[${worker.pid}]: app:application (asgi-ws) failed on GET /chat/raise:`);
    assert.is(output[output.indexOf(line) + 1], 'Traceback (most recent call last):');
    assert.equal(x.of(Frame.RESPONSE_END), [], 'one terminal frame');
  });

  t('the app\'s messages stop at the response window until RESPONSE_CREDIT', async ({ worker }) => {
    const x = connect(worker, '/flood');
    await x.next(Frame.WS_ACCEPT);
    const held = await settledCount(x, Frame.WS_APP_MESSAGE, 300);
    assert.ok(held >= 4 && held <= 5, `${held} messages of 64 KiB sent without credit (window 256 KiB)`);
    x.write(encodeU32Frame(Frame.RESPONSE_CREDIT, x.id, 8 * 65536));
    const more = await settledCount(x, Frame.WS_APP_MESSAGE, 300);
    assert.ok(more >= held + 8 && more <= held + 9, `${more - held} more after 8 messages' worth of credit`);
    x.write(encodeU32Frame(Frame.RESPONSE_CREDIT, x.id, 64 * 65536));
    await x.next(Frame.RESPONSE_END);
    assert.is(x.of(Frame.WS_APP_MESSAGE).length, 64);
  });

  t('the client closes while the app waits for credit: its send() raises, the app ends quietly', async ({ worker, output }) => {
    const since = output.length;
    const x = connect(worker, '/flood');
    await x.next(Frame.WS_ACCEPT);
    const held = await settledCount(x, Frame.WS_APP_MESSAGE, 300);
    close(x, 1001);
    await x.next(Frame.RESPONSE_END);
    assert.is(x.of(Frame.WS_APP_MESSAGE).length, held);
    assert.equal(x.of(Frame.ERROR), []);
    assert.not.ok(output.slice(since).some((l) => l.includes('Traceback')), output.slice(since).join('\n'));
  });

  t('messages the app takes are credited back (REQUEST_CREDIT, 256 KiB steps), a 3 MiB one too', async ({ worker, output }) => {
    const x = connect(worker, '/sink');
    await x.next(Frame.WS_ACCEPT);
    for (let i = 0; i < 40; i++) message(x, Buffer.alloc(65536, i));
    message(x, Buffer.alloc(3 << 20, 1)); // larger than the worker's read buffer
    const total = 40 * 65537 + (3 << 20) + 1;
    await withDeadline(
      (async () => {
        while (x.of(Frame.REQUEST_CREDIT).reduce((n, p) => n + p.readUInt32BE(0), 0) < total - 256 * 1024) {
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      5000,
      'credits for what the app took',
    );
    const credited = x.of(Frame.REQUEST_CREDIT).map((p) => p.readUInt32BE(0));
    assert.ok(credited.every((n) => n >= 256 * 1024), credited.join(' '));
    close(x, 1000);
    await x.next(Frame.RESPONSE_END);
    assert.is(await outputLine(output, 'sink:'), `sink: took ${40 * 65536 + (3 << 20)} bytes`);
  });

  t('plain HTTP still works beside the websockets', async ({ worker }) => {
    const x = new RawExchange(worker.link!);
    x.write(encodeRequest(x.id, { method: 'GET', scheme: 'http', serverName: 'h', serverPort: 80, remoteAddr: '', remotePort: 0, scriptName: '', pathInfo: '/', queryString: '', requestUri: '/', protocol: 'HTTP/1.1', body: '' }, ''));
    const full = await x.next(Frame.RESPONSE_FULL);
    assert.is(full.subarray(4 + full.readUInt32BE(0)).toString(), 'plain http\n');
    assert.is(worker.inFlight, 0);
  });

  t.run();
}
