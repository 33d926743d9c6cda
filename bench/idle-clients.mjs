#!/usr/bin/env node
// `npm run bench:idle`: what idle keep-alive clients cost the gateway (issue 11, "the front's
// own cost"): its RSS growth per 1,000 clients held, and whether the p99 of 32 active clients
// (wrk -t1 -c32 on the hello app, 2 workers, as `npm run bench`) changes while they are held.
//
//   npm run build && node bench/idle-clients.mjs [--clients 10000] [--seconds 8] [--rounds 3]
//                                                [--mode request|connect|both]
//
// Two kinds of idle client, both measured by default:
//   request  each sends one GET (the app answers it), reads the response and keeps the
//            connection. That is the realistic case: a browser or an HTTP client's pool keeps
//            a connection after using it. The gateway closes a connection idle for its
//            keep-alive timeout (5 s: Node's default, which the front keeps), so a client
//            that wants to stay must send again before then: these do, every --refresh
//            seconds (4), which is N/4 requests a second of their own (2,500 at 10,000).
//   connect  each connects and sends nothing (a browser's preconnect). Held until the
//            header timeout, so the gateway runs with --header-timeout 600 here. No traffic of
//            their own: this isolates what holding a socket costs from what serving it does.
// Per round and mode: RSS and wrk alone; the N clients opened, RSS with them; wrk with them
// held; the clients closed, wrk alone again (the "without" p99 is the two runs alone, so a
// drift of this 2-core machine during the round shows). Prints the medians over the rounds.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { freePort, parseWrk, rssOf, sleep } from './peers.mjs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'both' },
    refresh: { type: 'string', default: '4' },
  },
});
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const REFRESH_MS = Number(values.refresh) * 1000;
const MODES = values.mode === 'both' ? ['request', 'connect'] : [values.mode];
if (!MODES.every((m) => m === 'request' || m === 'connect')) {
  console.error(`--mode: expected request, connect or both, found ${JSON.stringify(values.mode)}`);
  process.exit(2);
}
if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
  console.error('bench: wrk is not installed (apt-get install -y wrk)');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'apppkg-idle-'));
const HELLO = 'GET / HTTP/1.1\r\nHost: bench\r\n\r\n';

const rssMiB = (pid) => rssOf(pid) / 1048576;

async function startGateway() {
  const apps = join(work, 'apps');
  mkdirSync(apps, { recursive: true });
  rmSync(join(apps, 'bench'), { force: true });
  symlinkSync(join(ROOT, 'bench', 'app'), join(apps, 'bench'));
  const envFile = join(work, 'environment.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\napps:\n  bench:\n    mount: /\n    workers: 2\n');
  const port = await freePort();
  const child = spawn(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0',
    '--environment', envFile, '--state-dir', join(work, 'state'), '--access-log', 'off', '--header-timeout', '600'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
    url: `http://127.0.0.1:${port}/`,
    port,
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

/** wrk -t1 -c32 in the background (spawn, not spawnSync: the held clients' refreshes run meanwhile). */
function wrk(url) {
  return new Promise((resolve) => {
    const child = spawn('wrk', ['-t1', '-c32', `-d${SECONDS}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', () => {
      const { rps, p50, p99, socketErrors } = parseWrk(out);
      resolve({ rps, p50, p99, errors: socketErrors });
    });
  });
}

/**
 * Opens `count` idle clients, 250 at a time. request: each sends HELLO, reads its response,
 * and sends it again every REFRESH_MS (staggered) so that the keep-alive timeout never closes it.
 */
async function openClients(port, count, mode) {
  const clients = [];
  let closedEarly = 0;
  let answered = 0;
  const timers = new Map();
  const openOne = () =>
    new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let pending = '';
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => {
        if (!socket.closing) closedEarly++;
        resolve(null);
      });
      socket.on('connect', () => {
        clients.push(socket);
        if (mode === 'connect') return resolve(socket);
        socket.write(HELLO);
        socket.on('data', (chunk) => {
          pending += chunk;
          // The hello response ends with its 14-byte body; one response per request sent.
          while (pending.includes('Hello, world!\n')) {
            pending = pending.slice(pending.indexOf('Hello, world!\n') + 14);
            answered++;
            refreshFrom(socket);
            resolve(socket);
          }
        });
      });
    });
  /**
   * From its first answer on, a client asks again within REFRESH_MS of its last request (under
   * the keep-alive timeout, so that it is held, not closed): first after a random part of the
   * period, so the refreshes are a steady rate, not a burst, then every period.
   */
  const refreshFrom = (socket) => {
    if (timers.has(socket)) return;
    const start = setTimeout(() => {
      socket.writable && socket.write(HELLO);
      timers.set(socket, setInterval(() => socket.writable && socket.write(HELLO), REFRESH_MS));
    }, Math.random() * REFRESH_MS);
    timers.set(socket, start);
  };
  for (let i = 0; i < count; i += 250) await Promise.all(Array.from({ length: Math.min(250, count - i) }, openOne));
  return {
    get open() {
      return clients.filter((s) => !s.destroyed).length;
    },
    get closedEarly() {
      return closedEarly;
    },
    get answered() {
      return answered;
    },
    close() {
      for (const t of timers.values()) clearTimeout(t), clearInterval(t);
      for (const s of clients) {
        s.closing = true;
        s.destroy();
      }
    },
  };
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function round(mode) {
  const gw = await startGateway();
  try {
    spawnSync('wrk', ['-t1', '-c32', '-d2s', gw.url]); // warm-up
    await sleep(1000);
    const rssBefore = rssMiB(gw.pid);
    const alone1 = await wrk(gw.url);
    const t0 = performance.now();
    const clients = await openClients(gw.port, CLIENTS, mode);
    const openMs = performance.now() - t0;
    await sleep(1500);
    const rssHeld = rssMiB(gw.pid);
    const held = await wrk(gw.url);
    const stillOpen = clients.open;
    const rssAfterWrk = rssMiB(gw.pid);
    clients.close();
    await sleep(2000);
    const alone2 = await wrk(gw.url);
    const row = {
      mode,
      rssBefore,
      rssHeld,
      rssAfterWrk,
      perThousand: ((rssHeld - rssBefore) / CLIENTS) * 1000,
      openMs,
      stillOpen,
      closedEarly: clients.closedEarly,
      alone1,
      held,
      alone2,
    };
    console.log(
      `  ${mode.padEnd(7)} RSS ${fmt(rssBefore)} -> ${fmt(rssHeld)} MiB with ${CLIENTS} held (${fmt(row.perThousand, 2)} MiB per 1,000; opened in ${fmt(openMs, 0)} ms; ${stillOpen} still open after wrk, ${clients.closedEarly} closed early) | ` +
        `p99 alone ${fmt(alone1.p99, 2)} / held ${fmt(held.p99, 2)} / alone ${fmt(alone2.p99, 2)} ms | req/s ${fmt(alone1.rps, 0)} / ${fmt(held.rps, 0)} / ${fmt(alone2.rps, 0)}`,
    );
    return row;
  } finally {
    await gw.stop();
  }
}

async function main() {
  console.log(`idle clients: ${CLIENTS} per round, ${ROUNDS} rounds, wrk -t1 -c32 -d${SECONDS}s on hello (gateway: 2 workers)`);
  const rows = [];
  for (let r = 1; r <= ROUNDS; r++) {
    console.log(`round ${r} of ${ROUNDS}`);
    for (const mode of MODES) rows.push(await round(mode));
  }
  console.log('\n| idle clients | RSS before MiB | RSS with them MiB | MiB per 1,000 | p99 alone ms | p99 while held ms | req/s alone | req/s while held |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const mode of MODES) {
    const rs = rows.filter((r) => r.mode === mode);
    const alone = rs.flatMap((r) => [r.alone1, r.alone2]);
    const label = mode === 'request' ? `${CLIENTS} after one request each (refresh ${REFRESH_MS / 1000} s)` : `${CLIENTS} connected, silent`;
    console.log(
      `| ${label} | ${fmt(median(rs.map((r) => r.rssBefore)))} | ${fmt(median(rs.map((r) => r.rssHeld)))} | ${fmt(median(rs.map((r) => r.perThousand)), 2)} | ` +
        `${fmt(median(alone.map((w) => w.p99)), 2)} | ${fmt(median(rs.map((r) => r.held.p99)), 2)} | ${fmt(median(alone.map((w) => w.rps)), 0)} | ${fmt(median(rs.map((r) => r.held.rps)), 0)} |`,
    );
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
