// A delivery reaches the app the mail listener chose for its recipient (SPEC 5.3), whatever
// `hosts:` the other apps claim: an app may name `OTHER.localhost` among its hosts, which then
// routes a client's requests for that host to it, but never another app's mail (probe O, HIGH 1:
// the POST went by Host, and the claiming app got the message and counted it delivered).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendWithSmtplib, SmtpTalk } from '../helpers/smtp.js';

const test = suite('mail routing by app');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'zulu');
  // Its default mail domain, mail_box.localhost, has a `_`, which RFC 5321's domain syntax lacks.
  addPackage(apps.path, 'mail-sink', 'mail_box');
  // Each claims the other's NAME.localhost (a hosts: claim takes it): routed by Host, each
  // delivery went to the wrong app.
  writeFileSync(envFile, [
    'mail:',
    '  listen: 127.0.0.1:0',
    '  retry: [0.3]',
    '  give_up: 3',
    'apps:',
    '  alpha:',
    '    hosts: [zulu.localhost]',
    '  zulu:',
    '    hosts: [alpha.localhost]',
    '',
  ].join('\n'));
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  port = mailPort(gw.output());
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

async function deliveries(app: string): Promise<Array<{ app: string; subject: string; to: string; signature_ok: boolean; route_header: string | null }>> {
  const res = await request(`${gw.url}/${app}/deliveries`);
  return (await res.body.json()) as any;
}

test('mail for each app reaches that app, though the other claims its NAME.localhost in hosts:', async () => {
  for (const app of ['alpha', 'zulu']) {
    assert.equal(await sendWithSmtplib(port, 'ann@example.org', [`box@${app}.localhost`], message({ subject: `for ${app}` })), { refused: {} });
  }
  await waitFor(async () => ((await gatewayStatus(gw)) as any).mail.delivered >= 2 || undefined, 10_000, 'both deliveries');
  for (const app of ['alpha', 'zulu']) {
    const got = await deliveries(app);
    assert.equal(got.map((d) => d.subject), [`for ${app}`], `${app} gets its own mail and no other's`);
    assert.is(got[0].to, `box@${app}.localhost`);
    assert.ok(got[0].signature_ok, `${app}'s delivery is signed with its own secret`);
    assert.is(got[0].route_header, null, 'the gateway\'s routing header is taken off before the app');
  }
  // A client's requests still go by Host, where an app's hosts: claim wins over the other's own
  // name: both deliveries above would have gone astray by Host.
  const answeredBy = async (host: string) => {
    const res = await request(`${gw.url}/deliveries`, { headers: { host } });
    return [...new Set(((await res.body.json()) as Array<{ app: string }>).map((d) => d.app))];
  };
  const astray = [];
  for (const app of ['alpha', 'zulu']) if ((await answeredBy(`${app}.localhost`))[0] !== app) astray.push(app);
  assert.equal(astray, ['alpha', 'zulu'], 'a client asking for either NAME.localhost reaches the other app, which claims it');
});

test('an app named with `_` (mail_box) takes mail at its default NAME.localhost, from smtplib and from a sender whose domain has one too, never 501', async () => {
  const sent = await sendWithSmtplib(port, 'ann@relay_1.example.org', ['box@mail_box.localhost', 'Two@Mail_Box.LOCALHOST.', 'x@sub.mail_box.localhost'], message({ subject: 'for mail_box' }));
  assert.equal(Object.keys(sent.refused ?? {}), ['x@sub.mail_box.localhost'], JSON.stringify(sent));
  assert.match(sent.refused!['x@sub.mail_box.localhost'][1], /^5\.7\.1 .*relaying denied/, 'a subdomain is no app\'s: refused as a relay, not as bad syntax');
  const got = await waitFor(async () => (await deliveries('mail_box')).find((d) => d.subject === 'for mail_box'), 10_000, 'the delivery to mail_box');
  assert.is(got.to, 'box@mail_box.localhost, Two@Mail_Box.LOCALHOST', 'as sent, the root dot dropped');
  assert.is((got as unknown as { from: string }).from, 'ann@relay_1.example.org');
  assert.ok(got.signature_ok);
  const bad = await sendWithSmtplib(port, 'ann@example.org', ['box@mail_box..localhost'], message({ subject: 'bad' }));
  assert.is(bad.refused?.['box@mail_box..localhost']?.[0], 501, 'a domain that is no domain is still refused as one');
});

test('recipients of one app past what X-Apppkg-Rcpt-To can carry: 452 at RCPT for the rest (sent in another transaction), never a 250 for a message whose POST no server takes', async () => {
  // 100 recipients (max_recipients' default) with Cyrillic local parts, each percent-encoded to
  // ~200 bytes in the header: ~20 KB, past the front's 16 KiB head (431) and gunicorn's 8 KiB field.
  const talk = await SmtpTalk.connect(port);
  try {
    assert.is((await talk.reply()).code, 220);
    assert.is((await talk.command('EHLO client.test')).code, 250);
    assert.is((await talk.command('MAIL FROM:<ann@example.org> SMTPUTF8')).code, 250);
    const replies = [];
    for (let i = 0; i < 100; i++) replies.push(await talk.command(`RCPT TO:<${'ж'.repeat(30)}${String(i).padStart(3, '0')}@alpha.localhost>`));
    const taken = replies.filter((r) => r.code === 250).length;
    const rest = replies.slice(taken);
    assert.ok(taken > 0 && taken < 100, `${taken} taken`);
    assert.ok(rest.every((r) => r.code === 452), rest.map((r) => r.text).join('\n'));
    assert.match(rest[0].text, /^452 4\.5\.3 .*alpha.*send the rest in another transaction/);
    assert.is((await talk.data(message({ subject: 'many long recipients' }), 30_000)).code, 250);
    const got = await waitFor(async () => (await deliveries('alpha')).find((d) => d.subject === 'many long recipients'), 15_000, 'the delivery to alpha');
    assert.is((got as unknown as { rcpts: string[] }).rcpts.length, taken, 'every recipient taken, in the header');
    assert.is((got as unknown as { status: number }).status, 200);
  } finally {
    talk.close();
  }
});

test('a client cannot route by the header: without the gateway\'s key it is dropped and the request goes by Host', async () => {
  const res = await request(`${gw.url}/inbound/mail`, {
    method: 'POST',
    headers: { host: 'zulu.localhost', 'x-apppkg-app-route': 'guessed zulu', 'content-type': 'message/rfc822', 'x-apppkg-delivery-id': 'forged' },
    body: 'Subject: forged\r\n\r\nhi\r\n',
  });
  await res.body.dump();
  const alpha = (await deliveries('alpha')).filter((d) => d.subject === 'forged');
  assert.is(alpha.length, 1, 'routed by Host to alpha, which claims zulu.localhost');
  assert.is(alpha[0].route_header, null, 'and the header is not passed on');
  assert.not.ok(alpha[0].signature_ok);
  assert.is((await deliveries('zulu')).filter((d) => d.subject === 'forged').length, 0);
});

test.run();
