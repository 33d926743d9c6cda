// A program's restart, rollback and mail calls were told the CLI's commands it never typed: a
// restartApp() or rollback() that failed "see `apppkg-gateway logs NAME` and `apppkg-gateway
// status`", a restart() of a package whose app.yaml does not load "(SIGHUP forces it), and
// `apppkg-gateway status` shows it served", retryMail() and deleteMail() of an id that is no
// dead letter "`apppkg-gateway status` lists ... (`status --json` 50 ...); `mail retry --all
// [APP]`", a dead letter of an app gone "removed from --apps? ... run the command again", a
// retry done "`apppkg-gateway status` shows what is not delivered", status() beside the dead
// letters "apppkg-gateway mail retry ID...", and runCommand('restore')
// of an app a gateway serves "take its directory out of --apps ... then run restore again".
// Each now names the library's calls and options; the CLI's text is unchanged (admin/admin-actions,
// mail/mail-retry, mail/mail-delete, lifecycle/backup-restore).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError, type GatewayError } from 'apppkg-gateway';
import { addPackage, wsgiPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { assertNoOrphans, installForOtherUsers, tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('library: restart, rollback, the mail calls and restore say the library\'s calls, not the CLI\'s commands');
const work = tempDir('apppkg-lib-action-words-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;

/** Dead letters kept by an earlier run: one of an app no longer under apps, one of blog's. */
const GONE = 'seeded-gone-0000';
const BLOGS = 'seeded-blog-0000';
/** Postmaster mail kept for no app, while the environment file names no mail.postmaster. */
const POSTMASTER = 'seeded-postmastr';
/** A delivery left waiting by an earlier run, to an app no longer under apps: tried at the start. */
const QUEUED = 'seeded-queued-00';

function seedDeadLetters(state: string): void {
  const mail = join(state, 'mail');
  for (const sub of ['messages', 'queue', 'dead']) mkdirSync(join(mail, sub), { recursive: true, mode: 0o700 });
  const at = Date.now() - 3_600_000;
  const eml = 'From: ann@example.org\r\nSubject: seeded\r\n\r\nHello.\r\n';
  for (const [id, app] of [[GONE, 'gone'], [BLOGS, 'blog'], [POSTMASTER, '']]) {
    const file = join(mail, 'dead', `${id}.eml`);
    writeFileSync(file, eml);
    writeFileSync(join(mail, 'dead', `${id}.json`), JSON.stringify({
      id, messageId: `m-${id}`, app, from: 'ann@example.org', to: [`x@${app}.localhost`], receivedAt: at, size: Buffer.byteLength(eml),
      attempts: 1, nextAttemptAt: at, lastError: 'the app refused it (406)', deadAt: at, reason: 'the app refused it (406)', file,
    }));
  }
  writeFileSync(join(mail, 'messages', `m-${QUEUED}.eml`), eml);
  writeFileSync(join(mail, 'queue', `${QUEUED}.json`), JSON.stringify({
    // Received now: give_up is an hour off, so it waits after its failed attempt.
    id: QUEUED, messageId: `m-${QUEUED}`, app: 'gone', from: 'ann@example.org', to: ['x@gone.localhost'], receivedAt: Date.now(), size: Buffer.byteLength(eml), attempts: 0, nextAttemptAt: at, lastError: null,
  }));
}

mkdirSync(apps);
wsgiPackage(apps, 'blog', 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  backup: "true"\n  restore: "true"\n');
// Its only version is refused: no version of it serves, and a restart cannot start one.
addPackage(apps, 'crash-on-import', 'crashy');
// A package whose app.yaml does not load.
wsgiPackage(apps, 'wiki', 'platform: python, wsgi\napp: wsgi:application\nwsgii: 1\n');

test.before(async () => {
  seedDeadLetters(state);
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'defaults:\n  workers: 1\nmail:\n  listen: 127.0.0.1:0\n  retry: [600]\n  give_up: 3600\n', { mode: 0o600 });
  gateway = await within(120_000, 'Gateway.start', Gateway.start({ apps, stateDir: state, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
});

test.after(() => stopGatewayAndWork(gateway, work, seen));

const rejection = async (what: string, call: () => Promise<unknown>): Promise<GatewayError> => {
  for (const pid of gateway!.pids) seen.add(pid);
  const err = await within(90_000, what, call().then(() => null, (e: unknown) => e));
  assert.ok(isGatewayError(err), `${what}: expected a GatewayError, got ${String(err)}`);
  return err as GatewayError;
};
const noCliWords = (text: string): void => {
  assert.not.match(text, 'apppkg-gateway');
  assert.not.match(text, '--');
  assert.not.match(text, 'SIGHUP');
};

// Not watched (watchIntervalMs: 0), nothing loads the fixed file by itself: the fix says the call that does.
test('restart() of a package whose app.yaml does not load: gateway.rescan() loads it again, gateway.status() shows it served', async () => {
  const err = await rejection('restart wiki', () => gateway!.restart('wiki'));
  assert.is(err.code, 'APPPKG_ADMIN_APP_BROKEN', err.format());
  assert.is(err.hint, `fix ${join(apps, 'wiki', 'app.yaml')} as said above, then call \`gateway.rescan()\`: the gateway does not watch its apps directory (watchIntervalMs 0), so it loads the package again only then; \`gateway.status()\` shows it served`);
});

test('rollback() of an app no version of which serves: see gateway.status() and the log it names', async () => {
  const err = await rejection('rollback crashy', () => gateway!.rollback('crashy'));
  assert.is(err.code, 'APPPKG_ADMIN_ACTION_FAILED', err.format());
  assert.is(err.message, 'rollback of crashy failed: no version of it serves');
  assert.is(err.hint, 'see `gateway.status()` and the log of crashy it names (`log.file`)');
});

test('restartApp() that cannot start the app: its refusal\'s fix, then gateway.status() and the log it names', async () => {
  const err = await rejection('restartApp crashy', () => gateway!.restartApp('crashy'));
  assert.is(err.code, 'APPPKG_ADMIN_ACTION_FAILED', err.format());
  assert.ok(err.hint.endsWith('; `gateway.status()` and the log of crashy it names (`log.file`) say more'), err.hint);
  noCliWords(err.hint);
});

test('retryMail() and deleteMail() of an id that is no dead letter: gateway.status() lists them, retryMail({ all: true }) retries them', async () => {
  for (const [what, call] of [['retryMail', () => gateway!.retryMail({ ids: ['no-such-id'] })], ['deleteMail', () => gateway!.deleteMail({ ids: ['no-such-id'] })]] as const) {
    const err = await rejection(what, call);
    assert.is(err.code, 'APPPKG_MAIL_NO_DEAD_LETTER', err.format());
    assert.is(err.hint, '`gateway.status()` lists the newest dead letters with their ids (its `mail.dead` holds the newest 50, STATE/mail/dead/ keeps every one); `gateway.retryMail({ all: true, app: APP })` retries them all');
  }
});

test('retryMail() of an app gone, by name and by id: put it back under apps, and call it again', async () => {
  const byName = await rejection('retryMail all of gone', () => gateway!.retryMail({ all: true, app: 'gone' }));
  assert.is(byName.code, 'APPPKG_MAIL_CANNOT_RETRY', byName.format());
  assert.is(byName.hint, 'its apps: blog, crashy, wiki; put gone back under apps (the gateway picks it up by itself) and call it again');
  const byId = await rejection('retryMail of GONE', () => gateway!.retryMail({ ids: [GONE] }));
  assert.is(byId.code, 'APPPKG_MAIL_CANNOT_RETRY', byId.format());
  assert.match(byId.message, `cannot retry ${GONE}: its app gone is no app of this gateway now (removed from apps?)`);
  assert.is(byId.hint, 'leave it out, or: put the app back under apps (the gateway picks it up by itself) and call it again');
});

test('retryMail() of postmaster mail no app is named for: set mail.postmaster in the environment file (environment), and call it again', async () => {
  const err = await rejection('retryMail of the postmaster mail', () => gateway!.retryMail({ ids: [POSTMASTER] }));
  assert.is(err.code, 'APPPKG_MAIL_CANNOT_RETRY', err.format());
  assert.is(err.hint, "leave it out, or: set mail.postmaster: APP in the environment file (environment) to the app that reads the host's postmaster mail, restart the gateway (the mail: block is read at its start) and call it again; or read the message where it is kept");
});

test('status() beside the dead letters names retryMail() and deleteMail(), not `apppkg-gateway mail retry` and `mail delete`', () => {
  const { mail } = gateway!.status() as any;
  assert.ok(mail.deadLetters > 0, JSON.stringify(mail));
  assert.is(mail.retryCommand, 'gateway.retryMail({ ids: [ID, ...] }) (or { all: true, app: APP })');
  assert.is(mail.deleteCommand, 'gateway.deleteMail({ ids: [ID, ...] }) (or { all: true, app: APP })');
});

test('a delivery waiting for an app gone: its failure asks whether it was removed from apps, not --apps', async () => {
  const failure = await waitFor(() => (gateway!.status() as any).mail.waitingForRemoved.find((w: any) => w.app === 'gone')?.lastFailure, 30_000, () => `the delivery to gone to fail:\n${said.join('\n')}`);
  assert.is(failure.reason, 'gone is no app of this gateway now (removed from apps?)');
});

test('retryMail() that puts one back: its answer says gateway.status() shows what is not delivered', async () => {
  const done = await within(30_000, 'retryMail of blog\'s', gateway!.retryMail({ ids: [BLOGS] }));
  assert.equal(done.retried.map((r) => r.id), [BLOGS]);
  assert.ok(done.message.endsWith('; `gateway.status()` shows what is not delivered, waiting with its reason'), done.message);
});

test('runCommand(\'restore\') of an app a gateway serves: stop it as a program does, then call runCommand() again', async () => {
  const output = new PassThrough().resume();
  const blog = await AppPackage.open(join(apps, 'blog'), { stateDir: state, output });
  const backup = join(work.path, 'backup');
  assert.is(await within(60_000, 'runCommand backup', blog.runCommand('backup', { env: { APPPKG_BACKUP_DIR: backup } })), 0);
  const err = await rejection('runCommand restore', () => blog.runCommand('restore', { env: { APPPKG_BACKUP_DIR: backup } }));
  assert.is(err.code, 'APPPKG_APP_RUNNING', err.format());
  assert.is(err.hint, "stop it first: take its directory out of its gateway's `apps` (the gateway stops it), or stop the gateway that serves it alone (the `stop()` of its `Gateway.start({ app })`); then call AppPackage's `runCommand()` again");
});

test('restart() of a mistyped name: did you mean the app, before its apps', async () => {
  const err = await rejection('restart blgo', () => gateway!.restart('blgo'));
  assert.is(err.code, 'APPPKG_ADMIN_NO_SUCH_APP', err.format());
  assert.match(err.hint, /^did you mean blog\? Its apps: blog\b/);
});

test('retryMail() logs what it put back as a program\'s call, not the CLI\'s `mail retry`', () => {
  // Retried above (the test before the restore's): its line is in the log by now.
  const line = said.find((l) => l.startsWith(`mail: dead letter ${BLOGS} `));
  assert.ok(line !== undefined, said.join('\n'));
  assert.ok(line!.endsWith(' put back in the queue, tried now (retryMail())'), line);
});

/**
 * Whether an immutable directory (chattr +i) refuses an unlink in it here: root unlinks in a
 * read-only directory all the same, and the file system may not keep the attribute.
 */
function immutableRefusesUnlink(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-chattr-'));
  try {
    writeFileSync(join(dir, 'f'), '');
    if (spawnSync('chattr', ['+i', dir], { stdio: 'ignore', timeout: 5_000 }).status !== 0) return false;
    const rm = spawnSync('rm', ['-f', join(dir, 'f')], { stdio: 'ignore', timeout: 5_000 });
    spawnSync('chattr', ['-i', dir], { stdio: 'ignore', timeout: 5_000 });
    return rm.status !== 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Makes an unlink in `dir` fail (a read-only directory; as root, one made immutable); gives what
 * undoes it. `byRoot`: whether root is the one that unlinks (not when the gateway runs as nobody).
 */
function refuseUnlinks(dir: string, byRoot = isRoot): () => void {
  if (!byRoot) {
    chmodSync(dir, 0o500);
    return () => chmodSync(dir, 0o700);
  }
  const held = spawnSync('chattr', ['+i', dir], { encoding: 'utf8', timeout: 5_000 });
  assert.is(held.status, 0, held.stderr);
  return () => void spawnSync('chattr', ['-i', dir], { timeout: 5_000 });
}

const ifUnlinkCanFail = runIf(test, !isRoot || immutableRefusesUnlink(), 'runs as root on a file system where chattr +i does not make a directory refuse an unlink in it (root unlinks in a read-only one)');

function assertCannotDelete(err: Pick<GatewayError, 'code' | 'message' | 'hint'>, format: string): void {
  assert.is(err.code, 'APPPKG_MAIL_CANNOT_DELETE', format);
  assert.match(err.message, `left as a dead letter: ${GONE}: it could not be deleted: `);
  assert.is(err.hint, 'mend what the error names (ls -l STATE/mail/dead/) and call deleteMail() again for those left');
}

ifUnlinkCanFail('deleteMail() whose unlink fails: call deleteMail() again for those left, not "run the command again"', async () => {
  const undo = refuseUnlinks(join(state, 'mail', 'dead'));
  try {
    const err = await rejection('deleteMail of GONE, its directory refusing unlinks', () => gateway!.deleteMail({ ids: [GONE] }));
    assertCannotDelete(err, err.format());
  } finally {
    undo();
  }
});

const NOBODY = 65534;
const ifRoot = runIf(test, isRoot, 'needs root to run a gateway as nobody; a user other than root runs the test before this one with a read-only directory');

/**
 * A program embedding Gateway, run as nobody (root unlinks in a read-only directory, so the case
 * of every other user is seen only as another user): it says `{"pids":[...]}` once started,
 * calls deleteMail() of GONE at a line on its stdin, says what it got, and stops.
 */
function deleteAsNobody(dir: string): string {
  const program = join(dir, 'delete-as-nobody.mjs');
  writeFileSync(program, `import { Gateway } from ${JSON.stringify(pathToFileURL(join(installForOtherUsers().root, 'dist', 'index.js')).href)};
import { once } from 'node:events';
const [apps, stateDir, environment, id] = process.argv.slice(2);
const gateway = await Gateway.start({ apps, stateDir, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: () => {} });
let got;
try {
  console.log(JSON.stringify({ pids: gateway.pids }));
  await once(process.stdin, 'data');
  got = await gateway.deleteMail({ ids: [id] }).then((done) => ({ done }), (err) => ({ code: err.code, message: err.message, hint: err.hint, format: err.format?.() ?? String(err) }));
} finally {
  await gateway.stop();
}
console.log(JSON.stringify(got));
process.exit(0);
`);
  return program;
}

ifRoot('deleteMail() whose unlink fails in a gateway run by a user other than root (a read-only directory): call deleteMail() again for those left', async () => {
  const dir = join(work.path, 'as-nobody');
  const [nobodyApps, nobodyState] = [join(dir, 'apps'), join(dir, 'state')];
  mkdirSync(nobodyApps, { recursive: true });
  seedDeadLetters(nobodyState);
  const environment = join(dir, 'environment.yaml');
  writeFileSync(environment, 'mail:\n  listen: 127.0.0.1:0\n  retry: [600]\n  give_up: 3600\n', { mode: 0o600 });
  const program = deleteAsNobody(dir);
  const owned = spawnSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir], { encoding: 'utf8', timeout: 10_000 });
  assert.is(owned.status, 0, owned.stderr);
  chmodSync(work.path, 0o711);
  const child = spawn(process.execPath, [program, nobodyApps, nobodyState, environment, GONE], { cwd: dir, uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH, HOME: dir }, stdio: ['pipe', 'pipe', 'pipe'] });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  // A failed spawn (EACCES: a path nobody may not reach) is the test's failure, said with the rest.
  const ended = new Promise<number | null>((resolve) => {
    child.once('exit', resolve);
    child.once('error', (err) => {
      stderr += String(err);
      resolve(null);
    });
  });
  const lines = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  try {
    const { pids } = await waitFor(() => lines()[0], 60_000, () => `the gateway as nobody to start\n${stdout}\n${stderr}`);
    for (const pid of pids) seen.add(pid);
    const undo = refuseUnlinks(join(nobodyState, 'mail', 'dead'), false);
    try {
      child.stdin.end('delete\n');
      const code = await within(60_000, 'the program as nobody to end', ended);
      assert.is(code, 0, `${stdout}\n${stderr}`);
    } finally {
      undo();
    }
    const got = lines()[1];
    assert.ok(got !== undefined && got.done === undefined, `expected a GatewayError, got ${JSON.stringify(got)}\n${stderr}`);
    assertCannotDelete(got, got.format);
  } finally {
    // Ended by itself unless a wait above failed: then it is what is left of the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await assertNoOrphans([child.pid!]);
  }
});

test('deleteMail() logs what it deleted as a program\'s call, not the CLI\'s `mail delete`', async () => {
  const done = await within(30_000, 'deleteMail of GONE', gateway!.deleteMail({ ids: [GONE] }));
  assert.equal(done.deleted.map((d) => d.id), [GONE]);
  const line = said.find((l) => l.startsWith(`mail: dead letter ${GONE} `));
  assert.ok(line !== undefined, said.join('\n'));
  assert.ok(line!.endsWith(' from ann@example.org deleted (deleteMail())'), line);
});

// Last: it stops the gateway (the after-hook's stop() waits for the same stop).
test('restart(), restartApp() and rollback() during stop(): one fix, a program\'s, start a new gateway', async () => {
  for (const pid of gateway!.pids) seen.add(pid);
  const stopped = gateway!.stop();
  try {
    for (const [what, call] of [['restart', () => gateway!.restart('blog')], ['restartApp', () => gateway!.restartApp('blog')], ['rollback', () => gateway!.rollback('blog')]] as const) {
      const err = await rejection(`${what} during stop()`, call);
      assert.is(err.code, 'APPPKG_ADMIN_ACTION_FAILED', err.format());
      assert.is(err.hint, 'start a new gateway (Gateway.start): its apps start with it', what);
    }
  } finally {
    await within(60_000, 'stop()', stopped);
  }
});

test.run();
