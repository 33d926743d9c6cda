import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { basename, join } from 'node:path';
import { request } from 'undici';
import { ASGI_ANSWERS_VERSION } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, childPids, EXAMPLES, FIXTURES, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';
import { openSocket } from '../helpers/websocket.js';
import { makeWheel } from '../lifecycle/lifecycle-apps.js';

const test = suite('cli serve');
const state = warmStateDir('apppkg-serve-state-');
const running: RunningGateway[] = [];

test.after(async () => {
  for (const g of running) await g.stop();
  state.remove();
});

/**
 * A serve of `dir` on the suite's state root with `workers` Python workers: one, unless a test
 * is about a second, as a worker costs about half a serve's start in CPU and a reload, an
 * answer or a refusal is the same with one.
 */
async function serve(dir: string, extra: string[] = [], workers = 1): Promise<RunningGateway> {
  const g = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--workers', String(workers), ...extra]);
  running.push(g);
  return g;
}

test('the guestbook keeps an entry across a restart of the gateway', async () => {
  let gw = await serve(join(EXAMPLES, 'guestbook'), [], 2);
  let home = await request(`${gw.url}/`);
  assert.is(home.statusCode, 200);
  assert.match(String(home.headers['content-type']), /text\/html/);
  await home.body.text();

  const signed = await request(`${gw.url}/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'name=Ada&message=persisted+across+restarts',
  });
  assert.is(signed.statusCode, 303);
  assert.is(signed.headers.location, '/');
  await signed.body.text();

  const css = await request(`${gw.url}/static/style.css`);
  assert.is(css.statusCode, 200);
  assert.match(String(css.headers['content-type']), /text\/css/);
  await css.body.text();

  const workers = await childPids(gw.child.pid!);
  assert.ok(workers.length >= 2, `expected 2 workers, found ${workers.join(',')}`);
  // Ctrl-C, as a developer stops it, said as the gateway (--apps) says it: the `stopped` line
  // was missing (H244).
  const exited = new Promise<number | null>((resolve) => gw.child.once('exit', resolve));
  gw.child.kill('SIGINT');
  assert.is(await within(15_000, 'serve to stop', exited), 0, gw.output());
  const stopLines = /\napppkg-gateway: SIGINT: stopping \(finishing requests in flight, at most 10 s\)\napppkg-gateway: stopped\n/;
  await waitFor(() => stopLines.test(gw.output()), 5000, () => `the stop said as the gateway says it:\n${gw.output()}`);
  await assertNoOrphans(workers);

  gw = await serve(join(EXAMPLES, 'guestbook'));
  home = await request(`${gw.url}/`);
  const html = await home.body.text();
  assert.match(html, /persisted across restarts/);
  await gw.stop();
});

test('an app that fails to import: exit 1, the traceback, and the file and line', async () => {
  const r = await runCli(['serve', join(FIXTURES, 'apps', 'crash-on-import'), '--port', '0', '--state-dir', state.path, '--workers', '1']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /Traceback/);
  assert.match(r.stderr, /APPPKG_APP_IMPORT_FAILED|cannot import/);
  assert.match(r.stderr, /helper\.py:4/);
  assert.match(r.stderr, /fix:/);
});

test('--reload closes the old code\'s websockets 1012 as soon as the new workers serve, not at the end of the drain', async () => {
  const work = tempDir('apppkg-reload-ws-');
  try {
    writeFileSync(join(work.path, 'app.yaml'), 'platform: python, asgi\napp: app:application\n');
    const file = join(work.path, 'app.py');
    writeFileSync(
      file,
      `VERSION = "old"

${ASGI_ANSWERS_VERSION}`,
    );
    const gw = await serve(work.path, ['--reload']);
    const old = await openSocket(gw.url.replace(/^http/, 'ws'));
    assert.is(await old.next(), 'old');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"old"', '"new"'));
    await waitFor(() => /restarted; draining the old one/.test(gw.output()), 20_000, () => `the new workers\n${gw.output()}`);
    // The drain (serve's --grace, 10 s) would keep it open; uvicorn --reload closes it at once.
    assert.is(await old.closed(3000), 1012, 'service restart: the page reconnects');
    // Why, in words a developer recognises: no other version is involved.
    assert.is(old.closeReason(), `${basename(work.path)}: its code changed (--reload)`);
    const fresh = await openSocket(gw.url.replace(/^http/, 'ws'));
    assert.is(await fresh.next(), 'new');
    fresh.ws.close();
    assert.is(await gw.stop(), 0, gw.output());
  } finally {
    work.remove();
  }
});

// One serve for both: the first save in place on a fresh watcher, then by rename, each reaching
// the workers; a serve each cost another start and reload for the same watch.
test('--reload restarts the workers when a .py file changes, and keeps hearing a file an editor saves by rename (sed -i, vim), save after save', async () => {
  const work = tempDir('apppkg-reload-rename-');
  try {
    cpSync(join(EXAMPLES, 'hello'), work.path, { recursive: true });
    const gw = await serve(work.path, ['--reload']);
    assert.is(await (await request(`${gw.url}/`)).body.text(), 'Hello, world!\n');
    const file = join(work.path, 'hello.py');
    const original = readFileSync(file, 'utf8');
    // A save in place, then two saves by rename, then one in place: each must reach the workers.
    for (const [i, how] of [[0, 'in place'], [1, 'rename'], [2, 'rename'], [3, 'in place']] as const) {
      const text = original.replace('Hello, world!', `Hello, save ${i}!`);
      if (how === 'rename') {
        writeFileSync(`${file}.swp`, text);
        renameSync(`${file}.swp`, file);
      } else {
        writeFileSync(file, text);
      }
      await waitFor(async () => (await (await request(`${gw.url}/`)).body.text()) === `Hello, save ${i}!\n`, 20000, `save ${i} (${how})`, ASK_GATEWAY_EVERY_MS);
    }
    await gw.stop();
  } finally {
    work.remove();
  }
});

test('in development a 504 carries where the app was stuck (SPEC 4: the traceback too), and a 500 the traceback, from the app\'s own frame on; WSGI and ASGI', async () => {
  const work = tempDir('apppkg-dev-504-');
  try {
    const wsgi = join(work.path, 'stuck');
    mkdirSync(wsgi);
    writeFileSync(join(wsgi, 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
    writeFileSync(join(wsgi, 'main.py'), [
      'import time',
      'def stuck_in_the_app():',
      '    time.sleep(30)',
      'def application(environ, start_response):',
      '    if environ["PATH_INFO"] == "/raise":',
      '        raise ValueError("raised in the app")',
      '    stuck_in_the_app()',
      '',
    ].join('\n'));
    const asgi = join(work.path, 'stuck-asgi');
    mkdirSync(asgi);
    writeFileSync(join(asgi, 'app.yaml'), 'platform: python, asgi\napp: main:app\n');
    writeFileSync(join(asgi, 'main.py'), [
      'import asyncio',
      'async def awaiting_forever():',
      '    await asyncio.sleep(30)',
      'async def app(scope, receive, send):',
      '    if scope["type"] == "http":',
      '        if scope["path"] == "/raise":',
      '            raise ValueError("raised in the app")',
      '        await awaiting_forever()',
      '',
    ].join('\n'));
    for (const [dir, frame] of [[wsgi, 'stuck_in_the_app'], [asgi, 'awaiting_forever']] as const) {
      const env = join(work.path, `${frame}.yaml`);
      writeFileSync(env, `apps:\n  ${dir.split('/').pop()}:\n    timeout: 1\n`);
      // Two workers, as serve starts by default: with one, the worker's answer to where it was
      // stuck came after the 504's 500 ms wait for it in one of three runs on a loaded machine.
      const gw = await serve(dir, ['--environment', env], 2);
      const r = await request(`${gw.url}/`);
      const body = await r.body.text();
      assert.is(r.statusCode, 504, body);
      assert.match(body, /the app did not answer within 1 s/);
      assert.match(body, new RegExp(`main\\.py", line \\d+, in ${frame}`), body);
      // From the app's own frame on (README, Faults): the shim's coroutine or thread that runs the
      // app is none of its author's business.
      assert.not.match(body, /apppkg_shim/, body);
      // A 500's traceback likewise (and the app log's, the same text).
      const raised = await request(`${gw.url}/raise`);
      const traceback = await raised.body.text();
      assert.is(raised.statusCode, 500, traceback);
      assert.match(traceback, /main\.py", line \d+, in (application|app)\n[^]*ValueError: raised in the app/, traceback);
      assert.not.match(traceback, /apppkg_shim/, traceback);
      await gw.stop();
    }
  } finally {
    work.remove();
  }
});

// One app for both claims (a serve each was a start for the same setup): each path ends its
// worker another way, and the serve starts the next worker.
test('in development a 502 carries the dead worker\'s last words (a crash in C code by faulthandler, an exit), not what it wrote before the request, and says how it ended: its status, its signal, and for a SIGKILL with max_memory set that it may have been for its memory', async () => {
  const work = tempDir('apppkg-dev-502-');
  try {
    const dir = join(work.path, 'crashy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
    writeFileSync(join(dir, 'main.py'), [
      'import ctypes, os, signal, sys',
      'def crash_in_c():',
      '    ctypes.string_at(0)',
      'def application(environ, start_response):',
      '    if environ["PATH_INFO"] == "/segv":',
      '        crash_in_c()',
      '    if environ["PATH_INFO"] == "/kill":',
      '        os.kill(os.getpid(), signal.SIGKILL)',
      '    if environ["PATH_INFO"] == "/exit-1":',
      '        os._exit(1)',
      '    if environ["PATH_INFO"] == "/raise":',
      '        raise ValueError("answered 500 before the exit")',
      '    print("leaving now, on purpose", file=sys.stderr, flush=True)',
      '    os._exit(4)',
      '',
    ].join('\n'));
    const envFile = join(work.path, 'environment.yaml');
    writeFileSync(envFile, 'apps:\n  crashy:\n    max_memory: 256MiB\n');
    const gw = await serve(dir, ['--environment', envFile]);
    const segv = await request(`${gw.url}/segv`);
    const crashed = await segv.body.text();
    assert.is(segv.statusCode, 502, crashed);
    assert.match(crashed, /Fatal Python error: Segmentation fault/);
    assert.match(crashed, /main\.py", line 3 in crash_in_c/);
    const exit = await request(`${gw.url}/exit`);
    const exited = await exit.body.text();
    assert.is(exit.statusCode, 502, exited);
    assert.match(exited, /leaving now, on purpose/);
    // How each ended, not that the link closed.
    assert.match(crashed, /^the worker was killed by SIGSEGV$/m);
    assert.match(exited, /^the worker exited with status 4$/m);
    // The one worker answers a 500 (its traceback on stderr), then dies printing nothing: the
    // 502 shows no output, not that traceback as if it were the death's.
    const raised = await request(`${gw.url}/raise`);
    assert.match(await raised.body.text(), /answered 500 before the exit/);
    assert.is(raised.statusCode, 500);
    const exit1 = await request(`${gw.url}/exit-1`);
    const exited1 = await exit1.body.text();
    assert.is(exit1.statusCode, 502, exited1);
    assert.match(exited1, /^the worker exited with status 1$/m);
    assert.not.match(exited1, /closed the link/);
    assert.not.match(exited1, /answered 500 before the exit|last output/, exited1);
    const kill = await request(`${gw.url}/kill`, { headersTimeout: 30_000 });
    const killed = await kill.body.text();
    assert.is(kill.statusCode, 502, killed);
    assert.match(killed, /^the worker was killed by SIGKILL \(max_memory is 256\.0 MiB: it may have been killed for its memory, by the kernel's out-of-memory killer or a container's limit\)$/m);
    await gw.stop();
  } finally {
    work.remove();
  }
});

test('serve of a command app names its own server, not "0 workers"', async () => {
  const gw = await serve(join(FIXTURES, 'apps', 'command-server'));
  await waitFor(() => /serving command-server \(/.test(gw.output()), 10_000, 'the serving line');
  assert.match(gw.output(), /serving command-server \(\S+\) with its own server \(processes\.web, pid \d+\)/);
  assert.not.match(gw.output(), /0 workers/);
  await gw.stop();
});

// One serve of hello for both refusals (a start each before): the busy port is asked from a
// state root of its own, as on the same one the app's lock refuses first (the second claim).
test('serve refuses a busy port with a clear error and exit 1; a second serve of the same app on the same state root refuses, naming the first one, which serves on', async () => {
  const gw = await serve(join(EXAMPLES, 'hello'));
  const port = new URL(gw.url).port;
  const own = warmStateDir('apppkg-serve-state-');
  try {
    const busy = await runCli(['serve', join(EXAMPLES, 'hello'), '--port', port, '--state-dir', own.path, '--workers', '1']);
    assert.is(busy.status, 1);
    assert.match(busy.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  } finally {
    own.remove();
  }
  const r = await runCli(['serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1);
  assert.match(r.stderr, new RegExp(`hello is served already on the state root .* by the serve with pid ${gw.child.pid}\\b`));
  assert.match(r.stderr, /--state-dir/);
  assert.not.match(r.stderr, /listening on/);
  assert.is((await request(`${gw.url}/`)).statusCode, 200);
  // Another app beside it is not held back; once the first stops, the app can be served again.
  const other = await serve(join(EXAMPLES, 'guestbook'));
  await other.stop();
  assert.is(await gw.stop(), 0);
  const again = await serve(join(EXAMPLES, 'hello'));
  assert.is((await request(`${again.url}/`)).statusCode, 200);
  await again.stop();
});

/**
 * An app whose one page is JSON: some of its os.environ, whether /elsewhere is on its sys.path,
 * and what its commands.install wrote into its data directory (null when it never ran).
 */
function environApp(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'app.yaml'),
    'platform: python, wsgi\napp: envapp:application\ncommands:\n  install: echo ran >> "$APPPKG_DATA_DIR/installed.txt"\n',
  );
  writeFileSync(
    join(dir, 'envapp.py'),
    [
      'import json, os, sys',
      '',
      'def application(environ, start_response):',
      '    try:',
      '        with open(os.path.join(os.environ["APPPKG_DATA_DIR"], "installed.txt")) as f:',
      '            installed = f.read()',
      '    except FileNotFoundError:',
      '        installed = None',
      '    keys = ("FOO", "GREETING", "APPPKG_DATA_DIR", "APPPKG_ENV", "VIRTUAL_ENV", "PORT")',
      '    data = {k: os.environ.get(k) for k in keys}',
      '    data.update(installed=installed, elsewhere="/elsewhere" in sys.path)',
      '    body = json.dumps(data).encode()',
      '    start_response("200 OK", [("Content-Type", "application/json")])',
      '    return [body]',
      '',
    ].join('\n'),
  );
  return dir;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await request(url);
  const text = await res.body.text();
  assert.is(res.statusCode, 200, text);
  return JSON.parse(text);
}

test('issue 13 item 5: serve runs commands.install on the first run of an app, and only then', async () => {
  const work = tempDir('apppkg-serve-install-');
  const fresh = warmStateDir('apppkg-serve-install-state-');
  try {
    const dir = environApp(work.path, 'installs');
    const args = ['serve', dir, '--port', '0', '--state-dir', fresh.path, '--workers', '1'];
    let gw = await startCli(args);
    running.push(gw);
    assert.is((await getJson(`${gw.url}/`)).installed, 'ran\n');
    assert.match(gw.output(), /running commands\.install/);
    assert.is(await gw.stop(), 0);

    gw = await startCli(args);
    running.push(gw);
    assert.is((await getJson(`${gw.url}/`)).installed, 'ran\n', 'the hook ran once, not at every start');
    assert.not.match(gw.output(), /running commands\.install/);
    await gw.stop();
  } finally {
    work.remove();
    fresh.remove();
  }
});

// SPEC §2.1: sys.path holds the virtualenv when `pip:` is used. serve ran commands.install on
// the first run but built no venv, so an app whose requirements --apps would install failed
// under serve with a bare ModuleNotFoundError and a fix that pointed at the traceback.
test('serve builds the virtualenv of an app with pip: on its first run, as --apps does: its sys.path has it after the app directory', async () => {
  const work = tempDir('apppkg-serve-venv-');
  const fresh = warmStateDir('apppkg-serve-venv-state-');
  try {
    const dir = join(work.path, 'shop');
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
    writeFileSync(join(dir, 'requirements.txt'), 'thepkg==1.0\n');
    writeFileSync(join(dir, 'wsgi.py'), [
      'import json, sys, thepkg',
      'def application(environ, start_response):',
      '    start_response("200 OK", [("Content-Type", "application/json")])',
      '    return [json.dumps({"version": thepkg.VERSION, "file": thepkg.__file__, "path": sys.path}).encode()]',
      '',
    ].join('\n'));
    makeWheel(dir, 'thepkg', '1.0');
    const gw = await startCli(['serve', dir, '--port', '0', '--state-dir', fresh.path, '--workers', '1'], { ms: 120_000 });
    running.push(gw);
    const got = await getJson(`${gw.url}/`);
    assert.is(got.version, '1.0');
    const venv = join(fresh.path, 'apps', 'shop', 'venv');
    const site = (got.path as string[]).findIndex((p) => p.startsWith(venv) || p.includes('/venv-'));
    assert.ok(site > 0, `the venv's site-packages on sys.path: ${JSON.stringify(got.path)}`);
    assert.is((got.path as string[])[0], dir, 'the app directory first');
    assert.ok((got.path as string[]).slice(site + 1).some((p) => /python3\.\d+$/.test(p)), 'the interpreter\'s own after it');
    assert.ok(existsSync(venv), 'kept for the next run');
    assert.is(await gw.stop(), 0);

    // Requirements already met where the app runs (here by its vendored paths:): no venv, as
    // before, so a developer's own installs need no offline pip.
    const met = join(work.path, 'met');
    mkdirSync(join(met, 'vendor'), { recursive: true });
    writeFileSync(join(met, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\npaths: [vendor]\n');
    writeFileSync(join(met, 'requirements.txt'), 'thepkg==1.0\n');
    cpSync(join(dir, 'wsgi.py'), join(met, 'wsgi.py'));
    execFileSync('python3', ['-m', 'zipfile', '-e', makeWheel(work.path, 'thepkg', '1.0'), join(met, 'vendor')], { timeout: 30_000 });
    const vendored = await startCli(['serve', met, '--port', '0', '--state-dir', fresh.path, '--workers', '1'], { ms: 60_000 });
    running.push(vendored);
    assert.is((await getJson(`${vendored.url}/`)).version, '1.0');
    assert.not.ok(existsSync(join(fresh.path, 'apps', 'met', 'venv')), 'no venv built for requirements already met');
    assert.not.match(vendored.output(), /creating venv/);
    assert.is(await vendored.stop(), 0);
  } finally {
    work.remove();
    fresh.remove();
  }
});

test('serve --hook-timeout stops a commands.install that hangs at the first run, with what it started, and exits 1 saying so', async () => {
  const work = tempDir('apppkg-serve-hook-timeout-');
  const fresh = warmStateDir('apppkg-serve-hook-timeout-state-');
  try {
    const dir = environApp(work.path, 'hangs');
    const pidFile = join(work.path, 'hook.pids');
    // The shell and a child of it: both must go at the bound, not at serve's 600 s default.
    const install = `echo $$ >> ${pidFile}; sleep 300 & echo $! >> ${pidFile}; wait`;
    writeFileSync(join(dir, 'app.yaml'), `platform: python, wsgi\napp: envapp:application\ncommands:\n  install: ${JSON.stringify(install)}\n`);
    const r = await runCli(['serve', dir, '--port', '0', '--state-dir', fresh.path, '--hook-timeout', '2'], { ms: 60_000 });
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, /commands\.install \(.*\) did not finish within 2 s \(--hook-timeout\): it was stopped, with what it started/);
    // serve echoes the hook's output and has no service to reload.
    assert.match(r.stderr, /fix: read its output above .* run `apppkg-gateway serve` again/);
    assert.not.match(r.stderr, /systemctl/);
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    assert.is(pids.length, 2, String(pids));
    await assertNoOrphans(pids, 10_000);

    const zero = await runCli(['serve', dir, '--port', '0', '--state-dir', fresh.path, '--hook-timeout', '0']);
    assert.is(zero.status, 2, zero.stderr);
    assert.match(zero.stderr, /--hook-timeout: expected a number of seconds > 0, found "0"/);
  } finally {
    work.remove();
    fresh.remove();
  }
});

test('issue 13 item 6: serve --reload waits for an app that fails to import at start, and serves it once fixed', async () => {
  const work = tempDir('apppkg-reload-broken-');
  try {
    cpSync(join(EXAMPLES, 'hello'), work.path, { recursive: true, filter: (p) => !p.includes('__pycache__') });
    const file = join(work.path, 'hello.py');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}\nraise RuntimeError("first breakage")\n`);
    // Before the fix serve exited 1 here, and startCli fails on an exit before "listening on".
    const gw = await serve(work.path, ['--reload']);
    assert.match(gw.output(), /first breakage/);
    assert.match(gw.output(), /waiting for a change under .* to try again/);
    // Meanwhile a request hears why (503, to try again), not that nothing is mounted (404).
    const meanwhile = await request(`${gw.url}/`);
    assert.is(meanwhile.statusCode, 503);
    assert.is(meanwhile.headers['retry-after'], '2');
    assert.match(await meanwhile.body.text(), /could not start .*first breakage.*waiting for a fix/s);

    // Still broken after a change: said again, and still waiting.
    writeFileSync(file, `${good}\nraise RuntimeError("second breakage")\n`);
    await waitFor(() => /second breakage[\s\S]*waiting for a change/.test(gw.output()), 20000, 'the second breakage to be reported');
    assert.is(gw.child.exitCode, null, 'serve is still running');

    writeFileSync(file, good);
    await waitFor(
      async () => {
        const res = await request(`${gw.url}/`);
        return (await res.body.text()) === 'Hello, world!\n';
      },
      20000,
      'the fixed app to answer',
      ASK_GATEWAY_EVERY_MS,
    );
    // The 503s were the app's answers, logged under its name as its 200s are, not `app=-`.
    await waitFor(() => /" 200 [\s\S]*app=/.test(gw.output()), 5000, 'the 200 to be logged');
    const logged = (status: number) => [...gw.output().matchAll(new RegExp(`" ${status} \\d+ .* app=(\\S+) dur=`, 'g'))].map((m) => m[1]);
    const served = logged(200);
    assert.ok(served.length > 0 && served[0] !== '-', `the 200 names the app: ${served}`);
    assert.equal([...new Set(logged(503))], [served[0]], 'the 503 while waiting for a fix names the app');
    const workers = await childPids(gw.child.pid!);
    assert.is(await gw.stop(), 0);
    await assertNoOrphans(workers);
  } finally {
    work.remove();
  }
});

test("issue 13 item 7: serve passes the caller's environment beneath the app's own variables; --apps does not", async () => {
  const work = tempDir('apppkg-serve-env-');
  try {
    const apps = join(work.path, 'apps');
    const dir = environApp(apps, 'envapp');
    const envFile = join(work.path, 'environment.yaml');
    writeFileSync(envFile, 'apps:\n  envapp:\n    workers: 1\n    settings: {GREETING: from-file}\n');
    const callerEnv = { FOO: 'bar', GREETING: 'from-shell', APPPKG_DATA_DIR: '/nope', PYTHONPATH: '/elsewhere', VIRTUAL_ENV: '/elsewhere/venv', PORT: '5555' };
    // A background process, to see that the caller's PORT does not reach it either.
    const bgPort = join(state.path, 'apps', 'envapp', 'data', 'bg-port.txt');
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    writeFileSync(join(dir, 'app.yaml'), `${yaml}processes:\n  bg:\n    command: echo "port=$PORT" > "$APPPKG_DATA_DIR/bg-port.txt" && exec sleep 60\n`);

    const dev = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--environment', envFile], { env: callerEnv });
    running.push(dev);
    const seen = await getJson(`${dev.url}/`);
    assert.is(seen.FOO, 'bar', 'a variable of the caller reaches the app');
    assert.is(seen.GREETING, 'from-file', "the app's settings win over the caller's");
    assert.is(seen.APPPKG_DATA_DIR, join(state.path, 'apps', 'envapp', 'data'), "the gateway's APPPKG_* win");
    assert.is(seen.APPPKG_ENV, 'development');
    assert.is(seen.VIRTUAL_ENV, null, "the caller's virtualenv is not the app's");
    assert.is(seen.elsewhere, false, "the caller's PYTHONPATH is not on the app's sys.path");
    assert.is(seen.PORT, null, "PORT is for command processes only: the caller's is not a worker's");
    const bg = await waitFor(() => (existsSync(bgPort) ? readFileSync(bgPort, 'utf8') : null), 10000, 'the background process to start');
    assert.is(bg, 'port=\n', 'a background process has no PORT');
    await dev.stop();

    const prod = await startCli(
      ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off'],
      { env: callerEnv },
    );
    running.push(prod);
    const served = await waitFor(
      async () => {
        const res = await request(`${prod.url}/envapp/`);
        const text = await res.body.text();
        return res.statusCode === 200 ? (JSON.parse(text) as Record<string, unknown>) : null;
      },
      20000,
      'envapp under --apps',
      ASK_GATEWAY_EVERY_MS,
    );
    assert.is(served.FOO, null, 'under --apps only the environment file reaches an app');
    assert.is(served.GREETING, 'from-file');
    assert.is(served.APPPKG_ENV, 'production');
    await prod.stop();
  } finally {
    work.remove();
  }
});

test('APPPKG_ENV=production exported in the shell: serve still runs the app in development (SPEC §2.1), its processes too, and says the variable is not passed on; run believes it (a pod\'s run)', async () => {
  const work = tempDir('apppkg-serve-shell-mode-');
  try {
    const dir = environApp(work.path, 'shellmode');
    const bgEnv = join(state.path, 'apps', 'shellmode', 'data', 'bg-env.txt');
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    writeFileSync(join(dir, 'app.yaml'), `${yaml}processes:\n  bg:\n    command: echo "env=$APPPKG_ENV" > "$APPPKG_DATA_DIR/bg-env.txt" && exec sleep 60\n`);
    const shell = { APPPKG_ENV: 'production' };
    const dev = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--workers', '1'], { env: shell });
    running.push(dev);
    assert.is((await getJson(`${dev.url}/`)).APPPKG_ENV, 'development', 'the worker');
    const bg = await waitFor(() => (existsSync(bgEnv) ? readFileSync(bgEnv, 'utf8') : null), 10000, 'the background process to start');
    assert.is(bg, 'env=development\n', 'a process of the app');
    assert.match(dev.output(), 'APPPKG_ENV=production in your environment is not passed on: serve runs the app in development');
    assert.match(dev.output(), '`apppkg-gateway --apps DIR`');
    await dev.stop();
    // run, test and check keep the caller's production: the exported pods' `run` relies on it.
    const ran = await runCli(['run', dir, '--state-dir', state.path, '--', 'sh', '-c', 'echo "env=$APPPKG_ENV"'], { env: shell, ms: 60000 });
    assert.is(ran.status, 0, ran.stderr);
    assert.is(ran.stdout, 'env=production\n');
  } finally {
    work.remove();
  }
});

test("a worker's `python` is its commands': a subprocess it starts runs the app's interpreter with the app's sys.path, as under run", async () => {
  const work = tempDir('apppkg-serve-subprocess-');
  try {
    mkdirSync(join(work.path, 'vendor'));
    writeFileSync(join(work.path, 'app.yaml'), 'platform: python, wsgi\napp: web:application\npaths: vendor/\n');
    writeFileSync(join(work.path, 'vendor', 'vendored.py'), 'WHERE = "vendor/"\n');
    const probe = 'import json, sys, vendored; print(json.dumps([sys.executable, vendored.WHERE]))';
    writeFileSync(
      join(work.path, 'web.py'),
      [
        'import json, subprocess, sys',
        '',
        'def application(environ, start_response):',
        `    child = subprocess.run(["python", "-c", ${JSON.stringify(probe)}], capture_output=True, text=True)`,
        '    body = json.dumps({"worker": sys.executable, "out": child.stdout, "err": child.stderr}).encode()',
        '    start_response("200 OK", [("Content-Type", "application/json")])',
        '    return [body]',
        '',
      ].join('\n'),
    );
    const run = await runCli(['run', work.path, '--state-dir', state.path, '--', 'python', '-c', probe]);
    assert.is(run.status, 0, run.stderr);
    const gw = await serve(work.path);
    const seen = await getJson(`${gw.url}/`);
    assert.is(seen.err, '', 'the subprocess imports from paths: as the worker does');
    assert.is(seen.out, run.stdout, 'the same interpreter and modules as under run');
    assert.equal(JSON.parse(String(seen.out))[0], seen.worker);
    await gw.stop();
  } finally {
    work.remove();
  }
});

test.run();
