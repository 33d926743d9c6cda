// Streaming both ways within the windows (docs/protocol.md "Flow control"): big files by
// sendfile, endless bodies to a client that stops reading, slow apps reading big uploads,
// clients that go away.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { heldResponse } from '../helpers/held-response.js';
import { waitFor } from '../helpers/process.js';
import { RawConnection, get, sampledChecksum, sendUnevenChunks, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';

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
