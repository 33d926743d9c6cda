// A Gateway's stop() held by an app's ASGI lifespan shutdown says every 5 s what it waits for
// and when the grace ends: to a program, which gave graceMs, it said "at the end of --grace".
// It now names graceMs, as the CLI's line names its flag (supervisor/stop-report.ts).
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, within } from '../helpers/process.js';

const test = suite('library: stop() names graceMs, not --grace');
const work = tempDir('apppkg-lib-stop-words-');
test.after(() => work.remove());

test('a lifespan shutdown that outlasts the report: the line says graceMs', async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-shutdown-hang', 'hang');
  const said: string[] = [];
  // Past the first report (5 s), short of a second: the shutdown is cancelled at its end.
  const gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', admin: false, workers: 1, watchIntervalMs: 0, settleMs: 0, graceMs: 7000, say: (line) => said.push(line) }));
  const pids = gateway.pids;
  assert.ok(pids.length > 0, `hang's worker runs: ${said.join('\n')}`);
  await within(30_000, 'stop()', gateway.stop());
  await assertNoOrphans(pids);
  const line = said.find((l) => l.startsWith('stopping: waiting for 1 worker to end its own shutdown'));
  assert.ok(line, said.join('\n'));
  assert.match(line!, /; at the end of graceMs, in \d s, what still runs is cancelled, and killed 5 s later$/);
  assert.not.match(said.join('\n'), '--grace');
});

test.run();
