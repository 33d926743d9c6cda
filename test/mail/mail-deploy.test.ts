// Mail while the app deploys (issue 16): deliveries are requests through the gateway's public
// listener, so a new version takes over with none lost and none doubled, as for any request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus, gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendRaw } from '../helpers/smtp.js';

const test = suite('mail during a deploy');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha.1.0');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [0.5]\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  port = mailPort(gw.output());
});

test.after(() => stopGatewayChecked(gw, apps, state));

test('100 messages in parallel while a new version deploys: all delivered, none twice', async () => {
  const subjects = Array.from({ length: 100 }, (_, i) => `deploy-${i}`);
  let next = 0;
  const sender = async () => {
    while (next < subjects.length) {
      const subject = subjects[next++];
      const reply = await sendRaw(port, 'ann@example.org', [`${subject}@alpha.localhost`], message({ subject, size: 10_000 }));
      assert.is(reply.code, 250, reply.text);
      if (next === 30) addPackage(apps.path, 'mail-sink', 'alpha.2.0');
    }
  };
  await Promise.all(Array.from({ length: 10 }, sender));
  await waitFor(async () => (await appStatus(gw, 'alpha'))?.version === '2.0', 30_000, 'version 2.0 to serve');
  const all = await waitFor(async () => {
    const got = ((await (await request(`${gw.url}/alpha/deliveries`)).body.json()) as { subject: string; status: number; id: string }[]).filter((d) => d.subject.startsWith('deploy-'));
    return got.filter((d) => d.status === 200).length >= 100 ? got : undefined;
  }, 30_000, 'all 100 delivered');
  await new Promise((r) => setTimeout(r, 1000)); // time for a doubled one to show
  const final = ((await (await request(`${gw.url}/alpha/deliveries`)).body.json()) as { subject: string; status: number }[]).filter((d) => d.subject.startsWith('deploy-'));
  assert.is(final.length, 100, `none twice (${final.length - all.length} more after the first count)`);
  assert.equal(new Set(final.map((d) => d.subject)).size, 100);
  assert.ok(final.every((d) => d.status === 200), 'no attempt failed during the deploy');
  assert.is((await gatewayStatus(gw)).mail.spooled, 0);
});

test.run();
