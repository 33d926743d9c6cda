// An app still starting (its workers spawned, importing, not yet past their probe) has processes
// too: gateway.pids lists them, so that a caller's orphan check after stop() covers them, and
// status shows them as starting, with their pids, on the version being started. They were left
// out of both until the version served.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { assertNoOrphans, tempDir, waitFor } from '../helpers/process.js';

const test = suite('the workers of an app still starting');
const work = tempDir('apppkg-lib-starting-pids-');
const apps = join(work.path, 'apps');

test.after(() => work.remove());

test('gateway.pids and status list the workers of an app whose import has not ended', async () => {
  const started = join(work.path, 'started');
  mkdirSync(started);
  mkdirSync(join(apps, 'slow'), { recursive: true });
  writeFileSync(join(apps, 'slow', 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
  // Each worker says its pid, then imports for longer than the test lasts.
  writeFileSync(
    join(apps, 'slow', 'main.py'),
    `import os, time\nopen(os.path.join(${JSON.stringify(started)}, str(os.getpid())), "w").close()\ntime.sleep(600)\n`,
  );
  writeFileSync(join(work.path, 'environment.yaml'), 'apps:\n  slow: {workers: 2}\n');
  const gateway = await Gateway.start({
    apps, listen: '127.0.0.1:0', admin: false, environment: join(work.path, 'environment.yaml'), stateDir: join(work.path, 'state'), watchIntervalMs: 0, say: () => {},
  });
  let pids: number[] = [];
  try {
    pids = await waitFor(() => {
      const found = readdirSync(started).map(Number).sort((a, b) => a - b);
      return found.length === 2 ? found : undefined;
    }, 30_000, 'both workers to begin their import');
    assert.equal([...gateway.pids].sort((a, b) => a - b), pids, 'gateway.pids');
    const app = gateway.status().apps.find((a) => a.name === 'slow')!;
    assert.is(app.state, 'starting');
    const row = app.versions.find((v) => v.state === 'starting');
    assert.ok(row, `a starting version row: ${JSON.stringify(app.versions)}`);
    assert.equal(row.workers.map((w) => w.pid).sort((a, b) => a! - b!), pids, 'its row lists the workers');
    assert.ok(row.workers.every((w) => w.state === 'starting'), JSON.stringify(row.workers));
    assert.equal(app.workers.map((w) => w.pid).sort((a, b) => a! - b!), pids, 'the app, serving nothing, lists them too');
  } finally {
    await gateway.stop();
  }
  await assertNoOrphans(pids);
});

test.run();
