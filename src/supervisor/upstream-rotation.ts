// What of one app version takes traffic now, as the proxy reads it (Backend.upstreams and
// subscribe, src/proxy/backend.ts): the upstream of each live process in rotation, published as
// a new array on every change so that a reader holding the last one never sees it change.
import type { RequestTally } from '../admin/request-tally.js';
import type { WorkerLink } from '../link/worker-link.js';

/** A worker that takes requests: the proxy sends them down `link`. */
export interface WorkerUpstream {
  readonly kind: 'worker';
  readonly link: WorkerLink;
  /** Requests it runs at once (its threads). */
  readonly capacity: number;
  readonly pid: number | undefined;
  /** The proxy answered 504 for requests of it: replace it if it is stuck (WorkerPool.judgeTimedOut). */
  requestsTimedOut(why: string): void;
  /** Its link has been silent past the app's timeout: replace it (proxy/backend.ts). */
  silentPastTimeout(why: string): void;
  /** The proxy tells it of each response it gave. */
  readonly tally: RequestTally;
  /** A recycle's replacement for it is starting: it takes no new request (proxy/backend.ts). */
  beingReplaced(): boolean;
}

/** A `processes` entry that serves: the proxy sends its requests to 127.0.0.1:port. */
export interface ProcessUpstream {
  readonly kind: 'process';
  /** The key under `processes:`. */
  readonly name: string;
  readonly port: number;
  /** "processes.live of chat", for error bodies. */
  readonly label: string;
  /** The proxy tells it of each request and websocket it sends there, and of its end. */
  readonly held: { opened(websocket: boolean): void; closed(websocket: boolean): void };
  /** The proxy tells it of each response it gave. */
  readonly tally: RequestTally;
  /** A line for the gateway's output, the app named: why the proxy cut one of its answers. */
  readonly say: (line: string) => void;
}

export type LiveUpstream = WorkerUpstream | ProcessUpstream;

/** The upstreams of the processes `M` in rotation, and who is told when they change. */
export class UpstreamRotation<M> {
  private readonly live = new Map<M, LiveUpstream>();
  private published: LiveUpstream[] = [];
  private readonly listeners = new Set<() => void>();

  /** What takes traffic now. A new array on every change; never mutated. */
  get upstreams(): readonly LiveUpstream[] {
    return this.published;
  }

  /** Calls `listener` after every change of `upstreams`; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(member: M, upstream: LiveUpstream): void {
    this.live.set(member, upstream);
    this.changed();
  }

  unpublish(member: M): void {
    if (this.live.delete(member)) this.changed();
  }

  /** Takes `members` out of rotation at once, and tells the listeners even if none was in it. */
  withdraw(members: readonly M[]): void {
    for (const member of members) this.live.delete(member);
    this.changed();
  }

  /** Nothing takes traffic any more. */
  clear(): void {
    if (this.live.size > 0) {
      this.live.clear();
      this.changed();
    }
  }

  /** Tells the listeners: the upstreams changed, or what they read beside them (the idle state). */
  changed(): void {
    this.published = [...this.live.values()];
    for (const listener of this.listeners) listener();
  }
}
