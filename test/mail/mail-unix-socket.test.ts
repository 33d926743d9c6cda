// The mail listener on a unix socket (`mail: {listen: unix:/path, lmtp: true}`), as Postfix's
// lmtp:unix: transport reaches it: the message arrives, and the trace the gateway gives it
// (RFC 5321 4.4's Received:, in X-Apppkg-Received) names the client without an address literal,
// since a unix socket has none. It used to read `from client.test ([])`: no literal at all, a trace line that mail
// parsers reading Received: headers do not take.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { message, SmtpTalk } from '../helpers/smtp.js';
import { stopGatewayChecked } from '../helpers/status.js';

const test = suite('mail over a unix socket');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const socket = join(state.path, 'lmtp.sock');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, `mail:\n  listen: unix:${socket}\n  lmtp: true\n`);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  assert.match(gw.output(), /mail: LMTP on unix:/);
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

test('delivered, its X-Apppkg-Received naming the client with no empty address literal', async () => {
  const talk = await SmtpTalk.connect(socket);
  assert.match((await talk.reply()).text, /^220 .*LMTP/);
  const hello = await talk.command('LHLO client.test');
  assert.is(hello.code, 250);
  // Not smtp-server's "Nice to meet you, []": a unix socket's peer has no address.
  assert.match(hello.text, /Nice to meet you, localhost\b/);
  assert.is((await talk.command('MAIL FROM:<ann@example.org>')).code, 250);
  assert.is((await talk.command('RCPT TO:<one@alpha.localhost>')).code, 250);
  assert.is((await talk.data(message({ subject: 'over a unix socket' }))).code, 250);
  talk.close();
  const got = await waitFor(async () => ((await (await request(`${gw.url}/alpha/deliveries`)).body.json()) as any[]).find((d) => d.subject === 'over a unix socket'), 10_000, "alpha's delivery");
  assert.ok(got.signature_ok);
  assert.is(got.received_from, 'client.test');
});

test.run();
