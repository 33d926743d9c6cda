// The health probe (SPEC §4: "each app's workers start, pass their health probe, and only then
// get traffic"): one synthetic `GET <health>` sent straight down a worker's link as a REQUEST
// frame, so it reaches exactly that worker, and the status it answers; repeated until it
// passes or the worker's start bound runs out.

import { GatewayError } from '../errors.js';
import { Frame, encodeEmptyFrame } from '../link/frames.js';
import { encodeRequest } from '../link/request-frame.js';
import type { LinkExchange, WorkerLink } from '../link/worker-link.js';
import { decodeRequestPath, splitTarget } from '../net/request-path.js';
import { silenceTimeout } from '../net/after-next-poll.js';
import { delay } from './process-group.js';

const PROBE_AGENT = 'apppkg-gateway-probe';

function statusOf(head: Buffer, start: number): number {
  return (head[start] - 48) * 100 + (head[start + 1] - 48) * 10 + (head[start + 2] - 48);
}

class ProbeExchange implements LinkExchange {
  id = 0;
  private status = 0;

  constructor(
    private readonly link: WorkerLink,
    private readonly done: (result: number | Error) => void,
  ) {}

  onFrame(type: number, payload: Buffer): void {
    switch (type) {
      case Frame.RESPONSE_FULL:
        this.done(statusOf(payload, 4));
        return;
      case Frame.RESPONSE:
        // The status is all we want: the app may stop sending the body.
        this.status = statusOf(payload, 0);
        this.link.write(encodeEmptyFrame(Frame.ABORT, this.id));
        this.done(this.status);
        return;
      case Frame.RESPONSE_END:
        this.done(this.status || 200);
        return;
      case Frame.ERROR:
        this.done(500); // the app raised: as a client would see it
        return;
      case Frame.UNRUN:
        this.done(new Error('the worker gave the probe back unrun'));
        return;
      default:
        return; // CONTINUE, REQUEST_CREDIT, RESPONSE_BODY: nothing to do
    }
  }

  onLinkFailed(reason: string): void {
    this.done(new Error(reason));
  }
}

/** `GET path` on the worker behind `link`: resolves with the status; rejects past timeoutMs. */
export function probeLink(link: WorkerLink, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const exchange = new ProbeExchange(link, (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (typeof result === 'number') resolve(result);
      else reject(result);
    });
    const target = splitTarget(path);
    const pathInfo = decodeRequestPath(target.path);
    if (pathInfo === null) {
      exchange.onLinkFailed('the path is not a request path (it must start with /, without %00 or .. segments)');
      return;
    }
    const id = link.open(exchange, false);
    if (id === 0) {
      exchange.onLinkFailed('the worker takes no requests');
      return;
    }
    exchange.id = id;
    // A loopback client asking for localhost, no body (docs/protocol.md §7). Its port is no
    // client's: the environ has none, as for any client whose port is unknown (§3), not a made-up 0.
    link.write(
      encodeRequest(
        id,
        {
          method: 'GET', scheme: 'http', serverName: 'localhost', serverPort: 80, remoteAddr: '127.0.0.1', remotePort: '',
          scriptName: '', pathInfo, queryString: target.query, requestUri: path, protocol: 'HTTP/1.1', body: '',
        },
        `\0HTTP_HOST\0localhost\0HTTP_USER_AGENT\0${PROBE_AGENT}`,
      ),
    );
    // The bound runs from the turn's flush, an immediate queued before this one (link.write): a
    // stall of the gateway's loop between the ask and the flush is time the worker did not have
    // the request, and counted, a probe with 1 s left of the start bound failed as it left.
    // Judged after the poll: an answer sent while the gateway's loop stalled is read first.
    setImmediate(() => {
      if (settled) return;
      timer = silenceTimeout(() => {
        if (settled) return;
        settled = true;
        link.write(encodeEmptyFrame(Frame.ABORT, exchange.id));
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  });
}

/** What a probe needs of a worker: Worker.probe. */
export interface Probeable {
  probe(path: string, timeoutMs: number): Promise<number>;
}

/** How long a probe that got an answer other than 2xx/3xx waits before the next. */
export const PROBE_RETRY_MS = 500;

export interface ProbeBounds {
  /**
   * performance.now() past which no more probes are sent: the worker's start bound. On the
   * monotonic clock: a step forward of the wall clock while an app warmed up refused it at once.
   */
  deadline: number;
  /** How long one probe may wait for its answer. */
  timeoutMs: number;
  /** Each answer other than 2xx/3xx, as it comes: a probe tried for up to the start bound is shown failing meanwhile. */
  onRefused?: (status: number) => void;
}

/**
 * Probes `worker` at `path` until it answers 2xx or 3xx (an app warming up answers 503 first, as
 * a readiness probe expects), and resolves with that status. Rejects with APPPKG_APP_PROBE_FAILED
 * once the deadline passes, carrying the last status and the path; at once when a probe gets no
 * answer at all (the worker is gone, or the path hangs: a WSGI thread held by it is not given
 * back, so it is not asked again).
 */
export async function probeWorker(worker: Probeable, app: string, path: string, bounds: ProbeBounds): Promise<number> {
  const startedAt = performance.now();
  for (;;) {
    let status: number;
    try {
      // Whole milliseconds: the bound is in the refusal's words ("no answer within 3769 ms").
      status = await worker.probe(path, Math.round(Math.min(bounds.timeoutMs, Math.max(1000, bounds.deadline - performance.now()))));
    } catch (err) {
      throw new GatewayError('APPPKG_APP_PROBE_FAILED', { app, path, reason: (err as Error).message, cause: err });
    }
    if (status >= 200 && status < 400) return status;
    bounds.onRefused?.(status);
    if (performance.now() + PROBE_RETRY_MS > bounds.deadline) {
      throw new GatewayError('APPPKG_APP_PROBE_FAILED', { app, path, status, seconds: Math.round((performance.now() - startedAt) / 1000) });
    }
    await delay(PROBE_RETRY_MS);
  }
}
