import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, pathWithoutPyenvShims, runCli, startCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { wsgiPackage } from '../helpers/apps-dir.js';

// init on projects of each framework, and run and test: the environment, the exit status and
// the probe cache.
const test = suite('cli commands: init, run and test');
const state = tempDir('apppkg-cli-state-');
const work = tempDir('apppkg-cli-work-');
test.after(() => {
  state.remove();
  work.remove();
});

/** A package directory with this app.yaml and a trivial WSGI module. */
const pkg = (name: string, yaml: string): string => wsgiPackage(work.path, name, yaml);

/**
 * For the checks here that the app.yaml init wrote passes, whose subject is not which interpreter
 * runs the app: the ~0.5 s of CPU of each check probing pyenv's shims (pathWithoutPyenvShims).
 */
const NO_PYENV_SHIMS = { PATH: pathWithoutPyenvShims() };

/**
 * `init` on a new project NAME holding one FILE with CODE: the run, and the app.yaml it wrote
 * ('' when it wrote none).
 */
async function initProject(name: string, file: string, code: string): Promise<{ dir: string; r: Awaited<ReturnType<typeof runCli>>; yaml: string }> {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), code);
  const r = await runCli(['init', dir]);
  const yamlFile = join(dir, 'app.yaml');
  return { dir, r, yaml: existsSync(yamlFile) ? readFileSync(yamlFile, 'utf8') : '' };
}

test('run passes the exit status on and gives the app its private directories', async () => {
  const dir = join(EXAMPLES, 'hello');
  // APPPKG_ENV is development under run, unless the caller says production (a pod's run): the
  // caller's unset here, said below.
  const r = await runCli(
    [
      'run', dir, '--state-dir', state.path, '--',
      'python', '-c', 'import os, sys, stat; print(os.environ["APPPKG_DATA_DIR"]); print(oct(stat.S_IMODE(os.stat(os.environ["TMPDIR"]).st_mode))); print(sys.path[1] if sys.path[0] == "" else sys.path[0]); print(os.environ.get("APPPKG_ENV")); sys.exit(3)',
    ],
    { env: { APPPKG_ENV: undefined } },
  );
  assert.is(r.status, 3, r.stderr);
  const [data, tmpMode, first, unsaid] = r.stdout.trim().split('\n');
  assert.is(data, join(state.path, 'apps', 'hello', 'data'));
  assert.ok(existsSync(data) && statSync(data).isDirectory());
  assert.is(tmpMode, '0o700');
  assert.is(first, dir);
  assert.is(unsaid, 'development');
  const production = await runCli(['run', dir, '--state-dir', state.path, '--', 'sh', '-c', 'echo "$APPPKG_ENV"'], { env: { APPPKG_ENV: 'production' } });
  assert.is(production.stdout.trim(), 'production', production.stderr);
});

test("run and test take the interpreters' answers from the state root's probe cache, as a gateway's start does: a second run probes none", async () => {
  // Each run had probed every python3.N on PATH afresh (a pyenv shim's probe is 0.4 s of bash).
  const root = tempDir('apppkg-cli-probe-cache-');
  try {
    const dir = join(EXAMPLES, 'hello');
    const cache = join(root.path, 'cache', 'interpreters.json');
    const first = await runCli(['run', dir, '--state-dir', root.path, '--', 'python', '-c', 'pass']);
    assert.is(first.status, 0, first.stderr);
    assert.ok(existsSync(cache), 'run wrote no probe cache under the state root');
    const written = readFileSync(cache, 'utf8');
    assert.ok(Object.keys(JSON.parse(written).entries).length > 0, written);
    const before = statSync(cache).mtimeMs;
    // Every answer found there, nothing probed, nothing written.
    const again = await runCli(['test', pkg('probe-cache-test', 'app: wsgi:application\ncommands:\n  test: python -c pass\n'), '--state-dir', root.path]);
    assert.is(again.status, 0, again.stderr);
    assert.is(statSync(cache).mtimeMs, before);
    assert.is(readFileSync(cache, 'utf8'), written);
  } finally {
    root.remove();
  }
});

test("run of a command that is not there says why, with the app's PATH it searched, and exits 127 (126: not executable) as a shell does", async () => {
  const dir = pkg('run-missing', 'platform: python, wsgi\napp: wsgi:application\n');
  const S = ['--state-dir', state.path];
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  const missing = await runCli(['run', dir, ...S, '--', 'nosuchcmd', '--flag'], { env });
  assert.is(missing.status, 127, missing.stderr);
  assert.match(missing.stderr, `apppkg-gateway: nosuchcmd: not on the app's PATH, which searches ${join(state.path, 'apps', 'run-missing', 'run')}`);
  // Its interpreter's directory (/usr/bin for Debian's, where a deb package's scripts are) comes first, then the caller's PATH.
  assert.match(missing.stderr, /\/bin, (\/\S+\/bin, )?\/usr\/local\/bin, \/usr\/bin, \/bin\n|\/bin, \/usr\/bin, \/usr\/local\/bin, \/bin\n/);
  assert.match(missing.stderr, "fix: install it for the app (deb:, pip: or vendor/ with `apppkg-gateway vendor`), give its path, or run a module with the app's interpreter: `python -m MODULE`");
  assert.not.match(missing.stderr, /ENOENT/);
  // A relative path is taken from the app directory, not from where run was typed.
  const relative = await runCli(['run', dir, ...S, '--', './nosuch.sh'], { env });
  assert.is(relative.status, 127, relative.stderr);
  assert.match(relative.stderr, `./nosuch.sh: no such file in ${dir} (the app directory, where commands run)`);
  writeFileSync(join(dir, 'old.py'), '#!/nonexistent/python2\nprint(1)\n', { mode: 0o755 });
  const interpreter = await runCli(['run', dir, ...S, '--', './old.py'], { env });
  assert.is(interpreter.status, 127, interpreter.stderr);
  assert.match(interpreter.stderr, './old.py: its #! line names /nonexistent/python2, which is not there');
  assert.match(interpreter.stderr, 'or run it with its interpreter: `python ./old.py`');
  writeFileSync(join(dir, 'plain.sh'), 'echo hi\n', { mode: 0o644 });
  const mode = await runCli(['run', dir, ...S, '--', './plain.sh'], { env });
  assert.is(mode.status, 126, mode.stderr);
  assert.match(mode.stderr, './plain.sh: not executable');
  assert.match(mode.stderr, '`chmod +x ./plain.sh`');
});

// env is there, so the spawn succeeds, and env's own "No such file or directory" (127) was all a
// user of run, test or a hook got: the gateway's processes: said why, these did not.
test("run, and a hook (test's commands.test), of a script whose #!/usr/bin/env NAME finds no NAME on the app's PATH say why, with the PATH", async () => {
  const dir = pkg('env-nine', 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  test: ./nine.py --all\n');
  writeFileSync(join(dir, 'nine.py'), '#!/usr/bin/env apppkg-python9\nprint(1)\n', { mode: 0o755 });
  const S = ['--state-dir', state.path];
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  const run = await runCli(['run', dir, ...S, '--', './nine.py'], { env });
  assert.is(run.status, 127, run.stderr);
  assert.match(run.stderr, `apppkg-gateway: ./nine.py: its #! line runs apppkg-python9 through env, which is not on the app's PATH, which searches ${join(state.path, 'apps', 'env-nine', 'run')}`);
  assert.match(run.stderr, 'or run it with its interpreter: `python ./nine.py`');
  const hook = await runCli(['test', dir, ...S], { env });
  assert.is(hook.status, 1, hook.stderr);
  assert.match(hook.stderr, `apppkg-gateway: commands.test: \`./nine.py --all\` runs ./nine.py, a script (${join(dir, 'nine.py')}) whose #! line runs apppkg-python9 through env, which is not on the app's PATH, which searches ${join(state.path, 'apps', 'env-nine', 'run')}`);
  assert.match(hook.stderr, "fix: correct its #! line (`#!/usr/bin/env python` runs the app's interpreter, on its PATH), or run it with its interpreter in commands.test: `python ./nine.py`");
});

test('init: a src layout gets paths: [src/] and the module without src.; an annotated `app: FastAPI = FastAPI()` is found', async () => {
  const dir = join(work.path, 'src-layout');
  mkdirSync(join(dir, 'src', 'shop'), { recursive: true });
  writeFileSync(join(dir, 'src', 'shop', '__init__.py'), '');
  writeFileSync(join(dir, 'src', 'shop', 'views.py'), 'def hello():\n    return b"hi"\n');
  // Imports its own package by name, as src-layout code does: only src/ on sys.path makes it work.
  writeFileSync(
    join(dir, 'src', 'shop', 'wsgi.py'),
    'from shop.views import hello\n\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [hello()]\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^app: shop\.wsgi:application$/m);
  assert.match(yaml, /^paths: \[src\/\]$/m);
  const check = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(check.status, 0, check.stdout + check.stderr);

  const typed = join(work.path, 'typed-fastapi');
  mkdirSync(typed, { recursive: true });
  writeFileSync(join(typed, 'main.py'), 'from fastapi import FastAPI\n\napp: FastAPI = FastAPI(title="typed")\n');
  assert.is((await runCli(['init', typed])).status, 0);
  const typedYaml = readFileSync(join(typed, 'app.yaml'), 'utf8');
  assert.match(typedYaml, /^app: main:app$/m);
  assert.match(typedYaml, /^platform: python, asgi$/m);
  assert.match(typedYaml, /^deb: python3-fastapi$/m);
});

test('init writes a commented app.yaml that describe and check accept', async () => {
  const dir = join(work.path, 'existing-project');
  mkdirSync(join(dir, 'mysite'), { recursive: true });
  writeFileSync(join(dir, 'mysite', '__init__.py'), '');
  writeFileSync(
    join(dir, 'mysite', 'wsgi.py'),
    'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hi"]\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^app: mysite\.wsgi:application$/m);
  assert.match(yaml, /^# /m);
  assert.is((await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS })).status, 0);
  const again = await runCli(['init', dir]);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already exists/);
});

test('init beside a misnamed description (app.yml, App.yaml) writes no second one: it says what check says, the mv to make, exit 1, --force or not', async () => {
  for (const misnamed of ['app.yml', 'App.yaml']) {
    const dir = join(work.path, `misnamed-${misnamed}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, misnamed), 'platform: python, wsgi\napp: wsgi:application\n');
    writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hi"]\n');
    const checked = await runCli(['check', dir, '--state-dir', state.path]);
    assert.is(checked.status, 1, checked.stderr);
    const says = `${dir}/${misnamed}: expected the description to be named app.yaml, found it named ${misnamed}\n  fix: rename it: mv ${dir}/${misnamed} ${dir}/app.yaml`;
    assert.ok(checked.stderr.includes(says), checked.stderr);
    for (const force of [[], ['--force']]) {
      const r = await runCli(['init', dir, ...force]);
      assert.is(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(says), r.stderr);
      assert.is(r.stdout, '');
      assert.equal(readdirSync(dir).sort(), [misnamed, 'wsgi.py'].sort());
    }
  }
});

test('init finds an ASGI app (FastAPI, Starlette, async def app) and writes platform: python, asgi', async () => {
  const fast = join(work.path, 'fastapi-project');
  mkdirSync(fast, { recursive: true });
  writeFileSync(join(fast, 'main.py'), 'from fastapi import FastAPI\n\napi = FastAPI(title="notes")\n');
  const r = await runCli(['init', fast]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(fast, 'app.yaml'), 'utf8');
  assert.match(yaml, /^platform: python, asgi$/m);
  assert.match(yaml, /^app: main:api$/m);
  assert.match(yaml, /^deb: python3-fastapi$/m);
  assert.match(r.stdout, /ASGI/);

  const plain = join(work.path, 'raw-asgi');
  mkdirSync(plain, { recursive: true });
  writeFileSync(
    join(plain, 'server.py'),
    'async def app(scope, receive, send):\n    await send({"type": "http.response.start", "status": 200, "headers": []})\n    await send({"type": "http.response.body", "body": b"hi"})\n',
  );
  assert.is((await runCli(['init', plain])).status, 0);
  assert.match(readFileSync(join(plain, 'app.yaml'), 'utf8'), /^platform: python, asgi\napp: server:app$|^app: server:app$/m);
  const check = await runCli(['check', plain, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(check.status, 0, check.stdout + check.stderr);
});

test('init finds a plain WSGI function by its name app, or by its (environ, start_response) signature, and the app it writes passes check; the app it picked is no "other candidate" of its own', async () => {
  const body = '    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"hi"]\n';
  const cases: Array<[string, string, string, string]> = [
    // [project, file, its code, app:]
    ['wsgi-def-app', 'app.py', `def app(environ, start_response):\n${body}`, 'app:app'],
    ['wsgi-def-app-short', 'hello.py', `import os\n\n\ndef app(env, start):\n    start("200 OK", [])\n    return [b"hi"]\n`, 'hello:app'],
    ['wsgi-simple-app', 'server.py', `def simple_app(environ, start_response):\n${body}`, 'server:simple_app'],
    // Found by its name and by its signature both: one candidate, not two.
    ['wsgi-def-application', 'server.py', `def application(environ, start_response):\n${body}`, 'server:application'],
  ];
  for (const [name, file, code, app] of cases) {
    const { dir, r, yaml } = await initProject(name, file, code);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(yaml, new RegExp(`^app: ${app}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, /^platform: python, wsgi$/m, `${name}: ${yaml}`);
    assert.not.match(yaml, /^# other candidates found:/m, `${name}: ${yaml}`);
    const check = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
    assert.is(check.status, 0, `${name}: ${check.stdout}${check.stderr}`);
  }
});

test('init knows Quart, Falcon (WSGI and ASGI), Bottle, Pyramid and CherryPy apps: their kind and their Debian package', async () => {
  const cases: Array<[string, string, string, string, string]> = [
    // [project, file, its code, app:, platform: and deb: lines]
    ['quart-project', 'main.py', 'from quart import Quart\n\napp = Quart(__name__)\n', 'main:app', 'asgi python3-quart'],
    ['falcon-wsgi', 'main.py', 'import falcon\n\napp = falcon.App()\n', 'main:app', 'wsgi python3-falcon'],
    ['falcon-asgi', 'main.py', 'import falcon.asgi\n\napp = falcon.asgi.App()\n', 'main:app', 'asgi python3-falcon'],
    ['falcon-asgi-from', 'service.py', 'from falcon.asgi import App\n\napi = App()\n', 'service:api', 'asgi python3-falcon'],
    ['bottle-project', 'app.py', 'from bottle import Bottle\n\nweb = Bottle()\n', 'app:web', 'wsgi python3-bottle'],
    ['bottle-default', 'web.py', 'import bottle\n\napplication = bottle.default_app()\n', 'web:application', 'wsgi python3-bottle'],
    [
      'pyramid-project', 'hello.py',
      'from pyramid.config import Configurator\n\nconfig = Configurator()\nconfig.scan()\nwsgi_app = config.make_wsgi_app()\n',
      'hello:wsgi_app', 'wsgi python3-pyramid',
    ],
    // Made inside a module-level `with`, as Pyramid's docs do: a module attribute by any name.
    [
      'pyramid-with', 'hello.py',
      'from pyramid.config import Configurator\n\nwith Configurator() as config:  # closes the config\n    config.add_route("hello", "/")\n    app = config.make_wsgi_app()\n',
      'hello:app', 'wsgi python3-pyramid',
    ],
    ['cherrypy-project', 'root.py', 'import cherrypy\n\n\nclass Root:\n    pass\n\n\napplication = cherrypy.Application(Root())\n', 'root:application', 'wsgi python3-cherrypy3'],
    ['cherrypy-tree', 'root.py', 'import cherrypy\n\ncherrypy.tree.mount(object(), "/")\napp = cherrypy.tree\n', 'root:app', 'wsgi python3-cherrypy3'],
  ];
  for (const [name, file, code, app, expected] of cases) {
    const { r, yaml } = await initProject(name, file, code);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    const [kind, deb] = expected.split(' ');
    assert.match(yaml, new RegExp(`^app: ${app}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, new RegExp(`^platform: python, ${kind}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, new RegExp(`^deb: ${deb}$`, 'm'), `${name}: ${yaml}`);
  }
  // Pyramid's project layout: the package's main(global_config, **settings), called by a wsgi.py
  // that imports no framework itself.
  const paste = join(work.path, 'pyramid-paste');
  mkdirSync(join(paste, 'shop'), { recursive: true });
  writeFileSync(
    join(paste, 'shop', '__init__.py'),
    'from pyramid.config import Configurator\n\n\ndef main(global_config, **settings):\n    with Configurator(settings=settings) as config:\n        config.scan()\n    return config.make_wsgi_app()\n',
  );
  // As the cookiecutter leaves it: nothing to name, and the refusal says what wsgi.py to add.
  const noWsgi = await runCli(['init', paste]);
  assert.is(noWsgi.status, 1, noWsgi.stderr);
  assert.match(noWsgi.stderr, "fix: shop/__init__.py has Pyramid's `main(global_config, **settings)`");
  assert.match(noWsgi.stderr, 'add wsgi.py at the top of the project, `from shop import main` and `application = main({})`');
  writeFileSync(join(paste, 'wsgi.py'), 'from shop import main\n\napplication = main({})\n');
  assert.is((await runCli(['init', paste])).status, 0);
  const pasteYaml = readFileSync(join(paste, 'app.yaml'), 'utf8');
  assert.match(pasteYaml, /^app: wsgi:application$/m);
  assert.match(pasteYaml, /^deb: python3-pyramid$/m);
});

/** Whether the system interpreter, which an app listing deb: runs on, has Tornado (python3-tornado). */
const systemTornado = spawnSync('/usr/bin/python3', ['-c', 'import tornado.web'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const ifTornado = runIf(test, systemTornado, 'needs python3-tornado (/usr/bin/python3 -c "import tornado.web")');
/** Tornado's hello world: a make_app() factory, and its own __main__ on a port of its choosing. */
const TORNADO_HELLO = 'import asyncio\nimport tornado.web\n\n\nclass Main(tornado.web.RequestHandler):\n    def get(self):\n        self.write("hello")\n\n\ndef make_app():\n    return tornado.web.Application([(r"/", Main)])\n\n\nasync def main():\n    app = make_app()\n    app.listen(8888)\n    await asyncio.Event().wait()\n\nif __name__ == "__main__":\n    asyncio.run(main())\n';

test('init writes a Tornado app (neither WSGI nor ASGI) as platform: python, command, started by Tornado on $PORT, not as a WSGI factory or an aiohttp app', async () => {
  for (const [name, code, object] of [
    ['tornado-factory', TORNADO_HELLO, 'make_app()'],
    // `from tornado import web`: web.Application() is Tornado's here, not aiohttp's.
    ['tornado-object', 'from tornado import web\n\n\nclass Main(web.RequestHandler):\n    def get(self):\n        self.write("hello")\n\n\napplication = web.Application([(r"/", Main)])\n', 'application'],
  ]) {
    const { r, yaml } = await initProject(name, 'server.py', code);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, `(processes.web: server:${object} on Tornado's server, a Tornado app)`);
    assert.match(yaml, /^platform: python, command$/m, `${name}: ${yaml}`);
    assert.not.match(yaml, /^app:/m, `${name}: ${yaml}`);
    assert.match(yaml, `      from server import ${object.replace('()', '')}\n`, `${name}: ${yaml}`);
    assert.match(yaml, `          ${object}.listen(int(os.environ["PORT"]), address="127.0.0.1")\n`, `${name}: ${yaml}`);
    assert.match(yaml, /^deb: python3-tornado$/m, `${name}: ${yaml}`);
  }
});

ifTornado('the app.yaml init writes for a Tornado app serves it', async () => {
  const { dir, r } = await initProject('tornado-served', 'server.py', TORNADO_HELLO);
  assert.is(r.status, 0, r.stderr);
  const gw = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path], { env: NO_PYENV_SHIMS, ms: 30_000 });
  try {
    const res = await fetch(`${gw.url}/`);
    assert.is(res.status, 200, gw.output());
    assert.is(await res.text(), 'hello');
  } finally {
    assert.is(await gw.stop(), 0, gw.output());
  }
});

test("init on Bottle's hello world (routes on the default app, no app object) says what line to add, and finds it once added", async () => {
  const hello = 'from bottle import route, run\n\n\n@route("/")\ndef index():\n    return "hi"\n\n\nif __name__ == "__main__":\n    run(host="localhost", port=8080)\n';
  const { dir, r } = await initProject('bottle-routes', 'hello.py', hello);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'fix: hello.py declares its routes with Bottle\'s module-level @route');
  assert.match(r.stderr, 'add `application = bottle.default_app()` at its end (with `import bottle`), then run init again');
  writeFileSync(join(dir, 'hello.py'), `${hello}\nimport bottle\napplication = bottle.default_app()\n`);
  const again = await runCli(['init', dir]);
  assert.is(again.status, 0, again.stderr);
  assert.match(readFileSync(join(dir, 'app.yaml'), 'utf8'), /^app: hello:application$/m);
});

test('init picks the asgi.py of a Django Channels project over its wsgi.py, and says its in-memory channel layer needs one worker', async () => {
  const dir = join(work.path, 'chat.1.0');
  mkdirSync(join(dir, 'chat'), { recursive: true });
  writeFileSync(join(dir, 'manage.py'), 'import os\nimport sys\n\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")\n');
  writeFileSync(join(dir, 'chat', '__init__.py'), '');
  writeFileSync(join(dir, 'chat', 'settings.py'), 'INSTALLED_APPS = ["channels"]\nCHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n');
  writeFileSync(join(dir, 'chat', 'wsgi.py'), 'from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n');
  writeFileSync(
    join(dir, 'chat', 'asgi.py'),
    'from django.core.asgi import get_asgi_application\n\ndjango_app = get_asgi_application()\n\nfrom channels.routing import ProtocolTypeRouter, URLRouter\n\n' +
      'application = ProtocolTypeRouter({"http": django_app, "websocket": URLRouter([])})\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, '(app: chat.asgi:application, ASGI)');
  assert.match(r.stdout, 'note: chat/settings.py gives Channels the InMemoryChannelLayer, whose groups live in one process: give the app one worker (apps: {chat: {workers: 1}} in the environment file; `serve --workers 1`)');
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^platform: python, asgi$/m, yaml);
  assert.match(yaml, /^app: chat\.asgi:application$/m, yaml);
  assert.match(yaml, /^# other candidates found: chat\.wsgi:application$/m, yaml);
  assert.match(yaml, '# sender\'s worker. Give the app one worker in the environment file, apps: {chat: {workers: 1}},');
  // A plain Django project keeps WSGI, as Django's docs deploy it.
  writeFileSync(join(dir, 'chat', 'asgi.py'), 'from django.core.asgi import get_asgi_application\n\napplication = get_asgi_application()\n');
  writeFileSync(join(dir, 'chat', 'settings.py'), 'INSTALLED_APPS = []\n');
  const plain = await runCli(['init', dir, '--force']);
  assert.match(plain.stdout, '(app: chat.wsgi:application, WSGI)', plain.stdout);
  assert.not.match(plain.stdout, /InMemoryChannelLayer/);
  assert.not.match(plain.stdout, /async views/, 'no async view yet: nothing to say of asgi.py');
  // With async views, WSGI stays (Django's default), and init says where ASGI would serve them
  // on an event loop (H253: a new user's async views ran one at a time per thread, unsaid).
  mkdirSync(join(dir, 'polls'));
  writeFileSync(join(dir, 'polls', 'views.py'), 'from django.http import JsonResponse\n\n\nasync def index(request):\n    return JsonResponse({"ok": True})\n');
  const views = await runCli(['init', dir, '--force']);
  assert.match(views.stdout, '(app: chat.wsgi:application, WSGI)', views.stdout);
  assert.match(views.stdout, 'note: polls/views.py has async views, which WSGI runs one at a time per thread; to serve them on an event loop, write platform: python, asgi and app: chat.asgi:application in app.yaml (its asgi.py)', views.stdout);
});

test('init writes an aiohttp app (neither WSGI nor ASGI) as platform: python, command, run by gunicorn with aiohttp\'s worker', async () => {
  for (const [name, code] of [
    ['aiohttp-web', 'from aiohttp import web\n\napp = web.Application()\n'],
    ['aiohttp-from', 'from aiohttp.web import Application\n\napp = Application()\n'],
  ]) {
    const { r, yaml } = await initProject(name, 'server.py', code);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, '(processes.web: server:app under gunicorn, an aiohttp app)');
    assert.match(yaml, /^platform: python, command$/m, `${name}: ${yaml}`);
    assert.not.match(yaml, /^app:/m, `${name}: ${yaml}`);
    assert.match(yaml, /^processes:\n {2}web:\n {4}command: exec gunicorn -k aiohttp\.GunicornWebWorker -b 127\.0\.0\.1:\$PORT server:app$/m, `${name}: ${yaml}`);
    assert.match(yaml, /^deb: \[python3-aiohttp, python3-gunicorn\]$/m, `${name}: ${yaml}`);
  }
});

test("issue 13 item 7: run, test and check pass the caller's environment beneath the app's own variables", async () => {
  const dir = pkg(
    'caller-env',
    [
      'platform: python, wsgi',
      'app: wsgi:application',
      'commands:',
      '  test: test "$FOO" = bar',
      '  check: test "$FOO" = bar',
      '',
    ].join('\n'),
  );
  const envFile = join(work.path, 'caller-env.yaml');
  writeFileSync(envFile, 'apps:\n  caller-env:\n    settings: {GREETING: from-file}\n');
  const env = { FOO: 'bar', GREETING: 'from-shell', APPPKG_DATA_DIR: '/nope', PYTHONPATH: '/elsewhere', VIRTUAL_ENV: '/elsewhere/venv' };
  const common = ['--state-dir', state.path, '--environment', envFile];

  const run = await runCli(
    [
      'run', dir, ...common, '--',
      'python', '-c',
      'import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in ("FOO", "GREETING", "APPPKG_DATA_DIR", "VIRTUAL_ENV")} | {"elsewhere": "/elsewhere" in sys.path}))',
    ],
    { env },
  );
  assert.is(run.status, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout), {
    FOO: 'bar',
    GREETING: 'from-file',
    APPPKG_DATA_DIR: join(state.path, 'apps', 'caller-env', 'data'),
    VIRTUAL_ENV: null,
    elsewhere: false,
  });

  // Django's createsuperuser --noinput reads DJANGO_SUPERUSER_PASSWORD this way (a shell variable).
  const tested = await runCli(['test', dir, ...common], { env });
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
  const checked = await runCli(['check', dir, ...common], { env: { ...env, ...NO_PYENV_SHIMS } });
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+commands\.check/);
  // The same hook fails when the caller's FOO is not bar: it is the caller's variable it saw.
  assert.is((await runCli(['test', dir, ...common], { env: { FOO: '' } })).status, 1);
});

test("run and test: the caller's PORT and the gateway's APPPKG_* never reach the command (SPEC 2.1: the gateway's to give); APPPKG_GATEWAY, a gateway's own setting, does", async () => {
  const dir = pkg('caller-port', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  test: test -z "$PORT$APPPKG_MOUNT"', ''].join('\n'));
  const env = { PORT: '1234', APPPKG_DATA_DIR: '/tmp/x', APPPKG_MOUNT: '/x', APPPKG_BACKUP_DIR: '/tmp/x', APPPKG_GATEWAY: '/opt/gw/bin/apppkg-gateway' };
  const run = await runCli(['run', dir, '--state-dir', state.path, '--', 'env'], { env });
  assert.is(run.status, 0, run.stderr);
  const seen = new Map(run.stdout.split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  assert.is(seen.get('PORT'), undefined, 'a PORT in the shell is no port the gateway gave');
  assert.is(seen.get('APPPKG_DATA_DIR'), join(state.path, 'apps', 'caller-port', 'data'));
  assert.is(seen.get('APPPKG_MOUNT'), undefined, 'processes: alone are told a mount');
  assert.is(seen.get('APPPKG_BACKUP_DIR'), undefined, 'backup and restore alone are told a backup directory');
  assert.is(seen.get('APPPKG_GATEWAY'), env.APPPKG_GATEWAY, "the command apppkg's library runs is the caller's choice");
  const tested = await runCli(['test', dir, '--state-dir', state.path], { env });
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
});

test('test: a suite that fails exits 1 whatever its own status (2 is bad usage, SPEC §3), and says the status', async () => {
  const dir = pkg('suite-exit', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  test: echo ran; exit 2', ''].join('\n'));
  const r = await runCli(['test', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /ran/);
  assert.match(r.stderr, /commands\.test of suite-exit failed \(exit status 2\)/);
});

test('run --command NAME runs commands.NAME (its status on); a name that is no key of commands:, or one the app lacks, names those it has and runs nothing', async () => {
  const dir = pkg('named-commands', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  install: echo installed-as-$APPPKG_ENV; exit 4', '  test: echo tested-as-$APPPKG_ENV', ''].join('\n'));
  const install = await runCli(['run', dir, '--state-dir', state.path, '--command', 'install']);
  assert.is(install.status, 4, install.stderr);
  assert.match(install.stdout, /^installed-as-production$/m);
  const typo = await runCli(['run', dir, '--state-dir', state.path, '--command', 'tset']);
  assert.is(typo.status, 2, typo.stdout + typo.stderr);
  assert.is(typo.stdout, '', 'nothing ran');
  assert.match(typo.stderr, `--command: expected a key of app.yaml's commands: (install, update, check, backup, restore, uninstall, test), found "tset" (did you mean test?); named-commands has commands.install and commands.test\n`);
  assert.match(typo.stderr, 'fix: name one of its commands, e.g. --command test; any other command line goes after --');
  const missing = await runCli(['run', dir, '--state-dir', state.path, '--command', 'uninstall']);
  assert.is(missing.status, 1, missing.stdout + missing.stderr);
  assert.match(missing.stderr, 'named-commands has no commands.uninstall (it has commands.install and commands.test)\n');
  // Without the hook, backup and restore are named as missing, as runCommand and Python's
  // run_command name them, with the command that needs none (it said "commands.backup needs its
  // directory", of a hook the app did not have, exit 2).
  for (const [name, flag, does] of [['backup', '--to', "it copies the app's data directory into DIR/data"], ['restore', '--from', "it replaces the app's data directory with DIR/data"]]) {
    const without = await runCli(['run', dir, '--state-dir', state.path, '--command', name]);
    assert.is(without.status, 1, without.stdout + without.stderr);
    assert.is(without.stdout, '', 'nothing ran');
    assert.match(without.stderr, `named-commands has no commands.${name} (it has commands.install and commands.test)\n  fix: run \`apppkg-gateway ${name} ${dir} ${flag} DIR\`, which needs no hook: ${does}`);
    assert.match(without.stderr, `; or add commands.${name} to app.yaml\n`);
  }
  // With it, run has no way to give it its directory: the command that does.
  const hooked = pkg('hooked-backup', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  backup: echo backed-up', ''].join('\n'));
  const backup = await runCli(['run', hooked, '--state-dir', state.path, '--command', 'backup']);
  assert.is(backup.status, 2, backup.stdout + backup.stderr);
  assert.match(backup.stderr, `--command backup: commands.backup needs its directory, APPPKG_BACKUP_DIR, which run gives no command\n  fix: run \`apppkg-gateway backup ${hooked} --to DIR\``);
  const both = await runCli(['run', dir, '--state-dir', state.path, '--command', 'test', '--', 'true']);
  assert.is(both.status, 2);
  assert.match(both.stderr, 'expected either --command NAME or -- CMD, found both');
});

test.run();
