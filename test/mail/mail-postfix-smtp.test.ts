// The gateway's SMTP listener (no `lmtp:`) behind a real Postfix, its `smtp:[127.0.0.1]:PORT`
// transport as docs/mail.md's "Behind Postfix" gives it: a message submitted to Postfix reaches
// the app byte for byte after Postfix's Received: field, with the envelope Postfix relayed; a
// domain no app claims and a message past max_size bounce at Postfix; several recipients, of
// two apps and of none, each its own fate. LMTP: mail-postfix-lmtp.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { addPackage } from '../helpers/apps-dir.js';
import { behindPostfixLines, splitPostfixTrace } from '../helpers/behind-postfix.js';
import { dataWire, postfixMissing, startPostfix, submitToPostfix, type RunningPostfix } from '../helpers/postfix.js';
import { asReceived, awkwardMessage, sinkDeliveries, sinkDeliveryOf, stopBehindPostfix, type PostfixDelivery } from '../helpers/postfix-sink.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { assertDeliveredAsSent } from '../helpers/smtp.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('mail behind Postfix, over SMTP');
const missing = postfixMissing();
const ifPostfix = runIf(test, missing === null, missing ?? '');
const apps = tempDir('apppkg-postfix-apps-');
const state = tempDir('apppkg-postfix-state-');
const envFile = join(state.path, 'environment.yaml');
const DOMAINS = ['alpha.localhost', 'beta.localhost', 'nobody.example.net'];
let postfix: RunningPostfix | undefined;
let gw: RunningGateway | undefined;
let pids: number[] = [];

function deliveries(app: string): Promise<PostfixDelivery[]> {
  return sinkDeliveries(gw!, app);
}

function deliveryOf(app: string, subject: string): Promise<PostfixDelivery> {
  return sinkDeliveryOf(gw!, app, subject);
}

test.before(async () => {
  if (missing !== null) return;
  for (const name of ['alpha', 'beta']) addPackage(apps.path, 'mail-sink', name);
  const mailPort = await getPort({ host: '127.0.0.1' });
  writeFileSync(envFile, `mail:\n  listen: 127.0.0.1:${mailPort}\n  max_size: 20000\napps:\n  alpha:\n    workers: 1\n  beta:\n    workers: 1\n`);
  postfix = await startPostfix({ mainCf: [...behindPostfixLines('smtp', DOMAINS, mailPort), 'bounce_size_limit = 2000'] });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
});

test.after(() => stopBehindPostfix({ gw, pids, postfix, remove: () => { apps.remove(); state.remove(); } }));

ifPostfix('a message submitted to Postfix reaches the app byte for byte after Postfix\'s Received: field, signed, with its envelope and a delivery id', async () => {
  const subject = 'through postfix over smtp';
  const lines = awkwardMessage(subject, 'one@alpha.localhost');
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(lines));
  const got = await deliveryOf('alpha', subject);
  const { trace, rest } = splitPostfixTrace(Buffer.from(got.body_b64, 'base64'), qid);
  assert.ok(rest.equals(asReceived(lines)), `the message after Postfix's trace is the one submitted, byte for byte:\n${rest.toString('latin1')}`);
  assertDeliveredAsSent(got, Buffer.concat([trace, rest]), { state: state.path, app: 'alpha', trace: /^from mx\.postfix\.test \(\[127\.0\.0\.1\]\) by \S+ \(apppkg-gateway\) with ESMTP id \S+ for <one@alpha\.localhost>;/ });
  assert.is(got.from, 'ann@alpha.localhost');
  assert.is(got.to, 'one@alpha.localhost');
  assert.match(got.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=sent \\(250 `), 20_000, 'the delivery');
  assert.match(line, /relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+/, line);
});

ifPostfix('a domain no app claims: the gateway\'s 550 at RCPT makes Postfix bounce it to the sender, whose app gets the bounce from <>', async () => {
  const subject = 'to a domain nobody claims over smtp';
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['x@nobody.example.net'], dataWire(awkwardMessage(subject, 'x@nobody.example.net')));
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<x@nobody\\.example\\.net>.* status=bounced`), 20_000, 'the bounce');
  assert.match(line, /said: 550 5\.7\.1 <x@nobody\.example\.net>: .*\(in reply to RCPT TO command\)/, line);
  const bounce = await waitFor(async () => (await deliveries('alpha')).find((d) => d.from === '' && d.message.includes(subject)), 20_000, 'the bounce at alpha', 200);
  assert.is(bounce.to, 'ann@alpha.localhost');
  assert.ok(bounce.signature_ok);
});

ifPostfix('over mail.max_size: Postfix reads the gateway\'s SIZE limit off its EHLO reply and bounces the message itself', async () => {
  const subject = 'too big for the gateway over smtp';
  const body = Array.from({ length: 400 }, () => Buffer.from('x'.repeat(76)));
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire([...awkwardMessage(subject, 'one@alpha.localhost'), ...body]));
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=bounced`), 20_000, 'the bounce');
  assert.match(line, /status=bounced \(message size \d+ exceeds size limit 20000 of server 127\.0\.0\.1\[127\.0\.0\.1\]\)/, line);
  await waitFor(async () => (await deliveries('alpha')).find((d) => d.from === '' && d.message.includes(subject)), 20_000, 'the bounce at alpha', 200);
  assert.equal((await deliveries('alpha')).filter((d) => d.subject === subject), [], 'the app never got it');
});

ifPostfix('several recipients over SMTP: the one no app claims refused at its RCPT and bounced, the others delivered, one delivery per app', async () => {
  const subject = 'three recipients over smtp';
  const to = ['one@alpha.localhost', 'x@nobody.example.net', 'two@beta.localhost', 'three@alpha.localhost'];
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', to, dataWire(awkwardMessage(subject, to.join(', '))));
  const fates = await waitFor(() => { const lines = postfix!.log().split('\n').filter((l) => l.includes(`${qid}: to=<`) && / status=(sent|bounced|deferred) /.test(l)); return lines.length === 4 ? lines : undefined; }, 20_000, () => `Postfix's four fates of ${qid}:\n${postfix!.log()}`, 100);
  for (const rcpt of ['one@alpha.localhost', 'two@beta.localhost', 'three@alpha.localhost']) {
    const fate = fates.find((l) => l.includes(`to=<${rcpt}>`)) ?? '';
    assert.match(fate, /status=sent \(250 /, fate);
  }
  const nobody = fates.find((l) => l.includes('to=<x@nobody.example.net>')) ?? '';
  assert.match(nobody, /status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 /, nobody);
  assert.is((await deliveryOf('alpha', subject)).to, 'one@alpha.localhost, three@alpha.localhost');
  assert.is((await deliveryOf('beta', subject)).to, 'two@beta.localhost');
});

test.run();
