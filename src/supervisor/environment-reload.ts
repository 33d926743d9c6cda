// The environment file read again while the apps serve (SIGHUP, Gateway.reloadEnvironment).
// A file with any problem changes nothing: it is thrown, exactly as a start would report it.
// Otherwise only what changed moves: an app whose processes were started with a changed key is
// replaced the way a deploy replaces it (start, probe, switch, drain: no failed request), an app
// whose mount, hosts or mail domains alone changed keeps its workers, as does one whose changed
// keys only the gateway reads (idle_timeout, drain: applied to the running instance), and a key
// the gateway reads only at its start keeps its old value until then, and the log says so. Not in SPEC §4, which
// promises this for --apps alone: operators coming from nginx or gunicorn expect a reload to
// apply the configuration.
import { appChanges, keysNeedingGatewayRestart } from '../environment/environment-changes.js';
import { loadEnvironmentFile, type AppOverrides } from '../environment/host-file.js';
import { userNotAppliedWarnings } from '../environment/run-as.js';
import { unknownAppWarnings } from '../environment/unknown-apps.js';
import type { Registry } from './registry.js';

/** What a reload applied, app by app (the keys as the file names them). */
export interface EnvironmentReload {
  /** The file read. */
  file: string;
  /** app -> the keys that changed for it: it was restarted (a restart that fails leaves the old one serving, as ever). */
  restarted: Record<string, string[]>;
  /** app -> its changed mount, hosts or mail domains, applied without a restart. */
  rerouted: Record<string, string[]>;
  /** app -> its changed idle_timeout or drain, applied to its running instance without a restart. */
  applied: Record<string, string[]>;
  /** Changed keys that keep their old value until the gateway itself restarts, e.g. `mail.listen`. */
  needsGatewayRestart: string[];
}

export interface EnvironmentReloadOptions {
  say: (line: string) => void;
  /** Keys the gateway's options decide over the file (serve --workers): their change is none. */
  fixed?: Array<keyof AppOverrides>;
  /** --apps DIR: the file's `apps:` entries naming no app there are said; null or absent under serve. */
  appsDir?: string | null;
  /**
   * SIGHUP: the registry's look with the new file is also the one that retries refused versions
   * and restarts a crash loop (Registry.reconcile's force), so that the apps directory, every
   * app.yaml in it, is read once.
   */
  rescan?: boolean;
  /** What a refusal calls the file's option (the library's `environment`); default `--environment`. */
  fileKey?: string;
  /** Called once the registry has the new file, before the apps it restarts are judged. */
  inForce?: () => void;
}

/**
 * Reads `file` and has `registry` run with it. Throws APPPKG_ENVFILE_INVALID (every problem with
 * its line), APPPKG_ENVFILE_NOT_FOUND or APPPKG_FILE_UNREADABLE, and then the environment read
 * before stays in force, whole. Resolves once the restarted apps serve again.
 */
export async function reloadEnvironment(registry: Registry, file: string, opts: EnvironmentReloadOptions): Promise<EnvironmentReload> {
  const before = registry.hostEnv;
  let after = await loadEnvironmentFile(file, opts.fileKey);
  const shown = after.file ?? file;
  const held = keysNeedingGatewayRestart(before, after);
  if (held.length > 0) {
    // The listener's socket, spool and retry schedule were built from the old block: keeping it
    // whole keeps what the environment says true of what runs.
    after = { ...after, mail: before.mail };
    opts.say(`${shown}: ${held.join(', ')} changed, but the mail listener is set up only when the gateway starts; it keeps its old settings until then (restart needed)`);
  }
  const report: EnvironmentReload = { file: shown, restarted: {}, rerouted: {}, applied: {}, needsGatewayRestart: held };
  for (const name of registry.names) {
    const serving = registry.servingOf(name);
    const services = serving?.instance?.desc.services;
    const toldMount = Object.keys(serving?.instance?.desc.processes ?? {}).length > 0;
    const noWorkers = serving?.instance?.desc.kind === 'command';
    const { routes, live } = appChanges(before, after, name, { services, fixed: opts.fixed, noWorkers });
    // Against what its processes run with, not the file as last read: a restart that reload
    // asked for and that was refused (user: naming no user yet) is asked for again, and the
    // keys named are all those that differ from what runs, or from what a restart under way (an
    // earlier SIGHUP's) brings.
    const { restart } = appChanges(serving?.restartFor ?? serving?.hostEnv ?? before, after, name, { services, fixed: opts.fixed, toldMount, noWorkers });
    if (restart.length > 0) {
      report.restarted[name] = restart;
      opts.say(`${name}: ${[...new Set([...restart, ...routes, ...live])].join(', ')} changed in ${shown}; restarting it (new workers take over, the old ones drain)`);
    } else if (routes.length > 0 || live.length > 0) {
      const done = [...(routes.length > 0 ? ['routed anew'] : []), ...(live.length > 0 ? ['applied'] : [])].join(' and ');
      opts.say(`${name}: ${[...routes, ...live].join(', ')} changed in ${shown}; ${done}, its workers keep running`);
    }
    if (routes.length > 0) report.rerouted[name] = routes;
    if (live.length > 0) report.applied[name] = live;
  }
  if (Object.keys(report.rerouted).length === 0 && Object.keys(report.restarted).length === 0 && Object.keys(report.applied).length === 0 && held.length === 0) {
    opts.say(`${shown}: read again; nothing in it changed for any app`);
  }
  const judged = registry.useEnvironment(after, Object.keys(report.restarted), opts.rescan === true, Object.keys(report.applied));
  opts.inForce?.();
  await judged;
  // After the registry's look at the apps directory, not a look of its own: an app deployed
  // together with its new entry (the way one is added) is known by then, and its entry is no mistake.
  if (opts.appsDir) for (const line of [...unknownAppWarnings(after, registry.knownNames, opts.appsDir), ...userNotAppliedWarnings(after, process.getuid?.())]) opts.say(line);
  return report;
}
