// One app's status (GET /status, `status`, the page) from what the registry keeps of it: its
// versions and their states, the workers of the serving and draining ones, the last problem,
// the health probe, the history, the log's tail, whether it sleeps. The proxy's and the
// metrics' figures (requests, queue, latency) and its services are added by the gateway.
import { noLatency } from '../admin/request-tally.js';
import type { AppStatus, BrokenPackageStatus, VersionStatus, WorkerStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { LogTail } from '../log/log-tail.js';
import type { AppInstance } from './app-instance.js';
import type { AppRecord } from './app-record.js';
import type { BrokenPackage } from './discovery.js';
import { reasonOf } from './refusal.js';

/** The status of an app, but for what the proxy and the metrics know (requests, queue, latency) and its services. */
export type SupervisedAppStatus = Omit<AppStatus, 'requests' | 'errors' | 'failed' | 'queued' | 'latency' | 'services'>;

/** Lines of an app's log in its status (the page's tail). */
const STATUS_LOG_LINES = 40;

/** What the registry's options say of the app (where it is routed, its log, its idle timeout). */
export interface AppPlacement {
  mount: string;
  hosts: string[];
  logFile: string;
  idleTimeoutSeconds: number | null;
  canRollBack: boolean;
}

export function appStatusOf(record: AppRecord, draining: Array<[AppInstance, { desc: Description }]>, where: AppPlacement): SupervisedAppStatus {
  const serving = record.serving;
  const instance = serving?.instance;
  const websocketsIn = (dir: string): number =>
    (serving?.desc.dir === dir ? serving.instance.openWebsockets : 0) +
    draining.reduce((sum, [old, d]) => sum + (d.desc.dir === dir ? old.openWebsockets : 0), 0);
  const workersIn = (dir: string): WorkerStatus[] => [
    ...(serving?.desc.dir === dir ? serving.instance.workerStatus() : []),
    ...draining.flatMap(([old, d]) => (d.desc.dir === dir ? old.workerStatus() : [])),
  ];
  // The serving instance and a draining one of the same version (a restart) feed one tally.
  const instancesIn = (dir: string): AppInstance[] => [
    ...(serving?.desc.dir === dir ? [serving.instance] : []),
    ...draining.filter(([, d]) => d.desc.dir === dir).map(([old]) => old),
  ];
  const figuresOf = (dir: string): Pick<VersionStatus, 'inFlight' | 'queued' | 'requests' | 'failed' | 'latency' | 'websockets' | 'workers'> => {
    const instances = instancesIn(dir);
    const tally = instances[0]?.tally ?? record.tallies.get(dir);
    const answered = tally?.figures() ?? { requests: 0, failed: 0, latency: noLatency() };
    return {
      websockets: websocketsIn(dir),
      inFlight: instances.reduce((sum, i) => sum + i.inFlight, 0),
      queued: instances.reduce((sum, i) => sum + i.queued, 0),
      ...answered,
      workers: workersIn(dir),
    };
  };
  const versions: VersionStatus[] = record.versions.map((desc) => {
    const refused = record.refused.get(desc.dir)?.error;
    const isServing = serving?.desc.dir === desc.dir;
    const isDraining = draining.some(([, d]) => d.desc.dir === desc.dir);
    return {
      version: desc.version,
      dir: desc.dir,
      state: isServing
        ? 'serving'
        : isDraining
          ? 'draining'
          : record.settling.has(desc.dir)
            ? 'settling'
            : refused
              ? 'failed'
              : record.rolledBack.has(desc.dir)
                ? 'rolled-back'
                : 'standby',
      reason: refused && !isServing ? reasonOf(refused) : null,
      ...figuresOf(desc.dir),
    };
  });
  // A draining version whose directory is gone (rolled back by removing it) is still shown.
  for (const [, { desc }] of draining) {
    if (!versions.some((v) => v.dir === desc.dir)) {
      versions.push({ version: desc.version, dir: desc.dir, state: 'draining', reason: null, ...figuresOf(desc.dir) });
    }
  }
  return {
  name: record.name,
  state: !instance ? (record.problem ? 'failed' : 'starting') : instance.crashLooping ? 'crash-loop' : instance.idleState === 'asleep' ? 'idle' : instance.idleState === 'waking' ? 'waking' : instance.state,
  version: serving?.desc.version ?? null,
  dir: serving?.desc.dir ?? null,
  mount: where.mount,
  hosts: where.hosts,
  user: serving?.runAs?.user ?? null,
  runsAsRoot: serving ? (serving.runAs ? serving.runAs.isRoot : process.getuid?.() === 0) : false,
  versions,
  workers: instance?.workerStatus() ?? [],
  restarting: instance?.restartingWorkers() ?? [],
  // A replaced version's processes stay listed while they drain (a route's websockets held).
  processes: [
    ...(instance?.processStatus() ?? []),
    ...draining.flatMap(([old]) => old.processStatus().filter((p) => p.pid !== null).map((p) => ({ ...p, state: 'draining' }))),
  ],
  restarts: record.pastRestarts + (instance?.restarts ?? 0),
  websockets: versions.reduce((sum, v) => sum + v.websockets, 0),
  inFlight: (instance?.inFlight ?? 0) + draining.reduce((sum, [old]) => sum + old.inFlight, 0),
  problem: record.problem ? reasonOf(record.problem) : null,
  health: instance?.lastProbe ?? null,
  history: record.history.list(),
  log: { file: where.logFile, lines: LogTail.of(where.logFile).last(STATUS_LOG_LINES) },
  canRollBack: where.canRollBack,
  idle: instance
    ? {
        timeoutSeconds: where.idleTimeoutSeconds,
        lastActive: new Date(instance.lastActive).toISOString(),
        coldStarts: instance.coldStarts,
        lastColdStartMs: instance.lastColdStartMs,
        coldStartSecondsTotal: instance.coldStartMsTotal / 1000,
        wakeFailure: instance.wakeFailure,
      }
    : null,
  };
}

/** Every app's status, in the order of their names, and the packages whose app.yaml cannot be loaded. */
export function registryStatus(
  records: Iterable<AppRecord>,
  draining: Array<[AppInstance, { desc: Description }]>,
  broken: readonly BrokenPackage[],
  placementOf: (record: AppRecord) => AppPlacement,
): { apps: SupervisedAppStatus[]; broken: BrokenPackageStatus[] } {
  const apps = [...records]
    // Code-point order, as `names`: localeCompare would load ICU's collation data (2.6 MiB of RSS).
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((record) => appStatusOf(record, draining.filter(([, d]) => d.desc.name === record.name), placementOf(record)));
  return { apps, broken: broken.map(({ dir, error }) => ({ dir, code: error.code, message: error.format() })) };
}

/** The app's idle timeout in seconds (SPEC 5.6) as the environment file gives it, or null. */
export function idleTimeoutOf(env: HostEnvironment, name: string): number | null {
  const app = Object.hasOwn(env.apps, name) ? env.apps[name] : undefined;
  return app?.idleTimeout ?? env.defaults.idleTimeout;
}
