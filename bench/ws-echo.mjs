#!/usr/bin/env node
// `npm run bench:ws`: websocket echo, messages per second and round-trip p99, 32 connections each
// sending a 32-byte text message and waiting for its echo before the next (issue 12). Peers: the
// gateway's ASGI worker (2 workers, uvloop, and plain asyncio) and uvicorn --workers 2 direct
// (uvloop, httptools, Debian's websockets), all serving bench/app/bench_asgi.py. The client is
// the `ws` package in this process: the same client for every peer, so the ratio is what counts.
// Then, for each peer: the RSS of its app workers and of its front process with --idle (1,000)
// websockets open and silent, against before they opened.
//
//   npm run build && node bench/ws-echo.mjs [--seconds 8] [--rounds 3] [--connections 32] [--idle 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { cmdline, definePeers, descendants, rssOf, sleep, stopAllProcesses, stopProcess } from './peers.mjs';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '32' }, idle: { type: 'string', default: '1000' } },
});
const IDLE = Number(values.idle);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
const MESSAGE = 'x'.repeat(32);
const PEERS = ['gateway-asgi', 'gateway-asgi-asyncio', 'uvicorn'];

async function waitForWebsocket(url, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const ws = await open(url);
      ws.close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${url}: no websocket within ${ms} ms (${err.message})`);
      await sleep(100);
    }
  }
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** CONNECTIONS sockets, each echoing back to back for SECONDS: messages per second and RTT percentiles. */
async function measure(url) {
  const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(url)));
  const rtts = [];
  let running = true;
  const loops = sockets.map(
    (ws) =>
      new Promise((resolve) => {
        let sent = 0;
        const next = () => {
          if (!running) return resolve();
          sent = performance.now();
          ws.send(MESSAGE);
        };
        ws.on('message', () => {
          rtts.push(performance.now() - sent);
          next();
        });
        ws.on('close', resolve);
        next();
      }),
  );
  const started = performance.now();
  await sleep(SECONDS * 1000);
  running = false;
  const elapsed = (performance.now() - started) / 1000;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  for (const ws of sockets) ws.terminate();
  rtts.sort((a, b) => a - b);
  const at = (q) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] ?? NaN;
  return { mps: rtts.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

const mid = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const MiB = (bytes) => (bytes / 1048576).toFixed(1);

/** RSS of a peer's app workers (summed) and of its front, with IDLE silent websockets open and without. */
async function idleMemory(peer, started, url) {
  const sample = () => {
    const below = descendants(started.main.pid);
    const workers = below.filter((p) => peer.workers.test(cmdline(p)));
    const front = peer.front ? below.find((p) => peer.front.test(cmdline(p))) : started.main.pid;
    return { workers: workers.reduce((a, p) => a + rssOf(p), 0), front: rssOf(front ?? started.main.pid) };
  };
  const before = sample();
  const sockets = [];
  for (let i = 0; i < IDLE; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, IDLE - i) }, () => open(url)))));
  await sleep(1000);
  const held = sample();
  for (const ws of sockets) ws.terminate();
  return { before, held };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-ws-'));
  const peers = definePeers(work).filter((p) => PEERS.includes(p.id));
  const results = new Map(peers.map((p) => [p.id, []]));
  const memory = new Map();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const peer of peers) {
        const why = peer.unavailable();
        if (why) {
          results.set(peer.id, why);
          continue;
        }
        const port = 18400 + round * 10 + peers.indexOf(peer);
        const started = await peer.start(port);
        const { children } = started;
        try {
          const url = `ws://127.0.0.1:${port}/ws`;
          await waitForWebsocket(url);
          const r = await measure(url);
          results.get(peer.id).push(r);
          console.log(`round ${round}: ${peer.name.padEnd(34)} ${r.mps.toFixed(0)} msg/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms`);
          if (round === ROUNDS && IDLE > 0) memory.set(peer.id, await idleMemory(peer, started, url));
        } finally {
          for (const child of children) await stopProcess(child);
        }
      }
    }
  } finally {
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  }
  const lines = ['', `| peer | msg/s | p50 ms | p99 ms |`, '| --- | ---: | ---: | ---: |'];
  const summary = new Map();
  for (const peer of peers) {
    const runs = results.get(peer.id);
    if (typeof runs === 'string' || runs.length === 0) {
      lines.push(`| ${peer.name} | ${typeof runs === 'string' ? runs : 'no result'} | | |`);
      continue;
    }
    const row = { mps: mid(runs.map((r) => r.mps)), p50: mid(runs.map((r) => r.p50)), p99: mid(runs.map((r) => r.p99)) };
    summary.set(peer.id, row);
    lines.push(`| ${peer.name} | ${row.mps.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} |`);
  }
  const uvicorn = summary.get('uvicorn');
  if (uvicorn) {
    for (const id of ['gateway-asgi', 'gateway-asgi-asyncio']) {
      const gw = summary.get(id);
      if (!gw) continue;
      const ratio = gw.mps / uvicorn.mps;
      lines.push('', `${peers.find((p) => p.id === id).name} vs uvicorn: ${ratio.toFixed(2)}x messages/s (target >= 1.0x: ${ratio >= 1 ? 'met' : 'NOT MET'}), p99 ${gw.p99.toFixed(2)} vs ${uvicorn.p99.toFixed(2)} ms (${gw.p99 <= uvicorn.p99 ? 'met' : 'NOT MET'})`);
    }
  }
  if (memory.size > 0) {
    lines.push('', `| peer | app workers RSS MiB | with ${IDLE} idle websockets | front RSS MiB | with them |`, '| --- | ---: | ---: | ---: | ---: |');
    for (const peer of peers) {
      const m = memory.get(peer.id);
      if (m) lines.push(`| ${peer.name} | ${MiB(m.before.workers)} | ${MiB(m.held.workers)} | ${MiB(m.before.front)} | ${MiB(m.held.front)} |`);
    }
  }
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
