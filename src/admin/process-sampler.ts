// CPU and RSS of the apps' processes for status, read from /proc (proc-usage.ts). The CPU
// percentage is "over the last interval": the CPU time between two readings of a pid, kept
// here; a pid with no recent reading is read twice, FIRST_INTERVAL_MS apart, so a lone `status`
// shows a spinning worker busy. Samples are taken only when someone asks (the admin's /status,
// the page's events), at most once per MIN_INTERVAL_MS, so a gateway nobody watches reads nothing.
import { procUsage } from '../proc-usage.js';
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

export class ProcessSampler {
  private samples = new Map<number, Sample>();
  private cpuTimes = new Map<number, { ctime: number; at: number }>();
  /**
   * performance.now(): after a step back of the wall clock, the last sample looked an hour
   * ahead, and status showed it for that hour (a worker started since, no CPU or memory at all).
   */
  private sampledAt = -Infinity;
  private sampling: Promise<void> | null = null;

  /** Reads every pid of `status` (unless the last reading is recent); resolves when done. */
  refresh(pids: number[]): Promise<void> {
    if (performance.now() - this.sampledAt < MIN_INTERVAL_MS) return Promise.resolve();
    this.sampling ??= this.sample(pids).finally(() => {
      this.sampledAt = performance.now();
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
    // A process that just exited reads as null and is left out; the rest stand.
    const read = (list: number[]) => Promise.all(list.map((pid) => procUsage(pid)));
    const now = performance.now();
    const stale = pids.filter((pid) => now - (this.cpuTimes.get(pid)?.at ?? -Infinity) > STALE_MS);
    if (stale.length > 0) {
      (await read(stale)).forEach((usage, i) => {
        if (usage !== null) this.cpuTimes.set(stale[i], { ctime: usage.cpuMs, at: usage.at });
      });
      await new Promise((resolve) => setTimeout(resolve, FIRST_INTERVAL_MS));
    }
    const next = new Map<number, Sample>();
    const times = new Map<number, { ctime: number; at: number }>();
    (await read(pids)).forEach((usage, i) => {
      if (usage === null) return;
      const before = this.cpuTimes.get(pids[i]);
      const cpu = before !== undefined && usage.at > before.at ? ((usage.cpuMs - before.ctime) / (usage.at - before.at)) * 100 : 0;
      next.set(pids[i], { cpuPercent: Math.round(Math.max(0, cpu) * 10) / 10, rssBytes: usage.rssBytes });
      times.set(pids[i], { ctime: usage.cpuMs, at: usage.at });
    });
    this.samples = next;
    this.cpuTimes = times;
  }
}
