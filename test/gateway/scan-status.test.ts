// `scan` of /status (README, "Knowing a rescan has ended"): each look at the apps directory is
// counted as it begins and as it ends, and it ends only once the apps it found are judged, so a
// deploy script that waits for it reads the outcome, not the state before the deploy.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { rescanned, scanOf } from '../helpers/rescan.js';
import { appStatus, gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('scan status: the watcher');
const apps = tempDir('apppkg-scan-apps-');
const state = warmStateDir('apppkg-scan-state-');
let gw: RunningGateway | null = null;

/** The watcher's poll: a few of them pass in the test's quiet window. */
const POLL_S = 0.25;

const version = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });

/** A version put in whole, as the README's atomic deploy does: the watcher sees one change. */
function deploy(target: string, edits: Record<string, [RegExp, string][]>): void {
  const staged = addPackage(apps.path, 'environ', `.${target}.tmp`, edits);
  renameSync(staged, join(apps.path, target));
}

/** The first status whose scan ended after scan `started`: the scan's figures and blog's entry in that same answer. */
async function afterScan(started: number): Promise<{ scan: any; blog: any }> {
  return waitFor(async () => {
    const status = await gatewayStatus(gw!);
    return status.scan.finished > started ? { scan: status.scan, blog: status.apps.find((a: any) => a.name === 'blog') } : null;
  }, 30_000, `a scan begun after scan ${started} to end`, ASK_GATEWAY_EVERY_MS);
}

test.before(async () => {
  addPackage(apps.path, 'environ', 'blog.1.0', version('1.0'));
  // --settle 0: what is judged when is the settle's own subject (issue-13 tests), not this one's.
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--watch-interval', String(POLL_S), '--settle', '0', ...oneWorkerEach(state.path)]);
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

test('the start\'s scan ends with every app it found judged, blog among the changed', async () => {
  const { scan, blog } = await afterScan(0);
  assert.ok(scan.started >= 1, JSON.stringify(scan));
  assert.is(blog.version, '1.0');
  assert.is(blog.state, 'ready');
  assert.ok(!Number.isNaN(Date.parse(scan.finishedAt)), scan.finishedAt);
  if (scan.finished === 1) assert.equal(scan.changed, ['blog'], 'the first scan found every app new');
});

/**
 * Six of the watcher's polls once the scans under way have ended: none may begin meanwhile, and
 * (`last`) none after scan `last` at all.
 */
async function assertQuiet(what: string, last?: number): Promise<void> {
  const before = await waitFor(async () => {
    const scan = await scanOf(gw!);
    return scan.finished === scan.started ? scan : null;
  }, 30_000, 'the scans under way to end', ASK_GATEWAY_EVERY_MS);
  // A window that must pass with nothing happening: six of the watcher's polls.
  await new Promise((r) => setTimeout(r, POLL_S * 6 * 1000));
  const after = await scanOf(gw!);
  assert.equal(after, before, what);
  if (last !== undefined) assert.is(after.started, last, `${what}: ${JSON.stringify(after)}`);
}

test('nothing changed: the watcher\'s polls are no scans, and the count stays', async () => {
  await assertQuiet('a scan with nothing changed');
});

test('SIGHUP with nothing changed is a scan all the same: counted once, its end after the signal, nothing changed', async () => {
  const before = await gatewayStatus(gw!);
  const scan = await rescanned(gw!);
  assert.is(scan.started, before.scan.started + 1, JSON.stringify(scan));
  assert.is(scan.finished, scan.started);
  assert.equal(scan.changed, []);
  assert.ok(Date.parse(scan.finishedAt ?? '') >= Date.parse(before.now), `${scan.finishedAt} is before the SIGHUP (${before.now})`);
});

test('a new version directory: the watcher\'s scan of it ends once it serves, and names its app', async () => {
  const { started } = await scanOf(gw!);
  deploy('blog.1.1', version('1.1'));
  const { scan, blog } = await afterScan(started);
  assert.equal(scan.changed, ['blog']);
  assert.is(blog.version, '1.1', 'the scan ended before the new version was judged');
  assert.is(blog.state, 'ready');
});

// The watcher walks the files of a refused or rolled-back-from version (a fix to one retries it);
// it took its first walk of them for a change, and made one more scan that found none.
test('a version refused: the scan that refused it is the last; the watcher\'s polls after it make none', async () => {
  const { started } = await scanOf(gw!);
  deploy('blog.1.2', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 1.2 is broken on purpose")']] });
  const { scan, blog } = await afterScan(started);
  assert.equal(scan.changed, ['blog']);
  assert.is(blog.problem?.code, 'APPPKG_APP_IMPORT_FAILED', JSON.stringify(blog));
  assert.is(scan.finished, started + 1, JSON.stringify(scan));
  await assertQuiet('a scan after the refusal, with nothing changed', started + 1);
});

test('a rollback: the version rolled back from makes no scan of its own after the rollback\'s', async () => {
  const removal = (await scanOf(gw!)).started;
  rmSync(join(apps.path, 'blog.1.2'), { recursive: true });
  await afterScan(removal);
  const { started } = await scanOf(gw!);
  const res = await request(`${gw!.adminUrl}/apps/blog/rollback`, { method: 'POST', headersTimeout: 30_000, bodyTimeout: 30_000 });
  assert.is(res.statusCode, 200, await res.body.text());
  const { scan, blog } = await afterScan(started);
  assert.is(blog.version, '1.0');
  assert.is(scan.finished, started + 1, JSON.stringify(scan));
  await assertQuiet('a scan after the rollback, with nothing changed', started + 1);
});

test.run();

// --watch-interval 0: the scans are the SIGHUPs' alone, each test's own.
const hup = suite('scan status: SIGHUP');
const hupApps = tempDir('apppkg-scan-hup-apps-');
const hupState = warmStateDir('apppkg-scan-hup-state-');
let hupGw: RunningGateway | null = null;

hup.before(async () => {
  addPackage(hupApps.path, 'environ', 'blog.1.0', version('1.0'));
  hupGw = await startCli(['--apps', hupApps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', hupState.path, '--access-log', 'off', '--watch-interval', '0', '--settle', '0', ...oneWorkerEach(hupState.path)]);
});

hup.after(async () => {
  await stopGatewayChecked(hupGw, hupApps, hupState);
});

hup('a version that is refused: the SIGHUP\'s scan ends with the refusal in status, the version before still serving', async () => {
  addPackage(hupApps.path, 'environ', 'blog.1.1', { 'environ_app.py': [[/^import json/m, 'import json\nraise ImportError("blog 1.1 is broken on purpose")']] });
  const scan = await rescanned(hupGw!);
  assert.is(scan.finished, scan.started, JSON.stringify(scan));
  assert.equal(scan.changed, ['blog']);
  const blog = await appStatus(hupGw!, 'blog');
  assert.is(blog.version, '1.0');
  assert.equal(blog.versions.map((v: any) => [v.version, v.state]), [['1.1', 'failed'], ['1.0', 'serving']]);
  assert.is(blog.problem?.code, 'APPPKG_APP_IMPORT_FAILED');
});

hup('a version directory removed: the SIGHUP\'s scan ends with the one below serving', async () => {
  rmSync(join(hupApps.path, 'blog.1.1'), { recursive: true });
  addPackage(hupApps.path, 'environ', 'blog.1.2', version('1.2'));
  assert.equal((await rescanned(hupGw!)).changed, ['blog']);
  assert.is((await appStatus(hupGw!, 'blog')).version, '1.2', 'the scan ended before the new version was judged');
  rmSync(join(hupApps.path, 'blog.1.2'), { recursive: true });
  assert.equal((await rescanned(hupGw!)).changed, ['blog']);
  assert.is((await appStatus(hupGw!, 'blog')).version, '1.0', 'the scan ended before the rollback was judged');
});

hup.run();

// --settle 2: a version copied in is found settling by the watcher's scan, and judged by the
// scan due once it has settled; the watcher's first walk of its files between the two was taken
// for a change, a scan that found it still settling.
const settle = suite('scan status: a version settling');
const settleApps = tempDir('apppkg-scan-settle-apps-');
const settleState = warmStateDir('apppkg-scan-settle-state-');
let settleGw: RunningGateway | null = null;

settle.before(async () => {
  addPackage(settleApps.path, 'environ', 'blog.1.0', version('1.0'));
  settleGw = await startCli(['--apps', settleApps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', settleState.path, '--access-log', 'off', '--watch-interval', String(POLL_S), '--settle', '2', ...oneWorkerEach(settleState.path)]);
});

settle.after(async () => {
  await stopGatewayChecked(settleGw, settleApps, settleState);
});

settle('a version copied in: two scans, the one that found it settling and the one that judged it, none between', async () => {
  const before = await waitFor(async () => {
    const scan = await scanOf(settleGw!);
    return scan.finished === scan.started && (await appStatus(settleGw!, 'blog'))?.version === '1.0' ? scan : null;
  }, 30_000, 'blog 1.0 to serve, every scan ended', ASK_GATEWAY_EVERY_MS);
  // Fresh files renamed in whole: one change for the watcher, and a version that must settle.
  const staged = addPackage(settleApps.path, 'environ', '.blog.1.1.tmp', version('1.1'));
  renameSync(staged, join(settleApps.path, 'blog.1.1'));
  const found = await waitFor(async () => {
    const status = await gatewayStatus(settleGw!);
    return status.scan.finished > before.started ? status : null;
  }, 30_000, 'the watcher\'s scan of the new version', ASK_GATEWAY_EVERY_MS);
  const blog = found.apps.find((a: any) => a.name === 'blog');
  assert.equal(blog.versions.map((v: any) => [v.version, v.state]), [['1.1', 'settling'], ['1.0', 'serving']], 'the first scan found the version settled: this test needs a scan within 2 s of the copy');
  await waitFor(async () => (await appStatus(settleGw!, 'blog'))?.version === '1.1', 30_000, 'blog 1.1 to serve once settled', ASK_GATEWAY_EVERY_MS);
  const after = await waitFor(async () => {
    const scan = await scanOf(settleGw!);
    return scan.finished === scan.started ? scan : null;
  }, 30_000, 'the scans under way to end', ASK_GATEWAY_EVERY_MS);
  await new Promise((r) => setTimeout(r, POLL_S * 6 * 1000));
  assert.equal(await scanOf(settleGw!), after, 'a scan after the version was judged');
  assert.is(after.started, before.started + 2, JSON.stringify({ before, after }));
});

settle.run();
