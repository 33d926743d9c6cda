// SPEC 4: "SIGTERM/SIGINT: stop accepting, finish requests in flight (bounded), stop every
// process tree. No orphan processes, ever." Two trees the gateway starts besides its workers:
// a deploy's hook (commands.update), and what an app's worker starts itself.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('the gateway stopped while a hook runs, and a worker\'s own children');
const dirs: Array<{ remove(): void }> = [];
const running: RunningGateway[] = [];
const leftovers: number[] = [];

test.after(async () => {
  for (const gw of running) await gw.stop();
  for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs) dir.remove();
});

/** A WSGI app that starts a `sleep` of its own at import and writes its pid into its data dir. */
function writeVersion(appsDir: string, dirName: string, update: string): void {
  const dir = join(appsDir, dirName);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), `platform: python, wsgi\napp: main:application\ncommands:\n  update: ${JSON.stringify(update)}\n`);
  writeFileSync(
    join(dir, 'main.py'),
    [
      'import os, subprocess',
      'helper = subprocess.Popen(["sleep", "300"])',
      'with open(os.path.join(os.environ["APPPKG_DATA_DIR"], "helper-%d.pid" % os.getpid()), "w") as f:',
      '    f.write(str(helper.pid))',
      '',
      'def application(environ, start_response):',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"ok"]',
      '',
    ].join('\n'),
  );
}

// The hook writes the pid of its long sleep (exec'd by its shell) and waits in it.
const SLOW_UPDATE = 'echo $$ > "$APPPKG_DATA_DIR/hook.pid"; exec sleep 300';

async function gatewayInDeploy(): Promise<{ gw: RunningGateway; data: string }> {
  const apps = tempDir('apppkg-stop-hook-apps-');
  const state = tempDir('apppkg-stop-hook-state-');
  dirs.push(apps, state);
  writeVersion(apps.path, 'app.1', 'true');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--grace', '2', '--settle', '0.2', '--access-log', 'off']);
  running.push(gw);
  const data = join(state.path, 'apps', 'app', 'data');
  await waitFor(async () => (await fetch(`${gw.url}/app/`)).status === 200, 30_000, 'version 1 to serve');
  writeVersion(apps.path, 'app.2', SLOW_UPDATE);
  await waitFor(() => existsSync(join(data, 'hook.pid')) && readFileSync(join(data, 'hook.pid'), 'utf8').trim() !== '', 30_000, 'version 2\'s update hook to run');
  return { gw, data };
}

function pidsIn(data: string, prefix: string): number[] {
  return readdirSync(data).filter((f) => f.startsWith(prefix)).map((f) => Number(readFileSync(join(data, f), 'utf8').trim())).filter((n) => n > 0);
}

test('SIGTERM during an update hook: the hook\'s group is stopped and said, the gateway exits within its bound, no version 2', async () => {
  const { gw, data } = await gatewayInDeploy();
  const hook = pidsIn(data, 'hook.pid');
  const helpers = pidsIn(data, 'helper-');
  leftovers.push(...hook, ...helpers);
  assert.ok(hook.length === 1 && isAlive(hook[0]), 'the hook is running');
  const started = Date.now();
  // --grace 2, the hook's SIGTERM then 3 s to SIGKILL: well under 15 s.
  const code = await gw.stop(15_000);
  assert.is(code, 0, gw.output());
  assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`);
  await assertNoOrphans([...hook, ...helpers], 5000);
  assert.not.match(gw.output(), /version 2 takes over/);
  assert.not.match(gw.output(), /version 2 refused/, 'a hook the gateway stopped is no refusal of the version');
  // Said, with when it runs again: the log went from "running commands.update" to "stopped".
  assert.match(gw.output(), /\napppkg-gateway: app: commands\.update of version 2 stopped with the gateway after \d+\.\d s; it runs again at the next start\n/, gw.output());
  // And in the app log, after the hook's own output, which command (a bare "apppkg-gateway:
  // stopped: the gateway is stopping" there, and in serve's terminal, read as the gateway's end).
  const appLog = readFileSync(join(data, '..', 'log', 'app.log'), 'utf8');
  assert.match(appLog, /(^|\n)apppkg-gateway: commands\.update stopped: the gateway is stopping\n/, appLog);
});

test('SIGKILL of the gateway during an update hook: the hook and what the workers started end with it', async () => {
  const { gw, data } = await gatewayInDeploy();
  const hook = pidsIn(data, 'hook.pid');
  const helpers = pidsIn(data, 'helper-');
  leftovers.push(...hook, ...helpers);
  assert.is(helpers.length, 2, 'each of version 1\'s two workers started a helper');
  assert.ok([...hook, ...helpers].every(isAlive));
  gw.child.kill('SIGKILL');
  // Each group's guard: TERM (and CONT) at once, KILL 5 s later.
  await assertNoOrphans([...hook, ...helpers], 10_000);
});


test('a hook the gateway stops gets one SIGTERM, not one from the stop and more from its end', async () => {
  const apps = tempDir('apppkg-stop-hook-apps-');
  const state = tempDir('apppkg-stop-hook-state-');
  dirs.push(apps, state);
  const terms = join(state.path, 'terms');
  const pidFile = join(state.path, 'counter.pid');
  // A member of the hook's group that outlives its shell and notes each SIGTERM it gets.
  const counter = `sh -c 'echo $$ > ${pidFile}; trap "echo term >> ${terms}" TERM; while :; do sleep 0.1; done' & wait`;
  mkdirSync(join(apps.path, 'counts'));
  writeFileSync(join(apps.path, 'counts', 'app.yaml'), `platform: python, wsgi\napp: main:application\ncommands:\n  install: ${JSON.stringify(counter)}\n`);
  writeFileSync(join(apps.path, 'counts', 'main.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--settle', '0', '--access-log', 'off']);
  running.push(gw);
  const pid = await waitFor(() => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()), 30_000, () => `the install hook to run\n${gw.output()}`);
  leftovers.push(pid);
  assert.is(await gw.stop(15_000), 0, gw.output());
  await assertNoOrphans([pid], 5000);
  assert.is(existsSync(terms) ? readFileSync(terms, 'utf8') : '', 'term\n', 'SIGTERMs the hook\'s group got');
});

test.run();
