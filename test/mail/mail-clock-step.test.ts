// A delivery waiting for its retry when the host's wall clock steps back (NTP after a VM's
// resume, `date -s`): the spool keeps wall times, and the deliverer compared them with the wall
// clock, so the retry waited the step's length on top of its own (an hour's step, an hour's
// delay). The wait is kept on the monotonic clock in memory now, and so is the time since receipt
// that give_up bounds: a step forward past it buried a waiting delivery at its next failure, days
// early. libfaketime steps the gateway's wall clock alone (test/helpers/faketime.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { hasFaketime, NO_FAKETIME, steppedClock, type SteppedClock } from '../helpers/faketime.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { mailPort, message, sendRaw } from '../helpers/smtp.js';

const test = suite('mail: a retry across a step of the wall clock');
const withFaketime = runIf(test, hasFaketime, NO_FAKETIME);
const apps = tempDir('apppkg-mail-step-apps-');
const state = tempDir('apppkg-mail-step-state-');
let clock: SteppedClock | null = null;
let gw: RunningGateway | null = null;
const apps2 = tempDir('apppkg-mail-step-apps-');
const state2 = tempDir('apppkg-mail-step-state-');
let clock2: SteppedClock | null = null;
let gw2: RunningGateway | null = null;

test.after(async () => {
  try {
    await stopGatewayChecked(gw, apps, state);
  } finally {
    clock?.remove();
    await stopGatewayChecked(gw2, apps2, state2);
    clock2?.remove();
  }
});

withFaketime('a step back of an hour while a delivery waits for its retry: tried after its own wait, not the hour', async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [3]\n');
  clock = steppedClock();
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { env: clock.env, ms: 60_000 });
  const reply = await sendRaw(mailPort(gw.output()), 'ann@example.org', ['bob@alpha.localhost'], message({ subject: 'answer-500-once' }));
  assert.is(reply.code, 250, reply.text);
  // Its first attempt failed and its retry is scheduled (on the clock before the step).
  await waitFor(async () => (await gatewayStatus(gw!)).mail.retrying === 1, 30_000, 'the delivery waiting for its retry');
  clock.step(-3600);
  const delivered = await waitFor(async () => {
    const got = (await (await request(`${gw!.url}/alpha/deliveries`)).body.json()) as Array<{ status: number }>;
    return got.some((d) => d.status === 200) ? got : undefined;
  }, 30_000, 'the retry (its own wait is 3 s)');
  assert.equal(delivered.map((d) => d.status), [500, 200]);
});

withFaketime('a step forward past give_up while a delivery waits for its retry: retried on, not given up', async () => {
  addPackage(apps2.path, 'mail-sink', 'alpha');
  const envFile = join(state2.path, 'environment.yaml');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [3]\n  give_up: 3600\n');
  clock2 = steppedClock();
  gw2 = await startCli(['--apps', apps2.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state2.path, '--environment', envFile], { env: clock2.env, ms: 60_000 });
  // The app fails every attempt: what follows the one after the step is the schedule's choice.
  const reply = await sendRaw(mailPort(gw2.output()), 'ann@example.org', ['bob@alpha.localhost'], message({ subject: 'answer-500' }));
  assert.is(reply.code, 250, reply.text);
  await waitFor(async () => (await gatewayStatus(gw2!)).mail.retrying === 1, 30_000, 'the delivery waiting for its retry');
  clock2.step(2 * 3600);
  // Seconds after its receipt, two hours on the wall clock: a third attempt, or (wrongly) a dead letter after the second.
  const outcome = await waitFor(async () => {
    const mail = (await gatewayStatus(gw2!)).mail;
    const attempts = ((await (await request(`${gw2!.url}/alpha/deliveries`)).body.json()) as unknown[]).length;
    return mail.deadLetters > 0 || attempts >= 3 ? { mail, attempts } : undefined;
  }, 30_000, 'the attempts after the step (its wait is 3 s)');
  assert.equal(outcome.mail.dead.map((d: { reason: string }) => d.reason), [], 'given up');
  assert.ok(outcome.attempts >= 3, String(outcome.attempts));
});

test.run();
