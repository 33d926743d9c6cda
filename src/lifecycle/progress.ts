// How lifecycle commands tell the user what they do: one line per step, with its duration,
// between the output of the programs they run (pip's, apt's, the hooks').
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';

export type Say = (line: string) => void;

export const quiet: Say = () => {};

/**
 * "1.8 s" since `sinceMs`, a performance.now() reading: on the wall clock, a step (NTP after a
 * VM resumes) during a pip install made it "installed in 3601.2 s".
 */
export function seconds(sinceMs: number): string {
  return `${((performance.now() - sinceMs) / 1000).toFixed(1)} s`;
}

/** Options every lifecycle operation takes: the app, the host's environment file, the state root. */
export interface LifecycleOptions {
  /** The app directory (absolute or relative to the cwd). */
  dir: string;
  environmentFile?: string;
  /** Already loaded by the caller (AppPackage); else read from `dir` and `environmentFile`. */
  desc?: Description;
  hostEnv?: HostEnvironment;
  stateDir?: string;
  say?: Say;
}
