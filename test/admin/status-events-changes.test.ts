// /events sends what changed (docs/admin.md, "The event stream"): with 300 apps the whole status
// is ~580 KB, and it went to every page and `status --watch` at each change, built for each.
// Here, on real sockets: the whole status first, then for one app of 50 changed an event a
// small part of it; an app removed and one added; the status built once per tick per access
// level however many listen; and a client that stops reading is not sent every tick's event.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { StatusEvents } from '../../src/admin/status-events.js';
import { applyStatusEvent, type StatusPatch } from '../../src/admin/status-patch.js';
import type { AppStatus, GatewayStatus } from '../../src/admin/status-types.js';
import { sseParser } from '../../src/cli/admin-client.js';
import { waitFor } from '../helpers/process.js';
import { fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('admin: /events sends what changed');

interface Got {
  event: string;
  data: string;
}

/** An /events client: the events as they come; close() ends it. */
function listen(url: string): { events: Got[]; close(): void } {
  const events: Got[] = [];
  const req = http.get(url, (res) => {
    assert.is(res.statusCode, 200);
    res.on('data', sseParser((event, data) => events.push({ event, data })));
    res.on('error', () => {});
  });
  req.on('error', () => {});
  return { events, close: () => req.destroy() };
}

function app(name: string, requests = 0): AppStatus {
  return { ...fakeStatus().apps[0], name, mount: `/${name}`, requests };
}

const opened: Array<{ close(): unknown }> = [];
test.after.each(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

test('of 50 apps one changes: the next event is that app alone, a small part of the first; removed and added apps follow', async () => {
  let apps = Array.from({ length: 50 }, (_, i) => app(`app${String(i).padStart(2, '0')}`));
  const provider = { ...fakeProvider(), status: (): GatewayStatus => ({ ...fakeStatus(), apps: apps.map((a) => ({ ...a })) }) };
  const server: AdminServer = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider, metrics: new GatewayMetrics({ processMetrics: false }) });
  opened.push(server);
  const client = listen(`${server.url}/events`);
  opened.push(client);
  let held: GatewayStatus | null = null;
  let seen = 0;
  /** The next event (after those seen), applied to the client's copy. */
  const next = async (what: string): Promise<Got> => {
    await waitFor(() => client.events.length > seen, 10_000, what);
    const got = client.events[seen++];
    held = applyStatusEvent(held, got.event, got.data);
    return got;
  };
  const asServed = async (): Promise<unknown> => {
    const res = await fetch(`${server.url}/status`);
    return res.json();
  };

  const first = await next('the first event');
  assert.is(first.event, 'status');
  assert.equal(JSON.parse(first.data), await asServed(), 'the whole status, as /status has it');

  apps[7] = { ...apps[7], requests: 1 };
  const one = await next('the event for app07');
  assert.is(one.event, 'apps');
  const patch = JSON.parse(one.data) as StatusPatch;
  assert.equal(patch.apps?.map((a) => a.name), ['app07']);
  assert.equal(Object.keys(patch).sort(), ['apps', 'now']);
  // The whole status is 50 apps' entries; this, one: under a tenth with room to spare.
  assert.ok(Buffer.byteLength(one.data) * 10 < Buffer.byteLength(first.data), `${Buffer.byteLength(one.data)} bytes for one app, ${Buffer.byteLength(first.data)} for the whole status`);
  assert.equal(held, await asServed());

  apps = apps.filter((a) => a.name !== 'app20');
  const gone = JSON.parse((await next('the event for app20 gone')).data) as StatusPatch;
  assert.equal(gone.removed, ['app20']);
  assert.is(gone.apps, undefined);
  assert.equal(held, await asServed());

  apps.splice(3, 0, app('app03b', 9));
  const came = JSON.parse((await next('the event for app03b')).data) as StatusPatch;
  assert.equal(came.apps?.map((a) => a.name), ['app03b']);
  assert.is(came.order?.[3], 'app03b');
  assert.equal(held, await asServed());
  assert.is(held!.apps.length, 50);
  assert.is(client.events.length, seen, 'no event but for a change');

  // A new stream (a reconnect) starts whole again.
  const again = listen(`${server.url}/events`);
  opened.push(again);
  await waitFor(() => again.events.length > 0, 10_000, 'the second stream\'s first event');
  assert.is(again.events[0].event, 'status');
  assert.equal(JSON.parse(again.events[0].data), await asServed());
});

test('the status is built once per tick per access level, however many listen; each level is sent its own', async () => {
  const built = { true: 0, false: 0 };
  const events = new StatusEvents({
    status: async (logs) => {
      // Each build differs (app00's count is the builds of its level): every tick sends.
      const n = ++built[String(logs) as 'true' | 'false'];
      const status = { ...fakeStatus(), apps: [app('app00', n), app('app01')] };
      if (!logs) for (const a of status.apps) a.log = { ...a.log, lines: null };
      return status;
    },
  });
  const server = http.createServer((req, res) => void events.open(req, res, req.url === '/events?logs', { access: { act: true, logs: req.url === '/events?logs', why: null } }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  opened.push({ close: () => (events.close(), server.closeAllConnections(), server.close()) });
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const withLogs = [0, 1, 2].map(() => listen(`${base}/events?logs`));
  const without = [0, 1].map(() => listen(`${base}/events`));
  const all = [...withLogs, ...without];
  opened.push(...all);
  await waitFor(() => all.every((c) => c.events.length > 0), 10_000, 'every stream\'s first event');
  const from = { ...built, events: withLogs[0].events.length };
  await waitFor(() => withLogs[0].events.length >= from.events + 6, 20_000, 'six events more');
  const events0 = withLogs[0].events.length - from.events;
  // One build per level per tick (a tick under way at either end aside); per listener it was 3 and 2.
  assert.ok(built.true - from.true <= events0 + 2, `${built.true - from.true} builds with logs for ${events0} events`);
  assert.ok(built.false - from.false <= events0 + 2, `${built.false - from.false} builds without logs for ${events0} events`);
  for (const c of withLogs) for (const e of c.events.slice(1)) assert.ok((JSON.parse(e.data) as StatusPatch).apps!.every((a) => a.log.lines !== null));
  for (const c of without) {
    assert.is(JSON.parse(c.events[0].data).access.logs, false);
    for (const e of c.events) assert.ok((JSON.parse(e.data) as StatusPatch).apps!.every((a) => a.log.lines === null), 'no log lines where logs may not be read');
  }
});

test('a client that stops reading is not sent every tick\'s change: once it reads again, one event brings it up to date', async () => {
  // Every app changes at every build: each event is about the whole status's size (~1.5 MB).
  let builds = 0;
  const status = (): GatewayStatus => {
    builds++;
    return { ...fakeStatus(), apps: Array.from({ length: 600 }, (_, i) => app(`app${i}`, 100_000 + builds)) };
  };
  const server = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider: { ...fakeProvider(), status }, metrics: new GatewayMetrics({ processMetrics: false }) });
  opened.push(server);
  const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
  opened.push({ close: () => socket.destroy() });
  await once(socket, 'connect');
  let received = 0;
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    text = (text + chunk.toString('latin1')).slice(-4096);
  });
  socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await waitFor(() => received > 1_000_000, 20_000, 'the first event');
  const eventBytes = received;
  socket.pause();
  const paused = { builds, received };
  // While it reads nothing, the gateway goes on building (a tick every half second).
  await waitFor(() => builds >= paused.builds + 24, 60_000, 'two dozen ticks more');
  const during = builds - paused.builds;
  socket.resume();
  const latest = (): number => Math.max(0, ...[...text.matchAll(/"requests":1(\d{5})/g)].map((m) => Number(m[1])));
  await waitFor(() => latest() >= paused.builds + during, 30_000, () => `an event of a build after the pause, the latest seen ${latest()}`);
  const sent = received - paused.received;
  // Every tick's event queued for it would be `during` events of ~eventBytes; what the kernel's
  // socket buffers held while it was paused (a few MB), then an event or two, is far less.
  assert.ok(sent < (during * eventBytes) / 2, `${(sent / 1e6).toFixed(1)} MB sent for ${during} ticks of ${(eventBytes / 1e6).toFixed(1)} MB each`);
});

test.run();
