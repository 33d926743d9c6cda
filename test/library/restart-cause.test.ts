// What a restart's old workers tell their websockets (the 1012 close) when two asks meet before
// the judging takes them: a save under `reload` ("its code changed (--reload)"), then an
// environment file whose settings changed (reloadEnvironment(), the CLI's SIGHUP). They are one
// restart, told as the last ask, as restart() does; new settings set the restart flag alone and
// left the save's cause, so a page whose app got new settings read that its code had changed.
// The registry's asks meet only while the app is being judged: its start is held here, at the
// import of each worker, by a file per import (the Nth import waits while hold-N exists).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { ASGI_ANSWERS_VERSION } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('library: a restart asked by a save and then by new settings is told as the last ask, new settings');
const work = tempDir('apppkg-lib-restart-cause-');
const app = join(work.path, 'cause');
const imports = join(work.path, 'imports');
const envFile = join(work.path, 'environment.yaml');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;

/** The Nth import of app.py waits (30 s at most) while hold-N exists; its workers answer N. */
const APP = `import os, time

IMPORTS = ${JSON.stringify(imports)}
N = len(os.listdir(IMPORTS)) + 1
open(os.path.join(IMPORTS, "%d-%d" % (N, os.getpid())), "w").close()
_hold = os.path.join(${JSON.stringify(work.path)}, "hold-%d" % N)
_deadline = time.monotonic() + 30
while os.path.exists(_hold) and time.monotonic() < _deadline:
    time.sleep(0.05)
VERSION = str(N)


${ASGI_ANSWERS_VERSION}`;

const log = (): string => said.join('\n');
const importsSoFar = (): number => readdirSync(imports).length;

async function answer(): Promise<string> {
  const res = await request(`${gateway!.urls[0]}/`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return res.body.text();
}

test.before(async () => {
  mkdirSync(imports);
  mkdirSync(app);
  writeFileSync(join(app, 'app.yaml'), 'name: cause\nplatform: python, asgi\napp: app:application\n');
  writeFileSync(join(app, 'app.py'), APP);
  writeFileSync(envFile, 'apps:\n  cause: {settings: {GENERATION: "1"}}\n');
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ app, reload: true, workers: 1, environment: envFile, stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', say: (line) => said.push(line) }));
});

test.after(async () => {
  for (const n of [2, 3]) rmSync(join(work.path, `hold-${n}`), { force: true });
  await stopGatewayAndWork(gateway, work, seen);
});

test("a save, then new settings, while a restart's start is held: the next restart's close says the app was restarted", async () => {
  assert.is(await answer(), '1', log());
  writeFileSync(join(work.path, 'hold-2'), '');
  writeFileSync(join(work.path, 'hold-3'), '');
  // A restart whose start (the 2nd import) is held: the asks below meet while it is judged.
  const restarted = gateway!.restart();
  await waitFor(() => importsSoFar() >= 2, 30_000, () => `the 2nd import to begin:\n${log()}`);
  for (const pid of gateway!.pids) seen.add(pid);
  writeFileSync(join(app, 'saved.py'), '# a save in the editor\n');
  await waitFor(() => said.includes('change detected; restarting workers'), 20_000, () => `the save to be seen:\n${log()}`);
  writeFileSync(envFile, 'apps:\n  cause: {settings: {GENERATION: "2"}}\n');
  const reloaded = gateway!.reloadEnvironment();
  await waitFor(() => said.some((l) => l.startsWith('cause: settings.GENERATION changed in ')), 20_000, () => `the new settings to be read:\n${log()}`);
  // restart() resolves once the look that took it has judged the app again for the asks above:
  // awaited at the end.
  rmSync(join(work.path, 'hold-2'));
  let last = '';
  await waitFor(async () => (last = await answer()) === '2', 30_000, () => `the 2nd import's workers to serve (answered ${last}; imports ${readdirSync(imports).join(' ')}):\n${log()}`);
  const socket = await openSocket(gateway!.urls[0].replace(/^http/, 'ws'));
  assert.is(await socket.next(), '2');
  // The one restart the save and the settings asked for: the 3rd import, held until here.
  await waitFor(() => importsSoFar() >= 3, 30_000, () => `the 3rd import to begin:\n${log()}`);
  for (const pid of gateway!.pids) seen.add(pid);
  rmSync(join(work.path, 'hold-3'));
  assert.is(await socket.closed(30_000), 1012, log());
  assert.is(socket.closeReason(), 'cause was restarted', log());
  await within(60_000, 'restart()', restarted);
  await within(60_000, 'reloadEnvironment()', reloaded);
  assert.is(await answer(), '3', log());
  assert.is(importsSoFar(), 3, 'one restart for both asks');
});

test.run();
