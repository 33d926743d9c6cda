// The environ a health probe's request gives the app (docs/protocol.md, Health probe): as a
// request's whose client port the gateway does not know, it has no REMOTE_PORT, never the
// made-up `0` it said before (a log prints that as a port); REMOTE_ADDR is loopback. A WSGI
// app records the environ its health path got, and a request reads it back.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('health probe: its environ');
const apps = tempDir('apppkg-probe-environ-apps-');
const state = tempDir('apppkg-probe-environ-state-');
let gw: RunningGateway;
const pids: number[] = [];

/** Its health path keeps the environ it got (of the probe: nothing else asks it); /seen answers it. */
const RECORDING_APP = `import json, os

SEEN = os.path.join(os.environ["APPPKG_DATA_DIR"], "probe-environ.json")

def application(environ, start_response):
    if environ["PATH_INFO"] == "/healthz":
        keys = ("REMOTE_ADDR", "REMOTE_PORT", "HTTP_USER_AGENT", "SERVER_NAME", "SERVER_PORT")
        with open(SEEN, "w") as f:
            json.dump({k: environ[k] for k in keys if k in environ}, f)
        body = b"ok"
    else:
        with open(SEEN, "rb") as f:
            body = f.read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`;

test.before(async () => {
  writePackage(apps.path, 'recorder', { 'app.yaml': 'platform: python, wsgi\napp: recorder:application\nhealth: /healthz\n', 'recorder.py': RECORDING_APP });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  await waitFor(async () => {
    const status = (await (await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 })).body.json()) as { apps: Array<{ name: string; state: string; workers: Array<{ pid: number }> }> };
    const app = status.apps.find((a) => a.name === 'recorder');
    if (app?.state !== 'ready') return false;
    for (const w of app.workers) pids.push(w.pid);
    return true;
  }, 60_000, 'the recording app to pass its probe');
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
});

test('the probe\'s request has no REMOTE_PORT (its client port is unknown), not "0"; REMOTE_ADDR 127.0.0.1, its agent the probe\'s', async () => {
  const res = await request(`${gw.url}/recorder/seen`, { headersTimeout: 10_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, body);
  const seen = JSON.parse(body) as Record<string, string>;
  assert.is(seen.HTTP_USER_AGENT, 'apppkg-gateway-probe', body);
  assert.is(seen.REMOTE_ADDR, '127.0.0.1', body);
  assert.is('REMOTE_PORT' in seen, false, `the probe's environ: ${body}`);
});

test.run();
