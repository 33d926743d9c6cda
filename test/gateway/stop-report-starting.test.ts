// What the gateway's stop says of a worker it stopped while that worker still started. A serving
// app's worker that died is started again; a SIGTERM to the gateway during the new worker's ASGI
// lifespan startup stops it with what is left of --grace, as any worker with no request. The
// app takes SIGTERM for itself at import (as a library may), so the worker outlives the signal,
// and the stop's report every 5 s said it was waiting for the worker "to end its own shutdown
// (an ASGI lifespan shutdown, work after a response)": it was in its startup, and a startup that
// never completed runs no lifespan shutdown. The same for a WSGI worker stopped in its import.
// Through the real CLI and real Python workers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, orAfter, startCli, tempDir, waitFor } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('the stop\'s report of a worker stopped while it started');

/** Answers its pid; its lifespan startup sleeps 60 s once `slow` exists, and says so in `began`. */
const app = (slow: string, began: string) => `import asyncio, os, signal
signal.signal(signal.SIGTERM, lambda *a: None)
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        assert (await receive())["type"] == "lifespan.startup"
        if os.path.exists(${JSON.stringify(slow)}):
            with open(${JSON.stringify(began)}, "a") as f:
                f.write("%d\\n" % os.getpid())
            await asyncio.sleep(60)
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
`;

/**
 * Serves `name` (a package of `files` whose worker answers its pid, and whose start sleeps once
 * the `slow` mark exists, saying so in `began`), kills its worker so that its slot starts another,
 * sends the gateway SIGTERM once that one's start has begun, and hands `check` the gateway's exit
 * code and output. No process of it may be left.
 */
async function stopWhileRestarting(name: string, files: (slow: string, began: string) => Record<string, string>, what: string, check: (code: number | string | null, output: string) => void): Promise<void> {
  const apps = tempDir('apppkg-stopreport-apps-');
  const state = warmStateDir('apppkg-stopreport-state-');
  const marks = tempDir('apppkg-stopreport-marks-');
  const slow = join(marks.path, 'slow');
  const began = join(marks.path, 'began');
  writePackage(apps.path, name, files(slow, began));
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--settle', '0', '--grace', '8', '--access-log', 'off']);
  try {
    const first = Number(await waitFor(async () => {
      const res = await request(`${gw.url}/${name}/`);
      const body = await res.body.text();
      return res.statusCode === 200 ? body : undefined;
    }, 30_000, () => `${name} to serve\n${gw.output()}`));
    writeFileSync(slow, '');
    process.kill(first, 'SIGKILL');
    // Its slot starts another, whose start now sleeps.
    await waitFor(() => existsSync(began) && readFileSync(began, 'utf8').endsWith('\n'), 30_000, () => `the restarted worker's ${what} to begin\n${gw.output()}`);
    const pids = await childPids(gw.child.pid!);
    const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
    gw.child.kill('SIGTERM');
    // Its report comes every 5 s; the worker is killed at the end of the 8 s of grace (ASGI 5 s later).
    check(await orAfter(30_000, () => 'late', exited), gw.output());
    await assertNoOrphans(pids);
  } finally {
    await gw.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
}

test('a restarted worker stopped in its ASGI lifespan startup is said to be there, not in its own shutdown', async () => {
  const files = (slow: string, began: string) => ({ 'app.yaml': 'platform: python, asgi\napp: main:app\n', 'main.py': app(slow, began) });
  await stopWhileRestarting('slowlife', files, 'lifespan startup', (code, output) => {
    assert.is(code, 0, output);
    assert.match(output, /stopping: waiting for 1 worker stopped during its ASGI lifespan startup, which goes on past its SIGTERM \(the app took the signal for itself; a startup that never completed runs no lifespan shutdown\): slowlife \(worker \d+, \d+ s\); at the end of --grace, in \d+ s, it is killed 5 s later/, output);
    assert.not.match(output, /own shutdown/, output);
    // Its kill says the same: no lifespan shutdown ran, nor a task.
    assert.match(output, /slowlife: worker \d+ had not exited 5 s after the end of its grace at the gateway's stop \(it was stopped during its lifespan startup, which went on past its SIGTERM: the app took the signal for itself\): killed/, output);
  });
});

/** A WSGI app answering its pid, whose import sleeps 60 s once `slow` exists (said in `began`). */
const wsgiApp = (slow: string, began: string) => `import os, signal, time
signal.signal(signal.SIGTERM, lambda *a: None)
if os.path.exists(${JSON.stringify(slow)}):
    with open(${JSON.stringify(began)}, "a") as f:
        f.write("%d\\n" % os.getpid())
    time.sleep(60)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;

test('a restarted WSGI worker stopped in its import is said to be there, and killed at the end of --grace', async () => {
  const files = (slow: string, began: string) => ({ 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': wsgiApp(slow, began) });
  await stopWhileRestarting('slowimport', files, 'import', (code, output) => {
    assert.is(code, 0, output);
    assert.match(output, /stopping: waiting for 1 worker stopped during its import, which goes on past its SIGTERM \(the app took the signal for itself\): slowimport \(worker \d+, \d+ s\); at the end of --grace, in \d+ s, it is killed \(an ASGI worker 5 s later\)/, output);
    assert.not.match(output, /own shutdown/, output);
  });
});

test.run();
