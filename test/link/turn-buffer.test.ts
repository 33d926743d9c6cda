// The link's turn buffer (src/link/turn-buffer.ts) is written again turn after turn, but only
// once the socket is done with the bytes it holds: requests staged while earlier ones are still
// on their way to a worker that reads nothing (stopped: the kernel's buffer full, the rest
// pending in Node) must each reach the app as their client sent them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { forwardWsgi } from '../../src/proxy/forward-wsgi.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans, recorded, waitFor } from '../helpers/process.js';

const test = suite('link turn buffer');
let worker: Worker | null = null;
let server: http.Server | null = null;
let port = 0;
let received = 0;

test.before(async () => {
  // No heartbeat verdict while the worker is stopped on purpose.
  worker = workerFor('faults', { threads: 8, heartbeatMs: 60_000 });
  await worker.start(15_000);
  server = http.createServer((req, res) => {
    received++;
    void forwardWsgi(worker!.link!, req, res, routeFromRequest(req, '', null)!);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

test.after(async () => {
  const pids = worker?.pid ? [worker.pid] : [];
  if (worker?.pid) process.kill(worker.pid, 'SIGCONT');
  server?.closeAllConnections();
  server?.close();
  await worker?.stop(3000);
  await assertNoOrphans(pids);
});

const METHODS = ['GET', 'DELETE', 'OPTIONS', 'PUT'];
const CLIENTS = 96;
/** ~6 KiB of header a request: 96 of them are more than a socketpair's kernel buffer holds. */
const fieldOf = (i: number): string => `${i}-${'abcdefghijklmnop'[i % 16].repeat(6000)}`;

test('requests from many clients, staged while the worker reads none, each reach the app with their own method, path and headers', async () => {
  const pid = worker!.pid!;
  received = 0;
  const sockets: net.Socket[] = [];
  const seen: Array<ReturnType<typeof recorded>> = [];
  process.kill(pid, 'SIGSTOP');
  try {
    // In waves, so that the requests are written to the link over many turns, most of them
    // after the kernel's buffer filled.
    for (let wave = 0; wave < CLIENTS / 8; wave++) {
      for (let i = wave * 8; i < wave * 8 + 8; i++) {
        const socket = net.connect(port, '127.0.0.1');
        sockets.push(socket);
        seen.push(recorded(socket));
        socket.write(`${METHODS[i % 4]} /env?client=${i} HTTP/1.1\r\nHost: c${i}.test\r\nX-Client: ${fieldOf(i)}\r\nConnection: close\r\n\r\n`);
      }
      const until = (wave + 1) * 8;
      await waitFor(() => received >= until, 10_000, `the server to read ${until} requests`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  try {
    await waitFor(() => seen.every((one) => one.closed), 20_000, 'every answer');
    for (let i = 0; i < CLIENTS; i++) {
      const answer = seen[i].got;
      assert.match(answer, /^HTTP\/1\.1 200 /, `client ${i}: ${answer.slice(0, 200)}`);
      const environ = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
      assert.is(environ.REQUEST_METHOD, METHODS[i % 4], `client ${i}'s method`);
      assert.is(environ.PATH_INFO, '/env');
      assert.is(environ.QUERY_STRING, `client=${i}`, `client ${i}'s query`);
      assert.is(environ.HTTP_HOST, `c${i}.test`, `client ${i}'s host`);
      assert.ok(environ.HTTP_X_CLIENT === fieldOf(i), `client ${i}'s X-Client`);
    }
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});

test.run();
