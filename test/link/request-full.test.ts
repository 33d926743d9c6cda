// REQUEST_FULL (docs/protocol.md §2): a request with its whole body in one frame, which the front
// sends when it has the body whole at dispatch (its lean lane read it with the head). Both
// workers take it as REQUEST, REQUEST_BODY and REQUEST_END; a RECLAIM gives its body back; and
// the front sends it only for a body that is all there: one that comes later, or chunked, goes
// in pieces as before. Real Node, real Python: the link harness on the front's lean lane.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, encodeEmptyFrame } from '../../src/link/frames.js';
import { encodeRequestFull } from '../../src/link/request-frame.js';
import { waitFor } from '../helpers/process.js';
import { RawExchange, get, requestLine, startLinkHarness, withDeadline, type LinkHarness } from '../helpers/link-harness.js';

const t = suite<{ stops: Array<() => Promise<void>> }>('REQUEST_FULL');
t.before.each((ctx) => {
  ctx.stops = [];
});
t.after.each(async (ctx) => {
  for (const stop of ctx.stops.splice(0)) await stop();
});

/** The body of a RESPONSE_FULL, or of a streamed answer (RESPONSE_BODY pieces up to RESPONSE_END). */
async function answerBody(x: RawExchange): Promise<string> {
  await x.until(() => x.frames.some((f) => f.type === Frame.RESPONSE_FULL || f.type === Frame.RESPONSE_END || f.type === Frame.ERROR), 10_000, 'a terminal frame');
  const error = x.of(Frame.ERROR)[0];
  if (error !== undefined) throw new Error(`the app failed: ${error.toString('utf8')}`);
  const full = x.of(Frame.RESPONSE_FULL)[0];
  if (full !== undefined) return full.subarray(4 + full.readUInt32BE(0)).toString('latin1');
  return Buffer.concat(x.of(Frame.RESPONSE_BODY)).toString('latin1');
}

function post(x: RawExchange, path: string, body: Buffer): void {
  const line = { ...requestLine(path), method: 'POST', body: String(body.length) };
  x.write(encodeRequestFull(x.id, line, `\0CONTENT_LENGTH\0${body.length}\0CONTENT_TYPE\0application/octet-stream`, body));
}

for (const kind of ['wsgi', 'asgi'] as const) {
  const fixture = kind === 'wsgi' ? 'pep3333' : 'asgi-http';
  const path = kind === 'wsgi' ? '/echo' : '/upload';
  /** What the app answers `body` with: the WSGI echo, or the ASGI app's length, checksum and pieces. */
  const expected = (body: Buffer): string => {
    if (kind === 'wsgi') return body.toString('latin1');
    let check = 0;
    for (let i = 0; i < body.length; i += 4096) check = (check + body[i]) % 65521;
    return `${body.length} ${check} 1`;
  };

  t(`${kind}: the app gets the body a REQUEST_FULL carries, whole, and answers`, async (ctx) => {
    const h = await startLinkHarness(fixture, { workers: 1 });
    ctx.stops.push(() => h.stop());
    const body = Buffer.alloc(65536 + 7, 'pq\nrs');
    const x = new RawExchange(h.workers[0].link!);
    post(x, path, body);
    assert.is(await answerBody(x), expected(body));
    // And one small enough to leave in the same read as the next request's frame.
    const small = Buffer.from('one line\nand the rest');
    const y = new RawExchange(h.workers[0].link!);
    post(y, path, small);
    assert.is(await answerBody(y), expected(small));
  });

  t(`${kind}: a REQUEST_FULL with an empty body reads as a body that ended at once`, async (ctx) => {
    const h = await startLinkHarness(fixture, { workers: 1 });
    ctx.stops.push(() => h.stop());
    const x = new RawExchange(h.workers[0].link!);
    post(x, path, Buffer.alloc(0));
    assert.is(await answerBody(x), kind === 'wsgi' ? '' : '0 0 1');
  });
}

t('wsgi: RECLAIM of a REQUEST_FULL waiting for a thread: its UNRUN carries the body', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 1 });
  ctx.stops.push(() => h.stop());
  const link = h.workers[0].link!;
  const busy = get(`${h.url}/?t=0.8`).catch((e: unknown) => ({ status: 0, body: String(e) }));
  await waitFor(() => h.workers[0].inFlight === 1, 5000, 'the thread busy');
  const waiting = new RawExchange(link);
  post(waiting, '/', Buffer.from('hello world'));
  waiting.write(encodeEmptyFrame(Frame.RECLAIM, waiting.id));
  assert.is((await waiting.next(Frame.UNRUN, 5000)).toString('latin1'), 'hello world');
  assert.is((await busy).status, 200);
});

/**
 * What a client gets for `pieces` written on one connection, `gapMs` apart (each its own read
 * of the front: the gap is far longer than a write takes to arrive), until the server closes.
 */
function exchange(h: LinkHarness, pieces: Array<string | Buffer>, gapMs = 150): Promise<string> {
  return withDeadline(
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(h.port, '127.0.0.1');
      let got = '';
      socket.on('data', (c) => (got += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(got));
      socket.on('connect', async () => {
        for (const [i, piece] of pieces.entries()) {
          if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
          socket.write(piece);
        }
      });
    }),
    15_000,
    'the answers',
  );
}

const postHead = (path: string, length: number, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${length}\r\nContent-Type: application/octet-stream\r\n${extra}\r\n`;

/** The bodies of the answers in `text`, in order (each framed by its Content-Length or chunked by the front). */
function bodies(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const head = text.slice(at, end);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    at = end + 4;
    if (length !== null) {
      out.push(text.slice(at, at + Number(length[1])));
      at += Number(length[1]);
      continue;
    }
    let body = '';
    for (;;) {
      const lineEnd = text.indexOf('\r\n', at);
      const size = parseInt(text.slice(at, lineEnd), 16);
      at = lineEnd + 2;
      if (size === 0) {
        at += 2;
        break;
      }
      body += text.slice(at, at + size);
      at += size + 2;
    }
    out.push(body);
  }
  return out;
}

/** The frames the worker read, from its counters (APPPKG_SHIM_STATS) printed at its exit. */
async function framesRead(h: LinkHarness): Promise<number> {
  await h.stop();
  const line = h.output.find((l) => l.includes('stats {'));
  assert.ok(line !== undefined, `no stats line in the worker's output:\n${h.output.join('\n')}`);
  // NO_MORE, the stop's, is one more frame than the requests'.
  return (JSON.parse(line.slice(line.indexOf('{'))) as Record<string, number>).frames - 1;
}

// No PING while the test runs: the worker's frame count is the requests' own.
const COUNTING = { workers: 1, lean: true, heartbeatMs: 600_000, stats: true };

t('the lean lane: POSTs whose bodies came with their heads go as one frame each, pipelined ones too', async (ctx) => {
  const h = await startLinkHarness('pep3333', COUNTING);
  let stopped = false;
  ctx.stops.push(async () => {
    if (!stopped) await h.stop();
  });
  // Under 64 KiB: its echo is credited (RESPONSE_CREDIT, a frame to the worker) past that.
  const big = Buffer.alloc(48 * 1024, 'big body\n');
  const whole = Buffer.concat([Buffer.from(postHead('/echo', big.length), 'latin1'), big]);
  // Then two in one write, the second's head right after the first's body, and a GET after them.
  const pipelined = `${postHead('/echo', 5)}first${postHead('/echo', 6)}second${'GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'}`;
  const answers = bodies(await exchange(h, [whole, pipelined]));
  assert.equal(answers, [big.toString('latin1'), 'first', 'second', '']);
  stopped = true;
  // Four requests: three REQUEST_FULL and a REQUEST. As REQUEST, REQUEST_BODY and REQUEST_END
  // the three POSTs were nine frames.
  assert.is(await framesRead(h), 4);
});

t('the lean lane: a body that comes after its head, or chunked, goes in pieces; its request is answered alike', async (ctx) => {
  const h = await startLinkHarness('pep3333', COUNTING);
  let stopped = false;
  ctx.stops.push(async () => {
    if (!stopped) await h.stop();
  });
  const answers = bodies(
    await exchange(h, [
      postHead('/echo', 11),
      'hello world',
      // Half of it with the head: not whole at dispatch.
      `${postHead('/echo', 10)}12345`,
      '67890',
      `POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nchunk\r\n3\r\ned!\r\n0\r\n\r\n`,
    ]),
  );
  assert.equal(answers, ['hello world', '1234567890', 'chunked!']);
  stopped = true;
  // REQUEST, REQUEST_BODY, REQUEST_END each: the first two in one piece (the rest of the second
  // came in one read), the chunked one in two pieces at least.
  const frames = await framesRead(h);
  assert.ok(frames >= 3 + 3 + 4, `frames read: ${frames}`);
});

t('the lean lane: a POST not sent to a worker (a path above the root: the 400 is the front\'s) has its body read and dropped, and the next request is read after it', async (ctx) => {
  const h = await startLinkHarness('pep3333', { workers: 1, lean: true });
  ctx.stops.push(() => h.stop());
  const answered = await exchange(h, [`${postHead('/a/../../x', 9)}not read!${postHead('/echo', 5, 'Connection: close\r\n')}after`]);
  assert.match(answered, /^HTTP\/1\.1 400 /);
  assert.equal(bodies(answered).slice(1), ['after']);
});

t.run();
