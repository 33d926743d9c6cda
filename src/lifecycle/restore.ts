// `apppkg-gateway restore APP_DIR --from DIR` (SPEC §3): commands.restore with
// APPPKG_BACKUP_DIR=DIR; without the hook, the data directory replaced by the backup's copy
// (copied beside it, then swapped). Either way an empty or foreign DIR is refused first, and
// the app's database and Redis keys in DIR/database/ (SPEC 5.2) are put in place of the app's
// too, as the data directory is.
import type { Stats } from 'node:fs';
import { chmod, chown, lstat, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { describeApp } from '../app-context.js';
import { countOf } from '../count.js';
import { resolveRunAs, type RunAs } from '../environment/run-as.js';
import { appStateDirs, prepareAppStateDirs, resolveStateRoot, type Owner } from '../environment/state-root.js';
import { GatewayError } from '../errors.js';
import { inDirectory, openDirectoryNoFollow } from '../no-follow.js';
import { removeAsOwner, removeTreeAsOwners } from '../remove-as-owner.js';
import { BACKUP_DATA_DIR, MANIFEST_FILE, backupOf, type BackupManifest } from './backup-manifest.js';
import { chownTree, copyBeside, countTree, giveBackModes, ioFailure, isInside, swapInto } from './data-tree.js';
import { resolveForHook, runHook } from './hook.js';
import { quiet, seconds, type LifecycleOptions } from './progress.js';
import { processesOfApp } from './running-app.js';
import { appServiceScope, assertDatabaseRestorable, restoreDatabase, type AppServiceScope } from '../services/database-backup.js';
import { assertRedisRestorable, restoreRedis } from '../services/redis-backup.js';

export interface RestoreOptions extends LifecycleOptions {
  from: string;
}

export type RestoreResult = { hook: true } | { hook: false; manifest: BackupManifest; files: number };

export async function restoreApp(opts: RestoreOptions): Promise<RestoreResult> {
  const say = opts.say ?? quiet;
  const started = performance.now();
  const dir = path.resolve(opts.dir);
  const source = path.resolve(opts.from);
  const { desc, overrides, hostEnv } = await describeApp({ dir, mode: 'production', environmentFile: opts.environmentFile, hostEnv: opts.hostEnv, desc: opts.desc });

  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  const manifest = await restorableBackup(desc.name, source, stateRoot);
  const scope = appServiceScope(desc, hostEnv, stateRoot, say);
  // As root, the data belongs to the app's user (the gateway runs the app as that user).
  const runAs = resolveRunAs(desc, overrides.user, overrides.userAt);
  const owner = ownerOf(runAs);

  if (desc.commands.restore) {
    // The hook's environment once the services are restored (on a fresh host, provisioned);
    // runHook throws on a failed hook (APPPKG_COMMAND_FAILED, naming it).
    const run = async (env: { APPPKG_BACKUP_DIR: string }): Promise<number> => {
      await runHook(await resolveForHook({ ...opts, dir, desc, hostEnv }), 'restore', { extraEnv: env, say });
      return 0;
    };
    await restoreWithHook(scope, source, manifest, owner, run);
    say(`==> ${desc.name} restored from ${source} by commands.restore in ${seconds(started)}`);
    return { hook: true };
  }

  const copied = path.join(source, BACKUP_DATA_DIR);
  if (!(await lstat(copied).then((s) => s.isDirectory(), () => false))) {
    throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: source, app: desc.name, found: `no ${BACKUP_DATA_DIR}/ directory beside ${MANIFEST_FILE}` });
  }

  // Refused before the data changes: a backup's database of another kind than the app's now, or
  // a server that does not answer.
  await assertServicesRestorable(scope, manifest);
  const dirs = await prepareAppStateDirs(scope.stateRoot, desc.name, owner);
  const sourceOwner = await untrustedOwner(source, copied, dirs.data);
  const { staging, foreign } = await copyBeside(copied, dirs.data, 'restore', { onlyOwnedBy: sourceOwner?.uid });
  if (foreign.length > 0) {
    await removeTreeAsOwners(staging);
    const some = foreign.slice(0, FOREIGN_NAMED).join(', ') + (foreign.length > FOREIGN_NAMED ? ', ...' : '');
    throw new GatewayError('APPPKG_RESTORE_NOT_OWNED', { path: source, data: copied, owned: sourceOwner!.path, uid: sourceOwner!.uid, files: foreign.length, found: some });
  }
  // Counted while the copy is root's: once it is the app's user's, a process of that user's may
  // rename in it as it is walked.
  const count = await countTree(staging);
  try {
    await chmod(staging, (await stat(dirs.data)).mode & 0o7777);
    if (owner) await chownTree(staging, owner);
    await giveBackModes(staging, manifest.directoryModes, owner?.uid);
  } catch (err) {
    // Partly the app's user's by now: removed as each part's owner (remove-as-owner.ts says why).
    await removeTreeAsOwners(staging);
    throw ioFailure(`set the owner and mode of ${staging}`, err);
  }
  await swapInto(staging, dirs.data, owner ? (old) => removeOld(old, owner, say) : undefined);
  await restoreServices(scope, source, manifest, owner);
  const version = manifest.version ? ` of version ${manifest.version}` : '';
  say(`==> restored ${countOf(count.files, 'file')} of ${desc.name}'s data from ${source} (backup${version} made ${manifest.createdAt}) in ${seconds(started)}`);
  return { hook: false, manifest, files: count.files };
}

/** How many of the files refused as not DIR's owner's the refusal names. */
const FOREIGN_NAMED = 3;

/**
 * As root, who besides root could have put what DIR/data holds there, a hard link to any file
 * among it, judged on `source` (DIR), `copied` (DIR/data) and every directory below it, each
 * opened from the one above, no link followed: the first that is not root's, with its owner,
 * whose rule backup's then is (data-tree.ts onlyOwnedBy: only that user's regular files; unlike
 * backup's, a file left out refuses the restore, which would replace the app's data without it).
 * Those that users other than root may write in (mode o+w, or g+w of a group not root's) refuse
 * the restore (APPPKG_RESTORE_NOT_OWNED), all named with their modes: what is there may be
 * anyone's, and a hard link to a root-only file is root's, as the backup's own files are, so
 * nothing on the tree tells the backup's files from what another put there since; only the
 * administrator, looking, can. A backup made before backup withheld go+w (directoryModes) holds
 * an app's own 0777 directory so: the refusal names the `chmod` that gives each its mode back
 * in `dataDir` once restored, since the fix, `chmod go-w`, takes it away. Undefined when all are
 * root's and only root writes there (as backup leaves DIR), or we are not root (we read only
 * what we may).
 */
async function untrustedOwner(source: string, copied: string, dataDir: string): Promise<{ path: string; uid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let owner: { path: string; uid: number } | undefined;
  const open: Array<{ dir: string; mode: number }> = [];
  const judge = (dir: string, st: Stats) => {
    if ((st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0)) open.push({ dir, mode: st.mode & 0o7777 });
    if (st.uid !== 0) owner ??= { path: dir, uid: st.uid };
  };
  judge(source, await lstat(source));
  const walk = async (dir: FileHandle, at: string): Promise<void> => {
    try {
      judge(at, await dir.stat());
      for (const entry of await readdir(inDirectory(dir, '.'), { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        // Gone or swapped for a link since the listing: the copy, which follows no link, says so.
        const sub = await openDirectoryNoFollow(inDirectory(dir, entry.name)).catch(() => null);
        if (sub !== null) await walk(sub, path.join(at, entry.name));
      }
    } finally {
      await dir.close();
    }
  };
  await walk(await openDirectoryNoFollow(copied), copied);
  if (open.length > 0) {
    const octal = (mode: number) => mode.toString(8).padStart(4, '0');
    // DIR's mode is no app's, and DIR/data's is the app's data directory's once restored.
    const below = open.filter(({ dir }) => isInside(dir, copied) && dir !== copied);
    throw new GatewayError('APPPKG_RESTORE_NOT_OWNED', {
      path: source,
      data: copied,
      writable: open[0].dir,
      mode: octal(open[0].mode),
      others: open.slice(1).map(({ dir, mode }) => `${dir} (mode ${octal(mode)})`).join(', '),
      giveBack: below.map(({ dir, mode }) => `chmod ${octal(mode)} ${path.join(dataDir, path.relative(copied, dir))}`).join('; '),
    });
  }
  return owner;
}

/**
 * The app's data as it was before the restore (`old`, beside the data directory in the app's
 * state directory, root's) removed as the app's user (remove-as-owner.ts says why); what stays
 * is said, not fatal: the restore is done.
 */
async function removeOld(old: string, owner: Owner, say: (line: string) => void): Promise<void> {
  const left = await removeAsOwner(old, owner);
  if (left !== null) say(`==> note: the data replaced by the restore is left in ${old} (${left}): remove it with rm -rf ${old}`);
}

/**
 * The manifest of `app`'s backup in `source`, refused before anything runs, hook or not: nothing
 * there, or another app's backup (a hook would load another app's data without a word); or the
 * app running, which keeps its data directory open: swapped underneath it, every write after the
 * restore would go to the old, deleted one (as uninstall, refused; issue 13).
 */
export async function restorableBackup(app: string, source: string, stateRoot: string): Promise<BackupManifest> {
  const manifest = await backupOf(source, app);
  const running = await processesOfApp(appStateDirs(stateRoot, app).data);
  if (running.length > 0) throw new GatewayError('APPPKG_APP_RUNNING', { app, pids: running.join(', '), action: 'restore' });
  return manifest;
}

/** Who the restored data belongs to: the app's user, when we are root and it is another. */
export function ownerOf(runAs: RunAs | null): Owner | undefined {
  return runAs && !runAs.isRoot ? { uid: runAs.uid, gid: runAs.gid } : undefined;
}

/**
 * commands.restore on `manifest`'s backup in `source`: the app's database and Redis keys first
 * (in place of the app's), so that the hook finds them, then the hook, run by `run`
 * with APPPKG_BACKUP_DIR; resolves with its exit status: `restore --from` and the library's
 * runCommand('restore') alike.
 */
export async function restoreWithHook(
  scope: AppServiceScope,
  source: string,
  manifest: BackupManifest,
  owner: Owner | undefined,
  run: (env: { APPPKG_BACKUP_DIR: string }) => Promise<number>,
): Promise<number> {
  await assertServicesRestorable(scope, manifest);
  await restoreServices(scope, source, manifest, owner);
  // The hook reads DIR as the app's user, and backup took DIR back from that user once its hook
  // had written it (backup.ts): given again, as backup gives it to commands.backup.
  if (owner) await chown(source, owner.uid, owner.gid).catch((err) => Promise.reject(ioFailure(`give ${source} to the app's user for commands.restore`, err)));
  return run({ APPPKG_BACKUP_DIR: source });
}

/** Refuses, before anything changes, a backup's database or Redis keys the app has no place for here, or whose server does not answer. */
async function assertServicesRestorable(scope: AppServiceScope, manifest: BackupManifest): Promise<void> {
  if (manifest.database) await assertDatabaseRestorable(scope, manifest.database);
  if (manifest.redis) await assertRedisRestorable(scope, manifest.redis);
}

async function restoreServices(scope: AppServiceScope, source: string, manifest: BackupManifest, owner: Owner | undefined): Promise<void> {
  const { desc, say } = scope;
  if (manifest.database) {
    await restoreDatabase(scope, source, manifest.database, owner);
    say?.(`==> restored ${desc.name}'s ${manifest.database.kind} database from ${path.join(source, manifest.database.file)}`);
  }
  if (manifest.redis) {
    await restoreRedis(scope, source, manifest.redis);
    say?.(`==> restored ${countOf(manifest.redis.keys, 'Redis key')} of ${desc.name} from ${path.join(source, manifest.redis.file)}`);
  }
}
