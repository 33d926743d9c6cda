// `init` on third-party apps as Debian packages them: a wrapper that imports the app another
// package makes (`from xandikos.wsgi import app`) is an app found.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: init on third-party apps');
const work = tempDir('apppkg-init-imports-');
const state = tempDir('apppkg-init-imports-state-');
test.after(() => {
  work.remove();
  state.remove();
});

function project(name: string, files: Record<string, string>): string {
  const dir = join(work.path, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

test('an app imported from another package, `from PKG import app` or `... as application`, is found, and check imports it', async () => {
  const renamed = project('renamed', {
    'wrapper.py': 'import os\nos.environ.setdefault("GREETING", "hi")\nfrom wsgiref.simple_server import demo_app as application\n',
  });
  const made = await runCli(['init', renamed]);
  assert.is(made.status, 0, made.stderr);
  assert.match(made.stdout, 'app: wrapper:application, WSGI');
  const checked = await runCli(['check', renamed, '--state-dir', state.path]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, 'ok    app       wrapper:application imports and is callable');

  const plain = project('plain', { 'serve.py': 'from wsgiref.simple_server import demo_app\nfrom davserver.wsgi import (app)\n' });
  const found = await runCli(['init', plain]);
  assert.is(found.status, 0, found.stderr);
  assert.match(found.stdout, 'app: serve:app, WSGI');
  // What a module makes itself still wins over a file that imports it (a run.py).
  const own = project('own', {
    'run.py': 'from site_app import app\napp.run()\n',
    'site_app.py': 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const ownMade = await runCli(['init', own]);
  assert.match(ownMade.stdout, 'app: site_app:app, WSGI');
});

test.run();
