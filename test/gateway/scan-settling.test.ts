// README, "Deploy atomically" and "Knowing a rescan has ended", under the default --settle: a
// version renamed in right after its copy is not judged at once (the README said it was): its
// files are new, so the scan that finds it ends with it `settling`, the old version serving, and
// a later scan of its own judges it. The README's deploy script waited for that first scan alone
// and printed the old version; it now also waits for no version of the app settling or starting,
// the condition this test runs as the script's jq does.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { scanOf } from '../helpers/rescan.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('scan status: a version renamed in while its files settle');
const apps = tempDir('apppkg-scan-settle-apps-');
const state = warmStateDir('apppkg-scan-settle-state-');
let gw: RunningGateway | null = null;

/**
 * Long enough that the SIGHUP's scan, a few milliseconds after the copy, always finds the new
 * version's files younger than it, however loaded the host: what is pinned is the order of
 * events, not a duration.
 */
const SETTLE_S = 5;

const version = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });

/** blog's versions in one /status answer, with its scan. */
async function blogNow(): Promise<{ scan: { started: number; finished: number }; serving: string | null; versions: Array<{ version: string; state: string }> }> {
  const status = await gatewayStatus(gw!);
  const blog = status.apps.find((a: any) => a.name === 'blog');
  return { scan: status.scan, serving: blog.version, versions: blog.versions.map((v: any) => ({ version: v.version, state: v.state })) };
}

test.before(async () => {
  addPackage(apps.path, 'environ', 'blog.1.0', version('1.0'));
  // --watch-interval 0: the SIGHUP's scan and the settle's own are the only ones.
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--watch-interval', '0', '--settle', String(SETTLE_S), ...oneWorkerEach(state.path)]);
  await waitFor(async () => (await blogNow()).serving === '1.0' || null, 60_000, 'blog 1.0 to serve', ASK_GATEWAY_EVERY_MS);
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

test('renamed in right after its copy: the SIGHUP\'s scan ends with it settling and the old version serving; waiting also for no version settling or starting ends with it serving', async () => {
  const staged = addPackage(apps.path, 'environ', '.blog.1.1.tmp', version('1.1'));
  renameSync(staged, join(apps.path, 'blog.1.1'));
  const n = (await scanOf(gw!)).started;
  gw!.child.kill('SIGHUP');
  const first = await waitFor(async () => {
    const now = await blogNow();
    return now.scan.finished > n ? now : null;
  }, 30_000, `a scan begun after scan ${n} to end`, ASK_GATEWAY_EVERY_MS);
  assert.is(first.serving, '1.0', JSON.stringify(first));
  assert.equal(first.versions.find((v) => v.version === '1.1')?.state, 'settling', JSON.stringify(first));
  // The README's script: `.scan.finished > $n and all(...; .state != "settling" and .state != "starting")`.
  const judged = await waitFor(async () => {
    const now = await blogNow();
    return now.scan.finished > n && now.versions.every((v) => v.state !== 'settling' && v.state !== 'starting') ? now : null;
  }, 60_000, 'blog 1.1 to be judged', ASK_GATEWAY_EVERY_MS);
  assert.is(judged.serving, '1.1', JSON.stringify(judged));
});

test.run();
