// Request counters, latency and per-app gauges for GET /metrics (Prometheus text, SPEC §4).
//
// Why prom-client: it is the de facto Prometheus client for Node (maintained under siimon/,
// used by most Node exporters), gets the text exposition format and its escaping right, and
// brings the standard process metrics (CPU, RSS, event-loop lag, GC) that we would otherwise
// have to write and keep correct ourselves. Every metric lives in a private Registry, never the
// global one, so two gateways in one process (tests do that) never clash over metric names.
//
// Why it is loaded at the first scrape, not at start (issue 11, "the front's own cost"):
// prom-client and the @opentelemetry/api it requires are ~90 files, ~40 ms of every cold start
// and ~8 MiB of an idle gateway's RSS, and its event-loop monitor wakes the process every
// 10 ms. A gateway nobody scrapes pays none of it. The request counts and the duration
// histogram are kept here, in plain arrays (the hot path is an index and three increments),
// and prom-client renders them through metric objects of our own (`collected` below); the
// process metrics start counting (GC, event-loop delay) at the first scrape.
import type { Counter, Gauge, Registry } from 'prom-client';
import { EVENT_LOOP_METRICS, eventLoopDelayMetrics } from './event-loop-delay.js';
import { LATENCY_WINDOW, noLatency, RequestTally } from './request-tally.js';
import type { GatewayStatus, LatencySummary, MailAppCounts, MailStatus } from './status-types.js';

export { LATENCY_WINDOW, LATENCY_WINDOW_SECONDS } from './request-tally.js';

/** Seconds; up to 60 because the gateway's own upstream timeout (504) is of that order. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Seconds, for an idle app's wake (its workers' import and probe): a hello app wakes in ~0.1 s,
 * a Django app with its ORM in a few seconds, and one past 30 s is near the start bound (60 s).
 */
const COLD_START_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30];

/** Worker states always reported (as 0 when none), so `ready / total` queries never see a gap. */
const WORKER_STATES = ['starting', 'ready', 'stopping', 'exited'];

const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Prometheus text format 0.0.4, as prom-client's Registry.PROMETHEUS_CONTENT_TYPE says. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Everything observeRequest touches for one app, created once: the hot path only indexes it. */
interface AppSeries {
  /** Requests by status class, 1xx..5xx. */
  byClass: Float64Array;
  /** Durations by bucket (not cumulative): [i] counts DURATION_BUCKETS[i-1] < d <= DURATION_BUCKETS[i]; the last slot is past 60 s. */
  buckets: Float64Array;
  /** Sum of the durations, in seconds. */
  sum: number;
  /** Requests, those with status >= 500, and the last LATENCY_WINDOW durations (status's figures). */
  tally: RequestTally;
  /** Of the tally's 5xx, the gateway's 503s for want of room under --max-workers: not the app's errors. */
  refusedForRoom: number;
  /** Websocket handshakes refused so (503): no response, so in no tally. */
  websocketsRefusedForRoom: number;
  /** Wakes from idle by their time, as `buckets` for the requests (the last slot is past 30 s), their sum and count. */
  coldStartBuckets: Float64Array;
  coldStartSum: number;
  coldStarts: number;
}

export interface GatewayMetricsOptions {
  /** Read once per scrape to fill the gauges; without it only request metrics are rendered. */
  status?: () => GatewayStatus;
  /** Include prom-client's default Node process metrics (prefix `apppkg_gateway_`); default true. */
  processMetrics?: boolean;
  /** A monotonic clock in ms (tests move it); default performance.now. */
  now?: () => number;
}

const PROCESS_PREFIX = 'apppkg_gateway_';

/**
 * prom-client's default process metrics, made true from the first scrape on, which is when they
 * are set up: the CPU counters count from the process's start, not from that scrape, as their
 * `_total` says (prom-client adds what was used since it set them up, 0.008 s at a first scrape
 * of a gateway that had used seconds); the event loop's delay is event-loop-delay.ts's.
 */
function addProcessMetrics(registry: Registry, collectDefaultMetrics: typeof import('prom-client').collectDefaultMetrics): void {
  // prom-client's own delay histogram has no switch; its series are removed below, so it is
  // left to sample once a minute instead of every 10 ms.
  collectDefaultMetrics({ register: registry, prefix: PROCESS_PREFIX, eventLoopMonitoringPrecision: 60_000 });
  for (const name of EVENT_LOOP_METRICS) registry.removeSingleMetric(PROCESS_PREFIX + name);
  for (const metric of eventLoopDelayMetrics(PROCESS_PREFIX)) registry.registerMetric(metric);
  const used = process.cpuUsage();
  const cpu = (name: string): Counter | undefined => registry.getSingleMetric(PROCESS_PREFIX + name) as Counter | undefined;
  cpu('process_cpu_user_seconds_total')?.inc(used.user / 1e6);
  cpu('process_cpu_system_seconds_total')?.inc(used.system / 1e6);
  cpu('process_cpu_seconds_total')?.inc((used.user + used.system) / 1e6);
}

/** What the first render builds: prom-client's registry and the gauges filled at each scrape. */
interface Exporter {
  registry: Registry;
  workers: Gauge<'app' | 'state'>;
  restarts: Counter<'app'>;
  queueLength: Gauge<'app'>;
  inFlight: Gauge<'app'>;
  websockets: Gauge<'app'>;
  appUp: Gauge<'app'>;
  appIdle: Gauge<'app'>;
  coldStarts: Counter<'app'>;
  coldStartFailures: Counter<'app'>;
  coldStartSeconds: Gauge<'app'>;
  coldStartSecondsTotal: Counter<'app'>;
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/** A histogram's samples from its bucket counts (not cumulative; the last past the highest bound). */
function histogramSamples(name: string, app: string, bounds: readonly number[], buckets: Float64Array, sum: number, count: number): Sample[] {
  let cumulative = 0;
  const samples: Sample[] = bounds.map((le, i) => {
    cumulative += buckets[i];
    return { labels: { le, app }, value: cumulative, metricName: `${name}_bucket` };
  });
  samples.push(
    { labels: { le: '+Inf', app }, value: count, metricName: `${name}_bucket` },
    { labels: { app }, value: sum, metricName: `${name}_sum` },
    { labels: { app }, value: count, metricName: `${name}_count` },
  );
  return samples;
}

export class GatewayMetrics {
  private readonly apps = new Map<string, AppSeries>();
  private statusProvider: (() => GatewayStatus) | undefined;
  private mailProvider: (() => MailStatus | null) | undefined;
  private mailByApp: () => ReadonlyMap<string, MailAppCounts> = () => new Map();
  private deadLettersByApp: (() => ReadonlyMap<string, number>) | undefined;
  private exporter: Promise<Exporter> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: GatewayMetricsOptions = {}) {
    this.statusProvider = options.status;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Where the mail counters come from (issue 16); none (or null from it): no mail metrics.
   * `byApp`: each app's deliveries, which /status does not carry; `deadByApp`: each app's dead
   * letters, all of them (/status lists the newest alone); without it, those /status lists.
   */
  setMailProvider(mail: () => MailStatus | null, byApp?: () => ReadonlyMap<string, MailAppCounts>, deadByApp?: () => ReadonlyMap<string, number>): void {
    this.mailProvider = mail;
    if (byApp !== undefined) this.mailByApp = byApp;
    this.deadLettersByApp = deadByApp;
  }

  /** Sets (or replaces) where the gauges come from; the gateway may exist after its metrics. */
  setStatusProvider(status: () => GatewayStatus): void {
    this.statusProvider = status;
  }

  /**
   * Once per request, on the hot path: a map lookup, a bucket search, a few array writes.
   * `refusedForRoom`: the gateway's 503 for want of room under --max-workers (counted by its
   * status here, apart in status's figures).
   */
  observeRequest(app: string, status: number, seconds: number, refusedForRoom = false): void {
    const series = this.apps.get(app) ?? this.addApp(app);
    const cls = Math.min(5, Math.max(1, Math.floor(status / 100)));
    series.byClass[cls - 1]++;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]) bucket++;
    series.buckets[bucket]++;
    series.sum += seconds;
    series.tally.observe(status, seconds);
    if (refusedForRoom) series.refusedForRoom++;
  }

  requestsOf(app: string): number {
    return this.apps.get(app)?.tally.requests ?? 0;
  }

  /**
   * Responses with status >= 500, gateway-made ones (502/503/504) included, but its 503s for
   * want of room under --max-workers: the gateway's refusal, which no version's `failed` counts
   * either (the app had no room to run, it did not fail), so the table and the version line agree.
   */
  errorsOf(app: string): number {
    const series = this.apps.get(app);
    return series === undefined ? 0 : series.tally.failed - series.refusedForRoom;
  }

  /** Requests the gateway answered 503 because --max-workers left no room to wake the app. */
  refusedForRoomOf(app: string): number {
    return this.apps.get(app)?.refusedForRoom ?? 0;
  }

  /** A websocket handshake the gateway answered 503 because --max-workers left no room to wake the app. */
  observeWebsocketRefusedForRoom(app: string): void {
    (this.apps.get(app) ?? this.addApp(app)).websocketsRefusedForRoom++;
  }

  /**
   * A wake of an idle app, `seconds` from the request that woke it to its workers taking
   * traffic. Status keeps the last wake and the sum; a histogram shows how they spread, the
   * wake of an app asleep for a night beside the one of a minute ago.
   */
  observeColdStart(app: string, seconds: number): void {
    const series = this.apps.get(app) ?? this.addApp(app);
    let bucket = 0;
    while (bucket < COLD_START_BUCKETS.length && seconds > COLD_START_BUCKETS[bucket]) bucket++;
    series.coldStartBuckets[bucket]++;
    series.coldStartSum += seconds;
    series.coldStarts++;
  }

  websocketsRefusedForRoomOf(app: string): number {
    return this.apps.get(app)?.websocketsRefusedForRoom ?? 0;
  }

  /**
   * p50/p90/p95/p99 (nearest rank) over the durations of the last LATENCY_WINDOW_SECONDS (at
   * most the last LATENCY_WINDOW of them); computed on demand.
   */
  latency(app: string): LatencySummary {
    return this.apps.get(app)?.tally.figures().latency ?? noLatency();
  }

  /** Drops an app's series (it was removed from --apps), so its old numbers stop being exported. */
  forgetApp(app: string): void {
    this.apps.delete(app);
  }

  /** The Prometheus text exposition (format 0.0.4), gauges read from the status provider now. */
  async render(): Promise<string> {
    const exporter = await (this.exporter ??= this.createExporter());
    this.fillGauges(exporter);
    return exporter.registry.metrics();
  }

  get contentType(): string {
    return CONTENT_TYPE;
  }

  private addApp(app: string): AppSeries {
    const series: AppSeries = {
      byClass: new Float64Array(CODE_CLASSES.length),
      buckets: new Float64Array(DURATION_BUCKETS.length + 1),
      sum: 0,
      tally: new RequestTally(null, LATENCY_WINDOW, this.now),
      refusedForRoom: 0,
      websocketsRefusedForRoom: 0,
      coldStartBuckets: new Float64Array(COLD_START_BUCKETS.length + 1),
      coldStartSum: 0,
      coldStarts: 0,
    };
    this.apps.set(app, series);
    return series;
  }

  private async createExporter(): Promise<Exporter> {
    const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
    const registry = new Registry();
    const registers = [registry];
    registry.registerMetric(
      this.collected('apppkg_requests_total', 'Requests answered, by app and status class (2xx..5xx); 499 = the client left, 444 = cut by the gateway before any head, or at the end of a drain or of --grace.', 'counter', (app, s) =>
        CODE_CLASSES.map((code, i) => ({ labels: { app, code }, value: s.byClass[i] })),
      ),
    );
    registry.registerMetric(
      this.collected('apppkg_refused_for_room_total', 'Requests and websocket handshakes (kind) the gateway answered 503 because --max-workers left no room to wake the app, by app: its refusal, not the app\'s failure (the requests are in apppkg_requests_total too).', 'counter', (app, s) => [
        { labels: { app, kind: 'request' }, value: s.refusedForRoom },
        { labels: { app, kind: 'websocket' }, value: s.websocketsRefusedForRoom },
      ]),
    );
    registry.registerMetric(
      this.collected('apppkg_request_duration_seconds', 'Time from the request head to the end of the response, by app.', 'histogram', (app, s) =>
        histogramSamples('apppkg_request_duration_seconds', app, DURATION_BUCKETS, s.buckets, s.sum, s.tally.requests),
      ),
    );
    // Apps that never woke have none: an app without idle_timeout would show ten zero buckets.
    registry.registerMetric(
      this.collected('apppkg_cold_start_duration_seconds', 'How long each wake of an idle app took, from the request that woke it to its workers taking traffic, by app.', 'histogram', (app, s) =>
        s.coldStarts === 0 ? [] : histogramSamples('apppkg_cold_start_duration_seconds', app, COLD_START_BUCKETS, s.coldStartBuckets, s.coldStartSum, s.coldStarts),
      ),
    );
    const exporter: Exporter = {
      registry,
      workers: new Gauge({ name: 'apppkg_workers', help: 'Python worker processes, by app and state.', labelNames: ['app', 'state'], registers }),
      // A counter in type (so rate() works), but set from the supervisor's own count at scrape time.
      restarts: new Counter({ name: 'apppkg_worker_restarts_total', help: 'Worker restarts after unexpected exits, by app.', labelNames: ['app'], registers }),
      queueLength: new Gauge({ name: 'apppkg_queue_length', help: 'Requests waiting for a free worker, by app.', labelNames: ['app'], registers }),
      inFlight: new Gauge({ name: 'apppkg_in_flight', help: 'Requests being handled by a worker, by app.', labelNames: ['app'], registers }),
      websockets: new Gauge({ name: 'apppkg_websockets', help: 'Open websockets of the app (an ASGI app\'s workers, or its processes), counted while their clients\' connections are open, draining versions included.', labelNames: ['app'], registers }),
      appUp: new Gauge({ name: 'apppkg_app_up', help: '1 when the app takes traffic (an idle app does: its next request wakes it), else 0: 0 too while a failed wake is held off (idle.nextWakeAt), its requests answered 503 at once.', labelNames: ['app'], registers }),
      appIdle: new Gauge({ name: 'apppkg_app_idle', help: '1 while the app sleeps (idle_timeout, --max-workers): its workers stopped until a request.', labelNames: ['app'], registers }),
      coldStarts: new Counter({ name: 'apppkg_cold_starts_total', help: 'Wakes of an idle app for a request, by app.', labelNames: ['app'], registers }),
      coldStartSeconds: new Gauge({ name: 'apppkg_cold_start_seconds', help: 'How long the last wake took, to the workers taking traffic, by app.', labelNames: ['app'], registers }),
      coldStartFailures: new Counter({
        name: 'apppkg_cold_start_failures_total',
        help: 'Wakes of an idle app that the app failed (its import, lifespan startup, probe or database), by app: apart from apppkg_cold_starts_total, which counts the wakes that served; a wake refused for want of room under --max-workers is in apppkg_refused_for_room_total instead.',
        labelNames: ['app'],
        registers,
      }),
      coldStartSecondsTotal: new Counter({
        name: 'apppkg_cold_start_seconds_total',
        help: 'Every wake\'s time together, by app: over apppkg_cold_starts_total, the mean wake of any window.',
        labelNames: ['app'],
        registers,
      }),
    };
    for (const metric of this.mailMetrics()) registry.registerMetric(metric);
    if (this.options.processMetrics !== false) addProcessMetrics(registry, collectDefaultMetrics);
    return exporter;
  }

  /**
   * A metric prom-client renders (it calls get() at each scrape) whose values come from the
   * series kept here: the registry takes any object with a name and get().
   */
  private collected(name: string, help: string, type: 'counter' | 'histogram', samples: (app: string, series: AppSeries) => Sample[]): Parameters<Registry['registerMetric']>[0] {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: [...this.apps].flatMap(([app, series]) => samples(app, series)) }),
      reset: () => {},
    };
    return metric as unknown as Parameters<Registry['registerMetric']>[0];
  }

  /** Incoming mail (SPEC 5.3), read from the mail service at each scrape; nothing without one. */
  private mailMetrics(): Parameters<Registry['registerMetric']>[0][] {
    const one = (name: string, help: string, type: 'counter' | 'gauge', values: (mail: MailStatus) => Sample[]) => {
      const get = async () => {
        const mail = this.mailProvider?.() ?? null;
        return { name, help, type, aggregator: 'sum', values: mail === null ? [] : values(mail) };
      };
      return { name, help, type, aggregator: 'sum', get, reset: () => {} } as unknown as Parameters<Registry['registerMetric']>[0];
    };
    const total = (value: number): Sample[] => [{ labels: {}, value }];
    // Per app, as an MTA exporter has them per transport: which app's mail piles up, bounces or
    // waits, where the totals above say only that some does.
    const perApp = (field: keyof MailAppCounts) => (): Sample[] => [...this.mailByApp()].map(([app, counts]) => ({ labels: { app }, value: counts[field] }));
    return [
      one('apppkg_mail_received_total', 'Messages the mail listener accepted (250).', 'counter', (m) => total(m.received)),
      one('apppkg_mail_delivered_total', 'Deliveries the apps took (2xx).', 'counter', (m) => total(m.delivered)),
      one('apppkg_mail_failed_attempts_total', 'Delivery attempts that did not deliver (any other answer, or none).', 'counter', (m) => total(m.failedAttempts)),
      one('apppkg_mail_refused_total', 'SMTP-level refusals: unknown domain, too big (at MAIL FROM SIZE= or after DATA), too many recipients, app not serving, unsupported parameters (555).', 'counter', (m) => total(m.refused)),
      one('apppkg_mail_spooled', 'Deliveries in the spool, waiting or being attempted.', 'gauge', (m) => total(m.spooled)),
      one('apppkg_mail_retrying', 'Deliveries waiting for a retry.', 'gauge', (m) => total(m.retrying)),
      one('apppkg_mail_dead_letters', 'Dead letters kept (406, or past give_up), by app.', 'gauge', (m) => {
        let byApp = this.deadLettersByApp?.();
        if (byApp === undefined) {
          const listed = new Map<string, number>();
          for (const d of m.dead) listed.set(d.app, (listed.get(d.app) ?? 0) + 1);
          byApp = listed;
        }
        return [...byApp].map(([app, value]) => ({ labels: { app }, value }));
      }),
      one('apppkg_mail_app_accepted_total', 'Deliveries accepted (250) for the app: one per message, however many of its addresses it names; a dead letter put back by mail retry is no new one. Since the gateway started.', 'counter', perApp('accepted')),
      one('apppkg_mail_app_retried_total', 'Dead letters put back into the queue for the app by mail retry (postmaster mail to the app mail.postmaster names included), by app.', 'counter', perApp('retried')),
      one('apppkg_mail_app_delivered_total', 'Deliveries the app took (2xx), by app.', 'counter', perApp('delivered')),
      one('apppkg_mail_app_deferred_total', 'Delivery attempts that failed and are tried again (any answer but 2xx, 406 and 413, or none), by app.', 'counter', perApp('deferred')),
      one('apppkg_mail_app_undeliverable_total', 'Deliveries given up (406, 413, or a failure past give_up): dead letters made since the gateway started, by app; one refused again after mail retry counts again (its retry counted in apppkg_mail_app_retried_total).', 'counter', perApp('undeliverable')),
    ];
  }

  private fillGauges(exporter: Exporter): void {
    if (!this.statusProvider) return;
    const status = this.statusProvider();
    const { workers, restarts, queueLength, inFlight, websockets, appUp, appIdle, coldStarts, coldStartFailures, coldStartSeconds, coldStartSecondsTotal } = exporter;
    // Reset first: an app that went away must not keep reporting its last values.
    for (const metric of [workers, restarts, queueLength, inFlight, websockets, appUp, appIdle, coldStarts, coldStartFailures, coldStartSeconds, coldStartSecondsTotal]) metric.reset();
    for (const app of status.apps) {
      const counts = new Map<string, number>(WORKER_STATES.map((s) => [s, 0]));
      for (const worker of app.workers) counts.set(worker.state, (counts.get(worker.state) ?? 0) + 1);
      for (const [state, count] of counts) workers.set({ app: app.name, state }, count);
      restarts.inc({ app: app.name }, app.restarts);
      queueLength.set({ app: app.name }, app.queued);
      inFlight.set({ app: app.name }, app.inFlight);
      websockets.set({ app: app.name }, app.websockets);
      // An idle app takes traffic because its next request wakes it; after a failed wake, until
      // nextWakeAt, its next request gets the 503 at once instead.
      const wakeHeldOff = app.idle?.nextWakeAt != null;
      appUp.set({ app: app.name }, ['ready', 'idle', 'waking'].includes(app.state) && !wakeHeldOff ? 1 : 0);
      appIdle.set({ app: app.name }, app.state === 'idle' ? 1 : 0);
      if (app.idle) {
        coldStarts.inc({ app: app.name }, app.idle.coldStarts);
        coldStartFailures.inc({ app: app.name }, app.idle.coldStartFailures ?? 0);
        coldStartSecondsTotal.inc({ app: app.name }, app.idle.coldStartSecondsTotal);
        if (app.idle.lastColdStartMs !== null) coldStartSeconds.set({ app: app.name }, app.idle.lastColdStartMs / 1000);
      }
    }
  }
}
