// A process's CPU time and resident memory, read from /proc for status's CPU and RSS columns.
// Each file is opened, read and closed at once: pidusage, used before, kept every sampled pid's
// /proc/PID/stat open for a minute after, 257 descriptors after a wave of wakes under --apps,
// which a tight open-files limit turned into refused starts.
import { readProcFile } from './proc-file.js';
import { fieldsAfterName, USER_HZ } from './proc-stat.js';

export interface ProcUsage {
  /** CPU time the process has used (user + system), ms. */
  cpuMs: number;
  /** Resident memory, bytes (VmRSS; 0 for a zombie, which has none). */
  rssBytes: number;
  /** When it was read (performance.now(): a CPU rate's interval, which a step of the wall clock must not stretch). */
  at: number;
}

/** `pid`'s usage; null once it is gone, and where there is no /proc. */
export async function procUsage(pid: number): Promise<ProcUsage | null> {
  // status says its RSS in kB: stat's is in pages, whose size Node does not tell.
  const [stat, status] = await Promise.all([readProcFile(`/proc/${pid}/stat`), readProcFile(`/proc/${pid}/status`)]);
  if (stat === null || status === null) return null;
  const at = performance.now();
  const fields = fieldsAfterName(stat);
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!Number.isFinite(ticks)) return null;
  return { cpuMs: (ticks * 1000) / USER_HZ, rssBytes: rssKb === undefined ? 0 : Number(rssKb) * 1024, at };
}
