// One app's status (GET /status, `status`, the page) from what the registry keeps of it: its
// versions and their states, the workers of the serving and draining ones, the last problem,
// the health probe, the history, the log's tail, whether it sleeps. The proxy's and the
// metrics' figures (requests, queue, latency) and its services are added by the gateway.
import { noLatency, type TallyFigures } from '../admin/request-tally.js';
import type { AppStatus, BrokenPackageStatus, VersionStatus, WaitingForStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { LogTail } from '../log/log-tail.js';
import { wallTimeOf } from '../wall-clock.js';
import type { AppInstance } from './app-instance.js';
import { isStarting, type AppRecord, type ServiceWait } from './app-record.js';
import { brokenReason } from './broken-description.js';
import { realDir, type BrokenPackage } from './discovery.js';
import { reasonOf } from './refusal.js';

/** The status of an app, but for what the proxy and the metrics know (requests, queue, latency), its services and its mail. */
export type SupervisedAppStatus = Omit<AppStatus, 'requests' | 'errors' | 'failed' | 'refusedForRoom' | 'websocketsRefusedForRoom' | 'queued' | 'latency' | 'services' | 'mail'>;

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

/** What a version's row counts. */
type RowFigures = Pick<VersionStatus, 'inFlight' | 'queued' | 'requests' | 'failed' | 'latency' | 'websockets' | 'workers'>;

export function appStatusOf(record: AppRecord, draining: Array<[AppInstance, { desc: Description }]>, where: AppPlacement): SupervisedAppStatus {
  const serving = record.serving;
  const instance = serving?.instance;
  // Each row counts the instances that hold what it shows. The serving version's row counts the
  // serving instance only: an older instance of the same version (a restart, or a rollback to a
  // version whose old instance still drains) gets a `draining` row of its own, since what it holds
  // ends with its drain (websockets closed 1012) however long the version serves.
  const instancesIn = (dir: string): AppInstance[] =>
    serving?.desc.dir === dir ? [serving.instance] : draining.filter(([, d]) => d.desc.dir === dir).map(([old]) => old);
  // The instance of the version being started, its workers importing or probed: shown starting,
  // with their pids, on that version's `starting` row.
  const starting = record.startingInstance !== null && record.judging !== null ? [record.startingInstance] : [];
  const figuresOf = (instances: AppInstance[], answered: TallyFigures): RowFigures => ({
    websockets: instances.reduce((sum, i) => sum + i.openWebsockets, 0),
    inFlight: instances.reduce((sum, i) => sum + i.inFlight, 0),
    queued: instances.reduce((sum, i) => sum + i.queued, 0),
    ...answered,
    workers: instances.flatMap((i) => i.workerStatus()),
  });
  // A version's answers are counted across its instances (one tally per version, kept by the record
  // while the version is listed, by its instances after).
  const versionAnswers = (dir: string, instances: AppInstance[]): TallyFigures =>
    (instances[0]?.tally ?? record.tallies.get(dir))?.figures() ?? { requests: 0, failed: 0, latency: noLatency() };
  const drainingRow = (desc: Description, instances: AppInstance[], answered: TallyFigures): VersionStatus => ({
    version: desc.version, dir: desc.dir, state: 'draining', reason: null, ...figuresOf(instances, answered),
  });
  const versions: VersionStatus[] = record.versions.flatMap((desc) => {
    const refused = record.refused.get(desc.dir)?.error ?? (record.serviceWait?.dir === desc.dir ? record.serviceWait.error : undefined);
    const isServing = serving?.desc.dir === desc.dir;
    const isDraining = draining.some(([, d]) => d.desc.dir === desc.dir);
    const isStartingRow = !isServing && !isDraining && record.judging === desc.dir;
    const instances = isStartingRow ? starting : instancesIn(desc.dir);
    const row: VersionStatus = {
      version: desc.version,
      dir: desc.dir,
      state: isServing
        ? 'serving'
        : isDraining
          ? 'draining'
          : isStartingRow
            ? 'starting'
            : record.settling.has(desc.dir)
            ? 'settling'
            : refused
              ? 'failed'
              : record.rolledBack.has(desc.dir)
                ? 'rolled-back'
                : 'standby',
      // Serving, its app.yaml broken since it started: why, as status says for a refused one.
      reason: isServing ? (record.brokenDescription ? brokenReason(record.brokenDescription.error) : null) : refused ? reasonOf(refused) : null,
      ...figuresOf(instances, versionAnswers(desc.dir, instances)),
      ...(isStartingRow ? { waitingFor: record.startSteps?.status() ?? null } : {}),
      // Woken from idle: its wake's steps, as a start's (the request that woke it waits for them).
      ...(isServing && serving.instance.idleState === 'waking' ? { waitingFor: serving.instance.wakeWaitingFor } : {}),
    };
    // Refused while its database (or the open files) is down, and tried again by itself: when, and why.
    if (row.state === 'failed' && record.serviceWait?.dir === desc.dir) row.waitingFor = serviceRetryWait(record.serviceWait, 'its next try');
    // Its restart so refused, owed meanwhile: the same, on the row that serves on. Not while a
    // try is under way (its `starting` row says what that waits for), nor over a wake's steps.
    if (isServing && row.waitingFor === undefined && record.restartWait?.dir === desc.dir && record.judging !== desc.dir) {
      row.waitingFor = serviceRetryWait(record.restartWait, 'its restart\'s next try');
    }
    if (!isServing) return [row];
    // Restarted in place (its app.yaml edited, the admin's restart, a reload's new settings):
    // the fresh instance, hooked and probed before it takes over, gets a row of its own, or a
    // probe failing for the whole start bound showed as nothing but the old instance serving.
    const restarting: VersionStatus[] = record.judging === desc.dir
      ? [{ version: desc.version, dir: desc.dir, state: 'starting', reason: null, ...figuresOf(starting, { requests: 0, failed: 0, latency: noLatency() }), waitingFor: record.startSteps?.status() ?? null }]
      : [];
    // Older instances of the serving version, each with what it answered itself.
    const older = draining.filter(([old, d]) => d.desc.dir === desc.dir && old !== serving.instance).map(([old]) => old);
    return [row, ...restarting, ...older.map((old) => drainingRow(desc, [old], old.answered.figures()))];
  });
  // A draining version whose directory is gone (rolled back by removing it) is still shown.
  for (const [, { desc }] of draining) {
    if (!versions.some((v) => v.dir === desc.dir)) {
      const instances = instancesIn(desc.dir);
      versions.push(drainingRow(desc, instances, versionAnswers(desc.dir, instances)));
    }
  }
  return {
  name: record.name,
  state: !instance ? (isStarting(record) ? 'starting' : 'failed') : instance.crashLooping ? 'crash-loop' : instance.idleState === 'asleep' ? 'idle' : instance.idleState === 'waking' ? 'waking' : instance.state,
  version: serving?.desc.version ?? null,
  dir: serving?.desc.dir ?? null,
  mount: where.mount,
  hosts: where.hosts,
  user: serving?.runAs?.user ?? null,
  runsAsRoot: serving ? (serving.runAs ? serving.runAs.isRoot : process.getuid?.() === 0) : false,
  versions,
  // Serving nothing yet: the workers it starts are its workers, as `starting`.
  workers: instance?.workerStatus() ?? starting[0]?.workerStatus() ?? [],
  restarting: instance?.restartingWorkers() ?? [],
  // A replaced version's processes stay listed while they drain (a route's websockets held).
  processes: [
    ...((instance ?? starting[0])?.processStatus() ?? []),
    ...draining.flatMap(([old]) => old.processStatus().filter((p) => p.pid !== null).map((p) => ({ ...p, state: 'draining' }))),
  ],
  restarts: record.pastRestarts + (instance?.restarts ?? 0),
  websockets: versions.reduce((sum, v) => sum + v.websockets, 0),
  inFlight: (instance?.inFlight ?? 0) + draining.reduce((sum, [old]) => sum + old.inFlight, 0),
  // A failed wake is the newest problem of a version that serves (one refused earlier is in history).
  problem: instance?.wakeError ? reasonOf(instance.wakeError) : record.problem ? reasonOf(record.problem) : null,
  health: instance?.lastProbe ?? null,
  // `health` null alone read the same for an app with no probe and one not probed yet.
  healthPath: (serving?.desc ?? record.startingInstance?.desc)?.health ?? null,
  history: record.history.list(),
  log: { file: where.logFile, lines: LogTail.of(where.logFile).last(STATUS_LOG_LINES) },
  canRollBack: where.canRollBack,
  idle: instance
    ? {
        timeoutSeconds: where.idleTimeoutSeconds,
        lastActive: new Date(wallTimeOf(instance.lastActive)).toISOString(),
        // The app's since the gateway started, as restarts are, not its newest instance's.
        coldStarts: record.pastColdStarts + instance.coldStarts,
        lastColdStartMs: instance.lastColdStartMs ?? record.pastLastColdStartMs,
        coldStartSecondsTotal: (record.pastColdStartMs + instance.coldStartMsTotal) / 1000,
        coldStartFailures: record.pastColdStartFailures + instance.coldStartFailures,
        wakeFailure: instance.wakeError ? reasonOf(instance.wakeError).message : instance.wakeFailure,
        nextWakeAt: instance.nextWakeAt,
      }
    : null,
  };
}

/**
 * A version (or its restart) refused because its PostgreSQL or Redis was down (or the open files
 * ran out) waits for its next try, not for its files to change: `failed` alone read as a refusal
 * for good, and a restart owed showed nowhere but in the log.
 */
function serviceRetryWait(wait: ServiceWait, what: string): WaitingForStatus | null {
  // Null between the refusal and the retry's timer, which the same turn sets.
  if (wait.nextTryAt === null) return null;
  const reason = reasonOf(wait.error);
  return {
    for: 'retry',
    what: `${what} (it is tried again by itself, with back-off): ${reason.code}: ${reason.message.split('\n', 1)[0]}`,
    since: new Date(wallTimeOf(wait.since)).toISOString(),
    failedProbes: null,
    nextAttemptAt: new Date(wallTimeOf(wait.nextTryAt)).toISOString(),
  };
}

/**
 * Every app's status, in the order of their names, and the packages whose app.yaml cannot be
 * loaded and that do not serve (one that serves is its app's version, marked with why).
 */
export function registryStatus(
  records: Iterable<AppRecord>,
  removed: readonly AppRecord[],
  draining: Array<[AppInstance, { desc: Description }]>,
  broken: readonly BrokenPackage[],
  placementOf: (record: AppRecord) => AppPlacement,
): { apps: SupervisedAppStatus[]; broken: BrokenPackageStatus[] } {
  const all = [...records];
  const gone = new Set(removed);
  const apps = [...all, ...removed]
    // Code-point order, as `names`: localeCompare would load ICU's collation data (2.6 MiB of RSS).
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((record) => {
      const its = draining.filter(([, d]) => d.desc.name === record.name);
      if (!gone.has(record)) return appStatusOf(record, its, placementOf(record));
      // Removed: nothing serves, and only its draining version is left to show, with its workers.
      return { ...appStatusOf({ ...record, serving: null, versions: [] }, its, placementOf(record)), state: 'stopping', canRollBack: false };
    });
  // Only a broken package needs the serving dirs resolved, each once per loaded app.yaml: a
  // realpath of every app at every build was a third of a status of 300 apps (docs/performance.md).
  const servingDirs = broken.length === 0 ? new Set<string>() : new Set(all.flatMap((r) => (r.serving ? [realDirOf(r.serving.desc)] : [])));
  // A link refused for leading to a served directory is listed all the same: it is what is wrong.
  const unserved = broken.filter((b) => b.loads || !servingDirs.has(realDir(b.dir)));
  return { apps, broken: unserved.map(({ dir, error }) => ({ dir, code: error.code, message: error.format() })) };
}

/** A description's directory never moves (another target is another load), so its real path is kept. */
const realDirs = new WeakMap<Description, string>();
function realDirOf(desc: Description): string {
  let real = realDirs.get(desc);
  if (real === undefined) realDirs.set(desc, (real = realDir(desc.dir)));
  return real;
}

/** The app's idle timeout in seconds (SPEC 5.6) as the environment file gives it, or null (never). */
export function idleTimeoutOf(env: HostEnvironment, name: string): number | null {
  const app = Object.hasOwn(env.apps, name) ? env.apps[name] : undefined;
  // 0 is the app's way out of a timeout under defaults: it never sleeps for idleness.
  return (app?.idleTimeout ?? env.defaults.idleTimeout) || null;
}
