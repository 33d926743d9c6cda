// The state root going read-only (a file system remounted ro after an error; a full disk is
// the same for a new file) while a new version's commands.update runs: the version passed its
// update and its workers started, and only the record of it (installed.json) could not be
// written. That write failing refused the version ("worker exited before it was ready"),
// left its started workers running unrouted and supervised, and the gateway then said
// "stopped" on SIGTERM without exiting. Now the version serves, and the log says the record
// could not be kept and what that means at the next start. Needs root (a tmpfs to remount).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';

const test = suite('gateway: the state root read-only during an update');
const work = tempDir('apppkg-state-ro-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
/** Outside the state root: where the hook says it runs and is told to go on. */
const hold = join(work.path, 'hold');
/** The app's log directory, a file system of its own: a file open for writing keeps a remount ro busy. */
const logDir = join(state, 'apps', 'blog', 'log');
const mounts: string[] = [];
let gw: RunningGateway | null = null;

const ifRoot = runIf(test, isRoot && hasProgram('mount'), 'needs root to mount a tmpfs as the state root');

test.after(async () => {
  await gw?.stop();
  for (const dir of mounts.reverse()) execFileSync('umount', ['-l', dir], { timeout: 10_000 });
  work.remove();
});

function addVersion(v: string, update?: string): void {
  const dir = addPackage(apps, 'environ', `blog.${v}`, { 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] });
  if (update) writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: ${JSON.stringify(update)}\n`);
}

async function served(): Promise<string> {
  const res = await request(`${gw!.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? String(JSON.parse(body).version) : `${res.statusCode} ${body.trim()}`;
}

ifRoot('installed.json unwritable after an update passed: the version serves, the log says so, the gateway stops and leaves no worker', async () => {
  mkdirSync(state, { recursive: true });
  mkdirSync(hold, { recursive: true });
  for (const dir of [state, logDir]) {
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { timeout: 10_000 });
    mounts.push(dir);
  }
  addVersion('1');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0']);
  await waitFor(async () => (await served()) === '1', 30_000, 'version 1');

  // The hook waits (bounded) for the test to make the state root read-only before it ends.
  addVersion('2', `touch ${hold}/started; i=0; while [ ! -e ${hold}/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`);
  await waitFor(() => existsSync(join(hold, 'started')), 30_000, 'the update of version 2 to start');
  execFileSync('mount', ['-o', 'remount,ro', state], { timeout: 10_000 });
  writeFileSync(join(hold, 'go'), '');

  await waitFor(async () => (await served()) === '2', 30_000, () => `version 2 to serve; output:\n${gw!.output()}`);
  assert.match(gw.output(), /blog: cannot record that version 2 passed its commands\.update in \S+installed\.json \(EROFS: [^)]*\); its commands\.update runs again at the gateway's next start: free space on the state root, or make it writable/);
  assert.not.match(gw.output(), /version 2 refused/);

  const workers = await childPids(gw.child.pid!);
  assert.is(await gw.stop(), 0, 'the gateway exits on SIGTERM');
  await assertNoOrphans(workers);
  execFileSync('mount', ['-o', 'remount,rw', state], { timeout: 10_000 });
});

test.run();
