// A worker's fds 3 and 4 are its link to the gateway (docs/protocol.md §1). An app that writes
// into them (os.write(4, ...) on a descriptor it never opened) or closes them
// (os.closerange(3, 100), as a daemonising library does) breaks only its own worker: the
// requests on that worker fail at once with 502, the log says what the app did and how to
// stop, a new worker serves, and the app beside it is never disturbed. Garbage on fd 4 had the
// gateway wait for a frame of up to 4 GiB that never came: the request got its 504 at `timeout`
// with "no response head", and an idle worker was killed as hung; a closed link had the worker
// exit 0 in silence, which the gateway took for a process gone to the background.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { clientLoop, writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('an app that writes into or closes its worker\'s link');
const work = tempDir('apppkg-link-fds-');
let gw: RunningGateway | null = null;

test.before(async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'steady', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': `import json

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"version": 1}).encode()]
`,
  });
  writePackage(apps, 'scribbler', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': `import os

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/junk":
        os.write(4, b"\\xff" * 64)
    elif path == "/words":
        os.write(4, b"a line for a log file that was fd 4 once\\n")
    elif path == "/close":
        os.closerange(3, 100)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`,
  });
  writePackage(apps, 'ascribbler', {
    'app.yaml': 'platform: python, asgi\napp: main:application\n',
    'main.py': `import os

async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/close":
        os.closerange(3, 100)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
`,
  });
  const env = join(work.path, 'environment.yaml');
  // A 504 would come only after 30 s: the 502 must not wait for it.
  writeFileSync(env, 'apps:\n  scribbler:\n    workers: 1\n    timeout: 30\n  ascribbler:\n    workers: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off', '--settle', '0']);
});

test.after(async () => {
  await stopGatewayChecked(gw, work);
});

async function get(path: string, app = 'scribbler'): Promise<{ status: number; text: string }> {
  const res = await request(`${gw!.url}/${app}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function servingPid(app = 'scribbler'): Promise<number> {
  return waitFor(async () => {
    const res = await get('/', app);
    return res.status === 200 ? Number(res.text) : null;
  }, 20_000, `a worker of ${app} to serve`);
}

function appLog(app = 'scribbler'): string {
  return readFileSync(join(work.path, 'state', 'apps', app, 'log', 'app.log'), 'utf8');
}

for (const [path, what] of [
  ['/junk', 'bytes that are no frame'],
  ['/words', 'a line of text'],
] as const) {
  test(`${what} written to fd 4: 502 at once, the log says so with the fix, a new worker serves, the other app undisturbed`, async () => {
    const loop = clientLoop(`${gw!.url}/steady/`, 2);
    try {
      const before = await servingPid();
      const res = await get(path);
      assert.is(res.status, 502, `${res.status} ${res.text}`);
      const said = await waitFor(() => gw!.output().split('\n').find((l) => l.includes(`scribbler: worker ${before} wrote`)), 10_000, () => `the line about worker ${before}, in:\n${gw!.output()}`);
      assert.match(said!, /wrote bytes that are no frames of its link to the gateway \(fd 4\)/);
      assert.match(said!, /write only to descriptors the app opened itself/);
      await waitFor(() => appLog().includes(`[apppkg-gateway] worker ${before} wrote`), 5000, 'the line in app.log');
      const after = await servingPid();
      assert.is.not(after, before);
      const status = await gatewayStatus(gw!);
      const row = status.apps.find((a: any) => a.name === 'scribbler');
      assert.ok(row.workers.every((w: any) => w.pid !== before), 'the old worker is gone');
    } finally {
      const result = await loop.stop();
      assert.ok(result.sent > 0);
      assert.is(result.failed, 0, result.failures.join('\n'));
    }
  });
}

for (const app of ['scribbler', 'ascribbler']) {
  test(`${app === 'scribbler' ? 'WSGI' : 'ASGI'}: fds 3 and 4 closed by the app: 502, the app log says the app closed its link, not that it went to the background (nor an internal error)`, async () => {
    const loop = clientLoop(`${gw!.url}/steady/`, 2);
    try {
      const before = await servingPid(app);
      const res = await get('/close', app);
      assert.is(res.status, 502, `${res.status} ${res.text}`);
      const said = await waitFor(() => appLog(app).split('\n').find((l) => l.includes(`apppkg-shim[${before}]: the app closed the link`)), 10_000, () => `the worker's line, in:\n${appLog(app)}`);
      assert.match(said!, /os\.closerange/);
      assert.not.match(appLog(app), /internal error/);
      const exit = await waitFor(() => gw!.output().split('\n').find((l) => l.includes(`${app}: worker ${before} exited`)), 10_000, 'the exit line');
      assert.not.match(exit!, /foreground|daemon/, exit);
      assert.is.not(await servingPid(app), before);
    } finally {
      const result = await loop.stop();
      assert.is(result.failed, 0, result.failures.join('\n'));
    }
  });
}

test.run();
