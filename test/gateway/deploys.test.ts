import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, clientLoop } from '../helpers/apps-dir.js';
import { rescanned, scanOf } from '../helpers/rescan.js';
import { gatewayStatus as status } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('gateway deploys');

interface Env {
  apps: ReturnType<typeof tempDir>;
  state: ReturnType<typeof tempDir>;
  gw: RunningGateway;
}
const opened: Env[] = [];

/**
 * A gateway over the apps `setup` puts in a directory of their own. Each version runs `workers`
 * Python workers (`defaults: workers:` of an environment file beside its state): one, unless a
 * test is about a second, as a worker costs about half a gateway's start in CPU and a switch,
 * refusal or log line is the same with one.
 */
async function start(setup: (appsDir: string) => void, extra: string[] = [], workers = 1): Promise<Env> {
  const apps = tempDir('apppkg-deploy-apps-');
  const state = warmStateDir('apppkg-deploy-state-');
  setup(apps.path);
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, `defaults:\n  workers: ${workers}\n`, { mode: 0o600 });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, ...extra]);
  return { apps, state, gw };
}

async function close(env: Env | undefined): Promise<void> {
  if (!env) return;
  await env.gw.stop();
  env.apps.remove();
  env.state.remove();
}

/** A gateway of the test running alone (start), stopped as the test ends. */
async function open(setup: (appsDir: string) => void, extra: string[] = [], workers = 1): Promise<Env> {
  const env = await start(setup, extra, workers);
  opened.push(env);
  return env;
}

// Each test's gateway stops as the test ends: left to the end of the file, the gateways of the
// tests before kept their workers, heartbeats and rescans going through every test after.
test.after.each(async () => {
  for (const env of opened.splice(0)) await close(env);
});

/** What `gw` logs from now on: for a test on a gateway an earlier test logged on too. */
function outputFromNow(gw: RunningGateway): () => string {
  const from = gw.output().length;
  return () => gw.output().slice(from);
}

/**
 * For the tests whose clients loop unpaced while versions switch: a deploy seen within a quarter
 * of a second and started once its directory has been still for 0.3 s, not 1 s (the default),
 * as each second a switch takes is a second of both cores' load. 0.3 s still outlasts a copy.
 */
const SWIFT_SWITCHES = ['--watch-interval', '0.25', '--settle', '0.3'];

const version = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });


async function versionServed(gw: RunningGateway, path = '/blog/'): Promise<string> {
  const res = await request(`${gw.url}${path}`);
  return String(((await res.body.json()) as { version: string }).version);
}

test('a new version takes over while a client loops, and removing it rolls back: no failed request', async () => {
  const { apps, gw } = await open((dir) => addPackage(dir, 'environ', 'blog.1.0', version('1.0')), SWIFT_SWITCHES);
  assert.is(await versionServed(gw), '1.0');
  const loop = clientLoop(`${gw.url}/blog/`, 4);
  await waitFor(() => loop.result.sent > 50, 10_000, 'the loop to run');
  addPackage(apps.path, 'environ', 'blog.1.1', version('1.1'));
  await waitFor(() => loop.result.versions.includes('1.1'), 30_000, 'version 1.1 to serve');
  const oldPids = (await status(gw)).apps[0].workers.map((w: any) => w.pid);
  await waitFor(() => loop.result.sent > 200 + loop.result.sent / 2, 10_000, 'more requests');
  rmSync(join(apps.path, 'blog.1.1'), { recursive: true });
  await waitFor(() => loop.result.versions.at(-1) === '1.0', 30_000, 'the rollback to 1.0');
  const sentBefore = loop.result.sent;
  await waitFor(() => loop.result.sent > sentBefore + 100, 10_000, 'requests after the rollback');
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  // Four clients at once: around each switch, answers from the draining version may still
  // interleave with the new one's, so only the order of the phases is checked.
  assert.is(result.versions[0], '1.0');
  assert.ok(result.versions.includes('1.1'));
  assert.is(result.versions.at(-1), '1.0');
  assert.ok(result.sent > 300, `sent ${result.sent}`);
  // The drained version's workers are gone.
  await assertNoOrphans(oldPids, 15_000);
});

/**
 * A new version refused (its update hook failing, hanging, its import failing), each test on the
 * one gateway serving blog 1.0 that the suite starts: a refusal leaves what serves as it was, so
 * the next test's version, numbered above the last one refused, is judged as on a fresh gateway,
 * and each test reads the log from its own start. Three gateways' starts were one each.
 */
const refusals = suite('gateway deploys: a new version refused (one gateway serving blog 1.0)');
let refusing: Env | undefined;
// A bound the failing hook (1 s) stays well under on a loaded machine, and the hanging one reaches.
const HOOK_TIMEOUT_S = 4;

refusals.before(async () => {
  refusing = await start((dir) => addPackage(dir, 'environ', 'blog.1.0', version('1.0')), ['--hook-timeout', String(HOOK_TIMEOUT_S)]);
});

refusals.after(async () => close(refusing));

refusals('a new version whose update hook fails never serves; the old one keeps serving and status says why', async () => {
  const { apps, gw } = refusing!;
  const output = outputFromNow(gw);
  const failing = addPackage(apps.path, 'environ', 'blog.2.0', version('2.0'));
  writeFileSync(join(failing, 'app.yaml'), `${readFileSync(join(failing, 'app.yaml'), 'utf8')}commands:\n  update: echo migrating; sleep 1; exit 3\n`);
  // Status read back to back while version 2.0 is judged: it is `starting` while its hook runs,
  // and its refusal shows whole or not at all (the problem came before the version's `failed`
  // and the history's event once: a script that waited for the one read the other stale).
  const statesSeen = new Set<string>();
  const shown = await waitFor(async () => {
    const app = (await status(gw)).apps[0];
    const state = app.versions.find((v: any) => v.version === '2.0')?.state;
    if (state) statesSeen.add(state);
    return app.problem?.code === 'APPPKG_COMMAND_FAILED' ? { state, history: app.history } : null;
  }, 30_000, 'the refusal in status');
  assert.is(shown.state, 'failed', 'the problem is shown with the version failed, in the same status');
  assert.ok(shown.history.some((e: any) => e.kind === 'refused' && e.version === '2.0'), 'and with the refusal in the history');
  assert.ok(statesSeen.has('starting'), `version 2.0 was seen starting while its hook ran: ${[...statesSeen]}`);
  assert.is(await versionServed(gw), '1.0');
  const s = await status(gw);
  const refused = s.apps[0].versions.find((v: any) => v.version === '2.0');
  assert.is(refused.state, 'failed');
  assert.match(refused.reason.message, /commands\.update.*exited with status 3/);
  assert.match(output(), /blog: version 2\.0 refused; version 1\.0 keeps serving/);
});

refusals('a new version whose update hook hangs is stopped at --hook-timeout with all it started; status and the log say so, and the old version keeps serving', async () => {
  const { apps, state, gw } = refusing!;
  const output = outputFromNow(gw);
  const hanging = addPackage(apps.path, 'environ', 'blog.3.0', version('3.0'));
  // The shell, a child in its group and one in a session of its own: each must go.
  const update = 'echo $$ >> "$APPPKG_DATA_DIR/hook.pids"; sleep 300 & echo $! >> "$APPPKG_DATA_DIR/hook.pids"; setsid sleep 301 & echo $! >> "$APPPKG_DATA_DIR/hook.pids"; wait';
  writeFileSync(join(hanging, 'app.yaml'), `${readFileSync(join(hanging, 'app.yaml'), 'utf8')}commands:\n  update: ${JSON.stringify(update)}\n`);
  const pidFile = join(state.path, 'apps', 'blog', 'data', 'hook.pids');
  const pids = await waitFor(() => {
    const read = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim().split('\n').map(Number) : [];
    return read.length === 3 ? read : null;
  }, 30_000, 'the hook to start its processes');
  // Before: `starting` for as long as the hook hung, with no bound that status or the log named.
  const app = await waitFor(async () => {
    const now = (await status(gw)).apps[0];
    return now.problem?.code === 'APPPKG_COMMAND_TIMEOUT' ? now : null;
  }, 30_000, 'the refusal at --hook-timeout', ASK_GATEWAY_EVERY_MS);
  const refused = app.versions.find((v: any) => v.version === '3.0');
  assert.is(refused.state, 'failed');
  assert.match(refused.reason.message, new RegExp(`^commands\\.update \\(.*\\) did not finish within ${HOOK_TIMEOUT_S} s \\(--hook-timeout\\): it was stopped, with what it started$`));
  assert.match(refused.reason.hint, /--hook-timeout SECONDS/);
  assert.is(await versionServed(gw), '1.0');
  assert.match(output(), new RegExp(`blog: version 3\\.0 refused; version 1\\.0 keeps serving:\n.*did not finish within ${HOOK_TIMEOUT_S} s`));
  await assertNoOrphans(pids, 10_000);
});

refusals('a new version that fails to import never serves', async () => {
  const { apps, gw } = refusing!;
  const output = outputFromNow(gw);
  addPackage(apps.path, 'environ', 'blog.4.0', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("no such thing")']] });
  await waitFor(async () => (await status(gw)).apps[0].problem?.code === 'APPPKG_APP_IMPORT_FAILED', 30_000, 'the refusal', ASK_GATEWAY_EVERY_MS);
  assert.is(await versionServed(gw), '1.0');
  assert.match(output(), /environ_app\.py:\d+/);
});

// `apppkg-gateway test` said why a hook's `#!/usr/bin/env NAME` script with no NAME exited 127
// (cli/commands-init-run); a deploy's hook is run by the gateway itself (version-judge.ts
// runHook), whose refusal, history and app log are all its user reads of it.
refusals('a new version whose update hook is a #!/usr/bin/env script with no such program: the refusal in status, the history, and the logs say why, with the PATH', async () => {
  const { apps, state, gw } = refusing!;
  const output = outputFromNow(gw);
  const dir = addPackage(apps.path, 'environ', 'blog.5.0', version('5.0'));
  writeFileSync(join(dir, 'nine.py'), '#!/usr/bin/env apppkg-python9\nprint(1)\n', { mode: 0o755 });
  writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: ./nine.py --migrate\n`);
  const app = await waitFor(async () => {
    const now = (await status(gw)).apps[0];
    return now.problem?.code === 'APPPKG_COMMAND_FAILED' && now.versions.find((v: any) => v.version === '5.0')?.state === 'failed' ? now : null;
  }, 30_000, 'version 5.0 refused', ASK_GATEWAY_EVERY_MS);
  const why = `commands.update: \`./nine.py --migrate\` runs ./nine.py, a script (${join(dir, 'nine.py')}) whose #! line runs apppkg-python9 through env, which is not on the app's PATH, which searches ${join(state.path, 'apps', 'blog', 'run')}`;
  const appLog = join(state.path, 'apps', 'blog', 'log', 'app.log');
  const refused = app.versions.find((v: any) => v.version === '5.0');
  const event = app.history.find((e: any) => e.kind === 'refused' && e.version === '5.0');
  for (const [where, reason] of [['the version', refused.reason], ['the history', event?.reason]]) {
    assert.match(reason?.message ?? '', /^commands\.update \(\.\/nine\.py --migrate\) exited with status 127$/, `${where}: ${JSON.stringify(reason)}`);
    assert.is(reason.log, appLog, where);
    // The log's last lines are the app's output: shown, since the app runs as the gateway's own
    // user, root's too (withheld only while some app runs as another: docs/admin.md).
    assert.ok(reason.tail?.some((line: string) => line.includes(why)), `${where}: the diagnosis among the log's last lines: ${JSON.stringify(reason.tail)}`);
  }
  const log = readFileSync(appLog, 'utf8');
  assert.match(log, why);
  assert.match(log, "fix: correct its #! line (`#!/usr/bin/env python` runs the app's interpreter, on its PATH), or run it with its interpreter in commands.update: `python ./nine.py`");
  assert.match(output(), /blog: version 5\.0 refused; version 1\.0 keeps serving/);
  assert.match(output(), why);
  assert.is(await versionServed(gw), '1.0');
});

/**
 * A version removed beside a refused one, both tests on the one gateway serving blog 1 that the
 * suite starts: the first removes the refused version and leaves blog 1 serving alone, as it
 * began; the second, which removes the serving one, comes last, with its refused version
 * numbered apart from the first test's. Two gateways' starts were one each.
 */
const removals = suite('gateway deploys: a version removed beside a refused one (one gateway serving blog 1)');
let removing: Env | undefined;

removals.before(async () => {
  removing = await start((dir) => addPackage(dir, 'environ', 'blog.1', version('1')));
});

removals.after(async () => close(removing));

removals('a refused version whose directory is removed: status (JSON and the command) forgets its refusal at the next look, not at the next deploy', async () => {
  const { apps, gw } = removing!;
  addPackage(apps.path, 'environ', 'blog.2', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 2 is broken on purpose")']] });
  await waitFor(async () => (await status(gw)).apps[0].problem?.code === 'APPPKG_APP_IMPORT_FAILED', 30_000, 'version 2 refused, and said', ASK_GATEWAY_EVERY_MS);
  const said = await runCli(['status', '--admin', gw.adminUrl!.replace(/^http:\/\//, '')], { ms: 15_000 });
  assert.match(said.stdout, /APPPKG_APP_IMPORT_FAILED/, 'the command says it while version 2 is there');
  rmSync(join(apps.path, 'blog.2'), { recursive: true });
  const app = await waitFor(async () => {
    const now = (await status(gw)).apps[0];
    return now.problem === null && now.versions.length === 1 ? now : null;
  }, 15_000, 'the refusal of the removed version 2 to leave status', ASK_GATEWAY_EVERY_MS);
  assert.equal(app.versions.map((v: any) => [v.version, v.state, v.reason]), [['1', 'serving', null]]);
  assert.is(app.state, 'ready');
  const r = await runCli(['status', '--admin', gw.adminUrl!.replace(/^http:\/\//, '')], { ms: 15_000 });
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, /APPPKG_APP_IMPORT_FAILED|broken on purpose/);
  assert.is(await versionServed(gw), '1');
});

removals('the serving version removed while the only other one is refused: it stops serving, said, and the app answers 503 with that refusal', async () => {
  const { apps, gw } = removing!;
  const output = outputFromNow(gw);
  addPackage(apps.path, 'environ', 'blog.3', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 3 is broken on purpose")']] });
  await waitFor(async () => (await status(gw)).apps[0].problem?.code === 'APPPKG_APP_IMPORT_FAILED', 30_000, 'version 3 refused', ASK_GATEWAY_EVERY_MS);
  assert.is(await versionServed(gw), '1');
  const pids = (await status(gw)).apps[0].workers.map((w: any) => w.pid as number);
  rmSync(join(apps.path, 'blog.1'), { recursive: true });
  // Its workers had gone on serving a version whose directory was gone, unsaid.
  const answer = await waitFor(async () => {
    const res = await request(`${gw.url}/blog/`);
    const text = await res.body.text();
    return res.statusCode === 503 ? text : undefined;
  }, 15_000, 'blog to stop serving the removed version 1', ASK_GATEWAY_EVERY_MS);
  assert.match(answer, 'APPPKG_APP_IMPORT_FAILED');
  assert.match(output(), 'blog: version 1 removed, and no other version can serve (version 3 was refused): blog answers 503 until one does');
  // Version 1 is listed draining while its workers end, then not at all.
  const app = await waitFor(async () => {
    const now = (await status(gw)).apps[0];
    return now.versions.length === 1 ? now : undefined;
  }, 40_000, 'version 1 to finish draining', ASK_GATEWAY_EVERY_MS);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['3', 'failed']]);
  assert.is(app.problem?.code, 'APPPKG_APP_IMPORT_FAILED');
  await assertNoOrphans(pids);
});

test('a removed refused version leaves the refusal of another still there: status says that one', async () => {
  const { apps, gw } = await open((dir) => addPackage(dir, 'environ', 'blog.1', version('1')));
  const failing = addPackage(apps.path, 'environ', 'blog.2', version('2'));
  writeFileSync(join(failing, 'app.yaml'), `${readFileSync(join(failing, 'app.yaml'), 'utf8')}commands:\n  update: exit 3\n`);
  await waitFor(async () => (await status(gw)).apps[0].problem?.code === 'APPPKG_COMMAND_FAILED', 30_000, 'version 2 refused', ASK_GATEWAY_EVERY_MS);
  addPackage(apps.path, 'environ', 'blog.3', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 3 is broken on purpose")']] });
  await waitFor(async () => (await status(gw)).apps[0].problem?.code === 'APPPKG_APP_IMPORT_FAILED', 30_000, 'version 3 refused', ASK_GATEWAY_EVERY_MS);
  rmSync(join(apps.path, 'blog.3'), { recursive: true });
  const app = await waitFor(async () => {
    const now = (await status(gw)).apps[0];
    return now.problem?.code === 'APPPKG_COMMAND_FAILED' ? now : null;
  }, 15_000, 'version 2\'s refusal in status once version 3 is gone', ASK_GATEWAY_EVERY_MS);
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['2', 'failed'], ['1', 'serving']]);
  assert.is(await versionServed(gw), '1');
});

test('the serving version\'s app.yaml edited into a broken one: it keeps serving, and its history says so once per breakage', async () => {
  const { apps, gw } = await open((dir) => addPackage(dir, 'environ', 'blog.1.0', version('1.0')), ['--watch-interval', '0']);
  const yamlFile = join(apps.path, 'blog.1.0', 'app.yaml');
  const good = readFileSync(yamlFile, 'utf8');
  const brokenEvents = async () => (await status(gw)).apps.find((a: any) => a.name === 'blog').history.filter((e: any) => e.kind === 'broken');
  writeFileSync(yamlFile, `${good}workers: [\n`);
  gw.child.kill('SIGHUP');
  const [first] = await waitFor(async () => ((await brokenEvents()).length > 0 ? brokenEvents() : null), 15_000, 'the breakage in the history', ASK_GATEWAY_EVERY_MS);
  assert.is(first.version, '1.0');
  assert.ok(/^app\.yaml of version 1\.0 no longer loads: APPPKG_DESC_YAML_SYNTAX at \S+blog\.1\.0\/app\.yaml:5:10: /.test(first.message), first.message);
  assert.match(first.message, /version 1\.0 runs on as it was started$/);
  assert.is(first.reason.code, 'APPPKG_DESC_YAML_SYNTAX');
  assert.match(first.reason.message, /app\.yaml:5:10: workers: expected valid YAML/);
  assert.ok(first.reason.hint.length > 0);
  assert.is(await versionServed(gw), '1.0');
  // The log says so too: "skipping" it read as the app stopped.
  assert.match(gw.output(), /apppkg-gateway: blog: version 1\.0 runs on as it was started; its app\.yaml no longer loads:\n {2}\S+blog\.1\.0\/app\.yaml:5:10: workers: /);
  assert.not.match(gw.output(), /skipping/);
  // The same breakage seen again is not a new event; another one is.
  await rescanned(gw);
  writeFileSync(yamlFile, `${good}wrokers: 2\n`);
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await brokenEvents()).length > 1, 15_000, 'the second breakage in the history', ASK_GATEWAY_EVERY_MS);
  const events = await brokenEvents();
  assert.is(events.length, 2, JSON.stringify(events));
  assert.match(events[1].message, /APPPKG_DESC_UNKNOWN_KEY at \S+app\.yaml:5:1: wrokers:/);
  assert.is(await versionServed(gw), '1.0');
});

test('the serving version\'s app.yaml broken while an older version is there: the serving one runs on, no rollback by itself; status lists both, the broken one marked, and the admin\'s rollback reaches the older', async () => {
  const tokens = tempDir('apppkg-deploy-token-');
  const token = join(tokens.path, 'token');
  writeFileSync(token, 'deploy-token\n', { mode: 0o600 });
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.0', version('1.0'));
    addPackage(dir, 'environ', 'blog.1.1', version('1.1'));
  }, ['--watch-interval', '0', '--admin-token', token]);
  const status = async (g: RunningGateway) => (await request(`${g.adminUrl}/status`, { headers: { authorization: 'Bearer deploy-token' } })).body.json() as Promise<any>;
  assert.is(await versionServed(gw), '1.1');
  const yamlFile = join(apps.path, 'blog.1.1', 'app.yaml');
  writeFileSync(yamlFile, `${readFileSync(yamlFile, 'utf8')}workers: [\n`);
  // Its scan's end: each app judged, so a switch to 1.0, had the breakage made one, is done.
  await rescanned(gw, 30_000, status);
  assert.ok((await status(gw)).apps.find((a: any) => a.name === 'blog').history.some((e: any) => e.kind === 'broken'), 'the breakage in the history');
  assert.is(await versionServed(gw), '1.1');
  assert.not.match(gw.output(), /version 1\.0 takes over/);
  // Status still lists its versions, the serving one marked with why, and not among the
  // packages "not served"; the admin can roll back to the one below (probe-n finding 6).
  const s = await status(gw);
  const app = s.apps.find((a: any) => a.name === 'blog');
  assert.equal(app.versions.map((v: any) => [v.version, v.state]), [['1.1', 'serving'], ['1.0', 'standby']]);
  assert.is(app.versions[0].reason.code, 'APPPKG_DESC_YAML_SYNTAX');
  assert.match(app.versions[0].reason.message, /blog\.1\.1\/app\.yaml:\d+:\d+: /);
  assert.equal(s.broken, []);
  const admin = gw.adminUrl!.replace(/^http:\/\//, '');
  const said = await runCli(['status', '--admin', admin, '--admin-token', token], { ms: 15_000 });
  assert.match(said.stdout, /version 1\.1 serving: .*\n\s+its app\.yaml no longer loads \(it runs on as it was started\): APPPKG_DESC_YAML_SYNTAX: /);
  assert.not.match(said.stdout, /broken packages/);
  const rolled = await runCli(['rollback', 'blog', '--admin', admin, '--admin-token', token], { ms: 60_000 });
  tokens.remove();
  assert.is(rolled.status, 0, rolled.stderr);
  assert.is(await versionServed(gw), '1.0');
  await rescanned(gw, 30_000, status);
  assert.is(await versionServed(gw), '1.0', 'the rollback holds at the next look');
  // A newer version takes over.
  addPackage(apps.path, 'environ', 'blog.1.2', version('1.2'));
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await versionServed(gw)) === '1.2', 30_000, 'version 1.2 after SIGHUP', ASK_GATEWAY_EVERY_MS);
});

test('a build of a release (blog.1.10+build5) serves over the release and its release candidate, and a newer build over it', async () => {
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.10rc1', version('1.10rc1'));
    addPackage(dir, 'environ', 'blog.1.10', version('1.10'));
    addPackage(dir, 'environ', 'blog.1.10+build5', version('1.10+build5'));
  });
  assert.is(await versionServed(gw), '1.10+build5');
  const listed = (await status(gw)).apps[0].versions.map((v: any) => v.version);
  assert.equal(listed, ['1.10+build5', '1.10', '1.10rc1']);
  addPackage(apps.path, 'environ', 'blog.1.10+build12', version('1.10+build12'));
  await waitFor(async () => (await versionServed(gw)) === '1.10+build12', 30_000, 'build 12 to serve', ASK_GATEWAY_EVERY_MS);
});

test('SIGHUP picks up a new version when the watcher is off', async () => {
  const { apps, gw } = await open((dir) => addPackage(dir, 'environ', 'blog.1.0', version('1.0')), ['--watch-interval', '0']);
  const { started } = await scanOf(gw);
  addPackage(apps.path, 'environ', 'blog.1.1', version('1.1'));
  // A window that must pass with nothing happening: no scan, no switch.
  await new Promise((r) => setTimeout(r, 3000));
  assert.is(await versionServed(gw), '1.0', 'nothing changes without SIGHUP');
  assert.is((await scanOf(gw)).started, started, 'nothing looked at the directory without SIGHUP');
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await versionServed(gw)) === '1.1', 30_000, 'version 1.1 after SIGHUP', ASK_GATEWAY_EVERY_MS);
  assert.match(gw.output(), /SIGHUP/);
});

test('a symlink to a version directory is followed; switching it switches the version', async () => {
  const releases = tempDir('apppkg-releases-');
  try {
    addPackage(releases.path, 'environ', 'blog.1.0', version('1.0'));
    addPackage(releases.path, 'environ', 'blog.2.0', version('2.0'));
    const { apps, gw } = await open((dir) => symlinkSync(join(releases.path, 'blog.1.0'), join(dir, 'blog')));
    assert.is(await versionServed(gw), '1.0');
    // The way deploy tools switch a symlink: a new link renamed over the old one.
    symlinkSync(join(releases.path, 'blog.2.0'), join(apps.path, '.blog.next'));
    renameSync(join(apps.path, '.blog.next'), join(apps.path, 'blog'));
    await waitFor(async () => (await versionServed(gw)) === '2.0', 30_000, 'version 2.0 through the switched link', ASK_GATEWAY_EVERY_MS);
  } finally {
    releases.remove();
  }
});

test('a link to releases named by their time alone (Capistrano\'s blog -> releases/20261124083000): switching it to a newer release is a deploy, its commands.update runs and no request fails; switching back is a rollback', async () => {
  const releases = tempDir('apppkg-releases-');
  try {
    const release = (stamp: string, v: string) => {
      const dir = addPackage(releases.path, 'environ', stamp, version(v));
      writeFileSync(join(dir, 'app.yaml'), `${readFileSync(join(dir, 'app.yaml'), 'utf8')}commands:\n  update: echo ${v} >> "$APPPKG_DATA_DIR/updates"\n`);
    };
    release('20261124083000', '1');
    release('20261125090000', '2');
    const { apps, gw, state } = await open((dir) => symlinkSync(join(releases.path, '20261124083000'), join(dir, 'blog')), SWIFT_SWITCHES);
    const switchTo = (stamp: string) => {
      symlinkSync(join(releases.path, stamp), join(apps.path, '.blog.next'));
      renameSync(join(apps.path, '.blog.next'), join(apps.path, 'blog'));
    };
    const updates = () => (existsSync(join(state.path, 'apps/blog/data/updates')) ? readFileSync(join(state.path, 'apps/blog/data/updates'), 'utf8').split('\n').filter(Boolean) : []);
    assert.is(await versionServed(gw), '1');
    const loop = clientLoop(`${gw.url}/blog/`, 4);
    await waitFor(() => loop.result.sent > 50, 10_000, 'the loop to run');
    switchTo('20261125090000');
    await waitFor(() => loop.result.versions.at(-1) === '2', 30_000, 'the newer release to serve');
    assert.equal(updates(), ['2'], 'the newer release\'s commands.update ran');
    assert.match(gw.output(), /blog: version 20261125090000 takes over from version 20261124083000/);
    switchTo('20261124083000');
    await waitFor(() => loop.result.versions.at(-1) === '1', 30_000, 'the older release to serve again');
    const result = await loop.stop();
    assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
    assert.equal(updates(), ['2'], 'a rollback runs no update');
    assert.match(gw.output(), /blog: rolling back to version 20261124083000: its commands\.update is not run/);
  } finally {
    releases.remove();
  }
});

test('a symlink blog -> blog.1.9 beside blog.1.10 does not pin the version: 1.10 serves, and the log says so once with the fix; a link to the highest says nothing', async () => {
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.9', version('1.9'));
    addPackage(dir, 'environ', 'blog.1.10', version('1.10'));
    symlinkSync('blog.1.9', join(dir, 'blog'));
    addPackage(dir, 'environ', 'shop.1.0', version('1.0'));
    addPackage(dir, 'environ', 'shop.2.0', version('2.0'));
    symlinkSync('shop.2.0', join(dir, 'shop'));
  }, ['--watch-interval', '0']);
  assert.is(await versionServed(gw), '1.10');
  const said = 'blog: the link blog -> blog.1.9 does not pin the version: a link is one more directory of blog, and the highest version beside it serves (blog.1.10); ' +
    'to serve the version the link names, keep the other versions out of the apps directory (in /srv/releases, say) or remove blog.1.10';
  assert.ok(gw.output().includes(said), gw.output());
  assert.not.match(gw.output(), /the link shop/);
  await rescanned(gw);
  rmSync(join(apps.path, 'blog.1.10'), { recursive: true });
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await versionServed(gw)) === '1.9', 30_000, 'the link\'s version once 1.10 is gone', ASK_GATEWAY_EVERY_MS);
  assert.is(gw.output().split(said).length, 2, 'said once, not at every look');
});

test('a symlink that leads nowhere, or round in a loop, is said once and answers 503 at its name; a version beside it still serves', async () => {
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.0', version('1.0'));
    symlinkSync('gone.2026.11.24', join(dir, 'gone'));
    symlinkSync('round', join(dir, 'round'));
    // The link of a version whose target was removed: blog.1.0 still serves blog.
    symlinkSync('blog.2.0', join(dir, 'blog'));
  });
  assert.is(await versionServed(gw), '1.0');
  const said = (name: string, target: string, which: string) => new RegExp(`skipping ${apps.path}/${name}:\n {2}${apps.path}/${name} is a symlink to ${target}, which ${which}\n {4}fix: point it at an app package`);
  assert.match(gw.output(), said('gone', 'gone\\.2026\\.11\\.24', 'does not exist'));
  assert.match(gw.output(), said('round', 'round', 'leads back round to a symlink \\(a loop\\)'));
  assert.match(gw.output(), said('blog', 'blog\\.2\\.0', 'does not exist'));
  const gone = await request(`${gw.url}/gone/`);
  assert.is(gone.statusCode, 503);
  assert.match(await gone.body.text(), /APPPKG_APPS_LINK_BROKEN/);
  const broken = (await status(gw)).broken.map((b: any) => [b.dir, b.code]);
  assert.equal(broken.filter(([dir]: string[]) => dir.endsWith('/gone')), [[join(apps.path, 'gone'), 'APPPKG_APPS_LINK_BROKEN']]);
  // Said once, not at every look (--watch-interval 2 s by default): SIGHUP forces a look.
  await rescanned(gw);
  assert.is(gw.output().split(`skipping ${apps.path}/gone:`).length, 2);
});

test('an app.yaml its app\'s user made a FIFO, a directory, or a sparse file of 600 MB, is refused by name (log, status, 503), never waited on nor read whole; the rest serves', async () => {
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.0', version('1.0'));
    addPackage(dir, 'environ', 'shop', version('shop'));
    addPackage(dir, 'environ', 'huge', version('huge'));
    rmSync(join(dir, 'shop', 'app.yaml'));
    spawnSync('mkfifo', [join(dir, 'shop', 'app.yaml')]);
    truncateSync(join(dir, 'huge', 'app.yaml'), 600 * 1024 * 1024);
    // A directory in its place was skipped: nothing in the log, in status, or at its name.
    addPackage(dir, 'environ', 'cart', version('cart'));
    rmSync(join(dir, 'cart', 'app.yaml'));
    mkdirSync(join(dir, 'cart', 'app.yaml'));
  });
  assert.is(await versionServed(gw), '1.0');
  const shop = join(apps.path, 'shop');
  const huge = join(apps.path, 'huge');
  assert.ok(gw.output().includes(`skipping ${shop}:\n  ${shop}/app.yaml: expected app.yaml to be a file, found a FIFO`), gw.output());
  assert.ok(gw.output().includes(`${huge}/app.yaml is 614400 KiB; a description or environment file is at most 256 KiB`), gw.output());
  const cart = join(apps.path, 'cart');
  const cartSaid = `${cart}/app.yaml: expected app.yaml to be a file, found a directory\n    fix: move the directory away (or remove it: rmdir ${cart}/app.yaml when it is empty) and write the description there as a file`;
  assert.ok(gw.output().includes(`skipping ${cart}:\n  ${cartSaid}`), gw.output());
  for (const name of ['shop', 'cart']) {
    const answer = await request(`${gw.url}/${name}/`);
    assert.is(answer.statusCode, 503, name);
    assert.match(await answer.body.text(), /APPPKG_DESC_NOT_FOUND/);
  }
  const broken = (await status(gw)).broken.map((b: any) => [b.dir, b.code]).sort();
  assert.equal(broken, [[cart, 'APPPKG_DESC_NOT_FOUND'], [huge, 'APPPKG_FILE_TOO_LARGE'], [shop, 'APPPKG_DESC_NOT_FOUND']]);
  // `check` says so too, at once: it waited on the FIFO for ever. describe and serve say what
  // check and the gateway say of the directory.
  const [check, checkCart, describeCart, serveCart] = await Promise.all([
    runCli(['check', shop], { ms: 20_000 }),
    runCli(['check', cart], { ms: 20_000 }),
    runCli(['describe', cart], { ms: 20_000 }),
    runCli(['serve', cart, '--port', '0', '--state-dir', join(apps.path, '.serve-state')], { ms: 20_000 }),
  ]);
  assert.is(check.status, 1, check.stderr);
  assert.match(check.stderr, /expected app\.yaml to be a file, found a FIFO/);
  for (const run of [checkCart, describeCart, serveCart]) {
    assert.is(run.status, 1, run.stderr);
    assert.ok(run.stderr.includes(cartSaid.replace('\n    ', '\n  ')), run.stderr);
  }
});

test('a package whose description is app.yml, not app.yaml, is said (log, status, 503 at its name) with the rename, then served once renamed', async () => {
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.0', version('1.0'));
    addPackage(dir, 'environ', 'shop', version('shop'));
    renameSync(join(dir, 'shop', 'app.yaml'), join(dir, 'shop', 'app.yml'));
  });
  assert.is(await versionServed(gw), '1.0');
  const shop = join(apps.path, 'shop');
  assert.ok(gw.output().includes(`skipping ${shop}:\n  ${shop}/app.yml: expected the description to be named app.yaml, found it named app.yml\n    fix: rename it: mv ${shop}/app.yml ${shop}/app.yaml`), gw.output());
  const answer = await request(`${gw.url}/shop/`);
  assert.is(answer.statusCode, 503);
  assert.match(await answer.body.text(), /APPPKG_DESC_NOT_FOUND/);
  assert.equal((await status(gw)).broken.map((b: any) => [b.dir, b.code]), [[shop, 'APPPKG_DESC_NOT_FOUND']]);
  renameSync(join(shop, 'app.yml'), join(shop, 'app.yaml'));
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await versionServed(gw, '/shop/')) === 'shop', 30_000, 'shop served once app.yml is renamed', ASK_GATEWAY_EVERY_MS);
});

test('blog.1.02 beside blog.1.2: one version spelled twice, said once with which serves and the fix; rollback goes to the other directory', async () => {
  const tokens = tempDir('apppkg-deploy-token-');
  const token = join(tokens.path, 'token');
  writeFileSync(token, 'deploy-token\n', { mode: 0o600 });
  const { gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog.1.02', version('1.02'));
    addPackage(dir, 'environ', 'blog.1.2', version('1.2'));
  }, ['--admin-token', token]);
  const admin = ['--admin', gw.adminUrl!, '--admin-token', token];
  assert.is(await versionServed(gw), '1.2');
  const said = 'blog: blog.1.02 and blog.1.2 both hold version 1.2 (versions compare number by number): blog.1.2 ranks first only by its spelling and is the one to serve, ' +
    'blog.1.02 is kept as a rollback target of that same version; remove or rename one (a version of its own, higher for the newer one)';
  assert.ok(gw.output().includes(said), gw.output());
  const r = await runCli(['rollback', 'blog', ...admin], { ms: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /rolled back from 1\.2 to 1\.02/);
  assert.is(await versionServed(gw), '1.02');
  assert.is(gw.output().split(said).length, 2, 'said once, not at every scan');
  tokens.remove();
});

test('blog and a copy blog-new whose app.yaml says name: blog: neither has a version, and the log says once which one serves and why', async () => {
  const named = { 'app.yaml': [[/^/, 'name: blog\n']] as [RegExp, string][] };
  const { apps, gw } = await open((dir) => {
    addPackage(dir, 'environ', 'blog', { ...version('old'), ...named });
    addPackage(dir, 'environ', 'blog-new', { ...version('new'), ...named });
  });
  assert.is(await versionServed(gw), 'old');
  const said = 'blog: blog and blog-new both hold app blog with no version suffix: blog serves only because its directory\'s name sorts first, ' +
    'blog-new is kept as a rollback target; give each a version (blog.1, blog.2: the highest serves), another name: in its app.yaml, or start the one to keep unserved with a dot (.blog-new)';
  assert.ok(gw.output().includes(said), gw.output());
  // A new app served proves a rescan since.
  addPackage(apps.path, 'environ', 'other');
  await waitFor(async () => (await request(`${gw.url}/other/`)).statusCode === 200, 20_000, 'the rescan to serve other', ASK_GATEWAY_EVERY_MS);
  assert.is(gw.output().split(said).length, 2, 'said once, not at every scan');
});

test('the first install runs commands.install before the first request', async () => {
  const { gw, state } = await open((dir) => {
    const pkg = addPackage(dir, 'environ', 'shop');
    writeFileSync(join(pkg, 'app.yaml'), `${readFileSync(join(pkg, 'app.yaml'), 'utf8')}commands:\n  install: python -c "import os; open(os.path.join(os.environ['APPPKG_DATA_DIR'], 'installed'), 'w').write('yes')"\n`);
  });
  assert.ok(existsSync(join(state.path, 'apps', 'shop', 'data', 'installed')));
  assert.is((await request(`${gw.url}/shop/`)).statusCode, 200);
});

test('a worker killed with SIGKILL is restarted and the app serves again', async () => {
  const { gw } = await open((dir) => addPackage(dir, 'environ', 'blog'), [], 2);
  const before = (await status(gw)).apps[0].workers.map((w: any) => w.pid) as number[];
  process.kill(before[0], 'SIGKILL');
  await waitFor(async () => {
    const s = (await status(gw)).apps[0];
    return s.workers.length === 2 && s.workers.every((w: any) => w.state === 'ready') && !s.workers.some((w: any) => w.pid === before[0]) && s.restarts === 1;
  }, 20_000, 'a replacement worker', ASK_GATEWAY_EVERY_MS);
  for (let i = 0; i < 20; i++) assert.is((await request(`${gw.url}/blog/`)).statusCode, 200);
  assert.match(gw.output(), new RegExp(`worker ${before[0]} exited \\(SIGKILL\\)`));
});

test('SIGTERM finishes the requests in flight, then no process of the gateway is left', async () => {
  const { gw } = await open((dir) => addPackage(dir, 'slow', 'slow'), [], 2);
  const pids = (await status(gw)).apps[0].workers.map((w: any) => w.pid) as number[];
  // Held until the stop has begun: with a 1.5 s sleep instead, a loaded host's slow look at
  // /status saw the first answered before the three were counted in flight.
  const gate = tempDir('apppkg-deploy-gate-');
  const release = join(gate.path, 'release');
  const inFlight = Array.from({ length: 3 }, () =>
    request(`${gw.url}/slow/?until=${encodeURIComponent(release)}`).then(async (r) => ({ status: r.statusCode, body: await r.body.text() })),
  );
  // The stop comes once all three are in flight, however slowly a loaded host sends them.
  await waitFor(async () => (await status(gw)).apps[0].inFlight === 3, 10_000, 'the three requests in flight', ASK_GATEWAY_EVERY_MS);
  const exit = gw.stop(20_000);
  await waitFor(() => gw.output().includes('SIGTERM: stopping'), 10_000, () => `the stop to begin:\n${gw.output()}`);
  writeFileSync(release, '');
  const answers = await Promise.all(inFlight);
  gate.remove();
  for (const a of answers) assert.is(a.status, 200, a.body);
  assert.is(await exit, 0);
  await assertNoOrphans([gw.child.pid!, ...pids], 5000);
  assert.not.ok(pids.some(isAlive));
});

/**
 * The tests of names that are no version, each said in the log as the gateway starts: their
 * packages do not meet (blog.1.0 and shop.1.0 are plain NAME.VERSION), so one gateway serves
 * them all, where each test's own start cost a gateway and its workers.
 */
const names = suite('gateway deploys: names that are no version (one gateway serving them all)');
let naming: Env | undefined;

names.before(async () => {
  naming = await start((dir) => {
    addPackage(dir, 'environ', 'blog.1.0', version('1.0'));
    addPackage(dir, 'environ', 'blog.old', version('old'));
    addPackage(dir, 'environ', 'blog.v2', version('v2'));
    addPackage(dir, 'environ', '.blog.kept', version('kept'));
    addPackage(dir, 'environ', 'blog-1.4.2', version('1.4.2'));
    addPackage(dir, 'environ', 'shop.1.0', version('1.0'));
  });
});

names.after(async () => close(naming));

names('blog.old and blog.v2 beside blog are apps of their own (a version begins with a digit), and the log says so with the way to keep a copy unserved', async () => {
  const { gw } = naming!;
  assert.is(await versionServed(gw), '1.0');
  assert.is(await versionServed(gw, '/blog.v2/'), 'v2');
  assert.match(gw.output(), /blog\.old: served as an app of its own at \/blog\.old, not as a version of blog: a version suffix begins with a digit \(blog\.2\); to keep a copy that is not served, start its directory's name with a dot \(\.blog\.old\)/);
  assert.match(gw.output(), /blog\.v2: served as an app of its own at \/blog\.v2, not as a version of blog: a version suffix begins with a digit \(blog\.2\)/);
  assert.not.match(gw.output(), /blog\.kept|blog: served as an app of its own/);
});

names('blog-1.4.2, named as a tarball is: served as version 4.2 of an app blog-1, and the log says so once with the rename that makes it version 1.4.2 of blog', async () => {
  const { gw } = naming!;
  assert.is(await versionServed(gw, '/blog-1/'), '1.4.2');
  const said = 'blog-1: blog-1.4.2 holds version 4.2 of an app named blog-1 (at /blog-1): a version suffix follows a "." (NAME.VERSION), so "-1" is part of the name, ' +
    'and blog-2.0 would be another app beside it; to make it version 1.4.2 of blog, rename it blog.1.4.2';
  assert.ok(gw.output().includes(said), gw.output());
  assert.not.match(gw.output(), /shop: .*holds version/);
  await rescanned(gw);
  assert.is(gw.output().split(said).length, 2, 'said once, not at every look');
});

test.run();
refusals.run();
removals.run();
names.run();
