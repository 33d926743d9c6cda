// An app's database in its backups (SPEC 5.2): `backup` writes it beside what commands.backup
// or the data copy writes (DIR/database/: a pg_dump in custom format, or an SQLite online
// backup), `restore` puts it in place of the app's database, as it does the data directory.
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { chmod, lstat, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Description } from '../description/types.js';
import { overridesFor, type HostEnvironment } from '../environment/host-file.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { resolveRunAs, type RunAs } from '../environment/run-as.js';
import { appStateDirs, type Owner } from '../environment/state-root.js';
import { GatewayError, systemErrorReason } from '../errors.js';
import { copyContent, createNewFile, inDirectory, kindOf, openDirectoryNoFollow, openRegularFile, symlinkWords } from '../no-follow.js';
import { spawnProcess } from '../spawn-process.js';
import { ensurePassword, readCredentials, serviceOwner } from './credentials-store.js';
import {
  appDatabaseName, ensureAppDatabase, parsePostgresUrl, postgresEnvironment, recreateAppDatabase, type AppDatabase,
} from './postgresql-server.js';
import { planServices, type DatabaseKind } from './service-plan.js';
import { backupSqlite, SQLITE_FILE, SQLITE_SIDE_FILES, sqlitePath, type SqliteRunner } from './sqlite-database.js';

/** The directory of a backup that holds the app's database. */
export const BACKUP_DATABASE_DIR = 'database';

/** What a backup's manifest records of the database it holds. */
export interface DatabaseSnapshot {
  kind: DatabaseKind;
  /** Relative to the backup directory. */
  file: string;
  bytes: number;
}

export interface AppServiceScope {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  /** The app's interpreter (SQLite's backup runs with its sqlite3 module); asked only when needed. */
  python: () => Promise<string>;
  /** Who the app runs as, when we are root (run-as.ts); asked only when needed. */
  runAs: () => RunAs | null;
  say?: (line: string) => void;
}

/**
 * The scope of `desc`'s backup or restore, its interpreter the environment file's `python` or the
 * one app.yaml asks for: `backup`, `restore` and the library's runCommand build it one way.
 */
export function appServiceScope(desc: Description, hostEnv: HostEnvironment, stateRoot: string, say?: (line: string) => void): AppServiceScope {
  const { python, user, userAt } = overridesFor(hostEnv, desc.name);
  return {
    desc, hostEnv, stateRoot, say,
    python: async () => (await pickInterpreter(desc, { override: python ?? undefined })).executable,
    runAs: () => resolveRunAs(desc, user, userAt),
  };
}

/** SQLite on the app's database is run as the app's user (sqlite-database.ts says why). */
async function sqliteRunner(scope: AppServiceScope): Promise<SqliteRunner> {
  const runAs = scope.runAs();
  return { python: await scope.python(), user: runAs && !runAs.isRoot ? { uid: runAs.uid, gid: runAs.gid } : undefined };
}

const PG_DUMP_FILE = 'postgresql.dump';
/** The Redis keys' file in DIR/database/ (redis-backup.ts). */
export const REDIS_BACKUP_FILE = 'redis.jsonl';

/**
 * DIR/database/, what an earlier backup of the gateway's left there under `names` removed, and
 * only that: with commands.backup, DIR is the hook's too, and a hook writing its own dump to
 * $APPPKG_BACKUP_DIR/database/ had it deleted, the backup said done without it. DIR was the
 * app's user's then (root has taken it back since, backup.ts): a `database` its hook left as a
 * symlink had root remove, write and chmod the dump's names wherever it pointed (-> /etc); it
 * is refused instead, named. One the hook made is replaced by root's own, with what the hook
 * put there: the app's workers could still write in that one, by a descriptor or working
 * directory open in it, and swap a dump's name for a link before root's write.
 */
export async function clearDatabaseDir(backupDir: string, names: readonly string[]): Promise<string> {
  const dir = path.join(backupDir, BACKUP_DATABASE_DIR);
  const found = await lstat(dir).catch(() => null);
  if (found !== null && !found.isDirectory()) {
    const what = found.isSymbolicLink() ? await symlinkWords(dir) : 'no directory';
    throw new GatewayError('APPPKG_BACKUP_FAILED', {
      action: `write the app's database into ${dir}`,
      reason: `it is ${what}: the gateway writes the app's database into a directory of the backup itself, never where a link leads`,
      fix: `let commands.backup leave ${BACKUP_DATABASE_DIR}/ to the gateway (or make it a directory), then back up again`,
    });
  }
  if (found !== null && (found.uid !== process.getuid?.() || (found.mode & 0o022) !== 0)) await takeDatabaseDir(dir);
  for (const name of names) {
    for (const file of [name, `${name}.partial`]) await rm(path.join(dir, file), { force: true });
  }
  return dir;
}

/** A directory of root's in place of `dir`, the app's, holding what that held (moved, never followed nor copied). */
async function takeDatabaseDir(dir: string): Promise<void> {
  const fresh = path.join(path.dirname(dir), `.${BACKUP_DATABASE_DIR}.gateway-${randomBytes(4).toString('hex')}`);
  // 0755: commands.restore, as the app's user, reads what its backup hook put there.
  await mkdir(fresh, { mode: 0o755 });
  try {
    // A process of the app's may add entries as they are moved: moved too, a few rounds at most.
    for (let round = 0; ; round++) {
      for (const name of await readdir(dir)) await rename(path.join(dir, name), path.join(fresh, name));
      const removed = await rmdir(dir).then(() => true, (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' || round >= TAKE_ROUNDS) throw err;
        return false;
      });
      if (removed) break;
    }
    await rename(fresh, dir);
  } catch (err) {
    throw new GatewayError('APPPKG_BACKUP_FAILED', {
      action: `replace ${dir}, which the app's user made, by a directory of the gateway's`,
      reason: systemErrorReason(err),
      fix: `stop what of the app's writes into ${dir}, then back up again (what it held is in ${fresh})`,
      cause: err,
    });
  }
}

const TAKE_ROUNDS = 10;

/** Writes the app's database into DIR/database/; null when the app has none (or none yet). */
export async function backupDatabase(scope: AppServiceScope, backupDir: string): Promise<DatabaseSnapshot | null> {
  const { desc } = scope;
  const kind = planServices(desc, scope.hostEnv).database;
  if (!kind) return null;
  const dir = await clearDatabaseDir(backupDir, [PG_DUMP_FILE, SQLITE_FILE, REDIS_BACKUP_FILE]);
  if (kind === 'sqlite') {
    const appDirs = appStateDirs(scope.stateRoot, desc.name);
    const source = sqlitePath(appDirs.data);
    if (!(await exists(source))) {
      scope.say?.(`==> no SQLite database yet (${source}): nothing of it to back up`);
      return null;
    }
    await assertOwnFile(source, `back up the app's SQLite database ${source}`, 'the app\'s own file', `keep the database itself at ${source}, not a link to it`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, SQLITE_FILE);
    const runner = await sqliteRunner(scope);
    // The app's own tmp (on the state root's disk, not a RAM /tmp) when it is there to run in.
    const tmp = runner.user && (await lstat(appDirs.tmp).then((st) => st.isDirectory() && st.uid === runner.user!.uid, () => false)) ? appDirs.tmp : '';
    const out = await createNewFile(`${file}.partial`, 0o600); // as the PostgreSQL dump, below
    try {
      await backupSqlite(runner, source, out, tmp);
    } finally {
      await out.close();
    }
    await rename(`${file}.partial`, file);
    return snapshot(backupDir, 'sqlite', file);
  }
  const db = await keptDatabase(scope);
  if (!db) {
    scope.say?.(`==> no PostgreSQL database made for ${desc.name} yet: nothing of it to back up`);
    return null;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, PG_DUMP_FILE);
  // Custom format: compressed, and pg_restore can load it into a database of another name.
  await runClient('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', `--file=${file}.partial`], db, `pg_dump of ${db.name}`);
  // pg_dump (as sqlite3's backup) makes it 0644 under the usual umask: the app's data, 0600 as
  // the backup's other files.
  await chmod(`${file}.partial`, 0o600);
  await rename(`${file}.partial`, file);
  return snapshot(backupDir, 'postgresql', file);
}

/**
 * Before anything of a restore changes: the backup's database is of the kind the app runs on
 * here (a pg_dump is no SQLite file), and a PostgreSQL server answers, the app's role and
 * database made when missing (a fresh host): one that did not left the backup's data directory
 * beside the database of today. What the app's database holds is no reason to refuse: restore
 * puts the backup's in its place, as it does the data directory (SPEC 5.2: `restore` loads it
 * back), and on a new host `install` has made the tables first (Django's migrate).
 */
export async function assertDatabaseRestorable(scope: AppServiceScope, snap: DatabaseSnapshot): Promise<void> {
  const { desc } = scope;
  const kind = planServices(desc, scope.hostEnv).database;
  if (kind !== snap.kind) {
    throw new GatewayError('APPPKG_SERVICE_FAILED', {
      action: `restore of ${desc.name}'s database`,
      reason: `the backup holds a ${snap.kind} database, but the app now runs on ${kind ?? 'no database'}`,
      fix: snap.kind === 'postgresql' ? 'restore on a host whose environment file sets services.postgresql' : 'restore where the app runs on SQLite (no services.postgresql), or load the file by hand',
    });
  }
  if (kind === 'postgresql') await provisionedDatabase(scope);
}

/**
 * The backup's database in place of the app's: a PostgreSQL database dropped and made again
 * (made first on a fresh host), then loaded; an SQLite file replaced.
 */
export async function restoreDatabase(scope: AppServiceScope, backupDir: string, snap: DatabaseSnapshot, owner?: Owner): Promise<void> {
  const { desc } = scope;
  const file = path.join(backupDir, snap.file);
  const name = snap.kind === 'sqlite' ? SQLITE_FILE : PG_DUMP_FILE;
  const source = await openBackupFile(backupDir, snap.file, name, `restore the app's database from ${file}`);
  try {
    if (snap.kind === 'sqlite') {
      await restoreSqliteFile(scope, source, owner);
      return;
    }
    const db = await provisionedDatabase(scope);
    await recreateAppDatabase(db, await serviceOwner(scope.stateRoot, desc.name));
    // The dump on pg_restore's stdin, the file root opened (seekable still), not a name to open again.
    await runClient('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', `--dbname=${db.name}`], db, `pg_restore into ${db.name}`, source.fd);
  } finally {
    await source.close();
  }
}

/**
 * The backup's SQLite database, open at `source`, in place of the app's. The data directory is
 * the app's user's: a symlink it put at a name root writes through (a predictable
 * .restore-PID, planted for every likely pid) had root copy the database over the file it
 * named, then chown that file to the app (/etc/shadow). Hence a name nobody knows, made with
 * O_EXCL, owned by its descriptor, which no link swapped in afterwards redirects.
 */
async function restoreSqliteFile(scope: AppServiceScope, source: FileHandle, owner: Owner | undefined): Promise<void> {
  const data = appStateDirs(scope.stateRoot, scope.desc.name).data;
  await mkdir(data, { recursive: true, mode: 0o700 });
  const staging = path.join(data, `.${SQLITE_FILE}.restore-${randomBytes(8).toString('hex')}`);
  const out = await createNewFile(staging, 0o600);
  try {
    await copyContent(source, out);
    if (owner) await out.chown(owner.uid, owner.gid);
  } catch (err) {
    await rm(staging, { force: true });
    throw err;
  } finally {
    await out.close();
  }
  // A journal or WAL of the database being replaced would be replayed into the new one.
  for (const side of SQLITE_SIDE_FILES) await rm(path.join(data, side), { force: true });
  await rename(staging, sqlitePath(data));
}

/**
 * The backup's file `file` (a manifest's, relative to DIR) opened for root to read. DIR is the
 * app's user's when its hook wrote it or restore gave it to commands.restore, and so is the
 * manifest that names the file: only the name backup writes, `database/<name>`, is read;
 * `database` is held by descriptor and `name` opened without following a link or waiting on a
 * FIFO (no-follow.ts). Through a link root read what it named (another app's dump, a root-only
 * file) into the app's database; on a FIFO restore waited for ever.
 */
export async function openBackupFile(backupDir: string, file: string, name: string, action: string): Promise<FileHandle> {
  const fix = `restore from a backup whose ${BACKUP_DATABASE_DIR}/ holds the files backup wrote there`;
  if (file !== `${BACKUP_DATABASE_DIR}/${name}`) {
    throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: `the backup's manifest names ${JSON.stringify(file)}, not ${BACKUP_DATABASE_DIR}/${name}, where backup writes it`, fix });
  }
  const dirPath = path.join(backupDir, BACKUP_DATABASE_DIR);
  let dir: FileHandle;
  try {
    dir = await openDirectoryNoFollow(dirPath);
  } catch (err) {
    const found = await lstat(dirPath).catch(() => null);
    if (found === null || found.isDirectory()) throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: systemErrorReason(err), cause: err });
    const what = found.isSymbolicLink() ? await symlinkWords(dirPath) : kindOf(found);
    throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: `${dirPath} is ${what}, not the directory backup wrote`, fix });
  }
  try {
    return (await openRegularFile(inDirectory(dir, name))).handle;
  } catch (err) {
    const found = (err as { found?: string }).found;
    if (found === undefined) throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: systemErrorReason(err), cause: err });
    throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: `it is ${found}, not the file the gateway's backup wrote`, fix });
  } finally {
    await dir.close();
  }
}

/**
 * Refuses `file` unless it is a regular file (or missing: its reader says so): root reads an
 * SQLite database from a place the app's user writes, and through a symlink there it read what
 * the link named, the app's to read once restored (another app's database, a root-only file).
 */
async function assertOwnFile(file: string, action: string, whose: string, fix: string): Promise<void> {
  const found = await lstat(file).catch(() => null);
  if (found === null || found.isFile()) return;
  const what = found.isSymbolicLink() ? await symlinkWords(file) : 'no regular file';
  throw new GatewayError('APPPKG_BACKUP_FAILED', { action, reason: `it is ${what}, not ${whose}`, fix });
}

/** The app's database as kept, or null when it was never provisioned (no password kept). */
async function keptDatabase(scope: AppServiceScope): Promise<AppDatabase | null> {
  const password = (await readCredentials(scope.stateRoot, scope.desc.name)).postgresql?.password;
  if (!password) return null;
  return { server: parsePostgresUrl(scope.hostEnv.services.postgresql!), name: appDatabaseName(scope.desc.name), password };
}

async function provisionedDatabase(scope: AppServiceScope): Promise<AppDatabase> {
  const { password } = await ensurePassword(scope.stateRoot, scope.desc.name, 'postgresql');
  const db: AppDatabase = { server: parsePostgresUrl(scope.hostEnv.services.postgresql!), name: appDatabaseName(scope.desc.name), password };
  await ensureAppDatabase(db, await serviceOwner(scope.stateRoot, scope.desc.name));
  return db;
}

/** pg_dump / pg_restore as the app's own role: the password in the child's environment only. */
function runClient(program: string, args: string[], db: AppDatabase, action: string, stdin?: number): Promise<void> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  const { DATABASE_URL: _url, ...pgVars } = postgresEnvironment(db);
  return new Promise((resolve, reject) => {
    const child = spawnProcess(program, args, { env: { ...env, ...pgVars }, stdio: [stdin ?? 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c)); // decoded across reads
    child.on('error', (e) => reject(new GatewayError('APPPKG_SERVICE_FAILED', {
      action, reason: `${program}: ${e.message}`, fix: 'install Debian\'s postgresql-client (apt-get install postgresql-client)', cause: e,
    })));
    child.on('close', (status) => {
      if (status === 0) resolve();
      else reject(new GatewayError('APPPKG_SERVICE_FAILED', { action, reason: err.trim().split('\n').slice(-3).join(' / ') || `${program} exited ${status}` }));
    });
  });
}

async function snapshot(backupDir: string, kind: DatabaseKind, file: string): Promise<DatabaseSnapshot> {
  return { kind, file: path.relative(backupDir, file), bytes: (await stat(file)).size };
}

function exists(file: string): Promise<boolean> {
  return lstat(file).then(() => true, () => false);
}
