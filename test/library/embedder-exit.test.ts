// A program embedding Gateway that ends without `await gateway.stop()` (process.exit(), an
// uncaught exception, a SIGTERM it has no handler for, a worker_thread that held it ending) leaves no process behind either: the
// workers notice their link closing and each process tree's guard ends it, as when the CLI's
// gateway is killed (SPEC §4 and 5.7; README "As a library"). One whose own SIGTERM handler
// calls stop() ends as the CLI does, its request in flight answered. The program is run from
// dist/, as a user's would be.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { assertNoOrphans, guardsEnded, ROOT, tempDir, waitFor } from '../helpers/process.js';

const test = suite('an embedding program that ends without stop()');
const work = tempDir('apppkg-lib-embedder-exit-');
const apps = join(work.path, 'apps');

test.after(() => work.remove());

// A WSGI app whose import starts a daemon of its own session, with a background process: the
// kinds of tree the guard, not the worker's link, has to end.
mkdirSync(join(apps, 'busy'), { recursive: true });
writeFileSync(join(apps, 'busy', 'app.yaml'), 'platform: python, wsgi\napp: web:application\nprocesses:\n  bg:\n    command: python3 -c "import time; time.sleep(600)"\n');
writeFileSync(
  join(apps, 'busy', 'web.py'),
  'import os, subprocess\n' +
    'd = subprocess.Popen(["sleep", "600"], start_new_session=True)\n' +
    'with open(os.path.join(os.environ["APPPKG_DATA_DIR"], "daemon-%d.pid" % os.getpid()), "w") as f:\n    f.write(str(d.pid))\n' +
    'import time\n' +
    'def application(environ, start_response):\n' +
    '    if environ["PATH_INFO"] == "/slow":\n        time.sleep(1)\n' +
    '    start_response("200 OK", [])\n    return [b"ok"]\n',
);

/**
 * Runs the embedding program to its end; `ending` is what it does once the gateway serves. It
 * gets a SIGTERM once it prints the line `sigtermAt` (an ending of '': once it serves).
 */
async function embed(name: string, ending: string, sigtermAt = ending === '' ? '{' : null): Promise<{ pids: number[]; code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const state = join(work.path, `state-${name}`);
  const program = join(work.path, `${name}.mjs`);
  writeFileSync(
    program,
    `import { Gateway } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};
const gateway = await Gateway.start({ apps: ${JSON.stringify(apps)}, listen: '127.0.0.1:0', admin: false, stateDir: ${JSON.stringify(state)}, say: () => {} });
const res = await fetch(gateway.urls[0] + '/busy/');
console.log(JSON.stringify({ status: res.status, pids: gateway.pids }));
${ending}
`,
  );
  const child = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const ended = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  try {
    const line = await waitFor(() => stdout.split('\n').find((l) => l.startsWith('{')), 60_000, () => `the program to serve (stderr: ${stderr})`);
    const served = JSON.parse(line) as { status: number; pids: number[] };
    assert.is(served.status, 200);
    if (sigtermAt !== null) {
      await waitFor(() => stdout.split('\n').some((l) => l.startsWith(sigtermAt)), 30_000, () => `the program to print ${sigtermAt} (stderr: ${stderr})`);
      child.kill('SIGTERM');
    }
    const [code, signal] = await waitFor(() => Promise.race([ended, new Promise<null>((r) => setTimeout(() => r(null), 200))]), 30_000, 'the program to end');
    // Its trees' guards end them, then themselves: left running, the test runner stopped them (run 86).
    await guardsEnded(child.pid);
    const data = join(state, 'apps', 'busy', 'data');
    const daemons = readdirSync(data).filter((f) => f.startsWith('daemon-')).map((f) => Number(readFileSync(join(data, f), 'utf8')));
    assert.ok(daemons.length >= 1, 'the app started its daemon');
    return { pids: [...served.pids, ...daemons], code, signal, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('process.exit() right after serving: no worker, process or daemon of the app is left', async () => {
  const r = await embed('exit', 'process.exit(0);');
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.pids.length >= 3, `pids: ${r.pids.join(',')}`);
  await assertNoOrphans(r.pids, 15_000);
});

test('an uncaught exception in the program: none is left', async () => {
  const r = await embed('throw', "setTimeout(() => { throw new Error('the embedding program failed'); }, 10);");
  assert.is(r.code, 1);
  assert.match(r.stderr, 'the embedding program failed');
  await assertNoOrphans(r.pids, 15_000);
});

test('SIGTERM to a program without a handler for it: none is left', async () => {
  const r = await embed('sigterm', '');
  assert.is(r.signal, 'SIGTERM', r.stderr);
  await assertNoOrphans(r.pids, 15_000);
});

test('SIGTERM to a program whose handler stops the gateway (README, "As a library"): the request in flight is answered, none is left', async () => {
  // The library installs no handler of its own: the program's handler is what makes the stop
  // the CLI's (requests in flight finish), and stop() is what leaves nothing behind.
  const r = await embed(
    'handler',
    `const slow = fetch(gateway.urls[0] + '/busy/slow').then(async (res) => res.status + ' ' + (await res.text()));
await new Promise((resolve) => setTimeout(resolve, 300));
for (const s of ['SIGTERM', 'SIGINT']) process.once(s, () => gateway.stop().then(async () => { console.log('slow: ' + (await slow)); process.exit(0); }));
console.log('handler');`,
    'handler',
  );
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^slow: 200 ok$/m);
  await assertNoOrphans(r.pids, 15_000);
});

/** Running (not a zombie, not gone): a zombie is dead, only not reaped yet. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('a Gateway in a worker_thread: stop() there leaves nothing; a thread ended without it has every process of the app end with the thread, while the program runs on', async () => {
  // PR_SET_PDEATHSIG follows the thread that spawned a worker, not the process: in a
  // worker_thread that is the gateway's own thread, so the workers die with it, as with the
  // CLI's process. Their exit is then reaped by nobody (that thread's loop is gone): zombies,
  // until the program exits (README, "As a library").
  const program = join(work.path, 'thread.mjs');
  const inner = join(work.path, 'thread-inner.mjs');
  writeFileSync(
    inner,
    `import { parentPort, workerData } from 'node:worker_threads';
import { Gateway } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};
const gateway = await Gateway.start({ apps: ${JSON.stringify(apps)}, listen: '127.0.0.1:0', admin: false, stateDir: workerData.state, say: () => {} });
parentPort.postMessage({ urls: gateway.urls, pids: gateway.pids });
parentPort.once('message', () => gateway.stop().then(() => parentPort.close()));
`,
  );
  writeFileSync(
    program,
    `import { Worker } from 'node:worker_threads';
for (const ending of ['stop', 'terminate']) {
  const worker = new Worker(${JSON.stringify(inner)}, { workerData: { state: ${JSON.stringify(work.path)} + '/state-thread-' + ending } });
  const served = await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
  const res = await fetch(served.urls[0] + '/busy/');
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  if (ending === 'stop') worker.postMessage('stop');
  else await worker.terminate();
  console.log(JSON.stringify({ ending, status: res.status, pids: served.pids, code: await exited }));
}
// Running on after the threads ended, until the test has looked at their processes.
process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
`,
  );
  const child = spawn(process.execPath, [program], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const ended = new Promise((resolve) => child.once('exit', resolve));
  const pids: number[] = [];
  try {
    const lines = await waitFor(() => {
      const found = stdout.split('\n').filter((l) => l.startsWith('{'));
      return found.length === 2 ? found : undefined;
    }, 60_000, () => `both threads to serve and end (stderr: ${stderr})`);
    for (const line of lines) {
      const r = JSON.parse(line) as { ending: string; status: number; pids: number[]; code: number };
      assert.is(r.status, 200, r.ending);
      const state = join(work.path, `state-thread-${r.ending}`, 'apps', 'busy', 'data');
      const daemons = readdirSync(state).filter((f) => f.startsWith('daemon-')).map((f) => Number(readFileSync(join(state, f), 'utf8')));
      assert.ok(r.pids.length >= 2 && daemons.length >= 1, `${r.ending}: pids ${r.pids.join(',')}, daemons ${daemons.join(',')}`);
      pids.push(...r.pids, ...daemons);
      // While the program runs on: nothing of that gateway runs (a terminated thread's workers are zombies).
      await waitFor(() => [...r.pids, ...daemons].every((pid) => !running(pid)), 15_000, () => `${r.ending}: still running: ${[...r.pids, ...daemons].filter(running).join(',')}`);
    }
  } finally {
    child.stdin.end();
    await waitFor(() => Promise.race([ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]), 10_000, 'the program to end').catch(() => child.kill('SIGKILL'));
  }
  await assertNoOrphans(pids, 15_000);
  await guardsEnded(child.pid);
});

test.run();
