// An app's start takes traffic from its first worker up (SPEC 4: each worker passes its probe
// before it gets traffic), not from its last: the first request of a gateway's start waited for
// the slowest of the app's workers. Through the real CLI with real Python imports: of two
// workers, the one that takes a flag file first holds its import until the test releases it;
// the other comes up at once. Released with "fail", the held import raises: the app keeps
// serving and that worker is restarted with the back-off as one that died, and comes up.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('the first worker up serves');

/** The worker that creates `flag` first waits (at most 60 s) for `release`; "fail" in it makes its import raise. */
const heldImport = (flag: string, release: string) => `import os, time
try:
    os.close(os.open(${JSON.stringify(flag)}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    held = True
except FileExistsError:
    held = False
if held:
    deadline = time.monotonic() + 60
    while not os.path.exists(${JSON.stringify(release)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(${JSON.stringify(release)}) as f:
        if f.read() == "fail":
            raise RuntimeError("the held worker's import fails")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;

/** GET `path`, bounded: a request held for the held worker would wait for its release (or its start_timeout, 60 s). */
async function get(gw: RunningGateway, path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${gw.url}${path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

test('a start with one worker held serves from the other, and a held worker that then fails is restarted', async () => {
  const apps = tempDir('apppkg-first-up-apps-');
  const state = warmStateDir('apppkg-first-up-state-');
  const marks = tempDir('apppkg-first-up-marks-');
  const flag = join(marks.path, 'held');
  const release = join(marks.path, 'release');
  writePackage(apps.path, 'held', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': heldImport(flag, release) });
  const envFile = join(marks.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  held:\n    workers: 2\n', { mode: 0o600 });
  let gw: RunningGateway | null = null;
  try {
    // The listening line comes once the apps of the start serve, or after 10 s of one still
    // starting (its requests then wait for it): before, with one worker held, the first GET
    // waited for the release below, which never came.
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path,
      '--environment', envFile, '--access-log', 'off'], { ms: 20_000 });
    const running = gw;
    const first = await get(running, '/held/');
    assert.is(first.status, 200, running.output());
    const status = await appStatus(running, 'held');
    assert.is(status.state, 'ready');
    const ready = status.workers.filter((w: { state: string }) => w.state === 'ready');
    assert.is(ready.length, 1, JSON.stringify(status.workers));
    assert.is(String(ready[0].pid), first.body);

    writeFileSync(release, 'fail');
    await waitFor(() => /could not import the app/.test(running.output()), 20_000, () => `the held worker's failure to be said\n${running.output()}`);
    // Served throughout, by the worker that was up.
    assert.is((await get(running, '/held/')).status, 200);
    // Its restart imports past the flag, which is there now, and joins the rotation.
    const both = await waitFor(async () => {
      const s = await appStatus(running, 'held');
      return s.workers.length === 2 && s.workers.every((w: { state: string }) => w.state === 'ready') ? s : null;
    }, 20_000, () => `both workers ready\n${running.output()}`);
    assert.is(both.state, 'ready');
    assert.is(both.restarts, 1, JSON.stringify(both));
    assert.match(running.output(), /RuntimeError: the held worker's import fails|could not import the app/);
  } finally {
    writeFileSync(release, 'go');
    await stopGatewayChecked(gw, apps, state, marks);
  }
});

test.run();
