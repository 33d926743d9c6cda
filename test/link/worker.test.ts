// Worker: spawn, READY, import failures (exit 4 and the marker line), the start deadline,
// graceful and forced stop, a worker dying mid-request, concurrency on one worker, the link's fds.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError, type GatewayError } from '../../src/errors.js';
import { checkAppImport } from '../../src/link/check-app.js';
import { Frame, encodeEmptyFrame, encodeFrame, frameHeader } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import { Worker } from '../../src/supervisor/worker.js';
import { waitFor } from '../helpers/process.js';
import { RawExchange, fixtureApp, get, requestLine, startLinkHarness, waitGone, withDeadline, workerFor } from '../helpers/link-harness.js';

const t = suite<{ stops: Array<() => Promise<void>> }>('worker');
t.before.each((ctx) => {
  ctx.stops = [];
});
t.after.each(async (ctx) => {
  for (const stop of ctx.stops) await stop();
});

async function startError(worker: Worker, ms = 15_000): Promise<GatewayError> {
  try {
    await worker.start(ms);
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    return err as GatewayError;
  }
  await worker.stop(1000);
  throw new Error('start() resolved; expected a rejection');
}

t('start resolves on READY with the pid and the Python version; stop exits 0', async () => {
  const worker = workerFor('link-bench', { threads: 3 });
  await worker.start(15_000);
  try {
    assert.is(worker.state, 'ready');
    assert.is(typeof worker.pid, 'number');
    assert.is(worker.readyInfo?.pid, worker.pid);
    assert.match(worker.readyInfo?.python ?? '', /^3\.\d+\.\d+/);
    assert.is(worker.capacity, 3);
    assert.is(worker.inFlight, 0);
    assert.ok(worker.available);
  } finally {
    const exits: unknown[] = [];
    worker.on('exit', (code, signal) => exits.push([code, signal]));
    await worker.stop(5000);
    assert.equal(exits, [[0, null]]);
    assert.is(worker.state, 'exited');
  }
});

t('an app that raises on import: APPPKG_APP_IMPORT_FAILED naming the innermost app file and line', async () => {
  const output: string[] = [];
  const err = await startError(workerFor('crash-on-import', {}, output));
  assert.is(err.code, 'APPPKG_APP_IMPORT_FAILED');
  const helper = join(fixtureApp('crash-on-import').dir, 'helper.py');
  assert.is(err.details.where, `${helper}:4`);
  assert.is(err.details.reason, 'ZeroDivisionError: division by zero');
  assert.match(String(err.details.traceback), /Traceback[\s\S]*helper\.py", line 4[\s\S]*ZeroDivisionError/);
  assert.match(err.message, /app: cannot import app:application \(.*helper\.py:4\): ZeroDivisionError/);
  assert.ok(output.some((l) => l.includes('ZeroDivisionError')), 'the traceback reached the app log too');
});

t('a module that does not exist: APPPKG_APP_IMPORT_FAILED, no file', async () => {
  const { dir } = fixtureApp('link-bench');
  const err = await startError(new Worker({ ...baseOptions(dir), app: 'no_such_module:app' }));
  assert.is(err.code, 'APPPKG_APP_IMPORT_FAILED');
  assert.is(err.details.where, undefined);
  assert.match(String(err.details.reason), /ModuleNotFoundError: No module named 'no_such_module'/);
});

t('an object that is not callable: APPPKG_APP_NOT_CALLABLE', async () => {
  const { dir } = fixtureApp('link-bench');
  const err = await startError(new Worker({ ...baseOptions(dir), app: 'app:BIG' }));
  assert.is(err.code, 'APPPKG_APP_NOT_CALLABLE');
  assert.match(err.message, /app:BIG is bytes/);
});

t('an application factory: `module:create_app()` is called once and what it returns is served', async (ctx) => {
  const harness = await startLinkHarness('factory');
  ctx.stops.push(() => harness.stop());
  for (let i = 0; i < 3; i++) {
    const res = await get(`${harness.url}/`);
    assert.is(res.status, 200);
    assert.is(res.body, 'made by create_app, called 1 time(s)');
  }
});

t('a factory named without its `()`: refused at import, with the spelling that serves it (not a 500 per request)', async () => {
  const { dir } = fixtureApp('factory');
  const err = await startError(new Worker({ ...baseOptions(dir), app: 'factory_app:create_app' }));
  assert.is(err.code, 'APPPKG_APP_NOT_CALLABLE');
  assert.match(err.message, /function create_app\(test_config=None\), an application factory: write `app: factory_app:create_app\(\)`/);
  const made = await startError(new Worker({ ...baseOptions(dir), app: 'factory_app:make_nothing()' }));
  assert.is(made.code, 'APPPKG_APP_NOT_CALLABLE');
  assert.match(made.message, /a factory that returned int 42/);
});

// What only `check` (importlib.abc, for its hidden modules), a refusal (inspect, for a factory's
// signature) or a development 504 (traceback) needs: a worker paid them all at every start, a
// third of its Python CPU before READY (docs/performance.md, "Where a cold start goes").
const NOT_AT_START = ['importlib.abc', 'importlib.resources', 'inspect', 'traceback', 'pathlib', 'tempfile', 'typing'];

t('a WSGI worker serving a plain function loads none of what only check, a refusal or an error needs', async (ctx) => {
  const python = process.env.APPPKG_TEST_PYTHON ?? 'python3';
  // What the interpreter loads by itself (a .pth file of the host's may import some of them).
  const own = new Set(execFileSync(python, ['-c', 'import sys; print("\\n".join(sys.modules))'], { encoding: 'utf8' }).split('\n'));
  const harness = await startLinkHarness('start-modules', { python });
  ctx.stops.push(() => harness.stop());
  const res = await get(`${harness.url}/`);
  assert.is(res.status, 200, res.body);
  const loaded = res.body.split('\n');
  assert.ok(loaded.includes('apppkg_shim.worker'), res.body);
  assert.equal(NOT_AT_START.filter((name) => loaded.includes(name) && !own.has(name)), []);
});

t('no READY within the deadline: APPPKG_WORKER_START_FAILED, and the process is killed', async () => {
  const { dir } = fixtureApp('link-bench');
  const tmp = mkdtempSync(join(tmpdir(), 'link-test-'));
  const fake = join(tmp, 'never-ready.sh');
  writeFileSync(fake, '#!/bin/sh\nexec sleep 30\n');
  chmodSync(fake, 0o755);
  const worker = new Worker({ ...baseOptions(dir), python: fake });
  const began = Date.now();
  const err = await startError(worker, 500).finally(() => rmSync(tmp, { recursive: true, force: true }));
  assert.is(err.code, 'APPPKG_WORKER_START_FAILED');
  assert.match(String(err.details.reason), /not ready within 500 ms/);
  assert.ok(Date.now() - began < 3000);
  await waitGone(worker.pid!, 5000);
});

t('an interpreter that does not exist: APPPKG_WORKER_START_FAILED', async () => {
  const { dir } = fixtureApp('link-bench');
  const err = await startError(new Worker({ ...baseOptions(dir), python: '/nonexistent/python3' }));
  assert.is(err.code, 'APPPKG_WORKER_START_FAILED');
  assert.match(String(err.details.reason), /ENOENT/);
});

t('8 requests that sleep 0.5 s run at once on one worker with 8 threads', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 8 });
  ctx.stops.push(() => h.stop());
  await get(`${h.url}/?t=0`); // warm
  const began = Date.now();
  const bodies = await Promise.all(Array.from({ length: 8 }, () => get(`${h.url}/?t=0.5`).then((r) => r.body)));
  const took = Date.now() - began;
  assert.ok(took < 2000, `took ${took} ms; sequential would be 4000`);
  assert.is(new Set(bodies.map((b) => b.trim())).size, 8, 'eight different threads');
});

/** Times the threads of `pid` have gone to sleep and been woken (each /proc/PID/task/TID/status). */
function wakeUps(pid: number): number {
  let n = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      n += Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // a thread gone meanwhile
    }
  }
  return n;
}

// The monitor ticked every millisecond until 200 quiet ticks in a row, so under a trickle of
// requests (each over well within a tick) it never parked: ~850 wake-ups a second of a worker
// serving 50 requests a second, 1-3% of a core. It ticks every 10 ms once a tick finds nothing
// running (docs/performance.md, "The monitor's quiet tick").
t('under a trickle of requests (one every 20 ms) a worker wakes a few times per request, not ~1,000 times a second', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 2 });
  ctx.stops.push(() => h.stop());
  const pid = h.workers[0].pid!;
  await get(`${h.url}/?t=0`); // warm
  const before = wakeUps(pid);
  const began = performance.now();
  for (let i = 0; i < 60; i++) {
    assert.is((await get(`${h.url}/?t=0`)).status, 200);
    await new Promise((r) => setTimeout(r, 20));
  }
  const perSecond = (wakeUps(pid) - before) / ((performance.now() - began) / 1000);
  assert.ok(perSecond < 400, `the worker woke ${Math.round(perSecond)} times a second under ~45 requests a second`);
});

// An idle worker cost wake-ups for nothing: the WSGI worker's main thread woke every 100 ms to
// see a signal's flag and checked its parent every second; the ASGI loop checked its parent
// every second. Signals now wake the main thread themselves and the kernel watches the parent
// (PR_SET_PDEATHSIG), so a host of idle apps sleeps (docs/performance.md, "An idle worker").
t('an idle worker, WSGI or ASGI, does not wake up in 5 s', async (ctx) => {
  // No heartbeat in the window: its PINGs are the gateway's wake-ups, not the worker's.
  const quiet = { workers: 1, threads: 2, heartbeatMs: 60_000 };
  const [wsgi, asgi] = await Promise.all([startLinkHarness('slow', quiet), startLinkHarness('asgi-http', quiet)]);
  ctx.stops.push(() => wsgi.stop(), () => asgi.stop());
  for (const h of [wsgi, asgi]) assert.is((await get(`${h.url}/?t=0`)).status, 200);
  // The WSGI monitor parks after 200 ms without a request: the window starts after that.
  await new Promise((r) => setTimeout(r, 500));
  const pids = { wsgi: wsgi.workers[0].pid!, asgi: asgi.workers[0].pid! };
  const before = { wsgi: wakeUps(pids.wsgi), asgi: wakeUps(pids.asgi) };
  await new Promise((r) => setTimeout(r, 5000));
  const woke = { wsgi: wakeUps(pids.wsgi) - before.wsgi, asgi: wakeUps(pids.asgi) - before.asgi };
  assert.ok(woke.wsgi <= 1 && woke.asgi <= 1, `wake-ups in 5 s idle: ${JSON.stringify(woke)}`);
  // Asleep, yet a SIGTERM still ends each at once, with exit 0.
  for (const h of [wsgi, asgi]) {
    const exits: unknown[] = [];
    h.workers[0].on('exit', (code, signal) => exits.push([code, signal]));
    const began = performance.now();
    await h.workers[0].stop(3000);
    assert.ok(performance.now() - began < 1000, `stopped in ${Math.round(performance.now() - began)} ms`);
    assert.equal(exits, [[0, null]]);
  }
});

t('threads: 1 runs them one after another (at most `threads` apps at once)', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 1 });
  ctx.stops.push(() => h.stop());
  const began = Date.now();
  await Promise.all(Array.from({ length: 3 }, () => get(`${h.url}/?t=0.3`)));
  assert.ok(Date.now() - began >= 850, 'serialized');
});

t('stop() lets a request in flight finish, refuses new ones, exits 0', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 2 });
  ctx.stops.push(() => h.stop());
  const worker = h.workers[0];
  const inFlight = get(`${h.url}/?t=0.6`).catch((e) => ({ status: 0, body: String(e), headers: new Headers() }));
  await new Promise((r) => setTimeout(r, 150));
  assert.is(worker.inFlight, 1);
  const stopping = worker.stop(5000);
  await new Promise((r) => setTimeout(r, 150));
  assert.is(worker.available, false);
  const refused = await get(`${h.url}/?t=0`);
  assert.is(refused.status, 503);
  const r = await inFlight;
  assert.is(r.status, 200);
  await withDeadline(stopping, 6000, 'stop');
  assert.is(worker.exitCode, 0);
});

t('stop() past the grace: SIGKILL for the tree; the request in flight gets a 502', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 2 });
  ctx.stops.push(() => h.stop());
  const worker = h.workers[0];
  const inFlight = get(`${h.url}/?t=30`).catch((e) => ({ status: 0, body: String(e), headers: new Headers() }));
  await new Promise((r) => setTimeout(r, 200));
  const began = Date.now();
  await withDeadline(worker.stop(300), 8000, 'stop');
  assert.ok(Date.now() - began < 4000);
  assert.is(worker.exitSignal, 'SIGKILL');
  const r = await inFlight;
  assert.is(r.status, 502);
  assert.match(r.body, /^502 Bad Gateway\n/);
});

t('a worker that dies mid-request: 502 for it, an exit event with the status', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 2 });
  ctx.stops.push(() => h.stop());
  const exited = new Promise<[number | null, string | null]>((resolve) => h.workers[0].once('exit', (c, s) => resolve([c, s])));
  const r = await get(`${h.url}/exit`);
  assert.is(r.status, 502);
  assert.equal(await withDeadline(exited, 5000, 'exit event'), [7, null]);
  assert.is(h.workers[0].available, false);
});

t('the link is two sockets, fd 3 and fd 4, and a subprocess the app starts inherits neither', async (ctx) => {
  const h = await startLinkHarness('link-fds', { workers: 1, threads: 1 });
  ctx.stops.push(() => h.stop());
  const r = await get(`${h.url}/`);
  assert.is(r.status, 200, r.body);
  // What the subprocess has open, by target: fds the test runner itself inherited may be there too.
  const { own, child } = JSON.parse(r.body) as { own: Record<string, string>; child: string[] };
  assert.match(own['3'], /^socket:\[\d+\]$/);
  assert.match(own['4'], /^socket:\[\d+\]$/);
  assert.is.not(own['3'], own['4']);
  assert.ok(!child.includes(own['3']) && !child.includes(own['4']), `the subprocess holds ${JSON.stringify(child)}`);
});

t('a queued request whose client leaves is dropped unrun, even while every thread is busy', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 2 });
  ctx.stops.push(() => h.stop());
  const worker = h.workers[0];
  const failed = (e: unknown) => ({ status: 0, body: String(e), headers: new Headers() });
  const busy = [get(`${h.url}/?t=1.2`).catch(failed), get(`${h.url}/?t=1.2`).catch(failed)];
  await new Promise((r) => setTimeout(r, 150));
  const queued = new AbortController();
  const dropped = fetch(`${h.url}/?t=1.2`, { signal: queued.signal }).catch(() => 'aborted');
  await new Promise((r) => setTimeout(r, 150));
  assert.is(worker.inFlight, 3);
  queued.abort();
  assert.is(await dropped, 'aborted');
  await new Promise((r) => setTimeout(r, 250));
  assert.is(worker.inFlight, 2, 'the worker acknowledged the ABORT of the queued request');
  const began = Date.now();
  for (const r of await Promise.all(busy)) assert.is(r.status, 200);
  await get(`${h.url}/?t=0`);
  assert.ok(Date.now() - began < 1500, 'nothing ran the dropped request in between');
});

t('RECLAIM of a request with a body waiting for a thread: its UNRUN carries the body the worker had', async (ctx) => {
  const h = await startLinkHarness('slow', { workers: 1, threads: 1 });
  ctx.stops.push(() => h.stop());
  const link = h.workers[0].link!;
  // Answered, or failed if the harness stops first (an assertion below failed): never unhandled.
  const busy = get(`${h.url}/?t=0.8`).catch((e: unknown) => ({ status: 0, body: String(e) }));
  await waitFor(() => h.workers[0].inFlight === 1, 5000, 'the thread busy');
  const waiting = new RawExchange(link);
  waiting.write(encodeRequest(waiting.id, { ...requestLine('/', 't=0'), method: 'POST', body: '11' }, ''));
  waiting.write(encodeFrame(Frame.REQUEST_BODY, waiting.id, Buffer.from('hello ')));
  waiting.write(encodeFrame(Frame.REQUEST_BODY, waiting.id, Buffer.from('world')));
  waiting.write(encodeEmptyFrame(Frame.REQUEST_END, waiting.id));
  waiting.write(encodeEmptyFrame(Frame.RECLAIM, waiting.id));
  // The gateway sends the next worker this body: the worker dropped it with the request.
  assert.is((await waiting.next(Frame.UNRUN, 5000)).toString('latin1'), 'hello world');
  assert.is((await busy).status, 200);
});

t('a body frame read in part is read to its end before its request runs: the app never reads the link for its body', async (ctx) => {
  // The gateway writes a frame whole, so the rest of one begun is on its way. Handed over
  // without it, the app ran and stopped at wsgi.input.read() to read the link itself (an "own
  // read"), the batch's answers flushed first: under 64 KiB POSTs nearly every request did so
  // (docs/performance.md, "A 64 KiB POST in the worker"). The shim's counters, printed
  // at its exit (APPPKG_SHIM_STATS), say which thread read what.
  const h = await startLinkHarness('link-bench', { workers: 1, stats: true });
  let stopped = false;
  ctx.stops.push(async () => {
    if (!stopped) await h.stop();
  });
  const link = h.workers[0].link!;
  const body = Buffer.alloc(65536, 'a');
  for (let i = 0; i < 3; i++) {
    const x = new RawExchange(link);
    x.write(encodeRequest(x.id, { ...requestLine('/post'), method: 'POST', body: String(body.length) }, `\0CONTENT_LENGTH\0${body.length}`));
    x.write(frameHeader(Frame.REQUEST_BODY, x.id, body.length));
    x.write(body.subarray(0, 1000));
    // The worker reads the request and the body's start now; nothing it sends says it has, so
    // this wait is a time. Were it too short, the worker would read the whole body at once and
    // the test would pass without the change: it cannot fail because of it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    x.write(body.subarray(1000));
    x.write(encodeEmptyFrame(Frame.REQUEST_END, x.id));
    const answer = await x.next(Frame.RESPONSE_FULL, 5000);
    assert.is(answer.subarray(4 + answer.readUInt32BE(0)).toString('latin1'), '65536', 'the body the app read, whole');
  }
  stopped = true;
  await h.stop();
  const line = h.output.find((l) => l.includes('stats {'));
  assert.ok(line !== undefined, `no stats line in the worker's output:\n${h.output.join('\n')}`);
  const stats = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, number>;
  assert.is(stats.own_reads, 0, line);
  assert.is(stats.run_by_reader, 3, line);
});

t('checkAppImport: ok for a callable, APPPKG_APP_IMPORT_FAILED otherwise', async () => {
  const { dir } = fixtureApp('link-bench');
  const env = { python: 'python3', env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'link-bench' };
  const ok = await checkAppImport(env, 'app:application', 15_000);
  assert.is(ok.type, 'function');
  assert.ok(ok.sysPath.indexOf(dir) === 0, 'the app dir first on sys.path');
  assert.equal(ok.sysPath.filter((p) => p.endsWith('python-shim')), [ok.sysPath[ok.sysPath.length - 1]], 'the shim last on sys.path, once');
  const crash = fixtureApp('crash-on-import').dir;
  try {
    await checkAppImport({ ...env, appDir: crash, sysPath: [crash] }, 'app:application', 15_000);
    assert.unreachable('should have failed');
  } catch (err) {
    assert.is((err as GatewayError).code, 'APPPKG_APP_IMPORT_FAILED');
    assert.is((err as GatewayError).details.where, `${join(crash, 'helper.py')}:4`);
  }
});

function baseOptions(dir: string) {
  return {
    python: 'python3',
    env: { ...(process.env as Record<string, string>) },
    cwd: dir,
    app: 'app:application',
    sysPath: [dir],
    threads: 2,
    multiprocess: false,
    development: false,
    name: 'test',
    stdout: () => undefined,
    stderr: () => undefined,
  };
}

t.run();
