#!/usr/bin/env node
// `npm run bench`: the gateway against its peers, side by side in one run on this machine,
// with wrk on loopback and the same Python app file (bench/app/bench_app.py) everywhere:
//   the gateway (2 workers, app at /), gunicorn -w 2 direct, nginx -> gunicorn -w 2 (unix
//   socket), nginx uwsgi_pass -> uwsgi --processes 2.
// Endpoints: hello (14 bytes), 16 KiB, 64 KiB POST echoed by length; 32 connections.
// Prints req/s and p50/p99 per peer and endpoint (the median of BENCH_ROUNDS rounds, 3 by
// default) and the gateway's ratio to each peer; also cold start and idle memory per worker. Writes bench/results/latest.{json,md}.
// A peer that cannot start is reported as such, never left out silently.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const APP_DIR = join(ROOT, 'bench', 'app');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;
const SYSTEM_PYTHON = '/usr/bin/python3';
const ENDPOINTS = [
  { name: 'hello', path: '/', args: [] },
  { name: '16k', path: '/16k', args: [] },
  { name: 'post64k', path: '/echo', args: ['-s', join(ROOT, 'bench', 'post.lua')] },
];

const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-'));
// nginx's workers run as an unprivileged user: they must reach the peers' unix sockets here.
chmodSync(work, 0o755);
const children = new Set();

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.output = () => out;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
}

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

function toMs(v, unit) {
  return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : v;
}

function wrk(url, extra) {
  const r = spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', ...extra, url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
    return m ? toMs(Number(m[1]), m[2]) : NaN;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
  return { rps, p50: pct(50), p99: pct(99), errors: errors ? Number(errors) : 0, socketErrors: socketErrors ?? null };
}

function rssOf(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}

function descendants(pid) {
  const all = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      all.push([Number(e), ppid]);
    } catch {}
  }
  const out = [];
  const walk = (p) => {
    for (const [c, pp] of all) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function nginxConf(port, upstreamBlock, locationBody) {
  const prefix = join(work, `nginx-${port}`);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  client_max_body_size 10m;
  ${upstreamBlock}
  server {
    listen 127.0.0.1:${port};
    location / { ${locationBody} }
  }
}
`);
  return { prefix, conf };
}

const PEERS = [
  {
    name: 'apppkg-gateway',
    async start(port) {
      const apps = join(work, 'apps');
      mkdirSync(apps, { recursive: true });
      if (!existsSync(join(apps, 'bench'))) symlinkSync(APP_DIR, join(apps, 'bench'));
      const envFile = join(work, 'environment.yaml');
      writeFileSync(envFile, `python: ${SYSTEM_PYTHON}\napps:\n  bench:\n    mount: /\n    workers: 2\n`);
      const child = start(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
        '--admin', '127.0.0.1:0', '--environment', envFile, '--state-dir', join(work, 'state'), '--access-log', 'off']);
      return { children: [child], main: child };
    },
  },
  {
    name: 'gunicorn -w 2',
    async start(port) {
      const child = start('gunicorn', ['-w', '2', '-b', `127.0.0.1:${port}`, '--chdir', APP_DIR, 'bench_app:application']);
      return { children: [child], main: child };
    },
  },
  {
    name: 'nginx + gunicorn -w 2',
    async start(port) {
      const sock = join(work, 'gunicorn.sock');
      const g = start('gunicorn', ['-w', '2', '-b', `unix:${sock}`, '--chdir', APP_DIR, 'bench_app:application']);
      const { prefix, conf } = nginxConf(port, `upstream app { server unix:${sock}; }`, 'proxy_pass http://app; proxy_set_header Host $host;');
      const n = start('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;']);
      return { children: [n, g], main: g };
    },
  },
  {
    name: 'nginx + uWSGI --processes 2',
    async start(port) {
      const sock = join(work, 'uwsgi.sock');
      const u = start('uwsgi', ['--plugin', 'python3', '--socket', sock, '--processes', '2', '--master', '--chdir', APP_DIR,
        '--module', 'bench_app:application', '--disable-logging', '--die-on-term', '--chmod-socket=666']);
      const { prefix, conf } = nginxConf(port, `upstream app { server unix:${sock}; }`, 'include /etc/nginx/uwsgi_params; uwsgi_pass app;');
      const n = start('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;']);
      return { children: [n, u], main: u };
    },
  },
];

function fmt(n, digits = 0) {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main() {
  const missing = ['wrk', 'gunicorn', 'nginx', 'uwsgi'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.includes('wrk')) {
    console.log('bench: wrk is not installed (apt-get install -y wrk)');
    process.exit(1);
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) spawnSync('npx', ['tsc', '-p', ROOT], { stdio: 'inherit' });
  // Rounds: every peer once per round, in turn, then the median of each figure. On 2 cores
  // one 8 s run's p99 swings by 2x; a slow drift of the machine (another process, the page
  // cache) then touches every peer alike instead of the one measured while it happened.
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round} of ${ROUNDS}`);
    const results = [];
    for (const peer of PEERS) results.push(await measure(peer, missing));
    rounds.push(results);
  }
  report(PEERS.map((peer, i) => median(peer.name, rounds.map((results) => results[i]))));
}

/** One peer, started fresh: cold start, idle memory, then each endpoint. */
async function measure(peer, missing) {
  const port = await freePort();
  const row = { peer: peer.name, ok: false, reason: null, coldStartMs: NaN, workerRssMiB: NaN, frontRssMiB: NaN, endpoints: {} };
  let started;
  try {
    const tool = { 'gunicorn -w 2': 'gunicorn', 'nginx + gunicorn -w 2': 'gunicorn', 'nginx + uWSGI --processes 2': 'uwsgi' }[peer.name];
    if (tool && missing.includes(tool)) throw new Error(`${tool} is not installed`);
    if (peer.name.startsWith('nginx') && missing.includes('nginx')) throw new Error('nginx is not installed');
    const t0 = performance.now();
    started = await peer.start(port);
    await waitUp(`http://127.0.0.1:${port}/`, started.main);
    row.coldStartMs = performance.now() - t0;
    await sleep(500);
    const workers = descendants(started.main.pid).filter((p) => p !== started.main.pid);
    const pythonWorkers = workers.filter((p) => /python|gunicorn|uwsgi/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
    row.workerRssMiB = pythonWorkers.reduce((a, p) => a + rssOf(p), 0) / Math.max(1, pythonWorkers.length) / 1048576;
    row.frontRssMiB = rssOf(started.main.pid) / 1048576;
    // Warm-up, then measure.
    spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, '-d2s', `http://127.0.0.1:${port}/`]);
    for (const ep of ENDPOINTS) {
      row.endpoints[ep.name] = wrk(`http://127.0.0.1:${port}${ep.path}`, ep.args);
      console.log(`  ${peer.name.padEnd(28)} ${ep.name.padEnd(8)} ${fmt(row.endpoints[ep.name].rps)} req/s  p50 ${fmt(row.endpoints[ep.name].p50, 2)} ms  p99 ${fmt(row.endpoints[ep.name].p99, 2)} ms`);
    }
    row.ok = true;
  } catch (err) {
    row.reason = String(err.message ?? err).split('\n')[0];
    console.log(`  ${peer.name}: could not be measured: ${row.reason}`);
  } finally {
    for (const c of started?.children ?? []) await stop(c);
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
function median(name, rows) {
  const ok = rows.filter((r) => r.ok);
  if (ok.length < rows.length) return { ...rows.find((r) => !r.ok), rounds: rows };
  const endpoints = {};
  for (const ep of ENDPOINTS) {
    const runs = ok.map((r) => r.endpoints[ep.name]);
    endpoints[ep.name] = {
      rps: mid(runs.map((e) => e.rps)),
      p50: mid(runs.map((e) => e.p50)),
      p99: mid(runs.map((e) => e.p99)),
      errors: runs.reduce((a, e) => a + e.errors, 0),
      p99s: runs.map((e) => e.p99),
    };
  }
  return {
    peer: name,
    ok: true,
    reason: null,
    coldStartMs: mid(ok.map((r) => r.coldStartMs)),
    workerRssMiB: mid(ok.map((r) => r.workerRssMiB)),
    frontRssMiB: mid(ok.map((r) => r.frontRssMiB)),
    endpoints,
    rounds: rows,
  };
}


function report(results) {
  const gw = results[0];
  const lines = [];
  lines.push(`# Benchmark: ${new Date().toISOString()}, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${spawnSync('nproc').stdout.toString().trim()} cores, median of ${ROUNDS} rounds`, '');
  lines.push('| peer | hello req/s | p50 ms | p99 ms | 16k req/s | p50 ms | p99 ms | POST 64k req/s | p50 ms | p99 ms | cold start ms | RSS/worker MiB |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    if (!r.ok) {
      lines.push(`| ${r.peer} | not measured: ${r.reason} |`);
      continue;
    }
    const cells = ENDPOINTS.flatMap((ep) => {
      const e = r.endpoints[ep.name];
      return [fmt(e.rps), fmt(e.p50, 2), fmt(e.p99, 2)];
    });
    lines.push(`| ${r.peer} | ${cells.join(' | ')} | ${fmt(r.coldStartMs)} | ${fmt(r.workerRssMiB, 1)} |`);
  }
  lines.push('', `p99 in each round, ms (the table has their median):`);
  for (const r of results.filter((r) => r.ok && r.endpoints.hello.p99s)) {
    lines.push(`- ${r.peer}: ${ENDPOINTS.map((ep) => `${ep.name} ${r.endpoints[ep.name].p99s.map((v) => fmt(v, 2)).join(' / ')}`).join('; ')}`);
  }
  lines.push('', `Front process RSS: ${results.filter((r) => r.ok).map((r) => `${r.peer} ${fmt(r.frontRssMiB, 1)} MiB`).join(', ')}`);
  if (gw.ok) {
    lines.push('', '| the gateway vs | hello | 16k | POST 64k | p99 hello | p99 16k | p99 POST |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.slice(1)) {
      if (!r.ok) {
        lines.push(`| ${r.peer} | not measured: ${r.reason} |`);
        continue;
      }
      const ratio = (ep) => fmt(gw.endpoints[ep].rps / r.endpoints[ep].rps, 2) + 'x';
      const p99 = (ep) => (gw.endpoints[ep].p99 <= r.endpoints[ep].p99 ? 'lower' : 'HIGHER') + ` (${fmt(gw.endpoints[ep].p99, 2)} vs ${fmt(r.endpoints[ep].p99, 2)})`;
      lines.push(`| ${r.peer} | ${ratio('hello')} | ${ratio('16k')} | ${ratio('post64k')} | ${p99('hello')} | ${p99('16k')} | ${p99('post64k')} |`);
    }
  }
  const text = lines.join('\n');
  console.log(`\n${text}\n`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), `${text}\n`);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written to bench/results/latest.md and latest.json`);
}

const cleanup = async () => {
  for (const c of children) await stop(c);
  rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
