// The Python library (SPEC §5.7: `from apppkg import AppPackage`) on the oldest CPython an app
// may run on. WSGI apps run on 3.6-3.8 too (older-interpreters.test.ts), and python-shim/ is on
// sys.path of every process of theirs, but the library did not import there: its lazy names
// were a module __getattr__ (PEP 562, 3.7), so `from apppkg import AppPackage` was an
// ImportError on 3.6, and describe's subprocess.run(capture_output=...) is 3.7's too. Here
// AppPackage, load_object and run_command run from python-shim/ on 3.6 and on 3.9 against the
// real CLI; each skipped where pyenv lacks that series.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { ROOT, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { pyenvPython } from '../helpers/pyenv.js';

const test = suite('python apppkg on older CPythons');
const work = tempDir('apppkg-library-older-');
test.after(() => work.remove());

// Everything the library offers a caller, through the import SPEC §5.7 names.
const PROBE = String.raw`
import io, json, sys
from apppkg import AppPackage, CommandNotFound

app = AppPackage(sys.argv[1], state_dir=sys.argv[2])
wsgi = app.load_object(app.config["app"])
started = []
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "", "QUERY_STRING": "", "SERVER_NAME": "x",
           "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
           "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": True}
body = b"".join(wsgi(environ, lambda status, headers, exc_info=None: started.append(status)))
status = app.run_command("test")
try:
    app.run_command("nosuch")
    missing = None
except CommandNotFound as exc:
    missing = type(exc).__name__
print("PROBE " + json.dumps({"python": "%d.%d" % sys.version_info[:2], "name": app.name, "status": started[0],
                             "body": body.decode(), "commandStatus": status, "missing": missing}))
`;

for (const series of ['3.6', '3.9']) {
  const python = pyenvPython(series);
  runIf(test, python !== null, `pyenv has no CPython ${series} under ~/.pyenv/versions`)(`on CPython ${series}: AppPackage(path), load_object and run_command, imported from python-shim/`, () => {
    const apps = join(work.path, `apps-${series}`);
    const dir = writePackage(apps, 'older', {
      'app.yaml': 'platform: python, wsgi\napp: older:application\ncommands:\n  test: python -c "import sys; print(\'TEST-RAN\'); sys.exit(3)"\n',
      'older.py': 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"older"]\n',
    });
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: join(ROOT, 'python-shim'), PYTHONDONTWRITEBYTECODE: '1' };
    delete env.APPPKG_GATEWAY;
    const run = spawnSync(python!, ['-c', PROBE, dir, join(work.path, 'state')], { env, encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
    const line = run.stdout.split('\n').find((l) => l.startsWith('PROBE '));
    assert.ok(line, `no probe line (status ${run.status}, signal ${run.signal})\n${run.stdout}\n${run.stderr}`);
    assert.equal(JSON.parse(line!.slice('PROBE '.length)), {
      python: series, name: 'older', status: '200 OK', body: 'older', commandStatus: 3, missing: 'CommandNotFound',
    });
    assert.match(run.stdout, 'TEST-RAN');
  });
}

test.run();
