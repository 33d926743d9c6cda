// The event loop's delay for GET /metrics, under the names prom-client's default metrics give
// it (nodejs_eventloop_lag_seconds, _min/_max/_mean/_stddev/_p50/_p90/_p99_seconds), in their
// place. prom-client's own read a delay histogram started at the first scrape (metrics.ts loads
// it then) and emptied at each: a scrape with no sample since the last (the first one, right
// after the start, or two within the histogram's 10 ms) printed `Nan` for the mean and the
// standard deviation, 9223372036.85 (the histogram's empty minimum, 292 years) for the minimum
// and 0 for the maximum; and the plain lag, measured after the scrape, said 0 at the first one
// and the previous scrape's figure after. Here a window with no sample has no series (a
// Prometheus query sees no data, as it should, not a number), and the lag is measured before
// the scrape answers.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Registry } from 'prom-client';

/** As prom-client's default (eventLoopMonitoringPrecision): the histogram's sampling period. */
const RESOLUTION_MS = 10;

/** prom-client's names, which ours replace (metrics.ts removes them from its registry). */
export const EVENT_LOOP_METRICS = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
] as const;

type Metric = Parameters<Registry['registerMetric']>[0];
type Values = Array<{ labels: Record<string, string>; value: number }>;

/** The window since the last scrape, read once per scrape by whichever series asks first. */
interface Window {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * The metrics to register, prefixed as the default ones (`apppkg_gateway_`); the histogram
 * runs from this call on. Each scrape reads the window since the scrape before (an empty
 * window is kept, and read at the next), and the lag now.
 */
export function eventLoopDelayMetrics(prefix: string): Metric[] {
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // The series of one scrape are asked for one after another in the same turn: the window is
  // read (and the histogram emptied) once for them all.
  let window: Window | null = null;
  let readScheduled = false;
  const read = (): Window | null => {
    if (!readScheduled) {
      readScheduled = true;
      queueMicrotask(() => (readScheduled = false));
      window = null;
      if (histogram.count > 0) {
        window = {
          min: histogram.min, max: histogram.max, mean: histogram.mean, stddev: histogram.stddev,
          p50: histogram.percentile(50), p90: histogram.percentile(90), p99: histogram.percentile(99),
        };
        histogram.reset();
      }
    }
    return window;
  };
  const metric = (name: string, help: string, value: () => Promise<number | null> | number | null): Metric => {
    const full = prefix + name;
    const get = async () => {
      const v = await value();
      const values: Values = v === null ? [] : [{ labels: {}, value: v }];
      return { name: full, help, type: 'gauge', aggregator: 'average', values };
    };
    return { name: full, help, type: 'gauge', aggregator: 'average', get, reset: () => {} } as unknown as Metric;
  };
  const ofWindow = (pick: (w: Window) => number) => (): number | null => {
    const w = read();
    return w === null ? null : pick(w) / 1e9;
  };
  return [
    // The time a callback queued now waits for its turn: the loop's lag at this scrape.
    metric(EVENT_LOOP_METRICS[0], 'Lag of event loop in seconds, measured at the scrape.', () => {
      const start = process.hrtime.bigint();
      return new Promise<number>((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
    }),
    metric(EVENT_LOOP_METRICS[1], 'The minimum recorded event loop delay since the last scrape (none when no sample came).', ofWindow((w) => w.min)),
    metric(EVENT_LOOP_METRICS[2], 'The maximum recorded event loop delay since the last scrape (none when no sample came).', ofWindow((w) => w.max)),
    metric(EVENT_LOOP_METRICS[3], 'The mean of the recorded event loop delays since the last scrape (none when no sample came).', ofWindow((w) => w.mean)),
    metric(EVENT_LOOP_METRICS[4], 'The standard deviation of the recorded event loop delays since the last scrape (none when no sample came).', ofWindow((w) => w.stddev)),
    metric(EVENT_LOOP_METRICS[5], 'The 50th percentile of the recorded event loop delays since the last scrape (none when no sample came).', ofWindow((w) => w.p50)),
    metric(EVENT_LOOP_METRICS[6], 'The 90th percentile of the recorded event loop delays since the last scrape (none when no sample came).', ofWindow((w) => w.p90)),
    metric(EVENT_LOOP_METRICS[7], 'The 99th percentile of the recorded event loop delays since the last scrape (none when no sample came).', ofWindow((w) => w.p99)),
  ];
}
