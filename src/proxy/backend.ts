// What the proxy needs of one version of one app, said here by the proxy (its consumer): the
// supervisor's AppInstance has this shape without knowing of it, and the composition root
// (src/gateway.ts) is where TypeScript checks that the two fit. The supervisor publishes which
// processes take traffic; the proxy decides which request goes to which.
import type { Socket } from 'node:net';
import type { WorkerLink } from '../link/worker-link.js';
import type { ClosableWebsocket } from './open-websockets.js';
import type { ResponseTally } from './served-by.js';

/** A Python worker that takes requests, through its link. */
export interface WorkerEndpoint {
  readonly kind: 'worker';
  readonly link: WorkerLink;
  /** Requests it runs at once (its threads): more wait in the app's queue, where a switch can move them. */
  readonly capacity: number;
  /**
   * Requests in it went past the timeout without a response head (each got its 504 and was
   * aborted): the supervisor judges whether the worker is stuck, and replaces it if so.
   */
  requestsTimedOut(why: string): void;
  /**
   * Its link has not answered the heartbeat for longer than the app's timeout: nothing on it
   * can run (an ASGI loop held by sync code, a call holding the GIL), and nothing will end it
   * by itself. The supervisor replaces it, as gunicorn's arbiter kills a worker silent past its
   * timeout. A worker whose threads are busy in the app is not silent: its monitor answers.
   */
  silentPastTimeout(why: string): void;
  /** Told of each response it gave (status, latency). */
  readonly tally?: ResponseTally;
  /**
   * A replacement for it is starting (a recycle: max_requests, max_memory): it takes no new
   * request meanwhile, which goes to another worker or waits for the replacement, so that
   * max_requests bounds what it serves however busy the app is.
   */
  readonly beingReplaced?: () => boolean;
}

/** A `processes` entry that speaks HTTP itself on a loopback port. */
export interface ProcessEndpoint {
  readonly kind: 'process';
  /** The key under `processes:`. */
  readonly name: string;
  readonly port: number;
  /** "processes.live of chat", for error bodies. */
  readonly label: string;
  /**
   * Told of each request and websocket the proxy sends it, and of its end: a process out of
   * rotation is stopped once what it holds is done, not in the middle of it, and status counts
   * its open websockets.
   */
  readonly held: {
    opened(websocket: boolean): void;
    closed(websocket: boolean): void;
    /** It sent a response head: it serves (its liveness need not ask it, supervisor/liveness.ts). */
    answered?(): void;
    /**
     * A request ended before its answer (its client left, so the proxy aborted it): a server
     * that takes one connection at a time may work on it until `until` (performance.now(), the
     * time the proxy would have waited), taking nothing from its listen queue meanwhile.
     */
    abandoned?(until: number): void;
    /** A websocket `client` holds is open: what closes it as the gateway (1012 at a drain's end). */
    websocket?(tunnel: ClosableWebsocket, client: Socket): void;
  };
  /** Told of each response it gave (status, latency). */
  readonly tally?: ResponseTally;
  /** A line for the gateway's output, the app named: why the proxy cut one of its answers. */
  readonly say?: (line: string) => void;
}

export type Endpoint = WorkerEndpoint | ProcessEndpoint;

/** A process that takes requests: under its route, or (route null) every request not routed elsewhere. */
export interface ProcessRouteSpec {
  readonly name: string;
  readonly route: string | null;
}

export interface Backend {
  readonly name: string;
  /** 500 bodies carry the traceback. */
  readonly development: boolean;
  readonly limits: {
    /** Requests that may wait for a free upstream before 503. */
    readonly queue: number;
    /** No response head this long: 504. */
    readonly timeoutMs: number;
    /** While the app wakes from idle, how long a request waits for it (when longer than timeoutMs), then 503. */
    readonly wakeWaitMs?: number;
    /** The largest request body: 413 past it. */
    readonly maxBody: number;
    /** The largest websocket message from a client: 1009 past it (maxBody when absent). */
    readonly maxMessage?: number;
  };
  /** The package directory and its `static:` mapping (served here, never reaching Python). */
  readonly dir: string;
  readonly static: Readonly<Record<string, string>>;
  /** Its workers take websockets (an ASGI app); else an upgrade for them is refused (501). */
  readonly acceptsWebsockets: boolean;
  /** The processes that take requests, longest route first, the one without a route last. */
  readonly processRoutes: readonly ProcessRouteSpec[];
  /** What takes traffic now; a new array after each change. */
  readonly upstreams: readonly Endpoint[];
  /** Calls `listener` after each change of `upstreams`; returns the unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** A line for the app's own log: what the proxy met that the app's owner should fix (a broken static symlink). */
  report?(line: string): void;
  /**
   * An idle app (SPEC 5.6): asleep, its workers stopped; waking, starting them. Requests then
   * wait in the queue (whatever their group) and the first one wakes it.
   */
  readonly idleState?: 'awake' | 'asleep' | 'waking';
  /**
   * Its processes keep exiting (status's `crash-loop`): a request with no worker up is answered
   * 503 at once, not held through a restart delay of up to 30 s that most likely ends in
   * another exit.
   */
  readonly crashLooping?: boolean;
  /** When its first worker waiting out a restart delay starts again (Date.now() ms): the 503's Retry-After. */
  readonly nextWorkerRestartAt?: number | null;
  /** When a wake is tried again after the app failed one (Date.now() ms): the 503's Retry-After till then. */
  readonly wakeRetryAt?: number | null;
  /**
   * What this version answered: the gateway's 503s and 504s that are the app's own failure (a
   * wake its files failed, a wake not done within its start bound, a crash loop, a full queue,
   * no worker within `timeout`, a worker or process restarting) count here as a worker's
   * answers do, so its `failed` agrees with the app's `errors`, which counts them.
   */
  readonly answered?: ResponseTally;
  /**
   * Starts what sleeps; resolves once it takes traffic, rejects when it cannot: with an error
   * whose `noRoom` is true when --max-workers left no room for it (the gateway's refusal, not
   * the app's failure: served-by.ts REFUSED_FOR_ROOM).
   */
  wake?(): Promise<void>;
  /**
   * While the wake under way asks --max-workers for room: settles with null once it has it, or
   * with the noRoom error its wake rejects with; null when the room is no question now.
   */
  roomForWake?(): Promise<Error | null> | null;
  /** A request or websocket goes to one of its processes: it is not idle until the release is called. */
  hold?(): () => void;
}
