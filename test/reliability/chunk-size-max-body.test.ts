// A chunk-size line that announces more than the app's max_body, with what the body carried
// before it (H292): refused 413 as soon as the line is read, as nginx refuses it, and the
// connection closed, as for a Content-Length over max_body. Before, the chunk's announced
// bytes went on to the app, whose read waited for them until its `timeout` (a client could
// hold a thread with a 15-byte body). Raw bytes through the real gateway, on the lean lane and
// where node:http reads every request (APPPKG_LEAN_LANE=0), to a WSGI app and an ASGI app,
// alone and pipelined behind a request that is served. While every thread of the app is held,
// a request in its queue is refused as soon as its body is known to pass max_body (a
// Content-Length over it, or a size line, with the head or later), as nginx refuses it: it was
// answered only once a thread was free (on the lean lane, until 2026-12-07, a size line in a
// later write too: the lane read no more of a connection whose request waited; it reads on now,
// within QUEUED_BODY_BYTES of body, proxy/lean-request.ts). One past that bound (and the read
// that crossed it), or node:http's, is read, and refused, only once a thread is free: the bound
// on what a waiting client costs, pinned here too; and the same in the queue of an app waking
// from idle (its import held), whose wait holds a request as a busy app's queue does. An app
// that answers while it still reads the body (fixtures answers-while-reading, WSGI and ASGI)
// has its connection cut instead, its answer left unfinished: a 413 after a status line already sent would be a second one.
import net from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { answersUntilClose, portOf, startBothReaders, statusesOf, type BothReaders } from '../helpers/both-readers.js';
import { appStatus, gatewayStatus } from '../helpers/status.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: a chunk size past max_body');
const apps = tempDir('apppkg-rel-chunk-size-apps-');
const env = tempDir('apppkg-rel-chunk-size-env-');
let readers: BothReaders;
/** While it exists, zw's import waits (60 s at most): its wake from idle is under way and not done. */
const wakeGate = join(env.path, 'wake-gate');

/**
 * The apps' `timeout` (s): far past ANSWER_MS, so that an answer within ANSWER_MS is the
 * gateway's refusal at the size line, not the app's read giving up on bytes that never came.
 */
const TIMEOUT_S = 120;
/** How long a case waits for its answer and the close: generous for a loaded host, far under TIMEOUT_S. */
const ANSWER_MS = 15_000;

const APPS = [
  { kind: 'WSGI', mount: '/w', echo: '/w/echo' },
  { kind: 'ASGI', mount: '/a', echo: '/a/upload' },
] as const;

const gateways = (): Array<[string, RunningGateway]> => [['the lean lane', readers.lean], ['node:http', readers.node]];

const chunkedHead = (target: string): string => `POST ${target} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n`;

/**
 * Sends `bytes(app)` to each app through each reader, all at once, and gives `judge` what came
 * back: every case's problem is said together, so that a failure names each reader and app it is of.
 */
async function eachCase(bytes: (app: (typeof APPS)[number]) => string, judge: (answer: { got: string; closed: boolean }) => string | null): Promise<void> {
  const cases = gateways().flatMap(([reader, gw]) => APPS.map((app) => ({ what: `${reader}, ${app.kind}`, gw, app })));
  const answers = await Promise.all(cases.map((c) => answersUntilClose(portOf(c.gw), bytes(c.app), ANSWER_MS)));
  const problems = cases.flatMap((c, i) => {
    const problem = judge(answers[i]);
    return problem === null ? [] : [`${c.what}: ${problem}: ${JSON.stringify(answers[i].got.slice(0, 300))}`];
  });
  assert.equal(problems, []);
}

/** The last answer is a 413 that says close, and the gateway closed the connection. */
function refused(answer: { got: string; closed: boolean }): string | null {
  const last = answer.got.slice(answer.got.lastIndexOf('HTTP/1.1 '));
  if (!answer.closed) return `not closed within ${ANSWER_MS} ms`;
  if (!/^HTTP\/1\.1 413 Content Too Large\r\n/.test(last)) return 'the last answer is not a 413';
  if (!/\r\nConnection: close\r\n/i.test(last)) return 'the 413 does not say close';
  return null;
}

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'w');
  addPackage(apps.path, 'asgi-http', 'a');
  addPackage(apps.path, 'rel-rfc-echo', 'q');
  addPackage(apps.path, 'rel-rfc-echo', 'qb');
  addPackage(apps.path, 'answers-while-reading', 'e');
  addPackage(apps.path, 'answers-while-reading-asgi', 'ea');
  writePackage(apps.path, 'zw', {
    'app.yaml': 'platform: python, wsgi\napp: gated:application\n',
    'gated.py': [
      'import os, time',
      '',
      'deadline = time.monotonic() + 60',
      `while os.path.exists(${JSON.stringify(wakeGate)}) and time.monotonic() < deadline:`,
      '    time.sleep(0.05)',
      '',
      '',
      'def application(environ, start_response):',
      '    body = environ["wsgi.input"].read()',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [str(len(body)).encode()]',
      '',
    ].join('\n'),
  });
  const envFile = join(env.path, 'environment.yaml');
  writeFileSync(envFile, ['apps:', `  w: {max_body: 1KB, timeout: ${TIMEOUT_S}}`, `  a: {max_body: 1KB, timeout: ${TIMEOUT_S}}`, `  q: {workers: 1, threads: 1, max_body: 1KB, timeout: ${TIMEOUT_S}}`, `  qb: {workers: 1, threads: 1, max_body: 1MB, timeout: ${TIMEOUT_S}}`, `  e: {max_body: 1KB, timeout: ${TIMEOUT_S}}`, `  ea: {max_body: 1KB, timeout: ${TIMEOUT_S}}`, `  zw: {workers: 1, threads: 1, idle_timeout: 1, max_body: 1MB, timeout: ${TIMEOUT_S}, start_timeout: ${TIMEOUT_S}}`, ''].join('\n'));
  readers = await startBothReaders(apps, ['--access-log', 'off', '--environment', envFile]);
  for (const gw of [readers.lean, readers.node]) {
    await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready' || a.state === 'idle'), 60_000, 'the echo apps to serve (zw may be asleep already)');
  }
});

test.after(async () => {
  await readers?.stop();
  env.remove();
});

test('a first chunk announcing 268 MB (max_body 1 KB), 5 bytes of it sent: 413 at its size line, closed', async () => {
  await eachCase((app) => `${chunkedHead(app.echo)}fffffff\r\nhello`, refused);
});

test('a size line that passes max_body only with the chunks before it (768 bytes, then 512 announced): 413 at that line, closed', async () => {
  const first = `300\r\n${'y'.repeat(0x300)}\r\n`;
  await eachCase((app) => `${chunkedHead(app.echo)}${first}200\r\nx`, refused);
});

test('a size line that comes after its request reached the app (a later write): 413 then, closed, the app\'s read cut off', async () => {
  const first = `300\r\n${'y'.repeat(0x300)}\r\n`;
  for (const [reader, gw] of gateways()) {
    for (const app of APPS) {
      const what = `${reader}, ${app.kind}`;
      const name = app.mount.slice(1);
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        socket.write(`${chunkedHead(app.echo)}${first}`);
        await waitFor(async () => (await appStatus(gw, name)).inFlight === 1, ANSWER_MS, `${what}: the request in the app`);
        socket.write('200\r\nx');
        try {
          await waitFor(() => seen.closed, ANSWER_MS);
        } catch {
          // Said below.
        }
        assert.is(refused(seen), null, `${what}: ${JSON.stringify(seen.got)}`);
        await waitFor(async () => (await appStatus(gw, name)).inFlight === 0, ANSWER_MS, `${what}: the app's read cut off`);
      } finally {
        socket.destroy();
      }
    }
  }
});

test('pipelined behind a request that is served: that one answered 200, the chunked one 413 at its size line, closed', async () => {
  const served = (app: (typeof APPS)[number]): string => `POST ${app.echo} HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nfirst`;
  await eachCase(
    (app) => `${served(app)}${chunkedHead(app.echo)}fffffff\r\nhello`,
    (answer) => (statusesOf(answer.got).join() !== '200,413' ? `answers ${statusesOf(answer.got).join()}, not 200 then 413` : refused(answer)),
  );
});

test('a chunked body whose sizes stay within max_body is served whole (the bound is the sum, not any one line)', async () => {
  const chunk = `200\r\n${'z'.repeat(0x200)}\r\n`; // 512 + 512: max_body exactly
  await eachCase(
    (app) => `${chunkedHead(app.echo).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}${chunk}${chunk}0\r\n\r\n`,
    (answer) => (statusesOf(answer.got).join() === '200' && answer.closed ? null : 'not one 200, then the close'),
  );
});

test('a size line past max_body after the app began its answer (it streams, then reads the body): the connection is cut, the answer left unfinished, never a second status line', async () => {
  const problems: string[] = [];
  for (const [reader, gw] of gateways()) {
    for (const [kind, target] of [['WSGI', '/e/upload'], ['ASGI', '/ea/upload']]) {
      const what = `${reader}, ${kind}`;
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        socket.write(`${chunkedHead(target)}5\r\nhello\r\n`);
        await waitFor(() => seen.got.includes('begun') || seen.closed, ANSWER_MS, `${what}: the app's first piece`);
        socket.write('fffffff\r\nx');
        const answer = await closedAnswer(seen);
        const wrong: string[] = [];
        if (!answer.closed) wrong.push(`not closed within ${ANSWER_MS} ms`);
        if (statusesOf(answer.got).join() !== '200') wrong.push(`status lines ${statusesOf(answer.got).join()}, not the 200 alone`);
        // Chunked: an answer that looks complete ends with the last chunk; this one must not.
        if (answer.got.endsWith('0\r\n\r\n') || answer.got.includes('read ')) wrong.push('the answer looks complete');
        if (wrong.length > 0) problems.push(`${what}: ${wrong.join('; ')}: ${JSON.stringify(answer.got)}`);
      } finally {
        socket.destroy();
      }
    }
  }
  assert.equal(problems, []);
});

/** Each holds q's one thread, or a place in its queue, with a body not all sent (within max_body). */
const HOLDERS = 24; // past its thread and the 16 the gateway sends ahead to a worker (upstream.ts PIPELINE_DEPTH)

/**
 * `use` runs while every thread of `app` (q unless said) is held and its queue holds the rest
 * of HOLDERS, through `gw`; then the holders leave. `queued()` says how many wait for its thread now.
 */
async function whileQHeld(reader: string, gw: RunningGateway, use: (queued: () => Promise<number>) => Promise<void>, app = 'q'): Promise<void> {
  const holders = Array.from({ length: HOLDERS }, () => net.connect(portOf(gw), '127.0.0.1'));
  try {
    for (const h of holders) {
      h.on('error', () => {});
      h.write(`${chunkedHead(`/${app}/echo`)}5\r\nhel`);
    }
    const queued = async (): Promise<number> => (await appStatus(gw, app)).queued;
    await waitFor(async () => (await queued()) === HOLDERS - 1, ANSWER_MS, `${reader}: ${HOLDERS - 1} holders waiting behind the one on ${app}'s thread`);
    await use(queued);
  } finally {
    for (const h of holders) h.destroy();
  }
}

/** `socket`'s answer once the gateway closed it, or after ANSWER_MS. */
async function closedAnswer(seen: { got: string; closed: boolean }): Promise<{ got: string; closed: boolean }> {
  try {
    await waitFor(() => seen.closed, ANSWER_MS);
  } catch {
    // Said by the caller, from `closed`.
  }
  return seen;
}

test('one whose size line came with its head while every thread of the app was held: 413 then, not once a thread is free; closed, never given to the app', async () => {
  for (const [reader, gw] of gateways()) {
    await whileQHeld(reader, gw, async (queued) => {
      const socket = net.connect(portOf(gw), '127.0.0.1');
      try {
        const seen = recorded(socket);
        socket.write(`${chunkedHead('/q/echo')}fffffff\r\nhello`);
        assert.is(refused(await closedAnswer(seen)), null, `${reader}, every thread held: ${JSON.stringify(seen.got)}`);
        assert.is(await queued(), HOLDERS - 1, `${reader}: the refused request waits no more`);
      } finally {
        socket.destroy();
      }
    });
  }
});

test('one whose size line past max_body comes in a later write while it waits in the app\'s queue: refused then by both readers (the lane reads on, within QUEUED_BODY_BYTES, while its request waits), not once a thread is free; 413, closed', async () => {
  for (const [reader, gw] of gateways()) {
    await whileQHeld(reader, gw, async (queued) => {
      const socket = net.connect(portOf(gw), '127.0.0.1');
      const seen = recorded(socket);
      try {
        socket.write(`${chunkedHead('/q/echo')}5\r\nhel`);
        await waitFor(async () => (await queued()) === HOLDERS, ANSWER_MS, `${reader}: the request waiting in q's queue`);
        socket.write('lo\r\nfffffff\r\nx');
        assert.is(refused(await closedAnswer(seen)), null, `${reader}, every thread held: ${JSON.stringify(seen.got)}`);
        assert.is(await queued(), HOLDERS - 1, `${reader}: the refused request waits no more`);
      } finally {
        socket.destroy();
      }
    });
  }
});

/**
 * 256 KiB of body in 4 KiB chunks: past what either reader holds of a request waiting in the
 * queue, the read that takes its held body past a bound (the lane's QUEUED_BODY_BYTES, 16 KiB,
 * reads of up to 128 KiB; node:http's Readable's highWaterMark, 16 KiB on Node 20 and 64 KiB
 * from Node 22, reads of 64 KiB), within qb's max_body.
 */
const PAST_HELD = `1000\r\n${'y'.repeat(0x1000)}\r\n`.repeat(64);
/** How long a waiting request is watched for a refusal it must not get: far past a read of bytes already sent on loopback. */
const WATCH_MS = 1000;

test('one whose size line past max_body comes, while it waits in the app\'s queue, after more of its body than a waiting request may hold (QUEUED_BODY_BYTES, 16 KiB, and the read that passed it, on the lane): not read while it waits, so refused only once a thread is free, 413 then, closed (the bound on what a queued client costs, docs/architecture.md)', async () => {
  for (const [reader, gw] of gateways()) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await whileQHeld(
        reader,
        gw,
        async (queued) => {
          socket.write(`${chunkedHead('/qb/echo')}5\r\nhel`);
          await waitFor(async () => (await queued()) === HOLDERS, ANSWER_MS, `${reader}: the request waiting in qb's queue`);
          socket.write(`lo\r\n${PAST_HELD}fffffff\r\nx`);
          await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
          assert.equal([seen.got, seen.closed, await queued()], ['', false, HOLDERS], `${reader}: answered while it waited, its size line read past what a waiting request may hold`);
        },
        'qb',
      );
      assert.is(refused(await closedAnswer(seen)), null, `${reader}, qb's thread free: ${JSON.stringify(seen.got.slice(0, 300))}`);
    } finally {
      socket.destroy();
    }
  }
});

/**
 * `use` runs while zw wakes from idle on `gw` for a chunked request it sends (its first size line
 * wakes it), its import held at wakeGate: that request waits in zw's queue as one waiting for a
 * thread does. The gate is gone once `use` returns; what `use` leaves is answered by then.
 */
async function whileZwWakes(reader: string, gw: RunningGateway, socket: net.Socket, use: (queued: () => Promise<number>) => Promise<void>): Promise<void> {
  await waitFor(async () => {
    const zw = await appStatus(gw, 'zw');
    return zw.state === 'idle' && zw.workers.length === 0;
  }, 60_000, `${reader}: zw asleep`);
  writeFileSync(wakeGate, '');
  try {
    socket.write(`${chunkedHead('/zw/')}5\r\nhel`);
    const queued = async (): Promise<number> => (await appStatus(gw, 'zw')).queued;
    await waitFor(async () => (await appStatus(gw, 'zw')).state === 'waking' && (await queued()) === 1, ANSWER_MS, `${reader}: zw waking, the request in its queue`);
    await use(queued);
  } finally {
    rmSync(wakeGate, { force: true });
  }
}

// The queue of an app waking from idle holds a request as the queue of an app whose threads are
// busy does: its chunked body's size lines are judged as they arrive, within what a waiting
// request may hold (QUEUED_BODY_BYTES), and one past that is read only once a worker takes it.
test('while the app wakes from idle: a size line past max_body in a later write is refused then by both readers, the app still waking; 413, closed', async () => {
  for (const [reader, gw] of gateways()) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await whileZwWakes(reader, gw, socket, async (queued) => {
        socket.write('lo\r\nfffffff\r\nx');
        assert.is(refused(await closedAnswer(seen)), null, `${reader}, zw waking: ${JSON.stringify(seen.got)}`);
        assert.equal([(await appStatus(gw, 'zw')).state, await queued()], ['waking', 0], `${reader}: refused while zw still wakes`);
      });
    } finally {
      socket.destroy();
    }
  }
});

test('while the app wakes from idle: a size line past max_body after more body than a waiting request may hold is not read while it waits (that would hold the body before it, up to max_body), so it is refused once the woken worker takes the request; 413, closed', async () => {
  for (const [reader, gw] of gateways()) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await whileZwWakes(reader, gw, socket, async (queued) => {
        socket.write(`lo\r\n${PAST_HELD}fffffff\r\nx`);
        await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
        assert.equal([seen.got, seen.closed, await queued()], ['', false, 1], `${reader}: answered while zw woke, its size line read past what a waiting request may hold`);
      });
      assert.is(refused(await closedAnswer(seen)), null, `${reader}, zw awake: ${JSON.stringify(seen.got.slice(0, 300))}`);
    } finally {
      socket.destroy();
    }
  }
});

test('a Content-Length over max_body while every thread of the app is held: 413 at once, never queued, closed; the request pipelined behind it is never run', async () => {
  const tooLarge = `POST /q/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\n\r\n${'b'.repeat(2048)}`;
  const behind = 'GET /q/echo?behind HTTP/1.1\r\nHost: h\r\n\r\n';
  for (const [reader, gw] of gateways()) {
    await whileQHeld(reader, gw, async (queued) => {
      const socket = net.connect(portOf(gw), '127.0.0.1');
      try {
        const seen = recorded(socket);
        socket.write(tooLarge + behind);
        const answer = await closedAnswer(seen);
        assert.is(refused(answer), null, `${reader}, every thread held: ${JSON.stringify(answer.got.slice(0, 300))}`);
        assert.equal(statusesOf(answer.got), [413], `${reader}: the 413 alone`);
        assert.is(await queued(), HOLDERS - 1, `${reader}: nothing of that connection waits`);
      } finally {
        socket.destroy();
      }
    });
  }
});

test.run();
