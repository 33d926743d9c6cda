// The bundled worker (python-shim/) on every CPython 3.9 and later that pyenv has here, one
// gateway each (`--apps`, the interpreter named in the environment file), three apps each: an
// ASGI app (lifespan state from startup to shutdown, bodies streamed both ways, a websocket echo
// and close codes both ways, its worker SIGKILLed and replaced), a WSGI app with `threads: 1`
// and `max_requests: 2` (recycled), and one with the default threads; then `run` of the Python
// library (`from apppkg import AppPackage`: config, load_object, run_command and a failing
// command's status), and python-shim/ installed by pip (offline) into a venv of that Python. The apps run with PYTHONWARNINGS showing every DeprecationWarning and
// ResourceWarning: the shim caused none may reach an app's log. Until 2026-12-08 each ASGI
// worker's stop wrote `ResourceWarning: unclosed transport <_SelectorSocketTransport fd=3>`
// there, on every version: the link's transports were left to the garbage collector. Each app
// forks a multiprocessing helper at import, and the ASGI one in its lifespan startup too: on
// 3.12 and later each was a `DeprecationWarning: This process ... is multi-threaded`, the thread
// one of the worker's watchdogs (faulthandler's for the import, the lifespan's), now stopped for
// a fork (python-shim/apppkg_shim/fork_quiet.py). The older
// series (3.6-3.8) are older-interpreters.test.ts's; each series is skipped where pyenv lacks it.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { BIN, isAlive, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';
import { pyenvPython } from '../helpers/pyenv.js';

const SERIES = ['3.9', '3.10', '3.11', '3.12', '3.13', '3.14'];
const WARNINGS = 'always::DeprecationWarning,always::PendingDeprecationWarning,always::ResourceWarning';

// Run by `run` in the asgi app's environment: the library as an app's own command sees it.
const PROBE = String.raw`
import inspect, json, sys
from apppkg import AppPackage, CommandNotFound
app = AppPackage(sys.argv[1], state_dir=sys.argv[2])
loaded = app.load_object(app.config["app"])
status = app.run_command("test")
try:
    app.run_command("nosuch")
    missing = None
except CommandNotFound as exc:
    missing = type(exc).__name__
print("PROBE " + json.dumps({"python": "%d.%d" % sys.version_info[:2], "name": app.name, "app": app.config["app"],
                             "coroutine": inspect.iscoroutinefunction(loaded), "status": status, "missing": missing}))
`;

interface Answer {
  python: string;
  pid: number;
  state?: string;
  total: number;
  multithread?: boolean;
}

const execFileAsync = promisify(execFile);

/** python-shim/ installed by pip (python3's, no index) into a fresh venv of `python`: what the library says of `dir` there. */
async function installedLibrary(python: string, venv: string, dir: string, state: string): Promise<string> {
  await execFileAsync(python, ['-m', 'venv', '--without-pip', venv], { timeout: 60_000 });
  const venvPython = join(venv, 'bin', 'python');
  await execFileAsync('python3', ['-m', 'pip', '--python', venvPython, 'install', '--no-index', '--no-cache-dir', '--disable-pip-version-check', '-q', SHIM_DIR], { timeout: 120_000 });
  const code = 'import apppkg, sys; from apppkg import AppPackage; app = AppPackage(sys.argv[1], state_dir=sys.argv[2]); print("%d.%d" % sys.version_info[:2], apppkg.__file__.startswith(sys.prefix), app.config["app"])';
  const r = await execFileAsync(venvPython, ['-c', code, dir, state], { timeout: 60_000, cwd: venv, env: { ...process.env, APPPKG_GATEWAY: BIN, PYTHONWARNINGS: WARNINGS } });
  assert.not.match(r.stderr, /Warning/, `the library installed with ${python} warned`);
  return r.stdout.trim();
}

async function answer(url: string, body?: string): Promise<Answer> {
  const r = await request(url, { method: body === undefined ? 'GET' : 'POST', body, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const text = await r.body.text();
  assert.is(r.statusCode, 200, `${url}: ${text}`);
  return JSON.parse(text) as Answer;
}

/**
 * Every check above on `python` (of `series`), with a gateway of its own in `work`, told to
 * `running` for the suite's after hook to stop when a check fails before the scenario's end.
 */
async function scenario(series: string, python: string, work: { path: string }, running: (gw: RunningGateway | null) => void): Promise<void> {
  const apps = join(work.path, 'apps');
  const state = join(work.path, 'state');
  const env = join(work.path, 'environment.yaml');
  addPackage(apps, 'every-python', 'asgi');
  const toWsgi: Array<[RegExp, string]> = [[/python, asgi/, 'python, wsgi'], [/asgi_app:application/, 'wsgi_app:application']];
  addPackage(apps, 'every-python', 'wsgi1', { 'app.yaml': toWsgi });
  addPackage(apps, 'every-python', 'wsgi', { 'app.yaml': toWsgi });
  // Beside the gateway: pip's CPU, the gateway's mostly waits.
  const installed = installedLibrary(python, join(work.path, 'venv'), join(apps, 'asgi'), state).catch((err: unknown) => err as Error);
  const each = (name: string, extra = '') => `  ${name}:\n    python: ${python}\n    workers: 1\n${extra}`;
  writeFileSync(env, `settings:\n  PYTHONWARNINGS: ${WARNINGS}\napps:\n${each('asgi')}${each('wsgi1', '    threads: 1\n    max_requests: 2\n')}${each('wsgi')}`, { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', env, '--access-log', 'off'], { ms: 60_000 });
  running(gw);
  const url = gw.url;

  // ASGI: the lifespan's state in a request, a body in pieces up, one in pieces down.
  const upload = await answer(`${url}/asgi/upload`, 'x'.repeat(300_000));
  assert.equal([upload.python, upload.state, upload.total], [series, `state-${series}`, 300_000]);
  const down = await request(`${url}/asgi/download`, { headersTimeout: 15_000, bodyTimeout: 15_000 });
  assert.is(await down.body.text(), `0-1-2-3-${series}`);
  const echo = await openSocket(`${url.replace(/^http/, 'ws')}/asgi/ws`);
  echo.ws.send('hi');
  assert.is(await echo.next(), `${series} hi`);
  echo.ws.send('close:4321');
  assert.is(await echo.closed(), 4321, 'the app closes with its code');
  const client = await openSocket(`${url.replace(/^http/, 'ws')}/asgi/ws`);
  client.ws.close(4002);
  await client.closed();

  // WSGI with threads: 1 and max_requests: 2: the third request is a new worker's.
  const first = await answer(`${url}/wsgi1/`, 'hello');
  assert.equal([first.python, first.multithread, first.total], [series, false, 5]);
  assert.is((await answer(`${url}/wsgi1/`)).pid, first.pid);
  const recycled = await waitFor(async () => {
    const a = await answer(`${url}/wsgi1/`);
    return a.pid !== first.pid && a;
  }, 15_000, 'a request served by the recycled worker');
  assert.is(recycled.python, series);
  const threaded = await answer(`${url}/wsgi/`, 'hello');
  assert.equal([threaded.python, threaded.multithread, threaded.total], [series, true, 5]);

  // The ASGI worker SIGKILLed: gone, and a new one answers.
  process.kill(upload.pid, 'SIGKILL');
  const replaced = await waitFor(async () => {
    const a = await answer(`${url}/asgi/`).catch(() => null);
    return a !== null && a.pid !== upload.pid && a;
  }, 15_000, 'the killed worker replaced');
  assert.is(replaced.state, `state-${series}`, 'the new worker ran its lifespan startup');
  await waitFor(() => !isAlive(upload.pid), 5_000, `the killed worker ${upload.pid} reaped`);

  // The Python library, from the app's own environment.
  const probe = join(work.path, 'probe.py');
  writeFileSync(probe, PROBE);
  const r = await runCli(['run', join(apps, 'asgi'), '--state-dir', state, '--environment', env, '--', 'python', probe, join(apps, 'asgi'), state], { ms: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('PROBE '));
  assert.ok(line, `${r.stdout}\n${r.stderr}`);
  assert.equal(JSON.parse(line.slice('PROBE '.length)), { python: series, name: 'asgi', app: 'asgi_app:application', coroutine: true, status: 3, missing: 'CommandNotFound' });
  assert.not.match(r.stderr, /Warning/, 'the library warned');

  const library = await installed;
  if (library instanceof Error) throw library;
  assert.is(library, `${series} True asgi_app:application`, 'python-shim/ installed by pip');

  running(null);
  await stopGatewayChecked(gw);
  const log = (name: string) => readFileSync(join(state, 'apps', name, 'log', 'app.log'), 'utf8');
  assert.match(log('asgi'), `lifespan shutdown saw state-${series}`);
  assert.match(log('asgi'), 'websocket closed by the client with 4002');
  for (const name of ['asgi', 'wsgi1', 'wsgi']) {
    const warned = log(name).split('\n').filter((l) => /Warning/.test(l));
    assert.equal(warned, [], `${name}'s log on ${series}`);
  }
}

const test = suite('the worker on every CPython 3.9+ pyenv has: one gateway each, all at once');
const PYTHONS = SERIES.map((series) => [series, pyenvPython(series)] as const);
const works = new Map<string, { path: string; remove(): void }>();
const gateways = new Map<string, RunningGateway | null>();
/** Each series' scenario, started together in `before` (one gateway each: ~6 s of mostly waiting), its error or null. */
const outcomes = new Map<string, Promise<unknown>>();

test.before(() => {
  for (const [series, python] of PYTHONS) {
    if (python === null) continue;
    const work = tempDir(`apppkg-every-python-${series}-`);
    works.set(series, work);
    outcomes.set(series, scenario(series, python, work, (gw) => gateways.set(series, gw)).then(() => null, (err: unknown) => err));
  }
});

test.after(async () => {
  await Promise.all(outcomes.values());
  for (const [series, work] of works) await stopGatewayChecked(gateways.get(series), work);
});

for (const [series, python] of PYTHONS) {
  runIf(test, python !== null, `pyenv has no CPython ${series} under ~/.pyenv/versions`)(
    `CPython ${series}: ASGI and WSGI apps, a recycle, a SIGKILLed worker, the library under run: no warning of the shim's`,
    async () => {
      const err = await outcomes.get(series);
      if (err !== null) throw err;
    },
  );
}

test.run();
