// `apppkg-gateway install` (SPEC §3): deb packages (apt with --system), the per-app virtualenv
// for `pip:`, then the app's services (SPEC 5.2: its database, role, Redis user, created where
// missing), then commands.install — after the venv, so the hook's `python` is the venv's.
import path from 'node:path';
import type { Writable } from 'node:stream';
import { describeApp } from '../app-context.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { prepareAppStateDirs, resolveStateRoot, stateCacheDir } from '../environment/state-root.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { placeOf } from '../description/key-place.js';
import { ensureDebPackages } from './deb-packages.js';
import { resolveForHook, runHook } from './hook.js';
import { installVenv, type InstallVenvResult } from './install-venv.js';
import { installedFile, recordInstalled } from './installed-version.js';
import { OutputTail } from './output-tail.js';
import { ownerOf } from './restore.js';
import { resolveRunAs } from '../environment/run-as.js';
import { quiet, seconds, type LifecycleOptions } from './progress.js';
import { serviceEnvironment } from '../services/app-services.js';

export interface InstallOptions extends LifecycleOptions {
  /** apt-get install the missing deb packages (root only). */
  system?: boolean;
  /** Rebuild the venv even when its requirements did not change. */
  rebuild?: boolean;
  /** Where apt's, pip's and the hook's output goes; default: ours. */
  output?: Writable;
}

export interface InstallResult {
  name: string;
  venv: InstallVenvResult | null;
  ranHook: boolean;
}

/**
 * Runs `step` with its program's output sent on to the caller's `output` through an OutputTail,
 * and a `code` it fails with carrying that output's last lines (`outputTail`): the caller's
 * stream may keep nothing, and the fix that sent its reader there sent them nowhere. Without
 * an `output` the program writes to our stderr, above the error, as before.
 */
async function withOutputTail<T>(output: Writable | undefined, code: ErrorCode, step: (output: Writable | undefined) => Promise<T>): Promise<T> {
  const tail = output && new OutputTail(output);
  return step(tail).catch((err: unknown) => {
    if (tail === undefined || !isGatewayError(err) || err.code !== code) throw err;
    throw new GatewayError(err.code, { ...err.details, outputTail: tail.lines(OUTPUT_TAIL_LINES) });
  });
}

/** As many of the last lines as a fix quotes: a hook's or apt's closing error, not its log. */
const OUTPUT_TAIL_LINES = 5;

export async function installApp(opts: InstallOptions): Promise<InstallResult> {
  const say = opts.say ?? quiet;
  const started = performance.now();
  const dir = path.resolve(opts.dir);
  const { desc, overrides, hostEnv } = await describeApp({ dir, mode: 'production', environmentFile: opts.environmentFile, hostEnv: opts.hostEnv, desc: opts.desc });
  const uid = process.getuid?.() ?? -1;
  if (opts.system && uid !== 0) {
    throw new GatewayError('APPPKG_INSTALL_NEEDS_ROOT', { uid, dir: opts.dir, packages: desc.deb.join(' ') });
  }

  if (desc.deb.length > 0) await withOutputTail(opts.output, 'APPPKG_APT_FAILED', (output) => ensureDebPackages(desc.deb, { system: opts.system === true, say, output }));
  else if (opts.system) say('==> deb: no packages listed');

  // Asked even without `pip:`: an app no interpreter here can run is not installed, and saying
  // so after the deb packages (which may bring one) spares the user a start that refuses it.
  // Placed as check places it: at the environment file's python when the host chose it, else
  // at app.yaml's `python:`, whose requirement none satisfies. Not an interpreter that did not
  // answer in time: that is the host's (its load, a hung mount), and app.yaml is not to blame.
  const interpreter = await pickInterpreter(desc, { override: overrides.python ?? undefined, overrideAt: overrides.pythonAt ?? undefined }).catch((err) => {
    const at = placeOf(desc, ['python']);
    if (!isGatewayError(err) || err.file || !at || err.code === 'APPPKG_PY_PROBE_TIMEOUT') throw err;
    throw new GatewayError(err.code, { ...err.details, ...at });
  });
  let venv: InstallVenvResult | null = null;
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  // As the gateway would (SPEC §2): pip, and what it builds, as the app's user when we are root.
  const runAs = desc.pip ? resolveRunAs(desc, overrides.user, overrides.userAt) : null;
  const dirs = await prepareAppStateDirs(stateRoot, desc.name, ownerOf(runAs));
  if (desc.pip) {
    const asUser = runAs && { runAs, tmpDir: dirs.tmp };
    venv = await installVenv({ desc, interpreter, venvPath: dirs.venv, appDataDir: dirs.data, seedCacheDir: stateCacheDir(stateRoot), rebuild: opts.rebuild, say, output: opts.output, asUser });
  }

  // Before the hook: `migrate` needs the database there, and the hook's environment names it.
  await serviceEnvironment({ desc, hostEnv, stateRoot, provision: true, say: (line) => say(`==> ${line}`) });

  let ranHook = false;
  if (desc.commands.install) {
    const ctx = await resolveForHook({ ...opts, dir });
    ranHook = await withOutputTail(opts.output, 'APPPKG_COMMAND_FAILED', (output) => runHook(ctx, 'install', { say, output }));
  }
  // The gateway runs commands.install on an app's first start unless this marker says it ran:
  // `install` then `--apps` must not run it twice, nor commands.update of this version at the
  // gateway's start.
  recordInstalled(installedFile(opts.stateDir, desc.name), desc, 'install');
  if (!desc.pip && desc.deb.length === 0 && !ranHook) say('==> nothing to install: no deb, pip or commands.install');
  say(`==> ${desc.name} installed in ${seconds(started)}`);
  return { name: desc.name, venv, ranHook };
}
