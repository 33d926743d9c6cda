// What a gateway's stop waits for once the requests in flight are done: the workers' own
// shutdown (an ASGI lifespan `shutdown`, work after a response), the workers stopped while they
// still started (a restarted or woken one in its import or ASGI lifespan startup: never served,
// they run no shutdown, and one still there took SIGTERM for itself), and the `processes:`
// commands that have not exited on their SIGTERM (a server that ignores it, or takes its time). It is said
// every few seconds, as the front says the requests it waits for, so that a stop held to the end
// of --grace by one app names that app, where the log said nothing between "SIGTERM: stopping"
// and "stopped".
import type { AppStatus, WorkerStatus } from '../admin/status-types.js';
import { countOf } from '../count.js';

/** What is read of an app: its name, its workers and its processes (the registry's status has them). */
type AppWorkers = Pick<AppStatus, 'name' | 'workers' | 'versions' | 'processes'>;

const REPORT_MS = 5000;

/**
 * Says every REPORT_MS which workers of `apps()` are still stopping; `graceEndsAt`
 * (performance.now()) is when those still running are stopped for good, at the end of what the
 * caller calls `grace` (the CLI's --grace, the library's graceMs). Returns the end of it.
 */
export function reportStoppingWorkers(apps: () => AppWorkers[], say: (line: string) => void, graceEndsAt: number, grace = '--grace'): () => void {
  const timer = setInterval(() => {
    const now = apps();
    const stopping = stoppingWorkers(now, Date.now());
    const processes = stoppingProcesses(now);
    const left = Math.max(0, Math.round((graceEndsAt - performance.now()) / 1000));
    const which = (workers: Stopping[]): string => workers.map((w) => `${w.app} (worker ${w.pid}${w.seconds === null ? '' : `, ${w.seconds} s`})`).join(', ');
    const shuttingDown = stopping.filter((w) => w.starting === null);
    if (shuttingDown.length > 0) {
      const end = left > 0 ? `at the end of ${grace}, in ${left} s, what still runs is cancelled, and killed 5 s later` : `${grace} is over: what still runs is cancelled, and killed 5 s later`;
      say(`stopping: waiting for ${countOf(shuttingDown.length, 'worker')} to end ${shuttingDown.length === 1 ? 'its' : 'their'} own shutdown (an ASGI lifespan shutdown, work after a response): ${which(shuttingDown)}; ${end}`);
    }
    for (const step of ['import', 'lifespan'] as const) {
      const starting = stopping.filter((w) => w.starting === step);
      if (starting.length === 0) continue;
      const one = starting.length === 1;
      // Python's default ends a worker at its SIGTERM: one still there is an app's own handler's doing.
      const what = step === 'import'
        ? `stopped during ${one ? 'its' : 'their'} import, which ${one ? 'goes' : 'go'} on past ${one ? 'its' : 'their'} SIGTERM (the app took the signal for itself)`
        : `stopped during ${one ? 'its' : 'their'} ASGI lifespan startup, which ${one ? 'goes' : 'go'} on past ${one ? 'its' : 'their'} SIGTERM (the app took the signal for itself; a startup that never completed runs no lifespan shutdown)`;
      // An ASGI worker's kill comes CANCEL_BOUND_MS after the grace (worker.ts), a WSGI one's at its end.
      const kill = step === 'lifespan' ? 'killed 5 s later' : 'killed (an ASGI worker 5 s later)';
      const them = one ? 'it is' : 'they are';
      const end = left > 0 ? `at the end of ${grace}, in ${left} s, ${them} ${kill}` : `${grace} is over: ${them} ${kill}`;
      say(`stopping: waiting for ${countOf(starting.length, 'worker')} ${what}: ${which(starting)}; ${end}`);
    }
    if (processes.length > 0) {
      const which = processes.map((p) => `${p.app} (${p.name}, pid ${p.pid})`).join(', ');
      const them = processes.length === 1 ? 'it is' : 'they are';
      const end = left > 0 ? `at the end of ${grace}, in ${left} s, ${them} killed with what ${processes.length === 1 ? 'it' : 'they'} started` : `${grace} is over: ${them} killed with what ${processes.length === 1 ? 'it' : 'they'} started`;
      say(`stopping: waiting for ${countOf(processes.length, 'process', 'processes')} to exit after ${processes.length === 1 ? 'its' : 'their'} SIGTERM: ${which}; ${end}`);
    }
  }, REPORT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

interface Stopping {
  app: string;
  pid: number;
  /** How long it has been stopping, when known. */
  seconds: number | null;
  /** The step of its start its stop came in (WorkerStatus.stoppedStarting), or null: it runs its own shutdown. */
  starting: 'import' | 'lifespan' | null;
}

/** The workers with a process that are stopping, each once (an app's and its versions' lists overlap). */
export function stoppingWorkers(apps: AppWorkers[], now: number): Stopping[] {
  const seen = new Set<number>();
  const out: Stopping[] = [];
  for (const app of apps) {
    const rows: WorkerStatus[] = [...app.workers, ...app.versions.flatMap((v) => v.workers)];
    for (const w of rows) {
      if (w.pid === null || (w.state !== 'stopping' && w.state !== 'draining') || seen.has(w.pid)) continue;
      seen.add(w.pid);
      const since = w.stoppingSince === null ? Number.NaN : Date.parse(w.stoppingSince);
      out.push({ app: app.name, pid: w.pid, seconds: Number.isNaN(since) ? null : Math.max(0, Math.round((now - since) / 1000)), starting: w.stoppedStarting ?? null });
    }
  }
  return out;
}

/** The `processes:` commands told to stop (a draining version's too) that still run, each once. */
export function stoppingProcesses(apps: AppWorkers[]): Array<{ app: string; name: string; pid: number }> {
  const seen = new Set<number>();
  const out: Array<{ app: string; name: string; pid: number }> = [];
  for (const app of apps) {
    for (const p of app.processes) {
      if (p.pid === null || (p.state !== 'stopping' && p.state !== 'draining') || seen.has(p.pid)) continue;
      seen.add(p.pid);
      out.push({ app: app.name, name: p.name, pid: p.pid });
    }
  }
  return out;
}
