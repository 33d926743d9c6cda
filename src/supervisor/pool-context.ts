// What an app version gives each of its two pools (worker-pool.ts, process-pool.ts): the
// options both read, and the parts of the instance both feed: its members, its rotation, its
// log, how long a process out of rotation may finish, and where an unexpected exit is told.
import type { Writable } from 'node:stream';
import type { RequestTally } from '../admin/request-tally.js';
import type { CommandWords } from '../command-words.js';
import type { Description } from '../description/types.js';
import type { AppEnvironment } from '../environment/app-env.js';
import type { Member, Members } from './members.js';
import type { StartSteps } from './start-steps.js';
import type { UpstreamRotation } from './upstream-rotation.js';
import type { OutputThrottle } from '../log/output-throttle.js';

/** The options of AppInstance that both pools read. */
export interface PoolOptions {
  desc: Description;
  /** What the fixes its processes' failures carry call a command (the CLI's, the library's methods); default the CLI's. */
  commandWords?: CommandWords;
  appEnv: AppEnvironment;
  /** How long a worker may take to import the app and report ready (a process: to listen). */
  startTimeoutMs: number;
  /** The gateway's own log: one line per event of note. */
  say: (line: string) => void;
  /**
   * APPPKG_MOUNT of its `processes:` commands: the app's mount, empty at the root. A server
   * with a fixed base URL (Jupyter's base_url) needs it on its command line, before any
   * request's X-Forwarded-Prefix could tell it. Unset: the root.
   */
  mount?: string;
  /** The Unix user and group of the app's processes (the gateway runs as root). */
  uid?: number;
  gid?: number;
  /** The version's start, told each step of its workers and serving processes (status's waitingFor), through PoolContext.startSteps. */
  startSteps?: StartSteps;
}

export interface PoolContext {
  members: Members;
  rotation: UpstreamRotation<Member>;
  /**
   * Its processes' output into the app log, stderr marked in the log's tail; `loadFailure`, a
   * worker's load failure (its import's or lifespan startup's traceback), which `who` names (`worker 2`) where it is folded.
   */
  output: { stdout: Writable; stderr: Writable; loadFailure: (traceback: string, who: string) => void; throttle?: OutputThrottle };
  /** How long a retired process may finish its requests. */
  drainMs: () => number;
  /**
   * How long a retired worker keeps its websockets before they are closed 1012: the version's
   * `drain`, as when a deploy replaces it (a websocket has no end of its own).
   */
  websocketDrainMs: () => number;
  /** A process in rotation died unexpectedly (`what` says which and how); it is restarted. */
  onExited: (what: string) => void;
  /** The instance's requests (they feed its version's): each worker's and routed process's tally feeds it. */
  tally: RequestTally;
  /**
   * Where a worker's or process's start tells its steps now: the version's start, or a wake from
   * idle (its own steps, shown on the serving row); null when neither is under way.
   */
  startSteps: () => StartSteps | null;
}
