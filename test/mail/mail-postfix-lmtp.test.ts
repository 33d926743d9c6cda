// The gateway behind a real Postfix (SPEC 5.3: `lmtp: true` "for LMTP behind Postfix"), as
// docs/mail.md's "Behind Postfix" sets it up, with the main.cf lines that section gives: a
// message submitted to Postfix reaches the app byte for byte after Postfix's own Received:
// field; a domain no app claims and a message past max_size bounce at Postfix; Postfix's queue
// lets go of a message once the gateway has it on disk, whatever the app answers; a gateway
// down defers it at Postfix until it is back; and one LMTP transaction for several recipients
// gets its per-recipient answers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { dataWire, POSTFIX_RETRY_MS, postfixMissing, startPostfix, submitToPostfix, type RunningPostfix } from '../helpers/postfix.js';
import { behindPostfixLines, splitPostfixTrace } from '../helpers/behind-postfix.js';
import { asReceived, awkwardMessage, sinkDeliveries, sinkDeliveryOf, stopBehindPostfix, type PostfixDelivery } from '../helpers/postfix-sink.js';
import { assertDeliveredAsSent } from '../helpers/smtp.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('mail behind Postfix, over LMTP');
const missing = postfixMissing();
const ifPostfix = runIf(test, missing === null, missing ?? '');
const apps = tempDir('apppkg-postfix-apps-');
const state = tempDir('apppkg-postfix-state-');
const envFile = join(state.path, 'environment.yaml');
const DOMAINS = ['alpha.localhost', 'beta.localhost', 'slow.localhost', 'nobody.example.net', 'xn--bcher-kva.example', 'bücher.example'];
let postfix: RunningPostfix | undefined;
let gw: RunningGateway | undefined;
let pids: number[] = [];
let mailPort: number;

async function startGateway(): Promise<void> {
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
}

async function stopGateway(): Promise<void> {
  await gw?.stop();
  gw = undefined;
  await assertNoOrphans(pids);
}

function deliveries(app: string): Promise<PostfixDelivery[]> {
  return sinkDeliveries(gw!, app);
}

function deliveryOf(app: string, subject: string, ms = 20_000): Promise<PostfixDelivery> {
  return sinkDeliveryOf(gw!, app, subject, ms);
}

test.before(async () => {
  if (missing !== null) return;
  for (const name of ['alpha', 'beta', 'slow']) addPackage(apps.path, 'mail-sink', name);
  mailPort = await getPort({ host: '127.0.0.1' });
  writeFileSync(envFile, `mail:\n  listen: 127.0.0.1:${mailPort}\n  lmtp: true\n  max_size: 20000\n  max_recipients: 3\n  retry: [1]\n  give_up: 600\napps:\n  alpha:\n    workers: 1\n    mail_domains: [alpha.localhost, xn--bcher-kva.example]\n  beta:\n    workers: 1\n    max_body: 5KB\n  slow:\n    workers: 1\n    timeout: 2\n`);
  postfix = await startPostfix({ mainCf: [...behindPostfixLines('lmtp', DOMAINS, mailPort), 'bounce_size_limit = 2000'] });
  await startGateway();
});

test.after(() => stopBehindPostfix({ gw, pids, postfix, remove: () => { apps.remove(); state.remove(); } }));

ifPostfix('a message submitted to Postfix reaches the app byte for byte after Postfix\'s Received: field, signed, with its envelope and a delivery id', async () => {
  const subject = 'through postfix over lmtp';
  const lines = awkwardMessage(subject, 'one@alpha.localhost');
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(lines));
  const got = await deliveryOf('alpha', subject);
  const { trace, rest } = splitPostfixTrace(Buffer.from(got.body_b64, 'base64'), qid);
  assert.ok(rest.equals(asReceived(lines)), `the message after Postfix's trace is the one submitted, byte for byte:\n${rest.toString('latin1')}`);
  assertDeliveredAsSent(got, Buffer.concat([trace, rest]), { state: state.path, app: 'alpha', trace: /^from mx\.postfix\.test \(\[127\.0\.0\.1\]\) by \S+ \(apppkg-gateway\) with LMTP id \S+ for <one@alpha\.localhost>;/ });
  assert.is(got.from, 'ann@alpha.localhost');
  assert.is(got.to, 'one@alpha.localhost');
  assert.match(got.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=sent \\(250 `), 20_000, 'the delivery'), /relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+/);
});

ifPostfix('a domain no app claims: the gateway\'s 550 at RCPT makes Postfix bounce it to the sender, whose app gets the bounce from <>', async () => {
  const subject = 'to a domain nobody claims';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['x@nobody.example.net'], dataWire(awkwardMessage(subject, 'x@nobody.example.net')));
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<x@nobody\\.example\\.net>.* status=bounced`), 20_000, 'the bounce');
  assert.match(line, /said: 550 .*\(in reply to RCPT TO command\)/, line);
  const bounce = await waitFor(async () => (await deliveries('alpha')).find((d) => d.from === '' && d.message.includes(subject) && /x@nobody\.example\.net/.test(d.message)), 20_000, 'the bounce at alpha', 200);
  assert.is(bounce.to, 'ann@alpha.localhost');
  assert.match(bounce.message, /550/);
});

ifPostfix('over mail.max_size: Postfix reads the gateway\'s SIZE limit off its LHLO reply and bounces the message itself; the gateway never gets it', async () => {
  const before = (await gatewayStatus(gw!)).mail.received;
  const subject = 'too big for the gateway';
  const body = Array.from({ length: 400 }, () => Buffer.from('x'.repeat(76)));
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire([...awkwardMessage(subject, 'one@alpha.localhost'), ...body]));
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=bounced`), 20_000, 'the bounce');
  assert.match(line, /dsn=5\.3\.4, status=bounced \(message size \d+ exceeds size limit 20000 of server 127\.0\.0\.1\[127\.0\.0\.1\]\)/, line);
  await waitFor(async () => (await deliveries('alpha')).find((d) => d.from === '' && d.message.includes(subject)), 20_000, 'the bounce at alpha', 200);
  assert.equal((await deliveries('alpha')).filter((d) => d.subject === subject), [], 'the app never got it');
  // The bounce was received since; the big one never was.
  assert.is((await gatewayStatus(gw!)).mail.received, before + 1);
});

ifPostfix('the app answering 5xx, then timing out: Postfix sees 250 once the gateway has it on disk; the gateway retries it with the same delivery id', async () => {
  const failing = 'answer-503-once first attempt refused';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(awkwardMessage(failing, 'one@alpha.localhost')));
  await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=sent \\(250 `), 20_000, 'the delivery to the gateway');
  const attempts = await waitFor(async () => { const all = (await deliveries('alpha')).filter((d) => d.subject === failing); return all.some((d) => d.status === 200) ? all : undefined; }, 20_000, 'the retry to be taken', 200);
  assert.equal(attempts.map((d) => d.status), [503, 200]);
  assert.is(attempts[0].id, attempts[1].id, 'the same delivery id on the retry');
  assert.not.match(postfix!.log(), new RegExp(`${qid}: .*status=(deferred|bounced)`), 'Postfix tried once');

  // slow's timeout is 2 s: a handler held past it gets the gateway's 504, and Postfix is done long before.
  const held = 'hold-until-released past the timeout';
  const heldQid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@slow.localhost'], dataWire(awkwardMessage(held, 'one@slow.localhost')));
  await postfix!.waitForLog(new RegExp(`${heldQid}: to=<one@slow\\.localhost>.* status=sent \\(250 `), 20_000, 'the delivery to the gateway');
  await waitFor(async () => ((await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'slow')?.mail?.failedAttempts ?? 0) >= 1, 30_000, 'an attempt to time out', 200);
  assert.not.ok(postfix!.queued().includes(heldQid), 'Postfix\'s queue has let go of it');
  assert.ok(readdirSync(join(state.path, 'mail', 'queue')).length >= 1, 'the gateway\'s spool holds it');
  writeFileSync(join(state.path, 'apps', 'slow', 'data', 'release'), '');
  const got = await deliveryOf('slow', held, 30_000);
  assert.ok(got.signature_ok);
  assert.not.match(postfix!.log(), new RegExp(`${heldQid}: .*status=(deferred|bounced)`), 'Postfix tried once');
});

ifPostfix('several recipients in one LMTP transaction: a reply after the message for each one accepted, the one no app claims refused at its RCPT, each its own fate at Postfix', async () => {
  const subject = 'three recipients in one transaction';
  const to = ['one@alpha.localhost', 'x@nobody.example.net', 'two@beta.localhost'];
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', to, dataWire(awkwardMessage(subject, to.join(', '))));
  const fates = await waitFor(() => { const lines = postfix!.log().split('\n').filter((l) => l.includes(`${qid}: to=<`) && / status=(sent|bounced|deferred) /.test(l)); return lines.length === 3 ? lines : undefined; }, 20_000, () => `Postfix's three fates of ${qid}:\n${postfix!.log()}`, 100);
  const fate = (rcpt: string) => fates.find((l) => l.includes(`to=<${rcpt}>`)) ?? '';
  assert.match(fate('one@alpha.localhost'), /status=sent \(250 /, fate('one@alpha.localhost'));
  assert.match(fate('two@beta.localhost'), /status=sent \(250 /, fate('two@beta.localhost'));
  assert.match(fate('x@nobody.example.net'), /status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 .*\(in reply to RCPT TO command\)/, fate('x@nobody.example.net'));
  const alpha = await deliveryOf('alpha', subject);
  const beta = await deliveryOf('beta', subject);
  assert.is(alpha.to, 'one@alpha.localhost', 'each app gets its own recipients');
  assert.is(beta.to, 'two@beta.localhost');
  const messageId = (d: PostfixDelivery) => /\(apppkg-gateway\) with LMTP id (\S+) /.exec(d.received ?? '')?.[1];
  assert.ok(messageId(alpha) && messageId(alpha) === messageId(beta), `one message, so one transaction: ${alpha.received} / ${beta.received}`);
});

ifPostfix('past one recipient app\'s max_body: its 552 5.2.3 at RCPT (Postfix said SIZE=) bounces that recipient alone; the other is delivered', async () => {
  const subject = 'past beta\'s max_body';
  const to = ['one@alpha.localhost', 'two@beta.localhost'];
  const big = Array.from({ length: 90 }, () => Buffer.from('y'.repeat(76)));
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', to, dataWire([...awkwardMessage(subject, to.join(', ')), ...big]));
  await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=sent \\(250 `), 20_000, 'alpha\'s recipient delivered');
  const beta = await postfix!.waitForLog(new RegExp(`${qid}: to=<two@beta\\.localhost>.* status=bounced`), 20_000, 'beta\'s recipient bounced');
  assert.match(beta, /said: 552 5\.2\.3 <two@beta\.localhost>: Message too big for beta \(at most 5120 bytes, its max_body\) \(in reply to RCPT TO command\)/, beta);
  assert.is((await deliveryOf('alpha', subject)).to, 'one@alpha.localhost');
  assert.equal((await deliveries('beta')).filter((d) => d.subject === subject), []);
});

ifPostfix('a UTF-8 recipient (SMTPUTF8): Postfix relays it under SMTPUTF8, and the app gets it percent-encoded, `with UTF8LMTP`', async () => {
  const subject = 'utf8 through postfix';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['jürgen@alpha.localhost'], dataWire(awkwardMessage(subject, 'jürgen@alpha.localhost')), 'BODY=8BITMIME SMTPUTF8');
  await postfix!.waitForLog(new RegExp(`${qid}: to=<jürgen@alpha\\.localhost>.* status=sent \\(250 `), 20_000, 'the delivery');
  const got = await deliveryOf('alpha', subject);
  assert.is(got.to, 'j%C3%BCrgen@alpha.localhost');
  assert.equal((got as any).rcpts, ['jürgen@alpha.localhost']);
  assert.is((got as any).received_with, 'UTF8LMTP');
});

ifPostfix('an internationalised domain (SMTPUTF8), in main.cf in both its forms as docs/mail.md says: relayed to the gateway, and the app that names its ASCII form gets it', async () => {
  const subject = 'idn through postfix';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['x@bücher.example'], dataWire(awkwardMessage(subject, 'x@bücher.example')), 'BODY=8BITMIME SMTPUTF8');
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<x@bücher\\.example>.* status=(sent|bounced|deferred)`), 20_000, 'the delivery');
  assert.match(line, /status=sent \(250 /, line);
  const got = await deliveryOf('alpha', subject);
  assert.is(got.to, 'x@b%C3%BCcher.example');
});

ifPostfix('more recipients than mail.max_recipients: the gateway\'s 452 4.5.3 defers the rest at Postfix, which sends them in another transaction', async () => {
  const subject = 'five recipients, three at most a message';
  const to = ['r1', 'r2', 'r3', 'r4', 'r5'].map((local) => `${local}@alpha.localhost`);
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', to, dataWire(awkwardMessage(subject, 'r1@alpha.localhost')));
  for (const rcpt of to) await postfix!.waitForLog(new RegExp(`${qid}: to=<${rcpt.replace('.', '\\.')}>.* status=sent \\(250 `), POSTFIX_RETRY_MS, `${rcpt} delivered`);
  // Postfix's 250 is the gateway's acceptance (on disk); the POST to the app comes after it.
  const recipients = (all: PostfixDelivery[]) => all.flatMap((d) => d.to.split(', ')).sort();
  const got = await waitFor(async () => {
    const all = (await deliveries('alpha')).filter((d) => d.subject === subject && d.status === 200);
    return recipients(all).length >= to.length ? all : undefined;
  }, 20_000, 'the app\'s deliveries to every recipient', 200);
  assert.equal(recipients(got), to, 'each recipient once, over the deliveries');
  assert.ok(got.length >= 2, 'in more than one message');
  assert.match(postfix!.log(), new RegExp(`${qid}: .*status=deferred .*said: 452 4\\.5\\.3 `), 'Postfix was told 452 and tried again');
});

ifPostfix('the gateway stopped while Postfix holds mail: Postfix defers it, and delivers it once the gateway is back', async () => {
  await stopGateway();
  const subject = 'while the gateway was down';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(awkwardMessage(subject, 'one@alpha.localhost')));
  assert.match(await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=deferred`), 20_000, 'the deferral'), /Connection refused/);
  assert.ok(postfix!.queued().includes(qid), 'Postfix holds it');
  await startGateway();
  await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=sent \\(250 `), POSTFIX_RETRY_MS, 'the delivery once the gateway is back');
  const got = await deliveryOf('alpha', subject);
  assert.ok(got.signature_ok);
  await waitFor(() => !postfix!.queued().includes(qid), 10_000, `Postfix's queue to let go of ${qid}`);
});

test.run();
