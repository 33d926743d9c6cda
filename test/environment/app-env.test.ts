// The app's environment on disk and in a real Python: dirs, variables, settings, sys.path order
// and .pth handling for commands run through commandEnvironment(), the description recorded
// for apppkg (APPPKG_DESCRIPTION), and resolveAppPaths, which creates nothing.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { describeJson } from '../../src/description/describe.js';
import { buildAppEnvironment, commandEnvironment, DESCRIPTION_FILE, resolveAppPaths, type AppEnvironment } from '../../src/environment/app-env.js';
import { SYSTEM_PYTHON } from '../../src/environment/interpreter-discovery.js';
import type { Interpreter } from '../../src/environment/interpreter-probe.js';
import { pickInterpreter } from '../../src/environment/interpreters.js';
import { appStateDirs, resolveStateRoot } from '../../src/environment/state-root.js';
import { isGatewayError } from '../../src/errors.js';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { makeDescription } from './make-description.js';

const DEADLINE_MS = 20_000;

/** `sh -c CMD` in the app's command environment, with a deadline; resolves stdout. */
function sh(appEnv: AppEnvironment, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { env: commandEnvironment(appEnv), cwd: '/', timeout: DEADLINE_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const REPORT = `python -c 'import json, sys, vendored; print(json.dumps({"executable": sys.executable, "prefix": sys.prefix, "path": sys.path, "vendored": vendored.__file__, "sitecustomize": getattr(sys.modules.get("sitecustomize"), "__file__", None)}))'`;

interface Report {
  executable: string;
  prefix: string;
  path: string[];
  vendored: string;
  sitecustomize: string | null;
}

const test = suite('app-env');
let tmp: string;
let appDir: string;
let stateRoot: string;
let interpreter: Interpreter;

test.before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'apppkg-app-env-'));
  appDir = path.join(tmp, 'blog');
  stateRoot = path.join(tmp, 'state');
  // vendor/extra.pth names vendor/more, which holds the module the report imports.
  await mkdir(path.join(appDir, 'vendor', 'more'), { recursive: true });
  await mkdir(path.join(appDir, 'lib2'), { recursive: true });
  await writeFile(path.join(appDir, 'vendor', 'extra.pth'), '# a comment\nmore\n');
  await writeFile(path.join(appDir, 'vendor', 'more', 'vendored.py'), 'VALUE = 1\n');
  await writeFile(path.join(appDir, 'requirements.txt'), '');
  interpreter = await pickInterpreter({ python: '>=3.9', deb: [] });
});

test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function desc(fields: Parameters<typeof makeDescription>[1] = {}) {
  return makeDescription(appDir, { name: 'blog', paths: ['vendor/', 'lib2'], ...fields });
}

test('state root: flag > APPPKG_STATE_DIR > default by user', () => {
  assert.is(resolveStateRoot({ flag: '/srv/x', env: { APPPKG_STATE_DIR: '/srv/y' } }), '/srv/x');
  assert.is(resolveStateRoot({ env: { APPPKG_STATE_DIR: '/srv/y' } }), '/srv/y');
  assert.is(resolveStateRoot({ env: {}, uid: 0 }), '/var/lib/apppkg-gateway');
  assert.is(resolveStateRoot({ env: { XDG_STATE_HOME: '/home/u/.st' }, uid: 1000 }), '/home/u/.st/apppkg-gateway');
  assert.is(resolveStateRoot({ env: { XDG_STATE_HOME: 'relative' }, uid: 1000, home: '/home/u' }), '/home/u/.local/state/apppkg-gateway');
});

test('creates data, log and tmp; tmp is 0700, even when it existed with another mode', async () => {
  const dirs = appStateDirs(stateRoot, 'blog');
  await mkdir(dirs.tmp, { recursive: true });
  await chmod(dirs.tmp, 0o777);
  const appEnv = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: {}, interpreter });
  assert.is(appEnv.dataDir, dirs.data);
  assert.is(appEnv.logDir, dirs.log);
  assert.is(appEnv.tmpDir, dirs.tmp);
  for (const dir of [dirs.data, dirs.log, dirs.tmp]) assert.ok((await stat(dir)).isDirectory(), dir);
  assert.is((await stat(dirs.tmp)).mode & 0o777, 0o700);
});

test('an app name cannot climb out of the state root', async () => {
  try {
    await buildAppEnvironment(desc({ name: '../evil' }), { stateRoot, mode: 'production', settings: {}, processEnv: {}, interpreter });
    assert.unreachable('expected APPPKG_STATE_DIR_FAILED');
  } catch (err) {
    assert.ok(isGatewayError(err));
    assert.is(err.code, 'APPPKG_STATE_DIR_FAILED');
  }
});

const ifTmpfs = runIf(test, isRoot && hasProgram('mount'), 'needs root to mount a small tmpfs that fills up');

ifTmpfs('a state root on a full disk: APPPKG_STATE_DIR_FAILED says the disk is full and to free space, and leaves no part-written helper', async () => {
  const full = path.join(tmp, 'full');
  await mkdir(full);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full], { timeout: 10_000 });
  try {
    await writeFile(path.join(full, 'filler'), Buffer.alloc(2 * 1024 * 1024)).catch((err) => {
      if (err.code !== 'ENOSPC') throw err;
    });
    try {
      await buildAppEnvironment(desc(), { stateRoot: full, mode: 'production', settings: {}, processEnv: {}, interpreter });
      assert.unreachable('expected APPPKG_STATE_DIR_FAILED');
    } catch (err) {
      assert.ok(isGatewayError(err), String(err));
      assert.is(err.code, 'APPPKG_STATE_DIR_FAILED');
      assert.match(err.message, /ENOSPC/);
      assert.match(err.hint, /^the file system is full \(or the quota used up\): free space on it \(`df -h \S+`\), or choose a writable state root/);
    }
    const left = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? left(path.join(dir, e.name)) : [e.name]));
    assert.equal(left(full).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
  } finally {
    execFileSync('umount', ['-l', full], { timeout: 10_000 });
  }
});

test("variables in development: the caller's environment beneath the app's own, but its Python paths (issue 13 item 7)", async () => {
  const processEnv = {
    PATH: '/usr/bin:/bin',
    FOO: 'bar',
    GREETING: 'from-shell',
    APPPKG_DATA_DIR: '/nope',
    TMPDIR: '/tmp',
    PYTHONPATH: '/elsewhere',
    PYTHONHOME: '/elsewhere',
    VIRTUAL_ENV: '/elsewhere/venv',
    // Its user site (PYTHONUSERBASE/lib/pythonX.Y/site-packages) would be on sys.path.
    PYTHONUSERBASE: '/elsewhere/.local',
  };
  const dev = await buildAppEnvironment(desc(), { stateRoot, mode: 'development', settings: { GREETING: 'from-file' }, processEnv, interpreter });
  assert.is(dev.env.FOO, 'bar');
  assert.is(dev.env.GREETING, 'from-file');
  assert.is(dev.env.APPPKG_DATA_DIR, path.join(stateRoot, 'apps', 'blog', 'data'));
  assert.is(dev.env.TMPDIR, path.join(stateRoot, 'apps', 'blog', 'tmp'));
  for (const key of ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONUSERBASE']) assert.is(dev.env[key], undefined, key);
  assert.is.not(commandEnvironment(dev).PYTHONPATH.split(path.delimiter).includes('/elsewhere'), true);

  const prod = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv, interpreter });
  assert.is(prod.env.FOO, undefined);
  assert.is(prod.env.GREETING, undefined);
  const noInherit = await buildAppEnvironment(desc(), { stateRoot, mode: 'development', inheritEnv: false, settings: {}, processEnv, interpreter });
  assert.is(noInherit.env.FOO, undefined);
});

test("a caller's PORT and the gateway's APPPKG_* reach no process of the app, run's commands included (SPEC 2.1: the gateway's to give)", async () => {
  const processEnv = { PATH: '/usr/bin:/bin', PORT: '5555', APPPKG_MOUNT: '/x', APPPKG_MAIL_SECRET: 's', APPPKG_STATE_DIR: '/srv/state', FOO: 'bar' };
  const dev = await buildAppEnvironment(desc(), { stateRoot, mode: 'development', settings: {}, processEnv, interpreter });
  const env = commandEnvironment(dev);
  for (const key of ['PORT', 'APPPKG_MOUNT', 'APPPKG_MAIL_SECRET']) assert.is(env[key], undefined, key);
  assert.is(env.FOO, 'bar', 'the rest of the caller\'s environment still passes');
  // The root the app runs under (`run --state-dir X`: X), which a caller's APPPKG_STATE_DIR chose when no --state-dir did.
  assert.is(env.APPPKG_STATE_DIR, stateRoot, 'a gateway the command runs itself uses the app\'s state root');
});

test('variables: SPEC 2.1, settings injected, nothing else of the gateway leaks', async () => {
  const processEnv = { PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', GATEWAY_SECRET: 'x', PYTHONPATH: '/elsewhere' };
  const blog = await buildAppEnvironment(desc({ settings: ['DATABASE_URL'] }), {
    stateRoot,
    mode: 'production',
    settings: { DATABASE_URL: 'postgresql://blog@localhost/blog', SMTP_HOST: 'localhost' },
    processEnv,
    interpreter,
  });
  const shop = await buildAppEnvironment(makeDescription(path.join(tmp, 'shop'), { name: 'shop' }), {
    stateRoot,
    mode: 'development',
    settings: { SHOP_KEY: 'k' },
    processEnv,
    interpreter,
  });
  assert.equal(blog.env, {
    // The interpreter's own console scripts first (an app without a virtualenv), then the gateway's PATH.
    PATH: [...new Set([path.dirname(interpreter.executable), '/usr/bin', '/bin'])].join(':'),
    HOME: '/root',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    DATABASE_URL: 'postgresql://blog@localhost/blog',
    SMTP_HOST: 'localhost',
    APPPKG_NAME: 'blog',
    APPPKG_APP_DIR: appDir,
    APPPKG_DATA_DIR: path.join(stateRoot, 'apps', 'blog', 'data'),
    APPPKG_LOG_DIR: path.join(stateRoot, 'apps', 'blog', 'log'),
    APPPKG_STATE_DIR: stateRoot,
    TMPDIR: path.join(stateRoot, 'apps', 'blog', 'tmp'),
    APPPKG_ENV: 'production',
    APPPKG_DESCRIPTION: path.join(blog.runDir, DESCRIPTION_FILE),
  });
  assert.is(shop.env.APPPKG_ENV, 'development');
  // A caller that says production (a pod's `run`) keeps it; any other value of its is ours to set.
  for (const [said, seen] of [['production', 'production'], ['staging', 'development']]) {
    const run = await buildAppEnvironment(desc(), { stateRoot, mode: 'development', settings: {}, processEnv: { ...processEnv, APPPKG_ENV: said }, interpreter });
    assert.is(run.env.APPPKG_ENV, seen);
  }
  const gateway = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: { ...processEnv, APPPKG_ENV: 'development' }, interpreter });
  assert.is(gateway.env.APPPKG_ENV, 'production');
  assert.is(shop.env.SHOP_KEY, 'k');
  assert.is(shop.env.DATABASE_URL, undefined);
  assert.is(blog.env.SHOP_KEY, undefined);
});

test('missing required settings: APPPKG_SETTINGS_MISSING names all of them', async () => {
  const d = desc({ settings: ['DATABASE_URL', 'SECRET_KEY', 'SMTP_HOST'] });
  const processEnv = { PATH: '/usr/bin', SECRET_KEY: 'from-shell' };
  try {
    // Production: the gateway's own environment does not count.
    await buildAppEnvironment(d, { stateRoot, mode: 'production', settings: { SMTP_HOST: 'h' }, processEnv, interpreter });
    assert.unreachable('expected APPPKG_SETTINGS_MISSING');
  } catch (err) {
    assert.ok(isGatewayError(err));
    assert.is(err.code, 'APPPKG_SETTINGS_MISSING');
    assert.match(err.message, 'DATABASE_URL, SECRET_KEY');
    assert.not.match(err.message, 'SMTP_HOST');
    assert.match(err.hint, 'blog');
  }
  // Under serve/run/check the caller's environment may provide them.
  const appEnv = await buildAppEnvironment(d, {
    stateRoot,
    mode: 'development',
    settings: { SMTP_HOST: 'h', DATABASE_URL: 'sqlite://' },
    processEnv,
    interpreter,
  });
  assert.is(appEnv.env.SECRET_KEY, 'from-shell');
});

test('sysPath: app dir, then paths in order; python is the interpreter without a venv', async () => {
  const appEnv = await buildAppEnvironment(desc({ pip: 'requirements.txt' }), { stateRoot, mode: 'production', settings: {}, processEnv: {}, interpreter });
  assert.equal(appEnv.sysPath, [appDir, path.join(appDir, 'vendor'), path.join(appDir, 'lib2')]);
  assert.equal(appEnv.siteDirs, [path.join(appDir, 'vendor'), path.join(appDir, 'lib2')]);
  assert.is(appEnv.python, interpreter.executable);
  assert.is(appEnv.venvDir, null);
});

test('a command sees the sys.path order, .pth files of paths, and `python` is the app interpreter', async () => {
  const appEnv = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter });
  const report = JSON.parse(await sh(appEnv, REPORT)) as Report;
  assert.is(report.executable, interpreter.executable);
  // sys.path[0] is '' for `python -c`; then exactly the SPEC order, then the interpreter's own,
  // then python-shim (`import apppkg`, shadowing nothing).
  const expected = [appDir, path.join(appDir, 'vendor'), path.join(appDir, 'vendor', 'more'), path.join(appDir, 'lib2')];
  assert.equal(report.path.slice(1, 1 + expected.length), expected);
  assert.equal(report.path.slice(1 + expected.length, -1), interpreter.sysPath, 'then the interpreter\'s own, unchanged');
  assert.is(report.path[report.path.length - 1], SHIM_DIR, 'python-shim last');
  assert.is(report.vendored, path.join(appDir, 'vendor', 'more', 'vendored.py'));
  assert.not.ok(report.path.some((p) => p.startsWith(path.join(stateRoot, 'apps', 'blog', 'run'))), 'the helper dir is not left on sys.path');
  assert.is((await sh(appEnv, `python3 -c 'import sys; print(sys.executable)'`)).trim(), interpreter.executable);
});

runIf(test, existsSync(SYSTEM_PYTHON), `needs ${SYSTEM_PYTHON}`)('the system interpreter keeps its own sitecustomize (chained)', async () => {
  const system = await pickInterpreter({ python: null, deb: ['python3'] });
  const appEnv = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter: system });
  const report = JSON.parse(await sh(appEnv, REPORT)) as Report;
  assert.is(report.executable, system.executable);
  assert.is(report.sitecustomize, system.sitecustomize);
  assert.is(report.path[3], path.join(appDir, 'vendor', 'more'));
});

test('with pip and an existing venv: venv python, its site-packages last on sysPath, its bin first on PATH', async () => {
  const venv = appStateDirs(stateRoot, 'blog').venv;
  await new Promise<void>((resolve, reject) => {
    execFile(interpreter.executable, ['-m', 'venv', '--without-pip', venv], { timeout: 60_000, killSignal: 'SIGKILL' }, (err) => (err ? reject(err) : resolve()));
  });
  const appEnv = await buildAppEnvironment(desc({ pip: 'requirements.txt' }), { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter });
  assert.is(appEnv.venvDir, venv);
  assert.is(appEnv.python, path.join(venv, 'bin', 'python'));
  const sitePackages = path.join(venv, 'lib', `python${interpreter.markers.python_version}`, 'site-packages');
  assert.is(appEnv.sysPath[appEnv.sysPath.length - 1], sitePackages);
  assert.ok(appEnv.env.PATH.startsWith(`${path.join(venv, 'bin')}:`));
  assert.is(appEnv.env.VIRTUAL_ENV, venv);
  const report = JSON.parse(await sh(appEnv, REPORT)) as Report;
  assert.is(report.prefix, venv, '`python` is the venv python');
  assert.equal(report.path.slice(1, 6), [appDir, path.join(appDir, 'vendor'), path.join(appDir, 'vendor', 'more'), path.join(appDir, 'lib2'), sitePackages]);
  // The same venv is not used without `pip:`.
  const noPip = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: {}, interpreter });
  assert.is(noPip.venvDir, null);
});

test('description.json: what describe prints, the sys.path, and the PATH/PYTHONPATH of commands', async () => {
  const d = desc({ commands: { test: 'python -m unittest' } });
  const appEnv = await buildAppEnvironment(d, { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter });
  assert.is(appEnv.env.APPPKG_DESCRIPTION, path.join(appEnv.runDir, DESCRIPTION_FILE));
  const recorded = JSON.parse(await readFile(appEnv.env.APPPKG_DESCRIPTION, 'utf8'));
  assert.equal(recorded.description, describeJson(d));
  assert.is(recorded.executable, appEnv.python);
  assert.equal(recorded.sysPath, appEnv.sysPath);
  const commandEnv = commandEnvironment(appEnv);
  assert.equal(recorded.commandEnv, { PATH: commandEnv.PATH, PYTHONPATH: commandEnv.PYTHONPATH });
  assert.is(commandEnv.PYTHONPATH.split(':').pop(), SHIM_DIR);
  // The run-helper directory is named by a hash that covers the description: a process of the
  // old version keeps reading what it was started with.
  const changed = await buildAppEnvironment(desc({ commands: { test: 'python -m pytest' } }), { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter });
  assert.is.not(changed.runDir, appEnv.runDir);
  assert.equal(JSON.parse(await readFile(appEnv.env.APPPKG_DESCRIPTION, 'utf8')).description.commands, { test: 'python -m unittest' });
});

test('resolveAppPaths: the same python and sysPath as buildAppEnvironment, and nothing created', async () => {
  const nowhere = path.join(tmp, 'no-state-here');
  const paths = await resolveAppPaths(desc({ pip: 'requirements.txt' }), { stateRoot: nowhere, interpreter });
  assert.equal(paths.sysPath, [appDir, path.join(appDir, 'vendor'), path.join(appDir, 'lib2')]);
  assert.is(paths.python, interpreter.executable);
  assert.not.ok(existsSync(nowhere), 'no state root made');
  // With the venv the earlier test created under stateRoot.
  const withVenv = await resolveAppPaths(desc({ pip: 'requirements.txt' }), { stateRoot, interpreter });
  const built = await buildAppEnvironment(desc({ pip: 'requirements.txt' }), { stateRoot, mode: 'production', settings: {}, processEnv: {}, interpreter });
  assert.equal(withVenv.sysPath, built.sysPath);
  assert.is(withVenv.python, built.python);
  assert.is(withVenv.venv?.dir, built.venvDir);
});

test('commands: `import apppkg` is python-shim\'s, unless the app has an apppkg of its own', async () => {
  const appEnv = await buildAppEnvironment(desc(), { stateRoot, mode: 'production', settings: {}, processEnv: process.env, interpreter });
  const where = `python -c 'import apppkg, sys; print(apppkg.__file__); print("apppkg_shim" in sys.modules)'`;
  assert.equal((await sh(appEnv, where)).trim().split('\n'), [path.join(SHIM_DIR, 'apppkg', '__init__.py'), 'False']);
  const own = path.join(appDir, 'lib2', 'apppkg.py');
  await writeFile(own, 'MINE = True\n');
  try {
    assert.is((await sh(appEnv, where)).trim().split('\n')[0], own);
  } finally {
    await rm(own);
  }
});

test.run();
