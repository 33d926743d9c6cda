// A new user's first steps (init, then check) with WSGI frameworks as Debian packages them, the
// projects written as each framework's docs write them (test/fixtures/apps):
// - web.py's tutorial `app = web.application(urls, globals())` is no WSGI callable: init wrote
//   `app: hello:app`, which check refused with a fix saying nothing of web.py; init now writes
//   `app: hello:app.wsgifunc()`, and check's fix for `hello:app` names it;
// - hug declares routes on the module and makes `__hug_wsgi__`: init found no app at all;
// - an app reading DATABASE_URL (Flask-SQLAlchemy) got no `services: {database: sql}` from
//   init, and check's fix for the KeyError said to set DATABASE_URL by hand in `settings:`;
// - a Socket.IO server needs one worker (its sessions live in one process): init now says so;
// - a Pecan project as `pecan create` makes it has no app object, and init took config.py's
//   `app = {...}` (its configuration) for one: a literal is no app, and the refusal says what
//   wsgi.py to add; its public/ (css/, images/: what its templates link as /css/style.css) was
//   mapped by no `static:`, and Pecan serves it only with debug: True: init maps each directory;
//   the files directly in public/ (favicon.ico, robots.txt) no `static:` prefix can map (it maps
//   a directory, never at /): init's app.yaml says they are not served, and how to serve them;
// - Django's INSTALLED_APPS and MIDDLEWARE name packages as strings (django-debug-toolbar), which
//   init's deb: line left out (check then warned of it): init now reads them too.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { FIXTURES, runCli, startCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const has = (module: string) => spawnSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('cli: init and check on web.py, hug, Flask-SQLAlchemy and Flask-SocketIO projects');
const work = tempDir('apppkg-init-wsgi-frameworks-');
const state = join(work.path, 'state');
test.after(() => work.remove());

/** The fixture project `name` copied to the work directory without its app.yaml, as a user has it before init. */
function project(name: string): string {
  const dir = join(work.path, name);
  cpSync(join(FIXTURES, 'apps', name), dir, { recursive: true, filter: (p) => !p.includes('__pycache__') });
  rmSync(join(dir, 'app.yaml'), { force: true });
  return dir;
}

async function init(dir: string): Promise<{ stdout: string; yaml: string }> {
  const r = await runCli(['init', dir], { ms: 30_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  return { stdout: r.stdout, yaml: readFileSync(join(dir, 'app.yaml'), 'utf8') };
}

async function check(dir: string) {
  return runCli(['check', dir, '--state-dir', state], { ms: 60_000 });
}

test("web.py's tutorial app: init names its wsgifunc(), the WSGI app, not the application object", async () => {
  const dir = project('webpy-hello');
  const { stdout, yaml } = await init(dir);
  assert.match(stdout, '(app: hello:app.wsgifunc(), WSGI)');
  assert.match(yaml, /^app: hello:app\.wsgifunc\(\)$/m, yaml);
  assert.match(yaml, /^deb: python3-webpy$/m, yaml);
  assert.not.match(yaml, /application factory/, yaml);
  // `application = web.application(...)`: the object is named so, and still not callable.
  writeFileSync(join(dir, 'hello.py'), readFileSync(join(dir, 'hello.py'), 'utf8').replace(/^app = web\.application/m, 'application = web.application').replace(/^ {4}app\.run\(\)/m, '    application.run()'));
  const r = await runCli(['init', dir, '--force'], { ms: 30_000 });
  assert.match(r.stdout, '(app: hello:application.wsgifunc(), WSGI)', r.stdout + r.stderr);
});

runIf(test, has('web'), 'needs python3-webpy')("web.py: check passes init's app.yaml, and its fix for `app: hello:app` names `hello:app.wsgifunc()`", async () => {
  const dir = project('webpy-hello');
  await init(dir);
  const ok = await check(dir);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, 'ok    app');
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\ndeb: python3-webpy\napp: hello:app\n');
  const bad = await check(dir);
  assert.is(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, 'app: hello:app is a web.py application (<web.application.application object at ');
  assert.match(bad.stdout, 'fix: write `app: hello:app.wsgifunc()` in app.yaml');
});

test("hug: init finds the module's __hug_wsgi__", async () => {
  const dir = project('hug-api');
  const { stdout, yaml } = await init(dir);
  assert.match(stdout, '(app: api:__hug_wsgi__, WSGI)');
  assert.match(yaml, /^app: api:__hug_wsgi__$/m, yaml);
  assert.match(yaml, /^deb: python3-hug$/m, yaml);
});

runIf(test, has('hug'), 'needs python3-hug')("hug: check passes init's app.yaml", async () => {
  const dir = project('hug-api');
  await init(dir);
  const r = await check(dir);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test('an app that reads DATABASE_URL: init asks for the database the gateway gives, services: {database: sql}', async () => {
  const { stdout, yaml } = await init(project('flask-sql-notes'));
  assert.match(stdout, '(app: notes:app, WSGI)');
  assert.match(yaml, /^services:\n {2}database: sql$/m, yaml);
  assert.match(yaml, '# notes.py reads DATABASE_URL: the gateway gives the app a database of its own there');
});

runIf(test, has('flask_sqlalchemy'), 'needs python3-flask-sqlalchemy')("DATABASE_URL: check passes init's app.yaml (SQLite, nothing set up); without services:, check's fix names it", async () => {
  const dir = project('flask-sql-notes');
  await init(dir);
  const ok = await check(dir);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok +services\.database +sql: SQLite, DATABASE_URL=sqlite:\/\/\//);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\ndeb: [python3-flask, python3-flask-sqlalchemy]\napp: notes:app\n');
  const bad = await check(dir);
  assert.is(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, "KeyError: 'DATABASE_URL'");
  assert.match(bad.stdout, 'fix: the app reads DATABASE_URL from its environment, and nothing gives it: ask for a database in app.yaml, `services: {database: sql}`');
});

test('Flask-SocketIO: init says that its sessions need one worker, and how its websockets are served', async () => {
  const dir = project('socketio-chat');
  const { stdout, yaml } = await init(dir);
  assert.match(stdout, 'note: chat.py runs a Socket.IO server, whose sessions live in one process: give the app one worker (apps: {socketio-chat: {workers: 1}} in the environment file');
  assert.match(yaml, '# chat.py runs a Socket.IO server');
  assert.match(yaml, 'route: /socket.io');
});

test("a Pecan project: config.py's `app = {...}` is no app; init's refusal names the wsgi.py to add, then finds it", async () => {
  const dir = project('pecan-project');
  const refused = await runCli(['init', dir], { ms: 30_000 });
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, 'fix: config.py is Pecan\'s configuration (`pecan serve config.py`), and no module-level app: add wsgi.py beside it, `import os`, `from pecan.deploy import deploy` and `application = deploy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py"))`');
  writeFileSync(join(dir, 'wsgi.py'), 'import os\n\nfrom pecan.deploy import deploy\n\napplication = deploy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py"))\n');
  writeFileSync(join(dir, 'public', 'favicon.ico'), 'icon');
  writeFileSync(join(dir, 'public', 'robots.txt'), 'User-agent: *\n');
  const { stdout, yaml } = await init(dir);
  assert.match(stdout, '(app: wsgi:application, WSGI)');
  assert.match(yaml, /^deb: python3-pecan$/m, yaml);
  assert.match(yaml, /^static:\n {2}\/css: public\/css\/\n {2}\/images: public\/images\/\n/m, yaml);
  assert.match(yaml.replace(/\n# /g, ' '), "Not served: public/favicon.ico, public/robots.txt: static: maps directories, at a prefix other than /, and Pecan serves its static_root only with debug: True. Move such a file into a directory mapped above and link it there (<link rel=\"icon\" href=\"/images/favicon.ico\">), or answer its URL from the app: a RootController method `robots`, exposed with @expose(content_type='text/plain'), answers /robots.txt.\n", yaml);
});

runIf(test, has('pecan'), 'needs python3-pecan')("Pecan: check passes the app.yaml init writes once wsgi.py deploys config.py", async () => {
  const dir = project('pecan-project');
  writeFileSync(join(dir, 'wsgi.py'), 'import os\n\nfrom pecan.deploy import deploy\n\napplication = deploy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py"))\n');
  // What init's comment says to do with the files directly in public/: the icon moved into a
  // mapped directory, /robots.txt answered by a controller method `robots`.
  writeFileSync(join(dir, 'public', 'images', 'favicon.ico'), 'icon');
  writeFileSync(join(dir, 'public', 'robots.txt'), 'User-agent: *\nDisallow: /cart\n');
  const root = join(dir, 'shop', 'controllers', 'root.py');
  writeFileSync(root, `import os\n\n${readFileSync(root, 'utf8')}\n    @expose(content_type='text/plain')\n    def robots(self):\n        with open(os.path.join(os.path.dirname(__file__), '..', '..', 'public', 'robots.txt')) as f:\n            return f.read()\n`);
  await init(dir);
  const r = await check(dir);
  assert.is(r.status, 0, r.stdout + r.stderr);
  // Served with the config's debug: False, where Pecan's own static middleware is off.
  const gw = await startCli(['serve', dir, '--port', '0', '--state-dir', state], { ms: 60_000 });
  try {
    const css = await request(`${gw.url}/css/style.css`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.is(css.statusCode, 200);
    assert.is(await css.body.text(), readFileSync(join(dir, 'public', 'css', 'style.css'), 'utf8'));
    const page = await request(`${gw.url}/`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.is(await page.body.text(), 'shop');
    const icon = await request(`${gw.url}/images/favicon.ico`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.is(icon.statusCode, 200);
    assert.is(await icon.body.text(), 'icon');
    const robots = await request(`${gw.url}/robots.txt`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.is(robots.statusCode, 200);
    assert.match(String(robots.headers['content-type']), /^text\/plain/);
    assert.is(await robots.body.text(), 'User-agent: *\nDisallow: /cart\n');
  } finally {
    await gw.stop();
  }
});

runIf(test, has('rest_framework') && has('debug_toolbar'), 'needs python3-djangorestframework and python3-django-debug-toolbar')("Django: the packages INSTALLED_APPS and MIDDLEWARE name as strings are on init's deb: line", async () => {
  const { yaml } = await init(project('drf-toolbar'));
  assert.match(yaml, /^deb: \[python3-django, python3-djangorestframework, python3-django-debug-toolbar\]$/m, yaml);
});

test.run();
