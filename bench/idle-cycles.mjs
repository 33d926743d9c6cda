#!/usr/bin/env node
// `npm run bench:cycles`: does the gateway's memory grow with idle/wake cycles? BENCH_APPS hello
// apps (default 30) with one worker and `idle_timeout: 1`; each cycle wakes every app with a
// request (BENCH_CONCURRENCY at once, default 10), waits until all are asleep again, and reads
// the gateway's memory: VmRSS; its anonymous and file-backed parts (smaps_rollup); of the
// anonymous part, glibc's main heap (`[heap]`), its thread arenas (64 MiB reservations) and the
// rest (V8's heap among it); open file descriptors; and from /metrics V8's heap and external
// memory. BENCH_CYCLES cycles (default 24: 720 cold starts). BENCH_SNAPSHOTS=4,24 writes a heap
// snapshot after those cycles (into bench/results/, for a diff of what the gateway keeps).
// Fails (exit 1) if glibc's main heap grew by more than 16 MiB after the first quarter of the
// cycles: what the /proc scans of stopped workers did before docs/performance.md, "Many apps".
// Not with BENCH_SNAPSHOTS: V8's snapshot writer leaves ~50 MiB in that heap itself.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { APP_DIR, ROOT, sleep, startProcess, stopAllProcesses } from './peers.mjs';

const APPS = Number(process.env.BENCH_APPS ?? 30);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 24);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const SNAPSHOTS = new Set((process.env.BENCH_SNAPSHOTS ?? '').split(',').filter(Boolean).map(Number));
const HEAP_GROWTH_BOUND_MIB = 16;
const RESULTS = join(ROOT, 'bench', 'results');
const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-cycles-'));
const agent = new Agent({ connections: 64 });
const names = Array.from({ length: APPS }, (_, i) => `app${String(i).padStart(3, '0')}`);

async function until(what, fn, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

const kib = (text) => Object.fromEntries([...text.matchAll(/^(\w+):\s+(\d+) kB/gm)].map((m) => [m[1], Number(m[2])]));

/** The anonymous RSS of `pid` in KiB: glibc's main heap, its thread arenas, and the rest. */
function anonymousParts(pid) {
  const maps = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], name: head[4], anon: 0 });
    else if (line.startsWith('Anonymous:')) maps.at(-1).anon = Number(/(\d+)/.exec(line)[1]);
  }
  // A thread arena is a 64 MiB-aligned reservation, its used part rw-p, the rest ---p.
  const ARENA = 64n << 20n;
  const parts = { heap: 0, arenas: 0, rest: 0 };
  maps.forEach((m, i) => {
    if (m.name === '[heap]') parts.heap += m.anon;
    else if (m.name !== '' || m.anon === 0) return;
    else if (m.start % ARENA === 0n && (m.end - m.start === ARENA || (maps[i + 1]?.start === m.end && maps[i + 1].perms === '---p' && maps[i + 1].end - m.start === ARENA))) parts.arenas += m.anon;
    else parts.rest += m.anon;
  });
  return parts;
}

async function v8Figures(admin) {
  const text = await (await request(`${admin}/metrics`, { dispatcher: agent })).body.text();
  const metric = (name) => Number(new RegExp(`^apppkg_gateway_${name} (\\S+)`, 'm').exec(text)?.[1]) / 1048576;
  return { heapUsed: metric('nodejs_heap_size_used_bytes'), heapTotal: metric('nodejs_heap_size_total_bytes'), external: metric('nodejs_external_memory_bytes') };
}

async function reading(pid, admin) {
  const rollup = kib(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const parts = anonymousParts(pid);
  const mib = (k) => k / 1024;
  return { rss: mib(kib(readFileSync(`/proc/${pid}/status`, 'utf8')).VmRSS), anon: mib(rollup.Anonymous), file: mib(rollup.Rss - rollup.Anonymous), heap: mib(parts.heap), arenas: mib(parts.arenas), rest: mib(parts.rest), fds, ...(await v8Figures(admin)) };
}

/** A heap snapshot by SIGUSR2 (NODE_OPTIONS below), moved to bench/results once written. */
async function snapshot(pid, cwd, cycle) {
  process.kill(pid, 'SIGUSR2');
  let file;
  await until('the heap snapshot', () => (file = readdirSync(cwd).find((f) => f.endsWith('.heapsnapshot'))), 120_000);
  let size = -1;
  for (;;) {
    await sleep(1000);
    const now = readFileSync(join(cwd, file)).length;
    if (now === size) break;
    size = now;
  }
  mkdirSync(RESULTS, { recursive: true });
  renameSync(join(cwd, file), join(RESULTS, `cycles-${cycle}.heapsnapshot`));
}

async function main() {
  const apps = join(work, 'apps');
  for (const name of names) {
    mkdirSync(join(apps, name), { recursive: true });
    cpSync(join(APP_DIR, 'bench_app.py'), join(apps, name, 'bench_app.py'));
    writeFileSync(join(apps, name, 'app.yaml'), 'platform: python, wsgi\napp: bench_app:application\n');
  }
  const envFile = join(work, 'environment.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\ndefaults:\n  workers: 1\n  idle_timeout: 1\n');
  const gateway = startProcess(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0',
    '--state-dir', join(work, 'state'), '--environment', envFile, '--access-log', 'off', '--settle', '0'],
  { cwd: work, env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2` } });
  let url;
  let admin;
  await until('the gateway to listen', () => {
    url = /listening on (http:\/\/\S+)/.exec(gateway.output())?.[1]?.replace(/\/$/, '');
    admin = /admin on (http:\/\/\S+)/.exec(gateway.output())?.[1]?.replace(/\/$/, '');
    return url && admin;
  }, 60_000);
  const allAsleep = async () => {
    const status = await (await request(`${admin}/status`, { dispatcher: agent })).body.json();
    return status.apps.length === APPS && status.apps.every((a) => a.state === 'idle');
  };
  await until('every app judged and asleep', allAsleep, 600_000);

  const rows = [{ cycle: 0, coldStarts: 0, failed: 0, ...(await reading(gateway.pid, admin)) }];
  let failed = 0;
  const print = (r) => console.log([r.cycle, r.coldStarts, r.failed, r.rss, r.anon, r.file, r.heap, r.arenas, r.rest, r.fds, r.heapUsed, r.heapTotal, r.external]
    .map((v, i) => (i < 3 || i === 9 ? String(v) : v.toFixed(1)).padStart(i < 3 ? 5 : 7)).join(' '));
  console.log(`${APPS} apps, idle_timeout 1 s, ${CONCURRENCY} wakes at once; MiB but cycles, cold starts, failed requests, fds`);
  console.log('cycle  cold fail     rss    anon    file  [heap]  arenas    rest     fds  v8used v8total     ext');
  print(rows[0]);
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const queue = [...names];
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        try {
          const res = await request(`${url}/${name}/`, { dispatcher: agent, headersTimeout: 120_000 });
          await res.body.text();
          if (res.statusCode !== 200) failed++;
        } catch {
          failed++;
        }
      }
    }));
    await until('every app asleep again', allAsleep, 120_000);
    rows.push({ cycle, coldStarts: cycle * APPS, failed, ...(await reading(gateway.pid, admin)) });
    print(rows.at(-1));
    if (SNAPSHOTS.has(cycle)) await snapshot(gateway.pid, work, cycle);
  }

  const quarter = rows[Math.max(1, Math.floor(CYCLES / 4))];
  const growth = rows.at(-1).heap - quarter.heap;
  console.log(`glibc's main heap: ${quarter.heap.toFixed(1)} MiB after ${quarter.coldStarts} cold starts, ${rows.at(-1).heap.toFixed(1)} after ${rows.at(-1).coldStarts} (bound +${HEAP_GROWTH_BOUND_MIB} MiB)`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'cycles.json'), JSON.stringify(rows, null, 1));
  if (growth > HEAP_GROWTH_BOUND_MIB && SNAPSHOTS.size === 0) {
    console.log('idle-cycles: FAILED: the main heap grows with cold starts');
    process.exitCode = 1;
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAllProcesses();
    await agent.destroy();
    rmSync(work, { recursive: true, force: true });
  });
