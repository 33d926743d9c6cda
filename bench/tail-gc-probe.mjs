// Preloaded into the gateway's front by bench/tail-trace.mjs (NODE_OPTIONS=--import): each of its
// garbage collections, start (CLOCK_MONOTONIC ns, the clock bench/lat.c and `perf record -k
// CLOCK_MONOTONIC` use) and length, appended to TAIL_GC_OUT once a second. Only in the front: the
// variable reaches nothing else the front starts that runs Node.
import { appendFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const out = process.env.TAIL_GC_OUT;
if (out && process.argv[1]?.endsWith('cli/main.js')) {
  // Node's timeline is uv_hrtime (CLOCK_MONOTONIC) less the time origin.
  const origin = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
  let lines = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) lines.push(`${origin + BigInt(Math.round(e.startTime * 1e6))} ${Math.round(e.duration * 1e6)}`);
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    if (lines.length > 0) appendFileSync(out, `${lines.join('\n')}\n`);
    lines = [];
  }, 1000).unref();
}
