#!/usr/bin/env node
// What the slowest requests waited for, request by request (docs/performance.md, "The tail,
// request by request"). wrk gives a p99 but not which requests made it nor when; this runs
// bench/lat.c (wrk -t1 -cN's load, with every request's send and answer time) against one
// server on the bench app, records the scheduler meanwhile (`perf sched record -k
// CLOCK_MONOTONIC`: every switch and wake-up on both cores) and, for the gateway, its front's
// garbage collections (bench/tail-gc-probe.mjs), all on one clock. Then, for the slowest 1% of
// requests and for the middle 10%, how much of each request's time overlapped: the serving
// thread (the gateway's front, or uvicorn's busiest worker) running, or runnable but waiting
// for a core; a GC pause of the front; the workers' threads and the client waiting for a core;
// and the CPU that the workers, the client and everything else on the machine (other tenants)
// used meanwhile. And each time the serving thread was preempted: who took its core, and how
// long it stayed off it.
//
//   node bench/tail-trace.mjs [--peer gateway|uvicorn] [--checkout DIR] [--path /] [--post]
//                             [--seconds 3] [--connections 32] [--keep DIR]
//
// Needs a C compiler (cc) and perf with the sched tracepoints (root, or perf_event_paranoid
// that allows it); uvicorn needs python3-uvicorn, -httptools and -uvloop (as `npm run bench`).
// --keep DIR leaves the raw files there (lat.txt: start and end ns per request; sched.data;
// gc.txt).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { APP_DIR, ROOT, SYSTEM_PYTHON, cmdline, descendants, freePort, sleep, startProcess, stopAllProcesses, stopProcess } from './peers.mjs';

const { values } = parseArgs({
  options: {
    peer: { type: 'string', default: 'gateway' },
    checkout: { type: 'string', default: ROOT },
    path: { type: 'string', default: '/' },
    post: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    keep: { type: 'string' },
  },
});
if (!['gateway', 'uvicorn'].includes(values.peer)) {
  console.error(`--peer: expected gateway or uvicorn, got ${values.peer}`);
  process.exit(2);
}
const path = values.post ? '/echo' : values.path;
const postBytes = values.post ? '65536' : '0';
const seconds = Number(values.seconds);
const work = mkdtempSync(join(tmpdir(), 'apppkg-tail-'));

function compileClient() {
  const lat = join(work, 'lat');
  const cc = spawnSync('cc', ['-O2', '-o', lat, join(ROOT, 'bench', 'lat.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc bench/lat.c failed: ${cc.stderr || cc.error}`);
  return lat;
}

async function startServer(port) {
  if (values.peer === 'uvicorn') {
    return startProcess(SYSTEM_PYTHON, ['-m', 'uvicorn', '--workers', '2', '--host', '127.0.0.1', '--port', String(port),
      '--no-access-log', '--loop', 'uvloop', '--http', 'httptools', '--app-dir', APP_DIR, 'bench_asgi:app']);
  }
  const apps = join(work, 'apps');
  mkdirSync(join(apps, 'bench'), { recursive: true });
  symlinkSync(join(APP_DIR, 'bench_app.py'), join(apps, 'bench', 'bench_app.py'));
  writeFileSync(join(apps, 'bench', 'app.yaml'), 'platform: python, wsgi\napp: bench_app:application\n');
  writeFileSync(join(work, 'environment.yaml'), `python: ${SYSTEM_PYTHON}\napps:\n  bench:\n    mount: /\n    workers: 2\n`);
  // The probe from this checkout, whichever checkout's gateway runs.
  cpSync(join(ROOT, 'bench', 'tail-gc-probe.mjs'), join(work, 'tail-gc-probe.mjs'));
  const env = { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(join(work, 'tail-gc-probe.mjs'))}`, TAIL_GC_OUT: join(work, 'gc.txt') };
  return startProcess(join(resolve(values.checkout), 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
    '--admin', '127.0.0.1:0', '--environment', join(work, 'environment.yaml'), '--state-dir', join(work, 'state'),
    '--access-log', 'off'], { env });
}

async function waitServing(child, url) {
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    if (child.exitCode !== null || tries > 1500) throw new Error(`${values.peer} did not serve ${url}: ${child.output().slice(-2000)}`);
    await sleep(20);
  }
}

/** Every thread of the server's processes: tid -> 'front' | 'workers' (uvicorn's are all workers). */
function serverThreads(pid) {
  const threads = new Map();
  for (const p of [pid, ...descendants(pid)]) {
    const kind = p === pid && values.peer === 'gateway' ? 'front' : /python/.test(cmdline(p)) ? 'workers' : null;
    if (kind === null) continue;
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) threads.set(Number(t), kind);
    } catch {}
  }
  return threads;
}

function run(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  return { pid: child.pid, done: new Promise((res) => child.on('exit', (code) => res({ code, out }))) };
}

// ---- the analysis ------------------------------------------------------------------------------

/** Intervals [start, end] (s), sorted by start, with prefix sums: their overlap with any window. */
function intervals(list) {
  list.sort((a, b) => a[0] - b[0]);
  const starts = Float64Array.from(list, (x) => x[0]);
  const ends = Float64Array.from(list, (x) => x[1]);
  const sums = new Float64Array(list.length + 1);
  let longest = 0;
  for (let i = 0; i < list.length; i++) {
    sums[i + 1] = sums[i] + ends[i] - starts[i];
    longest = Math.max(longest, ends[i] - starts[i]);
  }
  const firstAtOrAfter = (t) => {
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return (a, b) => {
    const i = firstAtOrAfter(a);
    const j = firstAtOrAfter(b);
    let total = sums[j] - sums[i];
    for (let k = i; k < j; k++) if (ends[k] > b) total -= ends[k] - b;
    for (let k = i - 1; k >= 0 && starts[k] > a - longest; k--) if (ends[k] > a) total += Math.min(ends[k], b) - a;
    return total;
  };
}

function analyse(serverPid, threads, clientPid) {
  const hist = spawnSync('perf', ['sched', 'timehist', '-i', join(work, 'sched.data'), '--state'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const byTid = new Map();
  const cpuByGroup = new Map();
  for (const line of hist.stdout.split('\n')) {
    const m = /^\s*([\d.]+)\s+\[(\d+)\]\s+(.*?)\[(\d+)(?:\/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)/.exec(line);
    if (!m || m[3].startsWith('<idle>')) continue;
    const e = { t: Number(m[1]), cpu: Number(m[2]), tid: Number(m[4]), pid: Number(m[5] ?? m[4]), delay: Number(m[7]) / 1e3, ran: Number(m[8]) / 1e3, state: m[9] };
    if (!byTid.has(e.tid)) byTid.set(e.tid, []);
    byTid.get(e.tid).push(e);
  }
  // The front's main thread; uvicorn has no front: the thread that serves is its busiest worker thread.
  let main = serverPid;
  if (values.peer === 'uvicorn') {
    main = [...threads.keys()].reduce((best, tid) => ((byTid.get(tid)?.length ?? 0) > (byTid.get(best)?.length ?? 0) ? tid : best));
  }
  const group = (e) => (e.tid === main ? 'serving thread' : threads.has(e.tid) ? (threads.get(e.tid) === 'front' ? 'front, other threads' : 'workers') : e.pid === clientPid ? 'client' : 'others');
  const running = new Map();
  const waiting = new Map();
  const add = (map, key, iv) => (map.has(key) ? map.get(key).push(iv) : map.set(key, [iv]));
  for (const [tid, events] of byTid) {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const from = e.t - e.ran;
      const g = group(e);
      add(cpuByGroup, g, [from, e.t]);
      if (g === 'serving thread' || g === 'workers' || g === 'client') {
        add(running, g, [from, e.t]);
        // Preempted (still runnable): all its time off the core was a wait for one.
        const prev = events[i - 1];
        add(waiting, g, prev?.state === 'R' ? [prev.t, from] : [from - e.delay, from]);
      }
    }
  }
  const gcs = [];
  try {
    for (const line of readFileSync(join(work, 'gc.txt'), 'utf8').trim().split('\n')) {
      const [start, length] = line.split(' ').map(Number);
      gcs.push([start / 1e9, (start + length) / 1e9]);
    }
  } catch {}
  const rows = [
    ['the serving thread running', running.get('serving thread')],
    ['the serving thread waiting for a core', waiting.get('serving thread')],
    ...(values.peer === 'gateway' ? [['a GC pause of the front', gcs], ['worker threads waiting for a core (thread-ms)', waiting.get('workers')]] : []),
    ['the client waiting for a core', waiting.get('client')],
    ...['serving thread', 'front, other threads', 'workers', 'client', 'others'].filter((g) => cpuByGroup.has(g)).map((g) => [`CPU used by ${g === 'others' ? 'everything else (others)' : g}`, cpuByGroup.get(g)]),
  ].filter(([, list]) => list && list.length > 0).map(([name, list]) => [name, intervals(list)]);

  const reqs = readFileSync(join(work, 'lat.txt'), 'utf8').trim().split('\n').map((l) => l.split(' ').map((x) => Number(x) / 1e9));
  const order = reqs.map((r, i) => [r[1] - r[0], i]).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
  const n = order.length;
  const slow = order.slice(Math.floor(n * 0.99));
  const middle = order.slice(Math.floor(n * 0.45), Math.floor(n * 0.55));
  const mean = (set, f) => set.reduce((s, i) => s + f(reqs[i]), 0) / set.length;
  const ms = (x) => (x * 1e3).toFixed(3).padStart(9);
  console.log(`\n${n} requests; per request, ms overlapping it:          slowest 1%  middle 10%`);
  console.log(`  ${'its latency'.padEnd(52)}${ms(mean(slow, (r) => r[1] - r[0]))}  ${ms(mean(middle, (r) => r[1] - r[0]))}`);
  for (const [name, overlap] of rows) console.log(`  ${name.padEnd(52)}${ms(mean(slow, (r) => overlap(r[0], r[1])))}  ${ms(mean(middle, (r) => overlap(r[0], r[1])))}`);

  // Preemptions of the serving thread: who took its core (the next to run there), and how long
  // the thread stayed off a core after.
  const byCpu = new Map();
  for (const events of byTid.values()) for (const e of events) add(byCpu, e.cpu, e);
  for (const list of byCpu.values()) list.sort((a, b) => a.t - b.t);
  const nextOnCpu = new Map();
  for (const list of byCpu.values()) for (let i = 0; i + 1 < list.length; i++) if (list[i].tid === main) nextOnCpu.set(list[i], list[i + 1]);
  const taken = new Map();
  const mine = byTid.get(main) ?? [];
  for (let i = 0; i + 1 < mine.length; i++) {
    const next = nextOnCpu.get(mine[i]);
    if (mine[i].state !== 'R' || !next) continue;
    add(taken, group(next), (mine[i + 1].t - mine[i + 1].ran - mine[i].t) * 1e3);
  }
  console.log(`\nthe serving thread (tid ${main}) preempted; its core taken by:   times  per 1k req  off the core, ms: in all     p50     p99  >= 1 ms`);
  for (const [g, offs] of [...taken].sort((a, b) => b[1].length - a[1].length)) {
    offs.sort((a, b) => a - b);
    const sum = offs.reduce((s, x) => s + x, 0);
    console.log(`  ${g.padEnd(40)}${String(offs.length).padStart(7)}${((offs.length * 1e3) / n).toFixed(1).padStart(12)}${sum.toFixed(1).padStart(24)}${offs[Math.floor(offs.length / 2)].toFixed(3).padStart(8)}${offs[Math.floor(offs.length * 0.99)].toFixed(3).padStart(8)}${String(offs.filter((x) => x >= 1).length).padStart(9)}`);
  }
}

async function main() {
  const lat = compileClient();
  const port = await freePort();
  const server = await startServer(port);
  await waitServing(server, `http://127.0.0.1:${port}${path === '/echo' ? '/' : path}`);
  // Warm: JIT, caches, the workers' imports, every connection accepted.
  await run(lat, [String(port), path, values.connections, '2', postBytes]).done;
  const threads = serverThreads(server.pid);
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(`${values.peer}${values.peer === 'gateway' ? ` (${resolve(values.checkout)})` : ''}, ${values.post ? 'POST 64 KiB ' : ''}${path}, ${values.connections} connections, ${seconds} s, load average ${load()}`);
  const perf = run('perf', ['sched', 'record', '-k', 'CLOCK_MONOTONIC', '-o', join(work, 'sched.data'), '--', 'sleep', String(seconds + 1)]);
  await sleep(500);
  const client = run(lat, [String(port), path, values.connections, String(seconds), postBytes, join(work, 'lat.txt')]);
  const { code, out } = await client.done;
  if (code !== 0) throw new Error(`lat exited ${code}`);
  console.log(out.trim());
  const recorded = await perf.done;
  if (recorded.code !== 0) throw new Error(`perf sched record exited ${recorded.code}`);
  await sleep(1200); // the probe's last second of collections
  await stopProcess(server);
  analyse(server.pid, threads, client.pid);
  console.log(`load average after: ${load()}`);
}

try {
  await main();
} finally {
  await stopAllProcesses();
  if (values.keep) {
    mkdirSync(values.keep, { recursive: true });
    for (const f of ['lat.txt', 'sched.data', 'gc.txt']) try { cpSync(join(work, f), join(values.keep, f)); } catch {}
  }
  rmSync(work, { recursive: true, force: true });
}
