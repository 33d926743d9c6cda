// A serving version restarted in place (its app.yaml edited) starts a fresh instance that must
// pass `health:` before it takes over. While its probe keeps failing, /status shows it as a
// `starting` row beside the `serving` one; it used to show only the old instance serving, and
// then, at the end of the start bound, a refusal out of nowhere.
import { existsSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('restart in place: status');
const dir = tempDir('apppkg-restart-status-');
let gw: RunningGateway | null = null;

test.after(async () => {
  await stopGatewayChecked(gw, dir);
});

/** Answers `/healthz` 503 while the data directory holds `warming`, every other path 200. */
const SERVER = `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
WARMING = os.path.join(os.environ["APPPKG_DATA_DIR"], "warming")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        warming = self.path.endswith("/healthz") and os.path.exists(WARMING)
        self.send_response(503 if warming else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

test('a fresh instance whose probe fails shows as starting beside the serving one, then takes over', async () => {
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  const app = writePackage(apps, 'warm', {
    'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\nhealth: /healthz\n',
    'server.py': SERVER,
  });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off'], { ms: 30_000 });
  const first = (await appStatus(gw, 'warm')).processes[0].pid;
  const warming = join(state, 'apps', 'warm', 'data', 'warming');
  writeFileSync(warming, '');
  appendFileSync(join(app, 'app.yaml'), '# edited\n');
  const states = async (): Promise<string[]> => (await appStatus(gw!, 'warm')).versions.map((v: { state: string }) => v.state);
  let seen: string[] = [];
  await waitFor(async () => (seen = await states()).includes('starting'), 15_000, () => `a starting row (rows: ${JSON.stringify(seen)})`);
  assert.equal(await states(), ['serving', 'starting']);
  assert.is((await appStatus(gw, 'warm')).processes[0].pid, first, 'the old instance serves on meanwhile');
  rmSync(warming);
  await waitFor(async () => (await appStatus(gw!, 'warm')).processes[0].pid !== first, 15_000, 'the fresh instance to take over');
  // The old instance may still show as draining a moment: only the starting row must be gone.
  assert.is((await states()).filter((state) => state !== 'draining').join(), 'serving');
  assert.ok(!existsSync(warming));
});

test.run();
