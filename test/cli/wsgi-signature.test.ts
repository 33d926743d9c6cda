// `check` passed `def application(environ)` (and an ASGI app's `(scope, receive, send)` given
// as WSGI): it imports and is callable, and every request was a 500 (a TypeError). The shim
// now reads the signature (inspect) and refuses one that cannot take (environ, start_response),
// naming the form; what could be right passes: *args, functools.partial, a class whose call
// builds the response, an instance with __call__, a decorator's wrapper (werkzeug's
// Request.application wraps `def app(request)` in `def application(*args)`).
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: check reads a WSGI app\'s signature');
const work = tempDir('apppkg-wsgi-signature-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const CASES = `import functools

def one(environ):
    return []

def asgi3(scope, receive, send):
    return None

class NeedsOne:
    def __call__(self, environ):
        return []

needs_one = NeedsOne()

def star(*args):
    args[1]("200 OK", [])
    return [b"ok"]

partial_ok = functools.partial(lambda greeting, environ, start_response: [greeting], b"ok")

class AppClass:
    def __init__(self, environ, start_response):
        start_response("200 OK", [])
    def __iter__(self):
        return iter([b"ok"])

class Callable:
    def __call__(self, environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

callable_ok = Callable()

def request_application(f):
    @functools.wraps(f)
    def application(*args):
        return f(args[-2])
    return application

@request_application
def wrapped(request):
    return [b"ok"]

class StaticCall:
    @staticmethod
    def __call__(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

static_call = StaticCall()
`;

const check = async (object: string) => {
  const dir = writePackage(work.path, object, { 'app.yaml': `platform: python, wsgi\napp: cases:${object}\n`, 'cases.py': CASES });
  const r = await runCli(['check', dir, '--state-dir', state]);
  return { ...r, stdout: r.stdout.replace(`${join(dir, 'app.yaml')}:`, 'app.yaml:') };
};

const FORM = 'which cannot be called as a WSGI server calls an app, application(environ, start_response), expected a WSGI or ASGI callable';
const FIX = 'fix: make it take the two arguments a WSGI server passes, `def application(environ, start_response)` (PEP 3333; for a class, its `__call__(self, environ, start_response)`, and `app:` naming an instance), or point `app:` at the object that does';

test('refused: one parameter (a function, an instance), and an ASGI app\'s three, each with the form to write', async () => {
  const [one, instance, asgi] = await Promise.all([check('one'), check('needs_one'), check('asgi3')]);
  assert.is(one.status, 1, one.stdout);
  assert.match(one.stdout, `FAIL  app       app.yaml:2:6: app: cases:one is function one(environ), ${FORM}\n      ${FIX}\n`);
  assert.is(instance.status, 1, instance.stdout);
  assert.match(instance.stdout, `app: cases:needs_one is a NeedsOne object called as (environ), ${FORM}\n`);
  assert.is(asgi.status, 1, asgi.stdout);
  assert.match(asgi.stdout, 'function asgi3(scope, receive, send), an ASGI app: it takes three arguments, as application(scope, receive, send)), found python, wsgi\n      fix: write `platform: python, asgi` in app.yaml\n');
});

test('accepted: *args, a partial, a class, an instance, a decorator\'s wrapper, a staticmethod __call__', async () => {
  const objects = ['star', 'partial_ok', 'AppClass', 'callable_ok', 'wrapped', 'static_call'];
  const results = await Promise.all(objects.map(check));
  results.forEach((r, i) => {
    assert.is(r.status, 0, `${objects[i]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, `ok    app       cases:${objects[i]} imports and is callable`);
  });
});

test.run();
