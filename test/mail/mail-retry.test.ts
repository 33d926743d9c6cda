// `apppkg-gateway mail retry` (docs/mail.md, "Retries and dead letters"): a dead letter went back
// to its app only by swaks and two files removed by hand. Through the real CLI and gateway: one
// retried to an app that now takes it arrives with the same delivery id and leaves `status`, and
// one whose message was mended by hand to another length arrives whole; the log's line for each;
// `--all APP` (the postmaster mail with the postmaster app's); postmaster mail to that app deployed
// after the start; the refusals (an unknown id, an app gone from --apps, a message file missing);
// a retry a crash cut short; and who may ask (the unix admin socket needs no token; given
// --admin-token, every route needs it; as root, a loopback port without one refuses it, as it
// refuses a restart).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { statusPids } from '../helpers/status.js';
import { hasProgram, runCliAs } from '../lifecycle/lifecycle-apps.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';

const test = suite('mail retry');
const apps = tempDir('apppkg-mail-retry-apps-');
const state = tempDir('apppkg-mail-retry-state-');
const socket = join(state.path, 'admin.sock');
const admin = ['--admin', `unix:${socket}`];
const answerOf = (app: string) => join(state.path, 'apps', app, 'data', 'answer');
let gw: RunningGateway | undefined;
let agent: Agent;
let port: number;

/** Seeded before the start: a dead letter of an app no longer under --apps, one whose message was gone, and a retry a crash cut short. */
const GONE = 'seeded-gone-0000';
const NO_FILE = 'seeded-nofile-00';
const CUT_SHORT = 'seeded-cutshort';
/** A `mail delete` cut short: its record removed, its message not yet. */
const DELETE_CUT_SHORT = 'seeded-delete-cut';
/** Postmaster mail kept while mail.postmaster named no app here: delta, added under --apps later. */
const POSTMASTER = 'seeded-postmastr';

function seed(): void {
  const mail = join(state.path, 'mail');
  for (const sub of ['messages', 'queue', 'dead']) mkdirSync(join(mail, sub), { recursive: true, mode: 0o700 });
  const at = Date.now() - 3_600_000;
  // `size` is the POST's Content-Length: the file's own.
  const eml = `From: ann@example.org\r\nSubject: seeded\r\n\r\nHello.\r\n`;
  const record = (id: string, app: string, messageId: string) => ({
    id, messageId, app, from: 'ann@example.org', to: [`x@${app}.localhost`], receivedAt: at, size: Buffer.byteLength(eml), attempts: 1, nextAttemptAt: at, lastError: 'the app refused it (406)',
  });
  const dead = (id: string, app: string, file: string | null) => ({ ...record(id, app, `m-${id}`), deadAt: at, reason: 'the app refused it (406)', file });
  writeFileSync(join(mail, 'dead', `${GONE}.json`), JSON.stringify(dead(GONE, 'gone', join(mail, 'dead', `${GONE}.eml`))));
  writeFileSync(join(mail, 'dead', `${GONE}.eml`), eml);
  writeFileSync(join(mail, 'dead', `${NO_FILE}.json`), JSON.stringify(dead(NO_FILE, 'alpha', null)));
  // requeue() wrote the queue's record and died before it removed the dead letter: both there.
  writeFileSync(join(mail, 'messages', `m-${CUT_SHORT}.eml`), eml);
  writeFileSync(join(mail, 'queue', `${CUT_SHORT}.json`), JSON.stringify({ ...record(CUT_SHORT, 'alpha', `m-${CUT_SHORT}`), attempts: 0, lastError: null, retriedAt: Date.now() }));
  writeFileSync(join(mail, 'dead', `${CUT_SHORT}.json`), JSON.stringify(dead(CUT_SHORT, 'alpha', join(mail, 'dead', `${CUT_SHORT}.eml`))));
  writeFileSync(join(mail, 'dead', `${CUT_SHORT}.eml`), eml);
  writeFileSync(join(mail, 'dead', `${DELETE_CUT_SHORT}.eml`), eml);
  const keep = 'mail for postmaster, and mail.postmaster names delta, which is not an app here';
  const bounce = eml.replace('seeded', 'to the postmaster');
  writeFileSync(join(mail, 'dead', `${POSTMASTER}.json`), JSON.stringify({
    ...dead(POSTMASTER, '', join(mail, 'dead', `${POSTMASTER}.eml`)), to: ['Postmaster'], size: Buffer.byteLength(bounce), attempts: 0, lastError: keep, reason: keep, keep,
  }));
  writeFileSync(join(mail, 'dead', `${POSTMASTER}.eml`), bounce);
}

test.before(async () => {
  seed();
  addPackage(apps.path, 'mail-sink', 'alpha');
  addPackage(apps.path, 'mail-sink', 'beta');
  const envFile = join(state.path, 'environment.yaml');
  // One worker each: nothing here looks at a second. A retry far away: a failed attempt waits.
  // Postmaster mail goes to delta, which is no app until a test adds it.
  writeFileSync(envFile, 'defaults:\n  workers: 1\nmail:\n  listen: 127.0.0.1:0\n  retry: [600]\n  give_up: 3600\n  postmaster: delta\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', ...admin, '--state-dir', state.path, '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  agent = new Agent({ connect: { socketPath: socket } });
  port = mailPort(gw.output());
});

test.after(async () => {
  const pids = gw ? statusPids(await status().catch(() => ({ apps: [] }))) : [];
  const code = await gw?.stop();
  await agent?.close();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
  assert.is(code, 0, 'the gateway stops cleanly');
});

async function status(): Promise<any> {
  return (await request('http://localhost/status', { dispatcher: agent })).body.json();
}

/** The app's mail counters in /metrics: accepted, retried, delivered, undeliverable. */
async function countsOf(app: string): Promise<Record<string, number>> {
  const text = await (await request('http://localhost/metrics', { dispatcher: agent })).body.text();
  const counts: Record<string, number> = {};
  for (const name of ['accepted', 'retried', 'delivered', 'undeliverable']) {
    const line = text.split('\n').find((l) => l.startsWith(`apppkg_mail_app_${name}_total{app="${app}"} `));
    counts[name] = line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

/** What each counter of `app` grew by since `before`, once `done` holds of it (deadline 15 s). */
async function grownBy(app: string, before: Record<string, number>, done: (grown: Record<string, number>) => boolean): Promise<Record<string, number>> {
  let last: Record<string, number> | null = null;
  return waitFor(async () => {
    last = Object.fromEntries(Object.entries(await countsOf(app)).map(([k, v]) => [k, v - (before[k] || 0)]));
    return done(last) ? last : undefined;
  }, 15_000, () => `${app}'s counters in /metrics (grown by ${JSON.stringify(last)})`, ASK_GATEWAY_EVERY_MS);
}

async function deadIds(): Promise<string[]> {
  return (await status()).mail.dead.map((d: { id: string }) => d.id);
}

async function deliveries(app: string): Promise<Array<{ id: string; subject: string; status: number; to: string; size: number; message: string }>> {
  return (await (await request(`${gw!.url}/${app}/deliveries`)).body.json()) as any;
}

function retry(...args: string[]) {
  return runCli(['mail', 'retry', ...args, ...admin], { ms: 30_000 });
}

function remove(...args: string[]) {
  return runCli(['mail', 'delete', ...args, ...admin], { ms: 30_000 });
}

/** Sends a message to `app` answering 406 and waits for its dead letter: its delivery id. */
async function deadLetterFor(app: string, subject: string): Promise<string> {
  writeFileSync(answerOf(app), '406');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', [`x@${app}.localhost`], message({ subject })), { refused: {} });
  const id = await waitFor(async () => (await deliveries(app)).find((d) => d.subject === subject)?.id, 15_000, `${app}'s attempt of "${subject}"`, ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await deadIds()).includes(id), 15_000, `"${subject}" refused (406) to be a dead letter`, ASK_GATEWAY_EVERY_MS);
  return id;
}

test('a retry a crash cut short (its queue record and its dead letter both on disk) is delivered once, and listed as a dead letter no more', async () => {
  await waitFor(async () => (await deliveries('alpha')).some((d) => d.id === CUT_SHORT), 15_000, 'the cut-short retry delivered', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await status()).mail.spooled === 0, 5_000, 'nothing left in the queue', ASK_GATEWAY_EVERY_MS);
  assert.is((await deliveries('alpha')).filter((d) => d.id === CUT_SHORT).length, 1, 'delivered once');
  assert.ok(!(await deadIds()).includes(CUT_SHORT), 'not a dead letter too');
  assert.ok(!existsSync(join(state.path, 'mail', 'dead', `${CUT_SHORT}.json`)), 'its dead record removed');
  assert.ok(!existsSync(join(state.path, 'mail', 'dead', `${DELETE_CUT_SHORT}.eml`)), 'a message a delete cut short left, with no record, removed at the start');
});

test('a dead letter retried to an app that now takes it: `mail retry ID` delivers it with the same delivery id, and it leaves status; /metrics counts the retry apart from the mail accepted', async () => {
  const before = await countsOf('alpha');
  const id = await deadLetterFor('alpha', 'refused then retried');
  const table = await runCli(['status', ...admin], { ms: 15_000 });
  assert.match(table.stdout, new RegExp(`dead letter ${id} to alpha .*: the app refused it \\(406\\)`));
  assert.match(table.stdout, /\n {2}to deliver dead letters again, once their app takes them: apppkg-gateway mail retry ID\.\.\. \(or --all \[APP\]\)\n/);
  assert.is((await status()).mail.retryCommand, 'apppkg-gateway mail retry ID... (or --all [APP])');
  assert.match(table.stdout, /\n {2}to delete them for good: apppkg-gateway mail delete ID\.\.\. \(or --all \[APP\]\)\n/);
  assert.is((await status()).mail.deleteCommand, 'apppkg-gateway mail delete ID... (or --all [APP])');
  rmSync(answerOf('alpha'));
  const r = await retry(id);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^mail: 1 dead letter put back in the queue and tried now, with its delivery id: ${id} to alpha; `));
  // As `mail delete` logs each: what went back, whose, from whom.
  assert.match(gw!.output(), new RegExp(`mail: dead letter ${id} \\(queued as \\S+\\) to alpha from ann@example\\.org put back in the queue, tried now \\(mail retry\\)`));
  const attempts = await waitFor(async () => {
    const all = (await deliveries('alpha')).filter((d) => d.id === id);
    return all.some((d) => d.status === 200) ? all : undefined;
  }, 15_000, 'the retried dead letter delivered', ASK_GATEWAY_EVERY_MS);
  assert.equal(attempts.map((d) => [d.subject, d.status]), [['refused then retried', 406], ['refused then retried', 200]], 'the same delivery id on both');
  await waitFor(async () => !(await deadIds()).includes(id), 5_000, 'the dead letter gone from status', ASK_GATEWAY_EVERY_MS);
  assert.ok(!existsSync(join(state.path, 'mail', 'dead', `${id}.json`)), 'nor kept in dead/');
  // One message came (accepted), was refused (undeliverable), put back (retried) and delivered.
  const grown = await grownBy('alpha', before, (g) => g.delivered >= 1);
  assert.equal(grown, { accepted: 1, retried: 1, delivered: 1, undeliverable: 1 });
  // Retried already: no dead letter by that id now.
  const again = await retry(id);
  assert.is(again.status, 1);
  assert.match(again.stderr, new RegExp(`no dead letter ${id} in this gateway`));
});

test('a dead letter whose message was edited by hand to another length: `mail retry` delivers the whole new message (its Content-Length is the file\'s, not the record\'s)', async () => {
  const id = await deadLetterFor('alpha', 'edited by hand');
  const file = join(state.path, 'mail', 'dead', `${id}.eml`);
  const edited = readFileSync(file, 'utf8').replace('Hello.\r\n', 'Hello, and a longer body written in by hand.\r\nWith a second line.\r\n');
  assert.ok(edited.length > readFileSync(file, 'utf8').length, 'the edit changes the length');
  writeFileSync(file, edited);
  rmSync(answerOf('alpha'));
  const r = await retry(id, '--wait', '--timeout', '15');
  assert.is(r.status, 0, r.stdout + r.stderr);
  const [got] = (await deliveries('alpha')).filter((d) => d.id === id && d.status === 200);
  // The file begins with the gateway's Received: field, which goes in X-Apppkg-Received: the rest is the body.
  const trace = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(edited)![0];
  assert.match(trace, / \(apppkg-gateway\) with ESMTP id /);
  assert.is(got?.size, Buffer.byteLength(edited) - Buffer.byteLength(trace), 'the whole edited file after its trace');
  assert.match(got.message, /\r\n\r\nHello, and a longer body written in by hand\.\r\nWith a second line\.\r\n$/);
});

test('`mail retry --all APP` retries every dead letter of that app and no other; `--all` leaves those it cannot deliver, saying why; one refused again counts again in undeliverable, balanced by its retry', async () => {
  const before = { alpha: await countsOf('alpha'), beta: await countsOf('beta') };
  const one = await deadLetterFor('beta', 'beta one');
  const two = await deadLetterFor('beta', 'beta two');
  const alphas = await deadLetterFor('alpha', 'alpha stays');
  rmSync(answerOf('beta'));
  const r = await retry('--all', 'beta');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^mail: 2 dead letters put back in the queue and tried now, with their delivery ids: /);
  await waitFor(async () => {
    const ok = (await deliveries('beta')).filter((d) => d.status === 200).map((d) => d.id);
    return ok.includes(one) && ok.includes(two);
  }, 15_000, 'both of beta\'s delivered', ASK_GATEWAY_EVERY_MS);
  const left = await deadIds();
  assert.ok(!left.includes(one) && !left.includes(two), 'beta\'s gone from the dead letters');
  assert.ok(left.includes(alphas) && left.includes(GONE) && left.includes(NO_FILE), 'the others kept');
  // Every one: alpha's (still answering 406: a dead letter again), and the two that cannot go, each said why.
  const all = await retry('--all');
  assert.is(all.status, 0, all.stderr);
  assert.match(all.stdout, new RegExp(`^mail: 1 dead letter put back in the queue and tried now, with its delivery id: ${alphas} to alpha; `));
  assert.match(all.stdout, new RegExp(`\\nleft as a dead letter: ${GONE}: its app gone is no app of this gateway now \\(removed from --apps\\?\\)`));
  assert.match(all.stdout, new RegExp(`\\nleft as a dead letter: ${NO_FILE}: its message file is missing \\(\\S+/dead/${NO_FILE}\\.eml\\): only its record is kept`));
  assert.match(gw!.output(), new RegExp(`mail: dead letter ${GONE} \\(queued as m-${GONE}\\) to gone from ann@example\\.org left as a dead letter \\(mail retry\\): its app gone is no app of this gateway now`));
  await waitFor(async () => (await deliveries('alpha')).filter((d) => d.id === alphas).length === 2 && (await deadIds()).includes(alphas), 15_000, 'alpha\'s refused again: a dead letter again', ASK_GATEWAY_EVERY_MS);
  // accepted + retried = delivered + undeliverable, the spool holding none of theirs now.
  assert.equal(await grownBy('beta', before.beta, (g) => g.delivered >= 2), { accepted: 2, retried: 2, delivered: 2, undeliverable: 2 });
  assert.equal(await grownBy('alpha', before.alpha, (g) => g.undeliverable >= 2), { accepted: 1, retried: 1, delivered: 0, undeliverable: 2 });
});

test('postmaster mail: kept as a dead letter while mail.postmaster names no app here; once that app is deployed (after the start), new postmaster mail goes to it, `mail retry ID` delivers a kept one (refused before, saying how), and `mail retry --all APP` of that app the rest', async () => {
  assert.equal(await sendWithSmtplib(port, 'bounce@example.org', ['Postmaster'], message({ subject: 'postmaster before delta' })), { refused: {} });
  const kept = await waitFor(async () => (await status()).mail.dead.find((d: { from: string; app: string }) => d.from === 'bounce@example.org' && d.app === '')?.id as string | undefined, 15_000, 'postmaster mail kept as a dead letter', ASK_GATEWAY_EVERY_MS);
  const refused = await retry(POSTMASTER);
  assert.is(refused.status, 1);
  assert.match(refused.stderr, new RegExp(`cannot retry ${POSTMASTER}: it is postmaster mail, and mail\\.postmaster names delta, which is no app of this gateway now \\(removed from --apps\\?\\); nothing was retried`));
  assert.match(refused.stderr, /fix: leave it out, or: put the app mail\.postmaster names back under --apps .*or name another in the environment file and restart the gateway/);
  assert.ok((await deadIds()).includes(POSTMASTER), 'still a dead letter');
  addPackage(apps.path, 'mail-sink', 'delta');
  await waitFor(async () => (await request(`${gw!.url}/delta/deliveries`)).statusCode === 200, 30_000, 'delta to serve', ASK_GATEWAY_EVERY_MS);
  // Deployed after the gateway started: postmaster mail that comes now is delta's.
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['postmaster'], message({ subject: 'postmaster after delta' })), { refused: {} });
  const arrived = await waitFor(async () => (await deliveries('delta')).find((d) => d.subject === 'postmaster after delta'), 15_000, 'new postmaster mail delivered to delta', ASK_GATEWAY_EVERY_MS);
  assert.equal([arrived.status, arrived.to], [200, 'postmaster']);
  const r = await retry(POSTMASTER);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^mail: 1 dead letter put back in the queue and tried now, with its delivery id: ${POSTMASTER} to delta; `));
  const [got] = await waitFor(async () => {
    const found = (await deliveries('delta')).filter((d) => d.id === POSTMASTER);
    return found.length > 0 ? found : undefined;
  }, 15_000, 'the postmaster mail delivered to delta', ASK_GATEWAY_EVERY_MS);
  assert.equal([got.subject, got.status, got.to], ['to the postmaster', 200, 'Postmaster'], 'to delta as postmaster mail, the address as sent');
  await waitFor(async () => !(await deadIds()).includes(POSTMASTER), 5_000, 'the postmaster dead letter gone from status', ASK_GATEWAY_EVERY_MS);
  // delta is the postmaster app: `--all delta` takes the postmaster mail kept for it too.
  const all = await retry('--all', 'delta');
  assert.is(all.status, 0, all.stderr);
  assert.match(all.stdout, new RegExp(`^mail: 1 dead letter put back in the queue and tried now, with its delivery id: ${kept} to delta; `));
  const again = await waitFor(async () => (await deliveries('delta')).find((d) => d.id === kept), 15_000, 'the kept postmaster mail delivered to delta', ASK_GATEWAY_EVERY_MS);
  assert.equal([again.subject, again.status, again.to], ['postmaster before delta', 200, 'Postmaster']);
});

test('refused, and nothing retried: an unknown id (naming the ids there are), one whose app is gone from --apps (naming it), one whose message file is missing; --all for an app that is not there', async () => {
  const unknown = await retry('no-such-id');
  assert.is(unknown.status, 1);
  assert.match(unknown.stderr, /^apppkg-gateway: no dead letter no-such-id in this gateway \(it keeps \d+: .*seeded-gone-0000 \(gone\).*\); nothing was retried\n/);
  assert.match(unknown.stderr, /fix: `apppkg-gateway status` lists the newest dead letters with their ids/);
  const before = await deadIds();
  // A good id beside an unknown one: neither is retried.
  const mixed = await retry(GONE, 'no-such-id');
  assert.is(mixed.status, 1);
  const gone = await retry(GONE);
  assert.is(gone.status, 1);
  assert.match(gone.stderr, new RegExp(`cannot retry ${GONE}: its app gone is no app of this gateway now \\(removed from --apps\\?\\); nothing was retried`));
  assert.match(gone.stderr, /fix: leave it out, or: put the app back under --apps/);
  const noFile = await retry(NO_FILE);
  assert.is(noFile.status, 1);
  assert.match(noFile.stderr, new RegExp(`cannot retry ${NO_FILE}: its message file is missing`));
  const allGone = await retry('--all', 'gone');
  assert.is(allGone.status, 1);
  assert.match(allGone.stderr, /gone is no app of this gateway now: its 1 dead letter cannot be delivered; nothing was retried\n.*fix: its apps: alpha, beta, delta; put gone back under --apps/);
  assert.equal((await deadIds()).sort(), before.sort(), 'no dead letter moved');
  const bad = await retry();
  assert.is(bad.status, 2, 'no id and no --all: bad usage');
});

test('`mail delete --all APP` of the app mail.postmaster names takes the postmaster mail kept for no app, as `mail retry --all APP` does; `--all` of another name leaves it', async () => {
  // delta, the postmaster app, gone from --apps: postmaster mail that comes now is kept for no app.
  rmSync(join(apps.path, 'delta'), { recursive: true });
  await waitFor(async () => !(await status()).apps.some((a: { name: string }) => a.name === 'delta'), 30_000, 'delta gone from the gateway', ASK_GATEWAY_EVERY_MS);
  assert.equal(await sendWithSmtplib(port, 'pm-delete@example.org', ['postmaster'], message({ subject: 'postmaster to delete' })), { refused: {} });
  const kept = await waitFor(async () => (await status()).mail.dead.find((d: { from: string; app: string }) => d.from === 'pm-delete@example.org' && d.app === '')?.id as string | undefined, 15_000, 'postmaster mail kept as a dead letter', ASK_GATEWAY_EVERY_MS);
  assert.is((await remove('--all', 'nobody-here')).stdout, 'mail: no dead letter of nobody-here to delete\n');
  assert.ok((await deadIds()).includes(kept), 'another name leaves it');
  const r = await remove('--all', 'delta');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `mail: 1 dead letter deleted: ${kept} (no app)\n`);
  assert.ok(!(await deadIds()).includes(kept), 'gone from status');
});

const ifScript = runIf(test, hasProgram('script'), 'needs script(1) (bsdutils) to give mail delete a terminal');
ifScript('`mail delete --all` on a terminal asks first, as uninstall does; anything but y deletes nothing', async () => {
  const asked = await runCliAs(['mail', 'delete', '--all', 'gone', ...admin], { tty: true, input: 'n\n', ms: 30_000 });
  assert.is(asked.status, 1, asked.stdout + asked.stderr);
  assert.match(asked.stdout, /delete 1 dead letter of gone of the gateway at unix:\S+ for good, their messages too\? \[y\/N\]/);
  assert.match(asked.stdout, /mail delete --all gone not confirmed: the answer was not "y"; nothing was removed/);
  assert.ok((await deadIds()).includes(GONE), 'not deleted');
});

ifScript('`mail delete --all APP` on a terminal says, with counts from the gateway, that the postmaster mail kept for no app goes too when APP is the app mail.postmaster names', async () => {
  // delta, the postmaster app, is gone from --apps (the test above): postmaster mail is kept for no app.
  assert.equal(await sendWithSmtplib(port, 'pm-asked@example.org', ['postmaster'], message({ subject: 'postmaster asked about' })), { refused: {} });
  const kept = await waitFor(async () => (await status()).mail.dead.find((d: { from: string; app: string }) => d.from === 'pm-asked@example.org' && d.app === '')?.id as string | undefined, 15_000, 'postmaster mail kept as a dead letter', ASK_GATEWAY_EVERY_MS);
  const ofDelta = await runCliAs(['mail', 'delete', '--all', 'delta', ...admin], { tty: true, input: 'n\n', ms: 30_000 });
  assert.is(ofDelta.status, 1, ofDelta.stdout + ofDelta.stderr);
  assert.match(ofDelta.stdout, /delete 0 dead letters of delta and 1 of the postmaster mail kept for no app \(delta is the app mail\.postmaster names\) of the gateway at unix:\S+ for good, their messages too\? \[y\/N\]/);
  const every = await runCliAs(['mail', 'delete', '--all', ...admin], { tty: true, input: 'n\n', ms: 30_000 });
  assert.match(every.stdout, /delete every dead letter \(\d+, 1 of the postmaster mail kept for no app among them\) of the gateway at/);
  const ofAnother = await runCliAs(['mail', 'delete', '--all', 'gone', ...admin], { tty: true, input: 'n\n', ms: 30_000 });
  assert.match(ofAnother.stdout, /delete 1 dead letter of gone of the gateway at/);
  assert.ok((await deadIds()).includes(kept), 'not deleted');
  assert.is((await remove('--all', 'delta')).stdout, `mail: 1 dead letter deleted: ${kept} (no app)\n`);
});

test('`mail delete ID` removes a dead letter for good (files, status, a line of the log); an unknown id deletes none; `--all APP` takes an app gone from --apps too, without a terminal or with --yes asking nothing', async () => {
  const id = await deadLetterFor('alpha', 'deleted for good');
  const deadFile = (name: string) => join(state.path, 'mail', 'dead', name);
  assert.ok(existsSync(deadFile(`${id}.eml`)));
  // A typo beside a good id: neither is deleted.
  const mixed = await remove(id, 'no-such-id');
  assert.is(mixed.status, 1);
  assert.match(mixed.stderr, /^apppkg-gateway: no dead letter no-such-id in this gateway \(it keeps \d+: .*\); nothing was deleted\n/);
  assert.ok((await deadIds()).includes(id), 'kept');
  const r = await remove(id);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `mail: 1 dead letter deleted: ${id} (alpha)\n`);
  assert.ok(!(await deadIds()).includes(id), 'gone from status');
  assert.ok(!existsSync(deadFile(`${id}.json`)) && !existsSync(deadFile(`${id}.eml`)), 'its record and its message removed');
  assert.match(gw!.output(), new RegExp(`mail: dead letter ${id} \\(queued as \\S+\\) to alpha from ann@example\\.org deleted \\(mail delete\\)`));
  assert.is((await retry(id)).status, 1, 'no dead letter to retry now');

  // Without a terminal (a script) it goes ahead; --yes too. An app gone from --apps: its letters are what is left of it.
  const all = await remove('--all', 'gone', '--yes');
  assert.is(all.status, 0, all.stderr);
  assert.is(all.stdout, `mail: 1 dead letter deleted: ${GONE} (gone)\n`);
  // One whose message was gone: its record alone.
  assert.is((await remove(NO_FILE)).status, 0);
  const left = await deadIds();
  assert.ok(!left.includes(GONE) && !left.includes(NO_FILE), 'both gone from status');
  assert.ok(!existsSync(deadFile(`${GONE}.eml`)) && !existsSync(deadFile(`${NO_FILE}.json`)));
  assert.is((await remove('--all', 'gone')).stdout, 'mail: no dead letter of gone to delete\n');
  assert.is((await retry('--all', '--yes')).status, 2, '--yes is delete\'s');
});

test('`mail retry --wait` returns once each is delivered (exit 0), a dead letter again (exit 1, naming it), or still waiting at --timeout (exit 1, with why and the next attempt)', async () => {
  const delivered = await deadLetterFor('beta', 'waited for: delivered');
  rmSync(answerOf('beta'));
  const ok = await retry(delivered, '--wait');
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, new RegExp(`\\ndelivered: ${delivered} to beta\\n$`));
  assert.ok((await deliveries('beta')).some((d) => d.id === delivered && d.status === 200), 'delivered before the command returned');

  const refused = await deadLetterFor('beta', 'waited for: dead again');
  const dead = await retry(refused, '--wait', '--timeout', '20');
  assert.is(dead.status, 1, dead.stdout + dead.stderr);
  assert.match(dead.stdout, new RegExp(`\\na dead letter again: ${refused} to beta: the app refused it \\(406\\)\\n$`));
  assert.match(dead.stderr, new RegExp(`^apppkg-gateway: 1 of 1 dead letter put back not delivered: ${refused} to beta is a dead letter again\\n.*fix: \`apppkg-gateway status\` shows each`, 's'));

  // Failed and tried again in 10 min (retry: [600]): still waiting when --timeout runs out.
  const failing = await deadLetterFor('beta', 'waited for: still waiting');
  writeFileSync(answerOf('beta'), '500');
  const started = Date.now();
  const waiting = await retry(failing, '--wait', '--timeout', '6');
  assert.is(waiting.status, 1, waiting.stdout + waiting.stderr);
  assert.ok(Date.now() - started >= 6_000, 'waited for --timeout');
  assert.match(waiting.stdout, new RegExp(`\\nstill waiting after 6 s: ${failing} to beta: the app answered 500; the next attempt at \\S+Z\\n$`));
  assert.match(waiting.stderr, new RegExp(`${failing} to beta still waits \\(in the queue, tried on the schedule\\)`));
  rmSync(answerOf('beta'));

  for (const wrong of [['retry', 'x', '--timeout', '5'], ['delete', 'x', '--wait'], ['retry', 'x', '--wait', '--timeout', '0'], ['retry', 'x', '--wait', '--timeout', 'soon']]) {
    const r = await runCli(['mail', ...wrong, ...admin], { ms: 15_000 });
    assert.is(r.status, 2, `${wrong.join(' ')}: ${r.stderr}`);
  }
});

test('with --admin-token, mail retry needs the token (401 without it); a gateway with no mail listener says it has none to put them back into', async () => {
  const dir = tempDir('apppkg-mail-retry-token-');
  mkdirSync(join(dir.path, 'apps'));
  const tokenFile = join(dir.path, 'token');
  writeFileSync(tokenFile, 'k3y-for-mail-retry\n', { mode: 0o600 });
  const other = await startCli(['--apps', join(dir.path, 'apps'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', join(dir.path, 'state'), '--access-log', 'off']);
  try {
    const at = ['--admin', new URL(other.adminUrl!).host];
    const without = await runCli(['mail', 'retry', '--all', ...at], { ms: 15_000 });
    assert.is(without.status, 1);
    assert.match(without.stderr, /refused POST \/mail\/retry\?all=1: HTTP 401: this admin listener needs its token/);
    const withToken = await runCli(['mail', 'retry', '--all', ...at, '--admin-token', tokenFile], { ms: 15_000 });
    assert.is(withToken.status, 1);
    assert.match(withToken.stderr, /^apppkg-gateway: this gateway runs no mail listener \(there is no environment file \(--environment\)\), so it delivers no mail\n.*fix: put `mail: \{listen: \.\.\.\}` in the gateway's environment file and restart it/m);
  } finally {
    await other.stop();
    dir.remove();
  }
});

const ifRoot = runIf(test, isRoot, 'needs root: apps run as other users only when the gateway is root');
ifRoot('as root without a token and no app run as another user, a loopback admin port lets mail retry through (no app\'s process to guard against): the gateway\'s own answer', async () => {
  const dir = tempDir('apppkg-mail-retry-tcp-');
  mkdirSync(join(dir.path, 'apps'));
  const other = await startCli(['--apps', join(dir.path, 'apps'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--access-log', 'off']);
  try {
    const at = ['--admin', new URL(other.adminUrl!).host];
    assert.is((await runCli(['status', ...at], { ms: 15_000 })).status, 0, 'reading is allowed');
    // Refused with a token's fix while an app runs as nobody: test/admin/root-admin-key.test.ts.
    const r = await runCli(['mail', 'retry', '--all', ...at], { ms: 15_000 });
    assert.is(r.status, 1);
    assert.not.match(r.stderr, /HTTP 403/, r.stderr);
    assert.match(r.stderr, /^apppkg-gateway: this gateway runs no mail listener/, r.stderr);
  } finally {
    await other.stop();
    dir.remove();
  }
});

// Last: it stops the shared gateway (after() then finds it stopped).
test('a gateway stopped while `mail retry --wait` waits stops at once, not when --timeout runs out; the command fails', async () => {
  const letter = await deadLetterFor('beta', 'waited for while stopping');
  writeFileSync(answerOf('beta'), '500');
  const waiting = retry(letter, '--wait', '--timeout', '600');
  await waitFor(async () => (await deliveries('beta')).some((d) => d.id === letter && d.status === 500), 15_000, 'the retried letter to fail its attempt', ASK_GATEWAY_EVERY_MS);
  const pids = statusPids(await status());
  const started = Date.now();
  // stop() SIGKILLs past 15 s: a gateway held by the wait's timer exits with no status.
  assert.is(await gw!.stop(15_000), 0, 'the gateway stops cleanly');
  assert.ok(Date.now() - started < 10_000, `stopped in ${Date.now() - started} ms`);
  const r = await waiting;
  assert.is.not(r.status, 0, r.stdout + r.stderr);
  await assertNoOrphans(pids);
});

test.run();
