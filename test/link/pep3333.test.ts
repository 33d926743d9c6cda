// PEP 3333 through the link, with the app wrapped in wsgiref.validate (SPEC 2.2): every item
// of docs/protocol.md "The WSGI side" on a real worker, over fetch and raw sockets.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import { RawConnection, RawExchange, countResponses, get, requestLine, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';
import { startGatewayHarness } from '../helpers/gateway-harness.js';

/** What these tests need of a server: the link harness, or the real gateway CLI. */
interface Harness {
  url: string;
  port: number;
  /** Every line the workers wrote (stdout, stderr, wsgi.errors). */
  readonly output: string[];
  stop(): Promise<unknown>;
}

// The same cases on the link alone, and through the real gateway (`--apps`, the app mounted at
// /mnt by the environment file), so nothing between the client and the link (router,
// admission, logs) can break PEP 3333 unseen. validate's wrapper is an iterator, never a list:
// a third pass, on the link, serves the same answers as plain lists (the app's `plain`), for
// the worker's list path (task.py, _respond's short way and _full), with the cases about a
// response's head and body.
for (const [name, plain, start] of [
  ['pep3333 on the link', false, () => startLinkHarness('pep3333', { workers: 1, threads: 4, mount: '/mnt' })],
  ['pep3333 through the gateway', false, () => startGatewayHarness('pep3333', { workers: 1, threads: 4, mount: '/mnt' })],
  ['pep3333 on the link, plain lists', true, () => startLinkHarness('pep3333', { workers: 1, threads: 4, mount: '/mnt', app: 'app:plain' })],
] as Array<[string, boolean, () => Promise<Harness>]>) {
  const t = suite<{ h: Harness }>(name);
  /** A case about what the validated app alone answers (the request's side, validate's own checks). */
  const validated = plain ? () => undefined : t;

  t.before(async (ctx) => {
    ctx.h = await start();
  });
  t.after(async (ctx) => {
    await ctx.h?.stop();
  });

  async function environ(h: Harness, path = '/mnt/', init: RequestInit = {}): Promise<Record<string, unknown>> {
    const r = await get(h.url + path, init);
    assert.is(r.status, 200, r.body);
    return JSON.parse(r.body) as Record<string, unknown>;
  }

  t('environ: SCRIPT_NAME is the mount, PATH_INFO decoded to latin-1 bytes, the rest raw', async ({ h }) => {
    const env = await environ(h, '/mnt/a%20b/%C3%A9?x=1&y=%20');
    assert.is(env.REQUEST_METHOD, 'GET');
    assert.is(env.SCRIPT_NAME, '/mnt');
    assert.is(env.PATH_INFO, '/a b/\u00c3\u00a9', 'UTF-8 bytes of é, each as a latin-1 char');
    assert.is(env.QUERY_STRING, 'x=1&y=%20');
    assert.is(env.REQUEST_URI, '/mnt/a%20b/%C3%A9?x=1&y=%20');
    assert.is(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.is(env.REMOTE_ADDR, '127.0.0.1');
    assert.is(env['wsgi.url_scheme'], 'http');
    assert.is(env['wsgi.multithread'], true, '4 threads');
    assert.is(env['wsgi.multiprocess'], false, 'one worker');
    assert.is(env['wsgi.run_once'], false);
    assert.is(env['wsgi.input_terminated'], true);
  });

  t('environ: a fresh dict each request, whatever the app before changed in its own', async ({ h }) => {
    // Every environ is a copy of one the worker makes once (environ.py, make_base_environ).
    for (let i = 0; i < 3; i++) {
      const changed = await get(`${h.url}/mnt/mutate`, { headers: { 'X-A': 'sent' } });
      assert.is(changed.body, 'changed');
      const env = await environ(h);
      assert.is(env.REQUEST_METHOD, 'GET');
      assert.is(env.X_MARK, null);
      assert.is(env.HTTP_X_A, null);
      assert.is(env.SERVER_SOFTWARE, 'apppkg-gateway/0.1');
      assert.is(env['wsgi.url_scheme'], 'http');
      assert.is(env.input, '', 'wsgi.input of a GET reads as empty');
    }
    assert.ok(h.output.includes('pep3333: mutate'), 'wsgi.errors of a request without a body is written to');
  });

  t('environ: headers as CGI names; names with _ dropped; repeats joined', async ({ h }) => {
    const env = await environ(h, '/mnt/', { headers: { 'X-A': '1', X_B_C: 'spoof', Cookie: 'a=1' } });
    assert.is(env.HTTP_X_A, '1');
    assert.is(env.HTTP_X_B_C, null, 'X_B_C must not pose as X-B-C');
    assert.is(env.HTTP_COOKIE, 'a=1');
    const c = await RawConnection.open(h.port);
    try {
      c.write('GET /mnt/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\nCookie: a=1\r\ncookie: b=2\r\nX-B-C: real\r\n\r\n');
      const text = await c.waitFor((s) => countResponses(s) === 1, 5000, 'the response');
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      assert.is(body.HTTP_X_A, '1, 2');
      assert.is(body.HTTP_COOKIE, 'a=1; b=2');
      assert.is(body.HTTP_X_B_C, 'real');
    } finally {
      c.destroy();
    }
  });

  validated('wsgi.input streams a Content-Length body: readline, then read(n) to EOF', async ({ h }) => {
    const big = `first line\n${'x'.repeat(300_000)}`;
    const r = await get(`${h.url}/mnt/echo`, { method: 'POST', body: big });
    assert.is(r.status, 200);
    assert.is(r.body.length, big.length);
    assert.ok(r.body === big);
  });

  validated('wsgi.input: iteration and readlines', async ({ h }) => {
    const r = await get(`${h.url}/mnt/lines`, { method: 'POST', body: 'a\nb\nc' });
    assert.is(r.body, 'a\n|b\n|c|0');
  });

  validated('wsgi.input streams a chunked request body (wsgi.input_terminated)', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('POST /mnt/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await new Promise((r) => setTimeout(r, 50)); // the app is already reading: the rest arrives later
      c.write('6\r\n world\r\n0\r\n\r\n');
      const text = await c.waitFor((s) => countResponses(s) === 1, 5000, 'the echo');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(text.endsWith('\r\n\r\nhello world'), text);
    } finally {
      c.destroy();
    }
  });

  t('write() then the iterable; empty items skipped; close() called', async ({ h }) => {
    // close() runs after the answer is sent: let earlier requests' close() land first, or
    // one of them would be counted here.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
    await settle();
    const before = (await environ(h)).closed as number;
    const r = await get(`${h.url}/mnt/write`);
    assert.is(r.body, 'written,iterated');
    await settle();
    const after = (await environ(h)).closed as number;
    // /write's Body and the first environ() dump's Body were both closed (plain: lists, nothing to close).
    assert.is(after, plain ? before : before + 2);
  });

  t('close() of an iterable the app returns is called once it is sent', async ({ h }) => {
    const closes = async () => (await environ(h)).close_route as number;
    const before = await closes();
    const r = await get(`${h.url}/mnt/close`);
    assert.is(r.body, 'closing');
    // close() runs after the answer is sent.
    const deadline = Date.now() + 5000;
    let after = before;
    while (after === before && Date.now() < deadline) after = await closes();
    assert.is(after, before + 1);
  });

  t("a list body: the head as given, its Content-Length once (the app's or computed), the body whole", async ({ h }) => {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    // Either side of COPIED_BODY (16 KiB, below it _respond's short way) and of the response window (256 KiB).
    for (const n of [0, 14, 16_383, 16_384, 100_000, 300_000]) {
      for (const parts of [1, 3]) {
        for (const cl of [1, 0]) {
          const what = `n=${n}&parts=${parts}&cl=${cl}`;
          const r = await get(`${h.url}/mnt/sized?${what}`);
          assert.is(r.status, 200, what);
          assert.is(r.headers.get('content-type'), 'text/plain', what);
          // validate's wrapper is an iterable: one without a Content-Length is chunked, but when it is empty.
          assert.is(r.headers.get('content-length'), plain || cl || n === 0 ? String(n) : null, what);
          assert.ok(r.body === letters.repeat(Math.floor(n / 26)) + 'z'.repeat(n % 26), `${what}: the body as the app gave it`);
        }
      }
    }
  });

  t('204 and 304: the head as given, never the body the app returned', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write(['/mnt/204', '/mnt/304', '/mnt/sized?n=5'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      const text = await c.waitFor((s) => s.endsWith('\r\n\r\nzzzzz'), 5000, '204, 304, then a GET');
      const responses = text.split(/(?=HTTP\/1\.1 )/);
      assert.is(responses.length, 3, text);
      assert.match(responses[0], /^HTTP\/1\.1 204 No Body\r\n[\s\S]*X-Kept: yes\r\n[\s\S]*\r\n\r\n$/, 'no body after the 204');
      assert.match(responses[1], /^HTTP\/1\.1 304 No Body\r\n[\s\S]*X-Kept: yes\r\n[\s\S]*\r\n\r\n$/, 'no body after the 304');
      assert.not.match(text, /dropped/);
    } finally {
      c.destroy();
    }
  });

  t('start_response with exc_info before the body replaces the status', async ({ h }) => {
    const r = await get(`${h.url}/mnt/exc`);
    assert.is(r.status, 500);
    assert.is(r.body, 'replaced');
  });

  validated('wsgi.file_wrapper', async ({ h }) => {
    const { readFileSync } = await import('node:fs');
    const { fixtureApp } = await import('../helpers/link-harness.js');
    const r = await get(`${h.url}/mnt/file`);
    assert.is(r.status, 200);
    assert.is(r.body, readFileSync(`${fixtureApp('pep3333').dir}/app.py`, 'latin1'));
  });

  t('HEAD runs the app, keeps its headers (Content-Length too), sends no body', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('HEAD /mnt/ HTTP/1.1\r\nHost: x\r\n\r\nGET /mnt/ HTTP/1.1\r\nHost: x\r\n\r\n');
      const text = await c.waitFor((s) => /\r\n\r\n[\s\S]*\r\n\r\n\{[\s\S]*\}$/.test(s), 5000, 'HEAD then GET');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      assert.match(head, /^HTTP\/1\.1 200 OK/);
      assert.match(head, /Content-Type: text\/plain/);
      const length = Number(/Content-Length: (\d+)/.exec(head)?.[1]);
      assert.ok(length > 100, 'the length the GET body would have');
      const rest = text.slice(head.length + 4);
      assert.match(rest, /^HTTP\/1\.1 200 OK/, 'no body after the HEAD response: the next bytes are the GET response');
      // Above COPIED_BODY, and one under it (the short way's size) that a HEAD must not take.
      c.write('HEAD /mnt/sized?n=20000 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /mnt/sized?n=20 HTTP/1.1\r\nHost: x\r\n\r\nGET /mnt/sized?n=3 HTTP/1.1\r\nHost: x\r\n\r\n');
      const more = (await c.waitFor((s) => s.endsWith('\r\n\r\nzzz'), 5000, 'two HEADs then a GET')).slice(text.length);
      const answers = more.split(/(?=HTTP\/1\.1 )/);
      assert.is(answers.length, 3, more);
      assert.match(answers[0], /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 20000\r\n[\s\S]*\r\n\r\n$/, "the GET's length, no body");
      assert.match(answers[1], /^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 20\r\n[\s\S]*\r\n\r\n$/, "the GET's length, no body");
    } finally {
      c.destroy();
    }
  });

  // The front drops a HEAD's body whatever the worker sends: only the link shows one sent.
  (plain ? t : () => undefined)('HEAD on the link: the response frame carries the head alone, whatever its size', async ({ h }) => {
    for (const n of [20, 20_000]) {
      for (const round of [1, 2]) {
        const x = new RawExchange((h as LinkHarness).workers[0].link!);
        x.write(encodeRequest(x.id, requestLine('/sized', `n=${n}`, 'HEAD'), ''));
        const full = await x.next(Frame.RESPONSE_FULL);
        const head = full.toString('latin1', 4, 4 + full.readUInt32BE(0)).split('\0');
        const what = `HEAD of ${n} bytes, round ${round}`;
        assert.is(head[head.indexOf('Content-Length') + 1], String(n), what);
        assert.is(full.length, 4 + full.readUInt32BE(0), `${what}: no body`);
      }
    }
  });

  t('keep-alive: several requests, pipelined, on one connection', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      let batch = '';
      for (let i = 0; i < 5; i++) batch += `GET /mnt/n${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
      c.write(batch);
      const text = await c.waitFor((s) => countResponses(s) === 5, 5000, 'five responses');
      for (let i = 0; i < 5; i++) assert.ok(text.includes(`"PATH_INFO": "/n${i}"`), `response ${i}`);
      assert.ok(text.indexOf('/n0') < text.indexOf('/n4'), 'in order');
      c.write('POST /mnt/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
      const more = await c.waitFor((s) => countResponses(s) === 6, 5000, 'a sixth response');
      assert.ok(more.endsWith('abc'));
      assert.not.ok(c.closed);
    } finally {
      c.destroy();
    }
  });

  validated('Expect: 100-continue: 100 once the app reads wsgi.input, then the body', async ({ h }) => {
    const c = await RawConnection.open(h.port);
    try {
      c.write('POST /mnt/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.waitFor((s) => s.includes('\r\n\r\n'), 5000, '100 Continue');
      assert.is(interim, 'HTTP/1.1 100 Continue\r\n\r\n');
      c.write('hello again');
      const text = await c.waitFor((s) => s.endsWith('hello again'), 5000, 'the echo');
      assert.match(text.slice(interim.length), /^HTTP\/1\.1 200 OK\r\n/);
    } finally {
      c.destroy();
    }
  });

  validated('wsgi.errors reaches the worker output (the app log)', async ({ h }) => {
    await get(`${h.url}/mnt/echo`, { method: 'POST', body: 'x' });
    assert.ok(h.output.includes('pep3333: echo'), h.output.join('\n'));
  });

  validated('wsgiref.validate raised no warning and no assertion', async ({ h }) => {
    const env = await environ(h);
    assert.equal(env.warnings, []);
    const failures = h.output.filter((line) => /AssertionError|Traceback|WSGIWarning/.test(line));
    assert.equal(failures, []);
  });

  t.run();
}
