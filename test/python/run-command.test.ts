// Python's AppPackage.run_command and JavaScript's AppPackage.runCommand run an app's commands
// alike (SPEC §5.7): Python asks the CLI, `apppkg-gateway run DIR --command NAME`, which is
// runCommand(NAME). A hook that prints its environment prints the same from both. As root, the
// app directory belongs to `nobody`, so that the hook's user is compared too.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage } from '../../src/app-package.js';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { installForOtherUsers, runCli, tempDir } from '../helpers/process.js';
import { isRoot } from '../helpers/skip.js';

const PROCESS_MS = 60_000;
const NOBODY = 65534;

const test = suite('python run_command as runCommand');
const work = tempDir('apppkg-run-command-');
// The hook runs as the app's user when we are root: it must reach the app directory.
chmodSync(work.path, 0o755);
const state = join(work.path, 'state');
const app = join(work.path, 'shown');
// An interpreter every user can run (pyenv's under /root is closed to the app's user).
const environmentFile = join(work.path, 'environment.yaml');

// What the app's command sees that the gateway decides: its mode, user, directory, interpreter
// and the gateway's variables. Left out: what differs between two runs of one command
// (APPPKG_TREE, its process tree's; the run helpers' directory, named by a hash of the caller's
// PATH beneath) and APPPKG_GATEWAY, the caller's own, passed beneath.
const SHOW = String.raw`echo "$1 APPPKG_ENV=$APPPKG_ENV"; id -un; pwd; python -c 'import sys; print(sys.executable, sys.path[1:3])'
env | grep -E '^(APPPKG_[A-Z_]*|TMPDIR|HOME|USER|LOGNAME|VIRTUAL_ENV|PYTHONUNBUFFERED)=' | grep -Ev '^APPPKG_(GATEWAY|TREE|DESCRIPTION)=' | sort`;

test.before(() => {
  writeFileSync(environmentFile, 'python: /usr/bin/python3\n');
  mkdirSync(app);
  writeFileSync(join(app, 'show.sh'), `${SHOW}\n`);
  writeFileSync(
    join(app, 'app.yaml'),
    ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  install: sh show.sh install', '  test: sh show.sh test; exit 3', '  check: exit 2', ''].join('\n'),
  );
  writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    return []\n');
  if (isRoot) for (const file of ['', 'show.sh', 'app.yaml', 'wsgi.py']) chownSync(join(app, file), NOBODY, NOBODY);
});

test.after(() => {
  work.remove();
});

/** runCommand(name) in this process: its status and what the command printed. */
async function fromJavaScript(name: 'install' | 'test'): Promise<{ status: number; output: string }> {
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const pkg = await AppPackage.open(app, { stateDir: state, environment: environmentFile });
  const status = await pkg.runCommand(name, { output });
  return { status, output: text };
}

/** run_command(name) in a python3 outside any gateway process: its status and what the command printed. */
async function fromPython(name: string, gateway = installForOtherUsers().bin): Promise<{ status: number; output: string }> {
  const r = await pythonRunCommand(name, gateway);
  assert.is(r.status, 0, r.stderr);
  const status = /^STATUS (\d+)$/m.exec(r.stdout);
  assert.ok(status, r.stdout);
  return { status: Number(status![1]), output: r.stdout.slice(0, status!.index) };
}

function pythonRunCommand(name: string, gateway: string) {
  const script = 'import sys\nfrom apppkg import AppPackage\nstatus = AppPackage(sys.argv[1], environment=sys.argv[2], state_dir=sys.argv[3]).run_command(sys.argv[4])\nprint("STATUS", status)\n';
  const env = { PYTHONPATH: SHIM_DIR, APPPKG_GATEWAY: gateway };
  return runCli(['-c', script, app, environmentFile, state, name], { bin: 'python3', env, ms: PROCESS_MS });
}

test('run_command(install) runs the hook as runCommand(install) does: production, the same user and environment', async () => {
  const js = await fromJavaScript('install');
  const py = await fromPython('install');
  assert.is(js.status, 0, js.output);
  assert.match(js.output, /^install APPPKG_ENV=production$/m);
  if (isRoot) assert.match(js.output, /^nobody$/m, "as root, the app's user");
  // As the gateway and `apppkg-gateway install` give a hook: its output as it goes, not at its end.
  assert.match(js.output, /^PYTHONUNBUFFERED=1$/m);
  // Before, through `run -- sh -c`: development.
  assert.is(py.output, js.output);
  assert.is(py.status, 0);
});

test('run_command(test) is runCommand(test) too: development, its exit status passed on', async () => {
  const js = await fromJavaScript('test');
  const py = await fromPython('test');
  assert.is(js.status, 3);
  assert.match(js.output, /^test APPPKG_ENV=development$/m);
  assert.is(py.output, js.output);
  assert.is(py.status, 3);
});

test("a command's own status 2 is passed on, not taken for a gateway without run --command", async () => {
  const py = await fromPython('check');
  assert.is(py.status, 2);
});

test('a gateway older than run --command: GatewayTooOld says to upgrade it, not "unknown option"', async () => {
  // This gateway as it was before `run --command`: the same CLI, but for that option, which it
  // refused as unknown (its usage error, word for word), and the help that did not list it.
  const real = installForOtherUsers().bin;
  const old = join(work.path, 'old-apppkg-gateway');
  writeFileSync(
    old,
    [
      '#!/bin/sh',
      'case " $* " in',
      `  " run --help ") ${real} run --help | grep -v -e --command; exit 0 ;;`,
      '  *" --command "*) echo "apppkg-gateway: unknown option --command" >&2; echo "  fix: run \`apppkg-gateway run --help\` for the usage" >&2; exit 2 ;;',
      'esac',
      `exec ${real} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const r = await pythonRunCommand('test', old);
  assert.is.not(r.status, 0, r.stdout);
  assert.match(r.stderr, /apppkg\.errors\.GatewayTooOld: .*old-apppkg-gateway has no `run --command`/);
  assert.match(r.stderr, /fix: upgrade apppkg-gateway/);
});

test.run();
