// SQLite, the embedded default (SPEC 5.2): `DATA/db.sqlite3` under the app's data directory,
// nothing to set up. Backups use SQLite's online backup API through the app's own interpreter
// (its sqlite3 module), so a copy taken while the app writes is still consistent, which a file
// copy is not. As root, that interpreter runs as the app's user: the database and the directory
// it is in are that user's, who could swap the file for a link to another between any look of
// ours and SQLite's open (root then read, and wrote a hot journal's rollback into, the file it
// named), and a journal or WAL made by root was left root's, which the app could not open again.
// The copy comes back to root on a descriptor root opened, which no name of the app's can redirect.
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Owner } from '../environment/state-root.js';
import { GatewayError } from '../errors.js';
import { spawnProcess } from '../spawn-process.js';
import { testKnob } from '../test-knob.js';

export const SQLITE_FILE = 'db.sqlite3';
/** What SQLite keeps beside the database while it is open (journal, WAL). */
export const SQLITE_SIDE_FILES = ['-journal', '-wal', '-shm'].map((s) => `${SQLITE_FILE}${s}`);

export function sqlitePath(dataDir: string): string {
  return path.join(dataDir, SQLITE_FILE);
}

/** sqlite:////abs/path: four slashes, as SQLAlchemy and dj-database-url read an absolute path. */
export function sqliteEnvironment(dataDir: string): Record<string, string> {
  return { DATABASE_URL: `sqlite:///${sqlitePath(dataDir)}` };
}

// argv[1] -> a file in a new directory under argv[2] (the app's tmp, or the system's when ''),
// then onto stdout, a file root opened: every page in one step, inside a read transaction taken first. The source
// is opened mode=rw, which never creates it (a missing file stays missing) but lets SQLite roll
// back a hot journal, left by a writer that died inside a transaction, as the app's next open
// would: read-only, the first read failed "attempt to write a readonly database" and no backup
// could be made until the app had run again. The read transaction is what a writer
// committing back to back starves: in SQLite's default rollback-journal mode a reader gets in
// only between the writer's commits, and sqlite3's busy handler (as backup()'s own retry, every
// 250 ms) looks for that gap a few times a second, so a backup of a steadily written database
// waited minutes, or for ever. Looked for every millisecond, a gap is found within a fraction of
// a second; once the read lock is held the writer waits for the copy, not the copy for it.
// "database is locked" is SQLITE_BUSY's message (Python 3.9's sqlite3 has no error codes).
const BACKUP_SCRIPT = `
import os, shutil, sqlite3, sys, tempfile, time
src = sqlite3.connect('file:' + sys.argv[1] + '?mode=rw', uri=True, timeout=0, isolation_level=None)
bound = float(sys.argv[3])
give_up = time.monotonic() + bound
while True:
    try:
        src.execute('BEGIN')
        src.execute('SELECT count(*) FROM sqlite_master').fetchone()
        break
    except sqlite3.OperationalError as e:
        if src.in_transaction:
            src.execute('ROLLBACK')
        if str(e) != 'database is locked':
            raise
        if time.monotonic() > give_up:
            sys.exit('the database stayed locked for %g s: a transaction of the app (a migration, a stuck request) held it the whole time; back up once it has ended' % bound)
        time.sleep(0.001)
with tempfile.TemporaryDirectory(dir=sys.argv[2] or None) as tmp:
    copy = os.path.join(tmp, 'backup.sqlite3')
    dst = sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.execute('COMMIT')
    dst.close(); src.close()
    with open(copy, 'rb') as f:
        shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
    sys.stdout.buffer.flush()
`;

/**
 * How long the backup looks for a gap between the app's commits before it gives up: a gap comes
 * within a second under back-to-back commits, so only a transaction held open all along (a long
 * migration, a request stuck inside one) outlasts it, and the backup waited for ever.
 */
const LOCK_WAIT_SECONDS = 300;
const LOCK_WAIT_ENV = 'APPPKG_TEST_SQLITE_LOCK_WAIT_SECONDS';

/** Who runs SQLite on the app's database: its interpreter, as `user` (the app's, when we are root and it is another). */
export interface SqliteRunner {
  python: string;
  user?: Owner;
}

/**
 * Online backup of `from` written into `to`, a new file open for writing, through `tmpDir` (the
 * app's own, '' for the system's: the copy is whole before the first byte reaches `to`).
 */
export async function backupSqlite(runner: SqliteRunner, from: string, to: FileHandle, tmpDir: string): Promise<void> {
  await runPython(runner, [BACKUP_SCRIPT, from, tmpDir, String(testKnob(LOCK_WAIT_ENV, LOCK_WAIT_SECONDS))], `SQLite backup of ${from}`, to);
}

/** Its stdout, or with `output`, nothing: the child writes into that file itself. */
function runPython({ python, user }: SqliteRunner, args: string[], action: string, output?: FileHandle): Promise<string> {
  return new Promise((resolve, reject) => {
    // cwd /: ours may be closed to the app's user.
    const child = spawnProcess(python, ['-I', '-c', ...args], { stdio: ['ignore', output?.fd ?? 'pipe', 'pipe'], uid: user?.uid, gid: user?.gid, cwd: '/' });
    let out = '';
    let err = '';
    // Decoded across reads: one may end inside a UTF-8 character (a table or file name).
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.on('error', (e) => reject(new GatewayError('APPPKG_SERVICE_FAILED', { action, reason: `${python}: ${e.message}`, cause: e })));
    child.on('close', (status) => {
      if (status === 0) resolve(out);
      else reject(new GatewayError('APPPKG_SERVICE_FAILED', { action, reason: err.trim().split('\n').pop() || `${python} exited ${status}` }));
    });
  });
}
