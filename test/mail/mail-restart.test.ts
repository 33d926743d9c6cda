// No accepted message is lost (issue 16, SPEC 5.3): what the spool holds when the gateway stops
// (SIGTERM) or dies (SIGKILL) is delivered by the next gateway on the same state directory,
// with the delivery ids it had, so that the app can tell a repeat.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import { renderStatusTable } from '../../src/admin/status-table.js';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { assertDeliveredAsSent, mailPort, message, sendWithSmtplib, type SinkDelivery } from '../helpers/smtp.js';

const test = suite('mail across restarts');
const apps = tempDir('apppkg-mail-apps-');
const state = tempDir('apppkg-mail-state-');
const envFile = join(state.path, 'environment.yaml');
const answerFile = join(state.path, 'apps', 'alpha', 'data', 'answer');
// Deliveries are recorded in alpha's data directory, so one worker serves every test: a second
// was a Python process more per start, of which this file makes thirteen.
const ONE_WORKER = 'apps:\n  alpha:\n    workers: 1\n';
let gw: RunningGateway | null = null;
let pids: number[] = [];

test.before(() => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  writeFileSync(envFile, `mail:\n  listen: 127.0.0.1:0\n  retry: [0.5]\n  give_up: 600\n${ONE_WORKER}`);
});

test.after(async () => {
  try {
    await stopGateway();
  } finally {
    apps.remove();
    state.remove();
  }
});

async function startGateway(environment = envFile): Promise<{ port: number }> {
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
  return { port: /mail: (?:SMTP|LMTP) on /.test(gw.output()) ? mailPort(gw.output()) : 0 };
}

async function stopGateway(): Promise<number | null> {
  const code = await gw?.stop() ?? null;
  gw = null;
  await assertNoOrphans(pids);
  return code;
}

/**
 * Stops the gateway, then clears what a give_up test left in the spool (its records, message
 * files and dead letters) and the app's answer, so that the next test starts from none; the stop's code.
 */
async function stopAndClearSpool(): Promise<number | null> {
  const code = await stopGateway();
  for (const name of queued()) rmSync(join(state.path, 'mail', 'queue', name));
  for (const dir of ['messages', 'dead']) rmSync(join(state.path, 'mail', dir), { recursive: true, force: true });
  rmSync(answerFile, { force: true });
  return code;
}

interface Delivery extends SinkDelivery { id: string; subject: string; status: number; received_id: string }

async function deliveries(): Promise<Delivery[]> {
  return (await (await request(`${gw!.url}/alpha/deliveries`)).body.json()) as Delivery[];
}

/**
 * A gateway whose mail is given up 5 s after its receipt, tried every 0.5 s till then: room for
 * a test to change the spool after the first attempt, on a loaded machine, before give_up.
 */
function startGivingUpSoon(): Promise<{ port: number }> {
  const shortLived = join(state.path, 'give-up-soon.yaml');
  writeFileSync(shortLived, `mail:\n  listen: 127.0.0.1:0\n  retry: [0.5]\n  give_up: 5\n${ONE_WORKER}`, { mode: 0o600 });
  return startGateway(shortLived);
}

/** A message to alpha while it answers 503 (each attempt fails): its first attempt, as alpha saw it. */
async function firstFailedAttempt(port: number, subject: string): Promise<Delivery> {
  writeFileSync(answerFile, '503');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject })), { refused: {} });
  return waitFor(async () => (await deliveries()).find((d) => d.subject === subject), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
}

/**
 * The log's line for a dead letter, and its record out of the queue: status lists the letter as
 * the spool files it, a moment before the spool is done and the line is said.
 */
async function deadLetterSaid(line: string): Promise<void> {
  await waitFor(() => gw!.output().includes(line) || undefined, 10_000, () => `the line ${JSON.stringify(line)} in the log:\n${gw!.output()}`);
  await waitFor(() => queued().length === 0, 10_000, 'the delivery out of the queue');
}

const queued = () => readdirSync(join(state.path, 'mail', 'queue')).filter((f) => f.endsWith('.json'));

test('SIGTERM with a delivery waiting for its retry: the next start delivers it, same id', async () => {
  const { port } = await startGateway();
  writeFileSync(answerFile, '503'); // the app is "down": every delivery fails
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'resume me' })), { refused: {} });
  const failed = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'resume me'), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
  assert.is(failed.status, 503);
  assert.is(await stopGateway(), 0);
  assert.is(queued().length, 1, 'the delivery is still in the spool');
  rmSync(answerFile); // the app is back
  await startGateway();
  assert.match(gw!.output(), /mail: SMTP on 127\.0\.0\.1:\d+; 1 delivery left in the spool, resuming\n/, 'one delivery, counted as one');
  const done = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'resume me' && d.status === 200), 15_000, 'the delivery after the restart', ASK_GATEWAY_EVERY_MS);
  assert.is(done.id, failed.id, 'the same delivery id as before the restart');
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
  assert.is(await stopGateway(), 0);
});

test('restarted with no mail: listener and a delivery in the spool: the log says it waits and what brings it; with mail: back it is delivered, same id', async () => {
  const { port } = await startGateway();
  writeFileSync(answerFile, '503');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'wait for the listener' })), { refused: {} });
  const failed = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'wait for the listener'), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
  assert.is(await stopGateway(), 0);
  rmSync(answerFile);
  const noMail = join(state.path, 'no-mail.yaml');
  writeFileSync(noMail, ONE_WORKER, { mode: 0o600 });
  await startGateway(noMail);
  const queue = join(state.path, 'mail', 'queue');
  await waitFor(() => gw!.output().includes(`mail: 1 delivery waits in ${queue}, but ${noMail} has no mail: listener, so none is tried: put mail: {listen: ...} back in ${noMail} and restart the gateway; it is delivered then, with its delivery id`) || undefined, 10_000, `the line saying the delivery waits, in:\n${gw!.output()}`);
  assert.is(queued().length, 1, 'kept, untried');
  assert.is(await stopGateway(), 0);
  await startGateway();
  const done = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'wait for the listener' && d.status === 200), 15_000, 'the delivery once mail: is back', ASK_GATEWAY_EVERY_MS);
  assert.is(done.id, failed.id);
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
  assert.is(await stopGateway(), 0);
});

test('an app removed from --apps with a delivery waiting: each attempt says it is no app now; back, it gets the delivery, same id', async () => {
  const { port } = await startGateway();
  writeFileSync(answerFile, '503');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'while removed' })), { refused: {} });
  const failed = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'while removed'), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
  const first = `mail: delivery ${failed.id} (queued as ${failed.received_id}) to alpha not delivered: the app answered 503; attempt 1, the next in 0.5 s\n`;
  await waitFor(() => gw!.output().includes(first) || undefined, 10_000, 'the line of the first attempt');
  const aside = mkdtempSync(join(tmpdir(), 'apppkg-mail-aside-'));
  try {
    renameSync(join(apps.path, 'alpha'), join(aside, 'alpha'));
    const said = new RegExp(`mail: delivery ${failed.id} \\(queued as ${failed.received_id}\\) to alpha not delivered: alpha is no app of this gateway now \\(removed from --apps\\?\\); attempt \\d+, the next in 0\\.5 s\n`);
    await waitFor(() => said.test(gw!.output()) || undefined, 20_000, 'a line for an attempt while alpha is removed');
    assert.is(queued().length, 1, 'kept meanwhile');
    rmSync(answerFile);
    renameSync(join(aside, 'alpha'), join(apps.path, 'alpha'));
  } finally {
    rmSync(aside, { recursive: true, force: true });
  }
  const done = await waitFor(async () => (await deliveries().catch(() => [])).find((d) => d.subject === 'while removed' && d.status === 200), 30_000, 'the delivery once alpha is back', ASK_GATEWAY_EVERY_MS);
  assert.is(done.id, failed.id);
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
  assert.is(await stopGateway(), 0);
});

test('a delivery record whose next attempt is a year ahead (written before the host\'s clock stepped back): tried on the schedule after the restart, not a year later', async () => {
  const { port } = await startGateway();
  writeFileSync(answerFile, '503');
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'clock stepped back' })), { refused: {} });
  const failed = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'clock stepped back'), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
  assert.is(await stopGateway(), 0);
  // As a gateway whose clock ran a year ahead wrote it, before NTP set the clock right.
  const [name] = queued();
  const file = join(state.path, 'mail', 'queue', name);
  const record = JSON.parse(readFileSync(file, 'utf8'));
  const year = 365 * 24 * 3600 * 1000;
  writeFileSync(file, JSON.stringify({ ...record, receivedAt: record.receivedAt + year, nextAttemptAt: record.nextAttemptAt + year, lastErrorAt: record.lastErrorAt + year }));
  rmSync(answerFile);
  await startGateway();
  // Stopped here too when an assertion fails: the next test needs the state root.
  try {
    await yearAheadDelivered(failed.id);
  } catch (err) {
    await stopGateway();
    throw err;
  }
  assert.is(await stopGateway(), 0);
});

async function yearAheadDelivered(id: string): Promise<void> {
  // None once the delivery is made, which a loaded machine may do (0.5 s after the start) before this asks.
  const said: string | undefined = (await gatewayStatus(gw!)).apps.find((a: { name: string }) => a.name === 'alpha').mail?.nextAttemptAt;
  assert.ok(!(Date.parse(said ?? 'NaN') > Date.now() + 60_000), `status says the next attempt is at ${said}, not within the schedule's longest wait`);
  const done = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'clock stepped back' && d.status === 200), 15_000, 'the delivery after the restart (its retry waits 0.5 s)', ASK_GATEWAY_EVERY_MS);
  assert.is(done.id, id);
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
}

test('an attempt that cannot run to its end (its message file unreadable) is tried again on the schedule, each time a line, not left due for ever', async () => {
  const { port } = await startGateway();
  try {
    writeFileSync(answerFile, '503');
    assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['x@alpha.localhost'], message({ subject: 'file unreadable' })), { refused: {} });
    const failed = await waitFor(async () => (await deliveries()).find((d) => d.subject === 'file unreadable'), 10_000, 'a first attempt', ASK_GATEWAY_EVERY_MS);
    // As a read error or a full disk would: the attempt throws, where an answer would not. (A
    // directory: root reads a file whatever its mode.)
    for (const name of readdirSync(join(state.path, 'mail', 'messages'))) {
      rmSync(join(state.path, 'mail', 'messages', name));
      mkdirSync(join(state.path, 'mail', 'messages', name));
    }
    const said = new RegExp(`mail: delivery ${failed.id} \\(queued as ${failed.received_id}\\) to alpha: EISDIR[^\n]*; tried again in 0\.5 s\n`, 'g');
    await waitFor(() => (gw!.output().match(said) ?? []).length >= 2 || undefined, 15_000, `two lines for the attempts without the file, in:\n${gw!.output()}`);
    assert.is(queued().length, 1, 'its record stays in the spool');
  } finally {
    // Not deliverable without its message: cleared for the next test.
    assert.is(await stopAndClearSpool(), 0);
  }
});

test('an attempt that cannot run to its end, past give_up: a dead letter with why, as a failed attempt is (it was tried at the longest wait for ever)', async () => {
  const { port } = await startGivingUpSoon();
  try {
    // A message file that cannot be opened (a unix socket: ENXIO, even for root), where a missing
    // one fails its attempt: each attempt throws, as a read error or a full disk makes it. Made
    // first, then renamed over the message at once: an attempt in between would find it missing.
    const socket = join(state.path, 'unreadable.sock');
    const bound = await runCli(['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socket], { bin: 'python3', ms: 10_000 });
    assert.is(bound.status, 0, bound.stderr);
    const failed = await firstFailedAttempt(port, 'unreadable past give_up');
    renameSync(socket, join(state.path, 'mail', 'messages', `${failed.received_id}.eml`));
    const dead = await waitFor(async () => (await gatewayStatus(gw!)).mail.dead.find((d: { id: string }) => d.id === failed.id), 20_000, () => `the dead letter in status, the log:\n${gw!.output()}`, ASK_GATEWAY_EVERY_MS);
    assert.match(dead.reason, new RegExp(`^given up after \\d+ attempts: ENXIO: [^\n]*${failed.received_id}\\.eml'$`));
    assert.match(gw!.output(), `mail: delivery ${failed.id} (queued as ${failed.received_id}) to alpha: ENXIO`);
    await deadLetterSaid(`mail: delivery ${failed.id} (queued as ${failed.received_id}) to alpha is a dead letter: ${dead.reason} (kept in `);
    assert.is((await gatewayStatus(gw!)).mail.spooled, 0);
  } finally {
    assert.is(await stopAndClearSpool(), 0);
  }
});

test('a delivery whose message file is gone from the spool (removed by hand, lost by a restore): each attempt fails saying so, and past give_up it is a dead letter, its record kept', async () => {
  const { port } = await startGivingUpSoon();
  try {
    const failed = await firstFailedAttempt(port, 'file gone');
    const file = join(state.path, 'mail', 'messages', `${failed.received_id}.eml`);
    rmSync(file);
    const dead = await waitFor(async () => (await gatewayStatus(gw!)).mail.dead.find((d: { id: string }) => d.id === failed.id), 20_000, () => `the dead letter in status, the log:\n${gw!.output()}`, ASK_GATEWAY_EVERY_MS);
    assert.match(dead.reason, new RegExp(`^given up after \\d+ attempts: message file missing \\(${file}\\)$`));
    assert.is(dead.file, null, 'no message is kept');
    assert.match(gw!.output(), `mail: delivery ${failed.id} (queued as ${failed.received_id}) to alpha not delivered: message file missing (${file}); attempt `);
    const record = join(state.path, 'mail', 'dead', `${failed.id}.json`);
    await deadLetterSaid(`mail: delivery ${failed.id} (queued as ${failed.received_id}) to alpha is a dead letter: ${dead.reason} (kept in its message file was missing: its record alone is kept, in ${record})\n`);
    assert.match(JSON.parse(readFileSync(record, 'utf8')).lastError, /message file missing/);
    assert.match(renderStatusTable(await gatewayStatus(gw!)), `dead letter ${failed.id} to alpha (x@alpha.localhost) since ${dead.deadAt}: ${dead.reason}; its message file was missing\n`);
  } finally {
    assert.is(await stopAndClearSpool(), 0);
  }
});

test('messages an older gateway spooled (its Received: line first in the file, and in the body it POSTed) are delivered after an upgrade: the message alone, signed over it, the line in X-Apppkg-Received', async () => {
  // As the spool of every earlier version holds them: the trace line first in the message's
  // file, the record's size counting it. Until the Received: line named the 250's id, it named
  // the SMTP session's id.
  const spooled = [
    { messageId: 'mxe0ld01-0123456789ab', traceId: 'mxe0ld01-0123456789ab', subject: 'spooled by an older gateway' },
    { messageId: 'mxe0ld02-0123456789ab', traceId: 'TYLGJZ2CWKQ5GTTN', subject: 'spooled by the first gateway with mail' },
  ];
  for (const dir of ['messages', 'queue']) mkdirSync(join(state.path, 'mail', dir), { recursive: true, mode: 0o700 });
  const sent = new Map<string, Buffer>();
  for (const { messageId, traceId, subject } of spooled) {
    const trace = `Received: from client.test ([127.0.0.1])\r\n\tby mx.example (apppkg-gateway) with ESMTP id ${traceId}\r\n\tfor <x@alpha.localhost>;\r\n\tMon, 07 Dec 2026 10:00:00 +0000\r\n`;
    const body = Buffer.from(message({ subject }));
    sent.set(subject, body);
    writeFileSync(join(state.path, 'mail', 'messages', `${messageId}.eml`), Buffer.concat([Buffer.from(trace), body]), { mode: 0o600 });
    const id = randomUUID();
    const record = { id, messageId, app: 'alpha', from: 'ann@example.org', to: ['x@alpha.localhost'], receivedAt: Date.now() - 60_000, size: trace.length + body.length, attempts: 1, nextAttemptAt: Date.now(), lastError: 'the app answered 503' };
    writeFileSync(join(state.path, 'mail', 'queue', `${id}.json`), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  }
  await startGateway();
  for (const { traceId, subject } of spooled) {
    const done = await waitFor(async () => (await deliveries()).find((d) => d.subject === subject && d.status === 200), 15_000, `"${subject}" delivered`, ASK_GATEWAY_EVERY_MS);
    // The message alone, signed over it alone.
    assertDeliveredAsSent(done, sent.get(subject)!, {
      state: state.path, app: 'alpha', label: subject,
      trace: `from client.test ([127.0.0.1]) by mx.example (apppkg-gateway) with ESMTP id ${traceId} for <x@alpha.localhost>; Mon, 07 Dec 2026 10:00:00 +0000`,
    });
  }
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
  assert.is(await stopGateway(), 0);
});

test('SIGKILL with messages spooled and the app down: every one delivered, a repeat only with its id', async () => {
  const { port } = await startGateway();
  writeFileSync(answerFile, '503');
  const subjects = ['k1', 'k2', 'k3', 'k4', 'k5'];
  for (const subject of subjects) {
    assert.equal(await sendWithSmtplib(port, 'ann@example.org', [`${subject}@alpha.localhost`], message({ subject })), { refused: {} });
  }
  await waitFor(async () => new Set((await deliveries()).filter((d) => subjects.includes(d.subject)).map((d) => d.subject)).size === 5, 10_000, 'an attempt of each', ASK_GATEWAY_EVERY_MS);
  gw!.child.kill('SIGKILL');
  await gw!.stop(); // waits for the exit
  gw = null;
  // The apps' workers notice their gateway is gone and exit on their own.
  await waitFor(() => pids.every((p) => !isAlive(p)), 15_000, `the workers of the killed gateway (${pids.join(', ')}) to exit`).catch((err) => {
    for (const p of pids) if (isAlive(p)) process.kill(p, 'SIGKILL');
    throw err;
  });
  assert.is(queued().length, 5, 'all five are in the spool');
  rmSync(answerFile);
  await startGateway();
  const all = await waitFor(async () => {
    const got = (await deliveries()).filter((d) => subjects.includes(d.subject));
    return subjects.every((s) => got.some((d) => d.subject === s && d.status === 200)) ? got : undefined;
  }, 20_000, 'every message delivered', ASK_GATEWAY_EVERY_MS);
  for (const subject of subjects) {
    const ids = new Set(all.filter((d) => d.subject === subject).map((d) => d.id));
    assert.is(ids.size, 1, `${subject}: every attempt carries one delivery id`);
    assert.is(all.filter((d) => d.subject === subject && d.status === 200).length, 1, `${subject}: delivered once`);
  }
  await waitFor(() => queued().length === 0, 5000, 'the spool to empty');
  assert.is(await stopGateway(), 0);
});

test.run();
