// `backup --to` and `restore --from`: without hooks, a copy of the data directory plus
// apppkg-backup.json, and a restore that swaps it back; refusals leave everything unchanged.
// With hooks, commands.backup/restore get APPPKG_BACKUP_DIR, under the same rules: the backup
// directory is new, empty or an earlier backup of the app, and marked as its backup.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assertNoOrphans, BIN, runCli, tempDir, waitFor } from '../helpers/process.js';
import { hostPython, makeApp } from './lifecycle-apps.js';

const test = suite('lifecycle: backup and restore');
const work = tempDir('apppkg-backup-work-');
const state = tempDir('apppkg-backup-state-');
test.after(() => {
  work.remove();
  state.remove();
});

const S = ['--state-dir', state.path];
const data = (name: string) => join(state.path, 'apps', name, 'data');
let app: string;

/** Writes files into the app's data directory the way the app would: a command in its environment. */
async function writeData(dir: string, script: string): Promise<void> {
  const r = await runCli(['run', dir, ...S, '--', 'sh', '-c', `cd "$APPPKG_DATA_DIR" && ${script}`]);
  assert.is(r.status, 0, r.stderr);
}

/**
 * `script` run in the data directory of app `name`, which an earlier writeData made: the same
 * shell and files without a `run` each time (a CLI start and its interpreter probes, ~0.5-1 s of CPU).
 */
function changeData(name: string, script: string): void {
  const r = spawnSync('sh', ['-c', script], { cwd: data(name), encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
}

test.before(() => {
  app = makeApp(work.path, 'notes', 'app: wsgi:application\n');
});

test('backup, change the data, restore: the old data is back', async () => {
  await writeData(app, 'echo one > a.txt && mkdir -p sub && echo deep > sub/b.txt');
  const to = join(work.path, 'backups', 'notes-1'); // parents created too
  const b = await runCli(['backup', app, '--to', to, ...S]);
  assert.is(b.status, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /==> backed up 2 files/);
  const manifest = JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8'));
  assert.is(manifest.app, 'notes');
  assert.is(manifest.files, 2);
  assert.type(manifest.createdAt, 'string');
  assert.is(readFileSync(join(to, 'data', 'a.txt'), 'utf8'), 'one\n');

  changeData('notes', 'echo two > a.txt && echo later > c.txt');
  const r = await runCli(['restore', app, '--from', to, ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> restored 2 files of notes's data/);
  assert.is(readFileSync(join(data('notes'), 'a.txt'), 'utf8'), 'one\n');
  assert.is(readFileSync(join(data('notes'), 'sub', 'b.txt'), 'utf8'), 'deep\n');
  assert.not.ok(existsSync(join(data('notes'), 'c.txt')), 'what was written after the backup is gone');
  // The swap leaves nothing beside the data directory.
  assert.equal(readdirSync(join(state.path, 'apps', 'notes')).filter((e) => e.startsWith('.')), []);
});

test('backup again into the same directory replaces the earlier backup of the same app', async () => {
  const to = join(work.path, 'backups', 'again');
  assert.is((await runCli(['backup', app, '--to', to, ...S])).status, 0);
  changeData('notes', 'echo three > a.txt');
  const r = await runCli(['backup', app, '--to', to, ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /replacing the earlier backup of notes/);
  assert.is(readFileSync(join(to, 'data', 'a.txt'), 'utf8'), 'three\n');
});

test('restore refuses an empty, a missing and a foreign directory, and changes nothing', async () => {
  changeData('notes', 'echo current > a.txt');
  const empty = join(work.path, 'empty');
  mkdirSync(empty);
  const noManifest = join(work.path, 'not-a-backup');
  mkdirSync(join(noManifest, 'data'), { recursive: true });
  writeFileSync(join(noManifest, 'data', 'a.txt'), 'intruder\n');
  const other = makeApp(work.path, 'other', 'app: wsgi:application\n');
  await writeData(other, 'echo theirs > a.txt');
  const otherBackup = join(work.path, 'other-backup');
  assert.is((await runCli(['backup', other, '--to', otherBackup, ...S])).status, 0);

  const cases: Array<[string, RegExp]> = [
    [empty, /expected a backup, found an empty directory/],
    [join(work.path, 'no-such-dir'), /expected a backup, found no such directory/],
    // The backup's own manifest named for its directory: a file, not "an unreadable directory (ENOTDIR)".
    [join(otherBackup, 'apppkg-backup.json'), /expected a backup, found a file, not a directory\n/],
    [noManifest, /expected a backup of notes, found no apppkg-backup\.json/],
    [otherBackup, /expected a backup of notes, found a backup of "other"/],
  ];
  for (const [from, message] of cases) {
    const r = await runCli(['restore', app, '--from', from, ...S]);
    assert.is(r.status, 1, `${from}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /fix: .*nothing was changed/);
    assert.is(readFileSync(join(data('notes'), 'a.txt'), 'utf8'), 'current\n', from);
  }
});

test('backup refuses a directory that holds something else', async () => {
  const busy = join(work.path, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'precious.txt'), 'keep me\n');
  const r = await runCli(['backup', app, '--to', busy, ...S]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /expected a new or empty directory .*found 1 entry and no apppkg-backup\.json/);
  assert.equal(readdirSync(busy), ['precious.txt']);
});

test('backup --to a file, or a symlink to nothing, is refused saying what is there, not as an internal error', async () => {
  const file = join(work.path, 'a-file');
  writeFileSync(file, 'keep me\n');
  const dangling = join(work.path, 'dangling');
  symlinkSync(join(work.path, 'no-such-target'), dangling);
  for (const [to, found] of [[file, 'a file'], [dangling, `a symlink to ${join(work.path, 'no-such-target')}, which is not there`]]) {
    const r = await runCli(['backup', app, '--to', to, ...S]);
    assert.is(r.status, 1, r.stderr);
    assert.not.match(r.stderr, /internal error/);
    assert.ok(r.stderr.includes(`backup --to ${to}: expected a new or empty directory (or an earlier backup of notes), found ${found}\n`), r.stderr);
  }
  assert.is(readFileSync(file, 'utf8'), 'keep me\n');
  assert.not.ok(existsSync(join(work.path, 'no-such-target')), 'the link\'s target is not made');
});

test('backup of an app that never ran on this state root (a wrong --state-dir, sudo left out) says its backup is empty and why, naming the root', async () => {
  const elsewhere = makeApp(work.path, 'never-ran', 'app: wsgi:application\n');
  const to = join(work.path, 'never-ran-backup');
  const r = await runCli(['backup', elsewhere, '--to', to, ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`==> note: never-ran never ran on the state root ${state.path} (there is no ${join(state.path, 'apps', 'never-ran')}), so this backup is empty; if a gateway serves it, back it up with that gateway's --state-dir`), r.stdout);
  // Once it has run there, nothing is said.
  await writeData(elsewhere, 'true');
  const again = await runCli(['backup', elsewhere, '--to', to, ...S]);
  assert.is(again.status, 0);
  assert.not.match(again.stdout, /never ran/);
});

test('backup into the app\'s own data directory (or the directory itself) is refused, saying so, with the fix, and writes nothing', async () => {
  changeData('notes', 'echo kept > kept.txt');
  const before = readdirSync(data('notes')).sort();
  for (const to of [join(data('notes'), 'backups', 'today'), data('notes')]) {
    const r = await runCli(['backup', app, '--to', to, ...S]);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `backup --to ${to}: ${to === data('notes') ? 'that is' : 'inside'} notes's data directory ${data('notes')}, which the backup copies\n`);
    assert.match(r.stderr, `fix: choose a directory outside ${data('notes')}, e.g. --to /var/backups/notes-$(date +%F)`);
    assert.equal(readdirSync(data('notes')).sort(), before);
  }
});

test('backup --to and run --state-dir under /proc fail with the reason instead of hanging', async () => {
  // procfs answers ENOENT for a new child of a directory that exists: Node's recursive mkdir
  // retried that forever at full CPU. runCli's deadline is the hang detector here.
  if (!existsSync('/proc/self')) return;
  const to = await runCli(['backup', app, '--to', '/proc/apppkg-no-such/backup', ...S], { ms: 20_000 });
  assert.is(to.status, 1, to.stderr);
  assert.match(to.stderr, /cannot create the backup directory \/proc\/apppkg-no-such\/backup: ENOENT/);
  const root = await runCli(['run', app, '--state-dir', '/proc/apppkg-no-such/state', '--', 'true'], { ms: 20_000 });
  assert.is(root.status, 1, root.stderr);
  assert.match(root.stderr, /cannot prepare \/proc\/apppkg-no-such\/state: ENOENT/);
});

test('commands.backup and commands.restore run with APPPKG_BACKUP_DIR', async () => {
  const hooked = makeApp(
    work.path,
    'hooked',
    [
      'app: wsgi:application',
      'commands:',
      '  backup: cp "$APPPKG_DATA_DIR/db" "$APPPKG_BACKUP_DIR/dump"',
      '  restore: cp "$APPPKG_BACKUP_DIR/dump" "$APPPKG_DATA_DIR/db"',
      '',
    ].join('\n'),
  );
  await writeData(hooked, 'echo v1 > db');
  const to = join(work.path, 'hooked-backup');
  const b = await runCli(['backup', hooked, '--to', to, ...S]);
  assert.is(b.status, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /==> commands\.backup: cp/);
  assert.equal(readdirSync(to).sort(), ['apppkg-backup.json', 'dump'], 'the manifest beside what the hook wrote');
  const manifest = JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8'));
  assert.equal([manifest.app, manifest.hook], ['hooked', true]);
  changeData('hooked', 'echo v2 > db');
  const r = await runCli(['restore', hooked, '--from', to, ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(readFileSync(join(data('hooked'), 'db'), 'utf8'), 'v1\n');
});

// SPEC 5.2: the app's database is written "next to what commands.backup writes". A hook that
// wrote its own dump under $APPPKG_BACKUP_DIR/database/ (the name that comes first to mind) had
// that directory emptied under it, and the backup said done without the hook's file.
test('commands.backup writing into DIR/database/ keeps its file beside the SQLite copy, backup after backup', async () => {
  const both = makeApp(
    work.path,
    'both',
    [
      'app: wsgi:application',
      'services: {database: sql}',
      'commands:',
      '  backup: mkdir -p "$APPPKG_BACKUP_DIR/database" && echo mine > "$APPPKG_BACKUP_DIR/database/dumpdata.json"',
      '  restore: cp "$APPPKG_BACKUP_DIR/database/dumpdata.json" "$APPPKG_DATA_DIR/restored.json"',
      '',
    ].join('\n'),
  );
  const made = await runCli(['run', both, ...S, '--', 'python3', '-c', 'import os, sqlite3; sqlite3.connect(os.environ["DATABASE_URL"][len("sqlite:///"):]).execute("CREATE TABLE t (x)")']);
  assert.is(made.status, 0, made.stdout + made.stderr);
  const to = join(work.path, 'both-backup');
  for (const round of [1, 2]) {
    const b = await runCli(['backup', both, '--to', to, ...S]);
    assert.is(b.status, 0, b.stdout + b.stderr);
    assert.equal(readdirSync(join(to, 'database')).sort(), ['db.sqlite3', 'dumpdata.json'], `backup ${round}`);
  }
  const r = await runCli(['restore', both, '--from', to, '--force', ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(readFileSync(join(data('both'), 'restored.json'), 'utf8'), 'mine\n');
});

// SPEC 5.2: "an SQLite online backup" is what makes a backup safe while the app writes. The data
// copy beside it listed db.sqlite3-journal, which SQLite makes and deletes at each transaction,
// and failed when it was gone by the time it was copied ("ENOENT ... db.sqlite3-journal"): most
// backups of a busy app failed. And the online backup waited for a gap between the writer's
// commits (its read lock) looking a few times a second: a backup took 10 s, 20 s, or never
// ended. Each backup's deadline is the hang detector: a few seconds each on a loaded machine,
// where without the fix one backup in three went past it.
test('backup of an SQLite app while it writes: each backup succeeds, consistent, the live files not in data/, none waiting on the writer', async () => {
  const busy = makeApp(work.path, 'busy', 'app: wsgi:application\nservices: {database: sqlite}\n');
  const made = await runCli(['run', busy, ...S, '--', 'python3', '-c', 'import os, sqlite3; sqlite3.connect(os.environ["DATABASE_URL"][len("sqlite:///"):]).execute("CREATE TABLE t (x)")']);
  assert.is(made.status, 0, made.stdout + made.stderr);
  const db = join(data('busy'), 'db.sqlite3');
  const started = join(work.path, 'busy-writer-started');
  // One row a transaction, in SQLite's default rollback-journal mode: the journal comes and goes
  // all the time. Started directly (not through `run`) so that its pid is the one to stop.
  const writer = spawn(hostPython(), ['-c', [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)',
    'db.execute("INSERT INTO t VALUES (1)")',
    'open(sys.argv[2], "w").close()',
    'while True:',
    '    db.execute("INSERT INTO t VALUES (1)")',
  ].join('\n'), db, started], { stdio: 'ignore' });
  try {
    await waitFor(() => existsSync(started), 15_000, 'the writer to commit');
    for (let round = 1; round <= 8; round++) {
      const to = join(work.path, `busy-backup-${round}`);
      const b = await runCli(['backup', busy, '--to', to, ...S], { ms: 20_000 });
      assert.is(b.status, 0, `backup ${round}: ${b.stdout}${b.stderr}`);
      assert.equal(readdirSync(join(to, 'data')).filter((f) => f.startsWith('db.sqlite3')), [], `backup ${round}: the live database is not in the data copy`);
      const check = spawnSync(hostPython(), ['-c', 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); print(d.execute("PRAGMA integrity_check").fetchone()[0], d.execute("SELECT count(*) FROM t").fetchone()[0] > 0)', join(to, 'database', 'db.sqlite3')], { encoding: 'utf8' });
      assert.is(check.stdout.trim(), 'ok True', `backup ${round}: ${check.stderr}`);
    }
  } finally {
    writer.kill('SIGKILL');
    await assertNoOrphans([writer.pid!]);
  }
});

// The backup looks for a gap between the app's commits; a transaction held open all along leaves
// none, and the backup waited for ever. Past its bound (300 s, 2 here) it says why and stops.
test('backup of an SQLite app whose transaction holds the database all along stops past its bound, saying so', async () => {
  const held = makeApp(work.path, 'held', 'app: wsgi:application\nservices: {database: sqlite}\n');
  const made = await runCli(['run', held, ...S, '--', 'python3', '-c', 'import os, sqlite3; sqlite3.connect(os.environ["DATABASE_URL"][len("sqlite:///"):]).execute("CREATE TABLE t (x)")']);
  assert.is(made.status, 0, made.stdout + made.stderr);
  const started = join(work.path, 'held-started');
  // EXCLUSIVE: no reader gets in (a RESERVED lock, a plain write's until its commit, lets them).
  const holder = spawn(hostPython(), ['-c', [
    'import sqlite3, sys, time',
    'db = sqlite3.connect(sys.argv[1], isolation_level=None)',
    'db.execute("BEGIN EXCLUSIVE")',
    'open(sys.argv[2], "w").close()',
    'time.sleep(3600)',
  ].join('\n'), join(data('held'), 'db.sqlite3'), started], { stdio: 'ignore' });
  try {
    await waitFor(() => existsSync(started), 15_000, 'the transaction to begin');
    const b = await runCli(['backup', held, '--to', join(work.path, 'held-backup'), ...S], { env: { APPPKG_TEST_SQLITE_LOCK_WAIT_SECONDS: '2' }, ms: 60_000 });
    assert.is(b.status, 1, b.stdout + b.stderr);
    assert.match(b.stderr, /SQLite backup of \S+db\.sqlite3 failed: the database stayed locked for 2 s: a transaction of the app \(a migration, a stuck request\) held it the whole time; back up once it has ended/);
  } finally {
    holder.kill('SIGKILL');
    await assertNoOrphans([holder.pid!]);
  }
});

// An app killed inside a transaction leaves its journal hot: SQLite rolls it back at the next
// open. The backup opened the database read-only, which cannot, and failed ("attempt to write a
// readonly database") until the app had run again.
test('backup of an SQLite app whose writer died inside a transaction (its journal left hot) succeeds, with what was committed; a restore over such a database replaces it, the journal gone with it', async () => {
  const crashed = makeApp(work.path, 'crashed', 'app: wsgi:application\nservices: {database: sqlite}\n');
  const dieInATransaction = (first: string[]) => runCli(['run', crashed, ...S, '--', 'python3', '-c', [
    'import os, sqlite3',
    'db = sqlite3.connect(os.environ["DATABASE_URL"][len("sqlite:///"):], isolation_level=None)',
    ...first,
    // A one-page cache: the transaction's pages go to the file before its commit, the old ones to the journal.
    'db.execute("PRAGMA cache_size=1")',
    'db.execute("BEGIN")',
    'db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)',
    'os._exit(0)',
  ].join('\n')]);
  const died = await dieInATransaction(['db.execute("CREATE TABLE t (x)")', 'db.execute("INSERT INTO t VALUES (1)")']);
  assert.is(died.status, 0, died.stdout + died.stderr);
  assert.ok(existsSync(join(data('crashed'), 'db.sqlite3-journal')), 'the journal is left behind');
  const to = join(work.path, 'crashed-backup');
  const b = await runCli(['backup', crashed, '--to', to, ...S]);
  assert.is(b.status, 0, b.stdout + b.stderr);
  const check = spawnSync(hostPython(), ['-c', 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); print(d.execute("PRAGMA integrity_check").fetchone()[0], d.execute("SELECT count(*) FROM t").fetchone()[0])', join(to, 'database', 'db.sqlite3')], { encoding: 'utf8' });
  assert.is(check.stdout.trim(), 'ok 1', check.stderr);
  // The crashed app's journal must not outlive the database it belongs to: rolled into the
  // backup's file at the next open, it would tear it.
  const diedAgain = await dieInATransaction([]);
  assert.is(diedAgain.status, 0, diedAgain.stdout + diedAgain.stderr);
  assert.ok(existsSync(join(data('crashed'), 'db.sqlite3-journal')), 'the journal is left behind again');
  const restored = await runCli(['restore', crashed, '--from', to, ...S]);
  assert.is(restored.status, 0, restored.stdout + restored.stderr);
  assert.not.ok(existsSync(join(data('crashed'), 'db.sqlite3-journal')), 'the old journal went with the old database');
  const after = spawnSync(hostPython(), ['-c', 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); print(d.execute("PRAGMA integrity_check").fetchone()[0], d.execute("SELECT count(*) FROM t").fetchone()[0])', join(data('crashed'), 'db.sqlite3')], { encoding: 'utf8' });
  assert.is(after.stdout.trim(), 'ok 1', after.stderr);
});

// Beside the database, a running app makes and deletes files of its own all the time (temporary
// files, cache entries, locks): one gone between the data copy's listing and its copy failed the
// whole backup with ENOENT. It is left out and counted, as rsync and tar do.
test('backup while the app makes and deletes files: each backup succeeds, what vanished said in one line, the rest copied', async () => {
  const churn = makeApp(work.path, 'churn', 'app: wsgi:application\n');
  const dir = data('churn');
  await writeData(churn, 'mkdir kept && echo kept > kept/file');
  const started = join(work.path, 'churn-started');
  // Files and a directory with a file in it, made and removed in a tight loop. Started directly
  // (not through `run`) so that its pid is the one to stop.
  const churner = spawn(hostPython(), ['-c', [
    'import os, sys',
    'd = sys.argv[1]',
    'open(sys.argv[2], "w").close()',
    'while True:',
    '    names = [os.path.join(d, "tmp%d" % i) for i in range(40)]',
    '    for n in names: open(n, "w").close()',
    '    os.mkdir(os.path.join(d, "cache")); open(os.path.join(d, "cache", "entry"), "w").close()',
    '    for n in names: os.rename(n, n + ".old"); os.unlink(n + ".old")',
    '    os.unlink(os.path.join(d, "cache", "entry")); os.rmdir(os.path.join(d, "cache"))',
  ].join('\n'), dir, started], { stdio: 'ignore' });
  try {
    await waitFor(() => existsSync(started), 15_000, 'the app to begin making files');
    for (let round = 1; round <= 8; round++) {
      const to = join(work.path, `churn-backup-${round}`);
      const b = await runCli(['backup', churn, '--to', to, ...S]);
      assert.is(b.status, 0, `backup ${round}: ${b.stdout}${b.stderr}`);
      assert.is(readFileSync(join(to, 'data', 'kept', 'file'), 'utf8'), 'kept\n', `backup ${round}`);
      const said = b.stdout.split('\n').filter((line) => line.includes('vanished'));
      assert.ok(said.length <= 1, `backup ${round}: ${b.stdout}`);
      for (const line of said) {
        assert.match(line, /^==> note: \d+ (file or directory|files or directories) of churn's data vanished between the listing and the copy \(deleted or renamed as the app ran: its temporary files, cache entries, locks\) and (is|are) not in the backup$/);
      }
    }
  } finally {
    churner.kill('SIGKILL');
    await assertNoOrphans([churner.pid!]);
  }
});

test('a socket and a FIFO in the data (a running app\'s endpoints) are left out of the backup and said, not a failure of it', async () => {
  const odd = makeApp(work.path, 'odd', 'app: wsgi:application\n');
  await writeData(odd, 'echo x > file && mkfifo pipe');
  const socketPath = join(data('odd'), 'app.sock');
  const made = spawnSync(hostPython(), ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socketPath], { encoding: 'utf8' });
  assert.is(made.status, 0, made.stderr);
  const to = join(work.path, 'odd-backup');
  const b = await runCli(['backup', odd, '--to', to, ...S]);
  assert.is(b.status, 0, b.stdout + b.stderr);
  assert.match(b.stdout, "==> note: 2 sockets or FIFOs in odd's data are not in the backup (a running program's endpoints: it makes them again when it starts)");
  assert.not.match(b.stdout, /vanished/);
  assert.equal(readdirSync(join(to, 'data')).sort(), ['file']);
});

/** The CLI with `--environment <(printf ENV)`, as bash runs it: the file is a pipe, read once. */
function runWithPipedEnvironment(args: string[], env: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', 'exec "$0" "$@" --environment <(printf %s "$ENVIRONMENT_TEXT")', BIN, ...args], {
    env: { ...process.env, ENVIRONMENT_TEXT: env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('commands.backup and commands.restore get the settings of an environment file that can be read once (a pipe)', async () => {
  const piped = makeApp(
    work.path,
    'piped',
    [
      'app: wsgi:application',
      'commands:',
      '  backup: echo "backup $GREETING" > "$APPPKG_BACKUP_DIR/dump"',
      '  restore: echo "restore $GREETING" > "$APPPKG_DATA_DIR/restored"',
      '',
    ].join('\n'),
  );
  // `--environment <(sops -d env.yaml)`: read a second time, the file was empty, and the hook
  // ran without its settings (and on services planned from another reading of it).
  const env = 'apps:\n  piped:\n    settings:\n      GREETING: hello\n';
  const to = join(work.path, 'piped-backup');
  const b = runWithPipedEnvironment(['backup', piped, '--to', to, ...S], env);
  assert.is(b.status, 0, b.stdout + b.stderr);
  assert.is(readFileSync(join(to, 'dump'), 'utf8'), 'backup hello\n');
  const r = runWithPipedEnvironment(['restore', piped, '--from', to, ...S], env);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(readFileSync(join(data('piped'), 'restored'), 'utf8'), 'restore hello\n');
});

let notesBackup: string | null = null;
/** A backup of notes, for the tests that only see it refused: made once (each backup is a CLI start). */
async function backupOfNotes(): Promise<string> {
  if (notesBackup === null) {
    const to = join(work.path, 'notes-backup');
    const r = await runCli(['backup', app, '--to', to, ...S]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    notesBackup = to;
  }
  return notesBackup;
}

const HOOK_RAN = 'echo ran >> "$APPPKG_DATA_DIR/hook-ran"';
const hooksApp = (name: string) =>
  makeApp(work.path, name, ['app: wsgi:application', 'commands:', `  backup: ${HOOK_RAN}; echo dump > "$APPPKG_BACKUP_DIR/dump"`, `  restore: ${HOOK_RAN}`, ''].join('\n'));
const hookRan = (name: string) => existsSync(join(data(name), 'hook-ran'));

test('with commands.backup, backup refuses a directory that holds something else, before the hook runs', async () => {
  const withHooks = hooksApp('hooks-busy');
  const busy = join(work.path, 'hooks-busy-dir');
  mkdirSync(busy);
  writeFileSync(join(busy, 'precious.txt'), 'keep me\n');
  const r = await runCli(['backup', withHooks, '--to', busy, ...S]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /expected a new or empty directory .*found 1 entry and no apppkg-backup\.json/);
  assert.equal(readdirSync(busy), ['precious.txt']);
  assert.not.ok(hookRan('hooks-busy'), 'commands.backup ran although the directory was refused');

  // Another app's backup is refused too; an earlier one of this app is replaced.
  const otherBackup = await backupOfNotes();
  const foreign = await runCli(['backup', withHooks, '--to', otherBackup, ...S]);
  assert.is(foreign.status, 1);
  assert.match(foreign.stderr, /found a backup of "notes"/);
  const mine = join(work.path, 'hooks-busy-mine');
  assert.is((await runCli(['backup', withHooks, '--to', mine, ...S])).status, 0);
  const again = await runCli(['backup', withHooks, '--to', mine, ...S]);
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /replacing the earlier backup of hooks-busy/);
});

test('with commands.backup, an earlier backup of the app is replaced, not written over: a file gone from the data since is not in the new backup', async () => {
  const copying = makeApp(work.path, 'hooks-copy', ['app: wsgi:application', 'commands:', '  backup: cp -R "$APPPKG_DATA_DIR/." "$APPPKG_BACKUP_DIR/"', ''].join('\n'));
  await writeData(copying, 'echo old > deleted.txt && echo one > kept.txt');
  const to = join(work.path, 'hooks-copy-backup');
  assert.is((await runCli(['backup', copying, '--to', to, ...S])).status, 0);
  assert.equal(readdirSync(to).sort(), ['apppkg-backup.json', 'deleted.txt', 'kept.txt']);
  changeData('hooks-copy', 'rm deleted.txt && echo two > kept.txt');
  const again = await runCli(['backup', copying, '--to', to, ...S]);
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /replacing the earlier backup of hooks-copy/);
  assert.equal(readdirSync(to).sort(), ['apppkg-backup.json', 'kept.txt'], 'a restore would bring back a file the app deleted');
  assert.is(readFileSync(join(to, 'kept.txt'), 'utf8'), 'two\n');
});

test('a failed commands.backup leaves an unfinished backup: restore refuses it saying so, the app\'s next backup into it replaces it, another app\'s is refused', async () => {
  const failing = makeApp(work.path, 'hooks-retry', ['app: wsgi:application', 'commands:', '  backup: echo part > "$APPPKG_BACKUP_DIR/part"; test ! -e "$APPPKG_DATA_DIR/fail"', ''].join('\n'));
  await writeData(failing, 'touch fail');
  const to = join(work.path, 'hooks-retry-backup');
  const failed = await runCli(['backup', failing, '--to', to, ...S]);
  assert.is(failed.status, 1, failed.stdout + failed.stderr);
  const restore = await runCli(['restore', failing, '--from', to, ...S]);
  assert.is(restore.status, 1);
  assert.match(restore.stderr, /expected a backup of hooks-retry, found an unfinished backup \(the backup that wrote it failed or was cut short\)/);
  assert.not.match(restore.stderr, /mark it/, 'an unfinished backup is not to be marked as a finished one');
  const foreign = await runCli(['backup', app, '--to', to, ...S]);
  assert.is(foreign.status, 1);
  assert.match(foreign.stderr, /found an unfinished backup of "hooks-retry"/);

  changeData('hooks-retry', 'rm fail');
  const again = await runCli(['backup', failing, '--to', to, ...S]);
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /replacing the unfinished backup of hooks-retry/);
  assert.equal(readdirSync(to).sort(), ['apppkg-backup.json', 'part']);
  assert.is(JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8')).app, 'hooks-retry');
});

test('with commands.restore, restore refuses another app\'s backup and a directory that is none, before the hook runs', async () => {
  const withHooks = hooksApp('hooks-foreign');
  const otherBackup = await backupOfNotes();
  const noManifest = join(work.path, 'hooks-foreign-none');
  mkdirSync(noManifest);
  writeFileSync(join(noManifest, 'dump'), 'who knows\n');
  const cases: Array<[string, RegExp]> = [
    [otherBackup, /expected a backup of hooks-foreign, found a backup of "notes"/],
    [noManifest, /expected a backup of hooks-foreign, found no apppkg-backup\.json/],
  ];
  for (const [from, message] of cases) {
    const r = await runCli(['restore', withHooks, '--from', from, ...S]);
    assert.is(r.status, 1, `${from}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    assert.not.ok(hookRan('hooks-foreign'), `commands.restore ran on ${from}`);
  }
  // A hook's backup from before backups were marked: the refusal says how to mark it, and the
  // command it gives, run as given, lets the restore through.
  const refused = await runCli(['restore', withHooks, '--from', noManifest, ...S]);
  const mark = /echo '(\{[^']+\})' > (\S+)/.exec(refused.stderr);
  assert.ok(mark, refused.stderr);
  assert.is(mark![2], join(noManifest, 'apppkg-backup.json'));
  writeFileSync(mark![2], `${mark![1]}\n`);
  const marked = await runCli(['restore', withHooks, '--from', noManifest, ...S]);
  assert.is(marked.status, 0, marked.stdout + marked.stderr);
  assert.ok(hookRan('hooks-foreign'), 'commands.restore ran on the marked backup');
});

test('a failing commands.backup exits 1 naming the hook and its status', async () => {
  const failing = makeApp(work.path, 'failing', 'app: wsgi:application\ncommands:\n  backup: exit 4\n');
  const r = await runCli(['backup', failing, '--to', join(work.path, 'failing-backup'), ...S]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /commands\.backup \(exit 4\) exited with status 4/);
  assert.not.ok(existsSync(join(work.path, 'failing-backup', 'apppkg-backup.json')), 'a failed backup is marked as one');
});

test('backup without --to and restore without --from are bad usage', async () => {
  const b = await runCli(['backup', app, ...S]);
  assert.is(b.status, 2);
  // Said of what is missing, with a whole command line to follow.
  assert.is(b.stderr, 'apppkg-gateway: expected APP_DIR --to DIR, found no --to DIR, where the backup goes\n  fix: write e.g. `apppkg-gateway backup /var/apps/blog --to /var/backups/blog-$(date +%F)`\n');
  const r = await runCli(['restore', app, ...S]);
  assert.is(r.status, 2);
  assert.is(r.stderr, 'apppkg-gateway: expected APP_DIR --from DIR, found no --from DIR, the directory `backup --to` wrote\n  fix: write e.g. `apppkg-gateway restore /var/apps/blog --from /var/backups/blog-2026-11-24`\n');
  const noApp = await runCli(['backup', '--to', join(work.path, 'anywhere'), ...S]);
  assert.is(noApp.status, 2);
  assert.is(noApp.stderr.split('\n')[0], 'apppkg-gateway: expected APP_DIR --to DIR, found no APP_DIR, the app');
  const empty = await runCli(['restore', app, '--from', '', ...S]);
  assert.is(empty.status, 2);
  assert.is(empty.stderr.split('\n')[0], 'apppkg-gateway: expected APP_DIR --from DIR, found no --from DIR, the directory `backup --to` wrote (--from was given "")');
});

test.run();
