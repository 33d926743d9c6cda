#!/usr/bin/env node
// `npm run bench:bodies`: big bodies through the gateway cost it a window, never the body
// (issue 11, "the front's own cost"; docs/protocol.md §5, flow control both ways). Against a
// WSGI app of its own (written to a temp dir, 1 worker), with the gateway as installed
// (bin/apppkg-gateway), it measures the growth of the gateway's RSS peak (VmHWM, reset through
// /proc/PID/clear_refs before each case) over its RSS before the case:
//   upload     1 GiB POSTed as fast as the client can; the app reads it in 64 KiB chunks and counts
//   download   1 GiB the app yields in 64 KiB chunks; the client reads as fast as it can
//   static file  1 GiB file of the app's `static:` directory, streamed from the disk by the gateway
//   slow app   1 GiB POSTed to an app that reads 64 KiB, then sleeps PAUSE seconds: the gateway
//              must hold the client back (TCP), not take the body in
//   slow reader  a client reads 64 KiB of a 1 GiB download, then stops reading for PAUSE seconds:
//              the gateway must hold the app back (the link's credit), not take the body in;
//              the app's own count says how much it produced meanwhile
//
//   npm run build && node bench/big-bodies.mjs [--mib 1024] [--pause 5]
//
// Prints one line per case and a table; exits 1 when a case grows the peak past 32 MiB (issue
// 11's bound) or loses bytes.
import { spawn } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, sleep } from './peers.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, pause: { type: 'string', default: '5' } } });
const SIZE = Number(values.mib) * 1024 * 1024;
const PAUSE_S = Number(values.pause);
const BOUND_MIB = 32;

const APP = String.raw`
"""bench/big-bodies.mjs's app: counts what it is sent, yields what it is asked for."""
import time

CHUNK = b"z" * 65536
PRODUCED = {"bytes": 0}


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/produced":
        body = str(PRODUCED["bytes"]).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    if path in ("/upload", "/upload-slow"):
        inp, total, first = environ["wsgi.input"], 0, True
        for chunk in iter(lambda: inp.read(65536), b""):
            total += len(chunk)
            if first and path == "/upload-slow":
                time.sleep(float(environ["QUERY_STRING"] or "5"))
            first = False
        body = str(total).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    size = int(environ["QUERY_STRING"] or "0")
    PRODUCED["bytes"] = 0
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])

    def generate():
        left = size
        while left > 0:
            n = min(left, len(CHUNK))
            left -= n
            PRODUCED["bytes"] += n
            yield CHUNK if n == len(CHUNK) else CHUNK[:n]

    return generate()
`;

const work = mkdtempSync(join(tmpdir(), 'apppkg-bodies-'));
const MiB = 1024 * 1024;

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)[1]);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

/** The peak RSS from now on: VmHWM reset (clear_refs 5), and sampled too where that is refused. */
function watchPeak(pid) {
  let sampled = status(pid).rss;
  const base = sampled;
  let resetWorks = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    resetWorks = false;
  }
  const timer = setInterval(() => {
    try {
      sampled = Math.max(sampled, status(pid).rss);
    } catch {}
  }, 20);
  return {
    base,
    stop() {
      clearInterval(timer);
      const s = status(pid);
      return Math.max(sampled, s.rss, resetWorks ? s.hwm : 0);
    },
  };
}

async function startGateway() {
  const app = join(work, 'apps', 'bodies');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'big.py'), APP);
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: big:application\nstatic:\n  /static: static/\n');
  // The static case's file: sparse, so it costs no disk and reads at memory speed.
  mkdirSync(join(app, 'static'));
  const file = openSync(join(app, 'static', 'big.bin'), 'w');
  ftruncateSync(file, SIZE);
  closeSync(file);
  // The bodies are larger than the default max_body (100 MiB) and may take longer than the default timeout.
  const envFile = join(work, 'environment.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\napps:\n  bodies:\n    mount: /\n    workers: 1\n    max_body: 4GB\n    timeout: 600\n');
  const port = await freePort();
  const child = spawn(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', join(work, 'apps'), '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0',
    '--environment', envFile, '--state-dir', join(work, 'state'), '--access-log', 'off'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const deadline = Date.now() + 30_000;
  while (!/listening on http:/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start: ${out}`);
    await sleep(20);
  }
  return {
    pid: child.pid,
    port,
    output: () => out,
    async stop() {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    },
  };
}

const agent = new http.Agent({ keepAlive: false });

function getText(port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** POSTs SIZE bytes (1 MiB writes, respecting backpressure); resolves with the app's count. */
function upload(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Length': String(SIZE), 'Content-Type': 'application/octet-stream' } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    const block = Buffer.alloc(MiB, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < SIZE) {
        const n = Math.min(MiB, SIZE - sent);
        sent += n;
        if (!req.write(n === MiB ? block : block.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** GETs SIZE bytes (the app's, or `path`) as fast as it can; resolves with the count. */
function download(port, path = `/download?${SIZE}`) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes }));
    }).on('error', reject);
  });
}

/** Reads 64 KiB of a SIZE download, stops reading for PAUSE_S (what the app produced meanwhile is asked), then reads the rest. */
function slowReader(port, during) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET /download?${SIZE} HTTP/1.1\r\nHost: bodies\r\nConnection: close\r\n\r\n`));
    let bytes = 0;
    let paused = false;
    let producedWhilePaused = NaN;
    socket.on('error', reject);
    socket.on('data', async (chunk) => {
      bytes += chunk.length;
      if (!paused && bytes >= 64 * 1024) {
        paused = true;
        socket.pause();
        await sleep(PAUSE_S * 1000);
        producedWhilePaused = Number(await getText(port, '/produced'));
        await during();
        socket.resume();
      }
    });
    socket.on('end', () => resolve({ bytes, producedWhilePaused }));
  });
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function main() {
  console.log(`big bodies: ${fmt(SIZE / MiB, 0)} MiB each way, pause ${PAUSE_S} s; the gateway's RSS peak growth (bound ${BOUND_MIB} MiB)`);
  const gw = await startGateway();
  const rows = [];
  let failed = false;
  const measure = async (name, run, check) => {
    // A request first: the worker is warm, the front has routed once.
    const first = await getText(gw.port, '/produced');
    if (!/^\d+$/.test(first)) throw new Error(`the app does not answer: ${first}\n${gw.output()}`);
    await sleep(500);
    const peak = watchPeak(gw.pid);
    const t0 = performance.now();
    const result = await run();
    const seconds = (performance.now() - t0) / 1000;
    const top = peak.stop();
    const growth = top - peak.base;
    const problem = check(result);
    const ok = growth <= BOUND_MIB && problem === null;
    failed ||= !ok;
    rows.push({ name, base: peak.base, top, growth, seconds, note: problem ?? result.note ?? '', ok });
    console.log(`  ${name.padEnd(12)} RSS ${fmt(peak.base)} MiB, peak ${fmt(top)} MiB: +${fmt(growth)} MiB in ${fmt(seconds, 1)} s (${fmt(SIZE / MiB / seconds, 0)} MiB/s) ${problem ?? result.note ?? ''}`);
  };
  try {
    await measure('upload', () => upload(gw.port, '/upload'), (r) => (r.status === 200 && Number(r.body) === SIZE ? null : `LOST BYTES: ${r.status} ${r.body}`));
    await measure('download', () => download(gw.port), (r) => (r.status === 200 && r.bytes === SIZE ? null : `LOST BYTES: ${r.status} ${r.bytes}`));
    await measure('static file', () => download(gw.port, '/static/big.bin'), (r) => (r.status === 200 && r.bytes === SIZE ? null : `LOST BYTES: ${r.status} ${r.bytes}`));
    await measure('slow app', () => upload(gw.port, `/upload-slow?${PAUSE_S}`), (r) => (r.status === 200 && Number(r.body) === SIZE ? null : `LOST BYTES: ${r.status} ${r.body}`));
    let pausedRss = NaN;
    await measure(
      'slow reader',
      async () => {
        const r = await slowReader(gw.port, async () => {
          pausedRss = status(gw.pid).rss;
        });
        return { ...r, note: `the app produced ${fmt(r.producedWhilePaused / MiB)} MiB while the client had read 64 KiB; gateway RSS then ${fmt(pausedRss)} MiB` };
      },
      (r) => (r.bytes > SIZE ? null : `LOST BYTES: ${r.bytes}`),
    );
  } finally {
    await gw.stop();
  }
  console.log('\n| case | RSS before MiB | RSS peak MiB | growth MiB | s | |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${fmt(r.base)} | ${fmt(r.top)} | ${fmt(r.growth)} | ${fmt(r.seconds)} | ${r.ok ? 'ok' : '**OVER**'} ${r.note} |`);
  if (failed) process.exitCode = 1;
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
