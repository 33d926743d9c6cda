// apppkg-gateway upgraded in place (npm, a package manager) under a running gateway: its chunk
// files, named by each build's hashes, and python-shim/ are replaced before the gateway is
// restarted. What it had loaded keeps serving; a new worker from a shim that speaks another
// link protocol says so and how to fix it, instead of misreading frames.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LINK_PROTOCOL } from '../../src/link/frames.js';
import { addPackage } from '../helpers/apps-dir.js';
import { ROOT, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('upgrade in place');
const work = tempDir('apppkg-upgrade-');
let gw: RunningGateway | null = null;
test.after(async () => {
  await gw?.stop();
  work.remove();
});

/** The package as npm installs it, in a directory of its own, its node_modules the checkout's. */
function installCopy(): string {
  const root = join(work.path, 'pkg');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  for (const entry of [...pkg.files, 'package.json']) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(root, entry), { recursive: true, filter: (p) => !p.includes('__pycache__') });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

test('websockets still open, and a new worker from another link protocol says to restart the gateway', async () => {
  const root = installCopy();
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-ws', 'chat');
  const state = join(work.path, 'state');
  writeFileSync(join(work.path, 'environment.yaml'), 'apps:\n  chat:\n    workers: 1\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', join(work.path, 'environment.yaml')], { bin: join(root, 'bin', 'apppkg-gateway') });
  assert.is((await fetch(`${gw.url}/chat/`)).status, 200);
  // The gateway loads its websocket code a moment after an app that takes websockets is
  // attached; then the upgrade replaces it on disk.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const chunks = join(root, 'dist', 'cli', 'chunks');
  const replaced = readdirSync(chunks).filter((f) => f.startsWith('forward-'));
  assert.ok(replaced.length >= 2, replaced.join(' '));
  for (const file of replaced) rmSync(join(chunks, file));
  const socket = await openSocket(`${gw.url.replace(/^http/, 'ws')}/chat/echo`);
  socket.ws.send('still here');
  assert.is(await socket.next(), 'still here');
  socket.ws.close();
  await socket.closed();

  const link = join(root, 'python-shim', 'apppkg_shim', 'link.py');
  writeFileSync(link, readFileSync(link, 'utf8').replace(/^LINK_PROTOCOL = \d+$/m, 'LINK_PROTOCOL = 9999'));
  const status = async () =>
    (await (await fetch(`${gw!.adminUrl}/status`)).json()) as { apps: Array<{ name: string; workers: Array<{ pid: number }>; problem: { code: string; message: string; hint: string } | null }> };
  const [worker] = (await status()).apps.find((a) => a.name === 'chat')!.workers;
  process.kill(worker.pid, 'SIGKILL');
  const log = join(state, 'apps', 'chat', 'log', 'app.log');
  const said = await waitFor(
    () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').find((line) => line.includes('link protocol')) : undefined),
    20_000,
    () => `the new worker's refusal in the app log (${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : 'no log'})`,
  );
  assert.match(said, new RegExp(`speaks link protocol 9999, the gateway that started it ${LINK_PROTOCOL}: apppkg-gateway's files were replaced while the gateway ran`));
  assert.match(said, /restart the gateway/);

  // A version refused for it: status's fix line is the restart (`check` would run the new
  // files, both sides of one protocol, and pass), and its reason, the gateway's words, is shown
  // to a client that may not read the app's output.
  addPackage(apps, 'asgi-http', 'hello');
  const problem = await waitFor(
    async () => (await status()).apps.find((a) => a.name === 'hello')?.problem ?? undefined,
    30_000,
    () => 'a problem for hello in /status',
  );
  assert.is(problem.code, 'APPPKG_WORKER_START_FAILED');
  assert.match(problem.message, new RegExp(`exit status 3: the Python shim in \\S+ speaks link protocol 9999, this gateway ${LINK_PROTOCOL}`));
  assert.match(problem.hint, /^restart the gateway/);
  assert.not.match(problem.hint, /runs the same import/);
  const table = await runCli(['status', '--admin', new URL(gw.adminUrl!).host], { bin: join(root, 'bin', 'apppkg-gateway'), ms: 15_000 });
  assert.match(table.stdout, /\n {4}fix: restart the gateway: /);
});

test.run();
