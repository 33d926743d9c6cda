// An interpreter the environment file names (`python:`, `defaults.python`, `apps.NAME.python`)
// is the host's choice: when it does not run, or does not satisfy app.yaml's `python:`, the
// error points at that key in the environment file (SPEC §1.1: file, line, column and the fix),
// not at app.yaml's `python: ">=3.9"`, which is fine, nor at no place at all. The same through
// check, serve, describe --sys-path and the gateway's status.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, pathWithoutPyenvShims, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('an interpreter named in the environment file');
const work = tempDir('apppkg-env-python-');
const state = join(work.path, 'state');
let gw: RunningGateway | null = null;
test.after(() => stopGatewayChecked(gw, work));

/** A Python 3 this host runs, for the pyenv version's binary. */
const realPython = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

/** A package named `name` with this app.yaml. */
function pkg(name: string, yaml: string, under = work.path): string {
  return writePackage(under, name, { 'app.yaml': yaml, 'wsgi.py': WSGI });
}

function envFile(name: string, text: string): string {
  const file = join(work.path, name);
  writeFileSync(file, text);
  return file;
}

/** Runs `command` on `dir` with the environment file (and `callerEnv`); its status and what it printed. */
async function through(command: 'check' | 'serve' | 'describe', dir: string, env: string, callerEnv: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; out: string }> {
  const extra = command === 'serve' ? ['--port', '0'] : command === 'describe' ? ['--sys-path'] : [];
  const r = await runCli([command, dir, '--environment', env, '--state-dir', state, ...extra], { env: callerEnv });
  return { status: r.status, out: r.stdout + r.stderr };
}

const cases = [
  { what: 'defaults.python', text: 'defaults:\n  python: /usr/bin/python2-apppkg-none\n', at: ':2:11: defaults.python: interpreter /usr/bin/python2-apppkg-none cannot be run: no such file' },
  { what: 'apps.NAME.python', text: 'apps:\n  fine:\n    python: python3.99\n', at: ':3:13: apps.fine.python: interpreter python3.99 cannot be run: no such file' },
  { what: 'the top-level python', text: '# the host\npython: /etc/passwd\n', at: ':2:9: python: interpreter /etc/passwd cannot be run: permission denied' },
];

for (const c of cases) {
  test(`${c.what} that does not run: check, serve and describe --sys-path point at it, not at app.yaml`, async () => {
    const dir = pkg('fine', 'platform: python, wsgi\npython: ">=3.9"\napp: wsgi:application\n');
    const env = envFile(`env-${c.what}.yaml`, c.text);
    for (const command of ['check', 'serve', 'describe'] as const) {
      const r = await through(command, dir, env);
      assert.is(r.status, 1, `${command}: ${r.out}`);
      assert.ok(r.out.includes(`${env}${c.at}`), `${command}: ${r.out}`);
      assert.not.match(r.out, /app\.yaml:\d+:\d+/, `${command}: app.yaml's python: is not the mistake`);
      assert.match(r.out, new RegExp(`fix: set ${c.what === 'the top-level python' ? 'python' : c.what.replace('NAME', 'fine')} in the environment file to an interpreter`), command);
    }
  });
}

test('python: NAME whose only one on PATH is a pyenv shim of a version installed but not enabled: its words, the full path and pyenv global in the fix', async () => {
  // A pyenv root of our own, whose shim says what pyenv 2's says for a version not enabled.
  const root = join(work.path, 'pyenv');
  const bin = join(root, 'versions', '3.9.99', 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(realPython, join(bin, 'python3.9'));
  const shims = join(root, 'shims');
  mkdirSync(shims, { recursive: true });
  writeFileSync(
    join(shims, 'python3.9'),
    "#!/bin/sh\necho 'pyenv: python3.9: command not found' >&2\necho >&2\necho \"The \\`python3.9' command exists in these Python versions:\" >&2\necho '  3.9.99' >&2\necho >&2\necho \"Note: See 'pyenv help global' for tips on allowing multiple\" >&2\necho '      Python versions to be found at the same time.' >&2\nexit 127\n",
    { mode: 0o755 },
  );
  const dir = pkg('pyenv-shim', 'platform: python, wsgi\napp: wsgi:application\n');
  const env = envFile('pyenv-shim.yaml', 'python: python3.9\n');
  const r = await runCli(['check', dir, '--environment', env, '--state-dir', state], { env: { PATH: `${shims}:${process.env.PATH}`, PYENV_ROOT: root } });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`${env}:1:9: python: interpreter python3.9 cannot be run: pyenv: python3.9: command not found The \`python3.9' command exists in these Python versions: 3.9.99`), r.stdout);
  assert.ok(r.stdout.includes(`fix: pyenv has it installed but not enabled: set python in the environment file to its full path, ${join(bin, 'python3.9')}; or enable that version for the user the gateway runs as: \`pyenv global\` with 3.9.99 added`), r.stdout);
});

test('an app.yaml without python: still gets the environment file\'s place', async () => {
  const dir = pkg('no-python', 'platform: python, wsgi\napp: wsgi:application\n');
  const env = envFile('env-none.yaml', 'defaults:\n  python: /usr/bin/python2-apppkg-none\n');
  const r = await through('check', dir, env);
  assert.is(r.status, 1, r.out);
  assert.match(r.out, /FAIL\s+python\s+\S+env-none\.yaml:2:11: defaults\.python: interpreter/);
});

// A Python 2 the host still has (pyenv's, or python2 on PATH): what an old host's /usr/bin/python is.
const python2 = [join(homedir(), '.pyenv/versions/2.7.18/bin/python'), '/usr/bin/python2'].find((file) => existsSync(file));

runIf(test, python2 !== undefined, 'no Python 2 on this host')('a Python 2 named there is said to be one, not "cannot be run: Traceback (most recent call last):"', async () => {
  const dir = pkg('on-two', 'platform: python, wsgi\napp: wsgi:application\n');
  const env = envFile('env-two.yaml', `python: ${python2}\n`);
  const r = await through('check', dir, env);
  assert.is(r.status, 1, r.out);
  assert.ok(r.out.includes(`${env}:1:9: python: interpreter ${python2} cannot be run: it is Python 2.7.`), r.out);
  assert.match(r.out, /; apps run on Python 3\.6 or later \(an ASGI app on 3\.7 or later\)\n {6}fix: set python in the environment file/);
});

runIf(test, python2 !== undefined, 'no Python 2 on this host')('at start too: serve refuses the app naming the oldest Python it runs on, no traceback', async () => {
  const dir = pkg('on-two-serve', 'platform: python, wsgi\napp: wsgi:application\n');
  const env = envFile('env-two-serve.yaml', `python: ${python2}\n`);
  const r = await through('serve', dir, env);
  const out = r.out;
  assert.is(r.status, 1, out);
  assert.ok(out.includes(`python: interpreter ${python2} cannot be run: it is Python 2.7.`), out);
  assert.match(out, '; apps run on Python 3.6 or later (an ASGI app on 3.7 or later)');
  assert.not.match(out, /Traceback/);
});

test('an app with deb packages runs on the system interpreter whatever the environment file names, and check says which key it passed over', async () => {
  // python3, installed wherever /usr/bin/python3 is Debian's: for a package not installed, check
  // asks apt-cache whether apt knows it, ~1.4 s of CPU a run where apt keeps no package cache
  // (Docker's images), and what its deb line says is not what this is about.
  const dir = pkg('with-deb', 'platform: python, wsgi\ndeb: python3\napp: wsgi:application\n');
  const env = envFile('env-deb.yaml', 'apps:\n  with-deb:\n    python: /opt/python3.12/bin/python3\n');
  const r = await through('check', dir, env);
  assert.match(r.out, new RegExp(`ok +python +/usr/bin/python3 3\\.\\d+\\.\\d+; not apps\\.with-deb\\.python \\(${env}:3:13\\), /opt/python3\\.12/bin/python3: deb packages are importable from the system interpreter alone\n`), r.out);
  // The system interpreter named there is the one used: nothing passed over.
  const system = envFile('env-deb-system.yaml', 'python: /usr/bin/python3\n');
  assert.match((await through('check', dir, system)).out, /ok +python +\/usr\/bin\/python3 3\.\d+\.\d+\n/);
});

test('the gateway says too that it passed over the environment file\'s python for an app with deb packages, with its key', async () => {
  const apps = join(work.path, 'apps-deb');
  pkg('with-deb', 'platform: python, wsgi\ndeb: python3-apppkg-none\napp: wsgi:application\n', apps);
  // workers: 1 after the key whose place is asserted: one request needs no second Python process.
  const env = envFile('env-deb-gateway.yaml', 'apps:\n  with-deb:\n    python: /opt/python3.12/bin/python3\n    workers: 1\n');
  const running = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(work.path, 'state-deb'), '--access-log', 'off']);
  try {
    assert.is((await request(`${running.url}/with-deb/`, { headersTimeout: 60_000 })).statusCode, 200, running.output());
    assert.match(running.output(), `with-deb: apps.with-deb.python (${env}:3:13), /opt/python3.12/bin/python3, is not used: the app lists deb packages, importable from the system interpreter alone, so it runs on /usr/bin/python3`);
  } finally {
    await running.stop();
  }
});

test('an app with deb packages whose python: the system interpreter fails: the error names the environment file\'s interpreter among those not eligible, with its key', async () => {
  // deb: python3, installed: see the test above. Without pyenv's shims: no interpreter satisfies
  // "<3", so check probes every python3.N on PATH, and a pyenv host's shims were ~9 s of CPU of
  // bash; the one the environment file names is what this is about.
  const dir = pkg('deb-too-new', 'platform: python, wsgi\ndeb: python3\npython: "<3"\napp: wsgi:application\n');
  const env = envFile('env-deb-too-new.yaml', 'apps:\n  deb-too-new:\n    python: /opt/python3.12/bin/python3\n');
  const r = await through('check', dir, env, { PATH: pathWithoutPyenvShims() });
  assert.is(r.status, 1, r.out);
  assert.match(r.out, `python: the system interpreter does not satisfy "<3"`);
  assert.match(r.out, `; not eligible because of deb: /opt/python3.12/bin/python3 (apps.deb-too-new.python at ${env}:3:13)`);
});

test('an interpreter that runs but does not satisfy python: names both places', async () => {
  const dir = pkg('too-new', 'platform: python, wsgi\npython: "<3"\napp: wsgi:application\n');
  const env = envFile('env-mismatch.yaml', 'defaults:\n  python: /usr/bin/python3\n');
  for (const command of ['check', 'serve'] as const) {
    const r = await through(command, dir, env);
    assert.is(r.status, 1, `${command}: ${r.out}`);
    assert.ok(
      new RegExp(`${env}:2:11: defaults\\.python: /usr/bin/python3 3\\.\\d+\\.\\d+ does not satisfy python: "<3" \\(required at ${join(dir, 'app.yaml')}:2:9\\)`).test(r.out),
      `${command}: ${r.out}`,
    );
    assert.match(r.out, /fix: set defaults\.python in the environment file to an interpreter that satisfies "<3".*or loosen `python:` in app\.yaml/);
  }
});

test('the gateway refuses such an app with the place in status, and serves the others', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  addPackage(apps, 'environ', 'good');
  addPackage(apps, 'environ', 'broken');
  pkg('old', 'platform: python, wsgi\npython: "<3"\napp: wsgi:application\n', apps);
  // good, the one app that serves, asked once: one worker (after the lines whose places are asserted).
  const env = envFile('env-gateway.yaml', 'defaults:\n  python: /usr/bin/python3\napps:\n  broken:\n    python: /usr/bin/python2-apppkg-none\n  good:\n    workers: 1\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'gw-state'), '--environment', env]);
  const broken = await waitFor(async () => (await appStatus(gw!, 'broken'))?.problem, 20_000, 'broken refused', ASK_GATEWAY_EVERY_MS);
  assert.is(broken.code, 'APPPKG_PY_NOT_EXECUTABLE');
  assert.is(broken.message, `${env}:5:13: apps.broken.python: interpreter /usr/bin/python2-apppkg-none cannot be run: no such file`);
  assert.match(broken.hint, /set apps\.broken\.python in the environment file/);
  const old = await waitFor(async () => (await appStatus(gw!, 'old'))?.problem, 20_000, 'old refused', ASK_GATEWAY_EVERY_MS);
  assert.is(old.code, 'APPPKG_PY_NO_INTERPRETER');
  assert.ok(old.message.startsWith(`${env}:2:11: defaults.python: /usr/bin/python3 `), old.message);
  assert.ok(old.message.includes(`(required at ${join(apps, 'old', 'app.yaml')}:2:9)`), old.message);
  assert.match(gw.output(), new RegExp(`${env}:5:13: apps\\.broken\\.python: interpreter`));
  assert.is((await request(`${gw.url}/good/`)).statusCode, 200);
});

test.run();
