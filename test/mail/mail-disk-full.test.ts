// Incoming mail on a full disk (SPEC 5.3: a message is accepted only once it is on disk): the
// state root is a small tmpfs that the test fills. The sender is told 452 4.3.1 (RFC 5321's
// insufficient system storage, as Postfix says it) and sends the message again; nothing of it
// is kept, the connection goes on, and once there is room the message is taken and delivered.
// A size announced at MAIL FROM past the room left gets that 452 before the message is sent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { fill } from '../helpers/full-disk.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { mailPort, message, SmtpTalk, type SmtpReply } from '../helpers/smtp.js';

const test = suite('mail on a full disk');
const ifTmpfs = runIf(test, isRoot && hasProgram('mount'), 'needs root to mount a small tmpfs that fills up');
const scratch = tempDir('apppkg-mail-full-');
const apps = join(scratch.path, 'apps');
const state = join(scratch.path, 'state');
const filler = join(state, 'filler');
let mounted = false;
let gw: RunningGateway | null = null;
let pids: number[] = [];

test.after(async () => {
  try {
    const code = await gw?.stop();
    await assertNoOrphans(pids);
    if (gw !== null) assert.is(code, 0, 'the gateway stops cleanly');
  } finally {
    if (mounted) execFileSync('umount', ['-l', state], { timeout: 10_000 });
    scratch.remove();
  }
});

async function deliveries(): Promise<Array<{ id: string; subject: string; signature_ok: boolean }>> {
  const res = await request(`${gw!.url}/alpha/deliveries`);
  return (await res.body.json()) as Array<{ id: string; subject: string; signature_ok: boolean }>;
}

/** One message to alpha on `talk`: the reply to it. */
async function transaction(talk: SmtpTalk, subject: string): Promise<SmtpReply> {
  assert.is((await talk.command('MAIL FROM:<ann@example.org>', 10_000)).code, 250);
  assert.is((await talk.command('RCPT TO:<help@alpha.localhost>', 10_000)).code, 250);
  // Larger than any room a filled tmpfs keeps in its last pages.
  return talk.data(message({ subject, size: 200_000 }), 30_000);
}

ifTmpfs('a message the full spool cannot hold gets 452 4.3.1, nothing of it kept, the session going on; a SIZE= past the room left refused at MAIL FROM; with room again it is taken and delivered once', async () => {
  mkdirSync(apps);
  mkdirSync(state);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', state], { timeout: 10_000 });
  mounted = true;
  addPackage(apps, 'mail-sink', 'alpha');
  const envFile = join(scratch.path, 'environment.yaml');
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\napps:\n  alpha:\n    workers: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
  const port = mailPort(gw.output());

  fill(filler, 16 * 1024 * 1024);
  const talk = await SmtpTalk.connect(port);
  try {
    await talk.reply(10_000);
    assert.is((await talk.command('EHLO client.test', 10_000)).code, 250);
    const full = await transaction(talk, 'no room');
    assert.is(full.code, 452, `a full disk is insufficient system storage (RFC 5321 4.2.3), not another fault: ${full.text}`);
    assert.match(full.text, /^452 4\.3\.1 Insufficient system storage; try again later$/);
    assert.equal(readdirSync(join(state, 'mail', 'tmp')), [], 'nothing of it in tmp/');
    assert.equal(readdirSync(join(state, 'mail', 'messages')), [], 'nor in messages/');
    assert.equal(readdirSync(join(state, 'mail', 'queue')), [], 'nor a delivery');
    assert.match(gw.output(), /mail: could not spool a message: ENOSPC: .*; the file system of \S+ is full \(or its quota used up\): free space on it \(`df -h \S+`\); senders are told 452 and send it again/);

    // The rest of the message was read as data, not as commands: the session goes on. A size
    // announced past the room left is refused before the message is sent (RFC 1870 6.1).
    assert.is((await talk.command('RSET', 10_000)).code, 250);
    const announced = await talk.command('MAIL FROM:<ann@example.org> SIZE=200000', 10_000);
    assert.is(announced.text, '452 4.3.1 Insufficient system storage; try again later');
    assert.match(gw.output(), /mail: a message of 200000 bytes \(MAIL FROM's SIZE=\) refused with 452: the file system of \S+ has \d+ bytes free: free space on it \(`df -h \S+`\)/);
    rmSync(filler);
    assert.is((await talk.command('MAIL FROM:<ann@example.org> SIZE=200000', 10_000)).code, 250, 'with room again the size is taken');
    assert.is((await talk.command('RSET', 10_000)).code, 250);
    const taken = await transaction(talk, 'room again');
    assert.is(taken.code, 250, taken.text);
    await talk.command('QUIT', 10_000);
  } finally {
    talk.close();
  }
  const got = await waitFor(async () => {
    const all = await deliveries();
    return all.some((d) => d.subject === 'room again') ? all : undefined;
  }, 20_000, "the message taken with room again delivered");
  assert.equal(got.map((d) => [d.subject, d.signature_ok]), [['room again', true]], 'only the message taken, once, its signature valid');
});

test.run();
