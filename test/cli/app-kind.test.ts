// An app whose kind app.yaml gets wrong: Quart's `app = Quart(__name__)` under `platform: python,
// wsgi` (what init wrote for it until it knew Quart), or a Flask app under `asgi`. Each imports
// and is callable, so check passed and every request was a 500 (a TypeError: Quart.__call__()
// missing 'send'); it is now refused at import, at the line of `platform:`, saying which to write.
// An aiohttp `web.Application` is neither kind (callable, for gunicorn's worker): it is refused
// the same way, saying how to run it under its own server, as is a Tornado `web.Application`
// (callable with Tornado's own request) with the command `init` writes for one, and so is an aiohttp app's async
// factory (`async def init_app()`), whose coroutine neither worker can call; any other async
// factory is refused saying to call it at import or make it a plain def.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pathWithoutPyenvShims, runCli, tempDir, type CliResult } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const HAS_AIOHTTP = spawnSync('/usr/bin/python3', ['-c', 'import aiohttp.web'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const HAS_TORNADO = spawnSync('/usr/bin/python3', ['-c', 'import tornado.web'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('cli: an app of the other kind than platform says');
const work = tempDir('apppkg-app-kind-');
test.after(() => work.remove());

/**
 * `check DIR`, without pyenv's shims on PATH: which interpreter imports the app is not what these
 * tests are about (the ~0.5 s of CPU of each check probing the shims, pathWithoutPyenvShims).
 */
function check(dir: string): Promise<CliResult> {
  return runCli(['check', dir, '--state-dir', join(work.path, 'state')], { env: { PATH: pathWithoutPyenvShims() } });
}

function pkg(name: string, platform: string, code: string): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), `# ${name}\nplatform: python, ${platform}\napp: shop:app\n`);
  writeFileSync(join(dir, 'shop.py'), code);
  return dir;
}

// Quart's and Falcon's asgi.App's form: an object whose __call__ is `async def`.
const ASGI = 'class Shop:\n    async def __call__(self, scope, receive, send):\n        pass\n\n\napp = Shop()\n';
// Flask's, Bottle's and Pyramid's: (environ, start_response).
const WSGI = 'class Site:\n    def __call__(self, environ, start_response):\n        start_response("200 OK", [])\n        return [b"ok"]\n\n\napp = Site()\n';

test('check refuses an ASGI app under platform: python, wsgi, at the line of platform:, saying to write asgi', async () => {
  const dir = pkg('asgi-as-wsgi', 'wsgi', ASGI);
  const r = await check(dir);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+app\s+\S*app\.yaml:2:11: platform: expected python, asgi for shop:app \(Shop, an ASGI app: its __call__ is an async def\), found python, wsgi/);
  assert.match(r.stdout, 'fix: write `platform: python, asgi` in app.yaml');
});

test('check refuses a WSGI app under platform: python, asgi; serve ends with the same refusal', async () => {
  const dir = pkg('wsgi-as-asgi', 'asgi', WSGI);
  const r = await check(dir);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /app\.yaml:2:11: platform: expected python, wsgi for shop:app \(Site, a WSGI app: its __call__ takes \(environ, start_response\)\), found python, asgi/);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(served.status, 1, served.stdout + served.stderr);
  assert.match(served.stderr, 'fix: write `platform: python, wsgi` in app.yaml');
});

// A Django project's wsgi.py under `platform: python, asgi`: a new user who wrote asgi meant the
// project's asgi.py beside it, and the fix named only `platform: python, wsgi`.
test('a project\'s wsgi.py under asgi, with an asgi.py beside it: the fix names both, platform: python, wsgi or app: PKG.asgi:application', async () => {
  const dir = join(work.path, 'project-wsgi-as-asgi');
  mkdirSync(join(dir, 'site_pkg'), { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, asgi\napp: site_pkg.wsgi:application\n');
  writeFileSync(join(dir, 'site_pkg', '__init__.py'), '');
  writeFileSync(join(dir, 'site_pkg', 'wsgi.py'), WSGI.replace('app = Site()', 'application = Site()'));
  writeFileSync(join(dir, 'site_pkg', 'asgi.py'), ASGI.replace('app = Shop()', 'application = Shop()'));
  const r = await check(dir);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, 'fix: write `platform: python, wsgi` in app.yaml, or, to serve it as ASGI, `app: site_pkg.asgi:application` (the project\'s asgi.py)\n');
});

// aiohttp's own form, as its web_app.py has it: `__call__` returns the app itself.
const AIOHTTP_STAND_IN = 'class Application:\n    def __call__(self):\n        return self\n';
const AIOHTTP_APP = 'from aiohttp import web\n\napp = web.Application()\n';

test('check and serve refuse an aiohttp app under wsgi and under asgi, saying how to run it under its own server', async () => {
  // aiohttp's class is known by its module's name, so a stand-in under that name is one.
  for (const platform of ['wsgi', 'asgi']) {
    const dir = pkg(`aiohttp-as-${platform}`, platform, 'from aiohttp.web_app import Application\n\napp = Application()\n');
    mkdirSync(join(dir, 'aiohttp'));
    writeFileSync(join(dir, 'aiohttp', '__init__.py'), '');
    writeFileSync(join(dir, 'aiohttp', 'web_app.py'), AIOHTTP_STAND_IN);
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `app.yaml:2:11: platform: expected python, command for shop:app (Application, an aiohttp app: neither WSGI nor ASGI, it is served by aiohttp's own server), found python, ${platform}`);
    assert.match(r.stdout, 'fix: aiohttp serves the app itself: in app.yaml write `platform: python, command` without `app:`, add python3-gunicorn to `deb:`, and `processes: {web: {command: exec gunicorn -k aiohttp.GunicornWebWorker -b 127.0.0.1:$PORT shop:app}}`');
    if (platform === 'asgi') {
      const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
      assert.is(served.status, 1, served.stdout + served.stderr);
      assert.match(served.stderr, 'platform: expected python, command for shop:app');
    }
  }
});

runIf(test, HAS_AIOHTTP, 'needs python3-aiohttp')('check refuses a real aiohttp web.Application under platform: python, wsgi', async () => {
  const dir = pkg('aiohttp-real', 'wsgi', AIOHTTP_APP);
  writeFileSync(join(dir, 'app.yaml'), '# aiohttp-real\nplatform: python, wsgi\napp: shop:app\ndeb: python3-aiohttp\n');
  const r = await check(dir);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, 'platform: expected python, command for shop:app (Application, an aiohttp app');
});

/** The fix for a Tornado app named `shop:OBJECT`: the processes.web that `init` writes for it. */
function tornadoFix(object: string): string {
  return [
    "fix: Tornado serves the app itself: in app.yaml write `platform: python, command` without `app:`, and this processes.web, which starts Tornado's server on $PORT as `apppkg-gateway init` writes it (the app then gets the full path, its mount included: README \"Processes\"):",
    '        processes:',
    '          web:',
    '            command: |',
    "              exec python -c '",
    '              import asyncio, os',
    `              from shop import ${object.replace(/\(\)$/, '')}`,
    '              async def main():',
    `                  ${object}.listen(int(os.environ["PORT"]), address="127.0.0.1")`,
    '                  await asyncio.Event().wait()',
    "              asyncio.run(main())'",
    '',
  ].join('\n');
}

test('check and serve refuse a Tornado app under wsgi and under asgi, with the processes.web that runs it (a stand-in tornado)', async () => {
  // Tornado's class is known by its module's name, as aiohttp's: a stand-in under that name is one.
  for (const platform of ['wsgi', 'asgi']) {
    const dir = pkg(`tornado-as-${platform}`, platform, 'from tornado.web import Application\n\napp = Application()\n');
    mkdirSync(join(dir, 'tornado'));
    writeFileSync(join(dir, 'tornado', '__init__.py'), '');
    writeFileSync(join(dir, 'tornado', 'web.py'), 'class Application:\n    def __call__(self, request):\n        pass\n');
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `app.yaml:2:11: platform: expected python, command for shop:app (Application, a Tornado app: neither WSGI nor ASGI, it is served by Tornado's own server), found python, ${platform}\n`);
    assert.match(r.stdout, tornadoFix('app'));
    if (platform === 'wsgi') {
      const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
      assert.is(served.status, 1, served.stdout + served.stderr);
      assert.match(served.stderr, 'platform: expected python, command for shop:app (Application, a Tornado app');
    }
  }
});

runIf(test, HAS_TORNADO, 'needs python3-tornado (apt-get install python3-tornado)')('check refuses a real tornado.web.Application, and its factory called in app:, saying it is a Tornado app and how to run it', async () => {
  const code = 'import tornado.web\n\n\nclass Main(tornado.web.RequestHandler):\n    def get(self):\n        self.write("hi")\n\n\ndef make_app():\n    return tornado.web.Application([(r"/", Main)])\n\n\napp = make_app()\n';
  for (const [object, app] of [['app', 'shop:app'], ['make_app()', 'shop:make_app()']]) {
    const dir = factoryPkg(`tornado-real-${object.length}`, 'wsgi', app, code, 'deb: python3-tornado\n');
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `platform: expected python, command for ${app} (Application, a Tornado app: neither WSGI nor ASGI, it is served by Tornado's own server), found python, wsgi`);
    assert.not.match(r.stdout, /cannot be called as a WSGI server calls an app/);
    assert.match(r.stdout, tornadoFix(object));
  }
});

// An async factory: its call returns a coroutine, which neither worker can call.
const ASYNC_FACTORY = 'async def make_app(config=None):\n    return object()\n';
const AIOHTTP_FACTORY = 'from aiohttp import web\n\n\nasync def init_app():\n    return web.Application()\n';
const AIOHTTP_FIX = 'fix: aiohttp serves the app itself: in app.yaml write `platform: python, command` without `app:`, add python3-gunicorn to `deb:`, and `processes: {web: {command: exec gunicorn -k aiohttp.GunicornWebWorker -b 127.0.0.1:$PORT shop:init_app}}`';

/** A package whose app.yaml names `app` (`shop:init_app()` or `shop:init_app`) under `platform`. */
function factoryPkg(name: string, platform: string, app: string, code: string, deb = ''): string {
  const dir = pkg(name, platform, code);
  writeFileSync(join(dir, 'app.yaml'), `# ${name}\nplatform: python, ${platform}\napp: ${app}\n${deb}`);
  return dir;
}

test('check and serve refuse an async factory, with or without its (), saying it returns a coroutine and to call it at import or make it a plain def', async () => {
  for (const [platform, app] of [['wsgi', 'shop:make_app()'], ['asgi', 'shop:make_app'], ['asgi', 'shop:make_app()'], ['wsgi', 'shop:make_app']]) {
    const dir = factoryPkg(`async-factory-${platform}-${app.endsWith(')') ? 'called' : 'named'}`, platform, app, ASYNC_FACTORY);
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `app.yaml:3:6: app: ${app} is async function make_app(config=None), an async factory (it returns a coroutine, which a WSGI or ASGI worker cannot call), expected a WSGI or ASGI callable`);
    assert.match(r.stdout, 'fix: call it once at import, `app = asyncio.run(make_app())` at the end of module shop, and write `app: shop:app`; or make make_app a plain `def`');
    // Refused without calling it: no coroutine left never awaited.
    assert.not.match(r.stdout + r.stderr, /never awaited|a factory that returned coroutine/);
    if (platform === 'asgi') {
      const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
      assert.is(served.status, 1, served.stdout + served.stderr);
      assert.match(served.stderr, `app: ${app} is async function make_app(config=None), an async factory`);
      assert.match(served.stderr, 'fix: call it once at import');
    }
  }
});

test('check and serve refuse an aiohttp app\'s async factory as an aiohttp app, the command naming the function itself (a stand-in aiohttp)', async () => {
  for (const [platform, app] of [['wsgi', 'shop:init_app()'], ['asgi', 'shop:init_app']]) {
    const dir = factoryPkg(`aiohttp-factory-${platform}`, platform, app, 'from aiohttp import web_app\n\n\nasync def init_app():\n    return web_app.Application()\n');
    mkdirSync(join(dir, 'aiohttp'));
    writeFileSync(join(dir, 'aiohttp', '__init__.py'), '');
    writeFileSync(join(dir, 'aiohttp', 'web_app.py'), AIOHTTP_STAND_IN);
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `app.yaml:2:11: platform: expected python, command for ${app} (async function init_app(), an aiohttp app's async factory (it returns a coroutine, which a WSGI or ASGI worker cannot call; aiohttp's own server awaits it)), found python, ${platform}`);
    assert.match(r.stdout, AIOHTTP_FIX);
    const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
    assert.is(served.status, 1, served.stdout + served.stderr);
    assert.match(served.stderr, `platform: expected python, command for ${app} (async function init_app(), an aiohttp app's async factory`);
    assert.match(served.stderr, AIOHTTP_FIX);
  }
});

runIf(test, HAS_AIOHTTP, 'needs python3-aiohttp (apt-get install python3-aiohttp)')('check and serve refuse a real aiohttp app\'s async factory, `init_app()` and `init_app`, with the command that serves it', async () => {
  for (const [platform, app] of [['wsgi', 'shop:init_app()'], ['asgi', 'shop:init_app']]) {
    const dir = factoryPkg(`aiohttp-factory-real-${platform}`, platform, app, AIOHTTP_FACTORY, 'deb: python3-aiohttp\n');
    const r = await check(dir);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, `platform: expected python, command for ${app} (async function init_app(), an aiohttp app's async factory`);
    assert.match(r.stdout, AIOHTTP_FIX);
    const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
    assert.is(served.status, 1, served.stdout + served.stderr);
    assert.match(served.stderr, AIOHTTP_FIX);
  }
});

test('the right kind still passes', async () => {
  for (const [name, platform, code] of [['asgi-ok', 'asgi', ASGI], ['wsgi-ok', 'wsgi', WSGI]]) {
    const r = await check(pkg(name, platform, code));
    assert.is(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
  }
});

test.run();
