// What of a guarded tree neither its process group nor its mark reaches (process-group.ts): a
// child in a session of its own with its environment cleared (`setsid env -i ... &`). Found in
// the tree while its parent runs, since the parent's exit hands it to init; kept by pid and
// start time, so that a pid used again since is left alone.
import { readFileSync } from 'node:fs';
import { readProcFile } from '../proc-file.js';
import { procStat } from '../proc-stat.js';
import { descendantsOf, type TreeProcess } from './process-tree.js';

/** Processes by pid, each with its start time: one whose pid was reused since is not it. */
export type Strays = Map<number, string>;

/**
 * What of `pid`'s tree neither `group` (null: none signalled) nor the mark (`entry`, the
 * environment's NAME=VALUE) reaches, read synchronously. An environ that reads empty (the
 * middle of an exec) or not at all counts as unmarked: at worst one SIGTERM it need not have had.
 */
export function straysOf(pid: number, group: number | null, entry: string): Strays {
  const strays: Strays = new Map();
  for (const one of descendantsOf(pid) ?? []) {
    if (group !== null && one.pgid === group) continue;
    let environ = '';
    try {
      environ = readFileSync(`/proc/${one.pid}/environ`, 'latin1');
    } catch {
      // another user's, or gone: signalled below if it is still there
    }
    if (!environ.split('\0').includes(entry)) strays.set(one.pid, one.start);
  }
  return strays;
}

/** `straysOf`, of a tree read asynchronously (`readDescendants`). */
export async function straysIn(tree: TreeProcess[], group: number | null, entry: string): Promise<Strays> {
  const strays: Strays = new Map();
  for (const one of tree) {
    if (group !== null && one.pgid === group) continue;
    const environ = (await readProcFile(`/proc/${one.pid}/environ`)) ?? '';
    if (!environ.split('\0').includes(entry)) strays.set(one.pid, one.start);
  }
  return strays;
}

/** `signal` (0: none, counted only) to each of `strays` still running as itself; how many were. */
export function signalStrays(strays: Strays, signal: NodeJS.Signals | 0): number {
  let running = 0;
  for (const [pid, start] of strays) {
    const stat = procStat(pid);
    if (stat === null || stat.startTime !== start || stat.state === 'Z' || stat.state === 'X') {
      strays.delete(pid); // exited, and its pid may be another's from now on
      continue;
    }
    running++;
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
  return running;
}
