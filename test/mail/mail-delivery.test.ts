// Incoming mail end to end (issue 16, SPEC 5.3): real clients (Python's smtplib, Debian's swaks,
// raw bytes) talk to the gateway's mail listener; real apps receive the deliveries through the
// gateway's public listener and record them (test/fixtures/apps/mail-sink, examples/support-desk).
import { spawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, runCli, startCli, tempDir, waitFor, within, FIXTURES, type RunningGateway } from '../helpers/process.js';
import { assertDeliveredAsSent, mailPort, message, sendAwkwardMessage, sendRaw, sendWithSmtplib, SmtpTalk } from '../helpers/smtp.js';

const test = suite('mail delivery');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'beta');
  addPackage(apps.path, 'mail-sink', 'slow');
  addPackage(apps.path, 'environ', 'plain');
  addPackage(apps.path, 'examples/support-desk', 'support-desk');
  writeFileSync(envFile, [
    'mail:',
    '  listen: 127.0.0.1:0',
    '  max_size: 20000',
    '  max_recipients: 3',
    '  retry: [0.3]',
    '  give_up: 3',
    '  timeout: 1.5',
    // One worker an app: its 8 threads take the attempts a test has in flight at once (4 an
    // app), and no test here is about a second worker; each one more cost a Python start.
    'defaults:',
    '  workers: 1',
    'apps:',
    '  beta:',
    '    mail_domains: [beta.example.com, Lists.Example.com, xn--bcher-kva.example]',
    '    max_body: 10KB', // below mail.max_size: beta's own limit holds at SMTP time
    '  slow:',
    '    timeout: 1', // a handler slower than this gets the gateway's 504
    '',
  ].join('\n'));
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], {
    ms: 60_000,
  });
  port = mailPort(gw.output());
});

test.after(async () => {
  const pids = gw ? statusPids(await gatewayStatus(gw).catch(() => ({ apps: [] }))) : [];
  const code = await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
  assert.is(code, 0, 'the gateway stops cleanly with its mail listener');
});

interface Delivery {
  id: string;
  app: string;
  subject: string;
  status: number;
  from: string;
  to: string;
  type: string;
  signature_ok: boolean;
  received: string | null;
  body_received: boolean;
  body_b64: string;
  signature: string;
  secret_set: boolean;
  received_id: string | null;
  size: number;
}

/** Each look at an app's deliveries is a request through the gateway to its Python worker: CPU of both. */
const POLL_APP_EVERY_MS = 100;

async function deliveries(app: string): Promise<Delivery[]> {
  const res = await request(`${gw.url}/${app}/deliveries`);
  return (await res.body.json()) as Delivery[];
}

async function deliveriesOf(app: string, subject: string, atLeast = 1, ms = 10_000): Promise<Delivery[]> {
  return waitFor(async () => {
    const found = (await deliveries(app)).filter((d) => d.subject === subject);
    return found.length >= atLeast ? found : undefined;
  }, ms, `${atLeast} deliveries of "${subject}" to ${app}`, POLL_APP_EVERY_MS);
}

async function mailStatus(): Promise<any> {
  return (await gatewayStatus(gw)).mail;
}

/** EHLO done, ready for MAIL FROM. */
async function session(): Promise<SmtpTalk> {
  const talk = await SmtpTalk.connect(port);
  assert.is((await talk.reply()).code, 220);
  assert.is((await talk.command('EHLO client.test')).code, 250);
  return talk;
}

test('one message to two apps: one delivery each, signed, with its envelope', async () => {
  const subject = 'two apps';
  const sent = await sendWithSmtplib(port, 'ann@example.org', ['a1@alpha.localhost', 'A2@Alpha.Localhost', 'b@beta.example.com'], message({ subject }));
  assert.equal(sent, { refused: {} });
  const [alpha] = await deliveriesOf('alpha', subject);
  const [beta] = await deliveriesOf('beta', subject);
  await new Promise((r) => setTimeout(r, 500)); // time for a wrong second delivery to show
  assert.is((await deliveries('alpha')).filter((d) => d.subject === subject).length, 1, 'one delivery for both alpha recipients');
  assert.is(alpha.to, 'a1@alpha.localhost, A2@Alpha.Localhost');
  assert.is(beta.to, 'b@beta.example.com');
  for (const d of [alpha, beta]) {
    assert.is(d.status, 200);
    assert.is(d.from, 'ann@example.org');
    assert.is(d.type, 'message/rfc822');
    assert.ok(d.secret_set, 'APPPKG_MAIL_SECRET is in the app\'s environment');
    assert.ok(d.signature_ok, `the signature of ${d.app}'s delivery verifies with its own secret`);
    assert.match(d.received ?? '', /^from client\.test \(\[127\.0\.0\.1\]\) by \S+ \(apppkg-gateway\) with ESMTP id [0-9a-z]+-[0-9a-f]{12}; \w{3}, \d\d \w{3} \d{4} [\d:]{8} \+0000$/, 'the trace in X-Apppkg-Received');
    assert.not.ok(d.body_received, 'the body is the message as sent, no Received: line of the gateway\'s before it');
    assert.match(d.id, /^[0-9a-f-]{36}$/);
  }
  assert.is.not(alpha.id, beta.id);
  // Each app has its own key, never another's.
  const key = (name: string) => readFileSync(join(state.path, 'apps', name, 'mail-secret'), 'utf8');
  assert.is.not(key('alpha'), key('beta'));
  assert.not.ok(existsSync(join(state.path, 'apps', 'plain', 'mail-secret')), 'an app without mail: gets no key');
  await waitFor(async () => (await mailStatus()).spooled === 0, 5000, 'the spool to empty', ASK_GATEWAY_EVERY_MS);
  assert.equal(readdirSync(join(state.path, 'mail', 'messages')), [], 'a delivered message leaves the spool');
});

/** NOOP on `talk` every `everyMs` until stop(), which rejects if one was not answered 250. */
function keepSessionAlive(talk: SmtpTalk, everyMs = 300): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const noop = await talk.command('NOOP');
      if (noop.code !== 250) throw new Error(`NOOP to keep the session: ${noop.text}`);
      await sleep(everyMs);
    }
  })();
  loop.catch(() => undefined); // seen by stop(); not an unhandled rejection before it
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

test('a recipient whose app goes away between RCPT and DATA: 451 for the message (SMTP has one reply), never a 250 that loses its copy', async () => {
  addPackage(apps.path, 'mail-sink', 'gamma');
  await waitFor(async () => (await gatewayStatus(gw)).apps.some((a: any) => a.name === 'gamma' && a.state === 'ready'), 30_000, 'gamma to serve', ASK_GATEWAY_EVERY_MS);
  const talk = await SmtpTalk.connect(port);
  await talk.reply();
  assert.is((await talk.command('EHLO client.test')).code, 250);
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@gamma.localhost>')).code, 250);
  rmSync(join(apps.path, 'gamma'), { recursive: true, force: true });
  // mail.timeout (1.5 s here) runs between RCPT and DATA too: on a loaded machine gamma took
  // longer to go, and DATA got "421 4.4.2 Timeout" instead. NOOPs keep this session and its
  // envelope meanwhile, so DATA still meets a recipient accepted while its app served.
  const keepAlive = keepSessionAlive(talk);
  try {
    await waitFor(async () => !(await gatewayStatus(gw)).apps.some((a: any) => a.name === 'gamma'), 30_000, 'gamma to be gone', ASK_GATEWAY_EVERY_MS);
  } finally {
    await keepAlive.stop();
  }
  const reply = await talk.data(message({ subject: 'gamma went away' }));
  assert.is(reply.code, 451, reply.text);
  assert.is(reply.text, '451 4.3.2 <one@gamma.localhost>: its app (gamma) is not serving now; try again later', 'named as RCPT names it');
  talk.close();
});

test('a domain no app claims: 550, never a relay; an app without mail: also 550', async () => {
  const refusedBefore = (await mailStatus()).refused;
  const relay = await sendWithSmtplib(port, 'spammer@example.net', ['victim@example.com'], message({ subject: 'relay?' }));
  assert.is(relay.error, 'recipients refused');
  assert.is(relay.refused!['victim@example.com'][0], 550);
  // RFC 3463: X.7.1 "delivery not authorized", as a refused relay is everywhere (not 5.1.1, no such user).
  assert.match(relay.refused!['victim@example.com'][1], /^5\.7\.1 <victim@example\.com>: .*relaying denied$/);
  const plain = await sendWithSmtplib(port, 'ann@example.org', ['x@plain.localhost'], message({ subject: 'plain' }));
  assert.is(plain.refused!['x@plain.localhost'][0], 550);
  // X.1.2: the destination system (the app owning the domain) cannot accept mail.
  assert.match(plain.refused!['x@plain.localhost'][1], /^5\.1\.2 <x@plain\.localhost>: its app \(plain\) takes no mail$/);
  // A mixed envelope: the known recipient gets it, the other is refused.
  const mixed = await sendWithSmtplib(port, 'ann@example.org', ['x@example.com', 'c@lists.example.com'], message({ subject: 'mixed' }));
  assert.is(mixed.refused!['x@example.com'][0], 550);
  assert.is((await deliveriesOf('beta', 'mixed'))[0].to, 'c@lists.example.com');
  assert.ok((await mailStatus()).refused >= refusedBefore + 3);
});

test('a package whose app.yaml does not load still owns its domain: 451 (the sender tries again once it is fixed), never the 550 that bounces for good', async () => {
  const dir = join(apps.path, 'gamma');
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: gamma:application\nmail: /_mail\nmail_path: /oops\n');
  try {
    await waitFor(async () => (await gatewayStatus(gw)).broken.some((b: { dir: string }) => b.dir.endsWith('gamma')) || undefined, 15_000, 'gamma to be listed as broken', ASK_GATEWAY_EVERY_MS);
    const sent = await sendWithSmtplib(port, 'ann@example.org', ['x@gamma.localhost'], message({ subject: 'to a broken package' }));
    assert.equal(sent.refused, { 'x@gamma.localhost': [451, '4.3.2 <x@gamma.localhost>: its app (gamma) is not serving now; try again later'] }, JSON.stringify(sent));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RCPT TO:<postmaster> (RFC 5321 4.5.1) with no mail.postmaster: accepted, then kept as a dead letter in status for the administrator', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<mailer-daemon@example.net>')).code, 250);
  const reply = await talk.command('RCPT TO:<Postmaster>');
  assert.is(reply.code, 250, reply.text);
  assert.is((await talk.command('RCPT TO:<pm-too@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'bounce for the postmaster' }), 10_000)).code, 250);
  talk.close();
  const dead = await waitFor(async () => (await mailStatus()).dead.find((d: any) => d.to[0] === 'Postmaster'), 5000, 'the postmaster mail in status', ASK_GATEWAY_EVERY_MS);
  assert.is(dead.app, '');
  assert.is(dead.from, 'mailer-daemon@example.net');
  assert.is(dead.attempts, 0);
  assert.match(dead.reason, /mail for postmaster, and no app takes it: name one in mail\.postmaster of the environment file/);
  assert.match(readFileSync(dead.file, 'utf8'), /Subject: bounce for the postmaster/);
  assert.is((await deliveriesOf('alpha', 'bounce for the postmaster'))[0].to, 'pm-too@alpha.localhost', 'the other recipient has it as usual');
  const table = await runCli(['status', '--admin', gw.adminUrl!.replace(/^http:\/\//, '')]);
  assert.match(table.stdout, new RegExp(`dead letter ${dead.id} to no app \\(Postmaster\\) since .*: mail for postmaster`), table.stdout + table.stderr);
  // The rest of the gateway's refusals stand: a domainless address that is not postmaster.
  const other = await session();
  assert.is((await other.command('MAIL FROM:<ann@example.org>')).code, 250);
  const nobody = await other.command('RCPT TO:<webmaster>');
  assert.is(nobody.code, 501, nobody.text);
  other.close();
});

test('too big: 552 on MAIL FROM SIZE= and while the message streams, each counted as refused; the listener goes on', async () => {
  const talk = await session();
  const refusedBefore = (await mailStatus()).refused;
  const announced = await talk.command('MAIL FROM:<ann@example.org> SIZE=30000');
  assert.is(announced.code, 552, announced.text);
  assert.match(announced.text, /^552 5\.3\.4 /);
  // smtp-server answers this one by itself, before any hook of ours: counted all the same.
  assert.is((await mailStatus()).refused, refusedBefore + 1, 'the 552 at SIZE= is counted in refused');
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<big@alpha.localhost>')).code, 250);
  const streamed = await talk.data(message({ subject: 'too big', size: 60_000 }), 10_000);
  assert.is(streamed.code, 552, streamed.text);
  assert.match(streamed.text, /^552 5\.3\.4 /);
  assert.is((await mailStatus()).refused, refusedBefore + 2, 'the 552 after DATA is counted too');
  assert.match(await (await request(`${gw.adminUrl}/metrics`)).body.text(), new RegExp(`apppkg_mail_refused_total ${refusedBefore + 2}\\n`));
  // The same connection takes the next message.
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<small@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'small after big' }))).code, 250);
  talk.close();
  await deliveriesOf('alpha', 'small after big');
  assert.is((await deliveries('alpha')).filter((d) => d.subject === 'too big').length, 0);
  assert.equal(readdirSync(join(state.path, 'mail', 'tmp')), [], 'nothing of the big one is left on disk');
});

test('the POST\'s body is the message as sent in DATA, byte for byte (dots unstuffed, a bare LF, 8-bit bytes, a client\'s own Received: first, no line end last), signed over exactly those bytes with the app\'s APPPKG_MAIL_SECRET', async () => {
  const subject = 'byte for byte over smtp';
  const received = await sendAwkwardMessage(await session(), subject, ['raw@alpha.localhost']);
  const [d] = await deliveriesOf('alpha', subject);
  assertDeliveredAsSent(d, received, { state: state.path, app: 'alpha', trace: / \(apppkg-gateway\) with ESMTP id / });
});

test('larger than the recipient app\'s max_body (though under mail.max_size): 552 naming the app, never a 250 that no delivery could keep', async () => {
  const talk = await session();
  for (const [to, code] of [['x@beta.example.com', 552], ['x@alpha.localhost', 250]] as const) {
    assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
    assert.is((await talk.command(`RCPT TO:<${to}>`)).code, 250);
    const reply = await talk.data(message({ subject: `over beta's max_body to ${to}`, size: 15_000 }), 10_000);
    assert.is(reply.code, code, reply.text);
    // X.2.3: a per-recipient limit below the system's (X.3.4, which mail.max_size gets).
    if (code === 552) assert.match(reply.text, /^552 5\.2\.3 Message too big for beta \(at most 10240 bytes, its max_body\)$/);
  }
  talk.close();
  await deliveriesOf('alpha', "over beta's max_body to x@alpha.localhost");
});

test('a message of exactly beta\'s max_body is taken and delivered (its POST is the message alone, the trace in a header); one byte more: 552 5.2.3', async () => {
  /** A message of exactly `bytes` bytes as the listener receives it (its CRLF before the final dot included). */
  const exactly = (subject: string, bytes: number) => {
    const head = message({ subject, body: '' });
    return head + 'x'.repeat(bytes - head.length - 2);
  };
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  for (const to of ['x@beta.example.com', 'x@alpha.localhost']) assert.is((await talk.command(`RCPT TO:<${to}>`)).code, 250);
  const over = await talk.data(exactly('past beta\'s max_body', 10241), 10_000);
  assert.is(over.text, '552 5.2.3 Message too big for beta (at most 10240 bytes, its max_body)', 'SMTP has one reply: the whole message, for alpha too');
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<x@beta.example.com>')).code, 250);
  assert.match((await talk.data(exactly('at beta\'s max_body', 10240), 10_000)).text, /^250 2\.6\.0 /);
  talk.close();
  const [taken] = await deliveriesOf('beta', 'at beta\'s max_body');
  assert.is(taken.status, 200);
  assert.is(taken.size, 10240);
  assert.ok(taken.signature_ok);
  assert.is((await deliveries('alpha')).filter((d) => d.subject === 'past beta\'s max_body').length, 0);
});

test('a size announced at MAIL FROM past one recipient app\'s max_body (smtplib sends SIZE=): 552 5.2.3 to that RCPT alone, and the others get the message', async () => {
  const subject = 'announced over beta\'s max_body';
  const sent = await sendWithSmtplib(port, 'ann@example.org', ['x@beta.example.com', 'y@alpha.localhost'], message({ subject, size: 15_000 }));
  assert.is(sent.error, undefined, JSON.stringify(sent));
  assert.equal(sent.refused, { 'x@beta.example.com': [552, '5.2.3 <x@beta.example.com>: Message too big for beta (at most 10240 bytes, its max_body)'] });
  const [alpha] = await deliveriesOf('alpha', subject);
  assert.is(alpha.to, 'y@alpha.localhost');
  // Announced one byte past beta's max_body: refused; at it exactly, taken (the POST is the message alone).
  const head = message({ subject: 'announced past beta\'s max_body', body: '' });
  const past = await sendWithSmtplib(port, 'ann@example.org', ['x@beta.example.com', 'y@alpha.localhost'], `${head}${'x'.repeat(10241 - head.length - 2)}\r\n`);
  assert.is(past.error, undefined, JSON.stringify(past));
  assert.equal(past.refused, { 'x@beta.example.com': [552, '5.2.3 <x@beta.example.com>: Message too big for beta (at most 10240 bytes, its max_body)'] });
  await deliveriesOf('alpha', 'announced past beta\'s max_body');
  const atHead = message({ subject: 'announced at beta\'s max_body', body: '' });
  const at = await sendWithSmtplib(port, 'ann@example.org', ['x@beta.example.com'], `${atHead}${'x'.repeat(10240 - atHead.length - 2)}\r\n`);
  assert.equal(at, { refused: {} });
  assert.is((await deliveriesOf('beta', 'announced at beta\'s max_body'))[0].size, 10240);
  // Under the limit the announced size refuses no one.
  const small = await sendWithSmtplib(port, 'ann@example.org', ['x@beta.example.com'], message({ subject: 'announced under beta\'s max_body' }));
  assert.equal(small.refused, {}, JSON.stringify(small));
  await deliveriesOf('beta', 'announced under beta\'s max_body');
});

test('an app that holds its deliveries unanswered holds no other app\'s mail: each app has a few attempts in flight at once', async () => {
  const release = join(state.path, 'apps', 'alpha', 'data', 'release');
  const held = await Promise.all(Array.from({ length: 9 }, (_, i) =>
    sendWithSmtplib(port, 'ann@example.org', [`held${i}@alpha.localhost`], message({ subject: `hold-until-released ${i}` }))));
  for (const sent of held) assert.equal(sent.refused, {}, JSON.stringify(sent));
  try {
    const sent = await sendWithSmtplib(port, 'ann@example.org', ['x@beta.example.com'], message({ subject: 'while alpha holds its mail' }));
    assert.equal(sent.refused, {}, JSON.stringify(sent));
    await deliveriesOf('beta', 'while alpha holds its mail', 1, 10_000);
  } finally {
    writeFileSync(release, '');
  }
  // Released, alpha answers: each of its nine delivered (the first four first, the rest as they end).
  await waitFor(async () => {
    const ids = new Set((await deliveries('alpha')).filter((d) => d.subject.startsWith('hold-until-released')).map((d) => d.id));
    return ids.size === 9 || undefined;
  }, 20_000, 'alpha\'s nine held deliveries', POLL_APP_EVERY_MS);
  rmSync(release);
});

test('SMTPUTF8 addresses: percent-encoded in the envelope headers with `%` itself encoded (unquote gives each back exactly), and in X-Apppkg-Received', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<wé%41ird@ext.example> SMTPUTF8')).code, 250);
  assert.is((await talk.command('RCPT TO:<jürgen%2C@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'utf8 envelope' }), 10_000)).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'utf8 envelope');
  assert.is(d.from, 'w%C3%A9%2541ird@ext.example');
  assert.is(d.to, 'j%C3%BCrgen%252C@alpha.localhost');
  assert.is(decodeURIComponent(d.to), 'jürgen%2C@alpha.localhost');
  assert.is((d as unknown as { received_for: string }).received_for, 'jürgen%2C@alpha.localhost');
});

test('X-Apppkg-Received names the protocol (RFC 5321 4.4 `with`): ESMTP after EHLO, SMTP after HELO, UTF8SMTP for a message sent with SMTPUTF8 (RFC 6531 3.7.3)', async () => {
  const cases = [
    { hello: 'EHLO client.test', from: 'MAIL FROM:<ann@example.org>', subject: 'with after ehlo', wanted: 'ESMTP' },
    { hello: 'HELO client.test', from: 'MAIL FROM:<ann@example.org>', subject: 'with after helo', wanted: 'SMTP' },
    { hello: 'EHLO client.test', from: 'MAIL FROM:<jürgen@example.org> SMTPUTF8', subject: 'with smtputf8', wanted: 'UTF8SMTP' },
    // SMTPUTF8 is the transaction's: the next message of the session, without it, is ESMTP again.
    { hello: null, from: 'MAIL FROM:<ann@example.org>', subject: 'with after smtputf8', wanted: 'ESMTP' },
  ];
  let talk: SmtpTalk | null = null;
  for (const { hello, from, subject } of cases) {
    if (hello !== null) {
      talk?.close();
      talk = await SmtpTalk.connect(port);
      assert.is((await talk.reply()).code, 220);
      assert.is((await talk.command(hello)).code, 250);
    }
    assert.is((await talk!.command(from)).code, 250);
    assert.is((await talk!.command('RCPT TO:<with@alpha.localhost>')).code, 250);
    assert.is((await talk!.data(message({ subject }), 10_000)).code, 250);
  }
  talk?.close();
  for (const { subject, wanted } of cases) {
    const [d] = await deliveriesOf('alpha', subject);
    assert.is((d as unknown as { received_with: string }).received_with, wanted, subject);
  }
});

test('an internationalised domain named in mail_domains in its ASCII form (xn--bcher-kva.example): its mail taken in either form, ASCII or SMTPUTF8', async () => {
  const ascii = await sendWithSmtplib(port, 'ann@example.org', ['ascii@xn--bcher-kva.example'], message({ subject: 'idn in ascii' }));
  assert.equal(ascii.refused, {}, JSON.stringify(ascii));
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<ann@example.org> SMTPUTF8')).code, 250);
  const rcpt = await talk.command('RCPT TO:<utf8@BÜCHER.example>');
  assert.is(rcpt.code, 250, rcpt.text);
  assert.is((await talk.data(message({ subject: 'idn in utf8' }), 10_000)).code, 250);
  talk.close();
  await deliveriesOf('beta', 'idn in ascii');
  await deliveriesOf('beta', 'idn in utf8');
});

test('quoted-string local parts (RFC 5321 4.1.2): taken for an app\'s domain, in the envelope headers as sent, read back by split and unquote()', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<"s p"@ext.example>')).code, 250);
  const sent = ['"x y"@alpha.localhost', '"a\\"b"@alpha.localhost', '"c,d@e"@alpha.localhost'];
  for (const rcpt of sent) {
    const reply = await talk.command(`RCPT TO:<${rcpt}>`);
    assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.is((await talk.data(message({ subject: 'quoted local parts' }), 10_000)).code, 250);
  // Routed by the domain as any address; a source route is dropped as RFC 5321 4.1.2 asks.
  assert.is((await talk.command('MAIL FROM:<>')).code, 250);
  const relayed = await talk.command('RCPT TO:<"x y"@nowhere.example>');
  assert.is(relayed.code, 550, relayed.text);
  assert.match(relayed.text, /<"x y"@nowhere\.example>: no app here takes mail for nowhere\.example; relaying denied/);
  const unterminated = await talk.command('RCPT TO:<"x y@alpha.localhost>');
  assert.is(unterminated.code, 501, unterminated.text);
  const control = await talk.command('RCPT TO:<"x\ty"@alpha.localhost>');
  assert.is(control.code, 501, control.text);
  assert.is((await talk.command('RCPT TO:<@relay.example:"r t"@Alpha.Localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'quoted with a source route' }), 10_000)).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'quoted local parts');
  assert.is(d.from, '"s p"@ext.example');
  assert.is(d.to, '"x y"@alpha.localhost, "a\\"b"@alpha.localhost, "c%2Cd@e"@alpha.localhost');
  assert.equal((d as unknown as { rcpts: string[] }).rcpts, sent, 'the app gets each address back as sent');
  const [routed] = await deliveriesOf('alpha', 'quoted with a source route');
  assert.is(routed.to, '"r t"@Alpha.Localhost');
  assert.is((routed as unknown as { received_for: string }).received_for, '"r t"@Alpha.Localhost');
  // swaks, as the outside tester sent it.
  const swaks = await runCli([
    '--server', `127.0.0.1:${port}`, '--to', '"sw aks"@alpha.localhost', '--from', 'ann@example.org',
    '--header', 'Subject: quoted by swaks', '--body', 'hi',
  ], { bin: 'swaks', ms: 30_000, input: '' });
  assert.is(swaks.status, 0, swaks.stdout + swaks.stderr);
  assert.match(swaks.stdout, /-> RCPT TO:<"sw aks"@alpha\.localhost>\n<- {2}250 /);
  assert.is((await deliveriesOf('alpha', 'quoted by swaks'))[0].to, '"sw aks"@alpha.localhost');
});

test('a bounce (the null reverse-path `<>`) under SMTPUTF8 to odd recipients: X-Apppkg-Mail-From there and empty; an empty quoted local part, a quoted one with UTF-8, a space, `%` and `,`, and a UTF-8 dot-atom each given back by split and unquote(); X-Apppkg-Received with no `for` for several', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<> SMTPUTF8')).code, 250);
  const sent = ['""@alpha.localhost', '"ü %,"@alpha.localhost', 'ünï@Alpha.Localhost'];
  for (const rcpt of sent) {
    const reply = await talk.command(`RCPT TO:<${rcpt}>`);
    assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.is((await talk.data(message({ subject: 'a bounce to odd recipients' }), 10_000)).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'a bounce to odd recipients');
  assert.is(d.from, '', 'the header is there, empty: a bounce, not a header lost');
  assert.is(d.to, '""@alpha.localhost, "%C3%BC %25%2C"@alpha.localhost, %C3%BCn%C3%AF@Alpha.Localhost');
  assert.equal((d as unknown as { rcpts: string[] }).rcpts, sent, 'the app gets each address back as sent');
  assert.match(d.received ?? '', / with UTF8SMTP id \S+; /, 'one delivery for three recipients: no `for` clause');
});

test('a line that begins with a dot the client did not double (`.foo`): the dot is dropped (RFC 5321 4.5.2), however the lines fall in TCP segments; `..` gives `.`', async () => {
  const pause = () => new Promise((r) => setTimeout(r, 100));
  const body = '.foo\r\n..bar\r\n...baz\r\n. spaced\r\nend\r\n';
  const talk = await session();
  for (const subject of ['lone dots whole', 'lone dots cut']) {
    const sent = message({ subject, body });
    assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
    assert.is((await talk.command('RCPT TO:<dots@alpha.localhost>')).code, 250);
    assert.is((await talk.command('DATA')).code, 354);
    // The message's first line begins with a lone dot too.
    const data = `.${sent}.\r\n`;
    if (subject.endsWith('whole')) talk.write(data);
    // Cut after each line's dot, so that the byte that tells what the dot is comes later.
    else {
      const pieces = data.split(/(?<=(?:^|\n)\.)/);
      assert.is(pieces.length, 7);
      for (const piece of pieces) {
        talk.write(piece);
        await pause();
      }
    }
    assert.is((await talk.reply(10_000)).code, 250);
    const [d] = await deliveriesOf('alpha', subject);
    const wanted = sent.replace(body, 'foo\r\n.bar\r\n..baz\r\n spaced\r\nend\r\n');
    assert.is((d as unknown as { message: string }).message, wanted);
  }
  assert.is((await talk.command('QUIT')).code, 221, 'what follows the message is read as commands');
  talk.close();
});

test('a source route with address literals (RFC 5321 Appendix C) is dropped whole: the app gets the address after it', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<@[192.0.2.1]:ann@example.org>')).code, 250);
  for (const rcpt of ['<@[IPv6:::1]:me@alpha.localhost>', '<@relay.example,@[IPv6:2001:db8::1],@[192.0.2.7]:"y z"@alpha.localhost>']) {
    const reply = await talk.command(`RCPT TO:${rcpt}`);
    assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.is((await talk.data(message({ subject: 'literal source routes' }), 10_000)).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'literal source routes');
  assert.is(d.from, 'ann@example.org');
  assert.equal((d as unknown as { rcpts: string[] }).rcpts, ['me@alpha.localhost', '"y z"@alpha.localhost']);
});

test('too many recipients: 452 4.5.3 past max_recipients (RFC 5321 4.5.3.1.10), the first ones delivered; a repeated recipient does not count again and gets the message once', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  for (const n of [1, 2, 3]) assert.is((await talk.command(`RCPT TO:<r${n}@alpha.localhost>`)).code, 250);
  // At the limit, an address accepted already is no new recipient (compared as smtp-server keys them, case aside).
  for (const again of ['r2@alpha.localhost', 'R3@alpha.localhost']) {
    const reply = await talk.command(`RCPT TO:<${again}>`);
    assert.is(reply.code, 250, `${again} again: ${reply.text}`);
    assert.match(reply.text, /^250 2\.1\.5 /);
  }
  const fourth = await talk.command('RCPT TO:<r4@alpha.localhost>');
  assert.is(fourth.code, 452, fourth.text);
  // The whole reply, to its last word (it once ended "send the rest in another"). X.5.3, "too
  // many recipients" (RFC 3463), not the X.2.2 "mailbox full" of a bare 452.
  assert.match(fourth.text, /^452 4\.5\.3 Too many recipients \(at most 3 per message\); send the rest in another transaction$/);
  const queued = await talk.data(message({ subject: 'many recipients' }));
  assert.is(queued.code, 250, queued.text);
  assert.match(queued.text, /^250 2\.6\.0 Queued as /);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'many recipients');
  assert.is(d.to, 'r1@alpha.localhost, r2@alpha.localhost, R3@alpha.localhost', 'each recipient once');
  await new Promise((r) => setTimeout(r, 500)); // time for a wrong second delivery to show
  assert.is((await deliveries('alpha')).filter((x) => x.subject === 'many recipients').length, 1);
});

test('no reply line past 512 octets with its CRLF (RFC 5321 4.5.3.1.5): a long address or parameter is cut, the fix kept', async () => {
  const talk = await SmtpTalk.connect(port);
  assert.is((await talk.reply()).code, 220);
  const ehlo = await talk.command('EHLO client.test');
  assert.match(ehlo.text, /^250[- ]ENHANCEDSTATUSCODES$/m, 'EHLO announces the enhanced codes every reply carries (RFC 2034)');
  const fits = (reply: { text: string }) => {
    // SmtpTalk reads latin1: one character per octet.
    for (const line of reply.text.split('\r\n')) assert.ok(line.length + 2 <= 512, `${line.length + 2} octets: ${line}`);
  };
  // 253 octets, the longest address smtp-server takes; its domain is quoted a second time.
  const label = 'd'.repeat(62);
  const longDomain = `${label}.${label}.${label}.${label}`;
  // 160 characters of two octets each (SMTPUTF8): the octets count, not the characters.
  const wideDomain = `${'ü'.repeat(60)}.${'ü'.repeat(60)}.${'ü'.repeat(38)}`;
  assert.is((await talk.command('MAIL FROM:<ann@example.org> SMTPUTF8')).code, 250);
  const client = Buffer.from(`RCPT TO:<x@${longDomain}>\r\nRCPT TO:<${'ü'.repeat(80)}@${wideDomain}>\r\n`);
  talk.write(client);
  const ascii = await talk.reply();
  assert.is(ascii.code, 550, ascii.text);
  fits(ascii);
  // Three dots in a row are no part of a domain: each is where an over-long value was cut.
  assert.match(ascii.text, /^550 5\.7\.1 <x@[d.]+\.\.\.[d.]+>: no app here takes mail for [d.]+\.\.\.[d.]+; relaying denied$/, ascii.text);
  const wide = await talk.reply();
  assert.is(wide.code, 550, wide.text);
  fits(wide);
  assert.match(wide.text, /^550 5\.7\.1 <[^>]+\.\.\.[^>]+>: no app here takes mail for \S+; relaying denied$/, wide.text);
  assert.is((await talk.command('RSET')).code, 250);
  const parameter = await talk.command(`MAIL FROM:<ann@example.org> X-${'P'.repeat(600)}=1`);
  assert.is(parameter.code, 555, parameter.text);
  fits(parameter);
  assert.match(parameter.text, /^555 5\.5\.4 Parameter X-P+\.\.\.P+ not supported: .*; send without it$/, parameter.text);
  talk.close();
});

test('DSN parameters (NOTIFY, ORCPT, RET, ENVID), which EHLO does not announce: 555 (RFC 5321 4.1.1.11), counted as refused; the transaction goes on', async () => {
  const talk = await SmtpTalk.connect(port);
  assert.is((await talk.reply()).code, 220);
  const ehlo = await talk.command('EHLO client.test');
  assert.is(ehlo.code, 250);
  assert.not.match(ehlo.text, /^250[- ]DSN$/m, 'no DSN in EHLO');
  const refusedBefore = (await mailStatus()).refused;
  for (const params of ['RET=HDRS', 'ENVID=abc+2Bdef', 'SIZE=100 RET=FULL', 'X-UNKNOWN=1']) {
    const reply = await talk.command(`MAIL FROM:<ann@example.org> ${params}`);
    assert.is(reply.code, 555, `${params}: ${reply.text}`);
    assert.match(reply.text, /^555 5\.5\.4 Parameter (RET|ENVID|X-UNKNOWN) not supported: .*; send without it$/);
  }
  assert.match((await talk.command('MAIL FROM:<ann@example.org> ENVID=x')).text, /this server offers no DSN/);
  // The parameters of what EHLO announces (SIZE, 8BITMIME, SMTPUTF8) are taken.
  assert.is((await talk.command('MAIL FROM:<ann@example.org> SIZE=100 BODY=8BITMIME SMTPUTF8')).code, 250);
  for (const params of ['ORCPT=rfc822;x@example.org', 'NOTIFY=SUCCESS,FAILURE', 'NOTIFY=NEVER ORCPT=rfc822;y@example.org']) {
    const reply = await talk.command(`RCPT TO:<dsn-${params.length}@alpha.localhost> ${params}`);
    assert.is(reply.code, 555, `${params}: ${reply.text}`);
    assert.match(reply.text, /Parameter (ORCPT|NOTIFY) not supported: this server offers no DSN/);
  }
  assert.is((await talk.command('RCPT TO:<plain@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'after 555s' }), 10_000)).code, 250);
  talk.close();
  assert.is((await mailStatus()).refused, refusedBefore + 8, 'each 555 is counted in refused');
  const [d] = await deliveriesOf('alpha', 'after 555s');
  assert.is(d.to, 'plain@alpha.localhost', 'a recipient refused with 555 gets nothing');
});

test('an address sent with UTF-8 in a transaction whose MAIL FROM did not say SMTPUTF8: 553 5.6.7 (RFC 6531 3.4), at MAIL FROM and RCPT TO, counted as refused; smtplib never sends one, swaks does', async () => {
  const refusedBefore = (await mailStatus()).refused;
  const undeclared = /^553 5\.6\.7 Must declare SMTPUTF8 to send a UTF-8 address: add SMTPUTF8 to MAIL FROM \(RFC 6531\), or write the address in ASCII$/;
  const talk = await session();
  const from = await talk.command('MAIL FROM:<jürgen@example.org>');
  assert.is(from.code, 553, from.text);
  assert.match(from.text, undeclared);
  // Its SMTPUTF8 refused with it (555), a MAIL FROM does not declare it for the next one.
  assert.is((await talk.command('MAIL FROM:<jürgen@example.org> SMTPUTF8 RET=HDRS')).code, 555);
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  for (const rcpt of ['jürgen@alpha.localhost', 'ann@bücher.example']) {
    const reply = await talk.command(`RCPT TO:<${rcpt}>`);
    assert.is(reply.code, 553, `${rcpt}: ${reply.text}`);
    assert.match(reply.text, undeclared);
  }
  // An internationalised domain in its ASCII form is ASCII, though the SMTP library reads it as Unicode.
  assert.is((await talk.command('RCPT TO:<ascii@xn--bcher-kva.example>')).code, 250);
  assert.is((await talk.command('RCPT TO:<ascii@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'utf8 undeclared' }), 10_000)).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'utf8 undeclared');
  assert.is(d.to, 'ascii@alpha.localhost');
  assert.is((d as unknown as { received_with: string }).received_with, 'ESMTP', 'not UTF8SMTP: the refused MAIL FROM\'s SMTPUTF8 is not this one\'s');
  await deliveriesOf('beta', 'utf8 undeclared');
  // swaks sends an address as given, without SMTPUTF8.
  const swaks = await runCli([
    '--server', `127.0.0.1:${port}`, '--to', 'ascii@alpha.localhost', '--from', 'jürgen@example.org',
    '--header', 'Subject: utf8 by swaks', '--body', 'hi',
  ], { bin: 'swaks', ms: 30_000, input: '' });
  assert.is.not(swaks.status, 0, swaks.stdout);
  assert.match(swaks.stdout, /-> MAIL FROM:<jürgen@example\.org>\n<\*\* 553 5\.6\.7 Must declare SMTPUTF8/);
  assert.is((await mailStatus()).refused, refusedBefore + 5, 'each 553 and the 555 counted in refused');
});

test('parameters after HELO, which enables no extension (RFC 5321 2.2): 555 5.5.4, SMTPUTF8 and SIZE too; the transaction goes on without them', async () => {
  const talk = await SmtpTalk.connect(port);
  assert.is((await talk.reply()).code, 220);
  assert.is((await talk.command('HELO client.test')).code, 250);
  for (const params of ['SIZE=100', 'BODY=8BITMIME', 'SMTPUTF8', 'RET=HDRS']) {
    const reply = await talk.command(`MAIL FROM:<ann@example.org> ${params}`);
    assert.is(reply.code, 555, `${params}: ${reply.text}`);
    assert.match(reply.text, /^555 5\.5\.4 Parameter (SIZE|BODY|SMTPUTF8|RET) not supported after HELO, which enables no extension; send EHLO first, or send without it$/);
  }
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.match((await talk.command('RCPT TO:<helo@alpha.localhost> NOTIFY=NEVER')).text, /^555 5\.5\.4 Parameter NOTIFY not supported after HELO/);
  assert.is((await talk.command('RCPT TO:<jürgen@alpha.localhost>')).code, 553, 'no SMTPUTF8 after HELO');
  assert.is((await talk.command('RCPT TO:<helo@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'params after helo' }), 10_000)).code, 250);
  // EHLO after HELO: its extensions are in use from then on.
  assert.is((await talk.command('EHLO client.test')).code, 250);
  assert.is((await talk.command('MAIL FROM:<ann@example.org> SIZE=100 SMTPUTF8')).code, 250);
  talk.close();
  const [d] = await deliveriesOf('alpha', 'params after helo');
  assert.is((d as unknown as { received_with: string }).received_with, 'SMTP', 'not UTF8SMTP: the refused SMTPUTF8 is not in use');
});

test('451 when the spool cannot take a message: nothing of it is left in tmp/, messages/ or queue/', async () => {
  const spool = (...parts: string[]) => join(state.path, 'mail', ...parts);
  await waitFor(async () => (await mailStatus()).spooled === 0, 10_000, 'the spool to empty', ASK_GATEWAY_EVERY_MS);
  // A delivery leaves the spool count before its message file is removed: moving messages/ aside
  // meanwhile would keep that file (its removal fails) and bring it back below.
  await waitFor(() => readdirSync(spool('messages')).length === 0, 5000, 'the delivered messages\' files to be removed');
  const queuedBefore = readdirSync(spool('queue'));
  // A file where the spool expects a directory fails the rename into it (ENOTDIR), as a broken
  // disk would; permissions would not, tests run as root.
  for (const dir of ['messages', 'queue']) {
    renameSync(spool(dir), spool(`${dir}.aside`));
    writeFileSync(spool(dir), 'not a directory\n');
    try {
      const talk = await session();
      assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
      assert.is((await talk.command('RCPT TO:<unwritable@alpha.localhost>')).code, 250);
      const reply = await talk.data(message({ subject: `no ${dir}/` }), 10_000);
      assert.is(reply.code, 451, reply.text);
      assert.match(reply.text, /^451 4\.3\.0 Could not store the message; try again later$/);
      talk.close();
    } finally {
      rmSync(spool(dir));
      renameSync(spool(`${dir}.aside`), spool(dir));
    }
    assert.equal(readdirSync(spool('tmp')), [], `with no ${dir}/: the message (and any record) removed from tmp/`);
    assert.equal(readdirSync(spool('messages')), [], `with no ${dir}/: no message kept that no 250 acknowledged`);
    assert.equal(readdirSync(spool('queue')), queuedBefore, `with no ${dir}/: no delivery queued for it`);
  }
  // The spool works again once its directories are back.
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['back@alpha.localhost'], message({ subject: 'spool back' })), { refused: {} });
  await deliveriesOf('alpha', 'spool back');
  assert.is((await deliveries('alpha')).filter((d) => d.subject.startsWith('no ')).length, 0);
});

test('a domain written with its root\'s dot (`x@alpha.localhost.`, an absolute name some clients send): taken without the dot, at MAIL FROM and RCPT TO; `..` and `@.` stay refused', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:<@relay.example.:ann@example.org.>')).code, 250);
  // Routed as the name without its dot: a domain no app claims is still no relay.
  assert.match((await talk.command('RCPT TO:<far@example.net.>')).text, /^550 5\.7\.1 <far@example\.net>: /);
  for (const rcpt of ['two@alpha.localhost..', 'root@.', 'lit@[127.0.0.1].']) assert.is((await talk.command(`RCPT TO:<${rcpt}>`)).code, 501, rcpt);
  for (const rcpt of ['dot@alpha.localhost.', 'dot@Beta.Example.com.', '"d t"@alpha.localhost.']) {
    const reply = await talk.command(`RCPT TO:<${rcpt}>`);
    assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.is((await talk.data(message({ subject: 'root dots' }), 10_000)).code, 250);
  talk.close();
  const [alpha] = await deliveriesOf('alpha', 'root dots');
  assert.is(alpha.from, 'ann@example.org');
  assert.equal((alpha as unknown as { rcpts: string[] }).rcpts, ['dot@alpha.localhost', '"d t"@alpha.localhost']);
  assert.is((await deliveriesOf('beta', 'root dots'))[0].to, 'dot@Beta.Example.com');
});

test('an address without its angle brackets (`MAIL FROM:ann@x`, `RCPT TO:user@x`), as Postfix takes it (strict_rfc821_envelopes = no): accepted and routed as with them; with a parameter, a quoted local part, a root dot; a stray `<` stays refused', async () => {
  const talk = await session();
  assert.is((await talk.command('MAIL FROM:ann@example.org SIZE=200')).code, 250);
  // Refused first (max_recipients is 3 here) as the bracketed address would be: routing and syntax are the same.
  assert.match((await talk.command('RCPT TO:far@example.net')).text, /^550 5\.7\.1 <far@example\.net>: /);
  for (const rcpt of ['a<b@alpha.localhost', 'b>@alpha.localhost', 'two@alpha.localhost..']) assert.is((await talk.command(`RCPT TO:${rcpt}`)).code, 501, rcpt);
  for (const rcpt of ['bare@alpha.localhost', '"b r"@alpha.localhost', 'Bare@Beta.Example.com.']) {
    const reply = await talk.command(`RCPT TO:${rcpt}`);
    assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
  }
  assert.is((await talk.data(message({ subject: 'no brackets' }), 10_000)).code, 250);
  talk.close();
  const [alpha] = await deliveriesOf('alpha', 'no brackets');
  assert.is(alpha.from, 'ann@example.org');
  assert.equal((alpha as unknown as { rcpts: string[] }).rcpts, ['bare@alpha.localhost', '"b r"@alpha.localhost']);
  assert.is((await deliveriesOf('beta', 'no brackets'))[0].to, 'Bare@Beta.Example.com');
});

test('VRFY answers as RCPT TO would route the address (252 2.0.0 as Postfix, never for a relay), EXPN 502 5.5.1 (RFC 5321 4.2.4: recognized, not implemented), neither taken for garbage', async () => {
  const refusedBefore = (await mailStatus()).refused;
  const talk = await session();
  assert.is((await talk.command('VRFY box@alpha.localhost')).text, '252 2.0.0 box@alpha.localhost');
  assert.is((await talk.command('VRFY <box@Beta.Example.com>')).text, '252 2.0.0 <box@Beta.Example.com>');
  assert.is((await talk.command('VRFY postmaster')).code, 252);
  assert.match((await talk.command('VRFY box@example.net')).text, /^550 5\.7\.1 <box@example\.net>: no app here takes mail for example\.net; relaying denied$/);
  assert.match((await talk.command('VRFY x@plain.localhost')).text, /^550 5\.1\.2 <x@plain\.localhost>: its app \(plain\) takes no mail$/);
  assert.is((await talk.command('VRFY')).code, 501);
  for (let i = 0; i < 11; i++) assert.is((await talk.command(i % 2 === 0 ? 'EXPN staff@alpha.localhost' : 'expn')).text, '502 5.5.1 Error: command not implemented');
  assert.is((await talk.command('NOOP')).code, 250, 'eleven EXPNs are not ten commands that are not SMTP');
  talk.close();
  assert.is((await mailStatus()).refused, refusedBefore, 'a question refuses no mail');
});

test('AUTH and STARTTLS, which EHLO does not announce, are 502 5.5.1 (RFC 5321 4.2.4: known, not implemented), not garbage; smtp-server\'s sendmail jokes (WIZ, SHELL, KILL) are unknown commands, counted as garbage', async () => {
  const talk = await session();
  const ehlo = await talk.command('EHLO client.test');
  assert.not.match(ehlo.text, /^250[- ](AUTH|STARTTLS)\b/m, 'EHLO announces neither');
  assert.is((await talk.command('AUTH PLAIN AGFubgBzZWNyZXQ=')).text, '502 5.5.1 Error: command not implemented');
  assert.is((await talk.command('auth login')).text, '502 5.5.1 Error: command not implemented');
  assert.is((await talk.command('STARTTLS')).text, '502 5.5.1 Error: command not implemented');
  // Still plaintext: the session goes on with no handshake.
  assert.is((await talk.command('NOOP')).code, 250);
  assert.is((await talk.command('WIZ sesame')).text, '500 5.5.2 Error: command not recognized');
  assert.is((await talk.command('SHELL')).text, '500 5.5.2 Error: command not recognized');
  assert.is((await talk.command('KILL')).text, '500 5.5.2 Error: command not recognized');
  for (let i = 0; i < 6; i++) assert.is((await talk.command('NOSUCH')).code, 500);
  assert.is((await talk.command('WIZ')).code, 421, 'the tenth command that is not SMTP ends the session');
  assert.ok(await talk.waitClosed(3000));
});

test('XCLIENT and XFORWARD, which EHLO does not announce, are 502 5.5.1 as AUTH is (known, not implemented), not smtp-server\'s 550 "Not allowed", nor garbage', async () => {
  const talk = await session();
  const ehlo = await talk.command('EHLO client.test');
  assert.not.match(ehlo.text, /^250[- ](XCLIENT|XFORWARD)\b/m, 'EHLO announces neither');
  for (let i = 0; i < 6; i++) {
    assert.is((await talk.command('XCLIENT ADDR=192.0.2.1 NAME=spoofed.example')).text, '502 5.5.1 Error: command not implemented');
    assert.is((await talk.command('xforward ADDR=192.0.2.1')).text, '502 5.5.1 Error: command not implemented');
  }
  // The session is the client's own still, and twelve of them are not ten commands that are not SMTP.
  const ehloAgain = await talk.command('EHLO client.test');
  assert.match(ehloAgain.text, /Nice to meet you, \[127\.0\.0\.1\]/);
  talk.close();
});

test('garbage and silence: answered, timed out, closed; the listener serves the next client', async () => {
  const garbage = await SmtpTalk.connect(port);
  assert.is((await garbage.reply()).code, 220);
  let last = 0;
  for (let i = 0; i < 12 && !garbage.isClosed; i++) {
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a]));
    last = (await garbage.reply().catch(() => ({ code: 0 }))).code;
    if (last === 421) break;
  }
  assert.is(last, 421, 'ten commands that are not SMTP end the session');
  assert.ok(await garbage.waitClosed(3000));
  // A client that says nothing is dropped after the idle timeout (1.5 s here).
  const silent = await SmtpTalk.connect(port);
  assert.is((await silent.reply()).code, 220);
  // ...while another client is served meanwhile.
  const meanwhile = await sendWithSmtplib(port, 'ann@example.org', ['m@alpha.localhost'], message({ subject: 'while one is silent' }));
  assert.equal(meanwhile, { refused: {} });
  assert.ok(await silent.waitClosed(6000), 'the silent client is timed out');
  assert.match(silent.rest, /^421/);
  // A client that stops in the middle of DATA too.
  const stalled = await session();
  assert.is((await stalled.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await stalled.command('RCPT TO:<stall@alpha.localhost>')).code, 250);
  assert.is((await stalled.command('DATA')).code, 354);
  stalled.write('Subject: stalled\r\n\r\nhalf a messa');
  assert.ok(await stalled.waitClosed(6000), 'a client stalled in DATA is timed out');
  await waitFor(() => readdirSync(join(state.path, 'mail', 'tmp')).length === 0, 3000, 'the half message to be removed');
  await deliveriesOf('alpha', 'while one is silent');
  const after = await sendWithSmtplib(port, 'ann@example.org', ['n@alpha.localhost'], message({ subject: 'after garbage' }));
  assert.equal(after, { refused: {} });
  await deliveriesOf('alpha', 'after garbage');
  assert.is((await deliveries('alpha')).filter((d) => d.subject === 'stalled').length, 0);
});

test('an answer of 500 is retried, with the same delivery id; the 250\'s id is in the X-Apppkg-Received the app gets and in the log\'s line', async () => {
  const reply = await sendRaw(port, 'ann@example.org', ['retry@alpha.localhost'], message({ subject: 'answer-500-once' }));
  const queuedAs = /^250 2\.6\.0 Queued as (\S+)\s*$/.exec(reply.text)?.[1];
  assert.ok(reply.code === 250 && queuedAs !== undefined, `the 250 names the message's id: ${reply.code} ${reply.text}`);
  const attempts = await deliveriesOf('alpha', 'answer-500-once', 2);
  assert.equal(attempts.map((d) => d.status), [500, 200]);
  assert.is(attempts[0].id, attempts[1].id, 'X-Apppkg-Delivery-Id stays the same across retries');
  // One id from the sender's log to the app's headers, as Postfix's queue id.
  assert.equal(attempts.map((d) => d.received_id), [queuedAs, queuedAs]);
  // Each deferral is a line of the gateway's log, as Postfix logs one: status only counts them.
  assert.match(gw.output(), `mail: delivery ${attempts[0].id} (queued as ${queuedAs}) to alpha not delivered: the app answered 500; attempt 1, the next in 0.3 s\n`);
});

// Renames one of two versions of a message file (argv[1]) onto its name, then the other, over and
// over, until argv[2] exists (30 s at most): a message replaced in the spool while it is
// delivered. The versions are kept in argv[3], on the same filesystem, outside the spool.
const MESSAGE_SWAPPER = `
import os, sys, time
target, stop, keep = sys.argv[1:4]
versions = [os.path.join(keep, 'version-a'), os.path.join(keep, 'version-b')]
following = os.path.join(keep, 'next')
data = open(target, 'rb').read()
open(versions[0], 'wb').write(data)
open(versions[1], 'wb').write(data + b'A line put back by hand.\\r\\n')
open(stop + '.started', 'w').close()
give_up = time.monotonic() + 30
i = 0
while not os.path.exists(stop) and time.monotonic() < give_up:
    os.link(versions[i % 2], following)
    os.rename(following, target)
    i += 1
`;

test('a message file replaced while it is delivered: each attempt signs the very bytes it sends (signed by name, then opened again, one replaced between went out under the other\'s signature)', async () => {
  const subject = 'answer-500 replaced while delivered';
  await sendWithSmtplib(port, 'ann@example.org', ['swap@alpha.localhost'], message({ subject }));
  const [first] = await deliveriesOf('alpha', subject);
  const file = join(state.path, 'mail', 'messages', `${first.received_id}.eml`);
  assert.ok(existsSync(file), file);
  const stop = join(state.path, 'stop-message-swapper');
  const keep = join(state.path, 'message-versions');
  mkdirSync(keep);
  const swapper = spawn('python3', ['-c', MESSAGE_SWAPPER, file, stop, keep], { stdio: 'ignore' });
  const exited = new Promise((resolve) => swapper.on('close', resolve));
  let attempts: Delivery[];
  try {
    await waitFor(() => existsSync(`${stop}.started`), 10_000, 'the swapping process to start');
    // retry: [0.3], give_up 3 s: several attempts while the file is replaced under them.
    attempts = await deliveriesOf('alpha', subject, 5, 15_000);
  } finally {
    writeFileSync(stop, '');
    await within(10_000, 'the swapping process to stop', exited);
    rmSync(keep, { recursive: true, force: true });
  }
  assert.equal(attempts.filter((d) => !d.signature_ok).map((d) => d.size), [], 'attempts whose signature was of another version of the file');
  // Given up at give_up; a file the swapper put back after the spool removed it is no message of the spool's.
  await waitFor(async () => (await mailStatus()).dead.some((d: any) => d.id === first.id), 10_000, 'the dead letter in status', ASK_GATEWAY_EVERY_MS);
  rmSync(file, { force: true });
});

test('the gateway\'s own answer to a delivery (504 past the app\'s timeout) is said as the gateway\'s, with why, not as the app\'s', async () => {
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@slow.localhost'], message({ subject: 'sleep-3' })), { refused: {} });
  const said = /mail: delivery (\S+) \(queued as \S+\) to slow not delivered: the gateway answered 504 for slow: the app did not answer within 1 s; attempt 1, /;
  const id = (await waitFor(() => said.exec(gw.output()) ?? undefined, 15_000, () => `the line of the first attempt, in:\n${gw.output()}`))[1];
  assert.not.match(gw.output(), /to slow not delivered: the app answered 504/);
  // give_up is 3 s: its dead letter keeps the same words.
  const dead = await waitFor(async () => (await mailStatus()).dead.find((d: any) => d.id === id), 20_000, 'the dead letter in status', ASK_GATEWAY_EVERY_MS);
  assert.match(dead.reason, /^given up after \d+ attempts: the gateway answered 504 for slow: the app did not answer within 1 s$/);
});

test('406: rejected for good, kept as a dead letter and listed in status and /metrics', async () => {
  await sendWithSmtplib(port, 'ann@example.org', ['no@alpha.localhost'], message({ subject: 'answer-406' }));
  const [attempt] = await deliveriesOf('alpha', 'answer-406');
  const dead = await waitFor(async () => (await mailStatus()).dead.find((d: any) => d.id === attempt.id), 5000, 'the dead letter in status', ASK_GATEWAY_EVERY_MS);
  assert.is(dead.app, 'alpha');
  assert.equal(dead.to, ['no@alpha.localhost']);
  assert.match(dead.reason, /406/);
  assert.ok(existsSync(dead.file), 'the message is kept');
  await new Promise((r) => setTimeout(r, 800)); // past the retry interval: nothing more comes
  assert.is((await deliveries('alpha')).filter((d) => d.subject === 'answer-406').length, 1, 'no retry after 406');
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /apppkg_mail_dead_letters\{app="alpha"\} [1-9]/);
  assert.match(metrics, /apppkg_mail_received_total [1-9]/);
  assert.match(metrics, /apppkg_mail_delivered_total [1-9]/);
});

test('past give_up: retried by the schedule, then a dead letter', async () => {
  await sendWithSmtplib(port, 'ann@example.org', ['down@beta.example.com'], message({ subject: 'answer-503' }));
  const attempts = await deliveriesOf('beta', 'answer-503', 3);
  assert.equal(new Set(attempts.map((d) => d.id)).size, 1);
  const dead = await waitFor(async () => (await mailStatus()).dead.find((d: any) => d.id === attempts[0].id), 8000, 'the dead letter', ASK_GATEWAY_EVERY_MS);
  assert.match(dead.reason, /given up after \d+ attempts: the app answered 503/);
  const status = await mailStatus();
  assert.ok(status.failedAttempts >= 3);
});

test('examples/support-desk: mail by swaks shows in its inbox; a forged POST is refused', async () => {
  const swaks = await runCli([
    '--server', `127.0.0.1:${port}`, '--to', 'help@support-desk.localhost', '--from', 'carol@example.org',
    '--header', 'Subject: Printer on fire', '--body', 'It is on fire.',
  ], { bin: 'swaks', ms: 30_000, input: '' });
  assert.is(swaks.status, 0, swaks.stdout + swaks.stderr);
  assert.match(swaks.stdout, /<- {2}250 2\.6\.0 Queued as/);
  await waitFor(async () => (await (await request(`${gw.url}/support-desk/`)).body.text()).includes('Printer on fire'), 10_000, 'the inbox page to list it', POLL_APP_EVERY_MS);
  const inbox = (await (await request(`${gw.url}/support-desk/inbox.json`)).body.json()) as { messages: { id: string; subject: string }[] };
  const entry = inbox.messages.find((m) => m.subject === 'Printer on fire')!;
  const page = await (await request(`${gw.url}/support-desk/messages/${entry.id}`)).body.text();
  assert.match(page, /It is on fire\./);
  // smtplib too.
  await sendWithSmtplib(port, 'dan@example.org', ['help@support-desk.localhost'], message({ subject: 'Paper jam' }));
  await waitFor(async () => (await (await request(`${gw.url}/support-desk/`)).body.text()).includes('Paper jam'), 10_000, 'the second message', POLL_APP_EVERY_MS);
  // Anyone can POST to the mail path through the public listener: the signature tells them apart.
  const forged = await request(`${gw.url}/support-desk/_mail`, {
    method: 'POST',
    headers: { 'content-type': 'message/rfc822', 'x-apppkg-signature': '0'.repeat(64), 'x-apppkg-delivery-id': 'forged-1' },
    body: 'Subject: forged\r\n\r\nhi\r\n',
  });
  await forged.body.dump();
  assert.is(forged.statusCode, 403);
});

test('check: an app with mail: on a host without a mail listener is told so', async () => {
  const dir = join(FIXTURES, 'apps', 'mail-sink');
  const without = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(without.status, 1, without.stdout + without.stderr);
  assert.match(without.stdout + without.stderr, /mail.*receives mail at \/inbound\/mail, but the host runs no mail listener/, without.stdout + without.stderr);
  assert.match(without.stdout + without.stderr, /mail: \{listen: 127\.0\.0\.1:2525\}/, without.stdout + without.stderr);
  const withEnv = await runCli(['check', dir, '--state-dir', state.path, '--environment', envFile]);
  assert.is(withEnv.status, 0, withEnv.stdout + withEnv.stderr);
  assert.match(withEnv.stdout, /mail.*\/inbound\/mail receives mail for mail-sink\.localhost/, withEnv.stdout + withEnv.stderr);
});

test.run();
