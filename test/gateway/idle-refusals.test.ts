// A request to an app asleep (idle_timeout, SPEC 5.6) that the gateway refuses without the app
// does not wake it: a refusal must not cost a cold start, nor start workers that would serve
// nobody (its --max-workers room, the apps put to sleep to make it). Raw bytes through the real
// gateway, on the lean lane and where node:http reads every request (APPPKG_LEAN_LANE=0), to a
// sleeping WSGI app: a chunked body whose first size line, in the head's own write, passes
// max_body (the lane took the request before it read that line, and woke the app, until
// 2026-12-07), or in a later write (both readers woke the app at the head, until 2026-12-07 (H325):
// the wake waits for the first size line now, unless the client waits for 100 Continue), a Content-Length past it, a websocket handshake to WSGI workers (501), one to
// an ASGI app that the websocket module refuses (405, 400: the same bytes as awake), a path
// with %00 and a trusted proxy's X-Forwarded-Host that names no host (400s the way to a worker
// gives), and refusals of the head itself (400, 414, 431). After each the app is still asleep:
// status says idle, no worker, no cold start more.
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { portOf, startBothReaders, statusesOf, withoutDates, type BothReaders } from '../helpers/both-readers.js';
import { appStatus } from '../helpers/status.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('an idle app is not woken to refuse a request');
const apps = tempDir('apppkg-idle-refusals-apps-');
const env = tempDir('apppkg-idle-refusals-env-');
let readers: BothReaders;

/** How long a case waits for its answer, and the app for its sleep: generous for a loaded host. */
const ANSWER_MS = 15_000;
const SLEEP_MS = 60_000;
/** `late`'s start_timeout: what waits for its wake is bounded by it and 3 s (within ANSWER_MS), as for a start, when its `timeout` is shorter. */
const LATE_START_S = 8;

const gateways = (): Array<[string, RunningGateway]> => [['the lean lane', readers.lean], ['node:http', readers.node]];

/** What the app's row in status says of its sleep. */
async function sleepOf(gw: RunningGateway, name = 'nap'): Promise<{ state: string; workers: number; coldStarts: number }> {
  const app = await appStatus(gw, name);
  return { state: app.state, workers: app.workers.length, coldStarts: app.idle.coldStarts };
}

/**
 * The answer to `bytes` on a connection of its own: what came once a whole head is in and the
 * gateway closed, or ANSWER_MS passed. Given in pieces, each after the one before was read: the
 * head taken as a request (it waits in the app's queue: asleep, or waking, nothing serves it),
 * the rest in a later write than the head.
 */
async function answerTo(gw: RunningGateway, bytes: string | string[], name = 'nap'): Promise<string> {
  const pieces = typeof bytes === 'string' ? [bytes] : bytes;
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const seen = recorded(socket);
  try {
    for (const [i, piece] of pieces.entries()) {
      if (i > 0) await waitFor(async () => (await appStatus(gw, name)).queued === 1, ANSWER_MS, `the head of ${JSON.stringify(pieces[0])} waiting in ${name}'s queue`);
      socket.write(Buffer.from(piece, 'latin1'));
    }
    await waitFor(() => seen.closed || /\r\n\r\n/.test(seen.got), ANSWER_MS).catch(() => {});
    return seen.got;
  } finally {
    socket.destroy();
  }
}

/** Waits (SLEEP_MS at most) for `name` to be asleep, with no worker; what status says then. */
async function asleep(gw: RunningGateway, name: string, what: string): Promise<{ state: string; workers: number; coldStarts: number }> {
  return waitFor(async () => {
    const now = await sleepOf(gw, name);
    return now.state === 'idle' && now.workers === 0 && now;
  }, SLEEP_MS, `${what}: ${name} asleep`);
}

/**
 * Sends `bytes` to the sleeping app `name` through each reader: the answer must be `status`, and the
 * app still asleep after it. An app woken is put back to sleep before the next reader, so that
 * each case says what it did; every problem is said together.
 */
async function refusedAsleep(bytes: string | string[], status: number, name = 'nap'): Promise<void> {
  const problems: string[] = [];
  for (const [reader, gw] of gateways()) {
    const before = await asleep(gw, name, reader);
    const got = await answerTo(gw, bytes, name);
    const after = await sleepOf(gw, name);
    if (statusesOf(got).join() !== String(status)) problems.push(`${reader}: answered ${statusesOf(got).join() || 'nothing'}, not ${status}: ${JSON.stringify(got.slice(0, 200))}`);
    if (after.state !== 'idle' || after.workers !== 0 || after.coldStarts !== before.coldStarts) problems.push(`${reader}: woken (${JSON.stringify(after)})`);
  }
  assert.equal(problems, []);
}

test.before(async () => {
  addPackage(apps.path, 'environ', 'nap');
  addPackage(apps.path, 'environ', 'late');
  addPackage(apps.path, 'asgi-ws', 'chat');
  const envFile = join(env.path, 'environment.yaml');
  writeFileSync(envFile, ['apps:', '  nap: {idle_timeout: 1, workers: 1, max_body: 1KB}', '  chat: {idle_timeout: 1, workers: 1}', `  late: {idle_timeout: 1, workers: 1, max_body: 1KB, timeout: 2, start_timeout: ${LATE_START_S}}`, ''].join('\n'));
  readers = await startBothReaders(apps, ['--access-log', 'off', '--environment', envFile, '--trust-proxy=loopback']);
});

test.after(async () => {
  await readers?.stop();
  env.remove();
});

test('a chunked POST whose first size line, in the head\'s own write, passes max_body: 413, the app still asleep', async () => {
  await refusedAsleep('POST /nap/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nhello', 413);
});

test('a chunked POST whose first size line, in a later write than the head, passes max_body: 413, the app still asleep (it was woken for its 413)', async () => {
  await refusedAsleep(['POST /nap/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n', 'fffffff\r\nhello'], 413);
});

test('a chunked POST whose first size line comes in a later write and is within max_body wakes the app and is served; so is an empty one (its one size line announces 0)', async () => {
  for (const body of ['5\r\nhello\r\n0\r\n\r\n', '0\r\n\r\n']) {
    for (const [reader, gw] of gateways()) {
      const what = `${reader}, ${JSON.stringify(body)}`;
      await asleep(gw, 'nap', what);
      const before = await sleepOf(gw);
      const got = await answerTo(gw, ['POST /nap/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', body]);
      assert.equal(statusesOf(got), [200], `${what}: ${JSON.stringify(got.slice(0, 200))}`);
      assert.is((await sleepOf(gw)).coldStarts, before.coldStarts + 1, `${what}: one cold start`);
    }
  }
});

test('a chunked POST that waits for 100 Continue (no size line comes before the app reads) wakes the app at its head, which answers it', async () => {
  for (const [reader, gw] of gateways()) {
    await asleep(gw, 'nap', reader);
    const before = await sleepOf(gw);
    // The app (environ) answers without reading the body: its client never needs to send one.
    const got = await answerTo(gw, 'POST /nap/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    assert.equal(statusesOf(got), [200], `${reader}: ${JSON.stringify(got.slice(0, 200))}`);
    assert.is((await sleepOf(gw)).coldStarts, before.coldStarts + 1, `${reader}: one cold start`);
  }
});

test('a chunked POST whose body never begins (no size line) is answered 408 at the wait\'s bound, the app still asleep (it was 503, the app said to be starting from idle while nothing started it)', async () => {
  await refusedAsleep('POST /late/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n', 408, 'late');
});

test('a chunked POST whose size lines pass max_body only together, in the head\'s own write: 413, the app still asleep', async () => {
  await refusedAsleep(`POST /nap/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n300\r\n${'y'.repeat(0x300)}\r\n200\r\nx`, 413);
});

test('a Content-Length past max_body: 413, the app still asleep', async () => {
  await refusedAsleep(`POST /nap/ HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\n\r\n${'b'.repeat(2048)}`, 413);
});

test('a websocket handshake to the WSGI workers, which take none: 501, the app still asleep', async () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  await refusedAsleep(`GET /nap/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`, 501);
});

test('a websocket handshake to an ASGI app with a trusted proxy\'s X-Forwarded-Host that names no host: 400, the app still asleep', async () => {
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  await refusedAsleep(`GET /chat/ws HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: x::\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`, 400, 'chat');
});

test('a websocket handshake to an ASGI app that the websocket module refuses (not a GET, 405; no valid key, an unknown version, a subprotocol list it cannot parse, 400): the same answer as awake, the app still asleep', async () => {
  const handshake = (method: string, fields: string): string => `${method} /chat/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n${fields}\r\n`;
  const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  const cases: Array<[string, number]> = [
    [handshake('POST', `Upgrade: websocket\r\n${key}Sec-WebSocket-Version: 13\r\n`), 405],
    [handshake('GET', 'Upgrade: websocket\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n'), 400],
    [handshake('GET', `Upgrade: websocket\r\n${key}Sec-WebSocket-Version: 12\r\n`), 400],
    // A subprotocol list ws's parser refuses (an empty element): woken for ws's 400 until 2026-12-07.
    [handshake('GET', `Upgrade: websocket\r\n${key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a,,b\r\n`), 400],
  ];
  const asleep: string[] = [];
  for (const [bytes, status] of cases) {
    await refusedAsleep(bytes, status, 'chat');
    asleep.push(withoutDates(await answerTo(readers.lean, bytes)));
  }
  // Awake (a websocket open keeps it so), ws itself refuses them: the gateway's words for its refusal are the same.
  const open = await openSocket(`${readers.lean.url.replace(/^http/, 'ws')}/chat/echo`, { ms: SLEEP_MS });
  try {
    const awake: string[] = [];
    for (const [bytes] of cases) awake.push(withoutDates(await answerTo(readers.lean, bytes)));
    assert.is((await sleepOf(readers.lean, 'chat')).state, 'ready', 'chat awake throughout');
    assert.equal(asleep, awake);
  } finally {
    open.ws.close();
    await open.closed(ANSWER_MS);
  }
});

test('a path with %00, which no worker can be given: 400, the app still asleep', async () => {
  await refusedAsleep('GET /nap/a%00b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', 400);
});

test('a trusted proxy\'s X-Forwarded-Host that names no host: 400, the app still asleep', async () => {
  await refusedAsleep('GET /nap/ HTTP/1.1\r\nHost: h\r\nX-Forwarded-Host: a.example, x::\r\nConnection: close\r\n\r\n', 400);
});

test('a head refused whatever its target (two Hosts, 400; a request line past 16 KiB, 414; a field past the head\'s bound, 431): the app still asleep', async () => {
  await refusedAsleep('GET /nap/ HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n', 400);
  await refusedAsleep(`GET /nap/${'a'.repeat(17 * 1024)} HTTP/1.1\r\nHost: h\r\n\r\n`, 414);
  await refusedAsleep(`GET /nap/ HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`, 431);
});

test('a request the app serves still wakes it (the refusals above are not a sleep that never ends)', async () => {
  for (const [reader, gw] of gateways()) {
    const before = await sleepOf(gw);
    const got = await answerTo(gw, 'GET /nap/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    assert.equal(statusesOf(got), [200], `${reader}: ${JSON.stringify(got.slice(0, 200))}`);
    assert.is((await sleepOf(gw)).coldStarts, before.coldStarts + 1, `${reader}: one cold start`);
  }
});

test.run();
