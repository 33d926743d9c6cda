// GET /events: the status as server-sent events, for the status page (and `status --watch`).
// better-sse does the protocol (headers, framing, keep-alive comments, disconnects). The status
// is built on a timer, only while someone listens, at most twice a second however busy the
// gateway is, and sent only when it changed: the proxy's hot path never learns anyone watches.
// Each client gets the whole status first, then only what changed (status-patch.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from 'better-sse';
import { takesGzip } from './gzip-answer.js';
import { streamEnded, STREAM_END_TRAILER } from './stream-end.js';
import { cutStatus, extraFields, patchEvent, wholeEvent, type SentStatus, type StatusCut } from './status-patch.js';
import type { GatewayStatus } from './status-types.js';

/** How often the status is looked at while someone listens. */
const TICK_MS = 500;
/** A comment this often keeps proxies and browsers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

export interface StatusEventsOptions {
  /** The status for a client that may (or may not) see apps' logs. */
  status: (logs: boolean) => Promise<GatewayStatus>;
}

interface Listener {
  session: Session;
  res: ServerResponse;
  /** Bytes written to its gzip stream and not yet compressed and handed to `res` (0 without gzip). */
  queued: () => number;
  logs: boolean;
  /** Its own fields (what it may do) as JSON: the same for the whole stream. */
  extra: Map<string, string>;
  /** What it was last sent, by part; null until its first event, the whole status. */
  sent: SentStatus | null;
  /** When it was last written to (performance.now()): a keep-alive comment is due KEEP_ALIVE_MS after. */
  wroteAt: number;
}

export class StatusEvents {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(private readonly opts: StatusEventsOptions) {}

  /** Streams being sent: each is built a status twice a second. */
  get listening(): number {
    return this.listeners.size;
  }

  /** Answers `req` with the event stream; `extra` is added to every status (what the client may do). */
  async open(req: IncomingMessage, res: ServerResponse, logs: boolean, extra: Partial<GatewayStatus>): Promise<void> {
    const { createSession } = await import('better-sse');
    // A client gone before its stream began (a page closed as it loaded, `status --watch`
    // stopped at once) is not one better-sse can tell us of: it learns of the end from the
    // response's 'close', which has passed, or which comes before its session starts (then it
    // starts its keep-alive timer after its 'disconnected'). Such a session was kept, with
    // that timer and this class's tick building a status twice a second for it, until the
    // gateway stopped: one more per such client. Here the response's own state and 'close'
    // say when a client has gone, and the keep-alive comments come from the tick.
    if (streamEnded(res)) return;
    // As every other admin answer: the stream holds the apps' own words (names, log lines).
    // The security headers are the admin server's, set on the response before it comes here.
    // A stream whose token a rotation revokes is ended with a trailer saying so (stream-end.ts).
    const headers = { 'Cache-Control': 'no-store', Trailer: STREAM_END_TRAILER };
    // The data is JSON already, made once per tick for every listener.
    const options = { keepAlive: null, retry: 2000, serializer: (data: unknown) => data as string };
    const gzipped = takesGzip(req.headers['accept-encoding']) ? (await import('./event-stream-gzip.js')).gzipEventConnection(req, res, headers) : null;
    const session = gzipped === null ? await createSession(req, res, { ...options, headers }) : await createSession(gzipped.connection, options);
    if (streamEnded(res)) return;
    const listener: Listener = { session, res, queued: gzipped?.queued ?? (() => 0), logs, extra: extraFields(extra), sent: null, wroteAt: performance.now() };
    this.listeners.add(listener);
    res.once('close', () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopTicking();
    });
    this.timer ??= setInterval(() => void this.tick(), TICK_MS);
    await this.send([listener]);
  }

  /** Ends every stream (the gateway stops). */
  close(): void {
    // Their sockets are the admin server's to destroy; here only the timer stops.
    this.stopTicking();
    this.listeners.clear();
  }

  private stopTicking(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // the last one still builds: skip a beat rather than pile up
    this.ticking = true;
    try {
      await this.send([...this.listeners]);
      const due = performance.now() - KEEP_ALIVE_MS;
      for (const listener of this.listeners) {
        if (listener.wroteAt > due || behind(listener) || streamEnded(listener.res)) continue;
        listener.wroteAt = performance.now();
        void listener.session.batch((buffer) => void buffer.comment());
      }
    } finally {
      this.ticking = false;
    }
  }

  private async send(listeners: Listener[]): Promise<void> {
    // Built and cut once per access level, however many listen: a client that may read the
    // apps' logs is sent them, one that may not is sent them withheld (admin-server.ts).
    const cuts = new Map<boolean, StatusCut>();
    for (const listener of listeners) {
      if (!cuts.has(listener.logs)) cuts.set(listener.logs, cutStatus(await this.opts.status(listener.logs)));
      if (!this.listeners.has(listener) || !listener.session.isConnected || streamEnded(listener.res)) continue;
      // Its first event is never held back: the stream's head may be all it has not taken yet.
      if (listener.sent !== null && behind(listener)) continue;
      const cut = cuts.get(listener.logs)!;
      if (listener.sent === null) {
        const whole = wholeEvent(cut, listener.extra);
        listener.sent = whole.sent;
        this.push(listener, whole.data, 'status');
        continue;
      }
      // Compared part by part with what this client was last sent, `now` left out: an
      // event when anything else changed, with only that in it.
      const patch = patchEvent(cut, listener.extra, listener.sent);
      if (patch !== null) this.push(listener, patch, 'apps');
    }
  }

  private push(listener: Listener, data: string, event: string): void {
    listener.wroteAt = performance.now();
    listener.session.push(data, event);
  }
}

/**
 * True while a client has not taken all it was sent (a slow link, a stopped `status --watch`):
 * it is skipped, rather than its events piling up in the gateway's memory, until it has. Its
 * next event then brings it from what it was last sent to the status of that time at once.
 */
function behind(listener: Listener): boolean {
  return listener.res.writableLength > 0 || listener.queued() > 0;
}
