// The registry hands the proxy its apps after every judging, look at the apps directory and
// version switch, and each hand-over rebuilds the routes of every app: a start of 300 apps made
// 1,400 of them (13 s of the gateway's one thread, the most of any one thing in its start), as
// most changed nothing. Only a change is handed over now: about one per app as it comes to serve.
// Counted where the proxy takes them (Front.publish), with real apps starting.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { Front } from '../../src/proxy/front.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, waitFor } from '../helpers/process.js';

const test = suite('publishing to the proxy');
const work = tempDir('apppkg-lib-publish-');
const APPS = 16;
let gateway: Gateway | null = null;

const realPublish = Front.prototype.publish;
let publishes = 0;

test.before(() => {
  Front.prototype.publish = function (this: Front, ...args: Parameters<Front['publish']>) {
    publishes++;
    return realPublish.apply(this, args);
  };
});

test.after(async () => {
  Front.prototype.publish = realPublish;
  const pids = gateway?.pids ?? [];
  await gateway?.stop();
  await assertNoOrphans(pids);
  work.remove();
});

test(`a start of ${APPS} apps hands the proxy about one change per app, not every look and judging`, async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  for (let i = 0; i < APPS; i++) {
    writePackage(apps, `app${i}`, {
      'app.yaml': 'platform: python, wsgi\napp: app:application\n',
      'app.py': "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    });
  }
  writePackage(apps, 'broken', { 'app.yaml': 'platform: python, wsgi\napp: [app:application\n' });
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  gateway = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(work.path, 'state'), settleMs: 0, say: () => {} });
  await waitFor(() => gateway!.status().apps.length === APPS && gateway!.status().apps.every((a) => a.state === 'ready'), 60_000, () => `every app ready: ${gateway!.status().apps.map((a) => a.state).join(' ')}`);
  // A few looks and judgings more must not add any.
  await gateway.reload();
  // The first hand-over (every app starting), then one per app as it serves; a few to spare for
  // apps that come to serve in the same judging's turn, or a look that finds one settling.
  assert.ok(publishes >= 1 && publishes <= APPS + 4, `${publishes} hand-overs for ${APPS} apps`);
});

test.run();
