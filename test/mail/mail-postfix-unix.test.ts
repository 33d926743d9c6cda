// The gateway's LMTP listener on a unix socket behind a real Postfix, where docs/mail.md's "Behind
// Postfix" puts it: in Postfix's private/ directory (`lmtp:unix:private/apppkg-lmtp`). Postfix's
// lmtp client connects as the postfix user, not as the gateway's, so the socket must let it in
// (`mail.socket_owner`): without, every delivery was deferred with "Permission denied".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { behindPostfixLines, PRIVATE_SOCKET } from '../helpers/behind-postfix.js';
import { dataWire, postfixMissing, startPostfix, submitToPostfix, type RunningPostfix } from '../helpers/postfix.js';
import { sinkDeliveryOf, stopBehindPostfix } from '../helpers/postfix-sink.js';
import { startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('mail behind Postfix, over LMTP on a unix socket');
const missing = postfixMissing();
const ifPostfix = runIf(test, missing === null, missing ?? '');
const apps = tempDir('apppkg-postfix-apps-');
const state = tempDir('apppkg-postfix-state-');
let socket: string;
let postfix: RunningPostfix | undefined;
let gw: RunningGateway | undefined;
let pids: number[] = [];

test.before(async () => {
  if (missing !== null) return;
  addPackage(apps.path, 'mail-sink', 'alpha');
  postfix = await startPostfix({ mainCf: behindPostfixLines('lmtp-unix', ['alpha.localhost']) });
  socket = join(postfix.dir, 'queue', PRIVATE_SOCKET);
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, `mail:\n  listen: unix:${socket}\n  lmtp: true\n  socket_owner: postfix\napps:\n  alpha:\n    workers: 1\n`);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
});

test.after(() => stopBehindPostfix({ gw, pids, postfix, remove: () => { apps.remove(); state.remove(); } }));

ifPostfix('Postfix\'s lmtp client, running as postfix, delivers through the socket mail.socket_owner gives it', async () => {
  const postfixUid = statSync(join(postfix!.dir, 'data')).uid;
  assert.is(statSync(socket).uid, postfixUid, 'the socket is the postfix user\'s');
  const subject = 'through postfix over a unix socket';
  const lines = ['From: ann@alpha.localhost', 'To: one@alpha.localhost', `Subject: ${subject}`, '', 'Hello.'].map((l) => Buffer.from(l));
  const qid = await submitToPostfix(postfix!, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(lines));
  const line = await postfix!.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=(sent|deferred|bounced)`), 20_000, 'the delivery');
  assert.match(line, /status=sent \(250 /, line);
  const got = await sinkDeliveryOf(gw!, 'alpha', subject);
  assert.ok(got.signature_ok);
  assert.is(got.received_from, 'mx.postfix.test', 'a unix socket\'s client has no address literal');
});

test.run();
