// Who uses an app's run-helper directory (app-env.ts) now. Every process that writes or
// reuses one for its commands (`run`, `test`, `shell`, a lifecycle command, a gateway's starts)
// leaves a hold in it, <dir>/holds/<pid>-<start>, and lifts it when it exits; the gateway's
// pruning (supervisor/prune-run-helpers.ts) keeps a directory another live process holds.
// Before, a `run` begun before the gateway started, with another configuration, had its
// directory removed under it by the gateway's first prune. A hold names its process by pid
// and start time, so that a pid reused by another process does not keep the directory, and a
// holder killed with -9 (its hold never lifted) holds nothing once it is gone. Within one
// process (the library's AppPackage.run beside its Gateway.start) a command's use is counted
// while it runs (useWhileRunning): a hold file of its own process tells the prune nothing.
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { procStat } from '../proc-stat.js';

export const HOLDS_DIR = 'holds';

const held = new Set<string>();

/** The process's start time as Linux's /proc says it (clock ticks since boot); null where there is no /proc. */
function startOf(pid: number): string | null {
  return procStat(pid)?.startTime ?? null;
}

/** Is `pid` a live process (ours or another user's)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks `dir` as used by this process until it exits. Best effort: a directory we may not write in is left unmarked. */
export function holdRunHelpers(dir: string): void {
  const hold = path.join(dir, HOLDS_DIR, `${process.pid}-${startOf(process.pid) ?? 'unknown'}`);
  if (held.has(hold)) return;
  try {
    mkdirSync(path.dirname(hold), { recursive: true, mode: 0o755 });
    writeFileSync(hold, '', { mode: 0o644 });
  } catch {
    return;
  }
  if (held.size === 0) process.once('exit', liftHolds);
  held.add(hold);
}

function liftHolds(): void {
  for (const hold of held) {
    try {
      unlinkSync(hold);
    } catch {
      // Pruned with its directory already, or the state root went away.
    }
  }
  held.clear();
}

/** The directories commands this process runs use now (run-command.ts), with how many use each. */
const usedByCommands = new Map<string, number>();

/**
 * Marks `dir` as used by a command this process runs (the library's AppPackage.run, a hook)
 * until the returned function is called. Its hold file cannot say so: this process's starts
 * leave one too, and a gateway in this process would keep every directory it ever wrote.
 */
export function useWhileRunning(dir: string): () => void {
  usedByCommands.set(dir, (usedByCommands.get(dir) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = usedByCommands.get(dir)! - 1;
    if (left === 0) usedByCommands.delete(dir);
    else usedByCommands.set(dir, left);
  };
}

/**
 * Whether a live process other than this one holds `dir`, or a command this process runs uses
 * it. The use of this process's own starts is its caller's to know.
 */
export function heldByOthers(dir: string): boolean {
  if (usedByCommands.has(dir)) return true;
  let holds: string[];
  try {
    holds = readdirSync(path.join(dir, HOLDS_DIR));
  } catch {
    return false;
  }
  return holds.some((name) => {
    const match = /^(\d+)-(\d+|unknown)$/.exec(name);
    if (!match) return false;
    const pid = Number(match[1]);
    if (pid === process.pid || !isAlive(pid)) return false;
    // Where /proc tells start times, a pid now running another process holds nothing.
    const start = startOf(pid);
    return start === null || match[2] === 'unknown' || start === match[2];
  });
}
