// What the library refuses, and how it says so (SPEC 5.7), as the CLI does (probe-k findings 4-6):
// a backup or restore hook given no directory never runs; a restart (either) or rollback of a name the
// gateway has no app of names its apps; an invalid app.yaml's message carries each problem's place;
// Gateway.start's numbers are checked as the CLI checks its flags; an AppPackage whose directory
// went says so.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError, type GatewayError } from '../../src/index.js';
import { addPackage } from '../helpers/apps-dir.js';
import { withDeadline } from '../helpers/link-harness.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir } from '../helpers/process.js';

const test = suite('library refusals');
const work = tempDir('apppkg-lib-refusals-');
const state = join(work.path, 'state');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';
let gateway: Gateway | null = null;

test.after(() => stopGatewayAndWork(gateway, work));

function pkg(name: string, yaml: string): string {
  const dir = join(work.path, 'pkgs', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  return dir;
}

async function rejection(promise: Promise<unknown>, what: string): Promise<GatewayError> {
  const err = await withDeadline(promise.then(() => null, (e: unknown) => e), 60_000, what);
  assert.ok(isGatewayError(err), `${what}: expected a GatewayError, got ${String(err)}`);
  return err as GatewayError;
}

/** Gateway.start's refusal of `bad` (on a free port, no admin); one that started is stopped, then failed. */
async function startRefused(bad: Record<string, unknown>): Promise<{ what: string; refusal: GatewayError }> {
  const what = `Gateway.start(${JSON.stringify(bad)})`;
  const refusal = await rejection(Gateway.start({ listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, say: () => {}, ...bad }).then(async (g) => {
    await g.stop(); // started: stopped, so that the failure leaves no process
    return g;
  }), what);
  return { what, refusal };
}

test('runCommand backup/restore without APPPKG_BACKUP_DIR: APPPKG_USAGE and the hook never runs', async () => {
  const ran = join(work.path, 'hook-ran');
  // The hook leaves a file behind: a refusal that still ran it would show.
  const hook = `python -c "open('${ran}', 'a').write('ran')"`;
  const dir = pkg('cmd.2.0', `app: wsgi:application\ncommands:\n  backup: ${hook}\n  restore: ${hook}\n`);
  const app = await AppPackage.open(dir, { stateDir: state });
  const output = new PassThrough().resume();
  for (const name of ['backup', 'restore'] as const) {
    for (const env of [undefined, {}, { APPPKG_BACKUP_DIR: '' }] as Array<Record<string, string> | undefined>) {
      const err = await rejection(app.runCommand(name, { env, output }), `runCommand ${name} with env ${JSON.stringify(env)}`);
      assert.is(err.code, 'APPPKG_USAGE');
      assert.match(err.message, new RegExp(`^runCommand\\('${name}'\\): expected the backup directory as options\\.env\\.APPPKG_BACKUP_DIR, found (none|an empty string)$`));
      // The library's own call, not the CLI's `--help`.
      assert.is(err.hint, `give the directory to ${name === 'backup' ? 'back up into' : 'restore from'}, e.g. runCommand('${name}', { env: { APPPKG_BACKUP_DIR: '/srv/backups/cmd' } })`);
    }
  }
  assert.not.ok(existsSync(ran), 'the hook ran although it was refused');
  // Given the directory, the hook runs.
  const status = await withDeadline(app.runCommand('backup', { env: { APPPKG_BACKUP_DIR: join(work.path, 'backup') }, output, timeoutMs: 30_000 }), 35_000, 'runCommand backup');
  assert.is(status, 0);
  assert.ok(existsSync(ran), 'the hook did not run with APPPKG_BACKUP_DIR given');
});

test('AppPackage.open of an invalid app.yaml: the message names FILE:LINE:COLUMN of each problem', async () => {
  const dir = pkg('bad', 'app: wsgi:application\nworkers: 3\nprocesses:\n  web: 5\n');
  const err = await rejection(AppPackage.open(dir, { stateDir: state }), 'open bad');
  assert.is(err.code, 'APPPKG_DESC_INVALID');
  assert.ok(err.problems.length >= 2, err.format());
  const file = join(dir, 'app.yaml');
  assert.ok(err.message.startsWith(`${file}: ${err.problems.length} problems in the description: ${file}:`), err.message);
  for (const p of err.problems) {
    assert.ok(p.line !== undefined, p.format());
    assert.ok(err.message.includes(`${file}:${p.line}:${p.column ?? 1}: ${p.message}`), `${err.message}\nlacks\n${p.format()}`);
  }
  assert.match(err.message, new RegExp(`${file}:2:1: workers: `));
  assert.not.match(err.message, /\n/);
  // What the CLI prints (format()) is unchanged: one block per problem.
  assert.is(err.format(), err.problems.map((p) => p.format()).join('\n'));
});

test('restart, restartApp and rollback of a name the gateway has no app of: APPPKG_ADMIN_NO_SUCH_APP naming its apps', async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'environ', 'blog');
  addPackage(apps, 'environ', 'shop');
  writeFileSync(join(work.path, 'env.yaml'), 'defaults:\n  workers: 1\n');
  gateway = await withDeadline(Gateway.start({
    apps, listen: '127.0.0.1:0', admin: false, environment: join(work.path, 'env.yaml'), stateDir: state, watchIntervalMs: 0, say: () => {},
  }), 90_000, 'Gateway.start');
  for (const action of ['restart', 'restartApp', 'rollback'] as const) {
    const err = await rejection(gateway[action]('zzz'), `${action} zzz`);
    assert.is(err.code, 'APPPKG_ADMIN_NO_SUCH_APP', err.format());
    // Named as its program knows it, by what it serves: its listen URL (the CLI's words, of the
    // admin address) was no name of it to a program that holds the Gateway.
    assert.is(err.message, `this gateway (of the apps under ${apps}) has no app named zzz`);
    assert.is(err.hint, 'its apps: blog, shop');
  }
  // A package whose app.yaml does not load is no unknown name: it is broken, and why is said.
  mkdirSync(join(apps, 'wiki'));
  writeFileSync(join(apps, 'wiki', 'app.yaml'), 'app: wsgi:application\nwsgii: 1\n');
  await gateway.rescan();
  for (const action of ['restart', 'restartApp', 'rollback'] as const) {
    const err = await rejection(gateway[action]('wiki'), `${action} wiki`);
    assert.is(err.code, 'APPPKG_ADMIN_APP_BROKEN', err.format());
    assert.match(err.message, /^wiki is not served: its package \S+wiki is broken: APPPKG_DESC_INVALID: .*wsgii/s);
    assert.match(err.hint, /^fix \S+wiki\/app\.yaml /);
  }
  // A name it has still restarts.
  const done = await withDeadline(gateway.restartApp('blog'), 90_000, 'restartApp blog');
  assert.is(done.message, 'blog: the app restarted; the old workers drain');
});

test('a library call given the wrong arguments: APPPKG_USAGE with a fix in the library\'s terms, not the CLI\'s `--help`', async () => {
  const hello = pkg('usage-hello', 'platform: python, wsgi\napp: wsgi:application\n');
  const app = await AppPackage.open(hello, { stateDir: state });
  // Each call made in its turn: one made ahead would reject unhandled when an assertion fails first.
  const cases: Array<[() => Promise<unknown>, string, string]> = [
    [
      () => Gateway.start({ say: () => {} }),
      'Gateway.start: expected either apps (a directory of app packages) or app (one app directory), found neither',
      "give one: Gateway.start({ apps: '/srv/apps' }) serves every app under it, as --apps; Gateway.start({ app: '/srv/apps/blog' }) one app at /, as serve",
    ],
    [() => Gateway.start({ apps: work.path, app: hello, say: () => {} }), 'Gateway.start: expected either apps (a directory of app packages) or app (one app directory), found both', ''],
    [
      () => AppPackage.open(undefined as unknown as string),
      'AppPackage.open: expected the app directory\'s path (a string), found undefined',
      "give the directory that holds app.yaml, e.g. AppPackage.open('/srv/apps/blog')",
    ],
    // Plain JavaScript, unchecked by the .d.ts: Node's TypeErrors named neither the call nor the option.
    [() => (Gateway.start as (o?: unknown) => Promise<Gateway>)(), 'Gateway.start: expected an options object, found undefined', "give one, e.g. Gateway.start({ apps: '/srv/apps' })"],
    [() => Gateway.start({ apps: work.path, stateDir: 42 as unknown as string, say: () => {} }), 'Gateway.start: stateDir: expected a path (a string), found 42', 'give stateDir a path, or leave it out for the default'],
    [() => Gateway.start({ apps: work.path, environment: null as unknown as string, say: () => {} }), 'Gateway.start: environment: expected a path (a string), found null', ''],
    [() => AppPackage.open(hello, null as unknown as object), 'AppPackage.open: expected an options object, found null', "give one, e.g. AppPackage.open(dir, { stateDir: '/tmp/state' })"],
    [() => AppPackage.open(hello, { stateDir: 42 as unknown as string }), 'AppPackage.open: stateDir: expected a path (a string), found 42', ''],
    // A negative timeout stopped the command at once; NaN (Number() of an unset variable) and 0 set none.
    [() => app.run(['true'], { timeoutMs: Number.NaN }), 'run: timeoutMs: expected a number of milliseconds > 0, found NaN', 'give timeoutMs a number of milliseconds, e.g. timeoutMs: 60000'],
    [() => app.run(['true'], { timeoutMs: -1 }), 'run: timeoutMs: expected a number of milliseconds > 0, found -1', ''],
    [() => app.check({ timeoutMs: 0 }), 'check: timeoutMs: expected a number of milliseconds > 0, found 0', ''],
    [() => app.run([]), 'run: expected a command to run, found an empty argv', "give the program and its arguments, e.g. run(['python', 'manage.py', 'migrate'])"],
    [
      () => app.runCommand('migrate' as never),
      'runCommand: expected one of install, update, check, backup, restore, uninstall, test, found "migrate"',
      "name a key of app.yaml's commands: (runCommand('test')); any other command line runs with run(argv), e.g. run(['python', 'manage.py', 'migrate'])",
    ],
  ];
  for (const [call, message, hint] of cases) {
    const err = await rejection(call(), message);
    assert.is(err.code, 'APPPKG_USAGE');
    assert.is(err.message, message);
    assert.not.match(err.hint, '--help', message);
    if (hint !== '') assert.is(err.hint, hint);
  }
});

test('an AppPackage whose directory went after open (an old version pruned): each method rejects with APPPKG_DESC_NOT_FOUND saying so', async () => {
  // Before: as root Node's bare ENOENT (stat), else run resolved 127 ("true: not on the app's
  // PATH") and check reported the interpreter missing.
  const dir = pkg('pruned', 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  test: "true"\n');
  const app = await AppPackage.open(dir, { stateDir: state });
  rmSync(dir, { recursive: true });
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['run', () => app.run(['true'])],
    ['runCommand', () => app.runCommand('test')],
    ['check', () => app.check()],
    ['install', () => app.install()],
  ];
  for (const [what, call] of calls) {
    const err = await rejection(call(), what);
    assert.is(err.code, 'APPPKG_DESC_NOT_FOUND', `${what}: ${err.format()}`);
    assert.is(err.message, `${dir} is gone: it was removed or moved away after its app.yaml was read (AppPackage.open)`);
    assert.match(err.hint, 'AppPackage.open(DIR)');
  }
});

test('Gateway.start with a number out of range (workers: 0, maxWorkers: -1, ...) or a misspelt mode: APPPKG_USAGE naming the option, as the CLI refuses its flags, and nothing starts', async () => {
  const apps = join(work.path, 'numbers');
  addPackage(apps, 'environ', 'blog');
  const numbersState = join(work.path, 'numbers-state');
  const refused: Array<[Record<string, unknown>, string]> = [
    [{ workers: 0 }, 'workers: expected a whole number of at least 1, found 0'],
    [{ workers: -2 }, 'workers: expected a whole number of at least 1, found -2'],
    [{ threads: 0 }, 'threads: expected a whole number of at least 1, found 0'],
    [{ maxWorkers: -1 }, 'maxWorkers: expected a whole number of at least 1, found -1'],
    [{ maxWorkers: 1.5 }, 'maxWorkers: expected a whole number of at least 1, found 1.5'],
    [{ maxWorkers: '2' }, 'maxWorkers: expected a whole number of at least 1, found "2"'],
    [{ graceMs: -5 }, 'graceMs: expected a number of milliseconds >= 0, found -5'],
    [{ watchIntervalMs: Number.NaN }, 'watchIntervalMs: expected a number of milliseconds >= 0, found NaN'],
    [{ headerTimeoutMs: 0 }, 'headerTimeoutMs: expected a number of milliseconds > 0, found 0'],
    [{ apps: 5 }, 'apps: expected a directory\'s path (a string), found 5'],
    [{ mode: 'prod' }, "mode: expected 'production' or 'development', found \"prod\""],
  ];
  for (const [bad, message] of refused) {
    const started = Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: numbersState, watchIntervalMs: 0, say: () => {}, ...bad } as Parameters<typeof Gateway.start>[0]);
    const err = await withDeadline(started.then(async (g) => {
      await g.stop(); // it started: stopped here so that the failure below leaves no process
      return null;
    }, (e: unknown) => e), 60_000, `Gateway.start ${JSON.stringify(bad)}`);
    assert.ok(isGatewayError(err), `Gateway.start(${String(Object.keys(bad))}: ${String(Object.values(bad))}) was not refused: ${String(err)}`);
    assert.is((err as GatewayError).code, 'APPPKG_USAGE');
    assert.is((err as GatewayError).message, `Gateway.start: ${message}`);
  }
});

test('Gateway.start refusing an address, the admin token file, a proxy, the access log or the environment file (AppPackage.open too): the message and fix name the option the caller gave (listen, admin, adminTokenFile, environment), never a CLI flag', async () => {
  // Before: `listen: 'bogus'` with `app` said "--port: expected ...", `admin: '0.0.0.0:0'` said
  // "pass --admin-token FILE": flags a library caller never gave.
  const hello = pkg('names-hello', 'platform: python, wsgi\napp: wsgi:application\n');
  const apps = join(work.path, 'names-apps');
  addPackage(apps, 'environ', 'blog');
  const namesState = join(work.path, 'names-state');
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const busyAddr = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
  const cases: Array<[Record<string, unknown>, string, RegExp, RegExp]> = [
    [{ app: hello, listen: 'bogus' }, 'APPPKG_ADDR_INVALID', /^listen: expected PORT, HOST:PORT or unix:\/path, found "bogus"$/, /8000/],
    [{ apps, listen: 'bad host:80' }, 'APPPKG_ADDR_INVALID', /^listen: expected HOST:PORT/, /^write e\.g\. listen: 127\.0\.0\.1:80, /],
    [{ apps, listen: 'unix:gw.sock' }, 'APPPKG_ADDR_INVALID', /^listen: /, /^write listen: unix:\.\/gw\.sock /],
    [{ apps, listen: 'https://127.0.0.1:0/' }, 'APPPKG_USAGE', /^listen: expected http:\/\//, /^write listen: 127\.0\.0\.1:0 /],
    [{ apps, listen: '127.0.0.1:0', admin: 'http://127.0.0.1:0/status' }, 'APPPKG_USAGE', /^admin: the admin listener answers at its root/, /^write admin: 127\.0\.0\.1:0 /],
    [{ apps, listen: '127.0.0.1:0', admin: '0.0.0.0:0' }, 'APPPKG_ADMIN_TOKEN_NEEDED', /^admin: 0\.0\.0\.0:0 is not a loopback address/, /pass adminTokenFile: FILE; or keep admin on 127\.0\.0\.1/],
    [{ apps, listen: '127.0.0.1:0', admin: '127.0.0.1:0', adminTokenFile: join(work.path, 'no-token') }, 'APPPKG_ADMIN_TOKEN_FILE', /ENOENT/, /^give adminTokenFile a readable file/],
    [{ apps, listen: '127.0.0.1:8765', admin: '127.0.0.1:8765' }, 'APPPKG_ADDR_TWICE', /^admin 127\.0\.0\.1:8765 is the listen address too$/, /^give admin an address of its own/],
    [{ apps, listen: '127.0.0.1:0', admin: false, trustProxy: ['10.0.0.0/33'] }, 'APPPKG_TRUST_PROXY_INVALID', /^trustProxy: expected IP addresses/, /^write e\.g\. trustProxy: \['127\.0\.0\.1', '10\.0\.0\.0\/8'\]/],
    [{ apps, listen: '127.0.0.1:0', admin: false, accessLog: join(work.path, 'no-dir', 'access.log') }, 'APPPKG_ACCESS_LOG_FILE', /^accessLog: cannot append to it: ENOENT$/, /or give accessLog another file, a stream \(process\.stdout\) or null \(none\)$/],
    [{ apps, listen: '127.0.0.1:0', admin: false, environment: join(work.path, 'no-environment.yaml') }, 'APPPKG_ENVFILE_NOT_FOUND', /^.*no such file; it was given as the environment file \(environment\)$/, /^pass an existing YAML file to environment, or leave it out$/],
    [{ apps, listen: '127.0.0.1:0', admin: false, environment: work.path }, 'APPPKG_ENVFILE_NOT_FOUND', /a directory, not a file/, /^pass the YAML file itself to environment \(e\.g\. .*\), or leave it out$/],
    // Refused by the bind itself, once the options are through: the same names.
    [{ app: hello, listen: busyAddr }, 'APPPKG_LISTEN_FAILED', new RegExp(`^listen: cannot listen on ${busyAddr}: EADDRINUSE$`), /give listen another address/],
    [{ apps, listen: '127.0.0.1:0', admin: busyAddr }, 'APPPKG_LISTEN_FAILED', new RegExp(`^admin: cannot listen on ${busyAddr}: EADDRINUSE$`), /give admin another address/],
  ];
  try {
    for (const [bad, code, message, hint] of cases) {
      const what = `Gateway.start(${JSON.stringify(bad)})`;
      const started = Gateway.start({ stateDir: namesState, watchIntervalMs: 0, say: () => {}, ...bad } as Parameters<typeof Gateway.start>[0]);
      const err = await withDeadline(started.then(async (g) => {
        await g.stop(); // it started: stopped here so that the failure below leaves no process
        return null;
      }, (e: unknown) => e), 60_000, what);
      assert.ok(isGatewayError(err), `${what} was not refused: ${String(err)}`);
      const refusal = err as GatewayError;
      assert.is(refusal.code, code, `${what}: ${refusal.format()}`);
      assert.match(refusal.message, message, `${what}: ${refusal.message}`);
      assert.match(refusal.hint, hint, `${what}: ${refusal.hint}`);
      assert.not.match(refusal.format(), /--[a-z]/, `${what} names a CLI flag: ${refusal.format()}`);
    }
  } finally {
    busy.close();
  }
  // AppPackage.open's environment: "pass an existing YAML file to --environment, or leave the flag out" before.
  const opened = await rejection(AppPackage.open(hello, { stateDir: namesState, environment: join(work.path, 'no-environment.yaml') }), 'AppPackage.open environment');
  assert.is(opened.code, 'APPPKG_ENVFILE_NOT_FOUND');
  assert.is(opened.hint, 'pass an existing YAML file to environment, or leave it out');
  assert.not.match(opened.format(), /--[a-z]/);
});

test('a state root refused to Gateway.start or an AppPackage (a file in the way, held by another process): the fix names stateDir, never --state-dir', async () => {
  // Before: "choose a writable state root with --state-dir or APPPKG_STATE_DIR", "give this one a
  // state root of its own with --state-dir DIR", a flag a program never had.
  const hello = pkg('state-hello', 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  test: "true"\n');
  const apps = join(work.path, 'state-apps');
  addPackage(apps, 'environ', 'blog');
  const aFile = join(work.path, 'state-a-file');
  writeFileSync(aFile, 'not a directory\n');
  // Held by pid 1, alive and not this process: the fix is the other holder's, and the option's.
  const held = join(work.path, 'state-held');
  mkdirSync(join(held, 'apps', 'state-hello'), { recursive: true });
  writeFileSync(join(held, 'gateway.lock'), '1\n');
  writeFileSync(join(held, 'apps', 'state-hello', 'serve.lock'), '1\n');
  const blocked = /^.* is a file, not a directory: move it away, or choose a writable state root with stateDir \(or APPPKG_STATE_DIR\)$/;
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ apps, stateDir: aFile }, 'APPPKG_STATE_DIR_FAILED', blocked],
    [{ app: hello, stateDir: join(aFile, 'state') }, 'APPPKG_STATE_DIR_FAILED', blocked],
    [{ apps, stateDir: held }, 'APPPKG_STATE_ROOT_IN_USE', /^stop that gateway \(`kill 1`\), or give this one a state root of its own with stateDir: DIR \(or APPPKG_STATE_DIR\); /],
    [{ app: hello, stateDir: held }, 'APPPKG_APP_SERVED', /^use that serve, or stop it \(`kill 1`\); to run a second copy beside it, give this one a state root of its own with stateDir: DIR \(or APPPKG_STATE_DIR\); /],
  ];
  for (const [bad, code, hint] of cases) {
    const { what, refusal } = await startRefused(bad);
    assert.is(refusal.code, code, `${what}: ${refusal.format()}`);
    assert.match(refusal.hint, hint, `${what}: ${refusal.hint}`);
    assert.not.match(refusal.format(), /--[a-z]/, `${what} names a CLI flag: ${refusal.format()}`);
  }
  // Under apps, an app whose state cannot be made is refused and the rest serve: its refusal too.
  const appBlocked = join(work.path, 'state-app-blocked');
  mkdirSync(join(appBlocked, 'apps'), { recursive: true });
  writeFileSync(join(appBlocked, 'apps', 'blog'), 'not a directory\n');
  const serving = await withDeadline(Gateway.start({ apps, stateDir: appBlocked, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, say: () => {} }), 60_000, 'Gateway.start with blog\'s state blocked');
  try {
    const problem = serving.status().apps.find((a) => a.name === 'blog')?.problem;
    assert.is(problem?.code, 'APPPKG_STATE_DIR_FAILED', JSON.stringify(problem));
    assert.match(problem!.hint ?? '', /choose a writable state root with stateDir \(or APPPKG_STATE_DIR\)$/);
    assert.not.match(problem!.hint ?? '', /--[a-z]/);
  } finally {
    await serving.stop();
  }
  // AppPackage: what makes the app's state (install, run, runCommand), and check's report.
  const app = await AppPackage.open(hello, { stateDir: join(aFile, 'state'), output: new PassThrough().resume() });
  for (const [what, call] of [['install', () => app.install()], ['run', () => app.run(['true'])], ['runCommand', () => app.runCommand('test')]] as const) {
    const refusal = await rejection(call(), `AppPackage ${what}`);
    assert.is(refusal.code, 'APPPKG_STATE_DIR_FAILED', `${what}: ${refusal.format()}`);
    assert.match(refusal.hint, /choose a writable state root with stateDir \(or APPPKG_STATE_DIR\)$/, `${what}: ${refusal.hint}`);
    assert.not.match(refusal.format(), /--[a-z]/, `${what} names a CLI flag: ${refusal.format()}`);
  }
  const report = await withDeadline(app.check(), 60_000, 'AppPackage check');
  const state = report.checks.find((c) => c.name === 'state');
  assert.ok(state !== undefined && !state.ok, `check's state line: ${JSON.stringify(state)}`);
  assert.match(state.fix, blocked);
});

test('an empty path ("", as a variable set empty gives) to Gateway.start or AppPackage.open is APPPKG_USAGE naming the option, never the default', async () => {
  // Before: stateDir: '' wrote into the default state root (/var/lib/apppkg-gateway as root),
  // environment: '' read no file, app: '' served the working directory, adminTokenFile: '' and
  // accessLog: '' failed on it.
  const hello = pkg('empty-hello', 'platform: python, wsgi\napp: wsgi:application\n');
  const apps = join(work.path, 'empty-apps');
  addPackage(apps, 'environ', 'blog');
  // Where an empty stateDir fell back to, were it taken: the test's own root, never the default one.
  const fallback = join(work.path, 'empty-fallback');
  const savedRoot = process.env.APPPKG_STATE_DIR;
  process.env.APPPKG_STATE_DIR = fallback;
  try {
    const leaveOut = (key: string) => `give ${key} a path, or leave it out (undefined): an empty string, as a variable set to "" gives, is never taken for the default`;
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ apps, stateDir: '' }, 'Gateway.start: stateDir: expected a path, found an empty string', leaveOut('stateDir')],
      [{ app: hello, stateDir: '' }, 'Gateway.start: stateDir: expected a path, found an empty string', leaveOut('stateDir')],
      [{ apps, stateDir: state, environment: '' }, 'Gateway.start: environment: expected a path, found an empty string', leaveOut('environment')],
      [{ apps, stateDir: state, adminTokenFile: '' }, 'Gateway.start: adminTokenFile: expected a path, found an empty string', leaveOut('adminTokenFile')],
      [{ apps, stateDir: state, accessLog: '' }, 'Gateway.start: accessLog: expected a path, found an empty string', leaveOut('accessLog')],
      [{ app: '', stateDir: state }, "Gateway.start: app: expected a directory's path (a string), found an empty string", "give app a path, e.g. '/var/apps'"],
      [{ apps: '', stateDir: state }, "Gateway.start: apps: expected a directory's path (a string), found an empty string", "give apps a path, e.g. '/var/apps'"],
    ];
    for (const [bad, message, hint] of cases) {
      const { what, refusal } = await startRefused(bad);
      assert.is(refusal.code, 'APPPKG_USAGE', `${what}: ${refusal.format()}`);
      assert.is(refusal.message, message, what);
      assert.is(refusal.hint, hint, what);
    }
    for (const key of ['stateDir', 'environment'] as const) {
      const refusal = await rejection(AppPackage.open(hello, { stateDir: state, [key]: '' }), `AppPackage.open ${key}: ''`);
      assert.is(refusal.code, 'APPPKG_USAGE');
      assert.is(refusal.message, `AppPackage.open: ${key}: expected a path, found an empty string`);
      assert.is(refusal.hint, leaveOut(key));
    }
    const noDir = await rejection(AppPackage.open('', { stateDir: state }), "AppPackage.open('')");
    assert.is(noDir.message, "AppPackage.open: expected the app directory's path (a string), found an empty string");
  } finally {
    if (savedRoot === undefined) delete process.env.APPPKG_STATE_DIR;
    else process.env.APPPKG_STATE_DIR = savedRoot;
  }
  assert.not.ok(existsSync(join(fallback, 'apps')), `the state root an empty stateDir fell back to was used: ${fallback}`);
});

test.run();
