import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GatewayMetrics, LATENCY_WINDOW } from '../../src/admin/metrics.js';
import { fakeStatus } from './fake-status.js';

const test = suite('admin metrics');

/** The value of one sample line, e.g. sample(text, 'apppkg_requests_total{app="blog",code="2xx"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('observeRequest counts requests by app and status class, errors from 500 up', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  for (const status of [200, 201, 304, 404, 499, 500, 502, 504]) m.observeRequest('blog', status, 0.01);
  m.observeRequest('wiki', 200, 0.02);
  assert.is(m.requestsOf('blog'), 8);
  assert.is(m.errorsOf('blog'), 3);
  assert.is(m.requestsOf('wiki'), 1);
  assert.is(m.requestsOf('nobody'), 0);
  const text = await m.render();
  assert.is(sample(text, 'apppkg_requests_total{app="blog",code="2xx"}'), 2);
  assert.is(sample(text, 'apppkg_requests_total{app="blog",code="3xx"}'), 1);
  assert.is(sample(text, 'apppkg_requests_total{app="blog",code="4xx"}'), 2);
  assert.is(sample(text, 'apppkg_requests_total{app="blog",code="5xx"}'), 3);
  assert.is(sample(text, 'apppkg_requests_total{app="wiki",code="2xx"}'), 1);
  assert.is(sample(text, 'apppkg_request_duration_seconds_count{app="blog"}'), 8);
  assert.is(sample(text, 'apppkg_request_duration_seconds_bucket{le="0.01",app="blog"}'), 8);
  assert.is(sample(text, 'apppkg_request_duration_seconds_bucket{le="0.005",app="blog"}'), 0);
  assert.match(text, /# TYPE apppkg_request_duration_seconds histogram/);
});

test('observeColdStart: each wake in a histogram by its time, 0.05 s to 30 s; an app that never woke has none', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  for (const seconds of [0.04, 0.05, 0.3, 2, 45]) m.observeColdStart('blog', seconds);
  m.observeRequest('wiki', 200, 0.01);
  const text = await m.render();
  assert.match(text, /# TYPE apppkg_cold_start_duration_seconds histogram/);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="0.05",app="blog"}'), 2, 'le is inclusive');
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="0.25",app="blog"}'), 2);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="0.5",app="blog"}'), 3);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="2.5",app="blog"}'), 4);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="30",app="blog"}'), 4);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_bucket{le="+Inf",app="blog"}'), 5);
  assert.is(sample(text, 'apppkg_cold_start_duration_seconds_count{app="blog"}'), 5);
  assert.ok(Math.abs(sample(text, 'apppkg_cold_start_duration_seconds_sum{app="blog"}')! - 47.39) < 1e-9);
  assert.not.match(text, /apppkg_cold_start_duration_seconds_\w+\{[^}]*app="wiki"/);
  m.forgetApp('blog');
  assert.not.match(await m.render(), /apppkg_cold_start_duration_seconds_count/);
});

test('percentiles are nearest-rank over known data', () => {
  const m = new GatewayMetrics({ processMetrics: false });
  const ms = Array.from({ length: 100 }, (_, i) => i + 1);
  // Shuffled deterministically: the order of arrival must not matter.
  for (let i = 0; i < 100; i++) m.observeRequest('blog', 200, ms[(i * 37) % 100] / 1000);
  const l = m.latency('blog');
  assert.is(l.p50, 0.05);
  assert.is(l.p90, 0.09);
  assert.is(l.p95, 0.095);
  assert.is(l.p99, 0.099);
  assert.equal(m.latency('nobody'), { p50: null, p90: null, p95: null, p99: null, windowSeconds: 60 });
  const one = new GatewayMetrics({ processMetrics: false });
  one.observeRequest('a', 200, 0.5);
  assert.equal(one.latency('a'), { p50: 0.5, p90: 0.5, p95: 0.5, p99: 0.5, windowSeconds: 60 });
});

test('latency covers the last minute only: an hour-old spike does not linger', () => {
  let now = 1_000_000;
  const m = new GatewayMetrics({ processMetrics: false, now: () => now });
  for (let i = 0; i < 10; i++) m.observeRequest('blog', 200, 5);
  now += 30_000;
  for (let i = 0; i < 10; i++) m.observeRequest('blog', 200, 0.002);
  assert.is(m.latency('blog').p99, 5, 'both within the minute');
  now += 31_000;
  assert.equal(m.latency('blog'), { p50: 0.002, p90: 0.002, p95: 0.002, p99: 0.002, windowSeconds: 60 });
  now += 60_000;
  assert.is(m.latency('blog').p50, null, 'nothing in the last minute');
  assert.is(m.requestsOf('blog'), 20, 'the counters are all-time');
});

test('latency is a sliding window of the last durations', () => {
  const m = new GatewayMetrics({ processMetrics: false });
  for (let i = 0; i < LATENCY_WINDOW; i++) m.observeRequest('blog', 200, 10);
  for (let i = 0; i < LATENCY_WINDOW; i++) m.observeRequest('blog', 200, 0.001);
  assert.equal(m.latency('blog'), { p50: 0.001, p90: 0.001, p95: 0.001, p99: 0.001, windowSeconds: 60 });
  m.observeRequest('blog', 200, 10);
  assert.is(m.latency('blog').p99, 0.001, 'one slow request in 2048 is above p99');
  assert.is(m.requestsOf('blog'), 2 * LATENCY_WINDOW + 1);
});

test('render fills the gauges from the status provider at scrape time', async () => {
  let status = fakeStatus();
  const m = new GatewayMetrics({ status: () => status });
  const text = await m.render();
  assert.is(sample(text, 'apppkg_workers{app="blog",state="ready"}'), 1);
  assert.is(sample(text, 'apppkg_workers{app="blog",state="starting"}'), 1);
  assert.is(sample(text, 'apppkg_workers{app="shop",state="ready"}'), 0);
  assert.is(sample(text, 'apppkg_worker_restarts_total{app="blog"}'), 3);
  assert.is(sample(text, 'apppkg_worker_restarts_total{app="shop"}'), 7);
  assert.is(sample(text, 'apppkg_queue_length{app="blog"}'), 5);
  assert.is(sample(text, 'apppkg_in_flight{app="blog"}'), 2);
  assert.is(sample(text, 'apppkg_app_up{app="blog"}'), 1);
  assert.is(sample(text, 'apppkg_app_up{app="shop"}'), 0);
  assert.match(text, /^apppkg_gateway_process_cpu_user_seconds_total /m);
  assert.match(text, /^apppkg_gateway_nodejs_eventloop_lag_seconds /m);

  // An app that went away stops being reported.
  status = { ...status, apps: status.apps.filter((a) => a.name === 'blog') };
  const again = await m.render();
  assert.is(sample(again, 'apppkg_app_up{app="shop"}'), undefined);
  assert.is(sample(again, 'apppkg_app_up{app="blog"}'), 1);
});

test('two instances in one process keep separate registries', async () => {
  const a = new GatewayMetrics();
  const b = new GatewayMetrics();
  a.observeRequest('blog', 200, 0.1);
  assert.is(sample(await a.render(), 'apppkg_requests_total{app="blog",code="2xx"}'), 1);
  assert.is(sample(await b.render(), 'apppkg_requests_total{app="blog",code="2xx"}'), undefined);
});

test('forgetApp drops the series of a removed app', async () => {
  const m = new GatewayMetrics({ processMetrics: false });
  m.observeRequest('old', 200, 0.1);
  m.forgetApp('old');
  const text = await m.render();
  assert.not.match(text, /app="old"/);
  assert.is(m.requestsOf('old'), 0);
});


test('a scrape right after the start, and one right after it, is valid and true: every sample a finite number (no Nan, no empty minimum of 292 years), the event loop series absent until they have a sample, the CPU counted from the process start', async () => {
  const used = process.cpuUsage();
  const m = new GatewayMetrics();
  for (let scrape = 0; scrape < 2; scrape++) {
    const text = await m.render();
    const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(samples.length > 20, text);
    for (const line of samples) {
      const value = line.slice(line.lastIndexOf(' ') + 1);
      assert.ok(Number.isFinite(Number(value)), `a finite number: ${line}`);
    }
    // A window without a sample has no series; one with a sample has them all, min <= mean <= max.
    const min = sample(text, 'apppkg_gateway_nodejs_eventloop_lag_min_seconds');
    const max = sample(text, 'apppkg_gateway_nodejs_eventloop_lag_max_seconds');
    const mean = sample(text, 'apppkg_gateway_nodejs_eventloop_lag_mean_seconds');
    if (min !== undefined || max !== undefined || mean !== undefined) {
      assert.ok(min! <= mean! && mean! <= max! && max! < 60, `min ${min} <= mean ${mean} <= max ${max}`);
    }
    // Measured at the scrape: a callback's wait for its turn, never exactly 0.
    assert.ok(sample(text, 'apppkg_gateway_nodejs_eventloop_lag_seconds')! > 0, text);
    assert.ok(sample(text, 'apppkg_gateway_process_cpu_seconds_total')! >= (used.user + used.system) / 1e6, 'the CPU this process used before the first scrape is counted');
  }
  // Once samples came, the window's series are there (a scrape with none keeps the window open).
  let text = '';
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    text = await m.render();
    if (sample(text, 'apppkg_gateway_nodejs_eventloop_lag_max_seconds') !== undefined) break;
  }
  assert.ok(sample(text, 'apppkg_gateway_nodejs_eventloop_lag_max_seconds')! > 0, text);
  assert.ok(sample(text, 'apppkg_gateway_nodejs_eventloop_lag_p99_seconds')! > 0, text);
});

test.run();
