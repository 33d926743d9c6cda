// The tail of each app's log that status shows (up to 200 lines) is kept in memory per log file.
// An app removed from --apps kept its tail until the gateway stopped: a host that adds and
// removes apps (review apps, a long run's churn) grew the gateway by one more per app. Counted
// here over three apps added and removed, and an app that comes back gets its tail again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { LogTail } from '../../src/log/log-tail.js';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor } from '../helpers/process.js';

const test = suite('log tails of removed apps');
const work = tempDir('apppkg-lib-removed-tails-');
let gateway: Gateway | null = null;

test.after(() => stopGatewayAndWork(gateway, work));

const PACKAGE = {
  'app.yaml': 'platform: python, wsgi\napp: app:application\n',
  'app.py': "import sys\nprint('started', file=sys.stderr, flush=True)\n\ndef application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
};

test('three apps added and removed leave the tails kept as they were; one back shows its log again', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  writePackage(apps, 'stays', PACKAGE);
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n  drain: 1\n', { mode: 0o600 });
  gateway = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(work.path, 'state'), settleMs: 0, watchIntervalMs: 200, say: () => {} });
  const gw = gateway;
  const ready = (name: string) => gw.status().apps.some((a) => a.name === name && a.state === 'ready');
  await waitFor(() => ready('stays'), 60_000, 'stays to serve');
  const before = LogTail.kept;
  for (const name of ['gone1', 'gone2', 'gone3']) {
    const dir = writePackage(apps, name, PACKAGE);
    await waitFor(() => ready(name), 60_000, `${name} to serve`);
    rmSync(dir, { recursive: true });
    await waitFor(() => !gw.status().apps.some((a) => a.name === name), 60_000, `${name} gone from status`);
  }
  assert.is(LogTail.kept, before, 'tails kept after three apps added and removed');
  writePackage(apps, 'gone1', PACKAGE);
  await waitFor(() => ready('gone1'), 60_000, 'gone1 to serve again');
  const tail = gw.status().apps.find((a) => a.name === 'gone1')!.log.lines!.map((l) => l.text);
  assert.ok(tail.filter((t) => t === 'started').length >= 2, `gone1's tail has both its starts: ${JSON.stringify(tail)}`);
});

test.run();
