// An ASGI worker's life (docs/protocol.md §1, §8): lifespan startup that fails (exit 4, the
// marker line), an app without lifespan, import errors and a non-callable as for WSGI, `check`,
// the loop choice (APPPKG_ASGI_LOOP), and no orphans when the Node side is killed, idle or with
// the loop blocked by the app.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError, type GatewayError } from '../../src/errors.js';
import { checkAppImport } from '../../src/link/check-app.js';
import { SHIM_MAIN } from '../../src/link/shim-path.js';
import { Worker } from '../../src/supervisor/worker.js';
import { fixtureApp, get, startLinkHarness, waitGone, withDeadline, workerFor } from '../helpers/link-harness.js';
import { guardsEnded, TS_REGISTER } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEM_PYTHON = '/usr/bin/python3';
const systemUvloop = existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import uvloop'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
// The interpreter workerFor runs (link-harness.ts), not just the python3 on PATH.
const TEST_PYTHON = process.env.APPPKG_TEST_PYTHON ?? 'python3';
const testPythonUvloop = spawnSync(TEST_PYTHON, ['-c', 'import uvloop'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

const t = suite<{ cleanups: Array<() => unknown> }>('asgi-lifecycle');
t.before.each((ctx) => {
  ctx.cleanups = [];
});
t.after.each(async (ctx) => {
  for (const cleanup of ctx.cleanups) await cleanup();
});

/** Runs `apppkg_shim_main.py serve` by hand (fds 3 and 4 socketpairs, as Worker does): its exit and raw stderr. */
async function runShim(fixture: string, app: string, ms = 15_000): Promise<{ code: number | null; stderr: string }> {
  const { dir } = fixtureApp(fixture);
  const config = JSON.stringify({ app, kind: 'asgi', sysPath: [dir], threads: 1, multiprocess: false, development: false, name: fixture });
  const child = spawn('python3', [SHIM_MAIN, 'serve'], {
    cwd: dir,
    env: { ...process.env, APPPKG_SHIM_CONFIG: config, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await withDeadline(new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c))), ms, `${app} to exit`).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  return { code, stderr };
}

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

t('lifespan.startup.failed: the message on stderr, then the marker line, exit 4', async () => {
  const { code, stderr } = await runShim('asgi-lifespan-fail', 'app:application');
  assert.is(code, 4);
  const lines = stderr.trimEnd().split('\n');
  assert.match(lines[lines.length - 2], /^apppkg-shim\[\d+\]: app:application: lifespan startup failed: the database is unreachable$/);
  const marker = lines[lines.length - 1];
  assert.ok(marker.startsWith('APPPKG-LIFESPAN-FAILED {'), marker);
  assert.equal(JSON.parse(marker.slice('APPPKG-LIFESPAN-FAILED '.length)), { app: 'app:application', message: 'the database is unreachable', traceback: null });
});

t('an app that raises after receiving lifespan.startup: the marker with the traceback, exit 4; Worker.start says why', async () => {
  const { code, stderr } = await runShim('asgi-lifespan-fail', 'app:raises');
  assert.is(code, 4);
  // The traceback travels in the marker alone (Node writes it into the log, folded on serve's terminal).
  assert.match(stderr, /^APPPKG-LIFESPAN-FAILED \{/m);
  assert.not.match(stderr, /^Traceback/m);
  const marker = JSON.parse(stderr.trimEnd().split('\n').pop()!.slice('APPPKG-LIFESPAN-FAILED '.length)) as Record<string, string>;
  assert.is(marker.message, 'ConnectionRefusedError: cannot reach the database');
  assert.match(marker.traceback, /raise ConnectionRefusedError/);
  // It starts at the app's own frame: the shim's lifespan coroutine is not the app's business.
  assert.not.match(stderr, /apppkg_shim/);
  assert.match(marker.traceback, /^Traceback \(most recent call last\):\n {2}File "[^"]*app\.py"/);

  const worker = new Worker({ ...baseOptions('asgi-lifespan-fail'), app: 'app:raises' });
  const err = await startError(worker);
  assert.is(worker.exitCode, 4);
  assert.is(err.code, 'APPPKG_APP_LIFESPAN_FAILED');
  assert.is(err.details.reason, 'ConnectionRefusedError: cannot reach the database');
});

t('a startup that sends lifespan.startup.failed with its traceback, then raises it (Starlette): the traceback once in the log', async () => {
  const { code, stderr } = await runShim('asgi-lifespan-fail', 'app:reports_then_raises');
  assert.is(code, 4);
  assert.is(stderr.split('ConnectionRefusedError: cannot reach the database').length - 1, 2, stderr); // the log's, the marker's
  assert.match(stderr, /^apppkg-shim\[\d+\]: app:reports_then_raises: lifespan startup failed: Traceback/m);
  assert.not.match(stderr, /the lifespan coroutine failed/);
});

t('a lifespan startup that hangs gives up before the start deadline: APPPKG_APP_LIFESPAN_FAILED saying where it waits', async () => {
  for (const app of ['app:hangs', 'app:hangs_in_thread']) {
    const output: string[] = [];
    const worker = new Worker({ ...baseOptions('asgi-lifespan-fail', output), app });
    const started = Date.now();
    let err: GatewayError | undefined;
    try {
      await worker.start(3000);
    } catch (e) {
      err = e as GatewayError;
    }
    assert.ok(err && isGatewayError(err), `${app}: ${String(err)}`);
    // The shim's own exit 4 (not the gateway's kill at 3000 ms), even with a thread still asleep.
    assert.is(worker.exitCode, 4, `${app}: ${worker.how}`);
    assert.ok(Date.now() - started < 3000, `${app}: took ${Date.now() - started} ms`);
    assert.is(err.code, 'APPPKG_APP_LIFESPAN_FAILED');
    assert.is(err.details.hung, true);
    assert.match(err.message, /failed its lifespan startup: it did not complete within the 3 s a worker has to be ready; it waits at /);
    assert.match(err.hint, /waits for something that does not come/);
    if (app === 'app:hangs') {
      assert.match(String(err.details.reason), /it waits at \S*app\.py:\d+ in connect \(await asyncio\.sleep\(3600\)\)$/);
      // The app log has the stack, from the app's frame in (not the shim's coroutine).
      const log = output.join('\n');
      assert.match(log, /app:hangs: lifespan startup did not complete within .*; it waits at:\n {2}File "[^"]*app\.py", line \d+, in hangs\n[\s\S]*in connect/);
      assert.not.match(log, /apppkg_shim/);
    }
  }
});

t('a lifespan startup that holds the event loop (time.sleep) gives up before the start deadline too, saying where it blocks', async () => {
  const output: string[] = [];
  const worker = new Worker({ ...baseOptions('asgi-lifespan-fail', output), app: 'app:blocks' });
  const started = Date.now();
  const err = await startError(worker, 8000);
  // The shim's own exit 4 from its watchdog thread, not the gateway's kill at 8000 ms.
  assert.is(worker.exitCode, 4, worker.how);
  assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  assert.is(err.code, 'APPPKG_APP_LIFESPAN_FAILED');
  assert.is(err.details.hung, true);
  assert.is(err.details.blocked, true);
  assert.match(err.message, /failed its lifespan startup: it did not complete within the 8 s a worker has to be ready; it holds the event loop at \S*app\.py:\d+ in blocks \(time\.sleep\(120\)\)$/);
  assert.match(err.hint, /blocking code in an async function/);
  const log = output.join('\n');
  assert.match(log, /app:blocks: lifespan startup did not complete within .*; it holds the event loop \(sync code in an async function\) at:\n {2}File "[^"]*app\.py", line \d+, in blocks\n/);
  assert.not.match(log, /apppkg_shim/);
});

t('check runs the lifespan: a startup that fails or hangs fails it, one without lifespan passes', async () => {
  const { dir } = fixtureApp('asgi-lifespan-fail');
  const env = { python: 'python3', env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'asgi-lifespan-fail' };
  const failure = async (app: string): Promise<GatewayError> => {
    try {
      await checkAppImport(env, app, 15_000, 'asgi');
    } catch (err) {
      return err as GatewayError;
    }
    throw new Error(`check of ${app} passed`);
  };
  const failed = await failure('app:application');
  assert.is(failed.code, 'APPPKG_APP_LIFESPAN_FAILED');
  assert.is(failed.details.reason, 'the database is unreachable');
  const started = Date.now();
  const hung = await failure('app:hangs_in_thread');
  assert.is(hung.code, 'APPPKG_APP_LIFESPAN_FAILED');
  assert.match(String(hung.details.reason), /^it did not complete within 5 s \(check's bound\); it waits at \S*app\.py:\d+ in hangs_in_thread/);
  assert.match(String(hung.details.traceback), /in hangs_in_thread/);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);

  const none = fixtureApp('asgi-no-lifespan');
  const ok = await checkAppImport({ ...env, appDir: none.dir, sysPath: [none.dir], name: 'asgi-no-lifespan' }, 'app:application', 15_000, 'asgi');
  assert.is(ok.lifespan, 'unsupported');
});

t('an app that raises before receiving (Django) runs without lifespan; its state is empty', async (ctx) => {
  const h = await startLinkHarness('asgi-no-lifespan', { threads: 1 });
  ctx.cleanups.push(() => h.stop());
  assert.is((h.workers[0].readyInfo as unknown as Record<string, unknown>).lifespan, 'unsupported');
  const r = await get(`${h.url}/`);
  assert.is(r.status, 200);
  assert.is(r.body, 'no lifespan, state {}\n');
  assert.not.ok(h.output.some((l) => l.includes('Traceback')), h.output.join('\n'));
});

t('an ASGI 2 app (a class called with the scope, or a function of the scope alone) is served, as uvicorn serves it', async (ctx) => {
  const h = await startLinkHarness('asgi2', { threads: 1 });
  ctx.cleanups.push(() => h.stop());
  const r = await get(`${h.url}/x`);
  assert.is(r.status, 200, r.body);
  assert.is(r.body, 'ASGI 2 class at /x\n');
  const f = await startLinkHarness('asgi2', { threads: 1, app: 'app:function_app' });
  ctx.cleanups.push(() => f.stop());
  assert.is((await get(`${f.url}/`)).body, 'ASGI 2 function\n', f.output.join('\n'));
});

t('a plain def given as an ASGI app: served when it returns a coroutine; one that forgot async is a 500 saying so', async (ctx) => {
  const w = await startLinkHarness('asgi2', { threads: 1, app: 'app:wrapper_app' });
  ctx.cleanups.push(() => w.stop());
  assert.is((await get(`${w.url}/`)).body, 'ASGI 2 function\n', w.output.join('\n'));
  const h = await startLinkHarness('asgi2', { threads: 1, app: 'app:forgot_async', development: true });
  ctx.cleanups.push(() => h.stop());
  const r = await get(`${h.url}/`);
  assert.is(r.status, 500, r.body);
  const said = 'app:forgot_async is a plain function (def) that returned None, not an awaitable: an ASGI app is `async def forgot_async(scope, receive, send)`';
  assert.ok(r.body.includes(said), r.body);
  assert.ok(h.output.some((l) => l.includes(said)), h.output.join('\n'));
});

// The stop's bound over (CANCEL: a drain's end, --grace at the gateway's stop), a lifespan
// shutdown that waits for ever was left to the SIGKILL 5 s later: its `finally` never ran and
// the app log ended at its first line. It is cancelled now, saying where it waited.
const HUNG_SHUTDOWN_SAID = /asgi-shutdown-hang\/app\.py:\d+ in app \(await asyncio\.Event\(\)\.wait\(\)\) \(give what it waits for a timeout of its own\)/;

t('a lifespan shutdown still running at CANCEL is cancelled, saying where it waited: its finally runs and the worker exits 0', async (ctx) => {
  const h = await startLinkHarness('asgi-shutdown-hang', { threads: 1 });
  ctx.cleanups.push(() => h.stop());
  const worker = h.workers[0];
  await withDeadline(worker.stop(1000), 15_000, 'the stop');
  const output = h.output.join('\n');
  assert.is(worker.exitSignal, null, output);
  assert.is(worker.exitCode, 0, output);
  assert.match(output, /shutdown begins[\s\S]*shutdown finally ran/);
  const said = h.output.find((l) => l.includes('lifespan shutdown had not completed'));
  assert.match(String(said), /^apppkg-shim\[\d+\]: app:app: lifespan shutdown had not completed when the drain was over; cancelled, at /);
  assert.match(String(said), HUNG_SHUTDOWN_SAID);
  assert.not.match(output, /lifespan coroutine failed|Traceback/);
});

t('a lifespan shutdown that begins after CANCEL (a request cut first) is cancelled 3 s later, saying where it waited; exit 0', async (ctx) => {
  const h = await startLinkHarness('asgi-shutdown-hang', { threads: 1 });
  ctx.cleanups.push(() => h.stop());
  const worker = h.workers[0];
  const cut = get(`${h.url}/sleep`).catch((e: Error) => e);
  await withDeadline((async () => { while (worker.inFlight === 0) await new Promise((r) => setTimeout(r, 20)); })(), 5000, 'the request in flight');
  await withDeadline(worker.stop(1000), 15_000, 'the stop');
  await cut;
  const output = h.output.join('\n');
  assert.is(worker.exitSignal, null, output);
  assert.is(worker.exitCode, 0, output);
  assert.match(output, /cancelling 1 task still running[\s\S]*shutdown begins[\s\S]*shutdown finally ran/);
  const said = h.output.find((l) => l.includes('lifespan shutdown had not completed'));
  assert.match(String(said), /lifespan shutdown had not completed 3 s after the drain was over; cancelled, at /);
  assert.match(String(said), HUNG_SHUTDOWN_SAID);
});

t('an import error: APPPKG_APP_IMPORT_FAILED naming the file and line, as for WSGI', async () => {
  const { dir } = fixtureApp('crash-on-import');
  const err = await startError(new Worker({ ...baseOptions('crash-on-import'), kind: 'asgi' }));
  assert.is(err.code, 'APPPKG_APP_IMPORT_FAILED');
  assert.is(err.details.where, `${join(dir, 'helper.py')}:4`);
});

t('an object that is not callable: APPPKG_APP_NOT_CALLABLE, "expected an ASGI callable" in the log', async () => {
  const output: string[] = [];
  const err = await startError(new Worker({ ...baseOptions('asgi-http', output), app: 'app:NOT_CALLABLE' }));
  assert.is(err.code, 'APPPKG_APP_NOT_CALLABLE');
  assert.ok(output.some((l) => l.endsWith('app:NOT_CALLABLE is int 42, expected an ASGI callable')), output.join('\n'));
});

t('check: the same import for an asgi config', async () => {
  const { dir } = fixtureApp('asgi-http');
  const env = { python: 'python3', env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'asgi-http' };
  const ok = await checkAppImport(env, 'app:application', 15_000, 'asgi');
  assert.is(ok.type, 'function');
  assert.is(ok.lifespan, 'supported');
  try {
    await checkAppImport(env, 'app:NOT_CALLABLE', 15_000, 'asgi');
    assert.unreachable('should have failed');
  } catch (err) {
    assert.is((err as GatewayError).code, 'APPPKG_APP_NOT_CALLABLE');
  }
});

const withoutUvloop = runIf(t, !testPythonUvloop, `${TEST_PYTHON} has uvloop`);
withoutUvloop('APPPKG_ASGI_LOOP=uvloop without uvloop: exit 3, saying so', async () => {
  const output: string[] = [];
  const worker = workerFor('asgi-no-lifespan', { env: { APPPKG_ASGI_LOOP: 'uvloop' } }, output);
  const err = await startError(worker);
  assert.is(worker.exitCode, 3);
  assert.is(err.code, 'APPPKG_WORKER_START_FAILED');
  assert.match(String(err.details.reason), /exit status 3: .*APPPKG_ASGI_LOOP=uvloop, but .* cannot import uvloop/);
});

const withUvloop = runIf(t, systemUvloop, `${SYSTEM_PYTHON} has no uvloop (Debian: python3-uvloop)`);
withUvloop('APPPKG_ASGI_LOOP=asyncio keeps asyncio where uvloop is installed; unset picks uvloop', async (ctx) => {
  for (const [env, loop] of [[{ APPPKG_ASGI_LOOP: 'asyncio' }, 'asyncio'], [{}, 'uvloop']] as const) {
    const worker = workerFor('asgi-no-lifespan', { python: SYSTEM_PYTHON, env, threads: 1 });
    await worker.start(15_000);
    ctx.cleanups.push(() => worker.stop(3000));
    assert.is((worker.readyInfo as unknown as Record<string, unknown>).loop, loop);
  }
});

/** A Node process that starts an ASGI worker (and optionally blocks its loop), reports its pid, then waits. */
function gatewayChild(script: string): { child: ChildProcess; pid: Promise<number> } {
  const child = spawn(process.execPath, ['--import', TS_REGISTER, '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = withDeadline(
    new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += c;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { pid: number }).pid);
      });
      child.once('exit', (code) => reject(new Error(`the gateway child exited (${code}) before reporting`)));
    }),
    20_000,
    'the worker pid',
  );
  return { child, pid };
}

const IDLE = `
import { workerFor } from './test/helpers/link-harness.ts';
const w = workerFor('asgi-http', { threads: 1 });
await w.start(15000);
console.log(JSON.stringify({ pid: w.pid }));
setInterval(() => {}, 1000);
`;

const BLOCKED = `
import http from 'node:http';
import { startLinkHarness } from './test/helpers/link-harness.ts';
const h = await startLinkHarness('asgi-http', { threads: 1 });
http.get(h.url + '/block?t=60').on('error', () => {});
setTimeout(() => console.log(JSON.stringify({ pid: h.workers[0].pid })), 300);
`;

for (const [what, script] of [['an idle worker exits (its link closed)', IDLE], ['a worker whose loop the app blocks exits too (PR_SET_PDEATHSIG)', BLOCKED]] as const) {
  t(`SIGKILL of the Node side: ${what}`, async (ctx) => {
    const { child, pid } = gatewayChild(script);
    ctx.cleanups.push(() => child.kill('SIGKILL'));
    const workerPid = await pid;
    ctx.cleanups.push(() => {
      try {
        process.kill(workerPid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    });
    process.kill(workerPid, 0);
    child.kill('SIGKILL');
    await waitGone(workerPid, 5000);
    await guardsEnded(child.pid);
  });
}

function baseOptions(fixture: string, output: string[] = []) {
  const { dir, app } = fixtureApp(fixture);
  return {
    python: 'python3',
    env: { ...(process.env as Record<string, string>) },
    cwd: dir,
    app,
    kind: 'asgi' as const,
    sysPath: [dir],
    threads: 1,
    multiprocess: false,
    development: false,
    name: fixture,
    stdout: (line: string) => output.push(line),
    stderr: (line: string) => output.push(line),
  };
}

t.run();
