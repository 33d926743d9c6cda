// A peer's CPU over one wrk run, by process: what each of its processes (the front, the app
// workers, a master) used between two readings of /proc/PID/stat, the CPU per request in all,
// and each worker's share of the workers' CPU. The share says which shape a run had: under
// `wrk -t1 -c32` uvicorn's two workers share one listening socket, and in some runs all 32
// connections went to one of them (docs/performance.md, H344): uvicorn was then one busy process
// beside wrk, not two, and its req/s and p99 are those of another shape than a run where both
// served. CPU per request holds still when req/s does not, so it is the figure two peers'
// rounds compare by (docs/performance.md, "How to measure").
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { descendants } from './peers.mjs';

export const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** Past this share of the workers' CPU, one worker served the run: the others stood by. */
export const ONE_WORKER_SHARE = 0.9;

/** utime + stime of a process (all its threads), in clock ticks; NaN once it is gone. */
export function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command's closing parenthesis (a command may hold spaces and parentheses):
    // state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/** The roots and every process below them, each once. */
function tree(roots) {
  return [...new Set(roots.flatMap((pid) => [pid, ...descendants(pid)]))];
}

/**
 * The first reading: every process of the trees under `roots` (the peer's own processes, never
 * its clients), and which of them are its app workers (`workerPids()`, a Set read now and again
 * at the second reading, as the peer tells them apart: the gateway's front or a master is not one).
 */
export function cpuBefore(roots, workerPids) {
  const pids = tree(roots);
  const workers = workerPids();
  return { roots, workerPids, ticks: new Map(pids.map((pid) => [pid, cpuTicks(pid)])), workers: pids.filter((pid) => workers.has(pid)) };
}

/**
 * The second reading, `requests` made in between: CPU µs per request in all and of the workers,
 * each worker's share of the workers' CPU (in the order of their pids), and whether one worker
 * did more than ONE_WORKER_SHARE of it. A process started in between counts from its start (all
 * its CPU is the run's); one gone in between is lost, and `changed` says the run lost or gained
 * processes.
 */
export function cpuAfter(before, requests) {
  const pids = tree(before.roots);
  let changed = false;
  const used = new Map();
  for (const [pid, then] of before.ticks) {
    const now = cpuTicks(pid);
    if (Number.isNaN(now) || Number.isNaN(then)) changed = true;
    else used.set(pid, now - then);
  }
  const workers = [...before.workers];
  const started = pids.filter((p) => !before.ticks.has(p));
  const workersNow = started.length ? before.workerPids() : new Set();
  for (const pid of started) {
    const now = cpuTicks(pid);
    if (Number.isNaN(now)) continue;
    changed = true;
    used.set(pid, now);
    if (workersNow.has(pid)) workers.push(pid);
  }
  const perRequest = (ticks) => (requests > 0 ? ((ticks / TICKS_PER_SECOND) * 1e6) / requests : NaN);
  const all = [...used.values()].reduce((a, t) => a + t, 0);
  const byWorker = workers.filter((pid) => used.has(pid)).sort((a, b) => a - b).map((pid) => used.get(pid));
  const workersTotal = byWorker.reduce((a, t) => a + t, 0);
  const shares = byWorker.length > 1 && workersTotal > 0 ? byWorker.map((t) => t / workersTotal) : [];
  return {
    usPerRequest: perRequest(all),
    workersUsPerRequest: perRequest(workersTotal),
    // Everything not a worker: the gateway's front, nginx in front of gunicorn, a master.
    othersUsPerRequest: perRequest(all - workersTotal),
    processes: used.size,
    workerShares: shares,
    oneWorkerServed: shares.some((s) => s > ONE_WORKER_SHARE),
    changed,
  };
}

/** Each worker's share, busiest first ("98%/2%"), or '' for a peer without several workers. */
export function formatShares(cpu) {
  if (!cpu?.workerShares?.length) return '';
  return [...cpu.workerShares].sort((a, b) => b - a).map((s) => `${Math.round(s * 100)}%`).join('/');
}
