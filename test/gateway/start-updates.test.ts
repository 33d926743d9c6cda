// Which version serves at the gateway's start (probe-n findings 1 and 5), through the real CLI:
// a version whose commands.update has not succeeded (copied in while the gateway was down, its
// hook cut by SIGTERM, its hook failed) is deployed from the installed one as while the gateway
// runs, never served straight away; and requests wait while older versions are still tried.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus as status } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('gateway start: versions whose update has not run');

interface Env {
  apps: string;
  state: string;
  args: string[];
  gw: RunningGateway;
}
const opened: Env[] = [];
/** The directories of the test running, removed as it ends (and, should that hook fail, when the file ends). */
const made: ReturnType<typeof tempDir>[] = [];

/**
 * An environment file of `defaults: workers: 1`: which version serves, and when its update runs,
 * is the same with one worker as with two, and a worker costs about half a gateway's start.
 */
function oneWorker(dir: string): string {
  const file = join(dir, 'environment.yaml');
  writeFileSync(file, 'defaults:\n  workers: 1\n');
  return file;
}

/**
 * A gateway on a state root of its own, which starts with the interpreter probes of an earlier
 * test's (warmStateDir): no test here is about a first start's probing.
 */
async function open(setup: (appsDir: string) => void): Promise<Env> {
  const apps = tempDir('apppkg-start-upd-apps-');
  const state = warmStateDir('apppkg-start-upd-state-');
  made.push(apps, state);
  setup(apps.path);
  const args = ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', oneWorker(state.path), '--access-log', 'off', '--settle', '0'];
  const env = { apps: apps.path, state: state.path, args, gw: await startCli(args) };
  opened.push(env);
  return env;
}

/** Stops the gateway (SIGTERM) and starts it again on the same directories. */
async function restart(env: Env): Promise<void> {
  assert.is(await env.gw.stop(), 0);
  env.gw = await startCli(env.args);
}

// Each test's gateway stops as the test ends: left to the end of the file, the gateways of the
// tests before kept their workers and heartbeats going through every test after.
test.after.each(async () => {
  try {
    for (const env of opened.splice(0)) await env.gw.stop();
  } finally {
    for (const d of made.splice(0)) d.remove();
  }
});

test.after(() => {
  for (const d of made.splice(0)) d.remove();
});

/** Version `v` of the environ fixture whose commands.update is `update` (logging by default). */
function addVersion(appsDir: string, v: string, update = LOGGED_UPDATE): string {
  const dir = addPackage(appsDir, 'environ', `blog.${v}`, { 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] });
  writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: ${JSON.stringify(update)}\n`);
  return dir;
}
const LOGGED_UPDATE = 'echo "$APPPKG_APP_DIR" >> "$APPPKG_DATA_DIR/updates.log"';

/** The versions whose update ran, in order (the basenames the hook logged). */
function updatesRun(env: Env): string[] {
  const file = join(env.state, 'apps', 'blog', 'data', 'updates.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.replace(/.*\//, '')) : [];
}

async function served(gw: RunningGateway): Promise<string> {
  const res = await request(`${gw.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? String(JSON.parse(body).version) : `${res.statusCode} ${body.trim()}`;
}

test('a version copied in while the gateway was down runs its update first, the installed one serving meanwhile; a failed update is refused at every start', async () => {
  const env = await open((dir) => addVersion(dir, '1'));
  assert.is(await served(env.gw), '1');
  assert.equal(updatesRun(env), [], 'the first install runs commands.install, never update');

  addVersion(env.apps, '2');
  await restart(env);
  await waitFor(async () => (await served(env.gw)) === '2', 30_000, 'version 2 after its update', ASK_GATEWAY_EVERY_MS);
  assert.equal(updatesRun(env), ['blog.2']);
  assert.match(env.gw.output(), /blog: version 1 serving at \/blog\n[^]*running commands\.update of version 2[^]*version 2 takes over from version 1/);

  // Its update passed: the next start serves it at once, without running the hook again.
  await restart(env);
  assert.is(await served(env.gw), '2');
  assert.not.match(env.gw.output(), /running commands\.update/);
  assert.equal(updatesRun(env), ['blog.2']);

  // Whose update fails: refused at this start and at the next, version 2 serving; the next
  // start does not run the failed hook again on the same files (a restart is nobody's ask to),
  // and says so; SIGHUP does run it again.
  addVersion(env.apps, '3', `${LOGGED_UPDATE}; echo migrate-failed; exit 7`);
  const reasons: unknown[] = [];
  for (const round of [1, 2]) {
    await restart(env);
    const app = await waitFor(async () => {
      const a = (await status(env.gw)).apps[0];
      return a.problem?.code === 'APPPKG_COMMAND_FAILED' ? a : null;
    }, 30_000, `version 3's refusal in status (start ${round})`, ASK_GATEWAY_EVERY_MS);
    assert.is(await served(env.gw), '2');
    assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['3', 'failed'], ['2', 'serving'], ['1', 'standby']]);
    assert.match(app.versions[0].reason.message, /commands\.update.*exited with status 7/);
    reasons.push(app.versions[0].reason);
  }
  assert.equal(reasons[1], reasons[0], 'the same reason at the next start');
  // The history's event says what runs it again as the line does, systemctl's reload beside the signal.
  const refusedEvent = (await status(env.gw)).apps[0].history.find((e: any) => e.kind === 'refused' && e.message.includes('is not run again until'));
  assert.match(refusedEvent?.message ?? '', 'is not run again until a file in it changes or you send the gateway SIGHUP (`systemctl reload apppkg-gateway` under systemd): ');
  assert.equal(updatesRun(env), ['blog.2', 'blog.3'], 'the failed update ran at the first start only');
  assert.match(env.gw.output(), /version 3 refused: its commands\.update failed at \S+ with these same files; it is not run again \(change a file in it, or send the gateway SIGHUP \(`systemctl reload apppkg-gateway` under systemd\), to run it again\)/);
  // Refused at once, it is not "deployed now" either (the log said both).
  assert.not.match(env.gw.output(), /version 3 has not passed its commands\.update; it is deployed now/);
  assert.not.match(env.gw.output(), /running commands\.update/);
  env.gw.child.kill('SIGHUP');
  await waitFor(() => updatesRun(env).length === 3, 30_000, 'version 3\'s update run again after SIGHUP');
  assert.not.match(env.gw.output(), /version 3 (serving|takes over)/);
});

test('the installed version edited in place while the gateway was down runs its update at the next start, once', async () => {
  const env = await open((dir) => addVersion(dir, '1'));
  assert.is(await served(env.gw), '1');
  assert.is(await env.gw.stop(), 0);
  const code = join(env.apps, 'blog.1', 'environ_app.py');
  writeFileSync(code, readFileSync(code, 'utf8').replace(/VERSION = "1"/, 'VERSION = "1-edited"'));
  env.gw = await startCli(env.args);
  await waitFor(async () => (await served(env.gw)) === '1-edited', 30_000, 'the edited version 1', ASK_GATEWAY_EVERY_MS);
  assert.equal(updatesRun(env), ['blog.1']);
  assert.match(env.gw.output(), /running commands\.update of version 1/);
  // Its update passed with these files: the next start runs none.
  await restart(env);
  assert.is(await served(env.gw), '1-edited');
  assert.not.match(env.gw.output(), /running commands\.update/);
  assert.equal(updatesRun(env), ['blog.1']);
});

test('the installed version edited in place while the gateway runs runs its update when it restarts, and not again at the next start', async () => {
  const env = await open((dir) => addVersion(dir, '1'));
  assert.is(await served(env.gw), '1');
  const code = join(env.apps, 'blog.1', 'environ_app.py');
  writeFileSync(code, readFileSync(code, 'utf8').replace(/VERSION = "1"/, 'VERSION = "1-live"'));
  const yaml = join(env.apps, 'blog.1', 'app.yaml');
  writeFileSync(yaml, `${readFileSync(yaml, 'utf8')}x-edited: true\n`); // what restarts it in place
  await waitFor(async () => (await served(env.gw)) === '1-live', 30_000, 'the edited version 1', ASK_GATEWAY_EVERY_MS);
  assert.equal(updatesRun(env), ['blog.1']);
  await restart(env);
  assert.is(await served(env.gw), '1-live');
  assert.not.match(env.gw.output(), /running commands\.update/);
  assert.equal(updatesRun(env), ['blog.1']);
});

test('a marker from before updates were recorded (first install only) decides nothing: the newest version serves as it did, and becomes the baseline', async () => {
  const env = await open((dir) => addVersion(dir, '1'));
  assert.is(await served(env.gw), '1');
  addVersion(env.apps, '2');
  await waitFor(async () => (await served(env.gw)) === '2', 30_000, 'version 2 deployed while running', ASK_GATEWAY_EVERY_MS);
  // What an older gateway left: version 1's first install, version 2 migrated unrecorded.
  assert.is(await env.gw.stop(), 0);
  const marker = join(env.state, 'apps', 'blog', 'installed.json');
  writeFileSync(marker, `${JSON.stringify({ version: '1', dir: join(env.apps, 'blog.1'), at: new Date().toISOString() })}\n`);
  const updatesBefore = updatesRun(env);
  env.gw = await startCli(env.args);
  // Not version 1 against a database version 2 migrated, nor version 2's update run again.
  assert.is(await served(env.gw), '2');
  assert.not.match(env.gw.output(), /version 1 serving|running commands\.update/);
  assert.equal(updatesRun(env), updatesBefore);
  const adopted = JSON.parse(readFileSync(marker, 'utf8'));
  assert.equal([adopted.version, adopted.by, adopted.updates], ['2', 'adopted', true]);
  // From here on a version copied in while it is down runs its update first.
  addVersion(env.apps, '3');
  await restart(env);
  await waitFor(async () => (await served(env.gw)) === '3', 30_000, 'version 3 after its update', ASK_GATEWAY_EVERY_MS);
  assert.equal(updatesRun(env), [...updatesBefore, 'blog.3']);
});

test('a version whose update a SIGTERM cut runs it again at the next start before it serves', async () => {
  const env = await open((dir) => addVersion(dir, '1'));
  const hold = join(env.state, 'apps', 'blog', 'data', 'hold');
  writeFileSync(hold, '');
  addVersion(env.apps, '2', `while [ -e "$APPPKG_DATA_DIR/hold" ]; do sleep 0.1; done; ${LOGGED_UPDATE}`);
  await waitFor(() => /running commands\.update of version 2/.test(env.gw.output()), 30_000, 'version 2\'s update to run');
  await restart(env);
  assert.is(await served(env.gw), '1');
  assert.match(env.gw.output(), /running commands\.update of version 2/);
  rmSync(hold);
  await waitFor(async () => (await served(env.gw)) === '2', 30_000, 'version 2 once its update passed', ASK_GATEWAY_EVERY_MS);
  assert.equal(updatesRun(env), ['blog.2']);
});

test('while the newest version is refused at the start and an older one still starts, requests wait for it instead of a 503 "refused"', async () => {
  const apps = tempDir('apppkg-start-wait-apps-');
  const state = warmStateDir('apppkg-start-wait-state-');
  // Version 1 imports for 6 s; version 2 fails its import at once; `other` is judged (and the
  // apps published) in between, while version 1 still imports.
  addPackage(apps.path, 'environ', 'blog.1', { 'environ_app.py': [[/^import json/m, 'import json\nimport time\ntime.sleep(6)']] });
  addPackage(apps.path, 'environ', 'blog.2', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 2 is broken on purpose")']] });
  addPackage(apps.path, 'environ', 'other', { 'environ_app.py': [[/^import json/m, 'import json\nimport time\ntime.sleep(2.5)']] });
  const probe = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const args = ['--apps', apps.path, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', oneWorker(state.path), '--access-log', 'off', '--settle', '0'];
  const starting = startCli(args, { ms: 60_000 });
  const answers: Array<Promise<string>> = [];
  try {
    const until = Date.now() + 9000;
    while (Date.now() < until) {
      answers.push(request(`http://127.0.0.1:${port}/blog/`, { headersTimeout: 60_000 }).then(
        async (res) => {
          const body = await res.body.text();
          return res.statusCode === 200 ? `200 version ${JSON.parse(body).version}` : `${res.statusCode} ${body.trim()}`;
        },
        (err) => `error ${(err as Error).message}`,
      ));
      await new Promise((r) => setTimeout(r, 250));
    }
    const said = await Promise.all(answers);
    const answered = said.filter((a) => !a.startsWith('error')); // sent before the gateway listened
    assert.ok(answered.length > 10, said.join('\n'));
    for (const a of answered) assert.is(a, '200 version 1');
  } finally {
    const gw = await starting.catch(() => null);
    await gw?.stop();
    apps.remove();
    state.remove();
  }
});

test.run();
