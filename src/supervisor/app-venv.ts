// Under --apps and serve, an app with `pip:` gets its virtualenv as `apppkg-gateway install` builds it
// (lifecycle/install-venv.ts: from the app's files and the host's pip sources, into a new directory): on its first install, and when a
// new version's requirements or interpreter differ from the venv's stamp. Without this an app
// copied under --apps was refused with ModuleNotFoundError while `check` knew that `install`
// was needed (issue 13). Unchanged requirements reuse the venv at once.
// A new build is switched to only once the version that needs it has started: a refused
// version leaves the serving one with the venv it was started with, and the version it replaces
// keeps its own until it has drained (registry.ts pruneVenvBuilds): removed at the switch, it
// failed the requests it still held (importlib.metadata, a lazy import, a respawn's python).
import type { AppContext } from '../app-context.js';
import { appStateDirs, stateCacheDir } from '../environment/state-root.js';
import { removeVenvBuild, switchVenv } from '../environment/venv.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { installVenv } from '../lifecycle/install-venv.js';
import type { AppLog } from '../log/app-log.js';

/** A venv built for a version that has yet to start: switch to it, or discard it. */
export interface PendingVenv {
  dir: string;
  switchTo(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Builds the venv of `ctx` unless the current one fits; pip's and venv's output go to the
 * app's log, one line per step to `say`. Returns the new build (null when the venv is reused,
 * or the app has no `pip:`): the caller starts the version on it (resolveApp's `venvDir`).
 * A failure is APPPKG_VENV_FAILED, APPPKG_PIP_CONFIG_REFUSED or APPPKG_PIP_INSTALL_FAILED with `underApps`, whose hint
 * names `apppkg-gateway install`.
 */
export async function buildAppVenv(ctx: AppContext, log: AppLog, say: (line: string) => void): Promise<PendingVenv | null> {
  if (!ctx.desc.pip) return null;
  const venvPath = appStateDirs(ctx.stateRoot, ctx.desc.name).venv;
  try {
    const result = await installVenv({
      desc: ctx.desc,
      interpreter: ctx.interpreter,
      venvPath,
      seedCacheDir: stateCacheDir(ctx.stateRoot),
      say: (line) => say(`${ctx.desc.name}: ${line.replace(/^==> /, '')}`),
      output: log,
      switchWhenBuilt: false,
      // pip builds what the app's requirements name (a setup.py, a build backend): as its user.
      asUser: ctx.runAs && { runAs: ctx.runAs, tmpDir: ctx.appEnv.tmpDir },
    });
    if (result.reused) return null;
    return {
      dir: result.dir,
      // The version it replaces drains on its own build: the registry removes that once it is gone.
      switchTo: () => switchVenv(venvPath, result.dir, true),
      discard: () => removeVenvBuild(result.dir),
    };
  } catch (err) {
    if (isGatewayError(err) && ['APPPKG_VENV_FAILED', 'APPPKG_PIP_CONFIG_REFUSED', 'APPPKG_PIP_INSTALL_FAILED'].includes(err.code)) {
      throw new GatewayError(err.code, { ...err.details, underApps: true, dir: ctx.desc.dir, cause: err });
    }
    throw err;
  }
}
