// The shape of GET /status on the admin listener: what `apppkg-gateway status` prints and what
// monitoring scripts read. Adding a field is fine; renaming or removing one breaks users.

export interface WorkerStatus {
  pid: number | null;
  /** starting | ready | stopping | exited */
  state: string;
  inFlight: number;
  /** Websockets it holds for an ASGI app (not in inFlight: they hold no thread). */
  websockets: number;
  /** Requests this worker has answered since it started. */
  requests: number;
  /** ISO time the worker was spawned. */
  startedAt: string;
  /** Resident memory, when known (read from /proc). */
  rssBytes: number | null;
}

export interface ProcessStatus {
  name: string;
  pid: number | null;
  state: string;
  route: string | null;
  port: number | null;
  restarts: number;
}

/** Why a version was refused: the error's code, message and fix; under --apps, where its output is. */
export interface RefusalStatus {
  code: string;
  message: string;
  hint?: string;
  /** The app's log file, which holds the whole traceback or output. */
  log?: string;
  /** The last lines of the traceback (an import error) or of the log (a hook, pip, a worker). */
  tail?: string[];
}

export interface VersionStatus {
  version: string | null;
  dir: string;
  /**
   * serving | draining | starting | failed | standby (a rollback target) | settling (its
   * directory is still changing: judged once it has not changed for --settle)
   */
  state: string;
  /** Why a version is failed or was refused. */
  reason: RefusalStatus | null;
  /** Websockets its workers hold (an ASGI app's), a draining instance's included. */
  websockets: number;
}

export interface LatencySummary {
  /** Seconds, over the last requests (a sliding window), null when there were none. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface AppStatus {
  name: string;
  /** ready | starting | failed | crash-loop | stopped */
  state: string;
  /** The version taking traffic (null for an unversioned directory or when none serves). */
  version: string | null;
  dir: string | null;
  mount: string;
  hosts: string[];
  /** The Unix user the app's processes run as (null when the gateway does not switch users). */
  user: string | null;
  /** True when the app's processes run as root: flagged, as SPEC §2 asks. */
  runsAsRoot: boolean;
  versions: VersionStatus[];
  workers: WorkerStatus[];
  processes: ProcessStatus[];
  /** Worker restarts after unexpected exits, since the gateway started. */
  restarts: number;
  requests: number;
  /** Responses with status >= 500, gateway-made ones included. */
  errors: number;
  /** Websockets held for it, every version together (see versions[].websockets). */
  websockets: number;
  /** Requests waiting for a free worker thread: in the gateway's queue, or sent and waiting in a worker. */
  queued: number;
  latency: LatencySummary;
  /** The last failure worth showing (crash loop, refused version), or null. */
  problem: RefusalStatus | null;
}

export interface BrokenPackageStatus {
  dir: string;
  code: string;
  message: string;
}

export interface GatewayStatus {
  pid: number;
  version: string;
  startedAt: string;
  listen: string[];
  apps: AppStatus[];
  /** Directories under --apps whose description does not load. */
  broken: BrokenPackageStatus[];
}
