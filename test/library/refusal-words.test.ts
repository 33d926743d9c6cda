// A program running a Gateway met the CLI's words in refusals and answers it has no command
// for: a pip install refused "run `apppkg-gateway install DIR` to build the virtualenv in the
// terminal", a deb: package guessed from a failed import "or `apppkg-gateway install --system`
// as root", a lifespan startup "`apppkg-gateway serve DIR` shows it", a process "try it with
// `apppkg-gateway run DIR -- ...`", a wake whose import failed "`apppkg-gateway check DIR`
// repeats the import", a refused app's and a crash loop's 503 "`apppkg-gateway status` says
// why", and the apps directory gone "read again at the next change or SIGHUP". Each now names
// the library's call, as command-words.test.ts has its fixes (package-words.test.ts, AppPackage's
// own); the CLI's are checked by the tests under test/gateway.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';
import { aptPackageNotInstalled, runIf } from '../helpers/skip.js';

const test = suite('library: refusals and 503s name the Gateway\'s and AppPackage\'s calls, not the CLI\'s commands');
const work = tempDir('apppkg-lib-refusal-words-');
const apps = join(work.path, 'apps');
const broken = join(work.path, 'vault-broken');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;
const notInstalled = aptPackageNotInstalled();
const withAptPackage = runIf(test, notInstalled !== null, 'needs dpkg and a package apt knows that is not installed (sl, cowsay, ...)');
// A module of Debian's name (python3-NAME) that apt has and dpkg has not installed, for the guess.
const guessed = aptPackageNotInstalled(['python3-pendulum', 'python3-arrow', 'python3-humanize']);
const withGuess = runIf(test, guessed !== null, 'needs dpkg and python3-pendulum, -arrow or -humanize known to apt, not installed');

mkdirSync(apps);
writePackage(apps, 'described', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nwsgii: 1\n', 'wsgi.py': '' });
// pip runs offline: a requirement with no file in the app is refused.
writePackage(apps, 'pipfail', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n', 'requirements.txt': 'apppkg-no-such-distribution==1.0\n', 'wsgi.py': '' });
addPackage(apps, 'asgi-lifespan-fail', 'startup', { 'app.yaml': [['app:application', 'app:raises']] });
writePackage(apps, 'web', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exit 3\n' });
addPackage(apps, 'dies-soon', 'loner');
if (guessed !== null) writePackage(apps, 'guess', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-yaml]\n', 'wsgi.py': `import ${guessed.slice('python3-'.length)}\n` });
if (notInstalled !== null) writePackage(apps, 'debs', { 'app.yaml': `platform: python, wsgi\napp: wsgi:application\ndeb: [${notInstalled}]\n`, 'wsgi.py': '' });
// While the flag file is there, its import raises: a wake after it slept fails.
writePackage(apps, 'vault', {
  'app.yaml': 'platform: python, wsgi\napp: vault:application\n',
  'vault.py': `import os\nif os.path.exists(${JSON.stringify(broken)}):\n    raise RuntimeError("not today")\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n`,
});

test.before(async () => {
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'defaults:\n  workers: 1\napps:\n  vault:\n    idle_timeout: 1\n', { mode: 0o600 });
  gateway = await within(180_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
});

test.after(() => stopGatewayAndWork(gateway, work, seen));

const log = (): string => said.join('\n');
const app = (name: string): any => (gateway!.status() as any).apps.find((a: any) => a.name === name);
const get = async (path: string): Promise<{ status: number; body: string }> => {
  const res = await request(`${gateway!.urls[0]}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
};
/** The `fix:` of the first line in the log that matches `start`. */
const fixOf = async (start: RegExp): Promise<string> => {
  const line = await waitFor(() => said.find((l) => start.test(l)), 60_000, () => `a line matching ${start}:\n${log()}`);
  const fix = line.split('\n').find((l) => l.trimStart().startsWith('fix: '));
  assert.ok(fix, line);
  return fix!;
};

test('a refused app\'s 503 says gateway.status() says why', async () => {
  const res = await get('/described/');
  assert.is(res.status, 503, res.body);
  assert.match(res.body, 'described is not serving: it was refused (APPPKG_DESC_INVALID); `gateway.status()` says why');
});

test('a pip install refused: the fix names AppPackage\'s install() with an output, not `apppkg-gateway install DIR` in the terminal', async () => {
  const fix = await fixOf(/^pipfail: \S+ refused/);
  assert.match(fix, "; then deploy again, or run AppPackage's `install({ output: process.stderr })` to build the virtualenv with its output shown");
});

test('a lifespan startup that raised: the fix says AppPackage\'s check() runs the startup again, not `apppkg-gateway serve DIR`', async () => {
  const problem = await waitFor(() => app('startup')?.problem, 60_000, () => `startup to be refused:\n${log()}`);
  assert.is(problem.code, 'APPPKG_APP_LIFESPAN_FAILED', JSON.stringify(problem));
  assert.ok(problem.hint.endsWith(`then try again; \`(await AppPackage.open(${JSON.stringify(join(apps, 'startup'))})).check()\` runs the startup again`), problem.hint);
});

test('a process that does not start: the fix says try it with AppPackage\'s run(), not `apppkg-gateway run DIR --`', async () => {
  const problem = await waitFor(() => app('web')?.problem, 60_000, () => `web to be refused:\n${log()}`);
  assert.is(problem.code, 'APPPKG_PROCESS_START_FAILED', JSON.stringify(problem));
  assert.ok(problem.hint.endsWith(`try it with \`(await AppPackage.open(${JSON.stringify(join(apps, 'web'))})).run(['sh', '-c', 'PORT=8080 ...'])\``), problem.hint);
});

withAptPackage('a deb: package not installed at a start: the line says AppPackage\'s install({ system: true }) as root, not `apppkg-gateway install --system`', async () => {
  const line = await waitFor(() => said.find((l) => l.startsWith('debs: ') && l.includes('starting the app anyway')), 60_000, () => `the deb line:\n${log()}`);
  assert.ok(line.endsWith(`; fix: run \`apt-get install -y ${notInstalled}\` (or AppPackage's \`install({ system: true })\` as root)`), line);
});

withGuess('a deb: package guessed from a failed import: its fix says AppPackage\'s install({ system: true }) as root, not `apppkg-gateway install --system`', async () => {
  const problem = await waitFor(() => app('guess')?.problem, 60_000, () => `guess to be refused:\n${log()}`);
  assert.is(problem.code, 'APPPKG_APP_MODULE_NOT_INSTALLED', JSON.stringify(problem));
  assert.ok(problem.hint.endsWith(`(\`apt-get install ${guessed}\`, or AppPackage's \`install({ system: true })\` as root)`), problem.hint);
});

test('a crash loop\'s 503 says gateway.status() and its log say why', async () => {
  await waitFor(() => said.some((l) => /^loner: worker \d+ exited \(status 1\); restarting in \d+ ms \(crash loop\)$/.test(l)), 60_000, () => `loner's crash loop:\n${log()}`);
  const res = await get('/loner/');
  assert.is(res.status, 503, res.body);
  assert.match(res.body, 'loner is in a crash loop: its processes keep exiting (`gateway.status()` and its log say why); try again later');
});

test('a wake whose import fails: the fix says AppPackage\'s check() repeats the import, not `apppkg-gateway check DIR`', async () => {
  await waitFor(() => app('vault')?.state === 'idle', 60_000, () => `vault to go idle:\n${log()}`);
  writeFileSync(broken, '');
  const res = await get('/vault/');
  assert.is(res.status, 503, res.body);
  assert.match(res.body, '`gateway.status()` says why');
  const fix = await fixOf(/^vault: could not wake it/);
  assert.ok(fix.endsWith(`\`(await AppPackage.open(${JSON.stringify(join(apps, 'vault'))})).check()\` repeats the import`), fix);
});

test('no word of the CLI\'s commands in the log', () => {
  assert.not.match(log(), 'apppkg-gateway ');
  assert.not.match(log(), 'SIGHUP');
});

// Last: the gateway's apps directory is gone from here on.
test('the apps directory gone at a rescan: read again at the next change or gateway.reload(), not SIGHUP', async () => {
  renameSync(apps, `${apps}.away`);
  await within(30_000, 'rescan()', gateway!.rescan());
  const line = await waitFor(() => said.find((l) => l.startsWith('cannot read the apps directory')), 30_000, () => `the line:\n${log()}`);
  assert.is(line, `cannot read the apps directory ${apps} (ENOENT); the apps keep serving as they are, and it is read again at the next change or \`gateway.reload()\``);
  renameSync(`${apps}.away`, apps);
});

test.run();
