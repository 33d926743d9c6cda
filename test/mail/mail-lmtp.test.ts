// LMTP mode (issue 16; `lmtp: true`, for Postfix's lmtp: transport, RFC 2033): LHLO instead of
// EHLO, and after the message one reply per accepted recipient, so the MTA in front knows the
// fate of each one. The gateway listens on a unix socket only: deliveries go through it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { assertDeliveredAsSent, message, sendAwkwardMessage, SmtpTalk } from '../helpers/smtp.js';

const test = suite('mail over LMTP');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;
let viaSocket: Agent;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'beta');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  lmtp: true\n  max_size: 10000\n  postmaster: beta\napps:\n  beta:\n    max_body: 5KB\n');
  const socket = join(state.path, 'gateway.sock');
  viaSocket = new Agent({ connect: { socketPath: socket } });
  gw = await startCli(['--apps', apps.path, '--listen', `unix:${socket}`, '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  const m = /mail: LMTP on \S+:(\d+)/.exec(gw.output());
  assert.ok(m, `the gateway says it speaks LMTP:\n${gw.output()}`);
  port = Number(m![1]);
});

test.after(async () => {
  await viaSocket?.close();
  await stopGatewayChecked(gw, apps, state);
});

async function lhlo(): Promise<SmtpTalk> {
  const talk = await SmtpTalk.connect(port);
  assert.match((await talk.reply()).text, /^220 .*LMTP/);
  assert.is((await talk.command('EHLO client.test')).code, 500, 'EHLO is not LMTP');
  assert.is((await talk.command('LHLO client.test')).code, 250);
  return talk;
}

test('one reply per recipient after the message; each app gets its delivery', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.command('RCPT TO:<nobody@example.com>')).code, 550);
  assert.is((await talk.command('RCPT TO:<two@beta.localhost>')).code, 250);
  const first = await talk.data(message({ subject: 'over lmtp' }));
  const second = await talk.reply();
  assert.equal([first.code, second.code], [250, 250], `${first.text} / ${second.text}`);
  talk.close();
  for (const app of ['alpha', 'beta']) {
    const got = await waitFor(async () => ((await (await request(`http://localhost/${app}/deliveries`, { dispatcher: viaSocket })).body.json()) as any[]).find((d) => d.subject === 'over lmtp'), 10_000, `${app}'s delivery`);
    assert.ok(got.signature_ok);
    assert.is(got.received_from, 'client.test ([127.0.0.1])', 'X-Apppkg-Received names the client and its address (RFC 5321 4.4)');
    assert.is(got.received_with, 'LMTP', 'X-Apppkg-Received says LMTP (RFC 3848)');
  }
});

test('too big under LMTP: 552 for each recipient', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.command('RCPT TO:<two@beta.localhost>')).code, 250);
  assert.equal([(await talk.data(message({ subject: 'big over lmtp', size: 30_000 }))).code, (await talk.reply()).code], [552, 552]);
  talk.close();
  const status = (await gatewayStatus(gw)).mail;
  assert.is(status.protocol, 'lmtp');
  assert.is(status.received, 1, 'only the first message was accepted');
});

test('RCPT TO:<postmaster> (RFC 5321 4.5.1), any case, no domain: to the app mail.postmaster names, with its LMTP reply', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<>')).code, 250);
  assert.is((await talk.command('RCPT TO:<PostMaster>')).code, 250);
  assert.is((await talk.command('RCPT TO:<three@alpha.localhost>')).code, 250);
  assert.equal([(await talk.data(message({ subject: 'to the postmaster' }))).code, (await talk.reply()).code], [250, 250]);
  talk.close();
  const deliveryTo = (app: string) => waitFor(async () => ((await (await request(`http://localhost/${app}/deliveries`, { dispatcher: viaSocket })).body.json()) as any[]).find((d) => d.subject === 'to the postmaster'), 10_000, `${app}'s delivery`);
  const beta = await deliveryTo('beta');
  assert.is(beta.to, 'PostMaster', 'the postmaster app sees the address as sent');
  assert.ok(beta.signature_ok);
  assert.is((await deliveryTo('alpha')).to, 'three@alpha.localhost');
  assert.equal((await gatewayStatus(gw)).mail.dead, [], 'nothing kept: an app took it');
});

test('the same RCPT TO twice (any case): a reply after the message for each RCPT command, in order, and one delivery per app', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  for (const rcpt of ['one@alpha.localhost', 'two@beta.localhost', 'one@alpha.localhost', 'ONE@alpha.localhost']) {
    assert.is((await talk.command(`RCPT TO:<${rcpt}>`)).code, 250, rcpt);
  }
  const replies = [await talk.data(message({ subject: 'repeated rcpt over lmtp' })), await talk.reply(), await talk.reply(), await talk.reply()];
  assert.equal(replies.map((r) => r.code), [250, 250, 250, 250], replies.map((r) => r.text).join(' / '));
  for (const r of replies) assert.match(r.text, /Queued as /);
  // No reply left over: the next one is NOOP's.
  assert.not.match((await talk.command('NOOP')).text, /Queued as/);
  // Too big: smtp-server's own 552, once per RCPT command too.
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.equal([(await talk.data(message({ subject: 'big repeated rcpt over lmtp', size: 30_000 }))).code, (await talk.reply()).code], [552, 552]);
  assert.not.match((await talk.command('NOOP')).text, /552|too big|exceeds/i);
  talk.close();
  for (const app of ['alpha', 'beta']) {
    const mine = async () => ((await (await request(`http://localhost/${app}/deliveries`, { dispatcher: viaSocket })).body.json()) as any[]).filter((d) => d.subject === 'repeated rcpt over lmtp');
    await waitFor(async () => (await mine()).length > 0, 10_000, `${app}'s delivery`);
    assert.is((await mine()).length, 1, `${app}: one delivery`);
  }
});

test('past one recipient app\'s max_body with no SIZE= at MAIL FROM: 552 5.2.3 after the message for that app\'s recipients alone, the others get it', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  for (const rcpt of ['one@alpha.localhost', 'two@beta.localhost', 'three@alpha.localhost']) assert.is((await talk.command(`RCPT TO:<${rcpt}>`)).code, 250);
  const replies = [await talk.data(message({ subject: 'over beta\'s max_body over lmtp', size: 7000 })), await talk.reply(), await talk.reply()];
  assert.equal(replies.map((r) => r.code), [250, 552, 250], replies.map((r) => r.text).join(' / '));
  assert.is(replies[1].text, '552 5.2.3 <two@beta.localhost>: Message too big for beta (at most 5120 bytes, its max_body)');
  // Past every recipient's app: each refused, nothing kept.
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<four@beta.localhost>')).code, 250);
  assert.match((await talk.data(message({ subject: 'over beta\'s max_body alone over lmtp', size: 7000 }))).text, /^552 5\.2\.3 <four@beta\.localhost>: Message too big for beta /);
  assert.is((await talk.command('NOOP')).code, 250);
  talk.close();
  const got = await waitFor(async () => ((await (await request('http://localhost/alpha/deliveries', { dispatcher: viaSocket })).body.json()) as any[]).find((d) => d.subject === 'over beta\'s max_body over lmtp'), 10_000, 'alpha\'s delivery');
  assert.is(got.to, 'one@alpha.localhost, three@alpha.localhost');
  const beta = (await (await request('http://localhost/beta/deliveries', { dispatcher: viaSocket })).body.json()) as any[];
  assert.equal(beta.filter((d) => /over beta's max_body/.test(d.subject)), []);
  const status = await waitFor(async () => { const mail = (await gatewayStatus(gw)).mail; return mail.spooled === 0 ? mail : undefined; }, 10_000, 'the spool to empty');
  assert.equal(status.dead, [], 'no delivery for beta, kept or tried');
});

test('a recipient whose app goes away between RCPT and DATA: its own 451 4.3.2 after the message, naming the app as RCPT would; the others get it', async () => {
  addPackage(apps.path, 'mail-sink', 'gamma');
  await waitFor(async () => (await gatewayStatus(gw)).apps.some((a: any) => a.name === 'gamma' && a.state === 'ready'), 30_000, 'gamma to serve');
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@gamma.localhost>')).code, 250);
  rmSync(join(apps.path, 'gamma'), { recursive: true, force: true });
  await waitFor(async () => !(await gatewayStatus(gw)).apps.some((a: any) => a.name === 'gamma'), 30_000, 'gamma to be gone');
  const replies = [await talk.data(message({ subject: 'gamma went away over lmtp' })), await talk.reply()];
  assert.equal(replies.map((r) => r.code), [250, 451], replies.map((r) => r.text).join(' / '));
  assert.is(replies[1].text, '451 4.3.2 <one@gamma.localhost>: its app (gamma) is not serving now; try again later');
  talk.close();
});

test('a message sent with SMTPUTF8: its X-Apppkg-Received says `with UTF8LMTP` (RFC 6531 3.7.3)', async () => {
  const talk = await lhlo();
  assert.is((await talk.command('MAIL FROM:<jürgen@example.org> SMTPUTF8')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'utf8 over lmtp' }))).code, 250);
  talk.close();
  const got = await waitFor(async () => ((await (await request('http://localhost/alpha/deliveries', { dispatcher: viaSocket })).body.json()) as any[]).find((d) => d.subject === 'utf8 over lmtp'), 10_000, 'alpha\'s delivery');
  assert.is(got.received_with, 'UTF8LMTP');
});


test('the POST\'s body is the message as sent in DATA, byte for byte, to each recipient\'s app; each signed over those bytes with its own APPPKG_MAIL_SECRET', async () => {
  const subject = 'byte for byte over lmtp';
  const received = await sendAwkwardMessage(await lhlo(), subject, ['raw@alpha.localhost', 'raw@beta.localhost'], true);
  for (const app of ['alpha', 'beta']) {
    const got = await waitFor(async () => ((await (await request(`http://localhost/${app}/deliveries`, { dispatcher: viaSocket })).body.json()) as any[]).find((d) => d.subject === subject), 10_000, `${app}'s delivery`);
    assertDeliveredAsSent(got, received, { state: state.path, app, trace: / \(apppkg-gateway\) with LMTP id / });
  }
});

test.run();
