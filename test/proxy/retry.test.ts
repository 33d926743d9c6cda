// A request that provably never reached the app is retried once on another worker (caddy's
// tryAgain): its worker's link failed while the request's frames were still in the gateway.
// One whose frames had left for the worker is not (the app may have acted on it): 502. Real workers, the
// proxy's AppDispatcher in front, the link failed in the same turn the request was given to it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { AppDispatcher } from '../../src/proxy/app-dispatcher.js';
import type { Backend, Endpoint } from '../../src/proxy/backend.js';
import { OpenWebsockets } from '../../src/proxy/open-websockets.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { withDeadline, workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans } from '../helpers/process.js';

const test = suite('retry once');
const workers: Worker[] = [];
const pids: number[] = [];
let server: http.Server | null = null;
let url = '';

test.before(async () => {
  for (let i = 0; i < 2; i++) workers.push(workerFor('faults', { threads: 2 }));
  await Promise.all(workers.map((w) => w.start(15_000)));
  for (const w of workers) pids.push(w.pid!);
  const upstreams: Endpoint[] = workers.map((w) => ({ kind: 'worker', link: w.link!, capacity: 2, requestsTimedOut: () => {} }));
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
    // Once the request has left for the worker (the link flushes on setImmediate): too late to retry.
    if (req.headers['x-fail-link'] === 'after-send') setTimeout(() => given?.link!.fail('the test cut the link'), 200);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after(async () => {
  server?.closeAllConnections();
  server?.close();
  await Promise.all(workers.map((w) => w.stop(3000)));
  await assertNoOrphans(pids);
});

test('a request whose worker failed before it was sent is answered by the other worker', async () => {
  const res = await withDeadline(request(`${url}/`, { headers: { 'x-fail-link': 'now' } }), 10_000, 'the retried request');
  const body = (await res.body.text()).trim();
  assert.is(res.statusCode, 200, body);
  const alive = workers.filter((w) => !w.link!.closed);
  assert.is(alive.length, 1, 'one link was cut');
  assert.is(Number(body), alive[0].pid, 'the answer came from the worker whose link is open');
});

test('a request that had left for its worker is not retried: 502', async () => {
  const res = await withDeadline(request(`${url}/sleep?t=2`, { headers: { 'x-fail-link': 'after-send' } }), 10_000, 'the cut after sending');
  const body = await res.body.text();
  assert.is(res.statusCode, 502, body);
  assert.match(body, /went away before it answered/);
});

test.run();
