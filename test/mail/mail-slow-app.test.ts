// A delivery is a request (SPEC 5.3): an app whose `timeout` is past the deliverer's 60 s, for a
// mail handler that takes long (a virus scan, a call out), has its deliveries waited for as long
// as its requests are. The deliverer cut each attempt at 60 s, so such an app never got a
// delivery answered: each was tried again, and cut again, until give_up.
//
// The deliverer's floor of 60 s is lowered to 2 s here (APPPKG_TEST_MAIL_ANSWER_FLOOR_MS, for
// tests alone, src/mail/mail-post.ts), and the handler takes 4 s under a `timeout` of 10 s: the
// same shape as 65 s under 80, which took the test over a minute, in seconds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';

const test = suite('mail to an app slower than the deliverer\'s floor (a minute)');
const apps = tempDir('apppkg-mail-slow-apps-');
const state = tempDir('apppkg-mail-slow-state-');
let gw: RunningGateway | null = null;

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

test('an app whose timeout is past the deliverer\'s floor, its mail handler slower than the floor: its delivery is waited for and delivered at the first attempt', async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  const envFile = join(state.path, 'environment.yaml');
  // A retry far off: a cut attempt shows as its log line, not as a second attempt.
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [600]\napps:\n  alpha:\n    timeout: 10\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], {
    env: { APPPKG_TEST_MAIL_ANSWER_FLOOR_MS: '2000' },
    ms: 60_000,
  });
  assert.equal(await sendWithSmtplib(mailPort(gw.output()), 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'sleep-4' })), { refused: {} });
  const mail = await waitFor(async () => {
    const now = (await gatewayStatus(gw!)).mail;
    return now.delivered > 0 || now.failedAttempts > 0 ? now : undefined;
  }, 60_000, 'the attempt to end');
  assert.not.match(gw.output(), /not delivered/, 'the attempt was not cut');
  assert.is(mail.failedAttempts, 0);
  assert.is(mail.delivered, 1);
  assert.is(mail.spooled, 0);
});

test.run();
