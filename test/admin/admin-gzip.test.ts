// The admin listener's answers gzipped for a client that takes gzip (docs/admin.md,
// "Compression"), over a real socket with node:http, which neither asks for gzip nor inflates
// by itself: what is on the wire is what is read. The page, its script and style, /status and
// /metrics smaller and the same once gunzipped; nothing gzipped without Accept-Encoding or for
// a tiny body; /events gzipped and still live, each event flushed; a followed log as it comes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http, { type IncomingMessage } from 'node:http';
import net from 'node:net';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, createGunzip, gunzipSync } from 'node:zlib';
import type { AdminServer } from '../../src/admin/admin-server.js';
import { GZIP_MIN_BYTES, GzippedFiles, takesGzip } from '../../src/admin/gzip-answer.js';
import type { AppStatus } from '../../src/admin/status-types.js';
import { ROOT, runCli, tempDir, within } from '../helpers/process.js';
import { fakeAdminServer, fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('admin listener gzip');
const logDir = tempDir('apppkg-admin-gzip-');
/** Bumped to make the next status differ: a live event is due. */
let requests = 0;
let server: AdminServer;

test.before(async () => {
  writeFileSync(join(logDir.path, 'blog.log'), 'first line\n');
  const blog = fakeStatus().apps[0];
  const provider = {
    ...fakeProvider(logDir.path),
    status: () => {
      const apps: AppStatus[] = Array.from({ length: 60 }, (_, i) => ({ ...blog, name: `app${i}`, mount: `/app${i}` }));
      apps[0] = { ...apps[0], requests };
      return { ...fakeStatus(), apps };
    },
  };
  server = await fakeAdminServer(provider);
});

test.after(async () => {
  await within(5000, 'admin close', server.close());
  logDir.remove();
});

interface Raw {
  status: number;
  headers: IncomingMessage['headers'];
  /** The bytes as they came over the wire. */
  body: Buffer;
}

/** GET `path` with these request headers; the body as sent, not inflated. */
function get(path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return within(5000, `GET ${path}`, new Promise<Raw>((resolve, reject) => {
    const req = http.get(`${server.url}${path}`, { headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to GET ${path} within 5 s`)));
    req.on('error', reject);
  }));
}

for (const [path, file] of [['/', 'index.html'], ['/admin.js', 'admin.js'], ['/admin.css', 'admin.css'], ['/status', null], ['/metrics', null]] as const) {
  test(`GET ${path} with Accept-Encoding: gzip is gzipped, smaller, the same once gunzipped; without, as it is`, async () => {
    const plain = await get(path);
    const zipped = await get(path, { 'accept-encoding': 'gzip, deflate, br' });
    assert.is(plain.status, 200);
    assert.is(zipped.status, 200);
    assert.ok(plain.body.length >= GZIP_MIN_BYTES, `${path} is big enough to gzip: ${plain.body.length} bytes`);
    assert.is(plain.headers['content-encoding'], undefined, 'not gzipped without Accept-Encoding');
    assert.is(zipped.headers['content-encoding'], 'gzip');
    assert.is(plain.headers.vary, 'Accept-Encoding');
    assert.is(zipped.headers.vary, 'Accept-Encoding');
    assert.is(Number(zipped.headers['content-length']), zipped.body.length, 'Content-Length counts the gzipped bytes');
    // The HTML is small (~1 KiB): gzip saves less there than on the script, the style or the JSON.
    assert.ok(zipped.body.length < plain.body.length / (path === '/' ? 1.5 : 3), `gzipped ${zipped.body.length} bytes against ${plain.body.length}`);
    assert.equal(gunzipSync(zipped.body), plain.body, 'the same content once gunzipped');
    if (file !== null) assert.equal(plain.body, readFileSync(join(ROOT, 'admin-page', file)));
    // The page's other headers are kept beside the encoding.
    if (path === '/') assert.match(String(zipped.headers['content-security-policy']), "frame-ancestors 'none'");
    assert.is(zipped.headers['x-content-type-options'], 'nosniff');
  });
}

test('a page file asked again is the same gzip (made once), and the same after a gunzip', async () => {
  const one = await get('/admin.js', { 'accept-encoding': 'gzip' });
  const two = await get('/admin.js', { 'accept-encoding': 'gzip' });
  assert.equal(one.body, two.body);
  assert.equal(gunzipSync(two.body), readFileSync(join(ROOT, 'admin-page', 'admin.js')));
});

test('Accept-Encoding that refuses gzip or names another coding gets the body as it is; * takes gzip', async () => {
  for (const [accept, gzipped] of [['gzip;q=0', false], ['br', false], ['identity', false], ['deflate, gzip;q=0.5', true], ['*', true], ['x-gzip', true], ['*;q=0', false], ['gzip;q=0, *', false]] as const) {
    const r = await get('/status', { 'accept-encoding': accept });
    assert.is(r.headers['content-encoding'], gzipped ? 'gzip' : undefined, accept);
    const text = gzipped ? gunzipSync(r.body).toString() : r.body.toString();
    assert.is(JSON.parse(text).apps.length, 60, accept);
  }
});

test('a tiny body (an error) is never gzipped, and says no Vary', async () => {
  const r = await get('/nowhere', { 'accept-encoding': 'gzip' });
  assert.is(r.status, 404);
  assert.ok(r.body.length < GZIP_MIN_BYTES);
  assert.is(r.headers['content-encoding'], undefined);
  assert.is(r.headers.vary, undefined);
  assert.is(JSON.parse(r.body.toString()).error.code, 'APPPKG_ADMIN_NO_ROUTE');
});

/**
 * Opens `path` with Accept-Encoding: gzip; resolves at the head, with the text so far (inflated
 * as it comes, when gzipped) kept up to date, and the trailers once the body has ended.
 */
function stream(path: string, origin = server.url): Promise<{ res: IncomingMessage; text: () => string; raw: () => Buffer; ended: () => boolean; close(): void }> {
  return within(5000, `GET ${path}`, new Promise((resolve, reject) => {
    const req = http.get(`${origin}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      let text = '';
      let ended = false;
      const raw: Buffer[] = [];
      res.on('data', (c: Buffer) => raw.push(c));
      // Z_SYNC_FLUSH: what each flush gave is inflated at once, as a browser does.
      const body = res.headers['content-encoding'] === 'gzip' ? res.pipe(createGunzip({ finishFlush: constants.Z_SYNC_FLUSH })) : res;
      body.setEncoding('utf8');
      body.on('data', (c: string) => (text += c));
      body.on('end', () => (ended = true));
      body.on('error', () => {});
      res.on('error', () => {});
      resolve({ res, text: () => text, raw: () => Buffer.concat(raw), ended: () => ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  }));
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('/events asked with gzip is gzipped, each event flushed as it is sent: every change arrives as it happens', async () => {
  const events = await stream('/events');
  try {
    assert.is(events.res.headers['content-encoding'], 'gzip');
    assert.is(events.res.headers.vary, 'Accept-Encoding');
    await until('the whole status', () => /^event: ?status$/m.test(events.text()));
    requests = 41;
    await until('the change, live', () => /^event: ?apps\n(id:.*\n)?data: ?.*"requests":41/m.test(events.text()));
    requests = 42;
    await until('the next change, live', () => /^event: ?apps\n(id:.*\n)?data: ?.*"requests":42/m.test(events.text()));
  } finally {
    events.close();
  }
});

test('/events without Accept-Encoding is as it was: not gzipped', async () => {
  const events = await within(5000, 'GET /events', new Promise<IncomingMessage>((resolve, reject) => {
    const req = http.get(`${server.url}/events`, (res) => resolve(res));
    req.on('error', reject);
  }));
  assert.is(events.headers['content-encoding'], undefined);
  events.destroy();
});

test('a gzipped /events ended by the gateway\'s stop: the gzip stream whole, then the trailer saying why', async () => {
  const own = await fakeAdminServer(fakeProvider());
  try {
    const events = await stream('/events', own.url);
    await until('the whole status', () => /^event: ?status$/m.test(events.text()));
    await within(5000, 'admin close', own.close());
    await until('the body\'s end', () => events.ended());
    assert.equal(events.res.trailers, { 'apppkg-stream-end': 'gateway-stopped' });
    // Inflated as a whole, without the sync flush's leniency: a gzip stream cut before its last
    // block ("unexpected end of file") would throw here.
    assert.is(gunzipSync(events.raw()).toString(), events.text());
  } finally {
    await own.close();
  }
});

test('a followed log asked with gzip is sent as it is, each line as it is written', async () => {
  const log = await stream('/apps/blog/log?follow=1');
  try {
    assert.is(log.res.headers['content-encoding'], undefined);
    await until('the log so far', () => log.text().includes('first line\n'));
    appendFileSync(join(logDir.path, 'blog.log'), 'written later\n');
    await until('the line written, live', () => log.text().includes('written later\n'));
  } finally {
    log.close();
  }
});

test('the CLI\'s status asks for gzip: a fraction of the bytes cross the link, and --json prints the status unchanged', async () => {
  // A relay between the CLI and the listener counts what the listener sends back.
  let sent = 0;
  const port = Number(new URL(server.url).port);
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    upstream.on('data', (c: Buffer) => (sent += c.length));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  try {
    const plain = await get('/status');
    const cli = await runCli(['status', '--json', '--admin', `127.0.0.1:${(relay.address() as net.AddressInfo).port}`], { ms: 15_000 });
    assert.is(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout), JSON.parse(plain.body.toString()));
    assert.ok(sent < plain.body.length / 3, `the listener sent ${sent} bytes for a status of ${plain.body.length}`);
  } finally {
    relay.close();
  }
});

test('takesGzip reads Accept-Encoding as RFC 9110 says', () => {
  assert.is(takesGzip(undefined), false);
  assert.is(takesGzip(''), false);
  assert.is(takesGzip('GZIP'), true);
  assert.is(takesGzip('gzip ; q=0.001'), true);
  assert.is(takesGzip('gzip;q=0.000'), false);
  assert.is(takesGzip('x-gzip;q=0, gzip'), true);
});

test('GzippedFiles compresses a file once, and again when the file is another', async () => {
  const files = new GzippedFiles();
  const body = Buffer.from('x'.repeat(5000));
  const first = files.gzipped('a.js', '1:2:5000:1', body);
  assert.is(files.gzipped('a.js', '1:2:5000:1', body), first, 'the same gzip, not made again');
  const other = Buffer.from('y'.repeat(5000));
  const again = files.gzipped('a.js', '1:3:5000:2', other);
  assert.is.not(again, first);
  assert.equal(gunzipSync(await again), other);
});

test.run();
