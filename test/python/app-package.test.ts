// The Python library `apppkg` (SPEC §5.7, docs/python-library.md) on real pythons and the real
// CLI: pip-installed from python-shim/ into fresh venvs and used outside any gateway process
// (the description from `describe --sys-path`), and inside the app's own processes — a worker,
// a `processes` command, `apppkg-gateway run` — where it reads APPPKG_DESCRIPTION and spawns
// no CLI. Every process here has a deadline; every state directory is a temp one.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkAppImport } from '../../src/link/check-app.js';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { EXAMPLES, FIXTURES, ROOT, runCli, startCli, tempDir, waitFor } from '../helpers/process.js';

const PROCESS_MS = 60_000;
const HELLO = join(EXAMPLES, 'hello');
const SYSTEM_PYTHON = '/usr/bin/python3';

// Drives AppPackage and prints one line `APPPKG-PROBE {json}` (a command it runs prints first).
// `gateway` is set as APPPKG_GATEWAY inside the process: `run` passes the app only the
// gateway's own variables, so one the test set would not arrive.
const PROBE = String.raw`
import io, json, os, sys
import apppkg

path = sys.argv[1]
options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
if options.get("gateway"):
    os.environ["APPPKG_GATEWAY"] = options["gateway"]
report = {"apppkg": apppkg.__file__, "version": apppkg.__version__, "python": list(sys.version_info[:2])}
try:
    app = apppkg.AppPackage(path, environment=options.get("environment"), state_dir=options.get("state_dir"))
except apppkg.AppPackageError as exc:
    report["error"] = [type(exc).__name__, str(exc)]
    print("APPPKG-PROBE " + json.dumps(report))
    sys.exit(0)
report.update(name=app.name, config=app.config, sysPath=app.sys_path, executable=app.executable, before=list(sys.path))
wsgi = app.load_object(app.config["app"])
report["after"] = list(sys.path)
started = []
environ = {
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
    "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
    "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
    "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": True,
}
body = b"".join(wsgi(environ, lambda status, headers, exc_info=None: started.append(status)))
report.update(status=started[0], body=body.decode("latin-1"), errors={})
for ref in options.get("refs", []):
    try:
        app.load_object(ref)
        report["errors"][ref] = None
    except (apppkg.AppPackageError, ValueError) as exc:
        report["errors"][ref] = [type(exc).__name__, str(exc)]
if options.get("command"):
    report["commandStatus"] = app.run_command(options["command"])
try:
    app.run_command("backup")
except apppkg.CommandNotFound as exc:
    report["missingCommand"] = str(exc)
print("APPPKG-PROBE " + json.dumps(report))
`;

// An app with `paths:` whose vendor/extra.pth adds vendor/more, a `processes` command and a
// `commands.test`, each reporting where `apppkg` came from.
const VENDORED_APP = {
  'app.yaml': [
    'platform: python, wsgi',
    'python: ">=3.9"',
    'paths: [vendor/, lib2]',
    'app: report:application',
    'processes:',
    '  probe:',
    '    command: python probe_process.py',
    'commands:',
    '  test: python selftest.py',
    '',
  ].join('\n'),
  'report.py': String.raw`import json, os, sys
import apppkg
import vendored  # vendor/more, through vendor/extra.pth

NOT_CALLABLE = 42


def application(environ, start_response):
    report = {"sysPath": sys.path, "apppkg": apppkg.__file__, "executable": sys.executable}
    if "APPPKG_APP_DIR" in os.environ:  # served by the gateway, not loaded by the test's probe
        # Inside the app's process AppPackage reads APPPKG_DESCRIPTION: a CLI would fail.
        os.environ["APPPKG_GATEWAY"] = "/nonexistent/apppkg-gateway"
        pkg = apppkg.AppPackage(os.environ["APPPKG_APP_DIR"])
        report.update(name=pkg.name, pkgSysPath=pkg.sys_path)
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`,
  'probe_process.py': String.raw`import json, os, time
import apppkg

os.environ["APPPKG_GATEWAY"] = "/nonexistent/apppkg-gateway"
pkg = apppkg.AppPackage(os.environ["APPPKG_APP_DIR"])
out = os.path.join(os.environ["APPPKG_DATA_DIR"], "probe.json")
with open(out + ".tmp", "w") as f:
    json.dump({"apppkg": apppkg.__file__, "name": pkg.name}, f)
os.rename(out + ".tmp", out)
time.sleep(600)
`,
  'selftest.py': 'import sys, apppkg, vendored\nprint("TEST-RAN", apppkg.__file__, vendored.__file__)\nsys.exit(3)\n',
  'vendor/extra.pth': '# the vendored copy of a package with a .pth\nmore\n',
  'vendor/more/vendored.py': 'VALUE = 1\n',
  'lib2/.keep': '',
};

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end within `ms` (SIGKILL and a failure past it). */
function runProcess(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; ms?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not finish in ${opts.ms ?? PROCESS_MS} ms\n${stdout}\n${stderr}`));
    }, opts.ms ?? PROCESS_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

type Report = Record<string, any>;

function probeReport(run: Run, what: string): Report {
  const line = run.stdout.split('\n').find((l) => l.startsWith('APPPKG-PROBE '));
  if (!line) throw new Error(`${what}: no probe line (status ${run.status})\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(line.slice('APPPKG-PROBE '.length)) as Report;
}

/** A python3.9 that runs (the oldest Python apppkg supports), or null. */
async function findPython39(): Promise<string | null> {
  const versions = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  const candidates = ['python3.9'];
  if (existsSync(versions)) {
    for (const v of readdirSync(versions).filter((name) => /^3\.9\.\d+$/.test(name))) candidates.push(join(versions, v, 'bin', 'python3.9'));
  }
  for (const candidate of candidates) {
    const ok = await runProcess(candidate, ['-c', 'import sys; assert sys.version_info[:2] == (3, 9)'], { ms: 10_000 }).catch(() => null);
    if (ok?.status === 0) return candidate;
  }
  return null;
}

const test = suite('python apppkg');
const work = tempDir('apppkg-python-');
const state = join(work.path, 'state');
const probe = join(work.path, 'probe.py');
const failingGateway = join(work.path, 'gateway-that-fails');
// Names the interpreter: the gateway's pick among the host's pythons may differ between two
// runs on a loaded host (a probe past its deadline), and sys.path is compared across runs.
const environmentFile = join(work.path, 'environment.yaml');
const vendored = join(work.path, 'vendored');
/** venv pythons with apppkg pip-installed, by base interpreter; filled by the first test. */
const venvPythons: Array<{ base: string; python: string }> = [];

test.before(async () => {
  const python3 = await runProcess('python3', ['-c', 'import sys; print(sys.executable)'], { ms: 30_000 });
  writeFileSync(environmentFile, `python: ${JSON.stringify(python3.stdout.trim())}\n`);
  writeFileSync(probe, PROBE);
  // Leaves a trace when run, so that a test can prove it was not.
  writeFileSync(failingGateway, '#!/bin/sh\ntouch "$0.called"\necho "gateway-that-fails: $*" >&2\nexit 1\n');
  chmodSync(failingGateway, 0o755);
  for (const [file, text] of Object.entries(VENDORED_APP)) {
    mkdirSync(dirname(join(vendored, file)), { recursive: true });
    writeFileSync(join(vendored, file), text);
  }
});

test.after(() => {
  work.remove();
});

/** The probe in a venv python outside any gateway process; the CLI is bin/apppkg-gateway. */
async function outside(python: string, dir: string, options: Report = {}, env: NodeJS.ProcessEnv = { ...process.env, APPPKG_GATEWAY: join(ROOT, 'bin', 'apppkg-gateway') }): Promise<Report> {
  const all = { environment: environmentFile, state_dir: state, ...options };
  return probeReport(await runProcess(python, [probe, dir, JSON.stringify(all)], { env }), `${python} probe ${dir}`);
}

/** The probe inside the app's environment: `apppkg-gateway run DIR -- python probe.py`. */
async function inside(dir: string, options: Report = {}): Promise<{ report: Report; stdout: string }> {
  const run = await runCli(['run', dir, '--state-dir', state, '--environment', environmentFile, '--', 'python', probe, dir, JSON.stringify({ gateway: failingGateway, ...options })], { ms: PROCESS_MS });
  return { report: probeReport(run, `run ${dir}`), stdout: run.stdout };
}

async function describe(dir: string): Promise<Report> {
  const r = await runCli(['describe', dir]);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

test('pip installs python-shim/ offline into fresh venvs (pyenv python3, /usr/bin/python3): apppkg, not apppkg_shim', async () => {
  const bases = ['python3', ...(existsSync(SYSTEM_PYTHON) ? [SYSTEM_PYTHON] : [])];
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  // The two at once. Each venv is made without pip and python3's pip installs into it (pip
  // --python runs pip's code in the venv's interpreter, its site-packages the target): ensurepip
  // copying pip into each was ~7 s of CPU apiece, two thirds of this file's.
  const made = await Promise.all(bases.map(async (base, i) => {
    const venv = join(work.path, `venv-${i}`);
    const made = await runProcess(base, ['-m', 'venv', '--without-pip', venv], { ms: 120_000 });
    if (made.status !== 0 && base === SYSTEM_PYTHON && /ensurepip|python3-venv/.test(made.stderr)) return null; // no python3-venv here
    assert.is(made.status, 0, `${base} -m venv: ${made.stderr}`);
    const python = join(venv, 'bin', 'python');
    const pip = await runProcess('python3', ['-m', 'pip', '--python', python, 'install', '--no-index', '--no-cache-dir', '--disable-pip-version-check', SHIM_DIR], { ms: 120_000 });
    assert.is(pip.status, 0, `pip install ${SHIM_DIR} with ${base}:\n${pip.stdout}\n${pip.stderr}`);
    const where = await runProcess(python, ['-c', 'import apppkg, importlib.util as u; print(apppkg.__file__); print(apppkg.__version__); print(u.find_spec("apppkg_shim"))'], { cwd: work.path });
    const [file, installed, shim] = where.stdout.trim().split('\n');
    assert.ok(file.startsWith(join(venv, 'lib')), `${base}: apppkg from the venv, found ${file}`);
    assert.is(installed, version, 'apppkg.__version__ is the gateway\'s package.json version');
    assert.is(shim, 'None', 'apppkg_shim is not installed');
    return { base, python };
  }));
  for (const venv of made) if (venv) venvPythons.push(venv);
  assert.ok(venvPythons.length > 0);
});

test('(a) outside any gateway process: AppPackage loads examples/hello and calls it; config is what describe prints', async () => {
  const described = await describe(HELLO);
  for (const { base, python } of venvPythons) {
    const r = await outside(python, HELLO);
    assert.not.ok(r.error, `${base}: ${r.error}`);
    assert.ok(r.apppkg.startsWith(dirname(dirname(python))), `${base}: the pip-installed apppkg`);
    assert.is(r.name, 'hello');
    assert.equal(r.config, described);
    assert.equal(r.sysPath, [HELLO]);
    assert.is(r.status, '200 OK');
    assert.is(r.body, 'Hello, world!\n');
    // The fix the CLI's `run --command backup` and runCommand('backup') give: the command that needs no hook.
    assert.match(r.missingCommand, /app 'hello' has no commands\.backup in .*app\.yaml \(it has no commands\)\n {2}fix: run `apppkg-gateway backup \S+ --to DIR`, which needs no hook: it copies the app's data directory into DIR\/data .*; or add commands\.backup to app\.yaml$/);
  }
});

test('(b) inside the app\'s environment (`run`): from APPPKG_DESCRIPTION, no CLI spawned', async () => {
  const { report: r } = await inside(HELLO);
  assert.not.ok(r.error, String(r.error));
  assert.is(r.apppkg, join(SHIM_DIR, 'apppkg', '__init__.py'), '`import apppkg` is python-shim\'s');
  assert.not.ok(existsSync(`${failingGateway}.called`), 'the gateway CLI was not run');
  assert.equal(r.config, await describe(HELLO));
  assert.equal(r.sysPath, [HELLO]);
  assert.is(r.status, '200 OK');
  assert.is(r.body, 'Hello, world!\n');
});

test('(b) inside `run`, an app asking for services: config has the provides describe prints', async () => {
  // SQLite in the app's data directory: what `database: sql` gets on a host that names no server.
  const dir = join(work.path, 'with-db');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: sql\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"with-db"]\n');
  const { report: r } = await inside(dir);
  assert.not.ok(r.error, String(r.error));
  const described = await runCli(['describe', dir, '--state-dir', state, '--environment', environmentFile]);
  assert.is(described.status, 0, described.stderr);
  assert.equal(r.config, JSON.parse(described.stdout));
  assert.equal(r.config.provides, { database: 'sqlite', env: { DATABASE_URL: `sqlite:///${join(state, 'apps', 'with-db', 'data', 'db.sqlite3')}` }, problem: null });
});

test('inside `run --state-dir X` of one app, AppPackage(another app) reads X: the other app\'s virtualenv is on its sys_path', async () => {
  // Before, the app's processes were not told their state root: AppPackage(other) asked the
  // gateway about the default root, where the other app has no virtualenv.
  const root = join(work.path, 'other-app-root');
  const other = join(work.path, 'other-with-pip');
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(other, 'requirements.txt'), '');
  writeFileSync(join(other, 'wsgi.py'), 'def application(environ, start_response):\n    return []\n');
  // The venv `install` would make, from the interpreter the gateway picks for it (without pip: offline, quick).
  const described = await runCli(['describe', other, '--sys-path', '--state-dir', root]);
  assert.is(described.status, 0, described.stderr);
  const venv = join(root, 'apps', 'other-with-pip', 'venv');
  const made = await runProcess((JSON.parse(described.stdout) as Report).executable, ['-m', 'venv', '--without-pip', venv], { ms: 120_000 });
  assert.is(made.status, 0, made.stderr);
  const withVenv = JSON.parse((await runCli(['describe', other, '--sys-path', '--state-dir', root])).stdout) as Report;
  assert.ok(String(withVenv.sysPath.at(-1)).startsWith(join(venv, 'lib')), `describe --state-dir sees the venv: ${JSON.stringify(withVenv.sysPath)}`);
  const script = 'import json, sys\nfrom apppkg import AppPackage\nprint("APPPKG-PROBE " + json.dumps({"sysPath": AppPackage(sys.argv[1]).sys_path}))\n';
  const run = await runCli(['run', HELLO, '--state-dir', root, '--environment', environmentFile, '--', 'python', '-c', script, other], { ms: PROCESS_MS });
  assert.equal(probeReport(run, 'AppPackage(other) inside run').sysPath, withVenv.sysPath);
});

test('describe --sys-path adds executable and sysPath, and creates nothing', async () => {
  const nowhere = join(work.path, 'no-state');
  const r = await runCli(['describe', vendored, '--sys-path', '--state-dir', nowhere]);
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as Report;
  assert.equal(d.sysPath, [vendored, join(vendored, 'vendor'), join(vendored, 'lib2')]);
  assert.is(typeof d.executable, 'string');
  assert.is(d.python, '>=3.9', '"python" stays the specifier');
  assert.not.ok(existsSync(nowhere), 'no state directory');
  assert.equal(Object.keys(await describe(vendored)), Object.keys(d).filter((k) => k !== 'executable' && k !== 'sysPath'));
});

test('a worker and a `processes` command import python-shim\'s apppkg; sys.path is the same in a worker, `run` and load_object', async () => {
  const gw = await startCli(['serve', vendored, '--port', '0', '--workers', '1', '--state-dir', state, '--environment', environmentFile], { ms: 30_000 });
  let worker: Report;
  let processReport: Report;
  try {
    const res = await request(`${gw.url}/`, { headersTimeout: 15_000, bodyTimeout: 15_000 });
    const text = await res.body.text();
    assert.is(res.statusCode, 200, text);
    worker = JSON.parse(text) as Report;
    const probeFile = join(state, 'apps', 'vendored', 'data', 'probe.json');
    processReport = await waitFor(() => existsSync(probeFile) && (JSON.parse(readFileSync(probeFile, 'utf8')) as Report), 20_000, 'processes.probe to report');
  } finally {
    await gw.stop();
  }
  const shimApppkg = join(SHIM_DIR, 'apppkg', '__init__.py');
  const front = [vendored, join(vendored, 'vendor'), join(vendored, 'vendor', 'more'), join(vendored, 'lib2')];
  assert.is(worker.apppkg, shimApppkg, 'worker');
  assert.is(worker.name, 'vendored', 'AppPackage in a worker, without the CLI');
  assert.equal(worker.pkgSysPath, [vendored, join(vendored, 'vendor'), join(vendored, 'lib2')]);
  assert.equal(worker.sysPath.slice(0, front.length), front);
  assert.is(worker.sysPath[worker.sysPath.length - 1], SHIM_DIR);
  assert.equal(processReport, { apppkg: shimApppkg, name: 'vendored' }, 'processes.probe');

  // Under `run` (the same interpreter): what a command sees, and what load_object leaves, is
  // the worker's sys.path; only the script's own directory (sys.path[0]) is extra.
  const { report: r, stdout } = await inside(vendored, { command: 'test' });
  assert.not.ok(existsSync(`${failingGateway}.called`), 'the gateway CLI was not run');
  const own = (path: string[]) => path.filter((p) => p !== work.path);
  assert.equal(own(r.before), worker.sysPath, 'a command\'s sys.path');
  assert.equal(own(r.after), worker.sysPath, 'after load_object');
  assert.is(r.executable, worker.executable);
  assert.is(r.commandStatus, 3, 'run_command returns the status');
  assert.match(stdout, `TEST-RAN ${shimApppkg} ${join(vendored, 'vendor', 'more', 'vendored.py')}`);

  // Outside, in a venv: the same front, then that python's own.
  const { python } = venvPythons[0];
  const out = await outside(python, vendored, { command: 'test' });
  assert.not.ok(out.error, String(out.error));
  assert.equal(out.after.slice(0, front.length), front);
  assert.is(out.executable, worker.executable);
  assert.is(out.commandStatus, 3);
});

test('load_object of an application factory (`module:create_app()`, as app.yaml may name it) gives the app it returns', async () => {
  const r = await outside(venvPythons[0].python, join(FIXTURES, 'apps', 'factory'), { refs: ['factory_app:make_nothing()'] });
  assert.not.ok(r.error, String(r.error));
  assert.is(r.status, '200 OK');
  assert.is(r.body, 'made by create_app, called 1 time(s)');
  const e = r.errors as Record<string, [string, string]>;
  assert.equal(e['factory_app:make_nothing()'][0], 'NotCallable');
  assert.match(e['factory_app:make_nothing()'][1], /returned int 42/);
});

test('load_object errors say what is missing and how to fix it', async () => {
  const r = await outside(venvPythons[0].python, vendored, { refs: ['report:nope', 'report:applicatoin', 'report:NOT_CALLABLE', 'nosuchmodule:app', 'report:NOT_CALLABLE.real.x', ':app'] });
  const e = r.errors as Record<string, [string, string]>;
  assert.equal(e['report:nope'][0], 'ObjectNotFound');
  assert.match(e['report:nope'][1], /^report:nope: module 'report' has no attribute 'nope'\n {2}fix: /);
  assert.match(e['report:applicatoin'][1], /fix: did you mean 'application'\?/);
  assert.equal(e['report:NOT_CALLABLE'][0], 'NotCallable');
  assert.match(e['report:NOT_CALLABLE'][1], /^report:NOT_CALLABLE is int 42, expected a callable/);
  assert.equal(e['nosuchmodule:app'][0], 'ObjectNotFound');
  assert.match(e['nosuchmodule:app'][1], /no module named 'nosuchmodule' on the app's sys\.path/);
  assert.match(e['report:NOT_CALLABLE.real.x'][1], /report:NOT_CALLABLE\.real \(int\) has no attribute 'x'/);
  assert.equal(e[':app'][0], 'ValueError');
  assert.match(r.missingCommand, /app 'vendored' has no commands\.backup .* \(it has commands\.test\)/);
});

test('load_object of a second app whose module has the first one\'s name: ModuleConflict, not the first app', async () => {
  // Python's import cache answers by name: before, the second app's `load_object` returned the
  // first app's callable without a word.
  const apps = ['one', 'two'].map((name) => {
    const dir = join(work.path, `same-module-${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'site_app.py'), `def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"${name}"]\n`);
    // A module named like the stdlib's, which the interpreter imported before the app.
    writeFileSync(join(dir, 'json.py'), 'def application(environ, start_response):\n    return []\n');
    return dir;
  });
  const script = String.raw`
import json as stdlib_json, sys
from apppkg import ModuleConflict
from apppkg.loader import load_object
out = {}
first = load_object("site_app:application", [sys.argv[1]])
out["first"] = b"".join(first({}, lambda *a: None)).decode()
out["again"] = load_object("site_app:application", [sys.argv[1]]) is first
for ref, where in (("site_app:application", sys.argv[2]), ("json:application", sys.argv[1])):
    try:
        load_object(ref, [where])
        out[ref] = None
    except ModuleConflict as exc:
        out[ref] = str(exc)
print(stdlib_json.dumps(out))
`;
  const r = await runProcess('python3', ['-c', script, ...apps], { env: { ...process.env, PYTHONPATH: SHIM_DIR }, cwd: work.path });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string | boolean | null>;
  assert.is(out.first, 'one');
  assert.is(out.again, true, 'the same app loaded twice is no conflict');
  assert.match(String(out['site_app:application']), `module 'site_app' is already imported in this process from ${join(apps[0], 'site_app.py')}; the app's own is ${join(apps[1], 'site_app.py')}`);
  assert.match(String(out['site_app:application']), /\n {2}fix: load each app in a process of its own/);
  assert.match(String(out['json:application']), /module 'json' is already imported in this process from \S+json\/__init__\.py/);
});

test('run_command of backup or restore: refused with the CLI command that gives the hook its directory; the hook never runs', async () => {
  // Through `apppkg-gateway run` the hook got no APPPKG_BACKUP_DIR and wrote its dump into "",
  // the app directory (JavaScript's runCommand refuses the same call).
  const dir = join(work.path, 'with-backup');
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  backup: echo dump > "${APPPKG_BACKUP_DIR:-.}/dump.txt"\n  restore: echo loaded > "${APPPKG_BACKUP_DIR:-.}/loaded.txt"\n');
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    return []\n');
  const script = String.raw`
import json, sys
import apppkg
app = apppkg.AppPackage(sys.argv[1], environment=sys.argv[2], state_dir=sys.argv[3])
said = {}
for name in ("backup", "restore"):
    try:
        said[name] = app.run_command(name)
    except apppkg.AppPackageError as exc:
        said[name] = [type(exc).__name__, str(exc)]
print("APPPKG-PROBE " + json.dumps(said))
`;
  const env = { ...process.env, PYTHONPATH: SHIM_DIR, APPPKG_GATEWAY: join(ROOT, 'bin', 'apppkg-gateway'), APPPKG_BACKUP_DIR: join(work.path, 'not-passed-on') };
  const said = probeReport(await runProcess('python3', ['-c', script, dir, environmentFile, state], { env }), 'run_command backup');
  assert.equal(said.backup, [
    'CommandNeedsBackupDirectory',
    `run_command('backup') cannot give commands.backup its APPPKG_BACKUP_DIR: it would run with none, in ${dir}\n  fix: run \`apppkg-gateway backup ${dir} --to DIR\`, which also checks DIR, dumps the app's database and Redis keys beside the hook's files and marks the backup`,
  ]);
  assert.equal(said.restore[0], 'CommandNeedsBackupDirectory');
  assert.match(said.restore[1], `fix: run \`apppkg-gateway restore ${dir} --from DIR\``);
  assert.equal(readdirSync(dir).sort(), ['app.yaml', 'wsgi.py'], 'neither hook ran in the app directory');
});

test('AppPackage given an empty path, environment or state_dir (a variable set to ""): EmptyPath naming the argument, a ValueError; nothing described', async () => {
  // Before: state_dir="" was taken for none, so the app was described and run under the default
  // state root (/var/lib/apppkg-gateway as root), environment="" read no file, and path="" was
  // the working directory.
  const script = String.raw`
import json, sys
import apppkg
said = []
for args, kwargs in (((sys.argv[1],), {"state_dir": ""}), ((sys.argv[1],), {"environment": ""}), (("",), {})):
    try:
        apppkg.AppPackage(*args, **kwargs)
        said.append(None)
    except apppkg.AppPackageError as exc:
        said.append([type(exc).__name__, isinstance(exc, ValueError), str(exc)])
print("APPPKG-PROBE " + json.dumps(said))
`;
  // A root of the test's own for the fallback an empty state_dir took: never the default one.
  const env = { ...process.env, PYTHONPATH: SHIM_DIR, APPPKG_GATEWAY: join(ROOT, 'bin', 'apppkg-gateway'), APPPKG_STATE_DIR: state };
  const said = probeReport(await runProcess('python3', ['-c', script, HELLO], { env, cwd: work.path }), 'AppPackage with empty paths') as unknown as Array<[string, boolean, string]>;
  for (const name of ['state_dir', 'environment']) {
    assert.equal(said.shift(), ['EmptyPath', true, `AppPackage: ${name}: expected a path, found an empty one\n  fix: give ${name} a path, or leave it out (None): an empty one, as a variable set to "" gives, is never taken for the default`]);
  }
  assert.equal(said.shift(), ['EmptyPath', true, "AppPackage: path: expected the app directory's path, found an empty one\n  fix: give the directory that holds app.yaml, e.g. AppPackage('/srv/apps/blog')"]);
});

// The library said these in words of its own ("AppPackage: path: ..."), where every other error
// of it is the CLI's, said with the caller's names: check and the library told one mistake two ways.
test('AppPackage given no such directory, a file or a directory without app.yaml: the words `check DIR` has for it, AppPackage where check says APP_DIR', async () => {
  const file = join(work.path, 'not-a-dir');
  writeFileSync(file, '');
  const bare = join(work.path, 'no-app-yaml');
  mkdirSync(bare, { recursive: true });
  const script = String.raw`
import json, sys
import apppkg
said = []
for path in sys.argv[1:]:
    try:
        apppkg.AppPackage(path, state_dir=sys.argv[1] + "-state")
        said.append(None)
    except apppkg.AppPackageError as exc:
        said.append([type(exc).__name__, str(exc)])
print("APPPKG-PROBE " + json.dumps(said))
`;
  const nope = join(work.path, 'nope');
  const paths = [nope, file, join(HELLO, 'app.yaml'), bare];
  const env = { ...process.env, PYTHONPATH: SHIM_DIR, APPPKG_GATEWAY: join(ROOT, 'bin', 'apppkg-gateway'), APPPKG_STATE_DIR: state };
  const said = probeReport(await runProcess('python3', ['-c', script, ...paths], { env, cwd: work.path }), 'AppPackage with no directory') as unknown as Array<[string, string]>;
  // APP_DIR is the CLI's name for what the library's caller gave as AppPackage's path.
  const callers = [
    'check the path: give AppPackage the directory that holds app.yaml',
    'give AppPackage the directory that holds app.yaml, not a file',
    `give the directory that holds app.yaml: ${HELLO}`,
    // What goes in one first: the library's caller may have no apppkg-gateway on PATH to run init.
    `write ${join(bare, 'app.yaml')}, two lines: \`platform: python, wsgi\` (or \`asgi\`) and \`app: module:object\`, e.g. \`app: myapp.wsgi:application\` for an \`application\` in myapp/wsgi.py; ` +
      `or have \`apppkg-gateway init ${bare}\` write one for the project there, or point at the directory that holds app.yaml`,
  ];
  const checks = [...callers.slice(0, 3), `run \`apppkg-gateway init ${bare}\` to write one, or point at the directory that holds app.yaml`];
  for (const [i, path] of paths.entries()) {
    const checked = await runCli(['check', path, '--state-dir', join(work.path, 'check-state')]);
    assert.is(checked.status, 1, checked.stdout + checked.stderr);
    const [message, fix] = checked.stderr.trim().split('\n');
    assert.ok(message.startsWith('apppkg-gateway: ') && fix.startsWith('  fix: '), checked.stderr);
    assert.is(said[i][0], 'DescriptionUnavailable', path);
    assert.ok(said[i][1].includes(`\n    ${message}\n      fix: ${callers[i]}\n`), `${path}: ${said[i][1]}\ncheck: ${checked.stderr}`);
    // Word for word check's, but for the name of what was given (and, for no app.yaml, what to write).
    assert.is(fix.replace('APP_DIR is the directory', 'give AppPackage the directory'), `  fix: ${checks[i]}`, checked.stderr);
  }
});

test('no gateway: GatewayNotFound says what was tried; a failing describe shows its stderr', async () => {
  const { python } = venvPythons[0];
  const bare = { PATH: '/usr/bin:/bin', HOME: process.env.HOME };
  // Installed from this checkout's python-shim/, it finds this checkout's gateway, on no PATH.
  const found = await outside(python, HELLO, {}, bare);
  assert.not.ok(found.error, String(found.error));
  assert.is(found.name, 'hello');
  // Built where no gateway was beside it (a copy of python-shim/ alone): nothing recorded.
  const builtFrom = join(dirname(found.apppkg), '_built_from.py');
  const recorded = readFileSync(builtFrom, 'utf8');
  assert.match(recorded, `GATEWAY = '${join(ROOT, 'bin', 'apppkg-gateway')}'`);
  try {
    writeFileSync(builtFrom, 'GATEWAY = None\n');
    const none = await outside(python, HELLO, {}, bare);
    assert.equal(none.error[0], 'GatewayNotFound');
    assert.match(none.error[1], /cannot find the apppkg-gateway command: tried \$APPPKG_GATEWAY \(not set\), apppkg-gateway on PATH \(not found\)\n {2}fix: .*APPPKG_GATEWAY/);
  } finally {
    writeFileSync(builtFrom, recorded);
  }
  const missing = await outside(python, HELLO, {}, { ...bare, APPPKG_GATEWAY: '/nonexistent/apppkg-gateway' });
  assert.equal(missing.error[0], 'GatewayNotFound');
  assert.match(missing.error[1], /cannot run the apppkg-gateway command \/nonexistent\/apppkg-gateway/);

  const failed = await outside(python, HELLO, {}, { ...bare, APPPKG_GATEWAY: failingGateway });
  assert.equal(failed.error[0], 'DescriptionUnavailable');
  assert.match(failed.error[1], /failed with status 1:\n {4}gateway-that-fails: describe .*--sys-path/);
  assert.ok(existsSync(`${failingGateway}.called`), 'the trace the (b) tests look for works');
  rmSync(`${failingGateway}.called`);

  const broken = join(work.path, 'broken');
  mkdirSync(broken);
  writeFileSync(join(broken, 'app.yaml'), 'platform: python, wsgi\napp: nocolon\n');
  const bad = await outside(python, broken);
  assert.equal(bad.error[0], 'DescriptionUnavailable');
  assert.match(bad.error[1], /app\.yaml:2:\d+: app: expected/);
});

test('loaded from python-shim/ itself (on Python 3.9 when there is one), it finds bin/apppkg-gateway beside it', async () => {
  const python = (await findPython39()) ?? 'python3';
  const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: process.env.HOME, PYTHONPATH: SHIM_DIR };
  const r = await outside(python, HELLO, {}, env);
  assert.not.ok(r.error, String(r.error));
  assert.is(r.apppkg, join(SHIM_DIR, 'apppkg', '__init__.py'));
  assert.is(r.name, 'hello');
  assert.is(r.body, 'Hello, world!\n');
  if (python !== 'python3') assert.equal(r.python, [3, 9]);
});

test('a worker imports an `apppkg` of the app\'s own, not python-shim\'s', async () => {
  const dir = join(work.path, 'own-apppkg');
  mkdirSync(dir);
  writeFileSync(join(dir, 'apppkg.py'), 'def application(environ, start_response):\n    return []\n');
  writeFileSync(join(dir, 'app.py'), 'from apppkg import application\n');
  const ok = await checkAppImport({ python: 'python3', env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'own' }, 'app:application', 15_000);
  assert.is(ok.type, 'function');
});

test.run();
