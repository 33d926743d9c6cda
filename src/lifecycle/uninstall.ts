// `apppkg-gateway uninstall APP_DIR` (SPEC §3): after confirmation, commands.uninstall, then the
// app's whole state directory (data, log, tmp, venv and its builds, run helpers, markers) is
// removed, and its database, role and Redis user dropped (SPEC 5.2, issue 15). The app directory
// itself is never touched.
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { describeApp } from '../app-context.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { GatewayError } from '../errors.js';
import { removeTreeAsOwners } from '../remove-as-owner.js';
import { shellWord } from '../shell-words.js';
import { isInside } from './data-tree.js';
import { resolveForHook, runHook } from './hook.js';
import { processesOfApp } from './running-app.js';
import { quiet, seconds, type LifecycleOptions } from './progress.js';
import { removeServices } from '../services/remove-services.js';

export interface UninstallOptions extends LifecycleOptions {
  /**
   * Asked once the app's name and state directory are known, before anything runs; false =
   * stop with APPPKG_NOT_CONFIRMED. Throw from it to refuse with a reason of your own.
   */
  confirm: (question: { name: string; stateDir: string }) => Promise<boolean>;
}

export interface UninstallResult {
  name: string;
  removed: string | null;
  ranHook: boolean;
  /** What was dropped on the host's servers (database and role, Redis user). */
  droppedServices: string[];
}

export async function uninstallApp(opts: UninstallOptions): Promise<UninstallResult> {
  const say = opts.say ?? quiet;
  const dir = path.resolve(opts.dir);
  const { desc, hostEnv } = await describeApp({ dir, mode: 'production', environmentFile: opts.environmentFile, hostEnv: opts.hostEnv, desc: opts.desc });
  const stateDir = appStateDirs(resolveStateRoot({ flag: opts.stateDir }), desc.name).app;
  // Everything under the state directory goes: it must not hold the app itself.
  if (isInside(desc.dir, stateDir) || isInside(dir, stateDir)) {
    throw new GatewayError('APPPKG_REMOVE_FAILED', {
      path: stateDir,
      reason: `it holds the app directory ${desc.dir}`,
      fix: 'move the app directory out of the state root, or pass another --state-dir',
    });
  }
  // Its state is what a running app reads and writes: removing it underneath would leave a
  // served app without its data (issue 13). Said before the question, so nobody answers it in vain.
  const running = await processesOfApp(appStateDirs(resolveStateRoot({ flag: opts.stateDir }), desc.name).data);
  if (running.length > 0) throw new GatewayError('APPPKG_APP_RUNNING', { app: desc.name, pids: running.join(', '), action: 'uninstall' });
  if (!(await opts.confirm({ name: desc.name, stateDir }))) {
    throw new GatewayError('APPPKG_NOT_CONFIRMED', { action: `uninstall of ${desc.name}`, reason: 'the answer was not "y"' });
  }
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  // Not installed here (never run, or uninstalled already): no hook to run, nothing to remove.
  if (!(await lstat(stateDir).then(() => true, () => false))) {
    // Its database may still have been made (by a restore, say): that goes all the same.
    const droppedServices = await removeServices({ desc, hostEnv, stateRoot, say });
    say(`==> nothing to remove: ${stateDir} does not exist`);
    return { name: desc.name, removed: null, ranHook: false, droppedServices };
  }
  const started = performance.now();
  let ranHook = false;
  if (desc.commands.uninstall) ranHook = await runHook(await resolveForHook({ ...opts, dir }), 'uninstall', { say });
  // After the hook (it may still need the database), before the files: a server that cannot be
  // reached stops the uninstall here, and running it again finishes it.
  const droppedServices = await removeServices({ desc, hostEnv, stateRoot, say, removedAfter: `${stateDir} (data, logs, tmp, venv)` });
  // Its data, tmp and venv are the app's user's under a root gateway: removed as that user
  // (remove-as-owner.ts says why).
  const left = await removeTreeAsOwners(stateDir);
  if (left !== null) {
    throw new GatewayError('APPPKG_REMOVE_FAILED', {
      path: stateDir,
      reason: left,
      fix: `what is left, the app's user may not remove (a directory root or another user put in its data): look at it, then remove it with rm -rf ${shellWord(stateDir)}`,
    });
  }
  say(`==> removed ${stateDir} (data, log, tmp, venv, run) in ${seconds(started)}; ${desc.dir} is untouched`);
  return { name: desc.name, removed: stateDir, ranHook, droppedServices };
}
