// An option the library does not know, as plain JavaScript may pass it where no compiler checks
// the .d.ts (SPEC 5.7; README "As a library": options "checked as the CLI checks its flags"): the
// CLI refuses `--workerz 3`, while `Gateway.start({ workerz: 3 })` served with one worker, and
// `run(argv, { timeout: 100 })` ran with no bound at all (found by H277, as a program author
// meets it). Each is APPPKG_USAGE naming the option and the one meant, and nothing starts or runs.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError, type GatewayError } from '../../src/index.js';
import { withDeadline } from '../helpers/link-harness.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir } from '../helpers/process.js';

const test = suite('library unknown options');
const work = tempDir('apppkg-lib-unknown-options-');
const state = join(work.path, 'state');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';
const started = new Set<number>();

test.after(() => stopGatewayAndWork(null, work, started));

function pkg(parent: string, name: string, yaml: string): string {
  const dir = join(work.path, parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  return dir;
}

/** The rejection of `promise` (a GatewayError), or a failure naming `what` when it resolved. */
async function refusal(promise: Promise<unknown>, what: string): Promise<GatewayError> {
  const err = await withDeadline(promise.then(() => null, (e: unknown) => e), 60_000, what);
  assert.ok(isGatewayError(err), `${what}: expected a GatewayError, got ${String(err)}`);
  return err as GatewayError;
}

test('Gateway.start with an option it does not know (workerz): APPPKG_USAGE with the one meant, and nothing listens or starts', async () => {
  const apps = join(work.path, 'apps');
  pkg('apps', 'blog', 'platform: python, wsgi\napp: wsgi:application\n');
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ workerz: 3 }, 'Gateway.start: unknown option workerz', /^did you mean workers\? Gateway\.start's options: apps, app, listen, /],
    [{ statedir: join(work.path, 'elsewhere') }, 'Gateway.start: unknown option statedir', /^did you mean stateDir\?/],
    [{ port: 8080 }, 'Gateway.start: unknown option port', /^leave it out; Gateway\.start's options: apps, app, listen, /],
  ];
  for (const [bad, message, hint] of cases) {
    const what = `Gateway.start(${JSON.stringify(bad)})`;
    const err = await refusal(
      Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: state, watchIntervalMs: 0, say: () => {}, ...bad }).then(async (g) => {
        for (const pid of g.pids) started.add(pid);
        await g.stop(); // it started: stopped, so that the failure leaves no process
        return g;
      }),
      what,
    );
    assert.is(err.code, 'APPPKG_USAGE', `${what}: ${err.format()}`);
    assert.is(err.message, message, what);
    assert.match(err.hint, hint, what);
    assert.not.match(err.hint, '--', `${what}: a library caller told of a flag: ${err.hint}`);
  }
  assert.not.ok(existsSync(join(state, 'apps', 'blog')), 'an app started under a refused Gateway.start');
});

test('AppPackage.open and its methods with an option they do not know (timeout, sytem, outptu): APPPKG_USAGE naming it, and nothing runs', async () => {
  const dir = pkg('pkgs', 'shop', 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  test: touch test-ran\n  install: touch install-ran\n  check: touch check-ran\n');
  const openErr = await refusal(AppPackage.open(dir, { statedir: state } as never), 'AppPackage.open statedir');
  assert.is(openErr.code, 'APPPKG_USAGE');
  assert.is(openErr.message, 'AppPackage.open: unknown option statedir');
  assert.match(openErr.hint, /^did you mean stateDir\? AppPackage\.open's options: environment, stateDir, output$/);

  const output = new PassThrough().resume();
  const app = await AppPackage.open(dir, { stateDir: state, output });
  const ran = join(dir, 'run-ran');
  const cases: Array<[string, () => Promise<unknown>, string, RegExp, string]> = [
    ['run timeout', () => app.run(['touch', ran], { timeout: 100 } as never), 'run: unknown option timeout', /^did you mean timeoutMs\? run's options: output, env, timeoutMs, force$/, ran],
    ['runCommand outptu', () => app.runCommand('test', { outptu: output } as never), 'runCommand: unknown option outptu', /^did you mean output\?/, join(dir, 'test-ran')],
    ['install sytem', () => app.install({ sytem: true } as never), 'install: unknown option sytem', /^did you mean system\? install's options: system, rebuild, onStep, output$/, join(dir, 'install-ran')],
    ['check onchek', () => app.check({ onchek: () => {} } as never), 'check: unknown option onchek', /^did you mean onCheck\?/, join(dir, 'check-ran')],
    ['run options null', () => app.run(['touch', ran], null as never), 'run: expected an options object, found null', /^give one, e\.g\. run\(\['python', 'manage\.py', 'migrate'\], \{ timeoutMs: 60000 \}\)$/, ran],
    // A string spread into its characters: `l` not found, 127, where the program meant `ls`.
    ['run a string', () => app.run(`touch ${ran}` as never), `run: expected argv, an array of strings, found "touch ${ran}"`, /^give the program and its arguments as an array, e\.g\. run\(\['python', 'manage\.py', 'migrate'\]\); a shell command line: run\(\['sh', '-c', 'LINE'\]\)$/, ran],
    ['run a number in argv', () => app.run(['sleep', 1] as never), 'run: expected argv, an array of strings, found ["sleep",1]', /^give the program and its arguments as an array/, ran],
  ];
  for (const [what, call, message, hint, marker] of cases) {
    const err = await refusal(call(), what);
    assert.is(err.code, 'APPPKG_USAGE', `${what}: ${err.format()}`);
    assert.is(err.message, message, what);
    assert.match(err.hint, hint, what);
    assert.not.ok(existsSync(marker), `${what}: it ran although it was refused`);
  }
  // The options it knows still run it.
  assert.is(await withDeadline(app.run(['touch', ran], { timeoutMs: 30_000, output }), 35_000, 'run'), 0);
  assert.ok(existsSync(ran), 'run with its own options did not run');
});

test.run();
