// `init` on third-party apps as Debian packages them: a wrapper that imports the app another
// package makes (`from xandikos.wsgi import app`) is an app found, and `deb:` lists, beside the
// framework's package, the packages from which /usr/bin/python3 imports what the project
// imports (a Flask app's extensions, Django REST framework), as `check` would otherwise fail
// on each in turn on a host without them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

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

// Debian's Flask and psycopg2 (npm test installs both), seen by /usr/bin/python3.
const systemPackages = hasProgram('dpkg') && spawnSync('/usr/bin/python3', ['-I', '-c', 'import flask, psycopg2'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const withPackages = runIf(test, systemPackages, 'needs python3-flask and python3-psycopg2 for /usr/bin/python3, and dpkg (npm test installs them as root)');

withPackages('deb: the framework\'s package and those of what the project imports; nothing for the standard library or its own modules, nor with a requirements.txt', async () => {
  const files = {
    'blog/__init__.py': 'import os, json\nfrom flask import Flask\nimport psycopg2.extras as extras\nfrom blog import models\nfrom . import views\napp = Flask(__name__)\n',
    'blog/models.py': 'import datetime\n',
    'blog/views.py': 'from .models import datetime\n',
  };
  const dir = project('blog', files);
  const made = await runCli(['init', dir]);
  assert.is(made.status, 0, made.stderr);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^deb: \[python3-flask, python3-psycopg2\]$/m);
  const checked = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);

  const pinned = project('pinned', { ...files, 'requirements.txt': 'flask\npsycopg2\n' });
  const pinnedMade = await runCli(['init', pinned]);
  assert.is(pinnedMade.status, 0, pinnedMade.stderr);
  assert.match(readFileSync(join(pinned, 'app.yaml'), 'utf8'), /^deb: python3-flask$/m);
});

test.run();
