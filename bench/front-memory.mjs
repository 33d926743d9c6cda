#!/usr/bin/env node
// The front's RSS after start, mapping by mapping, against an empty node:http server's (issue 11:
// "the Node process idle <= 50 MiB"; docs/performance.md, "The front's RSS after start, by
// mapping"). `npm run bench` reads one figure, VmRSS, 0.5 s after the bench app's first 200; this
// starts the gateway the same way (bench/run.mjs, bench/peers.mjs: --apps, the bench app, 2
// workers, access log off) and reads /proc/PID/smaps at the same moment, then does the same for a
// `node -e` server of node:http that has answered one request: what Node costs before any of
// our code. Run it after `npm run build`.
//
//   node bench/front-memory.mjs [CHECKOUT] [--runs N]
//
// CHECKOUT: the built checkout whose bin/apppkg-gateway to start (this one by default), so a
// build from before can be read by the same script. Medians of N starts (3 by default), in MiB.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { APP_DIR, ROOT, SYSTEM_PYTHON, freePort, sleep, startProcess, stopAllProcesses, stopProcess } from './peers.mjs';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string', default: '3' } } });
const checkout = resolve(positionals[0] ?? ROOT);
const RUNS = Number(values.runs);
/** As bench/run.mjs: the reading comes this long after the first 200. */
const SETTLE_MS = 500;

const ROWS = [
  ['VmRSS', (m) => m.total],
  ['/usr/bin/node, r-xp (its code)', (m) => m.nodeCode],
  ['/usr/bin/node, other (built-in modules, data)', (m) => m.nodeOther],
  ['shared libraries', (m) => m.libs],
  ["glibc's main heap ([heap])", (m) => m.heap],
  ["glibc's thread arenas", (m) => m.arenas],
  ["other anonymous (V8's heap, stacks)", (m) => m.anonOther],
  ['other file-backed', (m) => m.fileOther],
];

/** RSS of `pid` in KiB by kind of mapping; arenas as bench/idle-cycles.mjs tells them apart. */
function byMapping(pid) {
  const maps = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], name: head[4], rss: 0 });
    else if (line.startsWith('Rss:')) maps.at(-1).rss = Number(/(\d+)/.exec(line)[1]);
  }
  // A thread arena is a 64 MiB-aligned reservation, its used part rw-p, the rest ---p.
  const ARENA = 64n << 20n;
  const m = { total: 0, nodeCode: 0, nodeOther: 0, libs: 0, heap: 0, arenas: 0, anonOther: 0, fileOther: 0 };
  maps.forEach((map, i) => {
    m.total += map.rss;
    if (map.name === process.execPath || map.name === '/usr/bin/node') m[map.perms === 'r-xp' ? 'nodeCode' : 'nodeOther'] += map.rss;
    else if (/\.so(\.[0-9.]+)?$/.test(map.name)) m.libs += map.rss;
    else if (map.name === '[heap]') m.heap += map.rss;
    else if (map.name.startsWith('/')) m.fileOther += map.rss;
    else if (map.name === '' && map.start % ARENA === 0n && (map.end - map.start === ARENA || (maps[i + 1]?.start === map.end && maps[i + 1].perms === '---p' && maps[i + 1].end - map.start === ARENA))) m.arenas += map.rss;
    else m.anonOther += map.rss;
  });
  return m;
}

/** GET / until a 200, for at most `ms`. */
async function firstOk(port, child, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`it exited (${child.exitCode}): ${child.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    await sleep(20);
  }
  throw new Error(`no 200 within ${ms} ms: ${child.output()}`);
}

async function readAfterStart(start) {
  const port = await freePort();
  const child = start(port);
  try {
    await firstOk(port, child);
    await sleep(SETTLE_MS);
    return byMapping(child.pid);
  } finally {
    await stopProcess(child);
  }
}

const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-memory-'));
try {
  const apps = join(work, 'apps');
  mkdirSync(apps);
  if (!existsSync(join(apps, 'bench'))) symlinkSync(APP_DIR, join(apps, 'bench'));
  const envFile = join(work, 'environment.yaml');
  writeFileSync(envFile, `python: ${SYSTEM_PYTHON}\napps:\n  bench:\n    mount: /\n    workers: 2\n`);
  const gateway = (port) => startProcess(join(checkout, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
    '--admin', '127.0.0.1:0', '--environment', envFile, '--state-dir', join(work, 'state'), '--access-log', 'off']);
  const empty = (port) => startProcess(process.execPath, ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`]);
  const readings = { gateway: [], empty: [] };
  for (let i = 0; i < RUNS; i++) {
    // Alternated, so that a drift of the machine reaches both alike.
    readings.gateway.push(await readAfterStart(gateway));
    readings.empty.push(await readAfterStart(empty));
    console.log(`run ${i + 1}: gateway ${(readings.gateway.at(-1).total / 1024).toFixed(1)} MiB, empty node:http ${(readings.empty.at(-1).total / 1024).toFixed(1)} MiB`);
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const mib = (kib) => (kib / 1024).toFixed(1);
  console.log(`\n${checkout}, ${RUNS} starts each, medians, ${SETTLE_MS} ms after the first 200\n`);
  console.log('| MiB | empty node:http | gateway | difference |');
  console.log('| --- | --- | --- | --- |');
  for (const [label, get] of ROWS) {
    const e = median(readings.empty.map(get));
    const g = median(readings.gateway.map(get));
    console.log(`| ${label} | ${mib(e)} | ${mib(g)} | ${g >= e ? '+' : ''}${mib(g - e)} |`);
  }
} finally {
  await stopAllProcesses();
  rmSync(work, { recursive: true, force: true });
}
