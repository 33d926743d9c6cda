// A version refused because its PostgreSQL is down is tried again with back-off for as long as
// the outage lasts: its history must not fill with one `refused` per try (it keeps 50 events,
// and the ones that explain how the app got there would be pushed out), nor the gateway's
// output or the app's log with the whole refusal every time. One event, with how many times and the last.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus } from '../helpers/status.js';

const test = suite('services: a refusal for a server that is down, tried again');
const work = tempDir('apppkg-service-retry-');
const apps = join(work.path, 'apps');
let gw: RunningGateway | null = null;

test.after(async () => {
  await gw?.stop();
  work.remove();
});

test('the tries of an outage are one history event with a count, and short lines in the output', async () => {
  addPackage(apps, 'services-probe', 'ledger', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n']] });
  const envFile = join(work.path, 'environment.yaml');
  // PostgreSQL at a socket where nothing listens: refused at once, tried again in 1 s, 2 s, ...
  writeFileSync(envFile, `services:\n  postgresql: postgresql://postgres@${encodeURIComponent(join(work.path, 'nowhere'))}:5432/postgres\n`);
  const state = join(work.path, 'state');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], {
    ms: 60_000, env: { APPPKG_STATE_DIR: state },
  });
  const tries = () => (gw!.output().match(/ledger: .*trying again in \d+ s/g) ?? []).length;
  await waitFor(() => tries() >= 3, 30_000, 'ledger to be tried three times');
  const history = (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'ledger').history;
  const refused = history.filter((e: any) => e.kind === 'refused');
  assert.is(refused.length, 1, JSON.stringify(history, null, 1));
  assert.ok(refused[0].times >= 3, JSON.stringify(refused[0]));
  assert.ok(refused[0].lastAt > refused[0].at, JSON.stringify(refused[0]));
  assert.is(refused[0].reason?.code, 'APPPKG_SERVICE_UNAVAILABLE');
  // The whole refusal once; each try after it one line.
  const output = gw.output();
  assert.is((output.match(/ledger: \S*ledger refused:/g) ?? []).length, 1, output);
  assert.match(output, /ledger: \S*ledger refused again, the same way \(\d+ times since \d\d:\d\d:\d\d\); trying again in \d+ s/);
  // The app's own log (`logs ledger`) alike: the refusal and its fix once, then a line a try.
  const appLog = readFileSync(join(state, 'apps', 'ledger', 'log', 'app.log'), 'utf8');
  assert.is((appLog.match(/\[apppkg-gateway\] \S*ledger refused:/g) ?? []).length, 1, appLog);
  assert.is((appLog.match(/\[apppkg-gateway\]   fix: /g) ?? []).length, 1, appLog);
  assert.ok((appLog.match(/\[apppkg-gateway\] \S*ledger refused again, the same way \(APPPKG_SERVICE_UNAVAILABLE\)/g) ?? []).length >= 2, appLog);
});

test.run();
