// Python's AppPackage.run_command outside the gateway runs `apppkg-gateway run DIR --command NAME`
// (SPEC §5.7). A Python program killed while it waited (SIGTERM from a supervisor, SIGKILL from a
// CI runner's timeout) left that CLI running, reparented to init, and the app's command with it,
// where JavaScript's runCommand takes its command along when its program dies.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { assertNoOrphans, isAlive, processesBelow, tempDir, waitFor } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('python run_command, its program killed');
const work = tempDir('apppkg-run-command-killed-');
const app = join(work.path, 'sleepy');
const left: number[] = [];

test.before(() => {
  mkdirSync(app);
  // The command says its pid, then waits far longer than the test.
  writeFileSync(join(app, 'app.yaml'), ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  test: echo $$ > started; exec sleep 300', ''].join('\n'));
  writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    return []\n');
});

test.after(() => {
  // A failed run leaves what it found alive; the test stops what it started all the same.
  for (const pid of left) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  work.remove();
});

// PR_SET_PDEATHSIG is Linux's: elsewhere run_command has no kernel to ask.
const onLinux = runIf(test, process.platform === 'linux', 'PR_SET_PDEATHSIG is Linux only');

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  onLinux(`the program killed by ${signal} while run_command waits: the CLI and the command go too`, async () => {
    const started = join(app, 'started');
    if (existsSync(started)) writeFileSync(started, '');
    const script = 'import sys\nfrom apppkg import AppPackage\nAppPackage(sys.argv[1], state_dir=sys.argv[2]).run_command("test")\n';
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: SHIM_DIR };
    // The CLI beside this python-shim, as a user of the npm package's own directory finds it.
    delete env.APPPKG_GATEWAY;
    const python = spawn('python3', ['-c', script, app, join(work.path, 'state')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise<void>((resolve) => python.once('exit', () => resolve()));
    const commandPid = await waitFor(() => {
      const text = existsSync(started) ? readFileSync(started, 'utf8').trim() : '';
      return text === '' ? 0 : Number(text);
    }, 60_000, 'the command to start');
    const below = processesBelow(python.pid!).map((p) => p.pid);
    left.push(commandPid, ...below);
    assert.ok(below.includes(commandPid), `the command ${commandPid} runs below the program ${python.pid}`);
    python.kill(signal);
    await exited;
    await assertNoOrphans([commandPid, ...below], 10_000);
  });
}

test.run();
