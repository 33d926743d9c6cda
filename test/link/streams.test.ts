// Streaming both ways within the windows (docs/protocol.md "Flow control"): big files by
// sendfile, endless bodies to a client that stops reading, list bodies over the window, slow
// apps reading big uploads, clients that go away.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { heldResponse } from '../helpers/held-response.js';
import { waitFor } from '../helpers/process.js';
import { Frame, RESPONSE_WINDOW, encodeEmptyFrame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import { RawConnection, RawExchange, creditedByHand, get, requestLine, sampledChecksum, sendUnevenChunks, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';

const t = suite<{ h: LinkHarness }>('streams');

t.before(async (ctx) => {
  ctx.h = await startLinkHarness('link-stream', { workers: 1, threads: 4 });
});
t.after(async (ctx) => {
  await ctx.h?.stop();
});

async function sentSoFar(h: LinkHarness): Promise<number> {
  return Number((await get(`${h.url}/count`)).body);
}

t('wsgi.file_wrapper of a regular file: 8 MiB, byte for byte, with a Content-Length', async ({ h }) => {
  const res = await fetch(`${h.url}/file`, { signal: AbortSignal.timeout(15_000) });
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-length'), String(8 << 20));
  const body = Buffer.from(await res.arrayBuffer());
  const expected = Buffer.alloc(8 << 20);
  for (let i = 0; i < expected.length; i++) expected[i] = i & 255;
  assert.is(body.length, expected.length);
  assert.ok(body.equals(expected), 'same bytes');
});

t('a client that never reads holds the app back within the response window, past what the kernel holds; reading again resumes it; leaving stops it', async ({ h }) => {
  const before = await sentSoFar(h);
  const c = await RawConnection.open(h.port);
  c.socket.pause(); // never reads: the kernel's buffers fill, then the window, then the app blocks
  try {
    c.write('GET /gen?mb=256 HTTP/1.1\r\nHost: x\r\n\r\n');
    const held = await heldResponse(c.socket, async () => (await sentSoFar(h)) - before);
    // The window is 256 KiB; the app blocks on the 64 KiB piece past it.
    assert.ok(held.inGateway < 512 << 10, `${held.inGateway >> 10} KiB held past the kernel's ${held.inKernel >> 10} KiB (${held.produced >> 10} KiB produced)`);
    c.socket.resume();
    await waitFor(async () => (await sentSoFar(h)) - before > held.produced + (8 << 20), 10_000, 'the app to produce on once the client reads');
  } finally {
    c.destroy(); // ABORT: the app's write raises, its generator is closed
  }
  await new Promise((r) => setTimeout(r, 300));
  const after = await sentSoFar(h);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(await sentSoFar(h), after, 'stopped after the client left');
  assert.not.ok(h.output.some((l) => l.includes('Traceback')), 'a client leaving is not an app error');
});

/** `n` bytes of the /list body: 0, 1, ... 255, 0, ... */
const listBody = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => i & 255));
/** Just over the response window, in three pieces: the worker must wait for credit once. */
const OVER = 2 * RESPONSE_WINDOW + 1;

t('a list body over the response window streams under it (RESPONSE, pieces, RESPONSE_END), its computed Content-Length in the head', async ({ h }) => {
  for (const [query, length] of [[`n=${OVER}`, OVER], [`n=${OVER + 7}&cl=${OVER}`, OVER]] as const) {
    const x = new RawExchange(h.workers[0].link!);
    x.write(encodeRequest(x.id, requestLine('/list', query), ''));
    const { head, body, stalls } = await creditedByHand(x);
    assert.is(head[head.indexOf('Content-Length') + 1], String(length), query);
    assert.ok(body.equals(listBody(length)), `${query}: ${body.length} bytes`);
    assert.ok(stalls >= 1, `${query}: the worker never waited for credit`);
  }
  assert.ok(h.output.some((l) => l.includes(`the body has ${OVER + 7} bytes, more than its Content-Length ${OVER}; sending the first ${OVER}`)), h.output.join('\n'));
});

t('HEAD of a list body over the window: one RESPONSE_FULL, the body\'s Content-Length and no body crosses the link', async ({ h }) => {
  for (const [query, length] of [[`n=${OVER}`, OVER], [`n=${OVER}&cl=${OVER + 7}`, OVER + 7]] as const) {
    const x = new RawExchange(h.workers[0].link!);
    x.write(encodeRequest(x.id, requestLine('/list', query, 'HEAD'), ''));
    const full = await x.next(Frame.RESPONSE_FULL);
    const head = full.toString('latin1', 4, 4 + full.readUInt32BE(0)).split('\0');
    assert.is(head[head.indexOf('Content-Length') + 1], String(length), query);
    assert.is(full.length, 4 + full.readUInt32BE(0), `${query}: no body`);
    assert.equal(x.frames.map((f) => f.type), [Frame.RESPONSE_FULL], query);
  }
});

t('a list body over the window to a client that leaves mid-body: the thread is freed (RESPONSE_END), no traceback', async ({ h }) => {
  const x = new RawExchange(h.workers[0].link!);
  x.write(encodeRequest(x.id, requestLine('/list', `n=${8 << 20}`), ''));
  await x.until(() => x.of(Frame.RESPONSE_BODY).length >= 2, 5000, 'two pieces');
  x.write(encodeEmptyFrame(Frame.ABORT, x.id));
  await x.next(Frame.RESPONSE_END, 5000);
  assert.equal(x.of(Frame.RESPONSE_FULL), []);
  assert.ok(x.of(Frame.RESPONSE_BODY).length < 8, `${x.of(Frame.RESPONSE_BODY).length} pieces sent for a client that took none`);
  assert.not.ok(h.output.some((l) => l.includes('Traceback')), h.output.join('\n'));
});

t('a list body over the window through HTTP: Content-Length (not chunked) and every byte; HEAD; a Content-Length shorter than the body; kept alive', async ({ h }) => {
  const c = await RawConnection.open(h.port);
  try {
    c.write(`GET /list?n=${OVER} HTTP/1.1\r\nHost: x\r\n\r\nHEAD /list?n=${OVER} HTTP/1.1\r\nHost: x\r\n\r\n` +
      `GET /list?n=${OVER + 7}&cl=${OVER} HTTP/1.1\r\nHost: x\r\n\r\nGET /count HTTP/1.1\r\nHost: x\r\n\r\n`);
    const answers: Array<{ head: string; body: Buffer }> = [];
    await c.waitFor((text) => {
      answers.length = 0;
      for (let at = 0, i = 0; i < 4; i++) {
        const end = text.indexOf('\r\n\r\n', at);
        if (end === -1) return false;
        const head = text.slice(at, end);
        const length = i === 1 ? 0 : Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? NaN);
        if (end + 4 + length > text.length) return false;
        answers.push({ head, body: Buffer.from(text.slice(end + 4, end + 4 + length), 'latin1') });
        at = end + 4 + length;
      }
      return true;
    }, 10_000, 'four answers');
    const [full, head, cut, count] = answers;
    for (const [name, answer] of [['GET', full], ['HEAD', head], ['short Content-Length', cut]] as const) {
      assert.match(answer.head, /^HTTP\/1\.1 200 OK\r\n/, name);
      assert.match(answer.head, new RegExp(`\r\ncontent-length: ${OVER}\r\n`, 'i'), name);
      assert.not.match(answer.head, /transfer-encoding/i, name);
    }
    assert.ok(full.body.equals(listBody(OVER)), 'every byte');
    assert.ok(cut.body.equals(listBody(OVER)), 'the first Content-Length bytes');
    assert.match(count.head, /^HTTP\/1\.1 200 OK\r\n/, 'the next answer on the same connection');
    assert.not.ok(c.closed);
  } finally {
    c.destroy();
  }
});

t('a big upload to an app that reads slowly (request window): every byte, in order', async ({ h }) => {
  const body = Buffer.alloc(6 << 20);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 255;
  const check = sampledChecksum(body);
  const r = await get(`${h.url}/upload?pause=0.002`, { method: 'POST', body }, 30_000);
  assert.is(r.body, `${body.length} ${check}`);
});

t('a chunked upload of 2 MiB in uneven pieces', async ({ h }) => {
  const c = await RawConnection.open(h.port);
  try {
    c.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    const { total, check } = sendUnevenChunks(c);
    const text = await c.waitFor((s) => /\r\n\r\n\d+ \d+$/.test(s), 15_000, 'the upload result');
    assert.ok(text.endsWith(`\r\n\r\n${total} ${check}`), text.slice(-100));
  } finally {
    c.destroy();
  }
});

t('a client that leaves mid-upload: the app gets ClientDisconnected, the worker goes on', async ({ h }) => {
  const c = await RawConnection.open(h.port);
  c.write('POST /upload?pause=0.01 HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n');
  c.write(Buffer.alloc(300_000, 1));
  await new Promise((r) => setTimeout(r, 200));
  c.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const r = await get(`${h.url}/count`);
  assert.is(r.status, 200);
  assert.not.ok(h.output.some((l) => l.includes('Traceback')), h.output.join('\n'));
});

t('requests keep flowing past streams and aborts', async ({ h }) => {
  const results = await Promise.all(Array.from({ length: 20 }, () => get(`${h.url}/count`)));
  assert.ok(results.every((r) => r.status === 200));
  assert.is(h.workers[0].inFlight, 0);
});

t.run();
