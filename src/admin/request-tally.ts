// Requests answered and failed, and the latency of the recent ones, for one thing that answers:
// an app (metrics.ts), one of its versions, a worker, a routed process (SPEC 5.4: "every app,
// version and process with ... served / failed, p50/p95/p99 latency"). A worker's tally feeds
// its version's, so a version's figures outlive its workers (recycled, restarted, drained).
import type { LatencySummary } from './status-types.js';

/** Durations kept for the percentiles in `status`: a sliding window, not all time. */
export const LATENCY_WINDOW = 2048;
/** ...and of those, only the ones of the last minute (the status page's "latency now"). */
export const LATENCY_WINDOW_SECONDS = 60;

/**
 * The last `size` durations and when each ended. Its arrays are made at the first record: a
 * gateway of many idle apps (SPEC 5.6) pays nothing for the ones nobody asks.
 */
export class LatencyWindow {
  private durations: Float64Array | null = null;
  private endedAt: Float64Array | null = null;
  /** Durations recorded so far (the next slot is `written % size`). */
  private written = 0;

  constructor(
    private readonly size: number,
    /** A monotonic clock in ms (tests move it). */
    private readonly now: () => number,
  ) {}

  record(seconds: number): void {
    const slot = this.written % this.size;
    (this.durations ??= new Float64Array(this.size))[slot] = seconds;
    (this.endedAt ??= new Float64Array(this.size))[slot] = this.now();
    this.written++;
  }

  /** p50/p90/p95/p99 (nearest rank) over the durations of the last LATENCY_WINDOW_SECONDS; computed on demand. */
  summary(): LatencySummary {
    const kept = Math.min(this.written, this.size);
    const since = this.now() - LATENCY_WINDOW_SECONDS * 1000;
    const recent: number[] = [];
    for (let i = 0; i < kept; i++) if (this.endedAt![i] >= since) recent.push(this.durations![i]);
    const n = recent.length;
    if (n === 0) return noLatency();
    const sorted = Float64Array.from(recent).sort();
    const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * n) - 1)];
    return { p50: rank(50), p90: rank(90), p95: rank(95), p99: rank(99), windowSeconds: LATENCY_WINDOW_SECONDS };
  }
}

/** The latency of what answered nothing in the window. */
export function noLatency(): LatencySummary {
  return { p50: null, p90: null, p95: null, p99: null, windowSeconds: LATENCY_WINDOW_SECONDS };
}

/** What `status` shows of a tally. */
export interface TallyFigures {
  /** Requests answered (the client's connection closed on them or they finished), since the tally began. */
  requests: number;
  /** Of those, answered with a status of 500 or above (the gateway's 502/503/504 included). */
  failed: number;
  latency: LatencySummary;
}

export class RequestTally {
  requests = 0;
  failed = 0;
  private readonly window: LatencyWindow;

  constructor(
    /** Also told of each request: a worker's version. */
    private readonly parent: RequestTally | null = null,
    windowSize = LATENCY_WINDOW,
    now: () => number = () => performance.now(),
  ) {
    this.window = new LatencyWindow(windowSize, now);
  }

  /** Once per request, when its response is done (the proxy's ResponseTally). */
  observe(status: number, seconds: number): void {
    this.requests++;
    if (status >= 500) this.failed++;
    this.window.record(seconds);
    this.parent?.observe(status, seconds);
  }

  figures(): TallyFigures {
    return { requests: this.requests, failed: this.failed, latency: this.window.summary() };
  }
}
