// Mail for an app whose workers are stopped (SPEC 5.3 with 5.6): asleep under idle_timeout, its
// delivery wakes it as any request does; with --max-workers spent on an app that has a request
// in flight, the delivery is answered 503 and waits in the spool for its retry, never lost, and
// is delivered with the same id once the budget frees.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';

const test = suite('mail to stopped apps');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'beta');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [0.5]\n  give_up: 600\ndefaults:\n  workers: 1\n  idle_timeout: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--max-workers', '1'], { ms: 60_000 });
  port = mailPort(gw.output());
});

test.after(() => stopGatewayChecked(gw, apps, state));

interface Delivery { id: string; subject: string; status: number }

/** What `app` recorded; asking wakes it, as any request does. */
async function deliveries(app: string): Promise<Delivery[]> {
  return (await (await request(`${gw.url}/${app}/deliveries`)).body.json()) as Delivery[];
}

const appOf = async (app: string) => (await gatewayStatus(gw)).apps.find((a: any) => a.name === app);

test('an app asleep under idle_timeout: the listener takes its mail (250), and the delivery wakes it', async () => {
  await waitFor(async () => (await appOf('alpha'))?.state === 'idle' || undefined, 15_000, 'alpha to stop its workers for want of requests');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'to the sleeper' })), { refused: {} });
  await waitFor(() => /alpha: woken for a request in /.test(gw.output()) || undefined, 15_000, 'the delivery to wake alpha');
  const got = await waitFor(async () => (await deliveries('alpha')).find((d) => d.subject === 'to the sleeper'), 15_000, 'the delivery');
  assert.is(got.status, 200);
});

test('--max-workers spent on an app with a delivery in flight: another app\'s mail waits for its retry and comes, same id', async () => {
  // alpha holds the one worker of the budget until DATA_DIR/release exists (mail-sink).
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'hold-until-released' })), { refused: {} });
  await waitFor(async () => (await appOf('alpha'))?.workers.some((w: any) => w.inFlight > 0) || undefined, 15_000, 'alpha to take the held delivery');
  const failedBefore = (await gatewayStatus(gw)).mail.failedAttempts;
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['y@beta.localhost'], message({ subject: 'over budget' })), { refused: {} }, 'taken, though beta cannot start now');
  await waitFor(async () => (await gatewayStatus(gw)).mail.failedAttempts > failedBefore || undefined, 15_000, 'a failed attempt while the budget is spent');
  // The 503 is the gateway's (no room under --max-workers), not beta's, and said so, with why.
  assert.match(gw.output(), /mail: delivery \S+ \(queued as \S+\) to beta not delivered: the gateway answered 503 for beta: [^\n]*--max-workers[^\n]*; attempt \d+, the next in 0\.5 s\n/);
  assert.is((await gatewayStatus(gw)).mail.spooled >= 1, true, 'kept in the spool');
  writeFileSync(join(state.path, 'apps', 'alpha', 'data', 'release'), '');
  const got = await waitFor(async () => {
    const found = (await deliveries('beta')).filter((d) => d.subject === 'over budget');
    return found.length > 0 ? found : undefined;
  }, 30_000, 'the delivery to beta once alpha is done');
  assert.is(got.length, 1, 'one attempt reached beta: those refused for the budget never did');
  assert.is(got[0].status, 200);
  const id = /mail: delivery (\S+) \(queued as \S+\) to beta not delivered/.exec(gw.output())![1];
  assert.is(got[0].id, id, 'the same delivery id as the attempts refused for the budget');
  await waitFor(async () => (await gatewayStatus(gw)).mail.spooled === 0 || undefined, 15_000, 'the spool to empty');
});

test.run();
