// A request that provably never reached the app is retried once on another worker (caddy's
// tryAgain): its worker's link failed while the request's frames were still in the gateway,
// with its body as far as the gateway had read it. One whose frames had left for the worker is
// not (the app may have acted on it): 502. Real workers, the proxy's AppDispatcher in front, the
// link failed in the same turn the request (or a piece of its body) was given to it. Each test
// cuts one link: four workers, the test that cuts a request already sent last.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { AppDispatcher } from '../../src/proxy/app-dispatcher.js';
import type { Backend, Endpoint } from '../../src/proxy/backend.js';
import { OpenWebsockets } from '../../src/proxy/open-websockets.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { withDeadline, workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans, recorded, waitFor } from '../helpers/process.js';

const test = suite('retry once');
const workers: Worker[] = [];
const pids: number[] = [];
let server: http.Server | null = null;
let url = '';
let port = 0;

test.before(async () => {
  for (let i = 0; i < 4; i++) workers.push(workerFor('faults', { threads: 2 }));
  await Promise.all(workers.map((w) => w.start(15_000)));
  for (const w of workers) pids.push(w.pid!);
  const upstreams: Endpoint[] = workers.map((w) => ({ kind: 'worker', link: w.link!, capacity: 2, requestsTimedOut: () => {}, silentPastTimeout: () => {} }));
  const backend: Backend = {
    name: 'faults',
    development: false,
    limits: { queue: 16, timeoutMs: 10_000, maxBody: 1 << 20 },
    dir: '/nonexistent',
    static: {},
    acceptsWebsockets: false,
    processRoutes: [],
    upstreams,
    subscribe: () => () => {},
  };
  const dispatcher = new AppDispatcher(backend, new OpenWebsockets());
  server = http.createServer((req, res) => {
    dispatcher.handle(req, res, routeFromRequest(req)!);
    // The worker given the request dies before the gateway's next write leaves: its frames
    // are still here, so the request never reached it.
    const given = workers.find((w) => w.link!.inFlight > 0);
    if (req.headers['x-fail-link'] === 'now') given?.link!.fail('the test cut the link');
    // After a body piece went to the link (its 'data' listener is the exchange's, before this
    // one), in the turn the head came in, before the link's writes leave (setImmediate).
    if (req.headers['x-fail-link'] === 'at-body') req.once('data', () => given?.link!.fail('the test cut the link'));
    if (req.headers['x-fail-link'] === 'at-end') req.once('end', () => given?.link!.fail('the test cut the link'));
    // Once the request has left for the worker (the link flushes on setImmediate): too late to retry.
    if (req.headers['x-fail-link'] === 'after-send') setTimeout(() => given?.link!.fail('the test cut the link'), 200);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}`;
});

test.after(async () => {
  server?.closeAllConnections();
  server?.close();
  await Promise.all(workers.map((w) => w.stop(3000)));
  await assertNoOrphans(pids);
});

const openLinks = (): number => workers.filter((w) => !w.link!.closed).length;

/** The worker with `pid`, whose link must be open: the one that answered. */
function answeredByOpenLink(pid: number): void {
  const by = workers.find((w) => w.pid === pid);
  assert.ok(by !== undefined && !by.link!.closed, `the answer came from a worker whose link is open (pid ${pid})`);
}

test('R3.1b a request whose worker failed before it was sent is answered by another worker', async () => {
  const res = await withDeadline(request(`${url}/`, { headers: { 'x-fail-link': 'now' } }), 10_000, 'the retried request');
  const body = (await res.body.text()).trim();
  assert.is(res.statusCode, 200, body);
  assert.is(openLinks(), 3, 'one link was cut');
  answeredByOpenLink(Number(body));
});

/** Sends `first` in one write (head and body, read in one turn), then `rest` once a link is cut; the answer's body. */
async function postCutAtBody(first: string, rest: string, links: number): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  const seen = recorded(socket);
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(first);
    await waitFor(() => openLinks() === links, 10_000, 'the link to be cut');
    if (rest !== '') socket.write(rest);
    await waitFor(() => seen.closed, 10_000, 'the answer (Connection: close)');
  } finally {
    socket.destroy();
  }
  const [head, body] = seen.got.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /, seen.got);
  return body;
}

test('R3.1b a POST whose worker failed before its frames left is answered by another, its body whole', async () => {
  const sent = 'x'.repeat(3000);
  const body = await postCutAtBody(`POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Fail-Link: at-end\r\nContent-Length: ${sent.length}\r\n\r\n${sent}`, '', 2);
  const [echoed, pid] = body.trim().split(' ');
  assert.is(echoed, sent, 'the body the other worker read');
  answeredByOpenLink(Number(pid));
});

test('R3.1b a POST cut so after its first body piece gets the rest from the client, after the pieces read before', async () => {
  const head = 'POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Fail-Link: at-body\r\nTransfer-Encoding: chunked\r\n\r\n';
  const body = await postCutAtBody(`${head}5\r\nfirst\r\n`, '6\r\n-then-\r\n4\r\nrest\r\n0\r\n\r\n', 1);
  const [echoed, pid] = body.replace(/\r\n/g, '\n').split('\n').filter((line) => / /.test(line))[0].split(' ');
  assert.is(echoed, 'first-then-rest', 'the body the other worker read');
  answeredByOpenLink(Number(pid));
});

test('R3.1b a request that had left for its worker is not retried: 502', async () => {
  const res = await withDeadline(request(`${url}/sleep?t=2`, { headers: { 'x-fail-link': 'after-send' } }), 10_000, 'the cut after sending');
  const body = await res.body.text();
  assert.is(res.statusCode, 502, body);
  assert.match(body, /went away before it answered/);
});

test.run();
