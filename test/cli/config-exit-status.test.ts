// H310: SPEC 3's exit statuses for configuration. The command line was well formed when what it
// names is wrong (an --environment file or an app.yaml with a problem, an --apps DIR not there):
// the command ran and failed, 1, for --apps, serve and check alike; 2 is the command line's own
// fault. The man page and README said "1 ... a failed check, an app that does not import", which
// left an invalid environment file's 1 looking like a slip from 2.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ROOT, runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: exit status of a configuration with a problem');
const work = tempDir('apppkg-config-exit-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
addPackage(apps, 'examples/hello', 'hello');
const badDesc = writePackage(join(work.path, 'other'), 'misspelt', {
  'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nworkerz: 2\n',
  'wsgi.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n',
});
const badEnv = join(work.path, 'environment.yaml');
writeFileSync(badEnv, 'apps:\n  hello:\n    workerz: 2\n');

test.after(() => work.remove());

test('an invalid --environment file, an invalid app.yaml and a missing --apps DIR exit 1 under --apps, serve and check; an unknown option exits 2', async () => {
  const listen = ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  const cases: Array<[string, string[], number, string]> = [
    ['--apps, invalid --environment', ['--apps', apps, ...listen, '--environment', badEnv], 1, `${badEnv}:3:5: apps.hello.workerz: expected one of the known keys`],
    ['serve, invalid --environment', ['serve', join(apps, 'hello'), '--port', '0', '--environment', badEnv], 1, `${badEnv}:3:5: apps.hello.workerz: expected one of the known keys`],
    ['check, invalid --environment', ['check', join(apps, 'hello'), '--environment', badEnv], 1, `${badEnv}:3:5: apps.hello.workerz`],
    ['serve, invalid app.yaml', ['serve', badDesc, '--port', '0'], 1, `${join(badDesc, 'app.yaml')}:3:1: workerz: expected one of the known keys`],
    ['check, invalid app.yaml', ['check', badDesc], 1, `${join(badDesc, 'app.yaml')}:3:1: workerz`],
    ['--apps, DIR not there', ['--apps', join(work.path, 'no-such-apps'), ...listen], 1, '--apps: expected a directory of app packages, found nothing at'],
    ['--apps, an unknown option', ['--apps', apps, ...listen, '--enviroment', badEnv], 2, '--enviroment'],
  ];
  for (const [name, args, status, says] of cases) {
    const r = await runCli([...args, '--state-dir', state], { ms: 60_000 });
    assert.is(r.status, status, `${name}: ${r.stderr}`);
    assert.match(r.stderr, says, name);
    assert.is(r.stdout, '', name);
  }
});

test('the man page and README say a configuration file with a problem is exit 1, bad usage the command line itself', () => {
  const man = readFileSync(join(ROOT, 'man', 'apppkg-gateway.1'), 'utf8');
  const exit = /^\.SH EXIT STATUS\n(.*)\n/m.exec(man)?.[1] ?? '';
  const [one, two] = exit.split('; 2 ');
  assert.match(one, /an \\-\\-apps DIR that is not there, an \\-\\-environment FILE or an app\.yaml with a problem/);
  assert.match(two, /^bad usage: the command line itself/);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(readme, 'an `--environment` file or an `app.yaml` with a problem in it (an unknown key, a bad value, bad YAML; the command line was well formed, what it names is not, so `--apps`, `serve` and `check` exit 1 alike)');
});

test.run();
