// Issue 13, item 12: the smaller things a new user trips on, through the real CLI: `init --help`
// columns, `init` without an app and on an existing app.yaml, Pyramid's `with` block, an
// unclosed `[` in app.yaml, `app: hello.py:application`, and counts written as "1 workers".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EXAMPLES, runCli, startCli, tempDir, type RunningGateway } from '../helpers/process.js';

const test = suite('issue 13: first use');
const work = tempDir('apppkg-first-use-');
const state = join(work.path, 'state');
const running: RunningGateway[] = [];

test.after(async () => {
  for (const g of running) await g.stop();
  work.remove();
});

function project(name: string, files: Record<string, string>): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

test('init --help keeps its two columns apart', async () => {
  const r = await runCli(['init', '--help'], { ms: 20_000 });
  assert.is(r.status, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^ {2}-/.test(l));
  assert.ok(rows.length >= 2, r.stdout);
  const column = (l: string) => /^ {2}\S+(?:, \S+)?\s{2,}/.exec(l)?.[0].length;
  for (const row of rows) assert.ok(column(row) !== undefined, `no gap of two spaces after the flag: ${JSON.stringify(row)}`);
  assert.is(new Set(rows.map(column)).size, 1, `descriptions start in different columns:\n${rows.join('\n')}`);
});

test('init without an app object says nothing was written, and how app.yaml looks', async () => {
  const dir = project('no-app', { 'util.py': 'def helper():\n    return 1\n' });
  const r = await runCli(['init', dir], { ms: 20_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /no app\.yaml was written/);
  assert.not.match(r.stderr, /generated/);
  assert.match(r.stderr, /fix: write app\.yaml by hand.*platform: python, wsgi.*app: module:object/);
  assert.not.ok(existsSync(join(dir, 'app.yaml')));
});

test('init finds a Flask application factory and writes it with its `()`; Django\'s SQLite in the project is warned of', async () => {
  const flask = project('flaskr', {
    'flaskr/__init__.py': 'from flask import Flask\n\n\ndef create_app(test_config=None):\n    app = Flask(__name__)\n    return app\n',
  });
  const r = await runCli(['init', flask], { ms: 20_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(readFileSync(join(flask, 'app.yaml'), 'utf8'), /^app: flaskr:create_app\(\)$/m);
  const django = project('mysite', {
    'manage.py': 'import django\n',
    'mysite/__init__.py': '',
    'mysite/wsgi.py': 'from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n',
    'mysite/settings.py': "DATABASES = {\n    'default': {\n        'ENGINE': 'django.db.backends.sqlite3',\n        'NAME': BASE_DIR / 'db.sqlite3',\n    }\n}\n",
  });
  const d = await runCli(['init', django], { ms: 20_000 });
  assert.is(d.status, 0, d.stderr);
  assert.match(d.stdout, /note: mysite\/settings\.py keeps the SQLite database in the app directory/);
  assert.match(readFileSync(join(django, 'app.yaml'), 'utf8'), /^#\s+'NAME': os\.path\.join\(os\.environ\.get\('APPPKG_DATA_DIR', BASE_DIR\), 'db\.sqlite3'\)$/m);
});

test("init finds Pyramid's application assigned inside a with block, and names --force for an existing app.yaml", async () => {
  const dir = project('pyramid-hello', {
    'hello.py': [
      'from pyramid.config import Configurator',
      'from pyramid.response import Response',
      '',
      'def hello(request):',
      '    application = None  # a local, not the app',
      '    return Response("hi")',
      '',
      'with Configurator() as config:',
      '    config.add_route("hello", "/")',
      '    config.add_view(hello, route_name="hello")',
      '    application = config.make_wsgi_app()',
      '',
    ].join('\n'),
  });
  const r = await runCli(['init', dir], { ms: 20_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'app.yaml'), 'utf8'), /^app: hello:application$/m);
  const again = await runCli(['init', dir], { ms: 20_000 });
  assert.is(again.status, 1);
  assert.match(again.stderr, 'app.yaml: already exists; init did not overwrite it');
  assert.match(again.stderr, `fix: edit it, or run \`apppkg-gateway init ${dir} --force\``);
  // A function's local `application` alone is no app.
  const local = project('local-only', { 'main.py': 'def make():\n    application = object()\n    return application\n' });
  assert.is((await runCli(['init', local], { ms: 20_000 })).status, 1);
});

test('an unclosed [ is reported where it opens, as unclosed, not as indentation past the end', async () => {
  const dir = project('unclosed', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-flask, python3-yaml\n',
    'wsgi.py': '',
  });
  const r = await runCli(['describe', dir], { ms: 20_000 });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, `${join(dir, 'app.yaml')}:3:6: deb: expected valid YAML, found a "[" that is never closed`);
  assert.not.match(r.stderr, /indent/);
  assert.match(r.stderr, /fix: end the list on its line with "\]", e\.g\. deb: \[python3-flask, python3-yaml\]/);
  // The example closes the list as written, whatever the key.
  const settings = project('unclosed-settings', { 'app.yaml': 'app: wsgi:application\nsettings: [DATABASE_URL, SECRET_KEY\n', 'wsgi.py': '' });
  const s = await runCli(['describe', settings], { ms: 20_000 });
  assert.match(s.stderr, 'e.g. settings: [DATABASE_URL, SECRET_KEY], or write one "- item" per line below settings:');
  const map = project('unclosed-map', { 'app.yaml': 'static: {/static: static/\napp: wsgi:application\n', 'wsgi.py': '' });
  const m = await runCli(['describe', map], { ms: 20_000 });
  assert.match(m.stderr, `${join(map, 'app.yaml')}:1:9: static: expected valid YAML, found a "{" that is never closed`);
});

test('app: hello.py:application is refused: a module name cannot end in .py', async () => {
  const dir = project('dot-py', { 'app.yaml': 'platform: python, wsgi\napp: hello.py:application\n', 'hello.py': '' });
  const r = await runCli(['describe', dir], { ms: 20_000 });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stderr, `${join(dir, 'app.yaml')}:2:6: app: expected module:object`);
  assert.match(r.stderr, 'a module name cannot end in .py');
  assert.match(r.stderr, 'fix: write app: hello:application');
  // A module that is called py is a module like any other.
  const py = project('module-py', { 'app.yaml': 'platform: python, wsgi\napp: py:application\n', 'py.py': '' });
  assert.is((await runCli(['describe', py], { ms: 20_000 })).status, 0);
});

test('counts agree with their nouns: "1 worker", "1 check failed"', async () => {
  const gw = await startCli(['serve', join(EXAMPLES, 'hello'), '--port', '0', '--workers', '1', '--state-dir', state], { ms: 30_000 });
  running.push(gw);
  assert.match(gw.output(), /with 1 worker\b/);
  assert.not.match(gw.output(), /1 workers/);
  await gw.stop();
  // check counts what failed: an app whose import fails is "1 check failed".
  const dir = project('import-fails', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': 'raise RuntimeError("boom")\n' });
  const r = await runCli(['check', dir, '--state-dir', state], { ms: 60_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /: 1 check failed$/m);
  // a missing deb package is named as one package, not "package(s)".
  const deb = project('missing-deb', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: python3-no-such-package-apppkg\n', 'wsgi.py': '' });
  const d = await runCli(['check', deb, '--state-dir', state], { ms: 60_000 });
  assert.match(d.stdout + d.stderr, /deb: package not installed: python3-no-such-package-apppkg/);
  assert.match(d.stdout, /: 2 checks failed$/m);
});

test.run();
