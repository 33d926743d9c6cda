// `apppkg-gateway backup APP_DIR --to DIR` (SPEC §3): commands.backup with APPPKG_BACKUP_DIR=DIR;
// without the hook, a copy of the data directory into DIR/data. Either way DIR is new, empty or an
// earlier backup of the same app, the app's database (SPEC 5.2) and its Redis keys go to
// DIR/database/, and apppkg-backup.json, written last, says whose backup it is.
import { chmod, chown, lstat, mkdir, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeApp } from '../app-context.js';
import { countOf } from '../count.js';
import type { RunAs } from '../environment/run-as.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { BACKUP_DATA_DIR, MANIFEST_FILE, UNFINISHED_FILE, makeManifest, markUnfinished, readManifest, unfinishedBackupOf, writeManifest, type BackupManifest } from './backup-manifest.js';
import { besideName, copyBeside, countTree, ioFailure, isInside, swapInto } from './data-tree.js';
import { resolveForHook, runHook } from './hook.js';
import { quiet, seconds, type LifecycleOptions } from './progress.js';
import { appServiceScope, backupDatabase, type AppServiceScope } from '../services/database-backup.js';
import { backupRedis } from '../services/redis-backup.js';
import { planServices } from '../services/service-plan.js';
import { SQLITE_FILE, SQLITE_SIDE_FILES } from '../services/sqlite-database.js';
import { makeDirectory } from '../make-dir.js';
import { removeTreeAsOwners } from '../remove-as-owner.js';

export interface BackupOptions extends LifecycleOptions {
  /** The backup directory; created (mode 0700) if missing. */
  to: string;
}

export type BackupResult = { hook: true; dir: string } | { hook: false; dir: string; manifest: BackupManifest };

export async function backupApp(opts: BackupOptions): Promise<BackupResult> {
  const say = opts.say ?? quiet;
  const started = performance.now();
  const dir = path.resolve(opts.dir);
  const target = path.resolve(opts.to);
  const { desc, hostEnv } = await describeApp({ dir, mode: 'production', environmentFile: opts.environmentFile, hostEnv: opts.hostEnv, desc: opts.desc });
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  const scope = appServiceScope(desc, hostEnv, stateRoot, say);

  if (desc.commands.backup) {
    // The description and environment file read above, not again: what the services were planned
    // from is what the hook runs with (an environment file on a pipe, `<(sops -d ...)`, reads once).
    const ctx = await resolveForHook({ ...opts, dir, desc, hostEnv });
    // runHook throws on a failed hook (APPPKG_COMMAND_FAILED, naming it): its status is 0 here.
    await backupWithHook(scope, ctx.runAs, target, (env) => runHook(ctx, 'backup', { extraEnv: env, say }).then(() => 0));
    say(`==> ${desc.name} backed up to ${target} by commands.backup in ${seconds(started)}`);
    return { hook: true, dir: target };
  }

  const plan = planServices(desc, hostEnv); // a service the host cannot give: refused before anything is written
  const { app: appState, data } = appStateDirs(stateRoot, desc.name);
  // Install, serve, run and the gateway all make it: missing, this is most likely the wrong
  // state root (sudo or not, another --state-dir), whose empty backup would pass for the app's.
  // Still a backup (of an app that never ran), but said.
  const neverRan = !(await lstat(appState).then(() => true, () => false));
  if (isInside(target, data)) {
    throw new GatewayError('APPPKG_BACKUP_INSIDE_DATA', { path: target, app: desc.name, data });
  }
  await prepareBackupDir(target, desc.name, say);
  await reclaimBackupDir(target, 'before the backup writes there');
  // An earlier finished backup stays one until the new copy is swapped in; any other directory
  // is marked now, so that a copy that fails leaves it for the next backup to replace.
  if ((await readManifest(target)) === null) await dropManifest(target, desc.name);

  const dataStats = await lstat(data).catch(() => null);
  const hasData = dataStats?.isDirectory() ?? false;
  // As root, the app's user's files alone: a hard link it made to a file of root's took that file
  // into the backup (data-tree.ts). Its user is its directory's owner, a name its parent (root's) holds still.
  const onlyOwnedBy = process.getuid?.() === 0 && dataStats !== null && dataStats.uid !== 0 ? dataStats.uid : undefined;
  // An app that never wrote anything still gets a backup (of an empty directory) restore accepts.
  // The SQLite database goes to database/ by SQLite's online backup: a file copy taken while the
  // app writes may be torn.
  const live = plan.database === 'sqlite' ? [SQLITE_FILE, ...SQLITE_SIDE_FILES] : [];
  const copied = hasData ? await copyBeside(data, path.join(target, BACKUP_DATA_DIR), 'partial', { leaveOut: live, tolerateVanished: true, onlyOwnedBy, withholdOthersWrite: true }) : null;
  const copy = copied?.staging ?? besideName(path.join(target, BACKUP_DATA_DIR), 'empty');
  if (!copied) await mkdir(copy, { mode: 0o700 }).catch((err) => Promise.reject(ioFailure(`create ${copy}`, err)));
  if (copied?.vanished) {
    say(`==> note: ${countOf(copied.vanished, 'file or directory', 'files or directories')} of ${desc.name}'s data vanished between the listing and the copy (deleted or renamed as the app ran: its temporary files, cache entries, locks) and ${copied.vanished === 1 ? 'is' : 'are'} not in the backup`);
  }
  if (copied?.endpoints) {
    say(`==> note: ${countOf(copied.endpoints, 'socket or FIFO', 'sockets or FIFOs')} in ${desc.name}'s data ${copied.endpoints === 1 ? 'is' : 'are'} not in the backup (a running program's endpoints: it makes them again when it starts)`);
  }
  if (copied?.foreign.length) {
    const some = copied.foreign.slice(0, FOREIGN_NAMED).join(', ') + (copied.foreign.length > FOREIGN_NAMED ? ', ...' : '');
    say(`==> note: ${countOf(copied.foreign.length, 'file')} in ${desc.name}'s data ${copied.foreign.length === 1 ? 'is' : 'are'} not its user's (uid ${onlyOwnedBy}) and ${copied.foreign.length === 1 ? 'is' : 'are'} not in the backup: ${some} (a hard link the app made to a file of root's or another's would have had root copy that file; one that is the app's data: chown it to the app's user, then back up again)`);
  }
  const count = await countTree(copy);
  await dropManifest(target, desc.name);
  await swapInto(copy, path.join(target, BACKUP_DATA_DIR));
  const withheld = Object.entries(copied?.withheldModes ?? {}).filter(([under]) => under !== '');
  const directoryModes = withheld.length > 0 ? { directoryModes: Object.fromEntries(withheld.map(([under, mode]) => [under, mode.toString(8).padStart(4, '0')])) } : {};
  const manifest = makeManifest({ app: desc.name, version: desc.version, files: count.files, bytes: count.bytes, ...directoryModes, ...(await backupServices(scope, target)) });
  await writeManifest(target, manifest).catch((err) => Promise.reject(ioFailure(`write ${path.join(target, MANIFEST_FILE)}`, err)));
  say(`==> backed up ${countOf(count.files, 'file')}, ${count.bytes} bytes of ${desc.name}'s data to ${target} in ${seconds(started)}`);
  if (neverRan) {
    say(`==> note: ${desc.name} never ran on the state root ${stateRoot} (there is no ${appState}), so this backup is empty; if a gateway serves it, back it up with that gateway's --state-dir (as root, /var/lib/apppkg-gateway by default)`);
  }
  return { hook: false, dir: target, manifest };
}

/** How many of the files left out as not the app's user's a note names. */
const FOREIGN_NAMED = 3;

/** The app's database, then its Redis keys, under DIR/database/; each absent when the app has none. */
async function backupServices(scope: AppServiceScope, target: string): Promise<Pick<BackupManifest, 'database' | 'redis'>> {
  const { desc, say } = scope;
  const database = await backupDatabase(scope, target);
  if (database) say?.(`==> ${desc.name}'s ${database.kind} database: ${database.bytes} bytes in ${path.join(target, database.file)}`);
  const redis = await backupRedis(scope, target);
  if (redis) say?.(`==> ${desc.name}'s Redis keys: ${countOf(redis.keys, 'key')}, ${redis.bytes} bytes in ${path.join(target, redis.file)}`);
  return { ...(database ? { database } : {}), ...(redis ? { redis } : {}) };
}

/**
 * commands.backup into `target`, run by `run` with APPPKG_BACKUP_DIR (resolving with its exit
 * status); once it exits 0, the app's database and Redis keys beside what it wrote, then the
 * manifest that marks the directory as the app's backup: `backup --to` and the library's
 * runCommand('backup') alike. A hook that fails leaves the directory unmarked, its status returned.
 */
export async function backupWithHook(
  scope: AppServiceScope,
  runAs: RunAs | null,
  target: string,
  run: (env: { APPPKG_BACKUP_DIR: string }) => Promise<number>,
): Promise<number> {
  const { desc } = scope;
  planServices(desc, scope.hostEnv); // a service the host cannot give: refused before the hook runs
  await prepareHookBackupDir(target, desc.name, runAs, scope.say);
  const status = await run({ APPPKG_BACKUP_DIR: target });
  if (status !== 0) return status;
  await reclaimBackupDir(target, 'after commands.backup');
  await writeHookManifest(target, desc, await backupServices(scope, target));
  return 0;
}

/**
 * DIR taken back from the app's user, when we are root and it is not ours, before root writes
 * or removes there: once its hook has ended (the hook has exited, but the app's workers run on as
 * the same user), or before any backup into a DIR a restore gave that user for commands.restore.
 * Whatever root checked in a DIR they can write (DIR/database not a symlink) they could change
 * before root's writes (pg_dump's file, the SQLite copy, a chmod, an earlier backup's removal
 * then went where a link swapped in led). Taken back rather than each write made safe one by
 * one: root's then, DIR's names hold still for all of them, pg_dump's included, which opens its
 * file by name. restore gives it to the app's user again for commands.restore.
 */
async function reclaimBackupDir(target: string, when: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  try {
    if ((await stat(target)).uid === 0) return;
    await chown(target, 0, 0);
    // The hook may have opened it to its group or to all: writable by root alone.
    await chmod(target, 0o700);
  } catch (err) {
    throw ioFailure(`take ${target} back from the app's user ${when}`, err);
  }
}

/**
 * commands.backup's APPPKG_BACKUP_DIR, made ready as for the data copy and, as we are root, given
 * to the app's user the hook runs as, so that it can write there.
 */
async function prepareHookBackupDir(target: string, app: string, runAs: RunAs | null, say: (line: string) => void = quiet): Promise<void> {
  const replacing = await prepareBackupDir(target, app, say);
  await reclaimBackupDir(target, 'before the backup replaces what it holds');
  // Until the hook has succeeded, the directory is no backup.
  await dropManifest(target, app);
  // A hook that copies into the directory (cp -R, rsync) would leave there what the app has
  // deleted since the earlier backup, and a restore would bring it back.
  if (replacing) await emptyDirectory(target);
  if (runAs && !runAs.isRoot) await chown(target, runAs.uid, runAs.gid).catch((err) => Promise.reject(ioFailure(`chown ${target}`, err)));
}

/** After commands.backup succeeded: the manifest that lets restore refuse another app's backup. */
async function writeHookManifest(target: string, desc: Pick<Description, 'name' | 'version'>, services: Pick<BackupManifest, 'database' | 'redis'>): Promise<void> {
  // files and bytes are the hook's to know.
  const manifest = makeManifest({ app: desc.name, version: desc.version, files: 0, bytes: 0, ...services, hook: true });
  await writeManifest(target, manifest).catch((err) => Promise.reject(ioFailure(`write ${path.join(target, MANIFEST_FILE)}`, err)));
}

/**
 * Makes the backup directory (0700) when missing; refuses one that holds anything but an earlier
 * backup of `app` (a mistyped --to must not mix a backup into, or let a hook clean, a directory
 * of other things). True when it holds that earlier backup.
 */
async function prepareBackupDir(target: string, app: string, say: (line: string) => void): Promise<boolean> {
  // makeDirectory takes a file, or a link to nothing, for a directory it need not make; the
  // listing below then failed as an internal error, with a stack.
  const notADirectory = await notADirectoryAt(target);
  if (notADirectory !== null) throw new GatewayError('APPPKG_BACKUP_NOT_EMPTY', { path: target, app, found: notADirectory });
  try {
    await makeDirectory(target, 0o700);
  } catch (err) {
    throw ioFailure(`create the backup directory ${target}`, err);
  }
  const entries = await readdir(target);
  if (entries.length === 0) return false;
  const earlier = await readManifest(target);
  const unfinished = earlier ? null : await unfinishedBackupOf(target);
  if (unfinished === app) {
    say(`==> replacing the unfinished backup of ${app} in ${target} (the backup that wrote it failed or was cut short)`);
    return true;
  }
  if (earlier?.app !== app) {
    const found = earlier
      ? `a backup of ${JSON.stringify(earlier.app)}`
      : unfinished !== null
        ? `an unfinished backup of ${JSON.stringify(unfinished)}`
        : `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} and no ${MANIFEST_FILE}`;
    throw new GatewayError('APPPKG_BACKUP_NOT_EMPTY', { path: target, app, found });
  }
  say(`==> replacing the earlier backup of ${app} in ${target} (made ${earlier.createdAt})`);
  return true;
}

/**
 * Removes what `target` (ours: reclaimBackupDir) holds but the unfinished marker; the directory,
 * its mode and owner, stay. What an earlier hook wrote there is the app's user's: removed as that
 * user (remove-as-owner.ts says why).
 */
async function emptyDirectory(target: string): Promise<void> {
  for (const entry of await readdir(target)) {
    if (entry === UNFINISHED_FILE) continue;
    const entryPath = path.join(target, entry);
    const left = await removeTreeAsOwners(entryPath);
    if (left !== null) throw ioFailure(`remove ${entryPath}`, left);
  }
}

/** What is at `target` when something is there that is not a directory (through a symlink too), else null. */
async function notADirectoryAt(target: string): Promise<string | null> {
  const link = await lstat(target).catch(() => null);
  if (link === null) return null;
  if (link.isDirectory()) return null;
  if (link.isSymbolicLink()) {
    const to = await readlink(target).catch(() => '?');
    const end = await stat(target).catch(() => null);
    if (end === null) return `a symlink to ${to}, which is not there`;
    return end.isDirectory() ? null : `a symlink to ${to}, which is not a directory`;
  }
  return link.isFile() ? 'a file' : 'something that is not a directory';
}

/** Without a manifest the directory is not a backup: dropped before its content changes, the unfinished marker in its place. */
async function dropManifest(target: string, app: string): Promise<void> {
  await markUnfinished(target, app).catch((err) => Promise.reject(ioFailure(`replace ${path.join(target, MANIFEST_FILE)} by ${UNFINISHED_FILE}`, err)));
}
