#!/usr/bin/env node
// `npm run bench:apps` (issue 17): many apps on one machine. BENCH_APPS hello apps (default 100)
// under one --apps, each with one worker:
// - with idle_timeout (1 s): the gateway's RSS and process count once all are idle; the cold
//   first request of each (median and p95 over BENCH_COLD cold starts); a warm app's p99 under
//   load alone, and while 10 others cold-start beside it;
// - without: the same figures with all warm;
// - gunicorn -w 1's cold start to its first 200, measured in the same run, as the reference
//   (target: a cold hello <= gunicorn's cold start + 100 ms).
// Prints a Markdown table (the README's) and writes bench/results/apps.md.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { APP_DIR, ROOT, cmdline, descendants, freePort, hasCommand, rssOf, sleep, startProcess, stopAllProcesses, stopProcess } from './peers.mjs';

const APPS = Number(process.env.BENCH_APPS ?? 100);
const COLD = Math.min(APPS - 11, Number(process.env.BENCH_COLD ?? 100));
const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-apps-'));
const agent = new Agent({ connections: 64 });

const names = Array.from({ length: APPS }, (_, i) => `app${String(i).padStart(3, '0')}`);

function writeApps(dir) {
  for (const name of names) {
    mkdirSync(join(dir, name), { recursive: true });
    cpSync(join(APP_DIR, 'bench_app.py'), join(dir, name, 'bench_app.py'));
    writeFileSync(join(dir, name, 'app.yaml'), 'platform: python, wsgi\napp: bench_app:application\n');
  }
}

async function get(url) {
  const t0 = performance.now();
  const res = await request(url, { dispatcher: agent, headersTimeout: 120_000 });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  return performance.now() - t0;
}

async function status(admin) {
  return (await request(`${admin}/status`, { dispatcher: agent })).body.json();
}

async function until(what, fn, ms, describe = null) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${describe ? `: ${await describe()}` : ''}`);
    await sleep(200);
  }
}

/** RSS of the gateway and of everything under it, and how many processes there are. */
function footprint(gateway) {
  const below = descendants(gateway.pid).filter((p) => /python|apppkg/.test(cmdline(p)));
  const front = descendants(gateway.pid).find((p) => /node/.test(cmdline(p))) ?? gateway.pid;
  const workers = below.filter((p) => /python/.test(cmdline(p)));
  return {
    frontMiB: rssOf(front) / 1048576,
    totalMiB: [front, ...workers].reduce((sum, p) => sum + rssOf(p), 0) / 1048576,
    processes: 1 + workers.length,
  };
}

async function startGateway(env) {
  const apps = join(work, `apps-${Math.random().toString(36).slice(2)}`);
  writeApps(apps);
  const envFile = join(work, 'environment.yaml');
  writeFileSync(envFile, env);
  const port = await freePort();
  const adminPort = await freePort();
  const t0 = performance.now();
  const child = startProcess(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`,
    '--state-dir', join(work, `state-${port}`), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  const url = `http://127.0.0.1:${port}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  await until('the gateway to judge every app', async () => {
    try {
      const s = await status(admin);
      return s.apps.length === APPS && s.apps.every((a) => ['ready', 'idle'].includes(a.state));
    } catch {
      return false;
    }
  }, 600_000);
  return { child, url, admin, startMs: performance.now() - t0 };
}

/** Closed-loop load on one URL for `ms`: the latencies. */
async function load(url, ms, concurrency = 8) {
  const latencies = [];
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) latencies.push(await get(url));
  }));
  return latencies;
}

const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
};
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function gunicornColdStart() {
  if (!hasCommand('gunicorn')) return NaN;
  const times = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    const t0 = performance.now();
    const child = startProcess('gunicorn', ['-w', '1', '-b', `127.0.0.1:${port}`, '--chdir', APP_DIR, 'bench_app:application']);
    await until('gunicorn', async () => {
      try {
        await get(`http://127.0.0.1:${port}/`);
        return true;
      } catch {
        return false;
      }
    }, 30_000);
    times.push(performance.now() - t0);
    await stopProcess(child);
  }
  return pct(times, 50);
}

async function main() {
  const rows = [];
  console.log(`${APPS} apps, one worker each; gunicorn -w 1 cold start first`);
  const gunicorn = await gunicornColdStart();

  // All idle, then cold starts.
  const idle = await startGateway('python: /usr/bin/python3\ndefaults:\n  workers: 1\n  idle_timeout: 1\n');
  const states = async () => JSON.stringify((await status(idle.admin)).apps.filter((a) => a.state !== 'idle').map((a) => [a.name, a.state, a.idle]));
  await until('every app to go idle', async () => (await status(idle.admin)).apps.every((a) => a.state === 'idle'), 120_000, states);
  const allIdle = footprint(idle.child);
  const warmApp = `${idle.url}/${names[0]}/`;
  const baseline = await load(warmApp, 3000);
  const cold = [];
  for (const name of names.slice(11, 11 + COLD)) cold.push(await get(`${idle.url}/${name}/`));
  await get(warmApp);
  // The warm app under load while ten others cold-start beside it.
  const [beside] = await Promise.all([load(warmApp, 3000), (async () => {
    await sleep(300);
    await Promise.all(names.slice(1, 11).map((name) => get(`${idle.url}/${name}/`)));
  })()]);
  await stopProcess(idle.child);

  // All warm.
  const warm = await startGateway('python: /usr/bin/python3\ndefaults:\n  workers: 1\n');
  const allWarm = footprint(warm.child);
  await stopProcess(warm.child);

  rows.push(['gateway start, every app judged', `${fmt(idle.startMs / 1000, 1)} s`, `${fmt(warm.startMs / 1000, 1)} s (all warm)`]);
  rows.push(['RSS, all idle (gateway alone)', `${fmt(allIdle.totalMiB, 1)} MiB in ${allIdle.processes} process(es)`, `front ${fmt(allIdle.frontMiB, 1)} MiB`]);
  rows.push(['RSS, all warm at 1 worker', `${fmt(allWarm.totalMiB, 1)} MiB in ${allWarm.processes} processes`, `front ${fmt(allWarm.frontMiB, 1)} MiB`]);
  rows.push([`cold first request (${cold.length} cold starts)`, `median ${fmt(pct(cold, 50))} ms, p95 ${fmt(pct(cold, 95))} ms`, `gunicorn -w 1 to its first 200: ${fmt(gunicorn)} ms; target <= ${fmt(gunicorn + 100)} ms: ${pct(cold, 50) <= gunicorn + 100 ? 'met' : '**NOT MET**'}`]);
  rows.push(['warm app p99, alone / with 10 cold starts beside', `${fmt(pct(baseline, 99), 2)} / ${fmt(pct(beside, 99), 2)} ms`, `${fmt(pct(beside, 99) / pct(baseline, 99), 2)}x`]);

  const text = [`# Many apps: ${new Date().toISOString()}, ${APPS} apps, one worker each`, '', '| figure | measured | against |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  console.log(`\n${text}\n`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'apps.md'), `${text}\n`);
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
