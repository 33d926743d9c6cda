// An app whose kind app.yaml gets wrong: Quart's `app = Quart(__name__)` under `platform: python,
// wsgi` (what init wrote for it until it knew Quart), or a Flask app under `asgi`. Each imports
// and is callable, so check passed and every request was a 500 (a TypeError: Quart.__call__()
// missing 'send'); it is now refused at import, at the line of `platform:`, saying which to write.
// An aiohttp `web.Application` is neither kind (callable, for gunicorn's worker): it is refused
// the same way, saying how to run it under its own server.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const HAS_AIOHTTP = spawnSync('/usr/bin/python3', ['-c', 'import aiohttp.web'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('cli: an app of the other kind than platform says');
const work = tempDir('apppkg-app-kind-');
test.after(() => work.remove());

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
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+app\s+\S*app\.yaml:2:11: platform: expected python, asgi for shop:app \(Shop, an ASGI app: its __call__ is an async def\), found python, wsgi/);
  assert.match(r.stdout, 'fix: write `platform: python, asgi` in app.yaml');
});

test('check refuses a WSGI app under platform: python, asgi; serve ends with the same refusal', async () => {
  const dir = pkg('wsgi-as-asgi', 'asgi', WSGI);
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /app\.yaml:2:11: platform: expected python, wsgi for shop:app \(Site, a WSGI app: its __call__ takes \(environ, start_response\)\), found python, asgi/);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(served.status, 1, served.stdout + served.stderr);
  assert.match(served.stderr, 'fix: write `platform: python, wsgi` in app.yaml');
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
    const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
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
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, 'platform: expected python, command for shop:app (Application, an aiohttp app');
});

test('the right kind still passes', async () => {
  for (const [name, platform, code] of [['asgi-ok', 'asgi', ASGI], ['wsgi-ok', 'wsgi', WSGI]]) {
    const r = await runCli(['check', pkg(name, platform, code), '--state-dir', join(work.path, 'state')]);
    assert.is(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
  }
});

test.run();
