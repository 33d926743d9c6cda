// The admin's rollback (docs/admin.md): serve the version below the serving one, and keep the
// one it left out of rotation until a file in it changes (AppRecord.rolledBack), so that the
// next look at the directory does not switch straight back to it. The switch itself is the
// registry's reconcile, as for any new version.
import type { CommandWords } from '../command-words.js';
import { GatewayError } from '../errors.js';
import { saveRolledBack, type AppRecord } from './app-record.js';
import { readPackageTree } from './package-tree.js';
import { label } from './version-judge.js';

/** What a rollback did: the versions it went from and to. */
export interface Rollback {
  from: string;
  to: string;
}

/**
 * Serves the highest version below the serving one that can start; the serving one stays out
 * of rotation until a file in it changes. Throws APPPKG_ADMIN_ACTION_FAILED when there is none
 * to go to or none of them starts (the serving one then keeps serving), its fix in the words of
 * who asked (`words`: the admin's CLI, a Gateway's rollback()).
 */
export async function rollBack(name: string, record: AppRecord | undefined, reconcile: () => Promise<void>, words: Pick<CommandWords, 'logsAndStatus'>): Promise<Rollback> {
  const whereToLook = words.logsAndStatus(name);
  const serving = record?.serving;
  if (!record || !serving) throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action: 'rollback', app: name, reason: 'no version of it serves', whereToLook });
  if (!canRollBack(record)) {
    throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
      action: 'rollback', app: name, reason: `${label(serving.desc)} is the oldest version that can serve`,
      hint: `put the version to go back to beside it in the apps directory (a directory of its own with app.yaml), then roll back`,
    });
  }
  const from = serving.desc;
  record.rolledBack.set(from.dir, readPackageTree(from.dir).signature);
  saveRolledBack(record);
  await reconcile();
  const now = record.serving?.desc;
  if (!now || now.dir === from.dir) {
    record.rolledBack.delete(from.dir);
    saveRolledBack(record);
    throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
      action: 'rollback', app: name, reason: `no earlier version could start${record.problem ? ` (${record.problem.message})` : ''}; ${label(from)} keeps serving`, whereToLook,
    });
  }
  // The history has it already, from the switch itself (VersionJudge).
  return { from: from.version ?? from.dir, to: now.version ?? now.dir };
}

/** Is there a version below the serving one that is neither refused nor still settling? */
export function canRollBack(record: AppRecord): boolean {
  const at = record.versions.findIndex((d) => d.dir === record.serving?.desc.dir);
  if (at < 0) return false;
  return record.versions.slice(at + 1).some((d) => !record.refused.has(d.dir) && !record.settling.has(d.dir) && !record.rolledBack.has(d.dir));
}
