// An operator wipes an app's data (or a cleaner its tmp) while it runs, then the app's worker
// crashes, or its `processes:` entry does: the replacement runs in the environment its version's
// start built, and used to find APPPKG_DATA_DIR and TMPDIR missing until the next deploy (its
// writes failing with ENOENT). A replacement's spawn makes them again, with their modes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('state directories made again for a restarted member');
const apps = tempDir('apppkg-dirs-again-apps-');
const state = tempDir('apppkg-dirs-again-state-');
let gw: RunningGateway;
const seen: number[] = [];
const appState = join(state.path, 'apps', 'wiped');

const APP = `import os

def application(environ, start_response):
    if environ["PATH_INFO"] == "/quit":
        os._exit(1)
    if environ["PATH_INFO"] == "/helpers":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("description=%s\\n" % os.path.isfile(os.environ["APPPKG_DESCRIPTION"])).encode()]
    found = []
    for key in ("APPPKG_DATA_DIR", "TMPDIR"):
        found.append("%s=%s" % (key, os.path.isdir(os.environ[key])))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(" ".join(found) + "\\n").encode()]
`;

// Writes a file into its data directory at every start, then lives until killed. Written aside
// and renamed: the test reads it once it exists, and CI once read it opened and still empty.
const PROCESS = `import os, time
mark = os.path.join(os.environ["APPPKG_DATA_DIR"], "process-%d" % os.getpid())
with open(mark + ".part", "w") as f:
    f.write("description=%s" % os.path.isfile(os.environ["APPPKG_DESCRIPTION"]))
os.rename(mark + ".part", mark)
time.sleep(3600)
`;

test.before(async () => {
  writePackage(apps.path, 'wiped', {
    'app.py': APP,
    'side.py': PROCESS,
    'app.yaml': 'platform: python, wsgi\napp: app:application\nprocesses:\n  side:\n    command: exec python side.py\n',
  });
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  wiped:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(seen);
  apps.remove();
  state.remove();
});

async function status(): Promise<any> {
  const body = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  seen.push(...statusPids(body));
  return body;
}

async function get(path: string): Promise<{ status: number; text: string }> {
  const res = await request(`${gw.url}/wiped${path}`, { headersTimeout: 30_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

/**
 * Removes `dir` as an operator's `rm -r` would, while the gateway goes on writing into the app's
 * state directory (history.json a second after an event, by a temp file renamed over it; the app
 * log). rmSync lists a directory once, then removes it: a file made after the listing left
 * ENOTEMPTY (seen once in a full run; its maxRetries retries only that last rmdir). rm's retries
 * list and remove it again.
 */
function wipe(dir: string): Promise<void> {
  return rm(dir, { recursive: true, maxRetries: 10 });
}

function modeOf(dir: string): string {
  return (statSync(dir).mode & 0o777).toString(8);
}

test('a worker replaced after a crash finds its data and tmp directories again', async () => {
  assert.is((await get('/')).text, 'APPPKG_DATA_DIR=True TMPDIR=True\n');
  const before = (await status()).apps.find((a: any) => a.name === 'wiped').workers.map((w: any) => w.pid);
  await wipe(join(appState, 'data'));
  await wipe(join(appState, 'tmp'));
  assert.is((await get('/')).text, 'APPPKG_DATA_DIR=False TMPDIR=False\n', 'the running worker sees them gone');
  await get('/quit').catch(() => {});
  await waitFor(async () => {
    const pids = (await status()).apps.find((a: any) => a.name === 'wiped').workers.map((w: any) => w.pid);
    return pids.length === 1 && pids[0] !== null && !before.includes(pids[0]);
  }, 15_000, 'a new worker');
  assert.is((await get('/')).text, 'APPPKG_DATA_DIR=True TMPDIR=True\n');
  assert.is(modeOf(join(appState, 'data')), '700');
  assert.is(modeOf(join(appState, 'tmp')), '700');
});

test('a processes: entry restarted after its state directory went whole finds its data directory', async () => {
  const side = () => status().then((s) => s.apps.find((a: any) => a.name === 'wiped').processes.find((p: any) => p.name === 'side'));
  const first = await waitFor(async () => (await side())?.pid, 15_000, 'the side process running');
  await wipe(join(appState, 'data'));
  await wipe(join(appState, 'log'));
  process.kill(first, 'SIGKILL');
  const next = await waitFor(async () => {
    const p = await side();
    return p?.pid && p.pid !== first ? p.pid : null;
  }, 15_000, 'a new side process');
  await waitFor(() => existsSync(join(appState, 'data', `process-${next}`)), 10_000, 'the new process writing into its data directory');
  assert.is(modeOf(join(appState, 'log')), '750');
});

// The whole of STATE/apps/NAME, run helpers too: the replacement's PATH names the helpers'
// bin/python (a `command: exec python ...` found none, or another Python) and its
// APPPKG_DESCRIPTION their description.json.
test('a worker and a processes: entry restarted after the app\'s whole state directory went find their run helpers', async () => {
  const app = async () => (await status()).apps.find((a: any) => a.name === 'wiped');
  const side = async () => (await app()).processes.find((p: any) => p.name === 'side');
  const firstSide = await waitFor(async () => (await side())?.pid, 15_000, 'the side process running');
  const firstWorkers = (await app()).workers.map((w: any) => w.pid);
  assert.is((await get('/helpers')).text, 'description=True\n');
  await wipe(appState);
  await get('/quit').catch(() => {});
  process.kill(firstSide, 'SIGKILL');
  await waitFor(async () => {
    const pids = (await app()).workers.map((w: any) => w.pid);
    return pids.length === 1 && pids[0] !== null && !firstWorkers.includes(pids[0]);
  }, 15_000, 'a new worker');
  assert.is((await get('/helpers')).text, 'description=True\n', 'the new worker finds its APPPKG_DESCRIPTION');
  const next = await waitFor(async () => {
    const p = await side();
    return p?.pid && p.pid !== firstSide && existsSync(join(appState, 'data', `process-${p.pid}`)) ? p.pid : null;
  }, 15_000, 'a new side process writing into its data directory');
  assert.is(readFileSync(join(appState, 'data', `process-${next}`), 'utf8'), 'description=True');
});

test.run();
