import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, pathWithoutPyenvShims, runCli, tempDir } from '../helpers/process.js';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { runIf } from '../helpers/skip.js';

// describe and check on descriptions good and bad, and what serve and run refuse to start
// for the same reasons.
const test = suite('cli commands: describe and check');
const state = tempDir('apppkg-cli-state-');
const work = tempDir('apppkg-cli-work-');
test.after(() => {
  state.remove();
  work.remove();
});

/** A package directory with this app.yaml and a trivial WSGI module. */
const pkg = (name: string, yaml: string): string => wsgiPackage(work.path, name, yaml);

/**
 * For the checks here whose subject is what check reports, not which interpreter it picks: the
 * ~0.5 s of CPU of each check probing pyenv's shims afresh (pathWithoutPyenvShims). The tests of
 * the interpreter, the app's PATH and `python -m` keep the caller's PATH.
 */
const NO_PYENV_SHIMS = { PATH: pathWithoutPyenvShims() };

test('describe prints the normalised description as JSON', async () => {
  const r = await runCli(['describe', join(EXAMPLES, 'guestbook')]);
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.is(d.name, 'guestbook');
  assert.is(d.app, 'guestbook.app:application');
  assert.equal(d.static, { '/static': 'static' });
});

test('describe names an app by its directory minus the version suffix', async () => {
  const dir = pkg('blog.2026.11.24', 'platform: python, wsgi\napp: wsgi:application\n');
  const d = JSON.parse((await runCli(['describe', dir])).stdout);
  assert.is(d.name, 'blog');
  assert.is(d.version, '2026.11.24');
});

test('describe shows every x- key under extensions, those inside wsgi, a process or commands at their place', async () => {
  const dir = pkg('extended', 'x-team: blog\nwsgi:\n  app: wsgi:application\n  x-note: keep\nprocesses:\n  ws:\n    command: python -m live\n    route: /live\n    x-replicas: 2\ncommands:\n  check: "true"\n  x-nightly: python -m tasks\n');
  const r = await runCli(['describe', dir]);
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.extensions, { 'x-team': 'blog', wsgi: { 'x-note': 'keep' }, commands: { 'x-nightly': 'python -m tasks' }, processes: { ws: { 'x-replicas': 2 } } });
  assert.equal(d.processes, { ws: { command: 'python -m live', route: '/live' } });
  assert.equal(d.commands, { check: 'true' });
});

const BAD: Array<[string, string, RegExp, number]> = [
  ['bad-indent', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\n   /media: media/\n', /app\.yaml:5:\d+/, 5],
  ['unknown-key', 'platform: python, wsgi\napp: wsgi:application\nhealth_check: /healthz\n', /app\.yaml:3:1: health_check/, 3],
  ['nocolon', 'platform: python, wsgi\napp: nocolon\n', /app\.yaml:2:\d+: app: expected/, 2],
  ['glued-colon', 'platform: python, wsgi\napp:wsgi:application\n', /app\.yaml:2:1: app: expected valid YAML, found "app:wsgi:application", a key with no space after its ":"\n {2}fix: write a space after the colon: app: wsgi:application\n/, 2],
  // How the host runs the app, written where Gunicorn's users write it: the fix says where it goes.
  ['host-key', 'platform: python, wsgi\napp: wsgi:application\nworkers: 4\n', /app\.yaml:3:1: workers: expected one of the known keys, found a key of the host's environment file, not of app\.yaml\n {2}fix: move it to the environment file the gateway is given with --environment FILE, under the app's name: apps: \{host-key: \{workers: 4\}\} \(serve also takes --workers 4\)\n/, 3],
  // A key's problem is labelled with its whole path, as keyLabel spells it, not its parent or its bare name.
  ['dup-static', 'app: wsgi:application\nstatic:\n  /a: a/\n  /a: b/\n', /app\.yaml:4:3: static\["\/a"\]: expected valid YAML, found the key "\/a" a second time\n/, 4],
  ['dup-static-slash', 'app: wsgi:application\nstatic:\n  /a: a/\n  /a/: b/\n', /app\.yaml:4:3: static\["\/a\/"\]: expected each URL prefix once/, 4],
  ['dup-process-key', 'app: wsgi:application\nprocesses:\n  ws:\n    command: a\n    command: b\n', /app\.yaml:5:5: processes\.ws\.command: expected valid YAML/, 5],
  // Python requirements as Poetry and npm write them, and an interpreter named where versions go: the fix spells them in PEP 440.
  ['python-caret', 'app: wsgi:application\npython: "^3.9"\n', /app\.yaml:2:9: python: expected a PEP 440 specifier like ">=3\.9", found "\^3\.9"\n {2}fix: write it as PEP 440 does: python: ">=3\.9,<4"\n/, 2],
  ['python-spaced', 'app: wsgi:application\npython: ">=3.9 <3.12"\n', /fix: write it as PEP 440 does: python: ">=3\.9,<3\.12"\n/, 2],
  // A list, as deb: takes one: its clauses joined by commas; `~=3` (a compatible release needs two numbers) as its series.
  ['python-list', 'app: wsgi:application\npython: [">=3.9", "<3.13"]\n', /app\.yaml:2:9: python: expected a PEP 440 specifier like ">=3\.9", found a list \[>=3\.9, <3\.13\]\n {2}fix: write one quoted specifier, its clauses joined by commas: python: ">=3\.9,<3\.13"\n/, 2],
  ['python-compatible-major', 'app: wsgi:application\npython: "~=3"\n', /fix: write it as PEP 440 does: python: "==3\.\*"\n/, 2],
  ['python-interpreter', 'app: wsgi:application\npython: python3.11\n', /fix: python: is the versions the app runs on, e\.g\. python: "==3\.11\.\*"; the interpreter itself is the host's choice: python: in the environment file\n/, 2],
  // Blank commands: a process that would exit at once and be restarted for ever, a hook that does nothing.
  ['blank-process-command', 'app: wsgi:application\nprocesses:\n  worker:\n    command: "  "\n', /app\.yaml:4:14: processes\.worker\.command: expected a shell command, e\.g\. python -m blog\.live --port \$PORT, found " {2}"\n/, 4],
  ['blank-hook', 'app: wsgi:application\ncommands:\n  update: " "\n', /app\.yaml:3:11: commands\.update: expected a shell command, found " "\n/, 3],
  ['bad-process-name', 'app: wsgi:application\nprocesses:\n  "bad name":\n    command: sleep 1\n', /app\.yaml:3:3: processes\["bad name"\]: expected a process name of letters, digits, '-' and '_', e\.g\. ws, found "bad name"\n {2}fix: rename the key to a process name/, 3],
];

test('bad descriptions exit non-zero with the file, line, key and a fix', async () => {
  for (const [name, yaml, where] of BAD) {
    const dir = pkg(name, yaml);
    for (const command of ['describe', 'check']) {
      const r = await runCli([command, dir, '--state-dir', state.path].slice(0, command === 'describe' ? 2 : 4));
      assert.is(r.status, 1, `${command} ${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr + r.stdout, where, `${command} ${name}`);
      assert.match(r.stderr + r.stdout, /fix: /, `${command} ${name}`);
    }
  }
});

test('python: "<3" fails with the line and the interpreters found', async () => {
  const dir = pkg('old-python', 'platform: python, wsgi\npython: "<3"\napp: wsgi:application\n');
  // Without pyenv's shims: every interpreter is probed when none satisfies, and a shim for a
  // version pyenv lacks is a second of bash to fail (interpreters.test.ts covers the shims).
  // describe --sys-path asks for the interpreter too (the Python library's describe).
  for (const command of ['check', 'serve', 'describe']) {
    const extra = command === 'serve' ? ['--port', '0'] : command === 'describe' ? ['--sys-path'] : [];
    const r = await runCli([command, dir, '--state-dir', state.path, ...extra], { env: NO_PYENV_SHIMS });
    assert.is(r.status, 1, `${command}: ${r.stderr}`);
    const out = r.stdout + r.stderr;
    assert.match(out, /app\.yaml:2:\d+/);
    assert.match(out, /<3/);
    // The version as the interpreter reports it, micro included: `python3 3.11.2 (/usr/bin/python3)`.
    assert.match(out, /\/usr\/bin\/python3 3\.\d+|python3 3\.\d+(\.\d+)* \(\/usr\/bin\/python3\)/);
    assert.match(out, /fix: /);
  }
});

test('a missing required setting refuses to start, naming it, its line and the fix', async () => {
  const dir = pkg('needs-setting', 'platform: python, wsgi\napp: wsgi:application\nsettings: [GW_TEST_SECRET_NOT_SET]\n');
  const r = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /app\.yaml:3:\d+/);
  assert.match(r.stderr, /GW_TEST_SECRET_NOT_SET/);
  assert.match(r.stderr, /fix: /);
  const ok = await runCli(['run', dir, '--state-dir', state.path, '--', 'sh', '-c', 'echo "$GW_TEST_SECRET_NOT_SET"'], {
    env: { GW_TEST_SECRET_NOT_SET: 'from-the-shell' },
  });
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout.trim(), 'from-the-shell');
});

test('an app whose os: excludes this host: serve and run refuse it, naming the line and the fix', async () => {
  const dir = pkg('other-os', 'platform: python, wsgi\nos: [windows, aix]\napp: wsgi:application\n');
  // run first: without the check, serve would serve (until the runner's timeout).
  for (const args of [['run', dir, '--', 'true'], ['serve', dir, '--port', '0']]) {
    const r = await runCli([...args.slice(0, 2), '--state-dir', state.path, ...args.slice(2)]);
    assert.is(r.status, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /app\.yaml:2:\d+: os: the app needs windows or aix, this host is linux/);
    assert.match(r.stderr, /fix: /);
  }
});

test('check and run on the Flask example use Debian\'s interpreter', async () => {
  const dir = join(EXAMPLES, 'flask-hello');
  const check = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+python\s.*\/usr\/bin\/python3/);
  assert.match(check.stdout, /ok\s+deb\s.*python3-flask/);
  assert.match(check.stdout, /ok\s+app\s/);
  const run = await runCli(['run', dir, '--state-dir', state.path, '--', 'python', '-c', 'import sys, flask, os; print(sys.executable); print(os.environ["APPPKG_NAME"])']);
  assert.is(run.status, 0, run.stderr);
  const [exe, name] = run.stdout.trim().split('\n');
  assert.match(exe, /^\/usr\/bin\/python3/);
  assert.is(name, 'flask-hello');
});

test('check runs an ASGI app\'s lifespan startup: FAIL app when it fails, does not complete within 5 s, or holds the loop; passes when it completes', async () => {
  const app = (name: string, lifespan: string): string => {
    const dir = pkg(name, 'platform: python, asgi\napp: app:app\n');
    writeFileSync(join(dir, 'app.py'), `import asyncio\n\nasync def app(scope, receive, send):\n    await receive()\n${lifespan}`);
    return dir;
  };
  // At once: two of them wait out check's 5 s bound.
  const [failed, raised, hung, blocked, ok, silent] = await Promise.all([
    runCli(['check', app('lifespan-fails', '    await send({"type": "lifespan.startup.failed", "message": "cannot reach the database at db:5432"})\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
    runCli(['check', app('lifespan-raises', '    raise RuntimeError("no database")\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
    runCli(['check', app('lifespan-hangs', '    await asyncio.sleep(3600)\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
    runCli(['check', app('lifespan-blocks', '    import time\n    time.sleep(120)\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
    runCli(['check', app('lifespan-ok', '    await send({"type": "lifespan.startup.complete"})\n    await receive()\n    await send({"type": "lifespan.shutdown.complete"})\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
    runCli(['check', app('lifespan-silent', '    await send({"type": "lifespan.startup.failed"})\n'), '--state-dir', state.path], { env: NO_PYENV_SHIMS }),
  ]);
  assert.is(failed.status, 1, failed.stdout + failed.stderr);
  assert.match(failed.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: cannot reach the database at db:5432\n/);
  // check keeps no app log to send the user to: the app's message, or its traceback, is above.
  assert.match(failed.stdout, /fix: fix what the app's startup handler reported \(its message is in check's output, above\)/);
  // No message: the event's name is not quoted as the app's words, nor is a message "above".
  assert.is(silent.status, 1, silent.stdout + silent.stderr);
  assert.match(silent.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it sent lifespan\.startup\.failed with no message\n/);
  assert.match(silent.stdout, /fix: the app's startup handler sent lifespan\.startup\.failed with no message, so the app gave no reason: give it one/);
  assert.is(raised.status, 1, raised.stdout + raised.stderr);
  assert.match(raised.stdout, /RuntimeError: no database[\s\S]*FAIL\s+app\s+app: app:app failed its lifespan startup[\s\S]*the traceback is in check's output, above/);
  assert.is(hung.status, 1, hung.stdout + hung.stderr);
  assert.match(hung.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it did not complete within 5 s \(check's bound\); it waits at \S*app\.py:5 in app \(await asyncio\.sleep\(3600\)\)\n/);
  assert.match(hung.stdout, /fix: the app's lifespan startup waits for something that does not come/);
  // Sync code in the handler holds the loop, whose own timeout then never runs: the same
  // precise text, from the shim's watchdog thread, instead of the import's deadline (60 s, whose
  // words differ: the text is what tells the two apart, not how long check took).
  assert.is(blocked.status, 1, blocked.stdout + blocked.stderr);
  assert.match(blocked.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it did not complete within 5 s \(check's bound\); it holds the event loop at \S*app\.py:6 in app \(time\.sleep\(120\)\)\n/);
  assert.match(blocked.stdout, /fix: the app's lifespan startup runs blocking code in an async function/);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok\s+app\s+app:app imports and is callable \(function, Python [\d.]+\); it answered lifespan startup and shutdown \(complete\)\n/);
});

test('check fails, with the fix, when a deb package is missing', async () => {
  const dir = pkg('missing-deb', 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-flask, python3-apppkg-does-not-exist]\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 1);
  // At the missing package's own entry of the list, not at the list.
  assert.match(r.stdout, /FAIL\s+deb\s+\S*app\.yaml:3:22: deb: package not installed: python3-apppkg-does-not-exist/);
  assert.match(r.stdout, /fix: .*apt-get install/);
});

/** This host's /etc/os-release names Debian (or a derivative of it) as what it is or is like. */
const DEBIAN_HOST = (() => {
  try {
    return /^(ID|ID_LIKE)=["']?[^\n]*\b(debian|ubuntu)\b/m.test(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return false;
  }
})();

runIf(test, DEBIAN_HOST, 'not a Debian host: /etc/os-release names neither debian nor ubuntu')('rpm: on a Debian host that has an rpm program (Debian packages one, its database empty): not checked, said, status 0; rpm never run', async () => {
  // SPEC 1.1: rpm: is for rpm hosts. Asked here, Debian's rpm says every package is missing.
  const dir = pkg('rpm-on-debian', 'platform: python, wsgi\napp: wsgi:application\nrpm: [m2crypto, python3-ldap]\n');
  const bin = join(work.path, 'debian-rpm');
  const asked = join(work.path, 'debian-rpm-asked');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'rpm'), `#!/bin/sh\necho "$@" >> '${asked}'\nfor last; do :; done\necho "package $last is not installed"\nexit 1\n`);
  chmodSync(join(bin, 'rpm'), 0o755);
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: { PATH: `${bin}:${pathWithoutPyenvShims()}` } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok\s+rpm\s+not checked: a Debian host \((debian|ubuntu), from \/etc\/os-release\), where deb: says what to install; listed: m2crypto, python3-ldap$/m);
  assert.not.ok(existsSync(asked), `rpm was run: ${existsSync(asked) ? readFileSync(asked, 'utf8') : ''}`);
});

test('check says a paths: entry that is a file is one, at its line, with no vendor failure beside it', async () => {
  const dir = pkg('paths-file', 'platform: python, wsgi\napp: wsgi:application\npaths: wsgi.py\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+paths\s+\S*app\.yaml:3:8: paths: wsgi\.py is a file, not a directory: paths: names directories to put on sys\.path\n\s+fix: name the directory that holds its modules .*, or take wsgi\.py out of paths:/);
  // The file is no vendor directory: ENOTDIR and "vendor --into wsgi.py/" sent the user astray.
  assert.not.match(r.stdout, /vendor\s.*(ENOTDIR|stale)/);
  assert.match(r.stdout, /2 checks failed/);
});

test('check fails, with the fix, on an environment file\'s unknown user and on a paths: or static: directory that is not there', async () => {
  const dir = pkg('gaps', 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\n');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  const env = join(work.path, 'gaps-env.yaml');
  writeFileSync(env, 'apps:\n  gaps:\n    user: apppkg-no-such-user\n');
  const r = await runCli(['check', dir, '--environment', env, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 1, r.stdout);
  // At the key that names it in the environment file, named as every mistake there is (apps.NAME.user, defaults.user).
  assert.match(r.stdout, new RegExp(`FAIL\\s+user\\s+${env.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11: apps\\.gaps\\.user: "apppkg-no-such-user" \\(for gaps\\) is not a user of this host`));
  if (process.getuid?.() === 0) {
    // As root `run` switches to the user, and says where it is named when there is none.
    const run = await runCli(['run', dir, '--environment', env, '--state-dir', state.path, '--', 'true']);
    assert.is(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`${env.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11: apps\\.gaps\\.user: "apppkg-no-such-user"`));
  }
  assert.match(r.stdout, /FAIL\s+paths\s.*app\.yaml:3:\d+: paths: nothere is not a directory in /);
  assert.match(r.stdout, /fix: create it/);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:5:\d+: static\["\/assets"\]: public\/? is not a directory in .*, so every request under \/assets would get 404/);
  // A user that exists, and paths and static directories that are there, pass.
  writeFileSync(env, 'apps:\n  gaps:\n    user: root\n');
  mkdirSync(join(dir, 'nothere'));
  // A hook that may make it (Django's collectstatic): said, not failed.
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\ncommands:\n  install: mkdir public\n');
  const hooked = await runCli(['check', dir, '--environment', env, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(hooked.stdout, /ok\s+static\s+static\["\/assets"\]: public\/? is not there yet; commands\.install must create it/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\n');
  mkdirSync(join(dir, 'public'));
  const ok = await runCli(['check', dir, '--environment', env, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok\s+user\s+root \(uid 0\)/);
  assert.match(ok.stdout, /ok\s+paths\s+lib, nothere/);
});

test('check places each failure at its own entry: the second static directory, the setting nobody gives, the service', async () => {
  const dir = pkg('entries', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\n  /assets/: assets/\nsettings:\n  - H1_GIVEN\n  - H1_NOT_GIVEN\nservices:\n  redis: redis\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: { ...NO_PYENV_SHIMS, H1_GIVEN: 'yes' } });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:4:3: static\["\/static"\]: static is not a directory/);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:5:3: static\["\/assets"\]: assets is not a directory/);
  assert.match(r.stdout, /FAIL\s+settings\s.*app\.yaml:8:5: settings: the app requires H1_NOT_GIVEN/);
  assert.match(r.stdout, /FAIL\s+services\.redis\s.*app\.yaml:10:3: /);
});

test('check names every service the host cannot give, each at its own entry, and still tries the ones it can', async () => {
  const dir = pkg('two-services', 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+services\.database\s.*app\.yaml:4:3: two-services asks for services\.database: postgresql, but the host offers no postgresql server/);
  assert.match(r.stdout, /FAIL\s+services\.redis\s.*app\.yaml:5:3: two-services asks for services\.redis: redis, but the host offers no redis server/);
  // A host that offers one of the two: that one is tried, the other still named.
  const env = join(work.path, 'redis-only.yaml');
  writeFileSync(env, 'services:\n  redis: redis://127.0.0.1:1\n');
  const one = await runCli(['check', dir, '--environment', env, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(one.stdout, /FAIL\s+services\.database\s.*app\.yaml:4:3: .*offers no postgresql server/);
  assert.match(one.stdout, /FAIL\s+services\.redis\s+not reachable: redis at 127\.0\.0\.1:1 \(services\.redis\): /);
});

test('check lines up the detail of every line, services.*, processes.* and commands.* rows included, while it streams', async () => {
  const dir = pkg('aligned', 'app: wsgi:application\nservices:\n  database: sqlite\nprocesses:\n  worker:\n    command: python3 -c pass\ncommands:\n  check: "true"\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 0, r.stdout);
  const rows = r.stdout.split('\n').filter((line) => /^(ok|FAIL) /.test(line));
  assert.ok(rows.some((row) => row.includes(' services.database ')), r.stdout);
  assert.ok(rows.some((row) => row.includes(' commands.check ')), r.stdout);
  const columns = rows.map((row) => /^(?:ok|FAIL) +\S+ +/.exec(row)![0].length);
  assert.equal([...new Set(columns)], ['ok    services.database  '.length], r.stdout);
});

test('describe names every service the host cannot give in provides.problem, and describes the others', async () => {
  const dir = pkg('two-described', 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
  const r = await runCli(['describe', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, r.stderr);
  const problem = String(JSON.parse(r.stdout).provides.problem);
  assert.match(problem, /asks for services\.database: postgresql, but the host offers no postgresql server/);
  assert.match(problem, /asks for services\.redis: redis, but the host offers no redis server/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: sql\n  redis: redis\n');
  const provides = JSON.parse((await runCli(['describe', dir, '--state-dir', state.path])).stdout).provides;
  assert.is(provides.database, 'sqlite');
  assert.match(provides.env.DATABASE_URL, /^sqlite:\/\/\//);
  assert.match(String(provides.problem), /services\.redis/);
});

test('an app: naming nothing there, or nothing callable, fails at the line of app: in check and serve; an error inside the module at its own line', async () => {
  const dir = pkg('app-key', 'platform: python, wsgi\napp: wsgi:nothere\n');
  const missing = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(missing.status, 1, missing.stdout);
  assert.match(missing.stdout, /FAIL\s+app\s+\S*app\.yaml:2:6: app: cannot import wsgi:nothere: AttributeError/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\nwsgi: {app: "wsgi:NUMBER"}\n');
  writeFileSync(join(dir, 'wsgi.py'), 'NUMBER = 5\n');
  assert.match((await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS })).stdout, /FAIL\s+app\s+\S*app\.yaml:2:8: app: wsgi:NUMBER is int 5, expected a WSGI or ASGI callable/);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, /app\.yaml:2:8: app: wsgi:NUMBER is int 5/);
  // Raised inside the module: the Python file's line, not app.yaml's.
  writeFileSync(join(dir, 'wsgi.py'), 'import nosuchmodule_h2\n');
  const inside = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(inside.stdout, /FAIL\s+app\s+app: cannot import wsgi:NUMBER \(\S*wsgi\.py:1\): ModuleNotFoundError/);
  // The fix names the command for this very app, not `check DIR`.
  assert.match(inside.stdout, `fix: fix the error shown in the traceback, then try again (\`apppkg-gateway check ${dir}\` repeats the import)`);
  const servedInside = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(servedInside.status, 1, servedInside.stderr);
  assert.match(servedInside.stderr, `\`apppkg-gateway check ${dir}\` repeats the import`);
});

// A new user's typo in app.yaml's `app:` got Python's "module 'wsgi' has no attribute
// 'aplication'" and the fix "fix the error shown in the traceback", which is in no file of theirs.
test('a typo in app: (its object, its module) gets the app: to write as its fix, in check and serve; a name nothing is close to keeps the traceback\'s fix', async () => {
  const dir = pkg('app-typo', 'platform: python, wsgi\napp: wsgi:aplication\n');
  const object = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(object.status, 1, object.stdout);
  assert.match(object.stdout, /FAIL\s+app\s+\S*app\.yaml:2:6: app: cannot import wsgi:aplication: AttributeError: module 'wsgi' has no attribute 'aplication'\n\s+fix: did you mean `app: wsgi:application`\? write it in app\.yaml\n/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wgsi:application\n');
  const module = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(module.stdout, /app: cannot import wgsi:application: ModuleNotFoundError: No module named 'wgsi'\n\s+fix: did you mean `app: wsgi:application`\? write it in app\.yaml\n/);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, 'fix: did you mean `app: wsgi:application`? write it in app.yaml');
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:zzz\n');
  const far = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(far.stdout, 'fix: fix the error shown in the traceback, then try again');
});

// A Django settings module's `SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]` in an app that lists
// no settings: got a bare KeyError and "fix the error shown in the traceback".
test('an import that reads os.environ["NAME"] nothing gives: the fix names settings: [NAME]; another KeyError keeps the traceback\'s fix', async () => {
  const dir = pkg('environ-key', 'platform: python, wsgi\napp: wsgi:application\n');
  writeFileSync(join(dir, 'wsgi.py'), 'import os\n\nSECRET = os.environ["H253_SECRET_KEY"]\n\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /KeyError: 'H253_SECRET_KEY'\n\s+fix: the app reads H253_SECRET_KEY from its environment, and nothing gives it: list it in app\.yaml, `settings: \[H253_SECRET_KEY\]` /);
  writeFileSync(join(dir, 'wsgi.py'), 'CONFIG = {}\nSECRET = CONFIG["H253_SECRET_KEY"]\n');
  const other = await runCli(['check', dir, '--state-dir', state.path], { env: NO_PYENV_SHIMS });
  assert.match(other.stdout, "KeyError: 'H253_SECRET_KEY'");
  assert.match(other.stdout, 'fix: fix the error shown in the traceback, then try again');
});

test('a process that does not start: the fix\'s run command names the app\'s directory', async () => {
  const dir = pkg('web-exits', 'platform: python, command\nprocesses:\n  web:\n    command: sh -c "echo nope; exit 1"\n');
  const r = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'processes.web of web-exits did not start (it exited with status 1; its last output: nope)');
  assert.match(r.stderr, `try it with \`apppkg-gateway run ${dir} -- sh -c 'PORT=8080 ...'\``);
  // Under serve its output is on the terminal, just above.
  assert.match(r.stderr, /^\[web\] nope$/m);
  assert.match(r.stderr, 'fix: read its output above (its lines begin with [web])');
});

test('check still imports the app when only static directories are missing, not when a setting is', async () => {
  const dir = pkg('static-only', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\nsettings: [H1_SETTING]\n');
  // Python never reads a static directory: the import is tried, and says whether it works.
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: { ...NO_PYENV_SHIMS, H1_SETTING: 'yes' } });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+static\s/);
  assert.match(r.stdout, /ok\s+app\s+wsgi:application imports and is callable/);
  // A missing setting holds it back: the app may read it at import time.
  const unset = await runCli(['check', dir, '--state-dir', state.path], { env: { ...NO_PYENV_SHIMS, H1_SETTING: undefined } });
  assert.match(unset.stdout, /FAIL\s+app\s+not tried: fix the failures above first/);
});

test("check imports the app with its commands' python: a subprocess the import starts runs the app's interpreter and sys.path, as a worker's does", async () => {
  const dir = pkg('check-subprocess', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', 'vendored.py'), 'WHERE = "vendor/"\n');
  // An import that shells out (a version probe, a migration check) must find what the app finds.
  writeFileSync(
    join(dir, 'wsgi.py'),
    [
      'import subprocess',
      'subprocess.run(["python", "-c", "import vendored"], check=True)',
      'def application(environ, start_response):',
      '    start_response("200 OK", [])',
      '    return [b""]',
      '',
    ].join('\n'),
  );
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+app\s+wsgi:application imports and is callable/);
});

test('check finds the program each process and hook runs: a missing one fails at its entry with the fix, what the shell decides is not judged', async () => {
  const dir = pkg('programs', [
    'platform: python, command',
    'processes:',
    '  web:',
    '    command: python -m http.server $PORT',
    '  worker:',
    '    command: celery -A blog worker',
    '  tick:',
    '    command: FOO=1 exec ./bin/tick.sh',
    '  stale:',
    '    command: ./bin/stale-script',
    '  plain:',
    '    command: ./bin/plain.sh',
    'commands:',
    '  backup: pg_dump_nowhere "$APPPKG_BACKUP_DIR/db"',
    '  update: cd sub && ./migrate',
    '  test: python -m unittest',
    '',
  ].join('\n'));
  // There, but the shell could not run them: "not found" (127) of a script whose #! interpreter
  // is gone (a virtualenv removed), "Permission denied" (126) of a file that is not executable.
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'stale-script'), '#!/opt/apppkg-removed-venv/bin/python\nprint(1)\n', { mode: 0o755 });
  writeFileSync(join(dir, 'bin', 'plain.sh'), '#!/bin/sh\necho 1\n', { mode: 0o644 });
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+processes\.worker\s+\S+app\.yaml:6:5: processes\.worker\.command: `celery -A blog worker` runs celery, which is not on the app's PATH/);
  assert.match(r.stdout, /FAIL\s+processes\.tick\s+\S+app\.yaml:8:5: .*runs \.\/bin\/tick\.sh, which is not an executable file under/);
  assert.match(r.stdout, `app.yaml:10:5: processes.stale.command: \`./bin/stale-script\` runs ./bin/stale-script, a script (${join(dir, 'bin', 'stale-script')}) whose #! line names /opt/apppkg-removed-venv/bin/python, which is not there\n`);
  assert.match(r.stdout, `app.yaml:12:5: processes.plain.command: \`./bin/plain.sh\` runs ./bin/plain.sh, but ${join(dir, 'bin', 'plain.sh')} is not executable\n`);
  assert.match(r.stdout, `fix: make it executable (\`chmod +x ${join(dir, 'bin', 'plain.sh')}\`)`);
  assert.match(r.stdout, /FAIL\s+commands\.backup\s+\S+app\.yaml:14:3: .*runs pg_dump_nowhere/);
  assert.match(r.stdout, /fix: install it for the app/);
  assert.match(r.stdout, /ok\s+programs\s+found: processes\.web: python -m http\.server, commands\.test: python -m unittest\n/);
  assert.not.match(r.stdout, /commands\.update/, 'cd is the shell\'s: not judged');
  // Put right, every line passes: a relative program is found in the app directory.
  writeFileSync(join(dir, 'bin', 'tick.sh'), '#!/bin/sh\nsleep 1\n', { mode: 0o755 });
  writeFileSync(join(dir, 'bin', 'stale-script'), '#!/usr/bin/env python3\nprint(1)\n');
  chmodSync(join(dir, 'bin', 'plain.sh'), 0o755);
  writeFileSync(join(dir, 'blog_worker.py'), 'print("working")\n');
  writeFileSync(join(dir, 'app.yaml'), readFileSync(join(dir, 'app.yaml'), 'utf8').replace('celery -A blog worker', 'python -m blog_worker').replace('pg_dump_nowhere', 'sh -c true'));
  const fixed = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(fixed.status, 0, fixed.stdout + fixed.stderr);
  assert.match(fixed.stdout, /ok\s+programs\s+found: processes\.web: python -m http\.server, processes\.worker: python -m blog_worker, processes\.tick: \.\/bin\/tick\.sh, processes\.stale: \.\/bin\/stale-script, processes\.plain: \.\/bin\/plain\.sh, commands\.backup: sh, commands\.test: python -m unittest\n/);
});

test('check asks the app\'s interpreter for each `python -m MODULE`: a module not installed (celery) or a package with no __main__ fails at its entry; one on the app\'s sys.path (paths:) passes', async () => {
  const dir = pkg('modules', [
    'platform: python, wsgi',
    'app: wsgi:application',
    'paths: vendor/',
    'processes:',
    '  worker:',
    '    command: python -m celery -A blog worker',
    '  live:',
    '    command: exec python3 -u -W ignore -m tasks.live',
    '  vendored:',
    '    command: python -m vendored_tool --port $PORT',
    'commands:',
    '  update: python -m tasks',
    '  test: python -c "import tasks"',
    '',
  ].join('\n'));
  mkdirSync(join(dir, 'tasks'));
  writeFileSync(join(dir, 'tasks', '__init__.py'), '');
  writeFileSync(join(dir, 'tasks', 'live.py'), 'print("live")\n');
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', 'vendored_tool.py'), 'print("tool")\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  // What the process would crash-loop on ("No module named celery"), at its line, with the fix.
  assert.match(r.stdout, /FAIL\s+processes\.worker\s+\S+app\.yaml:6:5: processes\.worker\.command: `python -m celery -A blog worker` runs the module celery, which \/\S+python\S* does not find on the app's sys\.path\n\s+fix: install the distribution that provides celery for the app/);
  assert.not.match(r.stdout, /apppkg-check-/, 'the interpreter named is the app\'s, not the helper of a scratch directory');
  assert.match(r.stdout, /FAIL\s+commands\.update\s+\S+app\.yaml:12:3: commands\.update: `python -m tasks` runs the package tasks, which has no __main__ module to run\n\s+fix: name the module to run \(`python -m tasks\.MODULE`\), or add tasks\/__main__\.py/);
  assert.match(r.stdout, /ok\s+programs\s+found: processes\.live: python3 -m tasks\.live, processes\.vendored: python -m vendored_tool, commands\.test: python\n/);
  assert.match(r.stdout, /modules: 2 checks failed/);
});

test('check looks through `env NAME=value ...` (the README\'s Jupyter line) to the program and module it runs; env with options is not judged', async () => {
  const dir = pkg('through-env', [
    'platform: python, command',
    'processes:',
    '  web:',
    '    command: exec env HOME=$APPPKG_DATA_DIR JUPYTER_RUNTIME_DIR=$TMPDIR/jupyter python -m apppkg_no_such_notebook --port $PORT',
    '  other:',
    '    command: env -i no_such_program_x',
    '',
  ].join('\n'));
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+processes\.web\s+\S+app\.yaml:4:5: processes\.web\.command: `[^`]+` runs the module apppkg_no_such_notebook, which \/\S+python\S* does not find/);
  assert.not.match(r.stdout, /found: processes\.web: env/);
  assert.not.match(r.stdout, /no_such_program_x|processes\.other/, 'env -i decides what runs: not judged');
});

test.run();
