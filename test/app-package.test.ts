// AppPackage, the library face of one app directory (SPEC §5.7), on real apps and real Python:
// what it reads at open(), check()'s report, runCommand/run exit statuses with captured output,
// install()'s hook and marker. Every test names its own state root: none writes the default one.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, type CheckItem, type CommandName } from '../src/app-package.js';
import { isGatewayError, type GatewayError } from '../src/errors.js';
import { withDeadline } from './helpers/link-harness.js';
import { EXAMPLES, FIXTURES, runCli, tempDir } from './helpers/process.js';

const test = suite('AppPackage');
const state = tempDir('apppkg-lib-state-');
const work = tempDir('apppkg-lib-work-');
test.after(() => {
  state.remove();
  work.remove();
});

const HELLO = join(EXAMPLES, 'hello');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

/** A package directory with this app.yaml and a trivial WSGI module. */
function pkg(name: string, yaml: string): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  return dir;
}

/** A stream that keeps what is written to it. */
function capture(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { stream, text: () => text };
}

async function rejection(promise: Promise<unknown>, what: string): Promise<GatewayError> {
  const err = await withDeadline(promise.then(() => null, (e: unknown) => e), 30_000, what);
  assert.ok(isGatewayError(err), `${what}: expected a GatewayError, got ${String(err)}`);
  return err as GatewayError;
}

test('open() reads the description, as describe prints it, and creates nothing', async () => {
  const fresh = join(state.path, 'untouched');
  const app = await AppPackage.open(HELLO, { stateDir: fresh });
  assert.is(app.name, 'hello');
  assert.is(app.version, null);
  assert.is(app.dir, HELLO);
  const cli = await runCli(['describe', HELLO]);
  assert.is(cli.status, 0, cli.stderr);
  assert.equal(app.description, JSON.parse(cli.stdout));
  assert.not.ok(existsSync(fresh), 'open() must not prepare the state root');
});

test('open() of an app asking for services: description is what describe prints, provides included', async () => {
  // SQLite in the app's data directory: what `database: sql` gets on a host that names no server.
  const dir = pkg('with-db', 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: sql\n');
  const root = join(state.path, 'with-db-root');
  const app = await AppPackage.open(dir, { stateDir: root });
  const cli = await runCli(['describe', dir, '--state-dir', root]);
  assert.is(cli.status, 0, cli.stderr);
  assert.equal(app.description, JSON.parse(cli.stdout));
  assert.equal(app.description.provides, { database: 'sqlite', env: { DATABASE_URL: `sqlite:///${join(root, 'apps', 'with-db', 'data', 'db.sqlite3')}` }, problem: null });
  assert.not.ok(existsSync(root), 'open() must not prepare the state root');
});

test('open() takes the version from the directory and rejects a bad description with every problem', async () => {
  const versioned = await AppPackage.open(pkg('blog.2026.11.24', 'platform: python, wsgi\napp: wsgi:application\n'), { stateDir: state.path });
  assert.is(versioned.name, 'blog');
  assert.is(versioned.version, '2026.11.24');
  const bad = pkg('two-problems', 'platform: python, wsgi\napp: nocolon\nhealth_check: /healthz\n');
  const err = await rejection(AppPackage.open(bad, { stateDir: state.path }), 'open a bad description');
  assert.is(err.code, 'APPPKG_DESC_INVALID');
  assert.ok(err.problems.length >= 2, err.format());
  assert.ok(err.problems.some((p) => p.key === 'health_check'), err.format());
  // An app.yaml that is a directory is refused as check, describe and the gateway refuse it.
  const hollow = join(work.path, 'hollow');
  mkdirSync(join(hollow, 'app.yaml'), { recursive: true });
  const notFile = await rejection(AppPackage.open(hollow, { stateDir: state.path }), 'open a package whose app.yaml is a directory');
  assert.is(notFile.code, 'APPPKG_DESC_NOT_FOUND');
  assert.match(notFile.format(), `${join(hollow, 'app.yaml')}: expected app.yaml to be a file, found a directory\n  fix: move the directory away`);
});

test('check() passes on hello and reports each check as it happens', async () => {
  const app = await AppPackage.open(HELLO, { stateDir: state.path });
  const seen: CheckItem[] = [];
  const report = await withDeadline(app.check({ onCheck: (c) => seen.push(c) }), 60_000, 'check hello');
  assert.ok(report.ok, JSON.stringify(report, null, 2));
  assert.is(report.failed, 0);
  assert.is(report.name, 'hello');
  assert.equal(report.checks.map((c) => c.name), ['os', 'python', 'deb', 'rpm', 'pip', 'settings', 'state', 'app']);
  assert.equal(seen, report.checks);
  assert.match(report.checks.at(-1)!.detail, /^hello:application imports and is callable/);
});

test('check() on an app that does not import: the app check fails with the traceback and the fix', async () => {
  const app = await AppPackage.open(join(FIXTURES, 'apps', 'crash-on-import'), { stateDir: state.path });
  const report = await withDeadline(app.check(), 60_000, 'check crash-on-import');
  assert.not.ok(report.ok);
  assert.is(report.failed, 1);
  const failed = report.checks.filter((c) => !c.ok);
  assert.is(failed[0].name, 'app');
  assert.is(failed[0].code, 'APPPKG_APP_IMPORT_FAILED');
  assert.match(failed[0].detail, /ZeroDivisionError/);
  assert.match(failed[0].fix, /traceback/);
  assert.match(failed[0].traceback ?? '', /helper\.py", line 4/);
});

test('check() runs commands.check and reports its status, its output to the output stream', async () => {
  const dir = pkg('failing-check', 'app: wsgi:application\ncommands:\n  check: echo self-check says no; exit 5\n');
  const out = capture();
  const hooks: string[] = [];
  const app = await AppPackage.open(dir, { stateDir: state.path, output: out.stream });
  const report = await withDeadline(app.check({ onHookStart: (c) => hooks.push(c) }), 60_000, 'check failing-check');
  assert.equal(hooks, ['echo self-check says no; exit 5']);
  const hook = report.checks.at(-1)!;
  assert.equal([hook.name, hook.ok, hook.detail], ['commands.check', false, 'exited 5']);
  assert.is(out.text(), 'self-check says no\n');
});

test('runCommand("test") passes the exit status on, output captured', async () => {
  const dir = pkg('with-tests', 'app: wsgi:application\ncommands:\n  test: python -c "import os, sys; print(os.environ[\'APPPKG_ENV\']); sys.stderr.write(\'to stderr\\n\'); sys.exit(3)"\n');
  const out = capture();
  const app = await AppPackage.open(dir, { stateDir: state.path });
  const status = await withDeadline(app.runCommand('test', { output: out.stream, timeoutMs: 30_000 }), 35_000, 'runCommand test');
  assert.is(status, 3);
  assert.match(out.text(), /^development$/m);
  assert.match(out.text(), /^to stderr$/m);
});

test('runCommand of a command the app lacks: APPPKG_COMMAND_MISSING naming the app and the command, with the fix', async () => {
  const app = await AppPackage.open(HELLO, { stateDir: state.path });
  const err = await rejection(app.runCommand('test'), 'runCommand test on hello');
  assert.is(err.code, 'APPPKG_COMMAND_MISSING');
  assert.is(err.message, 'hello has no commands.test (it has no commands)');
  assert.match(err.hint, /commands: \{test: python -m unittest discover -s tests\}/);
  const unknown = await rejection(app.runCommand('deploy' as CommandName), 'runCommand deploy');
  assert.is(unknown.code, 'APPPKG_USAGE');
  assert.match(unknown.message, /expected one of install, update, check, backup, restore, uninstall, test, found "deploy"/);
});

test('run(argv) in the app\'s environment: its data directory under stateDir, the status passed on', async () => {
  const out = capture();
  const app = await AppPackage.open(HELLO, { stateDir: state.path, output: out.stream });
  const status = await withDeadline(
    app.run(['python', '-c', 'import os, sys; print(os.environ["APPPKG_DATA_DIR"]); sys.exit(7)'], { timeoutMs: 30_000 }),
    35_000,
    'run python -c',
  );
  assert.is(status, 7);
  assert.is(out.text().trim(), join(state.path, 'apps', 'hello', 'data'));
  assert.is(await withDeadline(app.run(['apppkg-no-such-program'], { timeoutMs: 30_000 }), 35_000, 'run a missing program'), 127);
  assert.match(out.text(), /apppkg-no-such-program: not on the app's PATH, which searches \S+\/bin, /);
});

test('install() runs commands.install and writes the marker the gateway reads, as the CLI does', async () => {
  const dir = pkg('with-install', 'app: wsgi:application\ncommands:\n  install: echo migrating; echo done > "$APPPKG_DATA_DIR/installed-by-hook"\n');
  const out = capture();
  const steps: string[] = [];
  const app = await AppPackage.open(dir, { stateDir: state.path, output: out.stream });
  const result = await withDeadline(app.install({ onStep: (line) => steps.push(line) }), 60_000, 'install');
  assert.equal(result, { name: 'with-install', venv: null, ranHook: true });
  const appState = join(state.path, 'apps', 'with-install');
  assert.is(readFileSync(join(appState, 'data', 'installed-by-hook'), 'utf8'), 'done\n');
  const marker = JSON.parse(readFileSync(join(appState, 'installed.json'), 'utf8'));
  assert.equal([marker.dir, marker.by], [dir, 'install']);
  assert.is(out.text(), 'migrating\n');
  assert.ok(steps.some((s) => /^==> commands\.install done in \d+\.\d s$/.test(s)), steps.join('\n'));
  assert.ok(readdirSync(appState).includes('data'));
});

test('install() with a failing hook rejects with APPPKG_COMMAND_FAILED and writes no marker', async () => {
  const dir = pkg('bad-install', 'app: wsgi:application\ncommands:\n  install: exit 4\n');
  const app = await AppPackage.open(dir, { stateDir: state.path, output: capture().stream });
  const err = await rejection(app.install(), 'install with a failing hook');
  assert.is(err.code, 'APPPKG_COMMAND_FAILED');
  assert.match(err.message, /commands\.install \(exit 4\) exited with status 4/);
  assert.not.ok(existsSync(join(state.path, 'apps', 'bad-install', 'installed.json')));
});

test.run();
