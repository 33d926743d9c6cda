// The lean lane (src/proxy/lean-lane.ts) answers plain requests without node:http: GET and HEAD,
// and bodies framed by Content-Length or chunked. What a client sees must not change: the same bytes as
// node:http writes for every framing (a second gateway with APPPKG_LEAN_LANE=0 is the
// reference), pipelined answers in request order across the hand-off to node:http, heads it
// does not take served by node:http, bodies however they arrive and whether or not the app
// reads them, a slow app holding the client back rather than the gateway buffering, idle
// connections closed, and a stop that waits for nothing but the answers under way.
import { createHash, randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { portOf, withoutDates } from '../helpers/both-readers.js';
import { once } from 'node:events';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { kernelQueues, writeAsReads } from '../helpers/forced-reads.js';
import { CHUNK_WHITESPACE } from '../../src/net/chunked-body.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';
import { readFileSync } from 'node:fs';
import { acceptedByItself, assertNoOrphans, rawRequest, recorded, spacedOut, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane');
const apps = tempDir('apppkg-lean-apps-');
const leanState = tempDir('apppkg-lean-state-');
const nodeState = tempDir('apppkg-lean-node-state-');
let lean: RunningGateway;
let reference: RunningGateway;

/** Both gateways' --header-timeout. */
const HEADER_TIMEOUT_MS = 1000;

function start(state: string, env: NodeJS.ProcessEnv): Promise<RunningGateway> {
  const envFile = join(state, 'environment.yaml');
  // `tiny` is full after two requests: one running, one waiting (queue: 1); it takes bodies up to 1 MiB.
  writeFileSync(
    envFile,
    'apps:\n  lean:\n    mount: /\n    workers: 1\n    threads: 4\n    max_body: 128MB\n  tiny:\n    mount: /tiny\n    workers: 1\n    threads: 1\n    queue: 1\n    max_body: 1MB\n',
  );
  return startCli(
    ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off', '--header-timeout', String(HEADER_TIMEOUT_MS / 1000)],
    { env },
  );
}

/** Past the static cache's per-file limit (256 KiB): streamed from the disk. */
const BIG_STATIC = Buffer.alloc(300 * 1024, 'abcdefgh');

test.before(async () => {
  const leanDir = addPackage(apps.path, 'lean-lane', 'lean');
  writeFileSync(join(leanDir, 'static', 'big.bin'), BIG_STATIC);
  addPackage(apps.path, 'lean-lane', 'tiny');
  // Set either way: a lane left off by the environment would make the comparisons below vacuous.
  [lean, reference] = await Promise.all([start(leanState.path, { APPPKG_LEAN_LANE: '1' }), start(nodeState.path, { APPPKG_LEAN_LANE: '0' })]);
});

test.after(async () => {
  await stopGatewayChecked(reference, nodeState);
  await stopGatewayChecked(lean, leanState, apps);
});

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\n${extra}\r\n`;
/** The app answers with Connection: close: the server closes, and rawRequest returns. */
const CLOSE = get('/close');

/**
 * What `gw` answers `pieces` on one connection, each read on its own (forced-reads.ts), then the
 * FIN with `fin`, until it closes. The first `headPieces` are the first request's head, which
 * the gateway times from its accept: a loaded machine can stall this client or the gateway past
 * --header-timeout before the gateway has read them (H188 saw it once), and its 408 (or, before
 * any byte came, its close) is then the right answer. Such a run (the head read --header-timeout or more after the connect began,
 * which holds the gateway's clock) is sent again; a 408 to a head read in time is returned.
 */
async function answerAsReads(gw: RunningGateway, pieces: Array<string | Buffer>, { headPieces = 1, fin = false } = {}): Promise<string> {
  const bytes = pieces.map((piece) => (typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece));
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await once(socket, 'connect');
      await writeAsReads(socket, bytes.slice(0, headPieces));
      const late = performance.now() - started >= HEADER_TIMEOUT_MS;
      await writeAsReads(socket, bytes.slice(headPieces));
      if (fin) socket.end();
      await waitFor(() => seen.closed, 10_000, `the close after ${JSON.stringify(pieces)}`);
      // Timed out, a head begun is answered 408, and a connection that sent nothing closed without a word.
      if (!(late && (seen.got === '' || seen.got.startsWith('HTTP/1.1 408 '))) || attempt === 5) return seen.got;
    } finally {
      socket.destroy();
    }
  }
}

async function both(data: string | Buffer): Promise<{ lean: string; node: string }> {
  const [a, b] = await Promise.all([rawRequest(portOf(lean), data, 10_000), rawRequest(portOf(reference), data, 10_000)]);
  return { lean: withoutDates(a), node: withoutDates(b) };
}

test('every framing, pipelined on one connection, in the same bytes as node:http writes', async () => {
  const batch =
    get('/?q=1') +
    `HEAD /nolen HTTP/1.1\r\nHost: lean.test\r\n\r\n` +
    get('/nolen') +
    get('/stream?n=3') +
    get('/nocontent') +
    get('/notmodified') +
    `HEAD / HTTP/1.1\r\nHost: lean.test\r\n\r\n` +
    get('/fields') +
    get('/raise') +
    get('/%7Euser?x=%20') +
    CLOSE;
  const { lean: a, node: b } = await both(batch);
  assert.ok(a.includes('Transfer-Encoding: chunked\r\n\r\n8\r\npiece 0\n\r\n8\r\npiece 1\n\r\n8\r\npiece 2\n\r\n0\r\n\r\n'), a);
  assert.ok(a.includes('HTTP/1.1 299 Odd Reason\r\n'), a);
  assert.ok(a.includes('Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n'), a);
  assert.ok(a.includes('X-Latin: caf\xe9\r\n'), a);
  assert.ok(a.includes('HTTP/1.1 500 '), a);
  assert.ok(a.endsWith('Connection: close\r\nContent-Length: 6\r\nDate: -\r\n\r\nclosed'), a);
  assert.is(a.match(/HTTP\/1\.1 /g)?.length, 11);
  assert.is(a, b);
});

test('the client says close: its request is answered with Connection: close, and what it sent after is not read (node:http too)', async () => {
  const { lean: a, node: b } = await both(get('/?first', 'Connection: close\r\n') + get('/?ignored'));
  for (const raw of [a, b]) {
    assert.ok(raw.startsWith('HTTP/1.1 200 OK\r\n'), raw);
    assert.ok(raw.includes('Connection: close\r\n'), raw);
    assert.ok(raw.endsWith('GET /?first host=lean.test ua=lean-test'), raw);
  }
});

test('answers with the same fields one after another, then one that closes, then keep-alive again: each head as node:http writes it (the lane reuses a head while nothing in it changed)', async () => {
  // Bodies of one length: the app's heads are the same, so are their fields.
  const first = await both(get('/?a1') + get('/?a2') + get('/?a3', 'Connection: close\r\n'));
  const again = await both(get('/?a4') + CLOSE);
  for (const { lean: a, node: b } of [first, again]) assert.is(a, b);
  assert.is(first.lean.match(/Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n/g)?.length, 2, first.lean);
  assert.ok(first.lean.endsWith('Connection: close\r\n\r\nGET /?a3 host=lean.test ua=lean-test'), first.lean);
  assert.ok(again.lean.startsWith('HTTP/1.1 200 OK\r\n') && again.lean.includes('Connection: keep-alive\r\n'), again.lean);
});

test('the app\'s own Connection is not sent as it wrote it (RFC 9110 §7.6.1): the gateway states its connection, drops the fields it names, and closes only on its close (node:http too)', async () => {
  const conn = (v: string, version = '1.1') => `GET /connection?v=${encodeURIComponent(v)} HTTP/${version}\r\nHost: lean.test\r\n\r\n`;
  // Keep-alive to an HTTP/1.0 client that did not ask for it: the lane closed the connection it
  // said it kept, node:http kept it.
  const old = await both(conn('keep-alive', '1.0'));
  assert.is(old.lean, old.node);
  assert.ok(old.lean.includes('\r\nConnection: close\r\n'), old.lean);
  assert.not.ok(/keep-alive/i.test(old.lean), old.lean);
  // A field the app named in Connection is about its own hop, and the connection goes on.
  const named = await both(conn('X-Internal') + conn('keep-alive, X-Internal') + CLOSE);
  assert.is(named.lean, named.node);
  assert.is(named.lean.match(/HTTP\/1\.1 200 OK\r\n/g)?.length, 3, named.lean);
  assert.not.ok(/X-Internal/i.test(named.lean), named.lean);
  assert.is(named.lean.match(/Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n/g)?.length, 2, named.lean);
  // Its close is kept, where it wrote it, and the connection closes.
  const closed = await both(conn('close, X-Internal') + get('/?never'));
  assert.is(closed.lean, closed.node);
  assert.ok(closed.lean.includes('Content-Type: text/plain\r\nConnection: close\r\nContent-Length: 4\r\n'), closed.lean);
  assert.not.ok(/X-Internal|never/.test(closed.lean), closed.lean);
});

test('pipelined answers keep request order across a slow request, a static file, a head that is not plain and a POST (node:http takes over mid-connection)', async () => {
  const post = 'POST /echo HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 5\r\n\r\nhello';
  const notPlain = get('/?twice', 'Accept: a\r\nAccept: b\r\n');
  const batch = get('/sleep?t=0.3') + get('/?before') + get('/static/file.txt') + notPlain + post + get('/?after') + CLOSE;
  const { lean: a, node: b } = await both(batch);
  const bodies = a.split(/\r\n\r\n/).slice(1).map((part) => part.split('HTTP/1.1 ')[0]);
  assert.equal(bodies, ['slept', 'GET /?before host=lean.test ua=lean-test', 'a static file\n', 'GET /?twice host=lean.test ua=lean-test', 'POST /echo? host=lean.test ua=None body=hello', 'GET /?after host=lean.test ua=lean-test', 'closed']);
  assert.is(a, b);
});

test('static files on the lane, pipelined with app requests: the same bytes as node:http (200, HEAD, 304, 206, 416, 405, 404, a streamed file)', async () => {
  const batch =
    get('/static/file.txt') +
    'HEAD /static/file.txt HTTP/1.1\r\nHost: lean.test\r\n\r\n' +
    get('/static/file.txt', 'If-None-Match: *\r\n') +
    get('/static/file.txt', 'Range: bytes=2-5\r\n') +
    get('/static/file.txt', 'Range: bytes=99-\r\n') +
    'POST /static/file.txt HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 2\r\n\r\nhi' +
    get('/static/big.bin') +
    get('/?between') +
    get('/static/big.bin', 'Range: bytes=-3\r\n') +
    get('/static/missing.txt') +
    CLOSE;
  const { lean: a, node: b } = await both(batch);
  const statuses = [...a.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  assert.equal(statuses, [200, 200, 304, 206, 416, 405, 200, 200, 206, 404, 200]);
  assert.ok(a.includes(`Content-Length: ${BIG_STATIC.length}\r\n`), 'the streamed file\'s length');
  assert.ok(a.includes(BIG_STATIC.toString('latin1')), 'the streamed file whole');
  assert.ok(a.includes('GET /?between host=lean.test'), a.slice(0, 2000));
  assert.is(a, b);
});

test('100 requests in one write: 100 answers, in order (each read in its turn, never more than 32 answers unflushed)', async () => {
  let batch = '';
  for (let i = 0; i < 100; i++) batch += get(`/?i=${i}`);
  const raw = await rawRequest(portOf(lean), batch + CLOSE, 20_000);
  const order = [...raw.matchAll(/GET \/\?i=(\d+) /g)].map((m) => Number(m[1]));
  assert.equal(order, Array.from({ length: 100 }, (_, i) => i));
});

/** The front's resident memory, in bytes (the launcher execs node: its pid is the front's). */
const frontRss = (gw: RunningGateway): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gw.child.pid!}/status`, 'utf8'))![1]) * 1024;

/** How many /large requests the app has run. */
const reachedApp = async (): Promise<number> => Number(/\r\n\r\n(\d+)$/.exec(await rawRequest(portOf(lean), get('/reached', 'Connection: close\r\n')))![1]);

/**
 * A client pipelines `count` GETs for answers of `size` bytes and reads nothing until the app has
 * run no more of them for a second: how many it ran, how many answers (whole or begun) were out
 * of the front's hands then (the server's send queue, the client's receive queue, what its Node
 * read ahead), and how much the front's RSS grew. Then the client reads: every answer must come
 * whole, in order, each request run once.
 */
async function pipelinedUnread(size: number, count: number): Promise<{ reached: number; inKernel: number; grewMiB: number }> {
  let batch = '';
  for (let i = 0; i < count; i++) batch += get(`/large?n=${size}&i=${i}`);
  const first = await reachedApp();
  const rssBefore = frontRss(lean);
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.pause(); // what Node reads ahead for a paused socket is one highWaterMark (<= 64 KiB)
  const chunks: Buffer[] = [];
  const closed = once(socket, 'close');
  socket.on('error', () => {});
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, frontRss(lean))), 20);
  let reached = 0;
  let outOfFront = 0;
  try {
    await once(socket, 'connect');
    socket.write(batch + CLOSE);
    let steadySince = performance.now();
    await waitFor(async () => {
      const now = (await reachedApp()) - first;
      if (now !== reached) [reached, steadySince] = [now, performance.now()];
      return performance.now() - steadySince > 1000;
    }, 30_000, 'the app to run no more of the pipelined requests');
    const queues = kernelQueues(socket)!;
    outOfFront = queues.serverUnsent + queues.clientUnread + socket.readableLength;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('no close 30 s after the client began to read')), 30_000).unref())]);
  } finally {
    clearInterval(sampler);
    socket.destroy();
  }
  const all = Buffer.concat(chunks);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const headEnd = all.indexOf('\r\n\r\n', at);
    assert.ok(headEnd !== -1, `answer ${i} is missing`);
    const head = all.toString('latin1', at, headEnd);
    assert.ok(head.startsWith('HTTP/1.1 200 OK\r\n') && head.includes(`Content-Length: ${size}\r\n`), `answer ${i}: ${head}`);
    assert.is(all.toString('latin1', headEnd + 4, headEnd + 4 + `${i} x`.length), `${i} x`, `answer ${i}'s body`);
    at = headEnd + 4 + size;
  }
  assert.ok(all.toString('latin1', at).endsWith('\r\n\r\nclosed'), all.toString('latin1', at, at + 300));
  assert.is((await reachedApp()) - first, count, 'each request ran once');
  const inKernel = Math.ceil(outOfFront / (all.indexOf('\r\n\r\n') + 4 + size));
  return { reached, inKernel, grewMiB: (peak - rssBefore) / 2 ** 20 };
}

test('a client that pipelines and does not read: its requests wait unread (the app never sees them) while 32 answers or 1 MiB written are not in the kernel\'s hands, none is lost once it reads, and the front\'s memory stays bounded', async () => {
  // 16 KiB answers: 32 of them are under 1 MiB.
  const small = await pipelinedUnread(16 * 1024, 400);
  assert.ok(small.reached < 400, `the app ran ${small.reached} of 400 requests from a client that reads nothing`);
  assert.ok(small.reached <= small.inKernel + 32 + 1, `the app ran ${small.reached}: ${small.inKernel} answers in the kernel, ${small.reached - small.inKernel} in the front`);
  // 4 MiB answers: one at a time past the kernel's.
  const large = await pipelinedUnread(4 << 20, 30);
  assert.ok(large.reached <= large.inKernel + 2, `the app ran ${large.reached}: ${large.inKernel} answers in the kernel, ${large.reached - large.inKernel} in the front`);
  assert.ok(large.grewMiB < 48, `the front grew by ${large.grewMiB.toFixed(1)} MiB holding ${large.reached - large.inKernel} answers of 4 MiB`);
});

test('a head that arrives in pieces, and heads that are not plain, are answered by node:http', async () => {
  const got = await answerAsReads(lean, ['GET /?split HTTP/1.1\r\nHo', `st: lean.test\r\n\r\n${CLOSE}`], { headPieces: 2 });
  assert.ok(got.endsWith('closed'), got);
  assert.ok(got.includes('GET /?split host=lean.test'), got);

  // HTTP/1.0 with a repeated field, a repeated field, two Hosts: node:http reads them; obs-text in a value is plain
  // (the lane's, net/plain-head.ts). The same answers.
  for (const head of [
    'GET /?old HTTP/1.0\r\nHost: lean.test\r\nAccept: a\r\nAccept: b\r\n\r\n',
    'GET /?twice HTTP/1.1\r\nHost: lean.test\r\nAccept: a\r\nAccept: b\r\n\r\n',
    'GET /?latin HTTP/1.1\r\nHost: lean.test\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  ]) {
    const { lean: a, node: b } = await both(Buffer.from(head, 'latin1'));
    assert.ok(/^HTTP\/1\.[01] (200|400) /.test(a), a);
    assert.is(a, b);
  }
});

/** `bytes` cut every `size` octets. */
const cut = (bytes: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size));

test('a request line that arrives in pieces (a long URL over a network, a slow client): octets >= 0x80 in its target reach the app as latin-1 (SPEC 5.8), not a 400', async () => {
  const long = `/${'a'.repeat(3000)}\xe9`;
  const request = Buffer.from(get(long, 'Connection: close\r\n'), 'latin1');
  const pieces = cut(request, 1448);
  const raw = await answerAsReads(lean, pieces, { headPieces: pieces.length });
  assert.ok(raw.startsWith('HTTP/1.1 200 OK'), raw.slice(0, 200));
  assert.ok(raw.endsWith(`GET ${long}? host=lean.test ua=lean-test`), raw.slice(-100));
  // Cut in the middle of the target, before the octet; and on a connection's second request.
  const [line, rest] = [Buffer.from('GET /AAA', 'latin1'), Buffer.from(get('/B\xe9BB', 'Connection: close\r\n').slice('GET /'.length), 'latin1')];
  const small = await answerAsReads(lean, [line, rest], { headPieces: 2 });
  assert.ok(small.startsWith('HTTP/1.1 200 OK') && small.endsWith('GET /AAAB\xe9BB? host=lean.test ua=lean-test'), small);
  const second = await answerAsReads(lean, [Buffer.from(get('/?first')), line, rest], { headPieces: 3 });
  const answers = second.split(/(?=HTTP\/1\.1 )/);
  assert.is(answers.length, 2, second);
  assert.ok(answers[0].endsWith('GET /?first host=lean.test ua=lean-test'), answers[0]);
  assert.ok(answers[1].startsWith('HTTP/1.1 200 OK') && answers[1].endsWith('GET /AAAB\xe9BB? host=lean.test ua=lean-test'), answers[1]);
});

test('a request line begun and never finished: 408 after --header-timeout, as node:http answers a head that times out; one cut by a FIN: 400', async () => {
  const opened = Date.now();
  const raw = await spacedOut(portOf(lean), [Buffer.from('GET /slow')], 0);
  const waited = Date.now() - opened;
  assert.ok(raw.startsWith('HTTP/1.1 408 Request Timeout\r\n'), raw);
  assert.ok(waited >= 900 && waited < 4000, `answered after ${waited} ms`);
  // After an answer, the head's own clock runs from its first byte (not the keep-alive one).
  const after = await spacedOut(portOf(lean), [Buffer.from(get('/?first')), Buffer.from('GET /slow')], 0);
  assert.match(after, /^HTTP\/1\.1 200 OK[\s\S]*GET \/\?first host=lean\.test ua=lean-test(HTTP\/1\.1 408 Request Timeout\r\n)/);
  const finned = await answerAsReads(lean, ['GET /cut'], { fin: true });
  assert.ok(finned.startsWith('HTTP/1.1 400 Bad Request\r\n'), finned);
});

/** The state letter of process `pid` (proc(5): R running, S sleeping, T stopped...). */
const processState = (pid: number): string => /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))![1];

/**
 * What `gw` answers each of `sends` on a connection of its own: `before` (read by the gateway),
 * then `during` while the gateway's process is stopped (SIGSTOP) for longer than
 * --header-timeout, as a long GC or a busy turn stalls its loop: each head is in the kernel in
 * time, unread. One stall for all of them. A run in which a client came to `during` late
 * (--header-timeout after the connects began: the gateway's clock had run out before the stall)
 * is sent again.
 */
async function answersAcrossStall(gw: RunningGateway, sends: Array<[before: string, during: string]>): Promise<string[]> {
  const front = gw.child.pid!; // the launcher execs node
  const ATTEMPTS = 5;
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    const sockets = sends.map(() => net.connect(portOf(gw), '127.0.0.1'));
    const seen = sockets.map(recorded);
    try {
      await Promise.all(sockets.map((socket) => once(socket, 'connect')));
      // Read now: a socket the gateway closes (its --header-timeout ran out on a loaded host) has none.
      const ports = sockets.map((socket) => socket.localPort!);
      // Accepted before the stall: a connection still in the backlog has no clock yet. Asked of
      // the front's own descriptors for all of them at once: acceptedBy per socket (every
      // process of the host scanned per gateway process, four at once) took past 0.8 s under
      // load in run after run, and a fifth late run was judged as one in time.
      await waitFor(() => {
        const accepted = acceptedByItself(front, ports);
        return ports.every((port, i) => seen[i].closed || accepted.has(port));
      }, 10_000, 'the gateway to accept the connections', 5);
      await Promise.all(sockets.map(async (socket, i) => {
        if (sends[i][0] !== '' && !seen[i].closed) await writeAsReads(socket, [Buffer.from(sends[i][0], 'latin1')]);
      }));
      let late: boolean;
      process.kill(front, 'SIGSTOP');
      try {
        // The signal is sent, not yet taken: a loop still running would read the heads in time.
        await waitFor(() => processState(front) === 'T', 10_000, 'the gateway to stop');
        late = performance.now() - started >= HEADER_TIMEOUT_MS * 0.8 || seen.some((one) => one.closed);
        await Promise.all(sockets.map((socket, i) => new Promise<void>((resolve) => socket.write(sends[i][1], 'latin1', () => resolve()))));
        await new Promise((resolve) => setTimeout(resolve, HEADER_TIMEOUT_MS * 1.5));
      } finally {
        process.kill(front, 'SIGCONT');
      }
      await waitFor(() => seen.every((one) => one.closed), 10_000, 'the answers after the stall');
      if (!late) return seen.map((one) => one.got);
      // What a late run got (a 408, a close) is the right answer to it, not the product's fault.
      if (attempt === ATTEMPTS) throw new Error(`${ATTEMPTS} runs in a row were late: their connections were not accepted and their first bytes read within 0.8 s (--header-timeout ${HEADER_TIMEOUT_MS} ms) before the stall`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }
}

test('a head in the kernel in time is answered, not 408, when the gateway\'s loop stalled past --header-timeout before it read it (timers run before the poll)', async () => {
  const request = get('/?stalled', 'Connection: close\r\n');
  const served = 'GET /?stalled host=lean.test ua=lean-test';
  const split = 'GET /?stalled HTTP/1.1\r\nHo'.length;
  const twice = get('/?twice', 'Accept: a\r\nAccept: b\r\n');
  const [whole, line, handed, later] = await answersAcrossStall(lean, [
    // The lane's: whole and unread at the stall; a line it holds (its first bytes read before).
    ['', request],
    [request.slice(0, 'GET /?st'.length), request.slice('GET /?st'.length)],
    // node:http's: one the lane handed over in pieces (its clock and node:http's), and a later one
    // on a connection node:http reads (a field sent twice is not plain), begun behind an answer.
    [request.slice(0, split), request.slice(split)],
    [twice + request.slice(0, split), request.slice(split)],
  ]);
  for (const [what, got] of [['whole', whole], ['a line begun', line], ['handed over', handed]]) {
    assert.ok(got.startsWith('HTTP/1.1 200 OK\r\n') && got.endsWith(served), `${what}: ${got}`);
  }
  assert.match(later, /^HTTP\/1\.1 200 OK\r\n[\s\S]*GET \/\?twice host=lean\.test ua=lean-test(HTTP\/1\.1 200 OK\r\n)[\s\S]*GET \/\?stalled host=lean\.test ua=lean-test$/);
});

test('bytes kept for node:http while an earlier answer is under way are not overwritten by other clients\' reads (one read buffer serves every connection)', async () => {
  // The head with a field sent twice (not plain) waits, read but not parsed, until /sleep's answer is out: 300 ms in which
  // twenty other connections' longer requests are read into the front's shared read buffer.
  const held = get('/sleep?t=0.3') + 'GET /?who=held HTTP/1.0\r\nHost: lean.test\r\nUser-Agent: held-agent\r\nAccept: a\r\nAccept: b\r\n\r\n';
  const waiting = rawRequest(portOf(lean), held, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const others = await Promise.all(
    Array.from({ length: 20 }, (_, i) => rawRequest(portOf(lean), get(`/?other=${i}&pad=${'x'.repeat(400)}`, `X-Pad: ${'y'.repeat(400)}\r\n`) + CLOSE, 10_000)),
  );
  for (const [i, raw] of others.entries()) assert.ok(raw.includes(`GET /?other=${i}&pad=`), raw);
  const raw = await waiting;
  assert.ok(raw.includes('slept'), raw);
  assert.ok(raw.includes('GET /?who=held host=lean.test ua=held-agent'), raw);
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const post = (method: string, path: string, body: Buffer | string, extra = ''): Buffer =>
  Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\nContent-Length: ${body.length}\r\n${extra}\r\n`), Buffer.from(body)]);

/**
 * What `gw` answers `data` cut every `size` octets, a piece a turn (spacedOut). Pieces of an
 * octet or a few take a head's bytes over many turns of this process and the gateway's, past
 * --header-timeout (1 s) on a loaded machine, and its 408 is then the right answer. A run that
 * took that long in all (its answers included: the head's time is less) and was answered 408 is
 * sent again; a 408 to a run sent in time, or any other answer, is returned.
 */
async function inPieces(gw: RunningGateway, data: Buffer, size: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    const got = await spacedOut(portOf(gw), cut(data, size), 0, 10_000);
    const late = performance.now() - started >= HEADER_TIMEOUT_MS;
    if (!(late && got.includes('HTTP/1.1 408 Request Timeout\r\n')) || attempt === 5) return got;
  }
}

test('bodies of many clients at once, read one after another into the one shared read buffer: each reaches the app as sent, to an app that reads slowly (the link full) or at once', async () => {
  // 16 clients' 300 KB bodies land in the same 128 KiB buffer read after read, each piece copied
  // out before the next read; an app that reads slowly fills the link and holds the clients back.
  const bodies = Array.from({ length: 16 }, () => randomBytes(300_000));
  const answers = await Promise.all(
    bodies.map((body, i) => rawRequest(portOf(lean), post('POST', `/count?sleep=${i % 2 === 0 ? '0.002' : '0'}`, body, 'Connection: close\r\n'), 30_000)),
  );
  for (const [i, raw] of answers.entries()) assert.ok(raw.endsWith(`POST count=300000 sha256=${sha256(bodies[i])}`), `client ${i}: ${raw.slice(0, 300)}`);
});

test('bodies framed by Content-Length, pipelined, read or not by the app, whole or in pieces: the same bytes as node:http', async () => {
  const large = Buffer.alloc(300_000, 'abcdefghij');
  const batch = Buffer.concat([
    post('POST', '/echo', 'hello'),
    post('PUT', '/?unread', 'the app never reads this'), // dropped, and the next request is read after it
    post('PATCH', '/count', large),
    post('DELETE', '/?empty', ''),
    post('POST', '/count?in=pieces', large.subarray(0, 70_000)),
    post('GET', '/?with-a-body', 'x'.repeat(100_000)),
    Buffer.from(get('/?after')),
    Buffer.from(CLOSE),
  ]);
  const { lean: a, node: b } = await both(batch);
  const bodies = a.split(/\r\n\r\n/).slice(1).map((part) => part.split('HTTP/1.1 ')[0]);
  assert.equal(bodies, [
    'POST /echo? host=lean.test ua=lean-test body=hello',
    'PUT /?unread host=lean.test ua=lean-test',
    `PATCH count=300000 sha256=${sha256(large)}`,
    'DELETE /?empty host=lean.test ua=lean-test',
    `POST count=70000 sha256=${sha256(large.subarray(0, 70_000))}`,
    'GET /?with-a-body host=lean.test ua=lean-test',
    'GET /?after host=lean.test ua=lean-test',
    'closed',
  ]);
  assert.is(a, b);
  // As a slow client sends them: heads and bodies cut anywhere (the small ones byte by byte).
  const small = Buffer.concat([post('POST', '/echo', 'hello'), post('PUT', '/?unread', 'x'.repeat(300)), post('POST', '/count', 'y'.repeat(2000)), Buffer.from(CLOSE)]);
  for (const [data, size] of [[small, 1], [batch, 1000], [batch, 65_537]] as const) {
    const [viaLane, viaNode] = await Promise.all([inPieces(lean, data, size), inPieces(reference, data, size)]);
    assert.is(withoutDates(viaLane), withoutDates(viaNode), `in pieces of ${size}`);
    assert.is(viaLane.match(/HTTP\/1\.1 200 /g)?.length, data === batch ? 8 : 4, viaLane);
  }
});

/** `pieces` in the chunked coding, each chunk line with `ext` after its size, then `trailer`'s field lines. */
const chunked = (method: string, path: string, pieces: Array<Buffer | string>, trailer = '', ext = '', extra = ''): Buffer =>
  Buffer.concat([
    Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\nTransfer-Encoding: chunked\r\n${extra}\r\n`),
    ...pieces.flatMap((piece) => [Buffer.from(`${piece.length.toString(16)}${ext}\r\n`), Buffer.from(piece), Buffer.from('\r\n')]),
    Buffer.from(`0${ext}\r\n${trailer}\r\n`),
  ]);

test('chunked bodies, pipelined, read or not by the app, whole or in pieces: the lane decodes them, the same bytes as node:http', async () => {
  const large = Buffer.alloc(300_000, 'abcdefghij');
  const batch = Buffer.concat([
    chunked('POST', '/count', ['hel', 'lo']),
    chunked('PUT', '/?unread', ['the app never reads this', 'x'.repeat(70_000)]), // dropped, the next read after it
    chunked('PATCH', '/count', [large.subarray(0, 100_000), large.subarray(100_000)], 'X-Checksum: abc\r\nX-Other:\t2\r\n'),
    chunked('POST', '/count?ext', ['a', 'bc', 'def'], '', ';name=value;q="quoted; \\"string\\""'),
    chunked('DELETE', '/count?empty', []),
    chunked('POST', '/count?upper', ['x'.repeat(0xabc)]).toString('latin1').replace('abc\r\n', 'ABC\r\n'),
    Buffer.from(get('/?after')),
    Buffer.from(CLOSE),
  ].map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part)));
  const { lean: a, node: b } = await both(batch);
  const bodies = a.split(/\r\n\r\n/).slice(1).map((part) => part.split('HTTP/1.1 ')[0]);
  assert.equal(bodies, [
    `POST count=5 sha256=${sha256(Buffer.from('hello'))}`,
    'PUT /?unread host=lean.test ua=lean-test',
    `PATCH count=300000 sha256=${sha256(large)}`,
    `POST count=6 sha256=${sha256(Buffer.from('abcdef'))}`,
    `DELETE count=0 sha256=${sha256(Buffer.alloc(0))}`,
    `POST count=2748 sha256=${sha256(Buffer.from('x'.repeat(0xabc)))}`,
    'GET /?after host=lean.test ua=lean-test',
    'closed',
  ]);
  assert.is(a, b);
  // As a slow client sends them: sizes, extensions, CRLFs and trailers cut anywhere.
  const small = Buffer.concat([chunked('POST', '/count', ['hel', 'lo'], 'X-T: 1\r\n', ';e=1'), chunked('PUT', '/?unread', ['x'.repeat(300)]), Buffer.from(CLOSE)]);
  for (const [data, size] of [[small, 1], [batch, 1000], [batch, 65_537]] as const) {
    const [viaLane, viaNode] = await Promise.all([inPieces(lean, data, size), inPieces(reference, data, size)]);
    assert.is(withoutDates(viaLane), withoutDates(viaNode), `in pieces of ${size}`);
    assert.is(viaLane.match(/HTTP\/1\.1 200 /g)?.length, data === batch ? 8 : 3, viaLane);
  }
});

test('a trailer with fields no trailer may carry (Content-Length, Transfer-Encoding, Host) is dropped and the request served, by node:http too', async () => {
  const request = chunked('POST', '/count', ['abc'], 'Content-Length: 99\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n', '', 'Connection: close\r\n');
  const { lean: a, node: b } = await both(request);
  for (const answer of [a, b]) {
    assert.ok(answer.startsWith('HTTP/1.1 200 OK\r\n'), answer);
    assert.ok(answer.endsWith(`POST count=3 sha256=${sha256(Buffer.from('abc'))}`), answer);
  }
});

test('a broken chunked framing is a 400 saying why, and the connection closes (node:http too); an answer under way is cut, never completed', async () => {
  const head = 'POST /count HTTP/1.1\r\nHost: lean.test\r\nTransfer-Encoding: chunked\r\n\r\n';
  const broken: Array<[body: string, why: string]> = [
    ['zz\r\nabc\r\n0\r\n\r\n', 'a chunk size is not a hexadecimal number'],
    ['3 x\r\nabc\r\n0\r\n\r\n', 'a chunk size is not a hexadecimal number'], // a space, then no extension
    ['3\nabc\r\n0\r\n\r\n', 'a chunk-size line does not end in CRLF'], // a bare LF
    ['3\r\nabcd\r\n0\r\n\r\n', 'chunk data is longer than its size'],
    ['3\r\nabc\r\n0\r\nX-T: 1\n\r\n', 'a trailer field line does not end in CRLF'],
    ['3\r\nabc\r\n0\r\n folded\r\n\r\n', 'a trailer field line is malformed'], // obs-fold
    ['3;\x01\r\nabc\r\n0\r\n\r\n', 'a chunk extension has no name'], // a control character
    ['3;a="x\r\nabc\r\n0\r\n\r\n', 'a quoted chunk extension value is not closed on its line'],
    ['3;\r\nabc\r\n0\r\n\r\n', 'a chunk extension has no name'],
    ['3;;\r\nabc\r\n0\r\n\r\n', 'a chunk extension has no name'], // empty extensions
    ['3;a=,\r\nabc\r\n0\r\n\r\n', 'a chunk extension value is malformed'],
    ['3;a=b c\r\nabc\r\n0\r\n\r\n', CHUNK_WHITESPACE], // a space inside a token value
    ['3;a=b \r\nabc\r\n0\r\n\r\n', CHUNK_WHITESPACE], // BWS before the CRLF: none in RFC 9112's ABNF
  ];
  /** The 400 that says `why`, as the front's other refusals (a missing Host) say theirs, in their fields' order. */
  const refusal = (why: string): string => {
    const body = `400 Bad Request\n${why}\n`;
    return `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\nConnection: close\r\nDate: -\r\n\r\n${body}`;
  };
  for (const [body, why] of broken) {
    const { lean: a, node: b } = await both(`${head}${body}${get('/?never-read')}`);
    assert.is(a, refusal(why), JSON.stringify(body));
    // node:http's 400 for the same bytes: llhttp's reason in the lane's words, nothing after it answered.
    assert.is(b, a, JSON.stringify(body));
  }
  // A size past 2^52 (llhttp takes up to 2^64, then waits for the bytes), and a size line past
  // 4 KiB (leading zeros, which llhttp takes however many): refused at once, by both readers.
  for (const [line, why] of [['10000000000000', 'a chunk size is too large'], ['0'.repeat(5000) + '3', 'a chunk-size line is too long']]) {
    const huge = await both(`${head}${line}\r\nabc`);
    assert.is(huge.lean, refusal(why));
    assert.is(huge.node, huge.lean);
  }
  // A HEAD has no body in its answer (RFC 9110 §9.3.2), this one neither, from either reader:
  // the head a GET's refusal has, its Content-Length included.
  const headRequest = await both(`${head.replace('POST', 'HEAD')}zz\r\n`);
  const getRefusal = refusal('a chunk size is not a hexadecimal number');
  assert.is(headRequest.lean, getRefusal.slice(0, getRefusal.indexOf('\r\n\r\n') + 4));
  assert.is(headRequest.node, headRequest.lean);
  // The app answered (without reading) before the broken part came: its answer is whole, then the close.
  const socket = net.connect(portOf(lean), '127.0.0.1');
  const seen = recorded(socket);
  socket.write(`PUT /?unread HTTP/1.1\r\nHost: lean.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`);
  await waitFor(() => seen.got.endsWith('PUT /?unread host=lean.test ua=None'), 5000, 'the answer before the body is all in');
  socket.write('zz\r\n');
  await waitFor(() => seen.closed, 5000, 'the close after the broken chunk');
  assert.ok(seen.got.startsWith('HTTP/1.1 200 OK\r\n') && !seen.got.includes('400'), seen.got);
});

test('BWS in a chunk extension (RFC 9112 §7.1.1), as nginx and uvicorn (httptools) take it: the app gets the body from both readers, however the reads cut its size lines; whitespace where the ABNF has none, or a bad token after BWS, is refused by both in the same words', async () => {
  const head = 'POST /count HTTP/1.1\r\nHost: lean.test\r\nTransfer-Encoding: chunked\r\n\r\n';
  // Every chunk's line, the last one's with a trailer after it, and a request pipelined behind.
  const body = (line: string): string => `${head}3${line}\r\nabc\r\n2${line}\r\nde\r\n0${line}\r\nX-T: 1\r\n\r\n${get('/?behind')}${CLOSE}`;
  const served = `POST count=5 sha256=${sha256(Buffer.from('abcde'))}`;
  /** The answers' bodies, the app's or a 400's. */
  const answered = (raw: string): string[] => raw.split(/(?=HTTP\/1\.1 \d{3} )/).map((answer) => answer.slice(answer.indexOf('\r\n\r\n') + 4));
  const servedAll = [served, 'GET /?behind host=lean.test ua=lean-test', 'closed'];
  const refusal = (why: string): string[] => [`400 Bad Request\n${why}\n`];
  const bws = ['; a=1', ';a = 1', ';a= "x"', ';a =1', ';a= 1', ';\ta\t=\t"x y"', ' ; a = "x y" ;\tb=2', '; a; b = c', ';a= ;b'];
  const spellings: Array<[line: string, answers: string[]]> = [
    // Before the first `;`, after it, around `=`: BWS.
    ...[' ;a=1', '\t;a=1', '  ;a="x y"', ...bws].map((line): [string, string[]] => [line, servedAll]),
    // Where the ABNF has none: before the line's CRLF, inside a token value, between a name and a token.
    ...[' ', '\t', '  \t', ';a=1 ', '; a = 1\t', ';a=b c', '; a b', ';a = "x" y', '; =1'].map((line): [string, string[]] => [line, refusal(CHUNK_WHITESPACE)]),
    // A bad token or octet after BWS: what the lane says of it without the BWS.
    ['; a@=1', refusal('a chunk extension is malformed')],
    ['; a = b,', refusal('a chunk extension value is malformed')],
    [';a = "x\x01"', refusal('a quoted chunk extension value is not closed on its line')],
    [' ;\x01', refusal('a chunk extension has no name')],
    [' x', refusal('a chunk size is not a hexadecimal number')],
  ];
  for (const [line, answers] of spellings) {
    const { lean: a, node: b } = await both(body(line));
    assert.equal(answered(a), answers, JSON.stringify(line));
    assert.is(b, a, JSON.stringify(line));
  }
  // Each read a piece of the bytes as a slow client sends them: a size line cut at each of its
  // octets (its CR and LF in reads of their own), or every byte of the body a read of its own.
  const asReads = async (gw: RunningGateway, pieces: string[]): Promise<string> => withoutDates(await answerAsReads(gw, pieces));
  for (const [line, answers] of [...spellings.filter(([l]) => ['; a=1', ';a = 1', ';a= "x"', ' ; a = "x y" ;\tb=2'].includes(l)), [';a = 1 ', refusal(CHUNK_WHITESPACE)] as [string, string[]]]) {
    const bytes = body(line);
    const first = head.length + 1;
    const last = bytes.indexOf(`0${line}\r\n`) + 1;
    const cuts = [...Array.from({ length: line.length + 2 }, (_, i) => first + i), ...Array.from({ length: line.length + 2 }, (_, i) => last + i)];
    for (const at of cuts) {
      const pieces = [bytes.slice(0, at), bytes.slice(at)];
      const [viaLane, viaNode] = await Promise.all([asReads(lean, pieces), asReads(reference, pieces)]);
      assert.equal(answered(viaLane), answers, `${JSON.stringify(line)} cut at ${at}`);
      assert.is(viaNode, viaLane, `${JSON.stringify(line)} cut at ${at}`);
    }
  }
  for (const line of [';a = 1', ';a = 1 ']) {
    // Each head in one read: --header-timeout (1 s) would close a connection sending it a byte at a time.
    const bytes = body(line);
    const behind = bytes.indexOf(get('/?behind'));
    const pieces = [head, ...bytes.slice(head.length, behind), bytes.slice(behind)];
    const [viaLane, viaNode] = await Promise.all([asReads(lean, pieces), asReads(reference, pieces)]);
    assert.equal(answered(viaLane), line.endsWith(' ') ? refusal(CHUNK_WHITESPACE) : servedAll, `${JSON.stringify(line)} a byte a read`);
    assert.is(viaNode, viaLane, `${JSON.stringify(line)} a byte a read`);
  }
  // On a connection the lane handed to node:http (a field sent twice is not plain).
  const twice = get('/?twice', 'Accept: a\r\nAccept: b\r\n');
  for (const line of [' ;a=1', ...bws]) {
    const handed = await rawRequest(portOf(lean), `${twice}${body(line)}`, 10_000);
    assert.equal(answered(withoutDates(handed)), ['GET /?twice host=lean.test ua=lean-test', ...servedAll], JSON.stringify(line));
  }
  for (const line of ['; a=1 ', ' ', ';a = b c']) {
    const refused = await rawRequest(portOf(lean), `${twice}${body(line)}`, 10_000);
    assert.equal(answered(withoutDates(refused)), ['GET /?twice host=lean.test ua=lean-test', ...refusal(CHUNK_WHITESPACE)], JSON.stringify(line));
  }
  // Sent after the first answer, on the connection node:http now reads.
  for (const [line, answers] of [[';a = 1', servedAll], [' ', refusal(CHUNK_WHITESPACE)]] as const) {
    const socket = net.connect(portOf(lean), '127.0.0.1');
    const seen = recorded(socket);
    socket.write(twice);
    await waitFor(() => seen.got.includes('HTTP/1.1 200 ') && seen.got.includes('GET /?twice '), 5000, 'the first answer');
    socket.write(body(line));
    await waitFor(() => seen.closed, 5000, 'the close after the last answer');
    assert.equal(answered(withoutDates(seen.got)), ['GET /?twice host=lean.test ua=lean-test', ...answers], JSON.stringify(line));
  }
});

test('a large body an app reads slowly holds the client back: the front does not buffer it', async () => {
  const front = lean.child.pid!; // the launcher execs node
  assert.is(readFileSync(`/proc/${front}/comm`, 'utf8').trim(), 'node');
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${front}/status`, 'utf8'))![1]) * 1024;
  const body = Buffer.alloc(64 << 20, 'slow body ');
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
  try {
    const raw = await rawRequest(portOf(lean), Buffer.concat([post('POST', '/count?sleep=0.002', body, 'Connection: close\r\n')]), 60_000);
    assert.ok(raw.endsWith(`POST count=${body.length} sha256=${sha256(body)}`), raw.slice(0, 300));
  } finally {
    clearInterval(sampler);
  }
  assert.ok(peak - before < 32 << 20, `the front grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB for a 64 MiB body`);
});

test('a body over max_body is refused with 413 before the app sees it, and the connection closes (node:http too)', async () => {
  const head = `POST /count HTTP/1.1\r\nHost: lean.test\r\nContent-Length: ${200 << 20}\r\n\r\n${'x'.repeat(1000)}`;
  const { lean: a, node: b } = await both(head);
  // One name on the status line and in the body, whichever reader had the request (RFC 9110 §15.5.14).
  assert.ok(a.startsWith('HTTP/1.1 413 Content Too Large\r\n'), a);
  assert.ok(a.includes('\r\n\r\n413 Content Too Large\n'), a);
  assert.ok(a.includes('Connection: close\r\n'), a);
  assert.is(a, b);
});

test('a chunked body that grows past max_body: 413 if no answer began, the connection closed (node:http too)', async () => {
  const pieces = Array.from({ length: 20 }, () => Buffer.alloc(100_000, 'c'));
  const { lean: a, node: b } = await both(chunked('POST', '/tiny/count', pieces));
  // One name on the status line and in the body, whichever reader had the request (RFC 9110 §15.5.14).
  assert.ok(a.startsWith('HTTP/1.1 413 Content Too Large\r\n'), a);
  assert.ok(a.includes('\r\n\r\n413 Content Too Large\n'), a);
  assert.ok(a.includes('Connection: close\r\n'), a);
  assert.is(a, b);
});

test('a client that leaves or half-closes in the middle of a body: its connection closes (a half-closed one after a 400 saying why), the app\'s read ends, the next client is served', async () => {
  const pids = statusPids(await gatewayStatus(lean));
  for (const leave of ['destroy', 'end'] as const) {
    const socket = net.connect(portOf(lean), '127.0.0.1');
    const seen = recorded(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(post('POST', '/count', 'x'.repeat(1000)).subarray(0, 500));
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (leave === 'destroy') socket.destroy();
    else socket.end();
    await waitFor(() => seen.closed, 3000, `the connection closed after the client's ${leave}`);
    if (leave === 'end') assert.match(seen.got, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*the connection ended before the whole request came\n$/);
  }
  // Every thread free again: four slow reads at once still fit the app's 4 threads.
  const answers = await Promise.all([1, 2, 3, 4].map((i) => rawRequest(portOf(lean), post('POST', `/count?n=${i}`, 'abc', 'Connection: close\r\n'), 10_000)));
  for (const raw of answers) assert.ok(raw.endsWith('POST count=3 sha256=' + sha256(Buffer.from('abc'))), raw);
  assert.equal(statusPids(await gatewayStatus(lean)), pids);
});

test('a body that arrives while its request waits for a thread is held, then read whole', async () => {
  // 4 threads and 16 more requests may wait in the worker: the 21st waits in the gateway.
  const sleepers = Array.from({ length: 24 }, () => rawRequest(portOf(lean), get('/sleep?t=1', 'Connection: close\r\n'), 20_000));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const body = Buffer.alloc(2 << 20, 'queued ');
  const raw = await rawRequest(portOf(lean), post('POST', '/count', body, 'Connection: close\r\n'), 20_000);
  assert.ok(raw.endsWith(`POST count=${body.length} sha256=${sha256(body)}`), raw.slice(0, 300));
  for (const slept of await Promise.all(sleepers)) assert.ok(slept.endsWith('slept'), slept);
});

test('a request the gateway refuses before its body is read (503, app busy): the body is dropped and the next request read (node:http too)', async () => {
  for (const gw of [lean, reference]) {
    const sleepers = [1, 2].map(() => rawRequest(portOf(gw), get('/tiny/sleep?t=1', 'Connection: close\r\n'), 10_000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Larger than one read: what is left of the body comes after the answer.
    const raw = await rawRequest(portOf(gw), Buffer.concat([post('POST', '/tiny/count', Buffer.alloc(300_000, 'z')), Buffer.from(get('/?after', 'Connection: close\r\n'))]), 10_000);
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    assert.is(answers.length, 2, raw);
    assert.ok(answers[0].startsWith('HTTP/1.1 503 '), answers[0]);
    assert.ok(answers[1].startsWith('HTTP/1.1 200 ') && answers[1].endsWith('GET /?after host=lean.test ua=lean-test'), answers[1]);
    for (const slept of await Promise.all(sleepers)) assert.ok(slept.endsWith('slept'), slept);
  }
});

/** Writes `data`, half-closes, and gathers everything until the server closes. */
async function halfClosed(port: number, data: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1', () => socket.end(data, 'latin1'));
  const seen = recorded(socket);
  await waitFor(() => seen.closed, 5000, 'the half-closed connection closed');
  return seen.got;
}

test('a client that half-closes gets every answer, through node:http and across the hand-off', async () => {
  // A POST framed by Content-Length is the lane's; the same POST with a field sent twice is
  // node:http's (net/plain-head.ts), and after the GET it is handed off while the GET's answer
  // is under way, and the client's FIN has come by then.
  const post = 'POST /p HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\nContent-Length: 3\r\n\r\nabc';
  const nodePost = 'POST /p HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\nAccept: a\r\nAccept: b\r\nContent-Length: 3\r\n\r\nabc';
  const http10 = 'GET /old HTTP/1.0\r\nUser-Agent: lean-test\r\n\r\n';
  // A field sent twice: node:http reads it on the lean gateway too.
  const notPlain = 'GET /old HTTP/1.0\r\nUser-Agent: lean-test\r\nAccept: a\r\nAccept: b\r\n\r\n';
  for (const gw of [lean, reference]) {
    for (const [data, bodies] of [
      [post, ['POST /p? host=lean.test ua=lean-test body=abc']],
      [nodePost, ['POST /p? host=lean.test ua=lean-test body=abc']],
      [http10, ['GET /old? host=None ua=lean-test']],
      [notPlain, ['GET /old? host=None ua=lean-test']],
      [get('/sleep?t=0.2') + post + get('/after'), ['slept', 'POST /p? host=lean.test ua=lean-test body=abc', 'GET /after? host=lean.test ua=lean-test']],
      [get('/sleep?t=0.2') + nodePost + get('/after'), ['slept', 'POST /p? host=lean.test ua=lean-test body=abc', 'GET /after? host=lean.test ua=lean-test']],
    ] as const) {
      const raw = await halfClosed(portOf(gw), data);
      const answers = raw.split(/(?=HTTP\/1\.1 )/);
      assert.is(answers.length, bodies.length, raw);
      answers.forEach((answer, i) => assert.ok(answer.startsWith('HTTP/1.1 200 OK\r\n') && answer.endsWith(`\r\n\r\n${bodies[i]}`), answer));
    }
  }
});

test('a HEAD node:http refuses behind an answer under way, then more bytes: one 400, a HEAD\'s (no body), after the answer (lean-differential seed 32)', async () => {
  // llhttp gives its error again at every later read, without the read it failed in; a second
  // refusal, queued before the first, went out first with no request line, and a body.
  for (const gw of [lean, reference]) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    await once(socket, 'connect');
    const pieces = [`${get('/sleep?t=0.5')}HEAD /?h HTTP/1.1\t\r\nHost: lean.test\r\n`, 'X-More: 1\r\n\r\n'];
    await writeAsReads(socket, pieces.map((piece) => Buffer.from(piece, 'latin1')));
    socket.end();
    await waitFor(() => seen.closed, 5000, 'the close after the 400');
    const raw = withoutDates(seen.got);
    const answers = raw.split(/(?=HTTP\/1\.1 )/);
    assert.is(answers.length, 2, raw);
    assert.ok(answers[0].startsWith('HTTP/1.1 200 OK\r\n') && answers[0].endsWith('\r\n\r\nslept'), raw);
    assert.ok(answers[1].startsWith('HTTP/1.1 400 Bad Request\r\n') && answers[1].endsWith('\r\n\r\n'), raw);
    assert.match(answers[1], /\r\nContent-Length: [1-9]\d*\r\n/);
  }
});

test('a client that half-closes after a plain request gets the answer, then the close', async () => {
  const started = Date.now();
  const raw = await halfClosed(portOf(lean), get('/?half'));
  assert.ok(raw.startsWith('HTTP/1.1 200 OK\r\n') && raw.endsWith('GET /?half host=lean.test ua=lean-test'), raw);
  assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms`);
});

test('a connection that sends nothing is closed after --header-timeout (as nginx\'s client_header_timeout; node:http keeps it); the gateway still serves', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.on('error', () => {});
  const opened = Date.now();
  await new Promise((resolve) => socket.once('connect', resolve));
  let closed = false;
  socket.once('close', () => (closed = true));
  await waitFor(() => closed, 5000, 'the silent connection closed');
  const waited = Date.now() - opened;
  assert.ok(waited >= 900 && waited < 4000, `closed after ${waited} ms`);
  const raw = await rawRequest(portOf(lean), CLOSE);
  assert.ok(raw.startsWith('HTTP/1.1 200 OK'), raw);
});

test('an idle keep-alive connection is closed after the keep-alive timeout its answer announced (5 s), not before', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (c) => (received += c.toString('latin1')));
  let closed = false;
  socket.once('close', () => (closed = true));
  await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
  socket.write(get('/'));
  await waitFor(() => received.includes('\r\n\r\n'), 5000, 'the answer');
  const answered = Date.now();
  assert.match(received, /\r\nKeep-Alive: timeout=5\r\n/);
  // Past --header-timeout (1 s): an answered connection waits by the keep-alive clock instead.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.not.ok(closed, 'still open 3 s after its answer');
  await waitFor(() => closed, 5000, 'the idle connection closed');
  const waited = Date.now() - answered;
  assert.ok(waited >= 4900 && waited < 7000, `closed ${waited} ms after its answer`);
});

test('a client that leaves in the middle of a large answer costs nothing: the next request is served', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.on('error', () => {});
  let first = 0;
  socket.on('data', (c) => (first += c.length));
  socket.write(get('/big'));
  await waitFor(() => first > 0, 5000, 'the first bytes of /big');
  socket.destroy();
  const raw = await rawRequest(portOf(lean), get('/?next') + CLOSE);
  assert.ok(raw.includes('GET /?next host=lean.test'), raw);
});

test('HTTP/1.2 is served as HTTP/1.1 (RFC 9110 §2.5), plain, handed to node:http, or read by node:http alone', async () => {
  const plain = withoutDates(await rawRequest(portOf(lean), `GET /v?x=1 HTTP/1.2\r\nHost: lean.test\r\nConnection: close\r\n\r\n`));
  assert.ok(plain.startsWith('HTTP/1.1 200 OK\r\n'), plain);
  assert.ok(plain.endsWith('GET /v?x=1 host=lean.test ua=None'), plain);
  // A chunked body is not plain: the lane hands this request line to node:http, as HTTP/1.1.
  const chunked = `POST /count HTTP/1.9\r\nHost: lean.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
  const handed = withoutDates(await rawRequest(portOf(lean), chunked));
  assert.ok(handed.startsWith('HTTP/1.1 200 OK\r\n'), handed);
  assert.ok(handed.includes('POST count=5 sha256='), handed);
  // Without the lane (APPPKG_LEAN_LANE=0) llhttp reads it, lenient about versions alone: the same answer.
  const alone = withoutDates(await rawRequest(portOf(reference), `GET /v?x=1 HTTP/1.2\r\nHost: lean.test\r\nConnection: close\r\n\r\n`));
  assert.is(alone, plain);
});

test('a stop closes idle keep-alive connections at once and lets the answers under way finish, a POST behind them too', async () => {
  const idle = net.connect(portOf(lean), '127.0.0.1');
  const busy = net.connect(portOf(lean), '127.0.0.1');
  let idleGot = '';
  let busyGot = '';
  idle.on('data', (c) => (idleGot += c));
  busy.on('data', (c) => (busyGot += c));
  idle.on('error', () => {});
  busy.on('error', () => {});
  idle.write(get('/?idle'));
  await waitFor(() => idleGot.includes('GET /?idle'), 5000, 'the idle connection\'s answer');
  // A POST behind the busy request: not plain, it goes to node:http once the GET is answered,
  // during the stop, and is answered too (no client retries a POST on its own).
  busy.write(`${get('/sleep?t=1')}POST /echo HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 4\r\n\r\nlast`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  let idleClosed = false;
  idle.once('close', () => (idleClosed = true));
  const pids = statusPids(await gatewayStatus(lean));
  const stopping = Date.now();
  const code = await lean.stop(10_000);
  assert.is(code, 0);
  await assertNoOrphans(pids);
  await waitFor(() => idleClosed, 5000, 'the idle connection closed');
  assert.ok(busyGot.includes('slept'), busyGot);
  assert.ok(busyGot.includes('body=last'), busyGot);
  assert.ok(Date.now() - stopping < 5000, `stopped after ${Date.now() - stopping} ms`);
});

test.run();
