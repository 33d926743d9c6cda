// Request counters, latency and per-app gauges for GET /metrics (Prometheus text, SPEC §4).
//
// Why prom-client: it is the de facto Prometheus client for Node (maintained under siimon/,
// used by most Node exporters), gets the text exposition format and its escaping right, and
// brings the standard process metrics (CPU, RSS, event-loop lag, GC) that we would otherwise
// have to write and keep correct ourselves. Every metric lives in a private Registry, never the
// global one, so two gateways in one process (tests do that) never clash over metric names.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayStatus, LatencySummary } from './status-types.js';

/** Durations kept per app for the percentiles in `status`: a sliding window, not all time. */
export const LATENCY_WINDOW = 2048;

/** Seconds; up to 60 because the gateway's own upstream timeout (504) is of that order. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Worker states always reported (as 0 when none), so `ready / total` queries never see a gap. */
const WORKER_STATES = ['starting', 'ready', 'stopping', 'exited'];

const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

type IncChild = { inc(value?: number): void };
type ObserveChild = { observe(value: number): void };

/** Everything observeRequest touches for one app, created once: the hot path only looks it up. */
interface AppSeries {
  byClass: IncChild[];
  duration: ObserveChild;
  requests: number;
  errors: number;
  /** Ring buffer of the last LATENCY_WINDOW durations, in seconds. */
  window: Float64Array;
  /** Durations written so far (the next slot is `written % LATENCY_WINDOW`). */
  written: number;
}

export interface GatewayMetricsOptions {
  /** Read once per scrape to fill the gauges; without it only request metrics are rendered. */
  status?: () => GatewayStatus;
  /** Include prom-client's default Node process metrics (prefix `apppkg_gateway_`); default true. */
  processMetrics?: boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly apps = new Map<string, AppSeries>();
  private readonly requestsTotal: Counter<'app' | 'code'>;
  private readonly duration: Histogram<'app'>;
  private readonly workers: Gauge<'app' | 'state'>;
  private readonly restarts: Counter<'app'>;
  private readonly queueLength: Gauge<'app'>;
  private readonly inFlight: Gauge<'app'>;
  private readonly appUp: Gauge<'app'>;
  private statusProvider: (() => GatewayStatus) | undefined;

  constructor(options: GatewayMetricsOptions = {}) {
    this.statusProvider = options.status;
    const registers = [this.registry];
    this.requestsTotal = new Counter({
      name: 'apppkg_requests_total',
      help: 'Requests answered, by app and status class (2xx..5xx); 499 = the client left.',
      labelNames: ['app', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'apppkg_request_duration_seconds',
      help: 'Time from the request head to the end of the response, by app.',
      labelNames: ['app'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.workers = new Gauge({ name: 'apppkg_workers', help: 'Python worker processes, by app and state.', labelNames: ['app', 'state'], registers });
    // A counter in type (so rate() works), but set from the supervisor's own count at scrape time.
    this.restarts = new Counter({ name: 'apppkg_worker_restarts_total', help: 'Worker restarts after unexpected exits, by app.', labelNames: ['app'], registers });
    this.queueLength = new Gauge({ name: 'apppkg_queue_length', help: 'Requests waiting for a free worker, by app.', labelNames: ['app'], registers });
    this.inFlight = new Gauge({ name: 'apppkg_in_flight', help: 'Requests being handled by a worker, by app.', labelNames: ['app'], registers });
    this.appUp = new Gauge({ name: 'apppkg_app_up', help: '1 when the app is ready to take traffic, else 0.', labelNames: ['app'], registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'apppkg_gateway_' });
  }

  /** Sets (or replaces) where the gauges come from; the gateway may exist after its metrics. */
  setStatusProvider(status: () => GatewayStatus): void {
    this.statusProvider = status;
  }

  /** Once per request, on the hot path: a map lookup, two prom-client updates, one array write. */
  observeRequest(app: string, status: number, seconds: number): void {
    const series = this.apps.get(app) ?? this.addApp(app);
    const cls = Math.min(5, Math.max(1, Math.floor(status / 100)));
    series.byClass[cls - 1].inc();
    series.duration.observe(seconds);
    series.requests++;
    if (status >= 500) series.errors++;
    series.window[series.written % LATENCY_WINDOW] = seconds;
    series.written++;
  }

  requestsOf(app: string): number {
    return this.apps.get(app)?.requests ?? 0;
  }

  /** Responses with status >= 500, gateway-made ones (502/503/504) included. */
  errorsOf(app: string): number {
    return this.apps.get(app)?.errors ?? 0;
  }

  /** p50/p90/p99 (nearest rank) over the last LATENCY_WINDOW durations; computed on demand. */
  latency(app: string): LatencySummary {
    const series = this.apps.get(app);
    const n = series ? Math.min(series.written, LATENCY_WINDOW) : 0;
    if (!series || n === 0) return { p50: null, p90: null, p99: null };
    const sorted = series.window.slice(0, n).sort();
    const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * n) - 1)];
    return { p50: rank(50), p90: rank(90), p99: rank(99) };
  }

  /** Drops an app's series (it was removed from --apps), so its old numbers stop being exported. */
  forgetApp(app: string): void {
    if (!this.apps.delete(app)) return;
    for (const code of CODE_CLASSES) this.requestsTotal.remove(app, code);
    this.duration.remove(app);
  }

  /** The Prometheus text exposition (format 0.0.4), gauges read from the status provider now. */
  async render(): Promise<string> {
    this.fillGauges();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private addApp(app: string): AppSeries {
    const series: AppSeries = {
      byClass: CODE_CLASSES.map((code) => this.requestsTotal.labels(app, code)),
      duration: this.duration.labels(app),
      requests: 0,
      errors: 0,
      window: new Float64Array(LATENCY_WINDOW),
      written: 0,
    };
    this.apps.set(app, series);
    return series;
  }

  private fillGauges(): void {
    if (!this.statusProvider) return;
    const status = this.statusProvider();
    // Reset first: an app that went away must not keep reporting its last values.
    for (const metric of [this.workers, this.restarts, this.queueLength, this.inFlight, this.appUp]) metric.reset();
    for (const app of status.apps) {
      const counts = new Map<string, number>(WORKER_STATES.map((s) => [s, 0]));
      let inFlight = 0;
      for (const worker of app.workers) {
        counts.set(worker.state, (counts.get(worker.state) ?? 0) + 1);
        inFlight += worker.inFlight;
      }
      for (const [state, count] of counts) this.workers.set({ app: app.name, state }, count);
      this.restarts.inc({ app: app.name }, app.restarts);
      this.queueLength.set({ app: app.name }, app.queued);
      this.inFlight.set({ app: app.name }, inFlight);
      this.appUp.set({ app: app.name }, app.state === 'ready' ? 1 : 0);
    }
  }
}
