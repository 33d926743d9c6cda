// One process's line of /proc/PID/stat, as Linux gives it. Its second field, the command name,
// is in parentheses and may hold spaces and ')' of its own: the fields are counted after the
// last ')'.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** Field 3: R, S, D, Z (a zombie), X (dead), ... */
  state: string;
  ppid: number;
  pgid: number;
  /** Field 22, in clock ticks since boot: a pid reused later has another. */
  startTime: string;
}

/** `pid`'s stat; null once it is gone, and where there is no /proc. */
export function procStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: fields[19] };
}
