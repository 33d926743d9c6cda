// Which app's mail waits, and why (SPEC 5.3, docs/mail.md "Status and metrics"): `status` (the
// JSON and the table) showed only the spool's totals, so an app that answered 500 to every
// delivery for an hour could be found in the gateway's log alone. Each app with mail waiting has
// it under its entry: how much, the oldest, the last failure and the next attempt; once it is
// delivered, that goes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';

const test = suite('mail in status');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
const answerFile = join(state.path, 'apps', 'alpha', 'data', 'answer');
let gw: RunningGateway | undefined;
let port: number;

/** Dead letters an earlier run left for gamma (no app now), oldest first: more than /status lists. */
const SEEDED_DEAD = 55;

test.before(async () => {
  const dead = join(state.path, 'mail', 'dead');
  mkdirSync(dead, { recursive: true });
  const at = Date.now() - 3_600_000;
  for (let i = 0; i < SEEDED_DEAD; i++) {
    const id = `seeded-${String(i).padStart(2, '0')}`;
    writeFileSync(join(dead, `${id}.json`), JSON.stringify({
      id, messageId: 'm', app: 'gamma', from: 'ann@example.org', to: ['x@gamma.localhost'], receivedAt: at + i * 1000, size: 10, attempts: 1,
      nextAttemptAt: at, lastError: 'the app refused it (406)', deadAt: at + i * 1000, reason: 'the app refused it (406)', file: join(dead, `${id}.eml`),
    }));
  }
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'beta');
  // Retries far enough apart that a delivery is seen waiting for its next attempt.
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [4]\n  give_up: 600\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  port = mailPort(gw.output());
});

test.after(async () => {
  const pids = gw ? statusPids(await gatewayStatus(gw).catch(() => ({ apps: [] }))) : [];
  const code = await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
  assert.is(code, 0, 'the gateway stops cleanly');
});

async function appEntry(name: string): Promise<any> {
  return (await gatewayStatus(gw!)).apps.find((a: any) => a.name === name);
}

async function table(): Promise<string> {
  const r = await runCli(['status', '--admin', new URL(gw!.adminUrl!).host], { ms: 15_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

/** Each sample of /metrics, by its name and labels as printed. */
async function metricsOf(): Promise<Map<string, number>> {
  const res = await request(`${gw!.adminUrl}/metrics`);
  const text = await res.body.text();
  return new Map(text.split('\n').filter((l) => l.startsWith('apppkg_mail_')).map((l) => {
    const at = l.lastIndexOf(' ');
    return [l.slice(0, at), Number(l.slice(at + 1))];
  }));
}

/** The lines under an app's name in the table, up to the next blank line. */
function detailsOf(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`${name}:`);
  if (start < 0) return [];
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

test('an app answering 500 to its mail: its waiting count, last reason, next attempt and when it is given up under it in /status and the table; gone once it answers 200', async () => {
  writeFileSync(answerFile, '500');
  const sent = await sendWithSmtplib(port, 'ann@example.org', ['a@alpha.localhost', 'b@beta.localhost'], message({ subject: 'waits for alpha' }));
  assert.equal(sent, { refused: {} });
  const waiting = await waitFor(async () => {
    const mail = (await appEntry('alpha'))?.mail;
    return mail?.lastFailure && mail.nextAttemptAt ? mail : undefined;
  }, 15_000, 'alpha\'s mail to wait after a failed attempt');
  assert.is(waiting.waiting, 1);
  assert.is(waiting.retrying, 1);
  assert.ok(waiting.failedAttempts >= 1, `failedAttempts ${waiting.failedAttempts}`);
  assert.is(waiting.lastFailure.reason, 'the app answered 500');
  assert.ok(Date.parse(waiting.oldestReceivedAt) <= Date.parse(waiting.lastFailure.at), 'received before it failed');
  assert.ok(Date.parse(waiting.nextAttemptAt) > Date.parse(waiting.lastFailure.at), 'the next attempt after the last failure');
  assert.ok(Date.parse(waiting.nextAttemptAt) - Date.parse(waiting.lastFailure.at) <= 4_500, 'the next attempt as retry: says');
  assert.is(waiting.givesUpAt, new Date(Date.parse(waiting.oldestReceivedAt) + 600_000).toISOString(), 'given up at its receipt plus give_up: 600');
  const status = await gatewayStatus(gw!);
  assert.is(status.apps.find((a: any) => a.name === 'beta').mail, null, 'beta took its copy: nothing waits for it');
  assert.equal(status.mail.waitingForRemoved, [], 'every app with mail waiting is in apps');
  assert.ok(status.mail.spooled >= 1);

  const alphaLines = detailsOf(await table(), 'alpha');
  const line = alphaLines.find((l) => l.startsWith('  mail waiting: '));
  assert.ok(line, `a mail line under alpha:\n${alphaLines.join('\n')}`);
  assert.match(line!, /^ {2}mail waiting: 1 delivery \(1 retrying(, 1 being attempted)?\) for [\d.]+ (s|min), the oldest received at \S+Z; \d+ failed attempts?, the last at \S+Z: the app answered 500; (the next attempt (at \S+Z \(in [\d.]+ s\)|due now)|every one being attempted now); given up at (\S+Z) \(in (9|10) min\), a dead letter, unless delivered before$/);
  assert.is(/given up at (\S+Z)/.exec(line!)![1], waiting.givesUpAt);

  rmSync(answerFile);
  await waitFor(async () => (await appEntry('alpha'))?.mail === null, 20_000, 'alpha\'s mail to be delivered at its next attempt');
  assert.not.match((await table()), /mail waiting/, 'no mail line once it is delivered');
});

test('/metrics counts each app\'s mail: accepted, delivered, deferred (tried again) and undeliverable, as an MTA exporter does per transport', async () => {
  const before = await metricsOf();
  const sent = await sendWithSmtplib(port, 'ann@example.org', ['one@beta.localhost', 'two@beta.localhost'], message({ subject: 'answer-500-once' }));
  assert.equal(sent, { refused: {} });
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['no@beta.localhost'], message({ subject: 'answer-406' })), { refused: {} });
  const after = await waitFor(async () => {
    const now = await metricsOf();
    return now.get('apppkg_mail_app_delivered_total{app="beta"}') === (before.get('apppkg_mail_app_delivered_total{app="beta"}') ?? 0) + 1
      && now.get('apppkg_mail_app_undeliverable_total{app="beta"}') === (before.get('apppkg_mail_app_undeliverable_total{app="beta"}') ?? 0) + 1 ? now : undefined;
  }, 15_000, 'beta\'s two messages to be delivered (after one retry) and given up (406)');
  const grew = (name: string) => (after.get(`${name}{app="beta"}`) ?? NaN) - (before.get(`${name}{app="beta"}`) ?? 0);
  assert.is(grew('apppkg_mail_app_accepted_total'), 2, 'two messages, one delivery each (two of its addresses in the first)');
  assert.is(grew('apppkg_mail_app_deferred_total'), 1, 'the 500 was tried again');
  // Every app that has had mail has all five, 0 included, so that rate() has a series from the start.
  for (const name of ['accepted', 'retried', 'delivered', 'deferred', 'undeliverable']) assert.ok(after.has(`apppkg_mail_app_${name}_total{app="alpha"}`), `${name} for alpha`);
  // The totals are the sums over the apps.
  const sum = (name: string) => [...after].filter(([k]) => k.startsWith(`${name}{`)).reduce((n, [, v]) => n + v, 0);
  assert.is(sum('apppkg_mail_app_delivered_total'), after.get('apppkg_mail_delivered_total'));
});

test('/status lists the 50 newest dead letters, with deadLetters counting them all; /metrics and the table count them all', async () => {
  const mail = (await gatewayStatus(gw!)).mail;
  const seeded = mail.dead.filter((d: { app: string }) => d.app === 'gamma');
  assert.ok(mail.deadLetters >= SEEDED_DEAD, `deadLetters ${mail.deadLetters}`);
  assert.is(mail.dead.length, Math.min(mail.deadLetters, 50));
  // The newest, oldest first: the seeded ones are the oldest (an hour ago), so the first few of them are left out.
  assert.equal([seeded[0].id, seeded[seeded.length - 1].id], [`seeded-${String(mail.deadLetters - 50).padStart(2, '0')}`, 'seeded-54']);
  assert.equal(mail.dead.map((d: { deadAt: string }) => d.deadAt), mail.dead.map((d: { deadAt: string }) => d.deadAt).sort());
  assert.is((await metricsOf()).get('apppkg_mail_dead_letters{app="gamma"}'), SEEDED_DEAD);
  assert.match(await table(), new RegExp(`\\n {2}and ${mail.deadLetters - 10} older \\(status --json lists the newest 50, STATE/mail/dead/ keeps every one\\)\\n`));
});

test('mail for an app removed from --apps: under the mail section, named, with its reason (it has no row of its own)', async () => {
  writeFileSync(answerFile, '500');
  const sent = await sendWithSmtplib(port, 'ann@example.org', ['a@alpha.localhost'], message({ subject: 'alpha goes away' }));
  assert.equal(sent, { refused: {} });
  await waitFor(async () => (await appEntry('alpha'))?.mail?.lastFailure, 15_000, 'alpha\'s mail to fail once');
  rmSync(join(apps.path, 'alpha'), { recursive: true, force: true });
  const removed = await waitFor(async () => {
    const status = await gatewayStatus(gw!);
    const found = status.mail.waitingForRemoved.find((w: any) => w.app === 'alpha');
    return !status.apps.some((a: any) => a.name === 'alpha') && found?.lastFailure?.reason.includes('no app of this gateway now') ? found : undefined;
  }, 30_000, 'alpha gone, its mail failing for it');
  assert.is(removed.waiting, 1);
  assert.match(await table(), /^ {2}mail waiting for alpha \(no app of this gateway now\): 1 delivery \(1 retrying(, 1 being attempted)?\) .*: alpha is no app of this gateway now \(removed from --apps\?\); /m);
});

test.run();
