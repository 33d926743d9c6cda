// CPU and RSS of the apps' processes for status, from pidusage: it reads /proc/PID/stat and
// keeps the previous reading per pid, which is what a CPU percentage "over the last interval"
// needs, on Linux and elsewhere (ps on macOS). Samples are taken only when someone asks (the
// admin's /status, the page's events), at most once per MIN_INTERVAL_MS, so a gateway nobody
// watches reads nothing; pidusage itself is loaded at the first sample.
import type { AppStatus, GatewayStatus } from './status-types.js';

/** Samples closer together than this are answered from the last one. */
const MIN_INTERVAL_MS = 2000;

interface Sample {
  cpuPercent: number;
  rssBytes: number;
}

type Pidusage = (pid: number) => Promise<{ cpu: number; memory: number }>;

export class ProcessSampler {
  private samples = new Map<number, Sample>();
  private sampledAt = 0;
  private sampling: Promise<void> | null = null;
  private pidusage: Promise<Pidusage> | null = null;

  /** Reads every pid of `status` (unless the last reading is recent); resolves when done. */
  refresh(pids: number[]): Promise<void> {
    if (Date.now() - this.sampledAt < MIN_INTERVAL_MS) return Promise.resolve();
    this.sampling ??= this.sample(pids).finally(() => {
      this.sampledAt = Date.now();
      this.sampling = null;
    });
    return this.sampling;
  }

  /** `status` with the last readings in its workers and processes (null where there are none). */
  fill(status: GatewayStatus): GatewayStatus {
    for (const app of status.apps) this.fillApp(app);
    return status;
  }

  private fillApp(app: AppStatus): void {
    const workers = [...app.workers, ...app.versions.flatMap((v) => v.workers)];
    for (const member of [...workers, ...app.processes]) {
      const sample = member.pid === null ? undefined : this.samples.get(member.pid);
      member.rssBytes = sample?.rssBytes ?? null;
      member.cpuPercent = sample?.cpuPercent ?? null;
    }
  }

  private async sample(pids: number[]): Promise<void> {
    const pidusage = await (this.pidusage ??= import('pidusage').then((m) => m.default as unknown as Pidusage));
    const next = new Map<number, Sample>();
    // One pid at a time through allSettled: a process that just exited must not void the rest.
    const readings = await Promise.allSettled(pids.map((pid) => pidusage(pid)));
    readings.forEach((reading, i) => {
      if (reading.status === 'fulfilled') next.set(pids[i], { cpuPercent: Math.round(reading.value.cpu * 10) / 10, rssBytes: reading.value.memory });
    });
    this.samples = next;
  }
}
