// An app whose kind app.yaml gets wrong: Quart's `app = Quart(__name__)` under `platform: python,
// wsgi` (what init wrote for it until it knew Quart), or a Flask app under `asgi`. Each imports
// and is callable, so check passed and every request was a 500 (a TypeError: Quart.__call__()
// missing 'send'); it is now refused at import, at the line of `platform:`, saying which to write.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

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

test('the right kind still passes', async () => {
  for (const [name, platform, code] of [['asgi-ok', 'asgi', ASGI], ['wsgi-ok', 'wsgi', WSGI]]) {
    const r = await runCli(['check', pkg(name, platform, code), '--state-dir', join(work.path, 'state')]);
    assert.is(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
  }
});

test.run();
