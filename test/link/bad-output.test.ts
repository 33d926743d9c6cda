// Apps that break PEP 3333: a 500 and a log line naming the app before the headers are out,
// a cut connection after (a truncated body must never look complete). docs/protocol.md.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import { RawConnection, RawExchange, get, requestLine, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';

const t = suite<{ h: LinkHarness }>('bad-output');

t.before(async (ctx) => {
  ctx.h = await startLinkHarness('bad-output', { workers: 1, threads: 2 });
});
t.after(async (ctx) => {
  await ctx.h?.stop();
});

const cases: Array<[string, RegExp]> = [
  ['/status-int', /status must be a str like "200 OK", got int 200/],
  ['/crlf', /header X-Bad: the value contains a control character \(CR, LF, NUL, \.\.\.; RFC 9110 5\.5\): 'a\\r\\nSet-Cookie/],
  // Node refuses every control character but HTAB: these were a 502 whose reason the app's log never had.
  ['/control', /header X-Bad: the value contains a control character .*'a\\x1bb'/],
  ['/del', /header X-Bad: the value contains a control character .*'a\\x7fb'/],
  ['/control-reason', /status must be a str like "200 OK", got '200 O\\x01K'/],
  ['/str-body', /the response body must be bytes, got str/],
  // Refused when the response goes out, not by start_response, which keeps none it cannot encode.
  ['/not-latin-1', /status and header values must be latin-1 \(PEP 3333\): 'latin-1' codec can't encode character '\\u20ac'/],
  ['/twice', /start_response\(\) called a second time without exc_info/],
  ['/no-start', /returned without calling start_response/],
];

for (const [path, logged] of cases) {
  t(`${path}: 500, and the log names the app and the fault`, async ({ h }) => {
    const r = await get(h.url + path);
    assert.is(r.status, 500);
    assert.is(r.body, '500 Internal Server Error\n', 'no traceback outside development');
    assert.not.match(r.body, /evil/);
    const log = h.output.join('\n');
    assert.match(log, logged);
    assert.match(log, new RegExp(`app:application \\(bad-output\\) failed on GET ${path.replace('/', '\\/')}`));
  });
}

t('a tab and latin-1 octets >= 0x80 in a value are no fault: they go out as the app gave them', async ({ h }) => {
  const c = await RawConnection.open(h.port);
  try {
    c.write('GET /odd-but-valid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = await c.waitClosed(5000);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/, text);
    assert.ok(text.includes('\r\nX-Odd: a\tb\xe9\xa0c\r\n'), text);
  } finally {
    c.destroy();
  }
});

// start_response keeps the heads it has checked (task.py, _kept_heads): one given again in
// another form, or with a part that only compares equal to the kept one's, is checked as it is.
t('a head given again, or one that only compares equal to it, is held to the same rules', async ({ h }) => {
  const answers: Array<[string, number, string]> = [
    ['list', 200, 'OK'], // kept here, if not already
    ['tuple', 500, 'headers must be a list of \\(name, value\\) tuples, got tuple'],
    ['tuple-item', 500, "each header must be a \\(name, value\\) tuple, got \\('X-Kept', '1'\\)"],
    ['lying-status', 201, 'Created'],
    ['lying-204', 204, 'No Content'],
    ['lying-999', 500, "status '999 Nope': the app may answer 200-599 only"],
    ['lying-name', 500, "header name 'X Kept' is not a valid HTTP token"],
    ['lying-value', 500, "header X-Kept: the value contains a control character .*'1\\\\r\\\\nSet-Cookie"],
    ['not-str-value', 500, 'name and value must be str'],
    ['str-subclass', 200, 'OK'],
    ['list-subclass', 200, 'OK'],
    ['okay', 200, 'Okay'],
    ['created', 201, 'Created'],
    ['list', 200, 'OK'],
  ];
  for (const round of [1, 2]) {
    for (const [form, status, said] of answers) {
      const logged = h.output.length;
      const res = await fetch(`${h.url}/head-as?${form}`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      const what = `round ${round}, ${form}`;
      assert.is(res.status, status, what);
      if (status === 500) {
        const fault = new RegExp(said);
        await waitFor(() => fault.test(h.output.slice(logged).join('\n')), 5000, () => `${what}: ${said} in the log:\n${h.output.slice(logged).join('\n')}`);
        assert.not.ok(res.headers.has('x-kept') || res.headers.has('set-cookie'), what);
        continue;
      }
      assert.is(res.statusText, said, what);
      assert.is(res.headers.get('x-kept'), '1', what);
      assert.is(body, status === 204 ? '' : 'ok\n', what);
      assert.is(res.headers.get('content-length'), status === 204 ? null : '3', what);
    }
  }
});

// A kept head is kept encoded too (task.py, _kept_heads): a second start_response (exc_info)
// whose head is not kept must not answer with the first one's encoding.
t('start_response with exc_info: a head too long to be kept replaces a kept one', async ({ h }) => {
  for (const round of [1, 2]) {
    const res = await fetch(`${h.url}/replaced-long`, { signal: AbortSignal.timeout(10_000) });
    assert.is(await res.text(), 'replaced\n', `round ${round}`);
    assert.is(res.status, 500, `round ${round}`);
    assert.is(res.statusText, 'Replaced', `round ${round}`);
    assert.is(res.headers.get('x-long'), 'x'.repeat(2000), `round ${round}`);
  }
});

// A kept head's answer is made short (task.py, _respond): not for a 204 or 304, or a HEAD, whose
// body the app gives but must not cross the link (the front would drop it: seen on the link).
t('a kept head of a 204, a 304 or a HEAD: its RESPONSE_FULL carries no body, the first time or after', async ({ h }) => {
  for (const [query, method] of [['204+No+Content', 'GET'], ['304+Not+Modified', 'GET'], ['200+OK', 'HEAD']]) {
    for (const round of [1, 2]) {
      const x = new RawExchange(h.workers[0].link!);
      x.write(encodeRequest(x.id, requestLine('/sized', query, method), ''));
      const full = await x.next(Frame.RESPONSE_FULL);
      const head = full.toString('latin1', 4, 4 + full.readUInt32BE(0)).split('\0');
      const what = `${method} ${query}, round ${round}`;
      assert.is(head[0], query.replace(/\+/g, ' '), what);
      assert.is(head[head.indexOf('Content-Length') + 1], '3', what);
      assert.is(full.length, 4 + full.readUInt32BE(0), `${what}: no body`);
    }
  }
});

t('the worker keeps serving after each of them', async ({ h }) => {
  const r = await get(`${h.url}/ok`);
  assert.is(r.status, 200);
  assert.is(r.body, 'ok\n');
});

t('an error after the headers cuts the connection before the end of the body', async ({ h }) => {
  const c = await RawConnection.open(h.port);
  try {
    c.write('GET /after-headers HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await c.waitClosed(5000);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /Transfer-Encoding: chunked/);
    assert.ok(text.includes('partial partial'), 'the first chunk went out');
    assert.not.ok(text.endsWith('0\r\n\r\n'), 'no terminating chunk: the client sees a truncated body');
  } finally {
    c.destroy();
  }
  assert.match(h.output.join('\n'), /after the response headers were sent/);
});

t('an app that set sys.stderr to None: its 500\'s traceback still reaches the log', async () => {
  const own = await startLinkHarness('bad-output', { workers: 1, threads: 1 });
  try {
    const r = await get(`${own.url}/stderr-none`);
    assert.is(r.status, 500);
    // It was written to None and lost: the log never said why the app answered 500.
    await waitFor(() => own.output.join('\n').includes('RuntimeError: failed with sys.stderr set to None'), 5000, () => `the traceback, in:\n${own.output.join('\n')}`);
    assert.match(own.output.join('\n'), /app:application \(bad-output\) failed on GET \/stderr-none/);
  } finally {
    await own.stop();
  }
});

t('an app that closed fd 2: its 500\'s traceback still reaches the log', async () => {
  const own = await startLinkHarness('bad-output', { workers: 1, threads: 1 });
  try {
    const r = await get(`${own.url}/stderr-closed`);
    assert.is(r.status, 500);
    // Lost with fd 2: the fallback writes only to a pipe there, and the app's file took its place.
    await waitFor(() => own.output.join('\n').includes('RuntimeError: failed with fd 2 closed'), 5000, () => `the traceback, in:\n${own.output.join('\n')}`);
  } finally {
    await own.stop();
  }
});

t('development: the 500 body carries the traceback', async () => {
  const dev = await startLinkHarness('bad-output', { workers: 1, threads: 1, development: true });
  try {
    const r = await get(`${dev.url}/str-body`);
    assert.is(r.status, 500);
    assert.match(r.body, /^500 Internal Server Error\n\nTraceback/);
    assert.match(r.body, /InvalidResponse: the response body must be bytes, got str/);
  } finally {
    await dev.stop();
  }
});

t.run();
