// A full spool behind a real Postfix (SPEC 5.3: a message is accepted only once it is on disk):
// the gateway's state root is a small tmpfs the test fills, and the gateway's 452 4.3.1
// (insufficient system storage) makes Postfix keep the message and try again, never bounce it;
// once there is room, Postfix's next try delivers it, once.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { addPackage } from '../helpers/apps-dir.js';
import { behindPostfixLines } from '../helpers/behind-postfix.js';
import { fill } from '../helpers/full-disk.js';
import { dataWire, POSTFIX_RETRY_MS, postfixMissing, startPostfix, submitToPostfix, type RunningPostfix } from '../helpers/postfix.js';
import { sinkDeliveries, sinkDeliveryOf, stopBehindPostfix } from '../helpers/postfix-sink.js';
import { startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('mail behind Postfix on a full disk');
const missing = postfixMissing() ?? (hasProgram('mount') ? null : 'needs mount for a small tmpfs that fills up');
const ifPostfix = runIf(test, missing === null, missing ?? '');
const scratch = tempDir('apppkg-postfix-full-');
const apps = join(scratch.path, 'apps');
const state = join(scratch.path, 'state');
const filler = join(state, 'filler');
let mounted = false;
let postfix: RunningPostfix | undefined;
let gw: RunningGateway | undefined;
let pids: number[] = [];

test.after(() => stopBehindPostfix({
  gw, pids, postfix,
  remove: () => {
    if (mounted) execFileSync('umount', ['-l', state], { timeout: 10_000 });
    scratch.remove();
  },
}));

ifPostfix('the gateway\'s 452 4.3.1 on a full spool: Postfix defers the message, and delivers it once there is room', async () => {
  mkdirSync(apps);
  mkdirSync(state);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', state], { timeout: 10_000 });
  mounted = true;
  addPackage(apps, 'mail-sink', 'alpha');
  const mailPort = await getPort({ host: '127.0.0.1' });
  const envFile = join(scratch.path, 'environment.yaml');
  writeFileSync(envFile, `mail:\n  listen: 127.0.0.1:${mailPort}\n  lmtp: true\napps:\n  alpha:\n    workers: 1\n`, { mode: 0o600 });
  postfix = await startPostfix({ mainCf: behindPostfixLines('lmtp', ['alpha.localhost'], mailPort) });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));

  fill(filler, 16 * 1024 * 1024);
  const subject = 'while the spool was full';
  // Larger than any room a filled tmpfs keeps in its last pages.
  const body = Array.from({ length: 2600 }, () => Buffer.from('z'.repeat(76)));
  const lines = [`From: ann@alpha.localhost`, 'To: one@alpha.localhost', `Subject: ${subject}`, '', ...body.map(String)].map((line) => Buffer.from(line));
  const qid = await submitToPostfix(postfix, 'ann@alpha.localhost', ['one@alpha.localhost'], dataWire(lines));
  const deferred = await postfix.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=(deferred|bounced|sent)`), 20_000, 'the first try');
  assert.match(deferred, /status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 452 4\.3\.1 Insufficient system storage; try again later /, deferred);
  assert.ok(postfix.queued().includes(qid), 'Postfix keeps it');

  rmSync(filler);
  const sent = await postfix.waitForLog(new RegExp(`${qid}: to=<one@alpha\\.localhost>.* status=(sent|bounced)`), POSTFIX_RETRY_MS, 'the delivery once there is room');
  assert.match(sent, /status=sent \(250 /, sent);
  await sinkDeliveryOf(gw!, 'alpha', subject);
  const got = (await sinkDeliveries(gw!, 'alpha')).filter((d) => d.subject === subject);
  assert.is(got.length, 1, 'delivered once');
  assert.ok(got[0].signature_ok);
  assert.not.match(postfix.log(), new RegExp(`${qid}: .*status=bounced`), 'never bounced');
});

test.run();
