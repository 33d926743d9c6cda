// A version whose commands.update passed and whose health probe then failed is refused, the
// older one serving on. Its hook's success was recorded only once its workers ran, so every
// start of the gateway and every SIGHUP that tried the version again ran the migration again,
// against data it had migrated already. Recorded when it passed, it runs again only when the
// version's files change (README "at the gateway's start").
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway: an update that passed is not run again when only the probe failed');

const apps = tempDir('apppkg-update-probe-apps-');
const state = tempDir('apppkg-update-probe-state-');
const started: RunningGateway[] = [];
const pids = new Set<number>();

test.after(async () => {
  for (const gw of started) await gw.stop();
  await assertNoOrphans([...pids], 15_000);
  apps.remove();
  state.remove();
});

const LOGGED_UPDATE = 'echo "$APPPKG_APP_DIR" >> "$APPPKG_DATA_DIR/updates.log"';

/** Version `v` of the environ fixture with a commands.update that logs its runs; `healthy: false` answers its probe 503. */
function addVersion(v: string, healthy: boolean): string {
  const probe = healthy ? '200 OK' : '503 Service Unavailable';
  const dir = addPackage(apps.path, 'environ', `blog.${v}`, { 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`], [/start_response\("200 OK", \[\("Content-Type", "text\/plain"\)\]\)/, `start_response("${probe}", [("Content-Type", "text/plain")])`]] });
  writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: ${JSON.stringify(LOGGED_UPDATE)}\n`);
  return dir;
}

/** The versions whose update ran, in order (the basenames the hook logged). */
function updatesRun(): string[] {
  const file = join(state.path, 'apps', 'blog', 'data', 'updates.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.replace(/.*\//, '')) : [];
}

async function served(gw: RunningGateway): Promise<string> {
  const res = await request(`${gw.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? String(JSON.parse(body).version) : `${res.statusCode} ${body.trim()}`;
}

async function startGateway(): Promise<RunningGateway> {
  // A probe answered 503 refuses the version at start_timeout: 5 s, not the default 60.
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  blog: {workers: 1, start_timeout: 5}\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off', '--settle', '0']);
  started.push(gw);
  return gw;
}

async function keepPids(gw: RunningGateway): Promise<void> {
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
}

const refusal = (gw: RunningGateway, from: number) => waitFor(() => /blog: version 1\.1 refused/.test(gw.output().slice(from)), 90_000, () => `1.1 refused\n${gw.output().slice(from)}`);

test('1.1: update passes, probe fails: refused, 1.0 serves; SIGHUP and a restart of the gateway retry it without the update; a changed file runs it again', async () => {
  addVersion('1.0', true);
  let gw = await startGateway();
  assert.is(await served(gw), '1.0');
  await keepPids(gw);

  addVersion('1.1', false);
  await refusal(gw, 0);
  assert.equal(updatesRun(), ['blog.1.1']);
  assert.is(await served(gw), '1.0');

  // SIGHUP retries the refused version: its start, not its migration.
  let from = gw.output().length;
  gw.child.kill('SIGHUP');
  await waitFor(() => /blog: version 1\.1 (still )?refused/.test(gw.output().slice(from)), 90_000, () => `1.1 tried again at SIGHUP\n${gw.output().slice(from)}`);
  assert.not.match(gw.output().slice(from), 'running commands.update of version 1.1');
  assert.equal(updatesRun(), ['blog.1.1'], 'no second run at SIGHUP');
  assert.is(await served(gw), '1.0');
  await keepPids(gw);
  await gw.stop();

  // A restart of the gateway: 1.1 is tried, refused again by its probe, 1.0 serves; no update.
  gw = await startGateway();
  await refusal(gw, 0);
  await waitFor(async () => (await served(gw)) === '1.0', 60_000, '1.0 serving after the restart');
  assert.not.match(gw.output(), 'running commands.update');
  assert.equal(updatesRun(), ['blog.1.1'], 'no second run at the gateway\'s start');
  await keepPids(gw);

  // Its files changed (the probe mended): a new deploy of it, whose update runs again.
  from = gw.output().length;
  const file = join(apps.path, 'blog.1.1', 'environ_app.py');
  writeFileSync(file, readFileSync(file, 'utf8').replace('503 Service Unavailable', '200 OK'));
  await waitFor(async () => (await served(gw)) === '1.1', 90_000, () => `1.1 serving once mended\n${gw.output().slice(from)}`);
  assert.equal(updatesRun(), ['blog.1.1', 'blog.1.1']);
  await keepPids(gw);
});

test.run();
