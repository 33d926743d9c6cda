// What the registry keeps per app: the version serving, the versions refused, settling or
// rolled back from, the last problem and the history. registry.ts and version-judge.ts change
// it, and so do rollback.ts and broken-description.ts; registry-status.ts reads it for status.
import { RequestTally } from '../admin/request-tally.js';
import type { GatewayError } from '../errors.js';
import type { Description } from '../description/types.js';
import type { RunAs } from '../environment/run-as.js';
import type { AppHistory } from './app-history.js';
import type { AppInstance } from './app-instance.js';

export interface Serving {
  desc: Description;
  fingerprint: string;
  instance: AppInstance;
  runAs: RunAs | null;
}

export interface AppRecord {
  name: string;
  serving: Serving | null;
  /** dir -> why that version was refused, and its files' signature then: any change retries it. */
  refused: Map<string, { signature: string; error: GatewayError }>;
  /** Versions (dirs) whose directory was still changing at the last look. */
  settling: Set<string>;
  versions: Description[];
  /** The last refusal, shown in status until a version serves again. */
  problem: GatewayError | null;
  /** restart(): replace the serving version even though it did not change. */
  restart: boolean;
  /** dir -> its files' signature when the admin rolled back from it: skipped until they change. */
  rolledBack: Map<string, string>;
  history: AppHistory;
  /**
   * The serving version's app.yaml as it fails to load now (its problems, formatted), null while
   * it loads: a breakage goes into the history once, not at every look.
   */
  brokenDescription: string | null;
  /** The back-off of a version refused because a service was down (0: none pending). */
  serviceRetryMs: number;
  /**
   * dir -> what that version answered, across its restarts (each instance of it feeds the
   * same); dropped when the version is no longer listed (its draining instance keeps its own).
   */
  tallies: Map<string, RequestTally>;
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
