// One process's line of /proc/PID/stat, as Linux gives it. Its second field, the command name,
// is in parentheses and may hold spaces and ')' of its own: the fields are counted after the
// last ')'. And now in the unit of its start time, to tell what started after a moment.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** Field 3: R, S, D, Z (a zombie), X (dead), ... */
  state: string;
  ppid: number;
  pgid: number;
  /** Field 22, in clock ticks since boot: a pid reused later has another. */
  startTime: string;
}

/** A stat line's fields after the command name, field 3 first (the name may hold spaces and ')'). */
export function fieldsAfterName(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `pid`'s stat; null once it is gone, and where there is no /proc. */
export function procStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const fields = fieldsAfterName(stat);
  return { state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: fields[19] };
}

/**
 * Now, in the unit of a process's startTime: clock ticks since boot (USER_HZ, 100 on Linux's
 * every architecture Node runs on), from /proc/uptime (to 1/100 s); null where there is no /proc.
 */
export function ticksSinceBoot(): number | null {
  try {
    const seconds = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
    return Number.isFinite(seconds) ? Math.floor(seconds * USER_HZ) : null;
  } catch {
    return null;
  }
}

/** The unit of stat's times (clock ticks), 100 on Linux's every architecture Node runs on. */
export const USER_HZ = 100;
