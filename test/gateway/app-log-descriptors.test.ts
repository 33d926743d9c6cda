// Each start of an app (a deploy, a restart, a rollback) opens its app.log anew; the start it
// replaced closes its own once it has stopped. Before, every ended start kept its descriptor
// until the gateway stopped: a host deploying often (or a crash-looping app) grew the gateway's
// open files by one per start, against the open-files limit.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('gateway: app.log descriptors across deploys');

/** The gateway's descriptors open on `file`. */
function opened(pid: number, file: string): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) count++;
    } catch {
      // closed while we looked
    }
  }
  return count;
}

test('three deploys leave the gateway one descriptor on app.log, as it had before them', async () => {
  const apps = tempDir('apppkg-logfd-apps-');
  const state = tempDir('apppkg-logfd-state-');
  addPackage(apps.path, 'examples/hello', 'hello.1.0');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path]);
  try {
    const log = join(state.path, 'apps', 'hello', 'log', 'app.log');
    await waitFor(async () => (await fetch(`${gw.url}/hello/`)).status === 200, 30_000, 'hello to serve');
    assert.is(opened(gw.child.pid!, log), 1);
    for (const v of ['1.1', '1.2', '1.3']) {
      addPackage(apps.path, 'examples/hello', `hello.${v}`);
      await waitFor(() => gw.output().includes(`version ${v} takes over`), 30_000, `version ${v} to take over`);
      await waitFor(() => opened(gw.child.pid!, log) === 1, 30_000, () => `one descriptor on app.log after ${v}'s deploy, found ${opened(gw.child.pid!, log)}`);
    }
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test.run();
