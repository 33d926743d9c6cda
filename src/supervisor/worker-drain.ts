// How a worker out of rotation ends when its link holds websockets (an ASGI app's, docs/protocol.md
// §8): they stay open until they end or the drain time passes, then they are closed 1012 (RFC 6455
// "service restart"), the app has a moment to see that and return, and only then is the worker
// sent SIGTERM. Not before: the shim takes SIGTERM to mean "finish what you hold", and a
// websocket has no end of its own. A gateway stop cuts every wait short (its websockets are
// closed 1001 instead).
import { WsCloseCode } from '../link/frames.js';
import type { WorkerLink } from '../link/worker-link.js';
import { CANCEL_BOUND_MS, type Worker } from './worker.js';

/**
 * The line for an ASGI worker killed CANCEL_BOUND_MS after `after` (the CANCEL that ended its
 * stop's bound), or null for any other end. Without it the app's log showed its shutdown begin
 * and nothing after, and one that ignores its cancel (or sync code holding the loop) went unnoticed.
 */
export function killedAfterCancel(app: string, worker: Worker, after: string): string | null {
  if (worker.kind !== 'asgi' || worker.exitSignal !== 'SIGKILL' || worker.killedFor !== null) return null;
  // Stopped before READY it had no tasks nor shutdown: only its start, which its app's own SIGTERM handler let go on.
  const starting = worker.stoppedStarting;
  const why = starting === null
    ? 'its lifespan shutdown did not complete, or a task ignored its cancellation, or sync code held the event loop'
    : `it was stopped during its ${starting === 'lifespan' ? 'lifespan startup' : 'import'}, which went on past its SIGTERM: the app took the signal for itself`;
  return `${app}: worker ${worker.pid ?? '?'} had not exited ${CANCEL_BOUND_MS / 1000} s after ${after} (${why}): killed`;
}

/**
 * Why a worker is out of rotation, for the reason its websockets' clients read in the 1012 close:
 * "restarting" told a page whose version a deploy had replaced that the same code would be back.
 */
export type DrainCause = 'deployed' | 'rolled-back' | RestartCause | 'removed' | 'recycled';

/** A restart of the serving version in place: the admin's (or new settings'), or serve --reload's at a change of code. */
export type RestartCause = 'restarted' | 'reloaded';

/** The close reason (at most 123 bytes; websocket-flow.ts cuts a longer app name) for `cause`. */
export function drainCloseReason(app: string, cause: DrainCause): string {
  switch (cause) {
    case 'deployed': return `${app}: another version took over`;
    case 'rolled-back': return `${app}: rolled back to another version`;
    case 'restarted': return `${app} was restarted`;
    // "was restarted" read as someone's restart: under serve --reload it is the developer's save.
    case 'reloaded': return `${app}: its code changed (--reload)`;
    case 'removed': return `${app} is stopping: it was removed`;
    case 'recycled': return `${app}: its worker was recycled`;
  }
}

/** After its websockets were closed at the end of a drain, how long the app has to return. */
const WEBSOCKET_CLOSE_GRACE_MS = 5000;

export class WorkerDrain {
  /** Drains waiting for websockets to end: cutShort() wakes them. */
  private readonly waiters = new Set<() => void>();
  private cut = false;

  /**
   * `app` names the app in the reason the clients get; `say` writes the gateway's log (the
   * requests a drain's end cuts).
   */
  constructor(private readonly app: string, private readonly say: (line: string) => void = () => {}) {}

  /**
   * Lets `worker` finish what it holds, then stops it: its requests within `ms`, its websockets
   * until they end or `websocketMs` passes (then 1012). A recycled worker's requests are bound
   * by `timeout`, its websockets by the version's `drain`; a replaced version's both by `drain`.
   * `cause` is said to the websockets' clients in the close.
   */
  async drain(worker: Worker, cause: DrainCause, ms: number, websocketMs = ms): Promise<void> {
    const link = worker.link;
    let grace = ms;
    // The websockets the app holds, not only those whose clients do (status's count): a task that
    // runs on after its client closed is the app's to finish, within the drain, as a request is.
    if (link !== null && link.heldWebsockets > 0) {
      const started = performance.now();
      await this.websocketsClosed(link, websocketMs);
      link.closeWebsockets(WsCloseCode.SERVICE_RESTART, drainCloseReason(this.app, cause));
      await this.websocketsClosed(link, WEBSOCKET_CLOSE_GRACE_MS);
      grace = Math.max(1000, ms - (performance.now() - started));
    }
    // The access log's 444s alone would not say why an app's streams all ended at once.
    // A thread stuck past the timeout holds a request whose client got its 504 long ago: no
    // 444 of it is in the access log, and the line must not send anyone looking for one.
    const cut = (inFlight: number, unanswered: number, answered: number): void => {
      if (this.cut) return; // the gateway's stop, which says what it cuts itself
      const parts: string[] = [];
      if (inFlight > 0) parts.push(inFlight === 1 ? '1 request still in flight (a stream, a long poll) is cut (444 in the access log)' : `${inFlight} requests still in flight (streams, long polls) are cut (444 in the access log)`);
      if (unanswered > 0) parts.push(unanswered === 1 ? '1 request with no answer yet is answered 502' : `${unanswered} requests with no answer yet are answered 502`);
      if (answered > 0) parts.push(answered === 1 ? '1 request its threads still ran, whose client had its answer (a 504) or had left, ends with it' : `${answered} requests its threads still ran, whose clients had their answer (a 504) or had left, end with it`);
      this.say(`${this.app}: worker ${worker.pid ?? '?'} has drained for ${ms / 1000} s; ${parts.join('; ')}`);
    };
    worker.on('cut', cut);
    try {
      await worker.stop(grace);
    } finally {
      worker.off('cut', cut);
    }
    const killed = this.cut ? null : killedAfterCancel(this.app, worker, 'its drain\'s end');
    if (killed !== null) this.say(killed);
  }

  /** The gateway stops: no drain waits for websockets any more, now or later. */
  cutShort(): void {
    this.cut = true;
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves when the app holds no websocket on `link` (or it closes), after `ms`, or once cut short. */
  private websocketsClosed(link: WorkerLink, ms: number): Promise<void> {
    if (link.heldWebsockets === 0 || link.closed || this.cut) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        link.off('websockets-released', done);
        link.off('close', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      link.on('websockets-released', done);
      link.on('close', done);
      this.waiters.add(done);
    });
  }
}
