// How a worker (and check) ends with what the app left at exit: its atexit handlers run on a
// graceful stop, as under gunicorn; a thread it started that is no daemon, which Python joins
// before any exit, holds neither check nor the gateway past its bounds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError } from '../../src/errors.js';
import { checkAppImport } from '../../src/link/check-app.js';
import { fixtureApp, workerFor } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';

const t = suite('app-exit');
const { dir } = fixtureApp('app-threads');

t('check of an app that starts a thread at import that is no daemon: passes, not "the import did not finish"', async () => {
  const env = { python: 'python3', env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'app-threads' };
  // Python joined the thread before check's exit: the result line came, the exit never did.
  const ok = await checkAppImport(env, 'looping:application', 15_000);
  assert.is(ok.type, 'function');
});

t('an import that starts such a thread, then fails: APPPKG_APP_IMPORT_FAILED at once, not "not ready" at the start deadline', async () => {
  const worker = workerFor('app-threads', { app: 'looping_fails:application' });
  try {
    await worker.start(15_000);
    await worker.stop(1000);
    assert.unreachable('the worker started');
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    assert.is(err.code, 'APPPKG_APP_IMPORT_FAILED', err.message);
    assert.match(String(err.details.reason), /No module named 'no_such_module_here'/);
    assert.is(worker.exitCode, 4);
  }
});

t('a graceful stop runs the app\'s atexit handlers, then exits 0', async () => {
  const output: string[] = [];
  const worker = workerFor('app-threads', { app: 'plain:application' }, output);
  await worker.start(15_000);
  const exits: unknown[] = [];
  worker.on('exit', (code, signal) => exits.push([code, signal]));
  await worker.stop(5000);
  assert.equal(exits, [[0, null]]);
  // The exit may come before the worker's stderr pipe is read to its end.
  await waitFor(() => output.includes(`app atexit ran in ${worker.pid}`), 5000, () => `the atexit line, in:\n${output.join('\n')}`);
});

t('a stop held by such a thread is bounded by the grace, and the app log names the thread and the fix', async () => {
  const output: string[] = [];
  const worker = workerFor('app-threads', { app: 'looping:application' }, output);
  await worker.start(15_000);
  const exits: unknown[] = [];
  worker.on('exit', (code, signal) => exits.push([code, signal]));
  // Python joins the thread for ever: the grace's SIGKILL ends the worker.
  await worker.stop(3000);
  assert.equal(exits, [[null, 'SIGKILL']]);
  const said = await waitFor(() => output.find((l) => l.includes('the worker has finished its requests but cannot exit')), 5000, () => `the line naming the thread, in:\n${output.join('\n')}`);
  assert.match(said!, new RegExp(`thread 'app-loop' \\(at ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/looping\\.py:\\d+ in _loop\\), which is no daemon`));
  assert.match(said!, /start it with daemon=True, or end what it runs from a SIGTERM handler/);
});

t('a stop held by multiprocessing joining a Process that is no daemon is bounded by the grace, and the app log names the process and the fix', async () => {
  const output: string[] = [];
  const worker = workerFor('app-threads', { app: 'child_process:application' }, output);
  await worker.start(15_000);
  assert.is(await worker.probe('/', 10_000), 200);
  const exits: unknown[] = [];
  worker.on('exit', (code, signal) => exits.push([code, signal]));
  // No thread holds it: multiprocessing's atexit handler joins the job, for ever; it said nothing.
  await worker.stop(3000);
  assert.equal(exits, [[null, 'SIGKILL']]);
  const said = await waitFor(() => output.find((l) => l.includes('the worker has finished its requests but cannot exit')), 5000, () => `the line naming the process, in:\n${output.join('\n')}`);
  assert.match(said!, /multiprocessing waits for the app's process 'app-job' \(pid \d+\), which is no daemon/);
  assert.match(said!, /daemon=True/);
});

t('a loop the app ends from its own SIGTERM handler lets the worker exit 0, not killed at the grace', async () => {
  const worker = workerFor('app-threads', { app: 'stopped_loop:application' });
  await worker.start(15_000);
  const exits: unknown[] = [];
  worker.on('exit', (code, signal) => exits.push([code, signal]));
  // Within the grace, not killed at its end: the app's handler ran after the drain and ended the loop.
  await worker.stop(10_000);
  assert.equal(exits, [[0, null]]);
});

t.run();
