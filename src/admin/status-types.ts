// The shape of GET /status on the admin listener: what `apppkg-gateway status` prints and what
// monitoring scripts read. Adding a field is fine; renaming or removing one breaks users.
import type { LogLine } from '../log/log-tail.js';

export type { LogLine };

export interface WorkerStatus {
  /** null in `restarting` (a slot waiting out its back-off to start a worker again). */
  pid: number | null;
  /**
   * starting | ready | draining (out of rotation, finishing what it holds) | stopping | exited |
   * restarting (no process: waiting out its back-off) | crash-loop (the same, in a crash loop)
   */
  state: string;
  /** Requests its threads (an ASGI worker: its loop) run now. */
  inFlight: number;
  /** Requests sent to it ahead that wait there for a thread (the proxy keeps a few in each worker). */
  queued: number;
  /** Websockets it holds for an ASGI app whose clients hold them open (not in inFlight: they hold no thread). */
  websockets: number;
  /** Requests this worker has taken since it started. */
  requests: number;
  /** Of its answers, those with a status of 500 or above (the gateway's 502/504 for it included). */
  failed: number;
  /** Of its answers of the last minute, as the client waited for them (a request's time in the queue included). */
  latency: LatencySummary;
  /** ISO time the worker was spawned. */
  startedAt: string;
  /** In `stopping`: the ISO time its stop began (a slow ASGI lifespan shutdown shows how long it has taken); else null. */
  stoppingSince: string | null;
  /**
   * In `stopping`, for a worker stopped before it was ready: the step of its start the stop came
   * in, `import` or `lifespan` (an ASGI lifespan startup); else null. Such a worker never served
   * and runs no shutdown of its own.
   */
  stoppedStarting: 'import' | 'lifespan' | null;
  /** Resident memory, when known (read from /proc, sampled at most every few seconds). */
  rssBytes: number | null;
  /** CPU use, percent of one core, over the last sample interval; null before the first sample. */
  cpuPercent: number | null;
  /**
   * Times its slot replaced a process that died unexpectedly, in the serving instance: a deploy or
   * restart of the app starts its workers' slots from 0, where the app's `restarts` (since the
   * gateway started) goes on counting, so these add up to it only until the first of those.
   */
  restarts: number;
  /** How the previous process in its slot ended, or null if none has. */
  lastExit: ExitStatus | null;
  /** Times its slot replaced a worker on purpose (max_requests, max_memory, a thread stuck past its timeout): not in restarts. */
  recycled: number;
  /** When and why the last of those was, or null. */
  lastRecycle: { at: string; reason: string } | null;
  /**
   * Set when max_memory is below what a worker of this version took right after its import: why
   * none of its workers is recycled for its memory, and to raise it (worker-pool.ts); else null.
   */
  memoryNote: string | null;
}

/** How a process ended. */
export interface ExitStatus {
  pid: number | null;
  /** The exit status, or null when a signal ended it. */
  code: number | null;
  signal: string | null;
  /** ISO time. */
  at: string;
  /** Ran for this long, in seconds. */
  uptimeSeconds: number;
  /**
   * Why, as far as it said: the last line it wrote on stderr (a traceback's last,
   * `ModuleNotFoundError: No module named 'flask'`), at most 200 characters
   * (supervisor/exit-reason.ts), as written (status and the page escape it); null when it wrote
   * none, or none in the 5 s before its exit. The app's output: shown only to a client that may read its log.
   */
  reason: string | null;
  /**
   * What the gateway found the exit to mean, with the fix, in its own words (not the app's
   * output, so shown to every client): a `processes:` command that exited 127 or 126 whose
   * program is not on its PATH (the PATH named), not executable, or a script whose `#!`
   * interpreter is not there. Null otherwise; absent from an older gateway's status.
   */
  diagnosis?: string | null;
  /**
   * Set when no process could be spawned at all (its interpreter or virtualenv gone, the
   * gateway out of file descriptors): why, in the words of the log's `failed to start` line.
   * `pid`, `code` and `signal` are then null: nothing ran, so nothing exited with a status.
   */
  failedToStart: string | null;
}

export interface ProcessStatus {
  name: string;
  pid: number | null;
  state: string;
  route: string | null;
  port: number | null;
  restarts: number;
  /** ISO time the current process was spawned, null while it restarts. */
  startedAt: string | null;
  rssBytes: number | null;
  cpuPercent: number | null;
  lastExit: ExitStatus | null;
  /**
   * A process that takes requests (web, or one with a route) has these, as a worker has; a
   * background process has none. Counted per process name, across its restarts.
   */
  inFlight?: number;
  /** Requests of its route waiting in the app's queue for a connection to it. */
  queued?: number;
  /** Websockets its route holds now, their clients' connections open (not in inFlight). */
  websockets?: number;
  requests?: number;
  failed?: number;
  latency?: LatencySummary;
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
  /**
   * The words of `message` that are the app's own output (an exception's message, a process's
   * last line). Where logs need the token, a client without it gets `message` (and the history
   * event's) with these words withheld, and neither this nor `tail`.
   */
  appOutput?: string;
}

export interface VersionStatus {
  version: string | null;
  dir: string;
  /**
   * serving | draining | starting (being judged: its update hook, import or probe running; a
   * row of its own beside the serving one for a restart in place) | failed |
   * rolled-back | standby (a rollback target) | settling (its directory is still changing:
   * judged once it has not changed for --settle)
   */
  state: string;
  /**
   * Why a version is failed or was refused; for the serving one, why its app.yaml no longer
   * loads (it runs on as it was started), else null.
   */
  reason: RefusalStatus | null;
  /**
   * Websockets its workers (an ASGI app's) and its routed processes hold, counted while their
   * clients' connections are open (an app task that runs on after its client closed is not one).
   * A version that serves counts its serving instance's only: an older instance of it still
   * draining (a restart, a rollback during a drain) is a row of its own, with the same version
   * and state `draining`.
   */
  websockets: number;
  /** Requests its workers and routed processes run now. */
  inFlight: number;
  /** Requests sent to its workers that wait there for a thread (the app's own queue is the app's: `queued` of the app). */
  queued: number;
  /**
   * Requests it answered since the gateway started, across its restarts and recycled workers;
   * the draining row of an older instance of the serving version: what that instance answered.
   */
  requests: number;
  /** Of those, answered with a status of 500 or above. */
  failed: number;
  /** Of its answers of the last minute. */
  latency: LatencySummary;
  /** The workers of this row's instance: the serving one's, or a draining one's until they are gone. */
  workers: WorkerStatus[];
  /**
   * A `starting` row's: what its start waits for now (null between two steps); a `serving` row's
   * while its app wakes from idle: what the wake waits for; a `failed` row's whose version is
   * tried again by itself (its database down): its next try. Absent on the other rows, and from
   * a gateway older than the field.
   */
  waitingFor?: WaitingForStatus | null;
}

/**
 * What a starting version waits for now (supervisor/start-steps.ts): the step that has waited
 * longest of those under way, told as it begins and ends, never polled.
 */
export interface WaitingForStatus {
  /**
   * environment (its interpreter and settings) | services (its database or Redis made ready) |
   * venv (pip builds its virtualenv) | hook (commands.install or commands.update runs) | room (a
   * place under --max-workers) | import (a worker imports the app) | lifespan (an ASGI worker
   * runs the app's lifespan startup, until its READY) | probe (a worker's or processes.web's
   * `health:` probe) | listen (a `processes:` command's port to accept connections) | retry (a
   * `failed` row: the next try of a version refused because its database was down)
   */
  for: string;
  /** The same in words, naming the worker or process: `worker 4121 to import blog:app and say READY`. */
  what: string;
  /** ISO time that step began. */
  since: string;
  /** The health probe's answers other than 2xx/3xx in this step, null before the first. */
  failedProbes: FailedProbes | null;
  /** `retry`'s: when the version is tried again (ISO); absent for the other steps. */
  nextAttemptAt?: string;
}

export interface FailedProbes {
  count: number;
  /** The last one's status, null when it got no answer (`error` says why). */
  status: number | null;
  error: string | null;
  /** ISO time of the last one. */
  at: string;
}

export interface LatencySummary {
  /** Seconds, over the requests of the last `windowSeconds` (at most the last 2048), null when there were none. */
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  windowSeconds: number;
}

/** The last health probe of an app's workers (`health:` of app.yaml; a command app's, of its processes.web), or null without one. */
export interface HealthStatus {
  path: string;
  /** ISO time. */
  at: string;
  ok: boolean;
  /** The status the app answered, null when it did not answer. */
  status: number | null;
  /** Why it failed, when it did. */
  error: string | null;
  pid: number | null;
}

/**
 * One event of an app's recent history (newest last, at most 50 kept):
 *  serving      a version took traffic where none did
 *  switched     a version took over from another (`from`)
 *  refused      a version could not start (`reason` holds why, with the traceback's last lines)
 *  rolled-back  the admin's rollback: `version` serves instead of `from`
 *  restarted    the serving version was replaced by a fresh instance of itself
 *  exited       a worker or process died unexpectedly (`message`: which, and how); it is restarted
 *  wake-failed  the idle app could not be woken (`reason`: why, as `refused`); its requests got
 *               503, and the next wake waits out the crash loop's back-off
 *  removed      the app's directory went away
 *  broken       the serving version's app.yaml no longer loads (`reason`: the first problem, where
 *               it is, its fix); the version runs on as it was started. Once per distinct breakage
 */
export interface HistoryEvent {
  at: string;
  kind: 'serving' | 'switched' | 'refused' | 'rolled-back' | 'restarted' | 'exited' | 'removed' | 'broken' | 'wake-failed';
  version: string | null;
  from: string | null;
  message: string;
  reason: RefusalStatus | null;
  /** How many times it happened alike in a row (a version tried again through an outage); `at` is the first. */
  times: number;
  /** The last of those times (null when it happened once). */
  lastAt: string | null;
}


export interface LogTailStatus {
  /** The app's log file. */
  file: string;
  /** Its last lines (at most 40), null when this client may not see an app's log (docs/admin.md). */
  lines: LogLine[] | null;
}

export interface AppStatus {
  name: string;
  /**
   * ready | starting | failed | crash-loop | stopped | idle (asleep: its workers stopped) | waking |
   * stopping (its directory removed, its processes not gone yet: its `draining` version lists them)
   */
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
  /** The serving version's worker processes. */
  workers: WorkerStatus[];
  /**
   * Its worker slots with no process, waiting out their back-off to start one again (a crash
   * loop's): state restarting or crash-loop, pid null, their restarts and last exit. `workers`
   * and these make the app's configured workers.
   */
  restarting: WorkerStatus[];
  processes: ProcessStatus[];
  /**
   * Restarts of its workers and processes after unexpected exits, since the gateway started:
   * across its deploys and restarts, as apppkg_worker_restarts_total counts them (a counter never
   * goes down), not its serving instance's alone (its workers' and processes' rows).
   */
  restarts: number;
  requests: number;
  /**
   * Responses with status >= 500, gateway-made ones included, but those of `refusedForRoom`:
   * the version lines' `failed` leave them out too.
   */
  errors: number;
  /** The same as `errors`, under the name the versions, workers and processes use. */
  failed: number;
  /**
   * Requests the gateway answered 503 because --max-workers left no room to wake the app (every
   * running app held a request or a websocket): the gateway's refusal, not the app's failure,
   * so in no `errors` or `failed`; /metrics counts them in the 5xx class, by the status sent.
   */
  refusedForRoom: number;
  /** Websocket handshakes refused so (503), counted apart: a handshake is in no `requests`. */
  websocketsRefusedForRoom: number;
  /** Websockets held for it, every version together (see versions[].websockets). */
  websockets: number;
  /** Requests waiting for a free worker thread: in the gateway's queue, or sent and waiting in a worker. */
  queued: number;
  /** Requests its workers (or processes) are handling now. */
  inFlight: number;
  latency: LatencySummary;
  /** The last failure worth showing (crash loop, refused version), or null. */
  problem: RefusalStatus | null;
  health: HealthStatus | null;
  /**
   * The `health:` path of app.yaml (a command app's, of its processes.web) of the version that
   * serves, else of the one starting; null when it has none. With `health` null it tells why
   * there is no probe to show: none configured (null) or none answered yet (a path). Absent
   * from a gateway older than the field.
   */
  healthPath?: string | null;
  history: HistoryEvent[];
  log: LogTailStatus;
  /** True when the admin's rollback has a version to go back to. */
  canRollBack: boolean;
  /** Idle apps (SPEC 5.6): null while no version serves. */
  idle: IdleStatus | null;
  /** Its services (SPEC 5.2), as the last provisioning found them, or the Redis users' and PostgreSQL watches since (redis-user-watch.ts, postgresql-watch.ts); [] when it asks for none. */
  services: AppServiceStatus[];
  /**
   * Incoming mail waiting for it in the spool (SPEC 5.3, docs/mail.md): null when none waits, or
   * when the gateway takes no mail (no `mail:` in the environment file). Absent from a gateway
   * older than this field.
   */
  mail: AppMailStatus | null;
}

/**
 * The mail waiting for one app: counts, its oldest, its newest failure and its next attempt,
 * made anew at each status from the spool. Bounded, however much waits: never a list of the
 * messages (`STATE/mail/queue/` holds one record per delivery, the gateway's log a line per
 * failed attempt).
 */
export interface AppMailStatus {
  /** Its deliveries in the spool: waiting for their first attempt or a retry, or being attempted now. */
  waiting: number;
  /** Of those, the ones that have failed at least once. */
  retrying: number;
  /** Of those, the ones being attempted now. */
  attempting: number;
  /** Their failed attempts so far, together. */
  failedAttempts: number;
  /** ISO time the oldest of them was received (its age: the status's `now` minus this). */
  oldestReceivedAt: string;
  /**
   * The newest failed attempt among them: why (`the app answered 500`, `no answer from the app
   * (...)`, `NAME does not serve now`) and when (ISO; null for a delivery whose record a gateway
   * older than this field wrote); null while none of them has failed.
   */
  lastFailure: { at: string | null; reason: string } | null;
  /**
   * ISO time the next of them is due (the earliest): in the past when one is due and waits for a
   * free slot (at most 4 attempts per app at once); null when every one is being attempted now.
   */
  nextAttemptAt: string | null;
  /**
   * ISO time the first of them is given up, a dead letter, unless delivered before: its receipt
   * (or its `mail retry`) plus the listener's `give_up` (two days by default).
   */
  givesUpAt: string;
}

/** Mail waiting for a name that is no app in `apps` now (removed from --apps): as an app's `mail`, with the name. */
export interface RemovedAppMailStatus extends AppMailStatus {
  app: string;
}

export interface AppServiceStatus {
  /** The app.yaml key: database | redis. */
  name: string;
  /** What backs it: postgresql | sqlite | redis. */
  kind: string;
  /** ready | unavailable (retried with back-off) | refused */
  state: string;
  /** Why not ready, with the fix; null when ready. */
  reason: string | null;
  /** ISO time this state was first found. */
  since?: string;
}

export interface IdleStatus {
  /** idle_timeout of the environment file, or null (it never sleeps for idleness). */
  timeoutSeconds: number | null;
  /** ISO time of its last request or websocket. */
  lastActive: string;
  /** Wakes from sleep (a request came while it was idle). */
  coldStarts: number;
  /** How long the last wake took, to the workers taking traffic. */
  lastColdStartMs: number | null;
  /** Every wake's time together, in seconds. */
  coldStartSecondsTotal: number;
  /** Wakes the app itself failed (not those refused for room), since the gateway started; absent from an older gateway's status. */
  coldStartFailures?: number;
  /**
   * Why the last wake failed, until one works; the app's own words in it are withheld from a
   * client without the right to see logs, as in `problem` (which then holds the same failure).
   */
  wakeFailure: string | null;
  /** After a failure of the app's own, when the next wake is tried (ISO); null: at the next request. */
  nextWakeAt: string | null;
}

export interface BrokenPackageStatus {
  dir: string;
  code: string;
  message: string;
}

/** What the client that asked may do (docs/admin.md, "Who may do what"). */
export interface AdminAccess {
  /** restart, rollback */
  act: boolean;
  /** an app's log, and log.lines here */
  logs: boolean;
  /** Why not, with the fix; null when both are allowed. */
  why: string | null;
}

export interface GatewayStatus {
  pid: number;
  version: string;
  startedAt: string;
  /**
   * `stopping` from its SIGTERM (or SIGINT) until its apps' processes are gone: the admin
   * listener closes last, so a stop that takes up to --grace can be watched. `stopped` once
   * stop() has resolved: only a library caller's status() can say it, the listener being closed.
   */
  state: 'running' | 'stopping' | 'stopped';
  /** The ISO time its stop began; null while it runs. */
  stoppingSince: string | null;
  /** The gateway's clock when this status was made (ISO): a page elsewhere counts uptimes by it, not by its own clock. */
  now: string;
  listen: string[];
  /**
   * Whether each process tree is held by a cgroup of its own, killed whole at its end (so that
   * no process of it can outlive it, whatever it does): the run's cgroup, or null and why not.
   * Absent from older gateways (status-table.ts reads theirs too).
   */
  processTrees?: { cgroup: string | null; why: string | null };
  /**
   * The looks at the apps directory (SIGHUP's, the watcher's at a change, a version's settle
   * time): what a deploy script waits on (README, "Knowing a rescan has ended"). Absent from
   * older gateways.
   */
  scan?: ScanStatus;
  apps: AppStatus[];
  /** Directories under --apps whose description does not load, and that serve nothing (a serving one is in its app's `versions`, with its `reason`). */
  broken: BrokenPackageStatus[];
  /** Filled by the admin listener for the client that asked; absent from Gateway.status(). */
  access?: AdminAccess;
  /** The mail listener and its spool (SPEC 5.3); absent when the environment file has no `mail:`. */
  mail?: MailStatus;
}

/**
 * The gateway's scans of its apps: each a look at the directory and the judging of every app it
 * found. They run one at a time and end in the order they began.
 */
export interface ScanStatus {
  /** Scans begun since the gateway started (the start's own is 1). */
  started: number;
  /**
   * The number of the last scan that ended: every scan up to it has. A scan ends once each app
   * it found is judged: a new version serves or was refused, or is still `settling` (a later
   * scan, counted too, judges it then). 0 until the start's scan ends.
   */
  finished: number;
  /** ISO time that scan ended; null before. */
  finishedAt: string | null;
  /**
   * The apps whose packages that scan found different from the scan before it (the start's:
   * every app): a version directory come or gone, an app.yaml that reads differently, a package
   * that began or stopped failing to load, an app come or gone. Sorted; [] when nothing changed.
   */
  changed: string[];
}

/**
 * One app's deliveries since the gateway started, for /metrics (not in /status, which has what
 * waits now): a message to the app accepted (250), taken (2xx), an attempt that failed and is
 * tried again, and one given up (406, 413, give_up), as an MTA exporter counts per transport.
 */
/**
 * Each app's deliveries since the gateway started (/metrics). A delivery enters its queue by
 * `accepted` (the listener's 250: mail that came) or `retried` (a dead letter put back by `mail
 * retry`: no new mail), and leaves it by `delivered` or `undeliverable` (each time it is made a
 * dead letter, again after a retry too): so accepted + retried = delivered + undeliverable +
 * what the spool holds for it, as long as it held none at the start.
 */
export interface MailAppCounts {
  accepted: number;
  retried: number;
  delivered: number;
  deferred: number;
  undeliverable: number;
}

/** A delivery given up (406, or past give_up), or postmaster mail no app takes, kept with its message (docs/mail.md). */
export interface DeadLetterStatus {
  /** Its X-Apppkg-Delivery-Id. */
  id: string;
  /** '' for postmaster mail that no app takes (mail.postmaster). */
  app: string;
  /** The envelope sender; '' for <>. */
  from: string;
  to: string[];
  /** ISO times. */
  receivedAt: string;
  deadAt: string;
  attempts: number;
  reason: string;
  /** The message as it was spooled; null when its message file was gone from the spool (its record alone is kept). */
  file: string | null;
}

/** Incoming mail (SPEC 5.3): counts since the gateway started, except what the spool holds. */
export interface MailStatus {
  /** The listener's address (127.0.0.1:2525, unix:/path); null while it stops. */
  listen: string | null;
  protocol: 'smtp' | 'lmtp';
  /** Deliveries in the spool, waiting or being attempted (one per app a message goes to). */
  spooled: number;
  /** Messages accepted (250). */
  received: number;
  /** Deliveries the apps took (2xx). */
  delivered: number;
  /** Attempts that did not deliver (any answer but 2xx, or none). */
  failedAttempts: number;
  /** SMTP-level refusals: unknown domain, too big, too many recipients, app not serving. */
  refused: number;
  /** Deliveries waiting for a retry. */
  retrying: number;
  /**
   * Mail waiting for names that are no app of the gateway now (an app removed from --apps keeps
   * its mail until give_up, tried on the same schedule): an app in `apps` has its own under its
   * entry (`mail`). Filled by the gateway; [] when there is none; absent from older gateways.
   */
  waitingForRemoved?: RemovedAppMailStatus[];
  /** How many dead letters the spool keeps: all of them, where `dead` lists the newest. */
  deadLetters: number;
  /** How many of them each app has ('' for postmaster mail kept for no app): `mail delete --all` says what it deletes from it; absent from older gateways. */
  deadLettersByApp?: Record<string, number>;
  /** The app mail.postmaster names (null: none), whose `--all` takes the postmaster mail kept for no app too; absent from older gateways. */
  postmaster?: string | null;
  /** The newest dead letters, at most 50 (mail-service.ts DEAD_LETTERS_LISTED), oldest first. */
  dead: DeadLetterStatus[];
  /** The command that delivers dead letters again (`mail retry ID...`, or `--all [APP]`): the table and the page say it beside them; absent from older gateways. */
  retryCommand?: string;
  /** The command that deletes dead letters for good (`mail delete ID...`, or `--all [APP]`), said beside the retry; absent from older gateways. */
  deleteCommand?: string;
}
