#!/usr/bin/env node
// Issue 11's "gateway start to first served request <= gunicorn's", alone: the cold start as
// `npm run bench` measures it (bench/run.mjs: spawn of the command to the first 200 of GET /, the
// bench app, 2 workers, a state root kept from the run before so the interpreters' answers are
// cached), for one or two builds of the gateway and gunicorn -w 2 direct (Debian's
// /usr/bin/gunicorn, the same app), taken in turns so that the machine's drift touches all alike.
//
//   node bench/cold-start.mjs [CHECKOUT_A [CHECKOUT_B]] [--starts 12] [--threads N]
//
// Each checkout must be built (`npm run build`); the first defaults to this one. Each round
// starts every peer once, in an order that rotates every round (the one started first after a
// stop came out faster). Before the rounds each gateway is started once unmeasured, which makes
// its state root and its probe cache, as the bench's first round does for its later ones. The
// client asks every 5 ms (the bench every 20 ms). Prints every start, then the medians, the
// quartiles and each gateway's ratio to gunicorn's median of the same run; with two checkouts, B
// against A paired by round as well (the median of the per-round ratios).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { APP_DIR, ROOT, SYSTEM_PYTHON, freePort, hasCommand, sleep, startProcess, stopAllProcesses, stopProcess } from './peers.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { starts: { type: 'string', default: '12' }, threads: { type: 'string' } },
});
const STARTS = Number(values.starts);
const checkouts = (positionals.length ? positionals : [ROOT]).map((p) => resolve(p));
if (checkouts.length > 2) throw new Error('at most two checkouts');
if (!hasCommand('gunicorn')) {
  console.log('cold-start: gunicorn is not installed (apt-get install -y gunicorn)');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'apppkg-cold-'));
const apps = join(work, 'apps');
mkdirSync(apps);
symlinkSync(APP_DIR, join(apps, 'bench'));
const envFile = join(work, 'environment.yaml');
writeFileSync(envFile, `python: ${SYSTEM_PYTHON}\napps:\n  bench:\n    mount: /\n    workers: 2\n${values.threads ? `    threads: ${values.threads}\n` : ''}`);

/** Polls GET / every 5 ms until 200; the ms from `t0`, or throws past 30 s or at the child's exit. */
async function firstOk(port, child, t0) {
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - t0;
    } catch {}
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${child.output().slice(-1000)}`);
    if (performance.now() - t0 > 30_000) throw new Error(`no 200 within 30 s: ${child.output().slice(-1000)}`);
    await sleep(5);
  }
}

const peers = [
  ...checkouts.map((dir, i) => ({
    name: checkouts.length === 1 ? 'gateway' : `gateway ${'AB'[i]}`,
    dir,
    start: (port) => startProcess(join(dir, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
      '--admin', '127.0.0.1:0', '--environment', envFile, '--state-dir', join(work, `state-${i}`), '--access-log', 'off']),
  })),
  { name: 'gunicorn -w 2', start: (port) => startProcess('gunicorn', ['-w', '2', '-b', `127.0.0.1:${port}`, '--chdir', APP_DIR, 'bench_app:application']) },
];

async function once(peer) {
  const port = await freePort();
  const t0 = performance.now();
  const child = peer.start(port);
  try {
    return await firstOk(port, child, t0);
  } finally {
    await stopProcess(child);
  }
}

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  const i = (s.length - 1) * (p / 100);
  return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
}

async function main() {
  for (const peer of peers.filter((p) => p.dir)) await once(peer); // the state root and its probe cache
  const times = peers.map(() => []);
  for (let round = 0; round < STARTS; round++) {
    for (let k = 0; k < peers.length; k++) {
      const i = (k + round) % peers.length;
      times[i].push(await once(peers[i]));
      await sleep(200);
    }
    console.log(`start ${round + 1}: ${peers.map((p, i) => `${p.name} ${times[i][round].toFixed(0)} ms`).join(', ')}`);
  }
  const gunicorn = pct(times.at(-1), 50);
  console.log(`\nmedians of ${STARTS} starts each (quartiles), ${process.env.HOSTNAME ?? ''} load ${(await import('node:os')).loadavg()[0].toFixed(1)}:`);
  peers.forEach((p, i) => {
    const m = pct(times[i], 50);
    const ratio = p.dir ? `, ${(m / gunicorn).toFixed(2)}x gunicorn -w 2` : '';
    console.log(`  ${p.name.padEnd(14)} ${m.toFixed(0)} ms (${pct(times[i], 25).toFixed(0)}-${pct(times[i], 75).toFixed(0)})${ratio}`);
  });
  if (checkouts.length === 2) {
    const paired = times[1].map((b, r) => b / times[0][r]);
    console.log(`  B / A, paired by start: median ${pct(paired, 50).toFixed(3)}x (quartiles ${pct(paired, 25).toFixed(3)}-${pct(paired, 75).toFixed(3)})`);
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  });
