// CPU and RSS of the apps' processes for status, from pidusage: it reads /proc/PID/stat on
// Linux (ps on macOS). The CPU percentage is "over the last interval": the CPU time between
// two readings of a pid, kept here. pidusage's own figure is 0 for a pid it has not read in
// the last minute (its first call reads twice at once), so a lone `status` showed a spinning
// worker at 0%. Samples are taken only when someone asks (the admin's /status, the page's
// events), at most once per MIN_INTERVAL_MS, so a gateway nobody watches reads nothing;
// pidusage itself is loaded at the first sample.
import type { AppStatus, GatewayStatus } from './status-types.js';

/** Samples closer together than this are answered from the last one. */
const MIN_INTERVAL_MS = 2000;
/** A reading older than this says too little about now: the pid is read twice, this apart. */
const STALE_MS = 10_000;
const FIRST_INTERVAL_MS = 250;

interface Sample {
  cpuPercent: number;
  rssBytes: number;
}

/** `ctime`: the CPU time the process has used, ms; `timestamp`: when it was read, ms. */
type Pidusage = (pid: number) => Promise<{ memory: number; ctime: number; timestamp: number }>;

export class ProcessSampler {
  private samples = new Map<number, Sample>();
  private cpuTimes = new Map<number, { ctime: number; at: number }>();
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
    // One pid at a time through allSettled: a process that just exited must not void the rest.
    const read = (list: number[]) => Promise.allSettled(list.map((pid) => pidusage(pid)));
    const now = Date.now();
    const stale = pids.filter((pid) => now - (this.cpuTimes.get(pid)?.at ?? 0) > STALE_MS);
    if (stale.length > 0) {
      (await read(stale)).forEach((reading, i) => {
        if (reading.status === 'fulfilled') this.cpuTimes.set(stale[i], { ctime: reading.value.ctime, at: reading.value.timestamp });
      });
      await new Promise((resolve) => setTimeout(resolve, FIRST_INTERVAL_MS));
    }
    const next = new Map<number, Sample>();
    const times = new Map<number, { ctime: number; at: number }>();
    (await read(pids)).forEach((reading, i) => {
      if (reading.status !== 'fulfilled') return;
      const { ctime, timestamp, memory } = reading.value;
      const before = this.cpuTimes.get(pids[i]);
      const cpu = before !== undefined && timestamp > before.at ? ((ctime - before.ctime) / (timestamp - before.at)) * 100 : 0;
      next.set(pids[i], { cpuPercent: Math.round(Math.max(0, cpu) * 10) / 10, rssBytes: memory });
      times.set(pids[i], { ctime, at: timestamp });
    });
    this.samples = next;
    this.cpuTimes = times;
  }
}
