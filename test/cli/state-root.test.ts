// The state root as the commands meet it: a path that cannot be a directory, said once and
// plainly. (Tests run as root, so a read-only parent would not stop them: a regular file
// where a directory should be, ENOTDIR, does.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { EXAMPLES, runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('cli: the state root');
const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const work = tempDir('apppkg-state-root-');
const aFile = join(work.path, 'a-file');
writeFileSync(aFile, 'not a directory\n');
const underAFile = join(aFile, 'state');
const apps = join(work.path, 'apps');
mkdirSync(apps);
addPackage(apps, 'examples/hello', 'hello');

test.after(() => work.remove());

test('APPPKG_STATE_DIR set empty is refused (exit 2) with the fix, not taken for the default root; --state-dir wins over it', async () => {
  // A script's `APPPKG_STATE_DIR="$STATE"` with STATE unset: the default root (/var/lib as root)
  // was used, where the script meant a scratch root. check and describe only read the root, so
  // this test could see that without writing there.
  const hello = join(EXAMPLES, 'hello');
  for (const args of [['check', hello], ['describe', hello]]) {
    const r = await runCli(args, { env: { APPPKG_STATE_DIR: '' } });
    assert.is(r.status, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, 'apppkg-gateway: APPPKG_STATE_DIR is set, to an empty value, which names no state root\n');
    assert.match(r.stderr, '  fix: set it to the state root to use (APPPKG_STATE_DIR=/path/to/state), give --state-dir DIR, or unset it (`unset APPPKG_STATE_DIR`) for the default, ');
    assert.is(r.stdout, '', args[0]);
  }
  const given = await runCli(['check', hello, '--state-dir', join(work.path, 'given')], { env: { APPPKG_STATE_DIR: '' } });
  assert.is(given.status, 0, given.stdout + given.stderr);
});

test('a system error in a message names its code once (run, state root under a file)', async () => {
  const r = await runCli(['run', join(EXAMPLES, 'hello'), '--state-dir', underAFile, '--', 'true'], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `cannot prepare ${underAFile}: ENOTDIR: not a directory`);
  // It was "ENOTDIR: ENOTDIR: not a directory, mkdir '<the path just named>'".
  assert.is(r.stderr.split('ENOTDIR').length - 1, 1, r.stderr);
  assert.not.match(r.stderr, `mkdir '${underAFile}'`);
});

test('a gateway whose state root cannot be made fails at start (exit 1), naming the path, the errno and what is in the way', async () => {
  // It used to listen and run on, refusing every app one by one: runCli's deadline fails that.
  const r = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', underAFile], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.not.match(r.stdout, 'listening on');
  assert.match(r.stderr, `apppkg-gateway: cannot prepare ${underAFile}: ENOTDIR: not a directory`);
  assert.match(r.stderr, `fix: ${aFile} is a file, not a directory: move it away, or choose a writable state root with --state-dir`);
});

// H242: `--state-dir` at a file itself said "EACCES: permission denied" (access() of a file without
// its x bit), sending a user after rights when the fix line said it was a file.
test('a state root that is a file itself is said to be a file, not a permission refused', async () => {
  const r = await runCli(['serve', join(apps, 'hello'), '--port', '0', '--state-dir', aFile], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, `apppkg-gateway: cannot prepare ${aFile}: it is a file, not a directory\n  fix: ${aFile} is a file, not a directory: move it away`);
  assert.not.match(r.stderr, 'EACCES');
});

test('serve fails the same way, before it listens', async () => {
  const r = await runCli(['serve', join(apps, 'hello'), '--port', '0', '--reload', '--state-dir', underAFile], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, `cannot prepare ${underAFile}: ENOTDIR: not a directory`);
});

test('check fails (exit 1) on a state root that is a file or under one, where install, serve and run would stop; it said ok state', async () => {
  for (const stateDir of [aFile, underAFile]) {
    const r = await runCli(['check', join(apps, 'hello'), '--state-dir', stateDir], { ms: 30_000 });
    assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`\\nFAIL +state +cannot prepare ${stateDir}/apps/hello: ${aFile} is a file, not a directory\\n +fix: ${aFile} is a file, not a directory: move it away, or choose a writable state root with --state-dir or APPPKG_STATE_DIR\\n`));
    assert.is(readdirSync(work.path).sort().join(' '), 'a-file apps', 'check creates nothing');
  }
});

test('a state root the kernel will not make (under /proc) is an error at start, not a loop at full CPU', async () => {
  const proc = `/proc/apppkg-test-state-${process.pid}`;
  const r = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', proc], { ms: 20_000 });
  assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, `cannot prepare ${proc}: ENOENT`);
});

test('check creates nothing under the state root (--state-dir or APPPKG_STATE_DIR): its hook runs with TMPDIR and python all the same; run makes the directories', async () => {
  // commands.check says what it was given; `python` is the app's, through the generated helpers.
  const app = writePackage(work.path, 'looks', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  check: >-\n    echo "tmp=$TMPDIR" && test -d "$TMPDIR" && echo "data=$APPPKG_DATA_DIR"\n    && python -c "import wsgi; print(\'python ok\')"\n',
    'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n',
  });
  const byFlag = join(work.path, 'fresh-flag');
  const byEnv = join(work.path, 'fresh-env');
  for (const [state, r] of [
    [byFlag, await runCli(['check', app, '--state-dir', byFlag])],
    [byEnv, await runCli(['check', app], { env: { APPPKG_STATE_DIR: byEnv } })],
  ] as const) {
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.not.ok(existsSync(state), `check left ${state} behind: ${existsSync(state) ? readdirSync(state, { recursive: true }).join(', ') : ''}`);
    // The names' column is as wide as commands.check, the longest name of this app's check.
    assert.match(r.stdout, `ok    state           ${join(state, 'apps', 'looks')}: data and log directories not created yet (install, serve and run create them; check creates nothing)`);
    assert.match(r.stdout, `data=${join(state, 'apps', 'looks', 'data')}`);
    assert.match(r.stdout, 'python ok');
    // TMPDIR was a private scratch directory outside the state root, removed after.
    const tmp = /tmp=(\S+)/.exec(r.stdout)![1];
    assert.not.ok(tmp.startsWith(state), tmp);
    assert.not.ok(existsSync(tmp), `${tmp} was left behind`);
  }
  // run (as install and serve) makes them, and check then says they are there.
  const ran = await runCli(['run', app, '--state-dir', byFlag, '--', 'true']);
  assert.is(ran.status, 0, ran.stderr);
  for (const dir of ['data', 'log', 'tmp']) assert.ok(statSync(join(byFlag, 'apps', 'looks', dir)).isDirectory(), dir);
  const again = await runCli(['check', app, '--state-dir', byFlag]);
  assert.match(again.stdout, `ok    state           ${join(byFlag, 'apps', 'looks', 'data')}, ${join(byFlag, 'apps', 'looks', 'log')}`);
});

test('an import that writes into the data directory check has not made: the fix is install first, not check again', async () => {
  // As Radicale's wsgi module is written: its users file made under APPPKG_DATA_DIR at the first import.
  const app = writePackage(work.path, 'writes-data', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n',
    'wsgi.py': 'import os\n\nusers = os.path.join(os.environ["APPPKG_DATA_DIR"], "users")\nif not os.path.exists(users):\n    with open(users, "w") as f:\n        f.write("alice:secret\\n")\n\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n',
  });
  const state = join(work.path, 'fresh-writes');
  const data = join(state, 'apps', 'writes-data', 'data');
  const r = await runCli(['check', app, '--state-dir', state]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, `FileNotFoundError: [Errno 2] No such file or directory: '${join(data, 'users')}'`);
  // It said "fix the error shown in the traceback, then try again (`apppkg-gateway check ...` repeats the import)",
  // and check again failed the same way: the directory is there only once install, serve or run makes it.
  // The install it names is given the check's --state-dir: without it, it made the directory
  // under the default root, and check again failed the same way.
  assert.match(r.stdout, `fix: the import needs ${data}, which is not created yet and which check does not create: run \`apppkg-gateway install ${app} --state-dir ${state}\` first (serve, run and the gateway create it too), then check again\n`);
  assert.not.ok(existsSync(state), 'check created nothing');
  const installed = await runCli(['install', app, '--state-dir', state]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const again = await runCli(['check', app, '--state-dir', state]);
  assert.is(again.status, 0, again.stdout + again.stderr);
});

// A FastAPI app's lifespan opening its SQLite file in the data directory: sqlite3 says "unable
// to open database file", naming no path, and check's fix was "fix what the app's startup
// handler reported": a first check after init failed so until install had run.
test('a lifespan startup failing before the first install: its fix names the install to run, with the --state-dir given', async () => {
  const app = writePackage(work.path, 'opens-db', {
    'app.yaml': 'platform: python, asgi\napp: main:app\n',
    'main.py': [
      'import os, sqlite3',
      '',
      'async def app(scope, receive, send):',
      '    if scope["type"] == "lifespan":',
      '        await receive()',
      '        try:',
      '            sqlite3.connect(os.path.join(os.environ["APPPKG_DATA_DIR"], "db.sqlite3")).close()',
      '        except Exception as e:',
      '            await send({"type": "lifespan.startup.failed", "message": repr(e)})',
      '            return',
      '        await send({"type": "lifespan.startup.complete"})',
      '        await receive()',
      '        await send({"type": "lifespan.shutdown.complete"})',
      '',
    ].join('\n'),
  });
  const state = join(work.path, 'fresh-opens-db');
  const r = await runCli(['check', app, '--state-dir', state]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, 'unable to open database file');
  assert.match(r.stdout, `; if it needs its data and log directories, which check does not create, run \`apppkg-gateway install ${app} --state-dir ${state}\` first (serve, run and the gateway create them too), then check again\n`);
  assert.not.ok(existsSync(state), 'check created nothing');
  const installed = await runCli(['install', app, '--state-dir', state]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const again = await runCli(['check', app, '--state-dir', state]);
  assert.is(again.status, 0, again.stdout + again.stderr);
});

// The same startup logging in to the app's Redis: the user is made by install, so before it
// every check failed with WRONGPASS, and the fix did not say install would end that.
withServers('a lifespan startup that logs in to its Redis before install made the user: the fix names install, with the --environment given', async () => {
  const redis = await startRedis();
  try {
    const envFile = servicesEnvironment(work.path, 'redis-env', { redis: redis.url });
    const app = writePackage(work.path, 'sigma', {
      'app.yaml': 'platform: python, asgi\ndeb: [python3-redis]\napp: main:app\nservices:\n  redis: redis\n',
      'main.py': [
        'import os, redis',
        '',
        'async def app(scope, receive, send):',
        '    if scope["type"] == "lifespan":',
        '        await receive()',
        '        redis.Redis.from_url(os.environ["REDIS_URL"]).ping()',
        '        await send({"type": "lifespan.startup.complete"})',
        '        await receive()',
        '        await send({"type": "lifespan.shutdown.complete"})',
        '',
      ].join('\n'),
    });
    const state = join(work.path, 'fresh-redis');
    const r = await runCli(['check', app, '--environment', envFile, '--state-dir', state], { ms: 60_000 });
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, 'WRONGPASS');
    assert.match(r.stdout, `; if it needs its data and log directories or its Redis user apppkg-sigma, which check does not create, run \`apppkg-gateway install ${app} --environment ${envFile} --state-dir ${state}\` first (serve, run and the gateway create them too), then check again\n`);
    const installed = await runCli(['install', app, '--environment', envFile, '--state-dir', state], { ms: 60_000 });
    assert.is(installed.status, 0, installed.stdout + installed.stderr);
    const again = await runCli(['check', app, '--environment', envFile, '--state-dir', state], { ms: 60_000 });
    assert.is(again.status, 0, again.stdout + again.stderr);
  } finally {
    await redis.stop();
  }
});

test('an import failing for another reason before the first install keeps the fix of the traceback', async () => {
  const app = writePackage(work.path, 'raises', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n',
    'wsgi.py': 'raise RuntimeError("no configuration")\n',
  });
  const r = await runCli(['check', app, '--state-dir', join(work.path, 'fresh-raises')]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, 'fix: fix the error shown in the traceback, then try again');
});

test.run();
