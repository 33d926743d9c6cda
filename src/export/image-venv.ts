// `export venv APP_DIR`: the app's virtualenv built into the state root as `install` builds it
// (offline from the wheels in the app directory, unless the image's pip configuration names an
// index or find-links; with its stamp), without commands.install:
// the image build runs it (containerfile.ts), where no database is there for a hook to
// migrate. The gateway in the pod then finds a current venv and starts at once, and the
// commands the cluster runs with `apppkg-gateway run` (background processes, the hooks' Job)
// have the app's libraries.
import type { Writable } from 'node:stream';
import { loadDescription } from '../description/load.js';
import { pickInterpreter } from '../environment/interpreters.js';
import { appStateDirs, prepareAppStateDirs, resolveStateRoot, stateCacheDir } from '../environment/state-root.js';
import { appUserReader, resolveRunAs } from '../environment/run-as.js';
import { installVenv, type InstallVenvResult } from '../lifecycle/install-venv.js';

export interface BuildImageVenvOptions {
  /** The app directory (in the image). */
  app: string;
  /** The state root, as --state-dir; default as the CLI's. */
  stateDir?: string;
  say?: (line: string) => void;
  /** Where venv's and pip's output goes. */
  output?: Writable;
}

/** The venv of the app, or null when it has no `pip:`. */
export async function buildImageVenv(opts: BuildImageVenvOptions): Promise<InstallVenvResult | null> {
  const desc = await loadDescription(opts.app, { readerFor: appUserReader(null) });
  if (desc.pip === null) {
    opts.say?.(`==> ${desc.name} has no pip: requirements; no virtualenv to build`);
    return null;
  }
  // The interpreter the gateway in the pod will pick (no environment file names another there).
  const interpreter = await pickInterpreter(desc);
  const stateRoot = resolveStateRoot({ flag: opts.stateDir });
  const venvPath = appStateDirs(stateRoot, desc.name).venv;
  // Run as root (on a host, not in the image build, whose recipe runs it as the image's user),
  // pip and what it builds run as the app's user, as install runs them: no environment file
  // names one here, so its directory's owner.
  const runAs = resolveRunAs(desc, null);
  const asUser = runAs && !runAs.isRoot ? { runAs, tmpDir: (await prepareAppStateDirs(stateRoot, desc.name, { uid: runAs.uid, gid: runAs.gid })).tmp } : null;
  return installVenv({ desc, interpreter, venvPath, seedCacheDir: stateCacheDir(stateRoot), say: opts.say, output: opts.output, asUser });
}
