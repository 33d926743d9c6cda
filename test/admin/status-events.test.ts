// /events clients that leave before their stream began (a page closed as it loaded, `status
// --watch` stopped at once). better-sse learns of a client's end from the response's 'close':
// one that had passed, or that came before the session started, left the session kept with its
// keep-alive timer, and the tick building a status twice a second for it, until the gateway
// stopped. Counted here on real sockets: sessions kept and the timers of this process.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startAdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { StatusEvents } from '../../src/admin/status-events.js';
import { waitFor } from '../helpers/process.js';
import { fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('admin: /events clients that leave at once');

/** This process's timers (setTimeout/setInterval) still pending. */
function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** Sends GET /events on a fresh connection; `leave`: when the client closes it. */
async function eventsClient(port: number, leave: 'at-once' | 'after-head'): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  if (leave === 'after-head') await once(socket, 'data');
  socket.destroy();
}

test('a client whose connection closed before its stream began leaves no session and no timer', async () => {
  const events = new StatusEvents({ status: async () => fakeStatus() });
  let answered = 0;
  const server = http.createServer(async (req, res) => {
    // The client is gone, and its response closed, before the stream is opened for it.
    req.socket.destroy();
    await once(res, 'close');
    await events.open(req, res, false, {});
    answered++;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as net.AddressInfo).port;
    const before = timers();
    for (let i = 0; i < 5; i++) await eventsClient(port, 'at-once');
    await waitFor(() => answered === 5, 10_000, 'the five requests to be answered');
    assert.is(events.listening, 0, 'sessions kept for clients that had gone');
    assert.is(timers(), before, 'timers left running for clients that had gone');
  } finally {
    events.close();
    server.closeAllConnections();
    server.close();
  }
});

test('the admin listener: clients that leave as they ask, or once the head came, leave no timer', async () => {
  const server = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider: fakeProvider(), metrics: new GatewayMetrics({ status: fakeStatus }) });
  try {
    const port = Number(new URL(server.url).port);
    const before = timers();
    for (let i = 0; i < 30; i++) await eventsClient(port, i % 3 === 0 ? 'after-head' : 'at-once');
    await waitFor(() => timers() <= before, 10_000, () => `the timers back to ${before} once the clients had gone, found ${timers()}`);
  } finally {
    await server.close();
  }
});

test.run();
