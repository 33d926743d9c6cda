// SPEC §1.3: `python:` picks among the interpreters the host has, so `python: "<3.7"` on a host
// with pyenv's 3.6 runs the app on 3.6, and the worker (python-shim/) must run there too. It
// did not: a WSGI worker on 3.6 died at its start (signal.set_wakeup_fd's warn_on_full_buffer is
// 3.7's) while `check` said the app imported fine, and once past that every answer with a
// Content-Length was a 500 (str.isascii is 3.7's). Each CPython older than 3.9 that pyenv has
// here serves an app through the real gateway: its version, a body read back, a Content-Length
// answer and one streamed. Skipped where pyenv has none.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, pathWithoutPyenvShims, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { pyenvPython } from '../helpers/pyenv.js';

const test = suite('python: an older CPython the host has runs the worker');
const work = tempDir('apppkg-old-python-');
let gw: RunningGateway | null = null;
test.after(() => stopGatewayChecked(gw, work));

/** pyenv's CPython 3.6-3.8 binaries here, one per series: [series, its python3.N]. */
function olderPythons(): Array<[string, string]> {
  return ['3.6', '3.7', '3.8'].flatMap((series): Array<[string, string]> => {
    const bin = pyenvPython(series);
    return bin === null ? [] : [[series, bin]];
  });
}

const PYTHONS = olderPythons();
const ifOlder = runIf(test, PYTHONS.length > 0, 'pyenv has no CPython 3.6, 3.7 or 3.8 under ~/.pyenv/versions');
const PY36 = PYTHONS.find(([series]) => series === '3.6')?.[1];
const if36 = runIf(test, PY36 !== undefined, 'pyenv has no CPython 3.6 under ~/.pyenv/versions');

const ASGI = 'async def app(scope, receive, send):\n    pass\n';

const APP = String.raw`
import sys
def application(environ, start_response):
    version = ('%d.%d' % sys.version_info[:2]).encode()
    body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    if environ['PATH_INFO'] == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([version, b' ', body])
    out = version + b' ' + body
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))])
    return [out]
`;

ifOlder('each older series serves its app: python: picks it, and the worker answers on it', async () => {
  const apps = join(work.path, 'apps');
  for (const [series] of PYTHONS) {
    const name = `py${series.replace('.', '')}`;
    writePackage(apps, name, { 'app.yaml': `python: "==${series}.*"\napp: old:application\n`, 'old.py': APP });
  }
  // An ASGI app python: puts on 3.6 is refused at start, as check refuses it, and the others serve.
  if (PY36 !== undefined) writePackage(apps, 'asgi36', { 'app.yaml': 'python: "<3.7"\nplatform: python, asgi\napp: a:app\n', 'a.py': ASGI });
  // The binaries named outright: the pick by `python:` is the same whatever PATH has of pyenv.
  const env = join(work.path, 'environment.yaml');
  const entries = PYTHONS.map(([series, bin]) => `  py${series.replace('.', '')}:\n    python: ${bin}\n    workers: 1\n    threads: 2\n`);
  if (PY36 !== undefined) entries.push(`  asgi36:\n    python: ${PY36}\n`);
  writeFileSync(env, `apps:\n${entries.join('')}`, { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], { ms: 60_000 });
  for (const [series] of PYTHONS) {
    const name = `py${series.replace('.', '')}`;
    for (const path of ['/', '/stream']) {
      const r = await request(`${gw.url}/${name}${path}`, { method: 'POST', body: 'hello', headersTimeout: 30_000, bodyTimeout: 30_000 });
      const text = await r.body.text();
      assert.is(r.statusCode, 200, `${name}${path} on ${series}: ${text}\n${gw.output()}`);
      assert.is(text, `${series} hello`, `${name}${path}`);
    }
  }
  if (PY36 !== undefined) {
    const problem = await waitFor(async () => (await appStatus(gw!, 'asgi36'))?.problem, 20_000, 'asgi36 refused', ASK_GATEWAY_EVERY_MS);
    assert.is(problem.code, 'APPPKG_PY_TOO_OLD_FOR_ASGI', JSON.stringify(problem));
    assert.match(problem.message, new RegExp(`^${env}:\\d+:13: apps\\.asgi36\\.python: ${PY36} 3\\.6\\.\\d+ is too old for an ASGI app, whose worker needs Python 3\\.7 or later$`));
    assert.match(problem.hint, /set apps\.asgi36\.python in the environment file to a Python 3\.7 or later/);
  }
});

// check lists what the interpreter has installed to judge `pip:`: with importlib.metadata,
// Python 3.8's, it said "cannot list what ... has installed: ImportError" on 3.6 and 3.7, and
// failed an app whose requirements were all there.
ifOlder('check judges pip: requirements on each older series by what it has installed', async () => {
  for (const [series, bin] of PYTHONS) {
    const name = `pip${series.replace('.', '')}`;
    const dir = writePackage(work.path, name, {
      'app.yaml': `python: "==${series}.*"\npip: requirements.txt\napp: old:application\n`,
      'requirements.txt': 'pip>=1\napppkg-not-installed-anywhere\n',
      'old.py': APP,
    });
    const env = join(work.path, `environment-${name}.yaml`);
    writeFileSync(env, `apps:\n  ${name}:\n    python: ${bin}\n`, { mode: 0o600 });
    const r = await runCli(['check', dir, '--environment', env, '--state-dir', join(work.path, 'state-check')], { ms: 60_000 });
    const pipLine = (r.stdout + r.stderr).split('\n').find((l) => /^\S+\s+pip\s/.test(l)) ?? '';
    // pip is there, the other is not: the line names that one alone.
    assert.match(pipLine, /apppkg-not-installed-anywhere \(not installed\)/, `${series}: ${r.stdout}${r.stderr}`);
    assert.not.match(pipLine, /cannot list|pip>=1|pip \(/, `${series}: ${pipLine}`);
  }
});


// The ASGI worker is built on 3.7's asyncio: on 3.6 it died of "module 'asyncio' has no
// attribute 'BufferedProtocol'", which says nothing of the Python picked; later check failed at
// the app line, the worker's exit with a fix ("read the app log above; `apppkg-gateway check`
// runs the same import") that sent the user to the very command they ran. It is the python
// line's failure: the interpreter picked is too old for the app's kind.
if36('an ASGI app that the environment file puts on 3.6: check and serve refuse it at that python, naming 3.7', async () => {
  const dir = writePackage(work.path, 'asgi36', { 'app.yaml': 'python: "<3.7"\nasgi: {app: a:app}\n', 'a.py': ASGI });
  const env = join(work.path, 'environment-asgi36.yaml');
  writeFileSync(env, `apps:\n  asgi36:\n    python: ${PY36}\n`, { mode: 0o600 });
  for (const command of ['check', 'serve']) {
    const r = await runCli([command, dir, '--environment', env, '--state-dir', join(work.path, 'state-check'), ...(command === 'serve' ? ['--port', '0'] : [])], { ms: 60_000 });
    const out = r.stdout + r.stderr;
    assert.is(r.status, 1, `${command}: ${out}`);
    const said = `${env}:3:13: apps.asgi36.python: ${PY36} 3.6.`;
    assert.ok(out.includes(said), `${command}: ${out}`);
    assert.match(out, / is too old for an ASGI app, whose worker needs Python 3\.7 or later\n/, `${command}: ${out}`);
    // app.yaml's "<3.7" would keep the gateway on 3.6 with the key removed: said too.
    assert.match(out, /fix: set apps\.asgi36\.python in the environment file to a Python 3\.7 or later, or remove it to let the gateway pick one; python: "<3\.7" in app\.yaml lets in nothing newer: widen it \(python: ">=3\.7"\)/, `${command}: ${out}`);
    assert.not.match(out, /AttributeError|read the app log|exited before it was ready/, `${command}: ${out}`);
    if (command === 'check') assert.match(out, /^FAIL +python +/m, out);
  }
});

if36('an ASGI app whose python: picks 3.6 from PATH: check fails at app.yaml\'s python line with the fix there', async () => {
  const dir = writePackage(work.path, 'asgi36-path', { 'app.yaml': 'platform: python, asgi\npython: "<3.7"\napp: a:app\n', 'a.py': ASGI });
  const PATH = `${dirname(PY36!)}:${pathWithoutPyenvShims()}`;
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state-check')], { env: { PATH }, ms: 60_000 });
  const out = r.stdout + r.stderr;
  assert.is(r.status, 1, out);
  assert.match(out, new RegExp(`FAIL +python +${join(dir, 'app.yaml')}:2:9: python: python3 3\\.6\\.\\d+ \\(\\S+\\) is too old for an ASGI app, whose worker needs Python 3\\.7 or later\n`), out);
  assert.match(out, /fix: python: "<3\.7" in app\.yaml lets in nothing newer: widen it \(python: ">=3\.7"\), and install a Python 3\.7 or later/, out);
  assert.not.match(out, /read the app log/, out);
});

test.run();
