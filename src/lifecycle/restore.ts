// `apppkg-gateway restore APP_DIR --from DIR` (SPEC §3): commands.restore with
// APPPKG_BACKUP_DIR=DIR; without the hook, the data directory replaced by the backup's copy
// (copied beside it, then swapped). Either way an empty or foreign DIR is refused first, and
// the app's database and Redis keys in DIR/database/ (SPEC 5.2) are loaded too, into empty ones
// unless `force`.
import { chmod, lstat, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeApp } from '../app-context.js';
import { countOf } from '../count.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { resolveRunAs } from '../environment/run-as.js';
import { appStateDirs, prepareAppStateDirs, resolveStateRoot, type Owner } from '../environment/state-root.js';
import { GatewayError } from '../errors.js';
import { BACKUP_DATA_DIR, MANIFEST_FILE, backupOf, type BackupManifest } from './backup-manifest.js';
import { chownTree, copyBeside, countTree, ioFailure, swapInto } from './data-tree.js';
import { resolveForHook, runHook } from './hook.js';
import { quiet, seconds, type LifecycleOptions } from './progress.js';
import { processesOfApp } from './running-app.js';
import { assertDatabaseRestorable, restoreDatabase, type AppServiceScope } from '../services/database-backup.js';
import { assertRedisRestorable, restoreRedis } from '../services/redis-backup.js';

export interface RestoreOptions extends LifecycleOptions {
  from: string;
  /** Replace the app's database even when it holds tables (else APPPKG_SERVICE_NOT_EMPTY). */
  force?: boolean;
}

export type RestoreResult = { hook: true } | { hook: false; manifest: BackupManifest; files: number };

export async function restoreApp(opts: RestoreOptions): Promise<RestoreResult> {
  const say = opts.say ?? quiet;
  const started = Date.now();
  const dir = path.resolve(opts.dir);
  const source = path.resolve(opts.from);
  const { desc, overrides, hostEnv } = await describeApp({ dir, mode: 'production', environmentFile: opts.environmentFile, hostEnv: opts.hostEnv, desc: opts.desc });

  // Nothing there, or another app's backup, is never a backup to restore, hook or not: refused
  // before anything runs (a hook would load another app's data without a word).
  const manifest = await backupOf(source, desc.name);
  // A running app keeps its data directory open: swapped underneath it, every write after the
  // restore would go to the old, deleted one (as uninstall, refused; issue 13).
  const running = await processesOfApp(appStateDirs(resolveStateRoot({ flag: opts.stateDir }), desc.name).data);
  if (running.length > 0) throw new GatewayError('APPPKG_APP_RUNNING', { app: desc.name, pids: running.join(', '), action: 'restore' });

  const scope: AppServiceScope = {
    desc, hostEnv, stateRoot: resolveStateRoot({ flag: opts.stateDir }), say,
    python: async () => (await pickInterpreter(desc, { override: overrides.python ?? undefined })).executable,
  };
  // As root, the data belongs to the app's user (the gateway runs the app as that user).
  const runAs = resolveRunAs(desc, overrides.user, overrides.userAt);
  const owner: Owner | undefined = runAs && !runAs.isRoot ? { uid: runAs.uid, gid: runAs.gid } : undefined;
  const force = opts.force === true;

  if (desc.commands.restore) {
    // The database first, so that the hook finds it.
    await assertServicesRestorable(scope, manifest, force, opts.dir);
    await restoreServices(scope, source, manifest, force, owner);
    const ctx = await resolveForHook({ ...opts, dir });
    await runHook(ctx, 'restore', { extraEnv: { APPPKG_BACKUP_DIR: source }, say });
    say(`==> ${desc.name} restored from ${source} by commands.restore in ${seconds(started)}`);
    return { hook: true };
  }

  const copied = path.join(source, BACKUP_DATA_DIR);
  if (!(await lstat(copied).then((s) => s.isDirectory(), () => false))) {
    throw new GatewayError('APPPKG_BACKUP_FOREIGN', { path: source, app: desc.name, found: `no ${BACKUP_DATA_DIR}/ directory beside ${MANIFEST_FILE}` });
  }

  // Refused before the data changes: a database that holds tables is not overwritten unforced.
  await assertServicesRestorable(scope, manifest, force, opts.dir);
  const dirs = await prepareAppStateDirs(scope.stateRoot, desc.name, owner);
  const staging = await copyBeside(copied, dirs.data, 'restore');
  try {
    await chmod(staging, (await stat(dirs.data)).mode & 0o7777);
    if (owner) await chownTree(staging, owner);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw ioFailure(`set the owner and mode of ${staging}`, err);
  }
  const count = await countTree(staging);
  await swapInto(staging, dirs.data);
  await restoreServices(scope, source, manifest, force, owner);
  const version = manifest.version ? ` of version ${manifest.version}` : '';
  say(`==> restored ${countOf(count.files, 'file')} of ${desc.name}'s data from ${source} (backup${version} made ${manifest.createdAt}) in ${seconds(started)}`);
  return { hook: false, manifest, files: count.files };
}

/** Refuses, before anything changes, a database or Redis that holds data (unless `force`). */
async function assertServicesRestorable(scope: AppServiceScope, manifest: BackupManifest, force: boolean, appDir: string): Promise<void> {
  if (manifest.database) await assertDatabaseRestorable(scope, manifest.database, force, appDir);
  if (manifest.redis) await assertRedisRestorable(scope, manifest.redis, force, appDir);
}

async function restoreServices(scope: AppServiceScope, source: string, manifest: BackupManifest, force: boolean, owner: Owner | undefined): Promise<void> {
  const { desc, say } = scope;
  if (manifest.database) {
    await restoreDatabase(scope, source, manifest.database, force, owner);
    say?.(`==> restored ${desc.name}'s ${manifest.database.kind} database from ${path.join(source, manifest.database.file)}`);
  }
  if (manifest.redis) {
    await restoreRedis(scope, source, manifest.redis, force);
    say?.(`==> restored ${countOf(manifest.redis.keys, 'Redis key')} of ${desc.name} from ${path.join(source, manifest.redis.file)}`);
  }
}
