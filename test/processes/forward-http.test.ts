// forwardHttp against real servers at port 0: each failure becomes the answer SPEC §4 asks
// for — refused → 502, no head in time → 504, gone mid-body → the client's connection cut —
// and the request's socket stays with the gateway (the access log reads it after the end).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, request } from 'undici';
import { forwardHttp } from '../../src/proxy/forward-http.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';

const test = suite('forwardHttp');
const closers: Array<() => Promise<void>> = [];

test.after.each(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A port nothing listens on: bound, then closed (caddy's deadPort). */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return (server.address() as AddressInfo).port;
}

/** A gateway-like front that forwards everything to `upstreamPort`; reports each request's socket at its end. */
async function front(upstreamPort: number, timeoutMs = 5000): Promise<{ url: string; socketsAtClose: Array<boolean> }> {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`);
  closers.push(() => pool.destroy());
  const socketsAtClose: boolean[] = [];
  const server = http.createServer((req, res) => {
    res.once('close', () => socketsAtClose.push(req.socket !== null));
    forwardHttp(pool, req, res, routeFromRequest(req, '/app')!, { timeoutMs, label: 'processes.web of test' });
  });
  return { url: `http://127.0.0.1:${await listen(server)}`, socketsAtClose };
}

test('a refused connection is a 502 that names the process', async () => {
  const { url } = await front(await deadPort());
  const res = await request(`${url}/app/x`);
  assert.is(res.statusCode, 502);
  assert.match(await res.body.text(), /processes\.web of test is not accepting connections/);
});

test('no response head within the timeout is a 504', async () => {
  const silent = http.createServer(() => {});
  const { url } = await front(await listen(silent), 300);
  const res = await request(`${url}/app/slow`);
  assert.is(res.statusCode, 504);
  assert.match(await res.body.text(), /did not answer in time/);
});

test('a process that dies mid-body cuts the client connection: a truncated body never looks complete', async () => {
  const dying = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Length': '100000' });
    res.write('x'.repeat(1000), () => setTimeout(() => req.socket.destroy(), 50));
  });
  const { url } = await front(await listen(dying));
  const res = await request(`${url}/app/big`);
  assert.is(res.statusCode, 200);
  await res.body.text().then(
    () => assert.unreachable('the body should not complete'),
    (err: Error) => assert.ok(err),
  );
});

test('a request body streams to the process, and the gateway keeps the request socket', async () => {
  const counting = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(String(n)));
  });
  const { url, socketsAtClose } = await front(await listen(counting));
  const res = await request(`${url}/app/upload`, { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 1) });
  assert.is(await res.body.text(), String(2 * 1024 * 1024));
  assert.equal(socketsAtClose, [true]);
});

test.run();
