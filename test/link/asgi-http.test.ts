// ASGI apps over the link, HTTP side (docs/protocol.md §8): the scope, bodies streamed both
// ways within the windows, failures, lifespan state and shutdown, the executor, concurrency,
// PING and RECLAIM, the stop. Real Node, real Python: once with the pyenv python3 (asyncio)
// and once with Debian's /usr/bin/python3 (uvloop when python3-uvloop is installed).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, encodeEmptyFrame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import { heldResponse } from '../helpers/held-response.js';
import { tempDir } from '../helpers/process.js';
import { RawConnection, RawExchange, creditedByHand, get, requestLine, sampledChecksum, sendUnevenChunks, startLinkHarness, withDeadline, type LinkHarness } from '../helpers/link-harness.js';

const PYTHONS = ['python3', ...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : [])];
const PATTERN = Buffer.from(Array.from({ length: 65536 }, (_, i) => i & 255));

function hasUvloop(python: string): boolean {
  return spawnSync(python, ['-c', 'import uvloop'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

function hasAnyio(python: string): boolean {
  return spawnSync(python, ['-c', 'import anyio.to_thread'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** The body of a raw HTTP/1.1 response with a chunked body, once it is complete. */
async function chunkedBody(c: RawConnection, ms = 5000): Promise<{ head: string; body: Buffer }> {
  const all = await c.waitFor((s) => s.includes('\r\n0\r\n\r\n'), ms, 'the last chunk');
  const text = all.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
  const cut = text.indexOf('\r\n\r\n');
  const chunks: Buffer[] = [];
  let pos = cut + 4;
  for (;;) {
    const eol = text.indexOf('\r\n', pos);
    const size = parseInt(text.slice(pos, eol), 16);
    if (Number.isNaN(size)) throw new Error(`not a chunked body: ${JSON.stringify(text.slice(0, 300))}`);
    if (size === 0) break;
    chunks.push(Buffer.from(text.slice(eol + 2, eol + 2 + size), 'latin1'));
    pos = eol + 2 + size + 2;
  }
  return { head: text.slice(0, cut), body: Buffer.concat(chunks) };
}

async function counters(h: LinkHarness): Promise<{ sent: number; disconnects: number }> {
  return JSON.parse((await get(`${h.url}/m/count`)).body) as { sent: number; disconnects: number };
}

async function until(what: string, ms: number, pred: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const python of PYTHONS) {
  const t = suite<{ h: LinkHarness }>(`asgi-http (${python})`);
  const uvloop = hasUvloop(python);
  /** The files held requests wait for (?until=). */
  const work = tempDir('apppkg-asgi-http-');

  t.before(async (ctx) => {
    ctx.h = await startLinkHarness('asgi-http', { python, mount: '/m', threads: 3 });
  });
  t.after(async (ctx) => {
    await ctx.h?.stop();
    work.remove();
  });

  t(`READY names the loop (${uvloop ? 'uvloop' : 'asyncio'}) and lifespan support`, ({ h }) => {
    const ready = h.workers[0].readyInfo as unknown as Record<string, unknown>;
    assert.is(ready.loop, uvloop ? 'uvloop' : 'asyncio');
    assert.is(ready.lifespan, 'supported');
    assert.is(ready.threads, 3);
    assert.is(ready.app, 'app:application');
  });

  t('hello: start + one final body leave as one response, the app\'s headers as they are', async ({ h }) => {
    const r = await get(`${h.url}/m/hello`);
    assert.is(r.status, 200);
    assert.is(r.body, 'Hello, world!\n');
    assert.is(r.headers.get('content-length'), '14');
    assert.is(r.headers.get('content-type'), 'text/plain');
  });

  t('the http scope: path and root_path decoded, raw_path and query raw, headers back, client and server', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write(
        'POST /m/scope/caf%C3%A9%20x/%FF?q=a%20b&q=2 HTTP/1.1\r\nHost: example.test:8080\r\nX-Multi: one\r\nAccept-Language: fr\r\n' +
          'X-Multi: two\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n',
      );
      const { head, body } = await chunkedBody(c);
      assert.match(head, /^HTTP\/1\.1 200 OK/);
      const scope = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      assert.is(scope.type, 'http');
      assert.equal(scope.asgi, { version: '3.0', spec_version: '2.3' });
      assert.is(scope.http_version, '1.1');
      assert.is(scope.method, 'POST');
      assert.is(scope.scheme, 'http');
      assert.is(scope.path, '/scope/café x/\ufffd', 'decoded as UTF-8, a stray byte as U+FFFD (as uvicorn)');
      assert.is(scope.root_path, '/m');
      assert.is(scope.raw_path, '/m/scope/caf%C3%A9%20x/%FF');
      assert.is(scope.query_string, 'q=a%20b&q=2');
      const headers = scope.headers as Array<[string, string]>;
      assert.equal(headers.filter(([n]) => n === 'x-multi'), [['x-multi', 'one'], ['x-multi', 'two']], 'repeated headers stay apart, in order');
      assert.equal(headers.find(([n]) => n === 'accept-language'), ['accept-language', 'fr']);
      assert.equal(headers.find(([n]) => n === 'content-type'), ['content-type', 'text/plain']);
      assert.equal(headers.find(([n]) => n === 'content-length'), ['content-length', '0']);
      assert.equal(headers.find(([n]) => n === 'host'), ['host', 'example.test:8080']);
      assert.ok(headers.every(([n]) => n === n.toLowerCase() && !n.includes('_')), 'lowercase names');
      assert.equal(scope.client, ['127.0.0.1', c.socket.localPort]);
      assert.equal(scope.server, ['example.test', h.port]);
    } finally {
      c.destroy();
    }
  });

  t('the mount itself without its slash: path "/" (Django 404s ""), root_path the mount, raw_path as sent', async ({ h }) => {
    const scope = JSON.parse((await get(`${h.url}/m`)).body) as Record<string, unknown>;
    assert.is(scope.path, '/');
    assert.is(scope.root_path, '/m');
    assert.is(scope.raw_path, '/m');
    const slash = JSON.parse((await get(`${h.url}/m/`)).body) as Record<string, unknown>;
    assert.is(slash.path, '/');
    assert.is(slash.raw_path, '/m/');
  });

  t('a chunked upload: the scope\'s headers say transfer-encoding: chunked, as the client sent them', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('POST /m/scope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      const { head, body } = await chunkedBody(c);
      assert.match(head, /^HTTP\/1\.1 200 OK/);
      const scope = JSON.parse(body.toString('utf8')) as { headers: Array<[string, string]> };
      assert.equal(scope.headers.filter(([n]) => n === 'transfer-encoding'), [['transfer-encoding', 'chunked']]);
      assert.not.ok(scope.headers.some(([n]) => n === 'content-length'));
    } finally {
      c.destroy();
    }
  });

  t('an answer given at once leaves before a task the app made while answering runs (and holds the loop)', async ({ h }) => {
    // The batch's flush is queued behind the new requests' first steps (asgi_worker._dispatch),
    // not behind what those steps queue: a task the app makes runs on the next turn, after the
    // answer has gone. Both clocks are CLOCK_MONOTONIC (process.hrtime, time.monotonic_ns).
    const r = await get(`${h.url}/m/answer-then-hold?s=1`);
    const answeredAt = process.hrtime.bigint();
    assert.is(r.body, 'answered');
    const ended = BigInt((await get(`${h.url}/m/hold-ended`)).body);
    assert.ok(answeredAt < ended, `the answer came ${Number(answeredAt - ended) / 1e6} ms after the task let the loop go`);
  });

  t('a head seen again gets a headers list of its own: what an app or a chunked request added to the last one is not in it', async ({ h }) => {
    // The worker keeps the heads it has split (asgi_scope.header_pairs): the same head twice
    // must give two lists, the pairs the client sent and nothing else.
    const ask = () => get(`${h.url}/m/headers-changed`, { headers: { 'x-same': 'changed' } });
    const first = JSON.parse((await ask()).body) as Array<[string, string]>;
    const second = JSON.parse((await ask()).body) as Array<[string, string]>;
    assert.equal(second, first, 'the app changed the first list in place');
    assert.ok(first.some(([n, v]) => n === 'x-same' && v === 'changed'));
    assert.not.ok(first.some(([n]) => n === 'x-added' || n === 'x-replaced'));
    // A chunked request's CGI pairs are those of the same head without its body: its list gets
    // transfer-encoding added, the next one's must not.
    const scopeHeaders = async (request: string): Promise<Array<[string, string]>> => {
      const c = await RawConnection.open(h.port);
      try {
        c.write(request);
        const { head, body } = await chunkedBody(c);
        assert.match(head, /^HTTP\/1\.1 200 OK/);
        return (JSON.parse(body.toString('utf8')) as { headers: Array<[string, string]> }).headers;
      } finally {
        c.destroy();
      }
    };
    const chunked = await scopeHeaders('POST /m/scope HTTP/1.1\r\nHost: x\r\nX-Same: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    assert.equal(chunked.slice(-1), [['transfer-encoding', 'chunked']]);
    const plain = await scopeHeaders('GET /m/scope HTTP/1.1\r\nHost: x\r\nX-Same: chunked\r\n\r\n');
    assert.equal(plain, chunked.slice(0, -1), 'the same head without the transfer-encoding the chunked one added');
    assert.ok(plain.some(([n, v]) => n === 'x-same' && v === 'chunked'));
  });

  t('lifespan state: set at startup, seen by every request as a shallow copy', async ({ h }) => {
    const pid = h.workers[0].pid;
    for (let i = 0; i < 2; i++) {
      const r = JSON.parse((await get(`${h.url}/m/state`)).body) as { started: string; mutated_seen: boolean };
      assert.equal(r, { started: `at startup in ${pid}`, mutated_seen: false });
    }
  });

  t('an 8 MiB upload, read slowly in pieces (request window): every byte, in order', async ({ h }) => {
    const body = Buffer.alloc(8 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 255;
    const check = sampledChecksum(body);
    const r = await get(`${h.url}/m/upload?pause=0.002`, { method: 'POST', body }, 30_000);
    const [total, sum, pieces] = r.body.split(' ').map(Number);
    assert.is(total, body.length);
    assert.is(sum, check);
    assert.ok(pieces >= 8, `${pieces} http.request messages: the body streamed in`);
  });

  t('a chunked upload of 2 MiB in uneven pieces', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('POST /m/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const { total, check } = sendUnevenChunks(c);
      const { body } = await chunkedBody(c, 15_000);
      assert.is(body.toString().split(' ').slice(0, 2).join(' '), `${total} ${check}`);
    } finally {
      c.destroy();
    }
  });

  t('Expect: 100-continue: CONTINUE once the app waits for the body', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('POST /m/upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      await c.waitFor((s) => s.startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5000, '100 Continue');
      c.write('hello');
      const { body } = await chunkedBody(c);
      assert.is(body.toString().split(' ')[0], '5');
    } finally {
      c.destroy();
    }
  });

  t('an 8 MiB streamed response, byte for byte (RESPONSE, RESPONSE_BODY..., RESPONSE_END), in 64 KiB and 4 MiB messages', async ({ h }) => {
    const expected = createHash('sha1');
    for (let i = 0; i < 128; i++) expected.update(PATTERN);
    const sha1 = expected.digest('hex');
    for (const pieces of [64, 4096]) {
      const res = await fetch(`${h.url}/m/stream?mb=8&pieces=${pieces}`, { signal: AbortSignal.timeout(15_000) });
      assert.is(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.is(body.length, 8 << 20);
      assert.is(createHash('sha1').update(body).digest('hex'), sha1);
    }
  });

  t('one final body of 2 MiB right after the start: every byte; on the link it streams under the response window, not as one RESPONSE_FULL', async ({ h }) => {
    const expected = Buffer.concat(Array.from({ length: 32 }, () => PATTERN));
    const res = await fetch(`${h.url}/m/big-full`, { signal: AbortSignal.timeout(10_000) });
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(expected));
    const x = new RawExchange(h.workers[0].link!);
    x.write(encodeRequest(x.id, requestLine('/big-full'), ''));
    const { body, stalls } = await creditedByHand(x);
    assert.ok(body.equals(expected), `${body.length} bytes`);
    assert.ok(stalls >= 1, 'the app never waited for credit');
    const left = new RawExchange(h.workers[0].link!);
    left.write(encodeRequest(left.id, requestLine('/big-full'), ''));
    await left.until(() => left.of(Frame.RESPONSE_BODY).length >= 2, 5000, 'two pieces');
    left.write(encodeEmptyFrame(Frame.ABORT, left.id));
    await left.next(Frame.RESPONSE_END, 5000);
    assert.ok(left.of(Frame.RESPONSE_BODY).length < 8, `${left.of(Frame.RESPONSE_BODY).length} pieces sent to a client that left`);
    // HEAD: the pieces cross the link and are dropped; the next answer follows the head at once.
    const c = await RawConnection.open(h.port);
    try {
      c.write('HEAD /m/big-full HTTP/1.1\r\nHost: x\r\n\r\nGET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
      const text = await c.waitFor((s) => s.endsWith('Hello, world!\n'), 10_000, 'HEAD, then the hello');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\nHello, world!\n$/, 'no body after the HEAD answer');
      assert.not.ok(c.closed);
    } finally {
      c.destroy();
    }
  });

  t('a client that never reads holds the app back: within the response window past what the kernel holds; reading again resumes it; leaving ends the request', async ({ h }) => {
    const before = (await counters(h)).sent;
    const c = await RawConnection.open(h.port);
    c.socket.pause(); // never reads: the kernel's buffers fill, then the window, then send() waits
    try {
      c.write('GET /m/stream?mb=256 HTTP/1.1\r\nHost: x\r\n\r\n');
      const held = await heldResponse(c.socket, async () => (await counters(h)).sent - before);
      // The window is 256 KiB; the app's send() of a 64 KiB piece waits once past it. With 1 MiB
      // the gateway held ~1 MiB past the kernel's ~3.8 (a server writing to its socket itself,
      // as uvicorn does, is held at the kernel's share and a 64 KiB transport buffer).
      assert.ok(held.inGateway < 512 << 10, `${held.inGateway >> 10} KiB held past the kernel's ${held.inKernel >> 10} KiB (${held.produced >> 10} KiB produced)`);
      c.socket.resume();
      await until('the app to send on once the client reads', 10_000, async () => (await counters(h)).sent - before > held.produced + (8 << 20));
    } finally {
      c.destroy(); // ABORT: send() returns without sending from now on
    }
    await until('the request to end', 5000, () => h.workers[0].inFlight === 0);
    assert.not.ok(h.output.some((l) => l.includes('Traceback')), 'a client leaving is not an app error');
  });

  t('ABORT: the app\'s receive() returns http.disconnect, its later send() is a no-op', async ({ h }) => {
    const before = (await counters(h)).disconnects;
    const c = await RawConnection.open(h.port);
    c.write('GET /m/disconnect HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((s) => s.includes('waiting'), 5000, 'the first piece');
    c.destroy();
    await until('the app to see http.disconnect', 5000, async () => (await counters(h)).disconnects === before + 1);
    await until('the request to end', 5000, () => h.workers[0].inFlight === 0);
  });

  t('an app that streams on after its client left (its send() a no-op) does not hold the worker\'s loop: the next request is answered meanwhile', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    c.write('GET /m/spin-gone?t=3 HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((s) => s.includes('waiting'), 5000, 'the first piece');
    c.destroy();
    // The app streams on only once it has heard its client leave, and is cancelled a second
    // later (never "done"): an answer that finds it "spinning" was given meanwhile, whenever the
    // request came. A no-op send() that never yielded held every other request and websocket of
    // the worker until the app stopped ("done" 3 s later; never, for an endless stream).
    let seen: string | undefined;
    await until('an answer after the app heard its client leave', 10_000, async () => {
      seen = (JSON.parse((await withDeadline(get(`${h.url}/m/count`), 10_000, '/count')).body) as { spin_gone?: string }).spin_gone;
      return seen !== undefined;
    });
    assert.is(seen, 'spinning', 'the worker answered while the app still sent');
    await until('the request to end', 5000, () => h.workers[0].inFlight === 0);
  });

  t('an app that streams on after its client left is cancelled after a second of it, not left in flight (and on the CPU) for as long as it streams', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    c.write('GET /m/spin?t=60 HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((s) => s.length > 10_000, 5000, 'the first pieces');
    c.destroy();
    await until('the request to end', 5000, () => h.workers[0].inFlight === 0);
    await until('the app to hear the cancel', 2000, () => h.output.includes('spin: cancelled'));
    assert.not.ok(h.output.some((l) => l.includes('Traceback') || l.includes('ignored the CancelledError')), h.output.join('\n'));
  });

  t('the disconnect comes from a receive() that does not wait, as Starlette\'s request.is_disconnected() asks for it (inside a cancelled scope)', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    c.write('GET /m/poll-disconnected HTTP/1.1\r\nHost: x\r\n\r\n');
    c.destroy();
    await until('the app to hear of it', 5000, () => h.output.some((l) => l.startsWith('poll-disconnected:')));
    assert.ok(h.output.includes('poll-disconnected: heard the client leave'), h.output.join('\n'));
  });

  t('an app that calls receive() on after its client left (http.disconnect each time) does not hold the worker\'s loop: the next request is answered meanwhile', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    c.write('GET /m/spin-receive?t=2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((s) => s.includes('waiting'), 5000, 'the first piece');
    c.destroy();
    await until('the app to hear http.disconnect', 5000, () => h.output.some((l) => l.includes('spin-receive: http.disconnect')));
    // As for send() above: a receive() that returned http.disconnect without yielding left the
    // rest of the worker waiting until the app stopped asking.
    const seen = JSON.parse((await withDeadline(get(`${h.url}/m/count`), 10_000, '/count')).body) as { receiving: boolean };
    assert.ok(seen.receiving, 'the worker answered while the app still called receive()');
    await until('the request to end', 5000, () => h.workers[0].inFlight === 0);
  });

  t('a head without its body yet reaches the client now (a server-sent event stream), not with the first piece', async ({ h }) => {
    const { request } = await import('undici');
    const controller = new AbortController();
    // The body comes once the test makes the file, after the head: the head must not wait for it.
    const release = join(work.path, 'late-body-client');
    const res = await withDeadline(request(`${h.url}/m/late-body?until=${encodeURIComponent(release)}`, { signal: controller.signal }), 20_000, 'the head of /late-body');
    assert.is(res.statusCode, 200);
    controller.abort();
    await res.body.dump().catch(() => {});
    // The app is not cancelled (ASGI): let it finish, so that the next test starts with nothing in flight.
    writeFileSync(release, '');
    await until('the aborted request to end in the worker', 6000, () => h.workers[0].inFlight === 0);
  });

  t('the head goes before a late first body (the app awaited something else between)', async ({ h }) => {
    // At the link: Node's 504 clock stops at the head; the client sees it too (the previous test).
    const x = new RawExchange(h.workers[0].link!);
    const release = join(work.path, 'late-body-link');
    x.write(encodeRequest(x.id, requestLine('/late-body', `until=${encodeURIComponent(release)}`), ''));
    // The body waits for the file, which is made only once the head is here.
    assert.is((await x.next(Frame.RESPONSE, 20_000)).toString('latin1'), '200');
    assert.equal(x.of(Frame.RESPONSE_BODY), []);
    writeFileSync(release, '');
    assert.is((await x.next(Frame.RESPONSE_BODY, 10_000)).toString(), 'late\n');
    await x.next(Frame.RESPONSE_END, 10_000);
  });

  t('the app fails: before the start -> 500; after it -> a cut connection; the log line names the request', async ({ h }) => {
    const before = await get(`${h.url}/m/error-before`);
    assert.is(before.status, 500);
    assert.not.match(before.body, /Traceback/, 'no traceback outside development');
    const noResponse = await get(`${h.url}/m/no-response`);
    assert.is(noResponse.status, 500);
    for (const path of ['/m/error-after', '/m/return-early']) {
      const c = await RawConnection.open(h.port);
      c.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const text = await c.waitClosed(5000);
      assert.match(text, /^HTTP\/1\.1 200 OK/);
      assert.ok(text.includes('partial'), 'what was sent is flushed');
      assert.not.ok(text.endsWith('0\r\n\r\n'), `${path}: a truncated body never looks complete`);
    }
    // stderr is another pipe than the link: the lines may come after the responses.
    await until('the log lines', 5000, () => ['/m/error-before:', '/m/error-after ', '/m/return-early ', '/m/no-response:'].every((p) => h.output.some((l) => l.includes(`failed on GET ${p}`))));
    const out = h.output.join('\n');
    assert.match(out, /app:application \(asgi-http\) failed on GET \/m\/error-before:\nTraceback[\s\S]*ValueError: failed before the response started/);
    assert.match(out, /failed on GET \/m\/error-after after the response headers were sent; the client connection is closed:\nTraceback/);
    assert.match(out, /failed on GET \/m\/return-early after the response headers were sent[^\n]*\nthe app returned before the last http\.response\.body/);
    assert.match(out, /failed on GET \/m\/no-response:\nthe app returned without sending a complete response/);
  });

  t('trailers the scope does not offer: the response goes out as it is; the error and log line name the missing extension', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    c.write('GET /m/trailers HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await c.waitFor((s) => s.includes('no trailers\n'), 5000, 'the response');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.not.match(text, /x-checksum/i);
    // The connection is kept: the app's later error is no fault of that response.
    c.write('GET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((s) => s.endsWith('Hello, world!\n'), 5000, 'the next answer');
    c.socket.destroy();
    await until('the log line', 5000, () => h.output.some((l) => l.includes('failed on GET /m/trailers')));
    await until('its traceback', 5000, () => /does not offer the http\.response\.trailers extension/.test(h.output.join('\n')));
    const out = h.output.join('\n');
    assert.match(out, /failed on GET \/m\/trailers after the response was complete:\nTraceback[\s\S]*RuntimeError: 'http\.response\.trailers' sent, but the gateway does not offer the http\.response\.trailers extension \(scope\["extensions"\] lacks it\)/);
  });

  t('a body longer or shorter than its Content-Length: send() raises (as under uvicorn), and a kept-alive connection never carries the misframed bytes', async ({ h }) => {
    const ask = (c: RawConnection, query: string) => c.write(`GET /m/declared?${query} HTTP/1.1\r\nHost: x\r\n\r\n`);
    // Start and one final body: nothing has gone out yet, so it is the app's 500, and the
    // connection goes on.
    const first = await RawConnection.open(h.port);
    ask(first, 'length=2&bodies=hello');
    await first.waitFor((t) => /^HTTP\/1\.1 500 [\s\S]*\r\n\r\n/.test(t), 5000, 'the 500');
    first.write('GET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
    const after = await first.waitFor((t) => t.endsWith('Hello, world!\n'), 5000, 'the next answer');
    const responses = after.split(/(?=HTTP\/1\.1 )/);
    assert.is(responses.length, 2, after);
    assert.match(responses[1], /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nHello, world!\n$/);
    first.socket.destroy();
    // Head and a first piece out: the connection is cut after the bytes the head promised, or before them.
    for (const [query, body] of [['length=2&bodies=he,llo', 'he'], ['length=10&bodies=hel,lo', 'hel']]) {
      const c = await RawConnection.open(h.port);
      ask(c, query);
      c.write('GET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n');
      await until('the connection to be cut', 5000, () => c.closed);
      const text = c.text;
      assert.match(text, /^HTTP\/1\.1 200 /, query);
      assert.is(text.slice(text.indexOf('\r\n\r\n') + 4), body, query);
      assert.is(text.match(/HTTP\/1\.1/g)!.length, 1, `${query}: no second response on that connection`);
    }
    await until('the app to be told', 5000, () => /declared: Response content longer than Content-Length \(2\)/.test(h.output.join("\n")) && /declared: Response content shorter than Content-Length \(5 bytes of 10\)/.test(h.output.join("\n")));
  });

  t('a Content-Length that is not digits alone (+5, 0_5), or two that differ: the app\'s 500, none of its head sent; the same one twice goes out once', async ({ h }) => {
    for (const [length, fault] of [['%2B5', "Content-Length '+5' is not a number"], ['0_5', "Content-Length '0_5' is not a number"], ['5,7', 'Content-Length given twice, 5 and 7']]) {
      const c = await RawConnection.open(h.port);
      c.write(`GET /m/declared?length=${length}&bodies=hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await until('the connection to close', 5000, () => c.closed);
      assert.match(c.text, /^HTTP\/1\.1 500 /, `${length}: ${c.text}`);
      assert.not.match(c.text, /content-length: (\+5|0_5|7)\r\n/i);
      await until(`the app's log to say ${fault}`, 5000, () => h.output.join('\n').includes(fault));
    }
    const c = await RawConnection.open(h.port);
    c.write('GET /m/declared?length=5,5&bodies=hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until('the connection to close', 5000, () => c.closed);
    assert.match(c.text, /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nhello$/, c.text);
    assert.is(c.text.match(/\r\ncontent-length: /gi)?.length, 1, c.text);
  });

  t('a head sent again (the worker keeps those it has checked) is held to the same rules: its status, its Content-Length, the hop-by-hop fields dropped; as a list, a tuple, [name, value] lists or a generator; an equal float status or memoryview values still refused', async ({ h }) => {
    const ask = async (query: string): Promise<string> => {
      const c = await RawConnection.open(h.port);
      c.write(`GET /m/head-as?${query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await until(`the answer to ${query}`, 5000, () => c.closed);
      return c.text;
    };
    for (let round = 0; round < 2; round++) {
      for (const form of ['list', 'tuple', 'lists', 'generator']) {
        for (const status of [200, 201]) {
          const answer = await ask(`form=${form}&status=${status}&body=hello`);
          assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} [\\s\\S]*\r\ncontent-length: 5\r\n[\\s\\S]*\r\n\r\nhello$`, 'i'), `${form} ${status}, round ${round}: ${answer}`);
          assert.not.match(answer, /\r\nkeep-alive: timeout=5/i, `${form}: the app's Keep-Alive is the gateway's business`);
        }
      }
    }
    // Longer than the head says, once the head is known: the app's 500 each time, never the bytes.
    for (const form of ['list', 'tuple', 'list']) {
      const answer = await ask(`form=${form}&status=200&body=hello!`);
      assert.match(answer, /^HTTP\/1\.1 500 /, `${form}: ${answer}`);
      assert.not.match(answer, /hello!/);
    }
    // Equal to the known head, and refused all the same: a float status, memoryview values.
    for (const query of ['form=list&status=200.0', 'form=views&status=200', 'form=list&status=200.0']) {
      const answer = await ask(`${query}&body=hello`);
      assert.match(answer, /^HTTP\/1\.1 500 /, `${query}: ${answer}`);
    }
    await until('the app log to say why', 5000, () => /status must be an int 200-599, got 200\.0/.test(h.output.join('\n')) && /name and value must be bytes/.test(h.output.join('\n')));
  });

  t('a field value with a control character (ESC, DEL, SOH): the app\'s 500 and its log says which; a tab and octets >= 0x80 go out as given', async ({ h }) => {
    // Node refuses every control character but HTAB (RFC 9110 §5.5): these were a 502 whose
    // reason the app's log never had.
    for (const [octets, shown] of [['%1B', "b'a\\x1bb'"], ['%7F', "b'a\\x7fb'"], ['%01', "b'a\\x01b'"]]) {
      const c = await RawConnection.open(h.port);
      c.write(`GET /m/field?a${octets}b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await until('the connection to close', 5000, () => c.closed);
      assert.match(c.text, /^HTTP\/1\.1 500 /, `${octets}: ${c.text}`);
      const fault = `header x-field: the value contains a control character (CR, LF, NUL, ...; RFC 9110 5.5): ${shown}`;
      await until(`the app's log to say ${fault}`, 5000, () => h.output.join('\n').includes(fault));
    }
    const c = await RawConnection.open(h.port);
    c.write('GET /m/field?a%09b%E9%A0c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until('the connection to close', 5000, () => c.closed);
    assert.match(c.text, /^HTTP\/1\.1 200 [\s\S]*\r\nx-field: a\tb\xe9\xa0c\r\n/, c.text);
  });

  t('a 304 (or 204) with the Content-Length of a body it never carries is that answer, not a 500, and the connection goes on', async ({ h }) => {
    for (const status of [304, 204]) {
      const c = await RawConnection.open(h.port);
      c.write(`GET /m/declared?length=10&bodies=&status=${status} HTTP/1.1\r\nHost: x\r\n\r\nGET /m/hello HTTP/1.1\r\nHost: x\r\n\r\n`);
      const text = await c.waitFor((s) => s.endsWith('Hello, world!\n'), 5000, 'both answers');
      c.socket.destroy();
      const responses = text.split(/(?=HTTP\/1\.1 )/);
      assert.is(responses.length, 2, text);
      assert.match(responses[0], new RegExp(`^HTTP/1\\.1 ${status} [^\\r]+\\r\\n[\\s\\S]*\\r\\n\\r\\n$`));
      if (status === 304) assert.match(responses[0], /\r\ncontent-length: 10\r\n/i, 'RFC 9110 8.6: the length of what a 200 would carry');
      assert.match(responses[1], /^HTTP\/1\.1 200 OK\r\n/);
    }
  });

  if (hasAnyio(python)) {
    t('anyio\'s threads (a FastAPI or Starlette plain def handler) are `threads` wide too, not anyio\'s 40', async ({ h }) => {
      assert.is((await get(`${h.url}/m/anyio-threads`)).body, '3');
    });
  }

  t('a status that is an int subclass (http.HTTPStatus) is the status it names', async ({ h }) => {
    const r = await get(`${h.url}/m/enum-status`);
    assert.is(r.status, 201);
    assert.is(r.body, 'made');
  });

  t('run_in_executor(None, ...) runs on the default executor, `threads` wide', async ({ h }) => {
    const names = (await get(`${h.url}/m/executor`)).body.split(' ');
    assert.is(names.length, 4);
    assert.ok(names.every((n) => /^apppkg-asgi_[0-2]$/.test(n)), names.join(' '));
  });

  t('requests run at once, whatever `threads` is: 30 requests, each waiting in the app until all 30 are there', async ({ h }) => {
    // Three at a time (`threads`), the first three would wait for the rest in vain and say "alone".
    // (It was 30 requests that slept 0.5 s, in under 2.5 s: a loaded host took 2.56.)
    const results = await Promise.all(Array.from({ length: 30 }, () => get(`${h.url}/m/together?n=30&key=run-at-once`, {}, 30_000)));
    assert.equal(results.map((r) => `${r.status} ${r.body.trim()}`), Array.from({ length: 30 }, () => '200 together'));
  });

  t('PING is answered with PONG; RECLAIM is ignored (the request runs and answers)', async ({ h }) => {
    const link = h.workers[0].link!;
    const pong = new Promise<void>((resolve) => link.once('pong', () => resolve()));
    link.ping();
    await withDeadline(pong, 3000, 'PONG');
    const x = new RawExchange(link);
    x.write(encodeRequest(x.id, requestLine('/sleep', 't=0.2'), ''));
    x.write(encodeEmptyFrame(Frame.RECLAIM, x.id));
    const full = await x.next(Frame.RESPONSE_FULL, 5000);
    assert.is(full.toString('latin1').slice(4, 7), '200');
    assert.equal(x.of(Frame.UNRUN), []);
  });

  t('stop: the request in flight finishes, then lifespan shutdown, then exit 0', async ({ h }) => {
    const worker = h.workers[0];
    const inFlight = get(`${h.url}/m/sleep?t=0.5`);
    await until('the request to reach the worker', 2000, () => worker.inFlight === 1);
    await withDeadline(worker.stop(5000), 8000, 'stop');
    assert.is((await inFlight).status, 200);
    assert.is(worker.exitCode, 0);
    const done = h.output.lastIndexOf('request /sleep done');
    const shutdown = h.output.indexOf('lifespan shutdown ran');
    assert.ok(done !== -1 && shutdown > done, `shutdown after the last request (${done}, ${shutdown})`);
  });

  t.run();
}

// Starlette 0.35 and later read `path` with the mount in it (asgi_scope.reads_full_path); the
// fixture stands in for one (Debian ships 0.26, which routes on the rest, as SPEC 5.1 gives it).
const fullPath = suite<{ h: LinkHarness }>('asgi-http: an app whose framework reads path with root_path in it');

fullPath.before(async (ctx) => {
  ctx.h = await startLinkHarness('asgi-full-path', { mount: '/m' });
});
fullPath.after(async (ctx) => {
  await ctx.h?.stop();
});

fullPath('its path carries the mount, so it routes on the rest and its redirects stay under the mount', async ({ h }) => {
  const r = await get(`${h.url}/m/items/caf%C3%A9`);
  assert.is(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body), { path: '/m/items/café', root_path: '/m', route: '/items/café', raw_path: '/m/items/caf%C3%A9' });
  for (const [target, location] of [['/m', '/m/'], ['/m/docs', '/m/docs/']]) {
    const redirect = await get(`${h.url}${target}`, { redirect: 'manual' });
    assert.is(redirect.status, 307, target);
    assert.is(redirect.headers.get('location'), location, `${target}: a URL built from path alone keeps the mount`);
  }
});

fullPath.run();
