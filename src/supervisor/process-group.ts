// Signals for a child spawned `detached` (the leader of its own process group): the group
// reaches grandchildren that tree-kill cannot find once their parent has exited, tree-kill
// reaches those that moved to a group of their own.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import treeKill from 'tree-kill';

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left
  }
}

/** SIGKILL the whole tree and the group, now. */
export function killTree(pid: number): void {
  treeKill(pid, 'SIGKILL', () => signalGroup(pid, 'SIGKILL'));
  signalGroup(pid, 'SIGKILL');
}

export interface GroupGuard {
  /** The group ended as it should (stopped, or exited): the guard goes, doing nothing. */
  release(): void;
}

/**
 * Ends the group `pgid` if the gateway dies without stopping it (SIGKILL, a crash): a tiny
 * shell, in a group of its own, blocks reading a pipe whose other end only we hold; the
 * kernel closes it however we die, and the shell then sends the group SIGTERM (and SIGCONT,
 * so that a stopped process can act on it, as systemd does), and SIGKILL 5 s later. A command
 * process has nothing else to notice; a worker notices its link closing, and the kernel kills
 * a stopped one (PR_SET_PDEATHSIG, python-shim/apppkg_shim/bootstrap.py).
 */
export function guardGroup(pgid: number): GroupGuard {
  const guard = spawn('/bin/sh', ['-c', 'read _; kill -TERM -$0 2>/dev/null; kill -CONT -$0 2>/dev/null; sleep 5; kill -KILL -$0 2>/dev/null', String(pgid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  guard.on('error', () => {});
  guard.stdin?.on('error', () => {});
  // Neither the guard nor its pipe keeps the gateway's event loop alive.
  guard.unref();
  (guard.stdin as Socket | null)?.unref();
  return {
    release() {
      guard.kill('SIGKILL');
    },
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
