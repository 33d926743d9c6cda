#!/usr/bin/env node
// `npm run bench`: the gateway against its peers, side by side in one run on this machine, with
// wrk on loopback. The peers (bench/peers.mjs): the gateway (2 workers, app at /) at its default
// threads and at `threads: 1`, uvicorn --workers 2 direct (httptools, uvloop; bench_asgi.py),
// NGINX Unit (when $BENCH_UNIT names a unitd), gunicorn -w 2 direct, nginx -> gunicorn -w 2 (unix
// socket), nginx uwsgi_pass -> uwsgi --processes 2, and nginx serving the static file.
// Endpoints: hello (14 bytes), 16 KiB, 64 KiB POST echoed by length, and a 16 KiB static file
// (the gateway's `static:` against nginx's sendfile); 32 connections.
// BENCH_PEERS (comma-separated ids) measures a few of them only.
// Prints req/s and p50/p99 per peer and endpoint (the median of BENCH_ROUNDS rounds, 3 by
// default), cold start and idle memory, the gateway's ratio to each peer, and issue 11's targets
// met or not. Each run also reads the CPU of every process of the peer (bench/peer-cpu.mjs):
// its CPU per request, whose ratio holds still when req/s's does not, and each worker's share,
// which says whether one worker served the run alone (a shape of its own, not the other
// rounds'). Writes bench/results/latest.{json,md}. A peer that cannot run here is reported as
// such, never left out silently.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ONE_WORKER_SHARE, cpuAfter, cpuBefore, formatShares } from './peer-cpu.mjs';
import { ROOT, cmdline, definePeers, descendants, ensureDebianPackages, freePort, hasCommand, parseWrk, rssOf, sleep, stopAllProcesses, stopProcess } from './peers.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;
const ENDPOINTS = [
  { name: 'hello', title: 'hello', path: '/', args: [] },
  { name: '16k', title: '16k', path: '/16k', args: [] },
  { name: 'post64k', title: 'POST 64k', path: '/echo', args: ['-s', join(ROOT, 'bench', 'post.lua')] },
  { name: 'static16k', title: 'static 16k', path: '/static/16k.txt', args: [] },
];

const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-'));
// nginx's and Unit's workers run as an unprivileged user: they must reach the sockets here.
chmodSync(work, 0o755);
// BENCH_PEERS=gateway-asgi,uvicorn measures only those (ids in bench/peers.mjs); default all.
const ONLY = process.env.BENCH_PEERS ? new Set(process.env.BENCH_PEERS.split(',')) : null;
const PEERS = definePeers(work).filter((peer) => ONLY === null || ONLY.has(peer.id));

/** Polls GET url until 200; resolves with the ms it took, rejects past the deadline. */
async function waitUp(url, child, deadlineMs = 30000) {
  const started = performance.now();
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - started;
    } catch {}
    if (child && child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${child.output().slice(-2000)}`);
    if (performance.now() - started > deadlineMs) throw new Error(`not answering after ${deadlineMs} ms: ${child?.output().slice(-2000)}`);
    await sleep(20);
  }
}

function wrk(url, extra) {
  const r = spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', ...extra, url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  return parseWrk(r.stdout ?? '');
}

function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

const ONE_WORKER_FLAG = 'ONE WORKER SERVED';

/** A run's CPU as the report prints it: "41.2 µs/req, workers 15.0 µs: 52%/48%", flagged when one worker served. */
function cpuCell(cpu) {
  if (!cpu) return '-';
  const shares = formatShares(cpu);
  return `${fmt(cpu.usPerRequest, 1)} µs/req${shares ? `, workers ${fmt(cpu.workersUsPerRequest, 1)} µs: ${shares}` : ''}${cpu.oneWorkerServed ? ` ${ONE_WORKER_FLAG}` : ''}${cpu.changed ? ' (processes came or went)' : ''}`;
}

async function main() {
  ensureDebianPackages();
  if (!hasCommand('wrk')) {
    console.log('bench: wrk is not installed (apt-get install -y wrk)');
    process.exit(1);
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  // Rounds: every peer once per round, in turn, then the median of each figure. On 2 cores
  // one 8 s run's p99 swings by 2x; a slow drift of the machine (another process, the page
  // cache) then touches every peer alike instead of the one measured while it happened.
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round} of ${ROUNDS}`);
    const results = [];
    for (const peer of PEERS) results.push(await measure(peer));
    rounds.push(results);
  }
  report(PEERS.map((peer, i) => median(peer, rounds.map((results) => results[i]))));
}

/** One peer, started fresh: cold start, idle memory, then each endpoint it serves. */
async function measure(peer) {
  const row = { id: peer.id, peer: peer.name, ok: false, reason: null, coldStartMs: NaN, workerRssMiB: NaN, frontRssMiB: NaN, endpoints: {} };
  const unavailable = peer.unavailable();
  if (unavailable) {
    row.reason = `not available: ${unavailable}`;
    console.log(`  ${peer.name}: ${row.reason}`);
    return row;
  }
  const port = await freePort();
  const endpoints = ENDPOINTS.filter((ep) => peer.serves.includes(ep.name));
  let started;
  let t0 = 0;
  let stage = 'could not start';
  try {
    t0 = performance.now();
    started = await peer.start(port);
    await waitUp(`http://127.0.0.1:${port}${endpoints[0].path}`, started.main);
    row.coldStartMs = performance.now() - t0;
    stage = 'failed';
    await sleep(500);
    if (peer.workers) {
      const workers = descendants(started.main.pid).filter((p) => peer.workers.test(cmdline(p)));
      row.workerRssMiB = workers.reduce((a, p) => a + rssOf(p), 0) / Math.max(1, workers.length) / 1048576;
    }
    const front = peer.front ? descendants(started.main.pid).find((p) => peer.front.test(cmdline(p))) : started.main.pid;
    row.frontRssMiB = rssOf(front ?? started.main.pid) / 1048576;
    // Warm-up, then measure.
    spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, '-d2s', `http://127.0.0.1:${port}${endpoints[0].path}`]);
    const servers = (started.servers ?? started.children).map((c) => c.pid);
    const workerPids = () => new Set(peer.workers ? descendants(started.main.pid).filter((p) => peer.workers.test(cmdline(p))) : []);
    for (const ep of endpoints) {
      const before = cpuBefore(servers, workerPids);
      const e = (row.endpoints[ep.name] = wrk(`http://127.0.0.1:${port}${ep.path}`, ep.args));
      e.cpu = cpuAfter(before, e.requests);
      const errors = e.errors || e.socketErrors ? `  errors: ${e.errors} non-2xx${e.socketErrors ? `, sockets ${e.socketErrors}` : ''}` : '';
      console.log(`  ${peer.name.padEnd(32)} ${ep.name.padEnd(9)} ${fmt(e.rps)} req/s  p50 ${fmt(e.p50, 2)} ms  p99 ${fmt(e.p99, 2)} ms  ${cpuCell(e.cpu)}${errors}`);
    }
    if (started.events) {
      const events = (readFileSync(started.events, 'utf8').match(/^event: ?status$/gm) ?? []).length;
      row.eventsPerSecond = events / ((performance.now() - t0) / 1000);
    }
    row.ok = true;
  } catch (err) {
    row.reason = `${stage}: ${String(err.message ?? err).split('\n')[0]}`;
    console.log(`  ${peer.name}: ${row.reason}`);
  } finally {
    for (const c of started?.children ?? []) await stopProcess(c);
  }
  return row;
}

function mid(values) {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** A peer's rows from every round -> one row of medians (each figure on its own). */
function median(peer, rows) {
  const ok = rows.filter((r) => r.ok);
  if (ok.length < rows.length) return { ...rows.find((r) => !r.ok), rounds: rows };
  const endpoints = {};
  for (const ep of ENDPOINTS.filter((ep) => peer.serves.includes(ep.name))) {
    const runs = ok.map((r) => r.endpoints[ep.name]);
    endpoints[ep.name] = {
      rps: mid(runs.map((e) => e.rps)),
      p50: mid(runs.map((e) => e.p50)),
      p99: mid(runs.map((e) => e.p99)),
      errors: runs.reduce((a, e) => a + e.errors, 0),
      p99s: runs.map((e) => e.p99),
      cpuUsPerRequest: mid(runs.map((e) => e.cpu?.usPerRequest ?? NaN)),
      cpus: runs.map((e) => e.cpu),
    };
  }
  return {
    id: peer.id,
    peer: peer.name,
    ok: true,
    reason: null,
    coldStartMs: mid(ok.map((r) => r.coldStartMs)),
    workerRssMiB: mid(ok.map((r) => r.workerRssMiB)),
    frontRssMiB: mid(ok.map((r) => r.frontRssMiB)),
    eventsPerSecond: mid(ok.map((r) => r.eventsPerSecond ?? NaN)),
    endpoints,
    rounds: rows,
  };
}

/**
 * Issue 11's targets, each as a ratio of two figures of this run: [what, peer id, figure, the
 * bound it must meet, 'min' (at least) or 'max' (at most)].
 */
const TARGETS = [
  ['hello >= 1.0x uvicorn direct', 'uvicorn', 'hello', 1.0, 'min'],
  ['16k >= 1.0x uvicorn direct', 'uvicorn', '16k', 1.0, 'min'],
  ['POST 64k >= 1.0x uvicorn direct', 'uvicorn', 'post64k', 1.0, 'min'],
  ['p99 hello <= uvicorn direct', 'uvicorn', 'p99:hello', 1.0, 'max'],
  ['p99 16k <= uvicorn direct', 'uvicorn', 'p99:16k', 1.0, 'max'],
  ['p99 POST 64k <= uvicorn direct', 'uvicorn', 'p99:post64k', 1.0, 'max'],
  ['hello >= 1.5x nginx + gunicorn', 'nginx-gunicorn', 'hello', 1.5, 'min'],
  ['16k >= 1.5x nginx + gunicorn', 'nginx-gunicorn', '16k', 1.5, 'min'],
  ['POST 64k >= 1.5x nginx + gunicorn', 'nginx-gunicorn', 'post64k', 1.5, 'min'],
  ['static 16k >= 0.8x nginx (same file)', 'nginx-static', 'static16k', 0.8, 'min'],
  ['cold start <= gunicorn -w 2', 'gunicorn', 'coldStartMs', 1.0, 'max'],
];

/** Gateway / peer CPU per request on one endpoint, the medians of the rounds. */
function cpuRatio(gw, peer, ep) {
  return `${fmt(gw.endpoints[ep].cpuUsPerRequest / peer.endpoints[ep].cpuUsPerRequest, 2)}x`;
}

function figure(row, what) {
  if (what === 'coldStartMs') return row.coldStartMs;
  if (what.startsWith('p99:')) return row.endpoints[what.slice(4)]?.p99 ?? NaN;
  return row.endpoints[what]?.rps ?? NaN;
}

function report(results) {
  const byId = new Map(results.map((r) => [r.id, r]));
  const gateways = results.filter((r) => r.id.startsWith('gateway'));
  const lines = [];
  lines.push(`# Benchmark: ${new Date().toISOString()}, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${spawnSync('nproc').stdout.toString().trim()} cores, median of ${ROUNDS} rounds`, '');
  lines.push(`| peer | ${ENDPOINTS.map((ep) => `${ep.title} req/s | p50 ms | p99 ms`).join(' | ')} | cold start ms | RSS/worker MiB |`);
  lines.push(`| --- | ${ENDPOINTS.map(() => '---: | ---: | ---:').join(' | ')} | ---: | ---: |`);
  for (const r of results) {
    if (!r.ok) {
      lines.push(`| ${r.peer} | ${r.reason} |`);
      continue;
    }
    const cells = ENDPOINTS.flatMap((ep) => {
      const e = r.endpoints[ep.name];
      return e ? [fmt(e.rps), fmt(e.p50, 2), fmt(e.p99, 2)] : ['', '', ''];
    });
    lines.push(`| ${r.peer} | ${cells.join(' | ')} | ${fmt(r.coldStartMs)} | ${fmt(r.workerRssMiB, 1)} |`);
  }
  const failed = results.filter((r) => r.ok && ENDPOINTS.some((ep) => r.endpoints[ep.name]?.errors));
  if (failed.length) lines.push('', `Non-2xx answers: ${failed.map((r) => `${r.peer} ${ENDPOINTS.filter((ep) => r.endpoints[ep.name]?.errors).map((ep) => `${ep.name} ${r.endpoints[ep.name].errors}`).join(', ')}`).join('; ')}`);
  lines.push('', `p99 in each round, ms (the table has their median):`);
  for (const r of results.filter((r) => r.ok)) {
    lines.push(`- ${r.peer}: ${ENDPOINTS.filter((ep) => r.endpoints[ep.name]).map((ep) => `${ep.name} ${r.endpoints[ep.name].p99s.map((v) => fmt(v, 2)).join(' / ')}`).join('; ')}`);
  }
  // Beside the p99s: what each round's run cost the peer (all its processes, wrk apart), and
  // whether its workers shared the load; a round where one worker served is another shape.
  lines.push('', `CPU per request in each round, µs (every process of the peer, wrk apart), and each worker's share of the workers' CPU (${ONE_WORKER_FLAG}: one worker did more than ${fmt(ONE_WORKER_SHARE * 100)}% of it):`);
  for (const r of results.filter((r) => r.ok)) {
    lines.push(`- ${r.peer}: ${ENDPOINTS.filter((ep) => r.endpoints[ep.name]).map((ep) => `${ep.name} ${r.endpoints[ep.name].cpus.map(cpuCell).join(' / ')}`).join('; ')}`);
  }
  const served = results.filter((r) => r.ok).flatMap((r) => ENDPOINTS.filter((ep) => r.endpoints[ep.name]).flatMap((ep) =>
    r.endpoints[ep.name].cpus.flatMap((c, i) => (c?.oneWorkerServed ? [`${r.peer} ${ep.name} round ${i + 1}`] : []))));
  if (served.length) lines.push('', `One worker served: ${served.join(', ')}. That round's req/s and p99 are those of one busy process, not of the peer's workers together: a ratio to it compares two shapes.`);
  lines.push('', `Front process RSS after start: ${results.filter((r) => r.ok).map((r) => `${r.peer} ${fmt(r.frontRssMiB, 1)} MiB`).join(', ')}`);

  // The gateway against each peer serving the same endpoints.
  lines.push('', 'Gateway / peer: req/s, then CPU per request (median of the rounds; under 1x the gateway spends less on a request, and this ratio holds still when req/s\'s does not).', '',
    '| gateway | vs | hello | 16k | POST 64k | static 16k | p99 hello | p99 16k | p99 POST | p99 static |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const gw of gateways.filter((g) => g.ok)) {
    for (const r of results.filter((r) => !r.id.startsWith('gateway'))) {
      if (!r.ok) {
        lines.push(`| ${gw.peer} | ${r.peer} | ${r.reason} |`);
        continue;
      }
      const both = (ep) => gw.endpoints[ep] && r.endpoints[ep];
      const ratio = (ep) => (both(ep) ? `${fmt(gw.endpoints[ep].rps / r.endpoints[ep].rps, 2)}x, CPU/req ${cpuRatio(gw, r, ep)}` : '');
      const p99 = (ep) => (both(ep) ? `${gw.endpoints[ep].p99 <= r.endpoints[ep].p99 ? 'lower' : 'HIGHER'} (${fmt(gw.endpoints[ep].p99, 2)} vs ${fmt(r.endpoints[ep].p99, 2)})` : '');
      const eps = ['hello', '16k', 'post64k', 'static16k'];
      if (!eps.some(both)) continue;
      lines.push(`| ${gw.peer} | ${r.peer} | ${eps.map(ratio).join(' | ')} | ${eps.map(p99).join(' | ')} |`);
    }
  }

  // Issue 14's bound: the status page open costs the proxy nothing measurable.
  const [plain, watched] = [byId.get('gateway'), byId.get('gateway-watched')];
  if (plain?.ok && watched?.ok) {
    const eps = ['hello', '16k', 'post64k'];
    lines.push('', `Status page open (an /events client through the run) against none: ${eps.map((ep) => `${ep} ${fmt(watched.endpoints[ep].rps / plain.endpoints[ep].rps, 2)}x, p99 ${fmt(watched.endpoints[ep].p99, 2)} vs ${fmt(plain.endpoints[ep].p99, 2)} ms`).join('; ')}; ${fmt(watched.eventsPerSecond, 2)} events/s sent (bound: 2)`);
  }

  // Issue 11's targets, for the gateway at its default threads and at threads: 1.
  lines.push('', `| target (issue 11) | ${gateways.map((g) => g.peer).join(' | ')} |`, `| --- | ${gateways.map(() => '---').join(' | ')} |`);
  const verdicts = [];
  for (const [what, peerId, fig, bound, kind] of TARGETS) {
    const cells = gateways.map((gw) => {
      const peer = byId.get(peerId);
      if (!gw.ok) return 'not measured';
      if (!peer?.ok) return `${peer?.peer ?? peerId} ${peer?.reason ?? 'not measured'}`;
      const ratio = figure(gw, fig) / figure(peer, fig);
      if (Number.isNaN(ratio)) return ''; // not served by this gateway row (static: the default one)
      const met = kind === 'min' ? ratio >= bound : ratio <= bound;
      verdicts.push(met);
      const shown = fig.startsWith('p99:') || fig === 'coldStartMs' ? `${fmt(figure(gw, fig), fig === 'coldStartMs' ? 0 : 2)} vs ${fmt(figure(peer, fig), fig === 'coldStartMs' ? 0 : 2)} (${fmt(ratio, 2)}x)` : `${fmt(ratio, 2)}x`;
      // A req/s target's CPU per request beside it: the design's figure, which a round of
      // another shape (one worker served) or a busy minute moves far less than req/s.
      const cpu = fig in gw.endpoints ? ` (CPU/req ${cpuRatio(gw, peer, fig)})` : '';
      return `${shown} ${met ? 'met' : '**NOT MET**'}${cpu}`;
    });
    lines.push(`| ${what} | ${cells.join(' | ')} |`);
  }
  lines.push(`| front process RSS after start <= 50 MiB | ${gateways.map((gw) => (gw.ok ? `${fmt(gw.frontRssMiB, 1)} MiB ${gw.frontRssMiB <= 50 ? 'met' : '**NOT MET**'}` : 'not measured')).join(' | ')} |`);
  lines.push('', `Targets met: ${verdicts.filter(Boolean).length} of ${verdicts.length} ratios measured (RSS apart).`);

  const text = lines.join('\n');
  console.log(`\n${text}\n`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), `${text}\n`);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written to bench/results/latest.md and latest.json`);
}

const cleanup = async () => {
  await stopAllProcesses();
  rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
