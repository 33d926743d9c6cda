// No orphans, ever (SPEC §4), even when the gateway itself is SIGKILLed: workers notice their
// link closing, and each command process's group is ended by its guard (process-group.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('processes outlive no gateway');
const apps = tempDir('apppkg-killed-apps-');
const state = tempDir('apppkg-killed-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'command-server', 'cmd');
  addPackage(apps.path, 'ticker', 'ticker');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

test('a SIGKILLed gateway leaves no command process, background process or worker behind', async () => {
  const s = await waitFor(
    async () => {
      const body = await gatewayStatus(gw);
      return body.apps.length === 2 && body.apps.every((a: any) => a.state === 'ready') ? body : null;
    },
    30_000,
    'both apps ready',
  );
  const pids = statusPids(s);
  assert.is(pids.length, 4);
  gw.child.kill('SIGKILL');
  await assertNoOrphans(pids, 15_000);
});

test.run();
