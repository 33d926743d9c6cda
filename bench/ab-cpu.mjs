#!/usr/bin/env node
// CPU per request of two builds of the gateway, measured in turns on one machine: the figure that
// holds still when req/s does not (docs/performance.md, "How to measure").
//
//   node bench/ab-cpu.mjs /path/to/old-checkout [/path/to/new-checkout] [--pairs 8] [--seconds 3]
//                         [--path /] [--connections 32] [--asgi] [--pipeline DEPTH] [--post] [--aa] [--gc]
//                         [--python PATH]
//
// Each checkout must be built (`npm run build`); the second defaults to this one. Both gateways
// run the bench app (2 workers, access log off); each pair starts one, warms and measures it with
// wrk, then the other (the first idle meanwhile, costing nothing), and stops both. Which build
// goes first alternates every pair, because on this machine the build started first came out
// 5-10% cheaper, p99 1.5x better, whichever it was, and the build measured second 1-3 µs dearer.
// (Both were once started first and measured after: the one left idle longest was measured
// with V8's young generation shrunk, docs/performance.md "The bench's semi-space modes".) In 8
// pairs (or any even number) each build has each place as often as the other. Per run: the front's and the
// workers' `utime + stime` from /proc/PID/stat, divided by the requests wrk made. Prints every
// run, then the medians (CPU in all: of each run's front + workers) and B's ratio to A, and what
// starting first did (its runs against the others'). --pipeline DEPTH: each connection writes
// DEPTH requests at once (bench/pipeline.lua), as a pipelining client does. --post: each request
// POSTs 64 KiB to /echo (bench/post.lua), as `npm run bench`'s POST does. --python PATH: the
// app's interpreter (Debian's python3 by default, with uvloop; another Python, to measure what
// depends on its version, runs an ASGI app on asyncio's own loop unless it has uvloop).
// --aa: the first checkout against itself, the bench's own noise:
// a B / A of two builds within the A/A line's distance of 1.000x is no difference. --gc: the
// fronts run with V8's --trace-gc (through a `node` first on the launcher's PATH that adds it:
// NODE_OPTIONS may not carry it), and each run counts the front's young collections (Scavenge)
// per 100k requests, the figure fewer allocations per request move when CPU cannot show it, and
// what they stopped the front for: their pauses in all per request, and per 100k requests those
// of 1 ms or more (each holds every request in flight: a machine whose p99 cannot show a change
// to them still shows these, docs/performance.md H271).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TICKS_PER_SECOND, cpuTicks } from './peer-cpu.mjs';
import { APP_DIR, ROOT, SYSTEM_PYTHON, descendants, freePort, parseWrk, sleep, startProcess, stopAllProcesses, stopProcess } from './peers.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    pairs: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    path: { type: 'string', default: '/' },
    connections: { type: 'string', default: '32' },
    asgi: { type: 'boolean', default: false },
    pipeline: { type: 'string' },
    post: { type: 'boolean', default: false },
    aa: { type: 'boolean', default: false },
    python: { type: 'string', default: SYSTEM_PYTHON },
    gc: { type: 'boolean', default: false },
  },
});
if (positionals.length < 1 || positionals.length > 2 || (values.aa && positionals.length > 1)) {
  console.error('usage: node bench/ab-cpu.mjs OLD_CHECKOUT [NEW_CHECKOUT] [--pairs N] [--seconds S] [--path P] [--asgi] [--pipeline DEPTH] [--post] [--python PATH] [--gc]');
  console.error('       node bench/ab-cpu.mjs CHECKOUT --aa [...]   (the checkout against itself: the noise)');
  process.exit(2);
}
const checkouts = [resolve(positionals[0]), resolve(values.aa ? positionals[0] : (positionals[1] ?? ROOT))];
if (values.post && values.pipeline !== undefined) {
  console.error('--post and --pipeline do not go together');
  process.exit(2);
}
if (values.post) values.path = '/echo';

const work = mkdtempSync(join(tmpdir(), 'apppkg-ab-'));

function appsDir() {
  const apps = join(work, 'apps');
  mkdirSync(join(apps, 'bench'), { recursive: true });
  for (const file of ['bench_app.py', 'bench_asgi.py']) symlinkSync(join(APP_DIR, file), join(apps, 'bench', file));
  const app = values.asgi ? 'platform: python, asgi\napp: bench_asgi:app\n' : 'platform: python, wsgi\napp: bench_app:application\n';
  writeFileSync(join(apps, 'bench', 'app.yaml'), app);
  writeFileSync(join(work, 'environment.yaml'), `python: ${values.python}\napps:\n  bench:\n    mount: /\n    workers: 2\n`);
  return apps;
}

/** A directory whose `node` is this one's with --trace-gc first, for the launcher to find on PATH. */
function tracingNodeDir() {
  const dir = join(work, 'trace-gc-node');
  mkdirSync(dir, { recursive: true });
  // Line-buffered: V8 prints with C's stdio, which holds a pipe's output in 4 KiB blocks, and a
  // run's lines must be in before the next run begins.
  writeFileSync(join(dir, 'node'), `#!/bin/sh\nexec stdbuf -oL '${process.execPath}' --trace-gc "$@"\n`, { mode: 0o755 });
  return dir;
}

async function startGateway(checkout, label, apps) {
  const port = await freePort();
  const env = values.gc ? { ...process.env, PATH: `${tracingNodeDir()}:${process.env.PATH}` } : process.env;
  const child = startProcess(join(checkout, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
    '--admin', '127.0.0.1:0', '--environment', join(work, 'environment.yaml'), '--state-dir', join(work, `state-${label}`),
    '--access-log', 'off'], { env });
  const url = `http://127.0.0.1:${port}${values.path}`;
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {}
    if (child.exitCode !== null || tries > 1500) throw new Error(`${label} (${checkout}) did not serve ${url}: ${child.output().slice(-2000)}`);
    await sleep(20);
  }
  return { label, checkout, child, url };
}

async function measure(gateway) {
  const workers = descendants(gateway.child.pid).filter((pid) => /python/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')));
  const before = { front: cpuTicks(gateway.child.pid), workers: workers.map(cpuTicks), output: gateway.child.output().length };
  const script = values.post ? 'post.lua' : values.pipeline === undefined ? null : 'pipeline.lua';
  const pipelined = script === null ? [] : ['-s', join(ROOT, 'bench', script)];
  const depth = values.pipeline === undefined ? [] : ['--', values.pipeline];
  const r = spawnSync('wrk', ['-t1', `-c${values.connections}`, `-d${values.seconds}s`, '--latency', ...pipelined, gateway.url, ...depth], { encoding: 'utf8' });
  const front = cpuTicks(gateway.child.pid) - before.front;
  const worker = workers.reduce((sum, pid, i) => sum + cpuTicks(pid) - before.workers[i], 0);
  const { rps, p99 } = parseWrk(r.stdout ?? '');
  const requests = rps * Number(values.seconds);
  const perRequest = (ticks) => (ticks / TICKS_PER_SECOND) * 1e6 / requests;
  // --trace-gc's lines of the run reach this process's pipe while spawnSync blocks it: read them first.
  if (values.gc) await sleep(200);
  // `Scavenge 13.3 (19.7) -> 11.3 (19.7) MB, 0.71 / 0.00 ms ...`: the first figure is the pause.
  const pauses = values.gc ? [...gateway.child.output().slice(before.output).matchAll(/Scavenge .*? MB, ([\d.]+) \//g)].map((m) => Number(m[1])) : [];
  const pausedMs = pauses.reduce((sum, ms) => sum + ms, 0);
  const long = pauses.filter((ms) => ms >= 1).length;
  return {
    rps, p99, front: perRequest(front), workers: perRequest(worker),
    young: values.gc ? (pauses.length * 1e5) / requests : NaN,
    paused: values.gc ? (pausedMs * 1e3) / requests : NaN,
    longPauses: values.gc ? (long * 1e5) / requests : NaN,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

const summary = (runs) => ({
  rps: median(runs.map((r) => r.rps)),
  p99: median(runs.map((r) => r.p99)),
  front: median(runs.map((r) => r.front)),
  workers: median(runs.map((r) => r.workers)),
  all: median(runs.map((r) => r.front + r.workers)),
  young: median(runs.map((r) => r.young)),
  paused: median(runs.map((r) => r.paused)),
  longPauses: median(runs.map((r) => r.longPauses)),
});
const ratios = (b, a) =>
  `req/s ${fmt(b.rps / a.rps, 3)}x, p99 ${fmt(b.p99 / a.p99, 2)}x, CPU in all ${fmt(b.all / a.all, 3)}x, front CPU ${fmt(b.front / a.front, 3)}x, workers CPU ${fmt(b.workers / a.workers, 3)}x` +
  (values.gc ? `, young GCs ${fmt(b.young / a.young, 3)}x, GC pause per request ${fmt(b.paused / a.paused, 3)}x` : '');

async function main() {
  const apps = appsDir();
  const names = { A: checkouts[0], B: checkouts[1] };
  const pipelining = values.pipeline === undefined ? '' : `, ${values.pipeline} requests pipelined`;
  console.log(`A ${names.A}\nB ${names.B}${values.aa ? ' (the same: an A/A run)' : ''}`);
  if (values.python !== SYSTEM_PYTHON) console.log(`the app on ${values.python}`);
  console.log(`${values.asgi ? 'ASGI' : 'WSGI'} ${values.post ? 'POST 64 KiB ' : ''}${values.path}, wrk -t1 -c${values.connections} -d${values.seconds}s${pipelining}, ${values.pairs} pairs, the order alternating\n`);
  const runs = { A: [], B: [] };
  const byStart = { first: [], second: [] };
  console.log(`pair  run  started  req/s    p99 ms  front µs  workers µs${values.gc ? '  young GCs/100k  pause µs/req  >=1 ms/100k' : ''}`);
  for (let pair = 0; pair < Number(values.pairs); pair++) {
    const order = pair % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    const gateways = {};
    for (const label of order) {
      // Started, warmed (JIT, caches, workers' imports) and measured in one go, never idle in
      // between: a front left idle for a few seconds (the other's start, warm-up or run) was
      // measured with V8's young generation shrunk to 1 MiB, 2-4x the young GCs of a front that
      // was not; warming it again did not undo that (docs/performance.md, H222).
      gateways[label] = await startGateway(names[label], label, apps);
      await measure(gateways[label]);
      const r = await measure(gateways[label]);
      const started = order[0] === label ? 'first' : 'second';
      runs[label].push(r);
      byStart[started].push(r);
      console.log(`${String(pair + 1).padStart(4)}  ${label}    ${started.padEnd(7)}  ${fmt(r.rps, 0).padStart(6)}  ${fmt(r.p99, 2).padStart(6)}  ${fmt(r.front).padStart(8)}  ${fmt(r.workers).padStart(10)}${values.gc ? `${fmt(r.young).padStart(16)}${fmt(r.paused, 2).padStart(14)}${fmt(r.longPauses).padStart(13)}` : ''}`);
    }
    for (const label of order) await stopProcess(gateways[label].child);
  }
  const a = summary(runs.A);
  const b = summary(runs.B);
  const line = (s) => `${fmt(s.rps, 0)} req/s, p99 ${fmt(s.p99, 2)} ms, in all ${fmt(s.all)} µs, front ${fmt(s.front)} µs, workers ${fmt(s.workers)} µs${values.gc ? `, young GCs ${fmt(s.young)} per 100k, GC pause ${fmt(s.paused, 2)} µs per request, ${fmt(s.longPauses)} pauses of 1 ms or more per 100k` : ''}`;
  console.log(`\nmedians   A: ${line(a)}`);
  console.log(`          B: ${line(b)}`);
  console.log(`${values.aa ? 'A/A' : 'B / A'}:    ${ratios(b, a)}`);
  // What the alternation takes out of B / A: left in, it was all on one side.
  console.log(`started second / first: ${ratios(summary(byStart.second), summary(byStart.first))}`);
  if (!values.aa) console.log('(the noise: the same with --aa, one checkout against itself)');
}

try {
  await main();
} finally {
  await stopAllProcesses();
  rmSync(work, { recursive: true, force: true });
}
