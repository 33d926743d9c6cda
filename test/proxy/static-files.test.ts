// `static:` files as the gateway serves them (src/proxy/static-files.ts), on a real HTTP server at
// port 0, twice: answered through node:http, and on the lean lane (src/proxy/lean-lane.ts), as the
// front answers a plain request for one. The headers and validators, 304/206/416, HEAD, the
// symlink rule, the in-memory cache (issue 11) never serving a file that changed on disk for
// longer than REVALIDATE_MS, and a streamed file held back by a client that does not read.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { CACHED_FILE_MAX, REVALIDATE_MS, matchStatic, serveStatic, staticMounts } from '../../src/proxy/static-files.js';
import { LeanLane } from '../../src/proxy/lean-lane.js';
import { rawRequest, tempDir, waitFor } from '../helpers/process.js';

const pkg = tempDir('apppkg-static-');
const publicDir = join(pkg.path, 'public');
// The package directory is 0700 (mkdtemp): a file beside public/ is not readable by everyone.
const outside = join(pkg.path, 'secret.txt');
// As Debian's /usr/share/javascript: a world-readable tree elsewhere on the host.
const shared = tempDir('apppkg-static-shared-');
const reported: string[] = [];
const big = randomBytes(CACHED_FILE_MAX + 70_000);
/** Streamed, never cached: far more than the kernel's socket buffers hold for a client that does not read. */
const HUGE_BYTES = 48 * 1024 * 1024;

mkdirSync(join(publicDir, 'docs'), { recursive: true });
mkdirSync(join(publicDir, 'leaky'), { recursive: true });
writeFileSync(join(publicDir, 'style.css'), 'body { color: red; }\n');
writeFileSync(join(publicDir, 'empty.txt'), '');
writeFileSync(join(publicDir, 'big.bin'), big);
writeFileSync(join(publicDir, 'huge.bin'), Buffer.alloc(HUGE_BYTES, 120));
writeFileSync(join(publicDir, 'docs', 'index.html'), '<h1>docs</h1>\n');
writeFileSync(outside, 'the secret\n');
symlinkSync(join(publicDir, 'style.css'), join(publicDir, 'alias.css'));
symlinkSync(outside, join(publicDir, 'out.txt'));
symlinkSync(outside, join(publicDir, 'leaky', 'index.html'));
mkdirSync(join(shared.path, 'jquery'));
writeFileSync(join(shared.path, 'jquery', 'jquery.js'), 'window.jQuery = 1;\n');
chmodSync(shared.path, 0o755);
symlinkSync(shared.path, join(publicDir, 'javascript'));
symlinkSync(join(pkg.path, 'nowhere.js'), join(publicDir, 'broken.js'));
const mounts = staticMounts(pkg.path, { '/static': 'public' }, (line) => reported.push(line));

/** A static file's answer, or false: not under the mount (599 from node:http, "the app"). */
function answer(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const hit = matchStatic(mounts, (req.url ?? '/').split('?')[0]);
  if (hit) void serveStatic(req, res, hit.mount, hit.rest);
  return hit !== null;
}

/** A server at port 0 answering `answer`, on node:http alone or with the lean lane before it. */
interface StaticServer {
  base: string;
  /** The server's side of every connection it accepted. */
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

async function listen(lean: boolean): Promise<StaticServer> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (answer(req, res)) return;
    res.writeHead(599);
    res.end();
  });
  if (lean) {
    const toNode = server.listeners('connection')[0] as (socket: net.Socket) => void;
    server.removeAllListeners('connection');
    const lane = new LeanLane({ maxHeaderSize: 16 * 1024, headersTimeoutMs: 20_000, keepAliveTimeoutMs: 5_000, take: answer, toNode: (socket) => toNode.call(server, socket) });
    server.on('connection', (socket: net.Socket) => lane.accept(socket));
  }
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function staticSuite(kind: 'node:http' | 'lean lane', last: boolean): void {
const test = suite(`static files (${kind})`);
let server: StaticServer;
let base = '';

test.before(async () => {
  server = await listen(kind === 'lean lane');
  base = server.base;
});

test.after(async () => {
  await server?.close();
  if (!last) return;
  pkg.remove();
  shared.remove();
});

async function get(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
  const res = await request(`${base}${path}`, { method, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString() };
}

test('a small file: 200 with its type, length and validators, the same from memory', async () => {
  const first = await get('/static/style.css');
  const second = await get('/static/style.css');
  for (const r of [first, second]) {
    assert.is(r.status, 200);
    assert.is(r.text, 'body { color: red; }\n');
    assert.is(r.headers['content-type'], 'text/css; charset=utf-8');
    assert.is(r.headers['content-length'], '21');
    assert.is(r.headers['accept-ranges'], 'bytes');
    assert.match(String(r.headers.etag), /^"15-[0-9a-f]+"$/);
    assert.ok(!Number.isNaN(Date.parse(String(r.headers['last-modified']))));
  }
  assert.is(second.headers.etag, first.headers.etag);
  const empty = await get('/static/empty.txt');
  assert.is(empty.status, 200);
  assert.is(empty.headers['content-length'], '0');
  assert.is(empty.body.length, 0);
});

test('conditional requests: 304 for a matching ETag (also W/, in a list, *) or a date not older; 200 otherwise', async () => {
  const full = await get('/static/style.css');
  const etag = String(full.headers.etag);
  const lastModified = String(full.headers['last-modified']);
  for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
    const r = await get('/static/style.css', { 'if-none-match': inm });
    assert.is(r.status, 304, inm);
    assert.is(r.body.length, 0);
    assert.is(r.headers.etag, etag);
    assert.is(r.headers['last-modified'], lastModified);
  }
  assert.is((await get('/static/style.css', { 'if-none-match': '"other"' })).status, 200);
  assert.is((await get('/static/style.css', { 'if-modified-since': lastModified })).status, 304);
  assert.is((await get('/static/style.css', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200);
  // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
  assert.is((await get('/static/style.css', { 'if-none-match': '"other"', 'if-modified-since': lastModified })).status, 200);
});

test('preconditions: If-Match (strong) and If-Unmodified-Since answer 412 when the file is not the one named (RFC 9110 §13.1.1, §13.1.4)', async () => {
  const full = await get('/static/style.css');
  const etag = String(full.headers.etag);
  const lastModified = String(full.headers['last-modified']);
  for (const im of [etag, `"nope", ${etag}`, '*']) assert.is((await get('/static/style.css', { 'if-match': im })).status, 200, im);
  for (const im of ['"nope"', `W/${etag}`]) {
    const r = await get('/static/style.css', { 'if-match': im });
    assert.is(r.status, 412, im);
    assert.is(r.headers.etag, etag);
  }
  assert.is((await get('/static/style.css', { 'if-unmodified-since': lastModified })).status, 200);
  assert.is((await get('/static/style.css', { 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status, 412);
  assert.is((await get('/static/style.css', { 'if-unmodified-since': 'not a date' })).status, 200, 'an invalid date is ignored');
  // If-Match decides alone when present (step 2 runs only without it).
  assert.is((await get('/static/style.css', { 'if-match': etag, 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status, 200);
});

test('Range on a cached file and on a streamed one: 206 slices, suffix, open end, 416, If-Range', async () => {
  for (const [path, bytes] of [['/static/style.css', Buffer.from('body { color: red; }\n')], ['/static/big.bin', big]] as const) {
    const whole = await get(path);
    assert.is(whole.status, 200, path);
    assert.ok(whole.body.equals(bytes), path);
    const size = bytes.length;
    const cases: Array<[string, number, number]> = [['bytes=0-3', 0, 3], ['bytes=5-', 5, size - 1], ['bytes=-4', size - 4, size - 1], [`bytes=2-${size + 100}`, 2, size - 1]];
    for (const [range, start, end] of cases) {
      const r = await get(path, { range });
      assert.is(r.status, 206, `${path} ${range}`);
      assert.is(r.headers['content-range'], `bytes ${start}-${end}/${size}`);
      assert.is(r.headers['content-length'], String(end - start + 1));
      assert.ok(r.body.equals(bytes.subarray(start, end + 1)), `${path} ${range}`);
    }
    const unsatisfiable = await get(path, { range: `bytes=${size}-` });
    assert.is(unsatisfiable.status, 416);
    assert.is(unsatisfiable.headers['content-range'], `bytes */${size}`);
    assert.is((await get(path, { range: 'bytes=0-1,4-5' })).status, 200, 'several ranges: the whole file');
    assert.is((await get(path, { range: 'bytes=0-1', 'if-range': String(whole.headers.etag) })).status, 206);
    const stale = await get(path, { range: 'bytes=0-1', 'if-range': '"old"' });
    assert.is(stale.status, 200, 'If-Range no longer matching: the whole file');
    assert.is(stale.body.length, size);
  }
});

test('HEAD answers the headers of GET without a body; other methods 405 with Allow', async () => {
  for (const path of ['/static/style.css', '/static/big.bin']) {
    const get200 = await get(path);
    const head = await get(path, {}, 'HEAD');
    assert.is(head.status, 200);
    assert.is(head.body.length, 0);
    assert.is(head.headers['content-length'], get200.headers['content-length']);
    assert.is(head.headers.etag, get200.headers.etag);
  }
  const post = await get('/static/style.css', {}, 'POST');
  assert.is(post.status, 405);
  assert.is(post.headers.allow, 'GET, HEAD');
});

test('a directory serves its index.html; what is not there is 404; the prefix is a whole segment', async () => {
  for (const path of ['/static/docs', '/static/docs/']) {
    const r = await get(path);
    assert.is(r.status, 200, path);
    assert.is(r.text, '<h1>docs</h1>\n');
    assert.is(r.headers['content-type'], 'text/html; charset=utf-8');
  }
  assert.is((await get('/static/nothing.css')).status, 404);
  assert.is((await get('/static')).status, 404, 'the directory itself has no index');
  assert.is((await get('/staticx/style.css')).status, 599, 'a longer name is not under the prefix (599: the app)');
});

test('no way out: dot segments, and symlinks leaving the directory (a directory\'s index.html too)', async () => {
  const alias = await get('/static/alias.css');
  assert.is(alias.status, 200, 'a symlink inside the directory is followed');
  // Raw bytes: an HTTP client would remove the dot segments before sending.
  const port = Number(new URL(base).port);
  for (const path of ['/static/../secret.txt', '/static/docs/../../secret.txt', '/static/out.txt', '/static/leaky', '/static/leaky/', '/static/leaky/index.html', '/static/..\\secret.txt']) {
    const raw = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(raw.split('\r\n')[0], / 404 /, path);
    assert.not.match(raw, /the secret/, path);
  }
});

test('a symlink out to a tree everyone may read is followed, as nginx does (a Debian package\'s /usr/share/javascript)', async () => {
  const js = await get('/static/javascript/jquery/jquery.js');
  assert.is(js.status, 200);
  assert.is(js.text, 'window.jQuery = 1;\n');
  assert.match(String(js.headers['content-type']), /javascript/);
  // Dot segments stay refused even where the link leads.
  const port = Number(new URL(base).port);
  const raw = await rawRequest(port, 'GET /static/javascript/../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(raw.split('\r\n')[0], / 404 /);
});

test('a broken symlink, and one out to what not everyone may read, are 404s said in the app log', async () => {
  reported.length = 0;
  assert.is((await get('/static/broken.js')).status, 404);
  assert.is((await get('/static/out.txt')).status, 404);
  assert.ok(reported.some((l) => /broken\.js is a broken symlink/.test(l)), reported.join('\n'));
  assert.ok(reported.some((l) => /out\.txt leads to .*secret\.txt, outside .* not readable by everyone/.test(l)), reported.join('\n'));
  assert.not.ok(reported.some((l) => /alias\.css/.test(l)), 'a link inside the directory is not worth a line');
});

test(`a file changed on disk is served as changed within REVALIDATE_MS (${REVALIDATE_MS} ms)`, async () => {
  const path = join(publicDir, 'app.js');
  writeFileSync(path, 'version 1\n');
  assert.is((await get('/static/app.js')).text, 'version 1\n');
  assert.is((await get('/static/app.js')).text, 'version 1\n'); // from memory now
  // The staleness bound, with room for a loaded machine's scheduling: fresh within it, and
  // never the old bytes again once the new ones were seen.
  const within = REVALIDATE_MS + 1500;
  const sawFresh = async (expected: string | number) => {
    await waitFor(async () => {
      const r = await get('/static/app.js');
      return typeof expected === 'number' ? r.status === expected : r.text === expected;
    }, within, `/static/app.js to be ${expected}`);
    for (let i = 0; i < 5; i++) {
      const r = await get('/static/app.js');
      if (typeof expected === 'number') assert.is(r.status, expected);
      else assert.is(r.text, expected);
    }
  };
  writeFileSync(path, 'version 2\n'); // in place, the same size
  await sawFresh('version 2\n');
  writeFileSync(`${path}.tmp`, 'version three\n');
  renameSync(`${path}.tmp`, path); // replaced, as deploy tools do
  await sawFresh('version three\n');
  const r = await get('/static/app.js');
  assert.is(r.headers['content-length'], '14');
  unlinkSync(path);
  await sawFresh(404);
  writeFileSync(path, 'back\n');
  await sawFresh('back\n');
});

test('a symlink re-pointed out of the directory after it was cached is refused within REVALIDATE_MS', async () => {
  const link = join(publicDir, 'moving.css');
  rmSync(link, { force: true }); // the other suite's
  symlinkSync(join(publicDir, 'style.css'), link);
  assert.is((await get('/static/moving.css')).status, 200);
  assert.is((await get('/static/moving.css')).status, 200);
  rmSync(link);
  symlinkSync(outside, link);
  await waitFor(async () => (await get('/static/moving.css')).status === 404, REVALIDATE_MS + 1500, 'the re-pointed symlink to be refused');
});

test('more files than the cache holds are all served whole, again and again', async () => {
  // Each just under the per-file limit: past the cache's byte budget, so entries are evicted.
  const files = Array.from({ length: 40 }, (_, i) => {
    const body = Buffer.alloc(CACHED_FILE_MAX - i, 97 + (i % 26));
    writeFileSync(join(publicDir, `many-${i}.txt`), body);
    return body;
  });
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < files.length; i++) {
      const r = await get(`/static/many-${i}.txt`);
      assert.is(r.status, 200);
      assert.ok(r.body.equals(files[i]), `many-${i}.txt, round ${round}`);
    }
  }
});

test('a client that does not read a streamed file holds the file back: the gateway keeps a window of it, not the file', async () => {
  const before = new Set(server.sockets);
  const client = net.connect(Number(new URL(base).port), '127.0.0.1');
  client.pause(); // nothing read: the kernel's buffers fill, then the server's side waits
  client.write('GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    await waitFor(() => [...server.sockets].some((s) => !before.has(s) && s.bytesWritten > 0), 5000, 'the answer to begin');
    const ours = [...server.sockets].find((s) => !before.has(s))!;
    // Let a stream that ignored the client's pace push the rest of the file into memory.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const held = ours.writableLength;
    assert.ok(held < 1024 * 1024, `${held} bytes of a ${HUGE_BYTES}-byte file waiting in the server's memory`);
    assert.ok(ours.bytesWritten < HUGE_BYTES / 2, `${ours.bytesWritten} bytes handed to the kernel`);
    // Read now: every byte arrives, in order.
    let got = 0;
    let bad = false;
    let headEnd = -1;
    const done = new Promise<void>((resolve, reject) => {
      client.on('data', (chunk: Buffer) => {
        let body = chunk;
        if (headEnd < 0) {
          headEnd = chunk.indexOf('\r\n\r\n');
          body = chunk.subarray(headEnd + 4);
        }
        got += body.length;
        if (body.some((b) => b !== 120)) bad = true;
        if (got >= HUGE_BYTES) resolve();
      });
      client.on('error', reject);
    });
    client.resume();
    await done;
    assert.is(got, HUGE_BYTES);
    assert.not.ok(bad);
  } finally {
    client.destroy();
  }
});

test.run();
}

staticSuite('node:http', false);
staticSuite('lean lane', true);
