// What the registry keeps per app: the version serving, the versions refused, settling or
// rolled back from, the last problem and the history. registry.ts and version-judge.ts change
// it, and so do rollback.ts and broken-description.ts; registry-status.ts reads it for status.
import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomicSync } from '../write-file-atomic.js';
import { RequestTally } from '../admin/request-tally.js';
import type { HistoryEvent } from '../admin/status-types.js';
import type { GatewayError } from '../errors.js';
import type { AppHistory } from './app-history.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import type { RunAs } from '../environment/run-as.js';
import type { AppInstance } from './app-instance.js';
import type { StartSteps } from './start-steps.js';
import type { RestartCause } from './worker-drain.js';

export interface Serving {
  desc: Description;
  fingerprint: string;
  instance: AppInstance;
  runAs: RunAs | null;
  /**
   * The environment file its processes were started with: the registry's may have moved past
   * it, when a reload's restart of this app was refused (an unknown user, a missing setting).
   */
  hostEnv: HostEnvironment;
}

export interface AppRecord {
  name: string;
  serving: Serving | null;
  /**
   * dir -> why that version was refused, and its files' signature then: any change retries it.
   * `leftBehind`: the files its start left, when they differed from those it started with (a fix
   * copied in while a slow import failed): `signature` is then the start's, so the version is
   * tried again with what it was not started with; a try from `leftBehind` that changes them
   * again is the app writing into its own directory, and is not tried again for that.
   */
  refused: Map<string, { signature: string; error: GatewayError; leftBehind?: string }>;
  /**
   * dir -> the refusal of that version last said in full: its files' signature then, its code
   * and message, and when (ISO). SIGHUP tries every refused version again (the documented retry
   * for a cause outside its files: a database, a library installed), clearing `refused` but not
   * this: the same refusal of the same files is then one line, not the whole of it again at every
   * reload of a host that reloads every few minutes.
   */
  refusalsSaid: Map<string, { signature: string; said: string; at: string }>;
  /** Versions (dirs) whose directory was still changing at the last look. */
  settling: Set<string>;
  versions: Description[];
  /** The last refusal, shown in status until a version serves again or the refused one is removed. */
  problem: GatewayError | null;
  /** The version (dir) `problem` is about: its directory removed, the refusal goes with it. */
  problemDir: string | null;
  /**
   * A version is being started while none serves (the gateway's start, or every version refused
   * so far): the app is starting, not refused, even when a newer version's refusal is `problem`.
   */
  startingVersion: boolean;
  /** The version (dir) being started now, if any: status calls it starting. */
  judging: string | null;
  /**
   * The instance of `judging` once it exists, until it serves or is stopped: its workers import
   * and are probed meanwhile, and status and the pids (an orphan check) must count them.
   */
  startingInstance: AppInstance | null;
  /**
   * The user `judging`'s processes run as, once resolved (before any of them starts), until its
   * judging ends: the admin listener guards against them while they start (admin-access.ts).
   */
  startingRunAs: RunAs | null;
  /** What the start of `judging` waits for now (start-steps.ts), from its judging's start to its end. */
  startSteps: StartSteps | null;
  /** restart(): replace the serving version even though it did not change. */
  restart: boolean;
  /**
   * What that restart is, for the 1012 close its old workers' websockets get: `restarted` (the
   * admin's, new settings at SIGHUP) or `reloaded` (serve --reload saw the code change).
   */
  restartCause: RestartCause;
  /**
   * The environment file a reload restarts it for, until the judging that takes that restart has
   * ended: a SIGHUP meanwhile compares with it, not with what the old workers run, or restarts
   * the app a second time for the same change.
   */
  restartFor: HostEnvironment | null;
  /**
   * The serving version's restart failed with its files as they were then: a change to any of
   * them (not app.yaml alone, which is all a serving version's fingerprint reads) retries it, and
   * the problem goes once it starts, not at the next restart the user has to think of.
   * `leftBehind`, as `refused`'s: the files the failed restart left when they differed from those
   * it started with, `signature` then the start's (tried once more: a fix may have been copied in
   * meanwhile); a retry from `leftBehind` that changes them again is the app writing into its own
   * directory, kept as it left them, or each look of the watcher restarted it again (H318).
   */
  restartRefused: { dir: string; signature: string; leftBehind?: string } | null;
  /** dir -> its files' signature when the admin rolled back from it: skipped until they change. */
  rolledBack: Map<string, string>;
  /**
   * Where rolledBack is kept under the state root (saveRolledBack), so that a rollback outlives a
   * restart of the gateway (a reboot must not bring back the release the admin took out); null:
   * in memory only.
   */
  rolledBackFile: string | null;
  /** Restarts after unexpected exits of the instances it has replaced: status's count goes on from them. */
  pastRestarts: number;
  /**
   * Wakes of the instances it has replaced, their time together (ms) and the last one's: the
   * cold-start counters of /metrics go on from them, as a counter must (a deploy is no reset).
   */
  pastColdStarts: number;
  pastColdStartMs: number;
  pastColdStartFailures: number;
  pastLastColdStartMs: number | null;
  history: AppHistory;
  /**
   * Why the serving version's app.yaml fails to load now, null while it loads: status marks that
   * version with it, and a breakage goes into the history once (`seen`: its problems, formatted),
   * not at every look.
   */
  brokenDescription: { seen: string; error: GatewayError } | null;
  /** The back-off of a version refused because a service was down (0: none pending). */
  serviceRetryMs: number;
  /**
   * The version so refused, tried again by itself rather than kept in `refused`: status shows it
   * failed with its reason until it serves, as any refused version (null: none).
   */
  serviceWait: ServiceWait | null;
  /**
   * The serving version's restart (new settings at SIGHUP, the admin's) refused for the same
   * cause, owed and tried again by itself while the version serves on: status shows its next
   * try on the serving row (null: none owed so).
   */
  restartWait: ServiceWait | null;
  /** The history event a try of that version just added to (said in one line then), or null. */
  serviceRepeat: HistoryEvent | null;
  /** Tries again by itself of a version refused for want of open files, since one last served (version-judge.ts OPEN_FILES_TRIES). */
  openFilesTries: number;
  /**
   * dir -> what that version answered, across its restarts (each instance of it feeds the
   * same); dropped when the version is no longer listed (its draining instance keeps its own).
   */
  tallies: Map<string, RequestTally>;
}

/** A version refused for a cause outside it (its database down), waiting for its next try by itself. */
export interface ServiceWait {
  dir: string;
  error: GatewayError;
  /** When it was refused (performance.now()): the wait's start. */
  since: number;
  /** When the retry's reconcile is due (performance.now()); null until the judge sets its timer. */
  nextTryAt: number | null;
}

/**
 * The record of an app met for the first time: its rollbacks read back from `rolledBackFile`, its
 * history the one it had (app-histories.ts).
 */
export function newAppRecord(name: string, rolledBackFile: string | null, history: AppHistory): AppRecord {
  return {
    name, serving: null, refused: new Map(), refusalsSaid: new Map(), settling: new Set(), versions: [], problem: null, problemDir: null, startingVersion: false, judging: null, startingInstance: null, startingRunAs: null, startSteps: null, restart: false, restartCause: 'restarted', restartFor: null, restartRefused: null,
    rolledBack: loadRolledBack(rolledBackFile), rolledBackFile, pastRestarts: 0, pastColdStarts: 0, pastColdStartMs: 0, pastColdStartFailures: 0, pastLastColdStartMs: null,
    history, serviceRetryMs: 0, serviceWait: null, restartWait: null, serviceRepeat: null, openFilesTries: 0, brokenDescription: null, tallies: new Map(),
  };
}

function loadRolledBack(file: string | null): Map<string, string> {
  if (file === null) return new Map();
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (kept === null || typeof kept !== 'object' || Array.isArray(kept)) return new Map();
    return new Map(Object.entries(kept as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return new Map(); // none kept (or unreadable: then no rollback is remembered, as before)
  }
}

/** Writes rolledBack where the next start of the gateway reads it; after every change of it. */
export function saveRolledBack(record: AppRecord): void {
  const file = record.rolledBackFile;
  if (file === null) return;
  try {
    if (record.rolledBack.size === 0) rmSync(file, { force: true });
    else writeFileAtomicSync(file, `${JSON.stringify(Object.fromEntries(record.rolledBack))}\n`);
  } catch {
    // The app's state directory is not there yet (it never started): kept in memory, as before.
  }
}

/**
 * Does the app serve nothing yet, with a version of it to come: none judged so far, or one being
 * started after a newer one was refused? Its requests wait for it, as a new app's do.
 */
export function isStarting(record: AppRecord): boolean {
  return record.serving === null && (record.problem === null || record.startingVersion);
}

/** A version's refusal: why the version in `dir` does not serve. */
export interface Refusal {
  dir: string;
  error: GatewayError;
}

/** Makes `refusal` the problem status shows for the app (null: none). */
export function showProblem(record: AppRecord, refusal: Refusal | null): void {
  record.problem = refusal?.error ?? null;
  record.problemDir = refusal?.dir ?? null;
}

/** The tally a new instance of the version in `dir` feeds. */
export function versionTally(record: AppRecord, dir: string): RequestTally {
  let tally = record.tallies.get(dir);
  if (tally === undefined) record.tallies.set(dir, (tally = new RequestTally()));
  return tally;
}

/** Forgets the tallies of versions no longer listed. */
export function pruneTallies(record: AppRecord): void {
  for (const dir of record.tallies.keys()) if (!record.versions.some((d) => d.dir === dir)) record.tallies.delete(dir);
}

/**
 * Asks for a restart of `record`'s serving version, told as `cause` to its old workers'
 * websockets (the 1012 close). Asks that meet before the judging takes them are one restart, told
 * as the last: set alone, the flag kept the cause of an ask still pending (serve --reload's
 * "its code changed"), for a restart that new settings asked for after it.
 */
export function askRestart(record: AppRecord, cause: RestartCause): void {
  record.restart = true;
  record.restartCause = cause;
}
