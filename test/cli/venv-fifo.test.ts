// An app's venv is its user's when a root gateway runs it as that user (pip runs as that user):
// pyvenv.cfg and the gateway's stamp in it were read with a plain open(2), which on a FIFO the
// user left there waits for a writer for ever: `describe --sys-path` (Python's AppPackage asks
// it), check and the venv judge of install and --apps hung. They are read only as regular
// files now; anything else is no venv of that interpreter, or no stamp (rebuilt).
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: a FIFO in the app\'s venv');
const work = tempDir('apppkg-venv-fifo-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const dir = writePackage(work.path, 'vf', {
  'app.yaml': 'platform: python, wsgi\napp: app:application\npip: reqs.txt\n',
  'reqs.txt': '',
  'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
});

test('describe --sys-path with a FIFO at the venv\'s pyvenv.cfg: answered at once, without that venv', async () => {
  const venv = join(state, 'apps', 'vf', 'venv');
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable, "python%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).stdout.trim().split(' ');
  mkdirSync(join(venv, 'bin'), { recursive: true });
  mkdirSync(join(venv, 'lib', python[1], 'site-packages'), { recursive: true });
  symlinkSync(python[0], join(venv, 'bin', 'python'));
  assert.is(spawnSync('mkfifo', [join(venv, 'pyvenv.cfg')]).status, 0, 'mkfifo');
  // The bound is for the hang it was.
  const described = await runCli(['describe', dir, '--sys-path', '--state-dir', state], { ms: 20_000 });
  assert.is(described.status, 0, described.stderr);
  const printed = JSON.parse(described.stdout) as { executable: string; sysPath: string[] };
  assert.not.ok(printed.sysPath.some((p) => p.startsWith(venv)), described.stdout);
});

test('install with a FIFO at the venv\'s stamp: judged not built by install, built again, never waited on', async () => {
  const other = writePackage(work.path, 'vs', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\npip: reqs.txt\n',
    'reqs.txt': '',
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
  });
  const venv = join(state, 'apps', 'vs', 'venv');
  assert.is(spawnSync('python3', ['-m', 'venv', '--without-pip', venv], { timeout: 60_000 }).status, 0, 'python3 -m venv');
  assert.is(spawnSync('mkfifo', [join(venv, 'apppkg-venv.json')]).status, 0, 'mkfifo');
  const installed = await runCli(['install', other, '--state-dir', state], { ms: 120_000 });
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.match(installed.stdout + installed.stderr, /apppkg-venv\.json is missing \(not built by install\)/);
});

test.run();
