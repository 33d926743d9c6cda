// Signals for a child spawned `detached` (the leader of its own process group): the group
// reaches grandchildren that a walk of the tree cannot find once their parent has exited, the
// walk (killTree) reaches those that moved to a group or session of their own. Neither reaches
// a daemon that left the group with setsid() (subprocess.Popen(start_new_session=True), a double fork) once its parent
// is gone: a guarded tree is marked instead, an environment variable its every process inherits,
// and what carries the mark is found in /proc when the tree ends.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import treeKill from 'tree-kill';
import { signalMarked } from './marked-processes.js';

/** The variable that marks a guarded tree's processes (SPEC 4: no orphan processes, ever). */
export const TREE_MARK = 'APPPKG_TREE';

let marks = 0;

/** A mark no other tree of any gateway on this host carries. */
function newTreeMark(): string {
  return `${process.pid}.${Date.now().toString(36)}.${++marks}`;
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left
  }
}

/**
 * SIGKILL the whole tree and the group, now. The tree is read before anything is killed: killed
 * first, the leader handed what it started outside its group to init before tree-kill's walk
 * (a `ps` per level, after the kill) could find it, and a child in a session of its own with its
 * environment cleared (neither the group nor the mark reaches it) outlived the worker.
 */
export function killTree(pid: number): void {
  const tree = descendantsOf(pid);
  if (tree === null) {
    treeKill(pid, 'SIGKILL', () => signalGroup(pid, 'SIGKILL'));
    signalGroup(pid, 'SIGKILL');
    return;
  }
  signalGroup(pid, 'SIGKILL');
  for (const one of [pid, ...tree]) {
    try {
      process.kill(one, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * The processes descended from `pid`, from each process's parent (field 4 of /proc/PID/stat) in
 * one synchronous pass, the kill right after it: no turn of the event loop in between for the
 * leader to die in and hand its children to init. Null where there is no /proc.
 */
function descendantsOf(pid: number): number[] | null {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ', 2)[1]);
    const siblings = children.get(ppid);
    if (siblings === undefined) children.set(ppid, [Number(entry)]);
    else siblings.push(Number(entry));
  }
  const found = [...(children.get(pid) ?? [])];
  for (let at = 0; at < found.length; at++) found.push(...(children.get(found[at]) ?? []));
  return found;
}

interface GroupGuard {
  /** The tree's leader is `pid`, the group to end with the mark's processes (null: the mark's alone). */
  lead(pgid: number | null): void;
  /** The group ended as it should (stopped, or exited): the guard goes, doing nothing. */
  release(): void;
}

/**
 * Ends the processes marked `mark`, and the group its leader names, if the gateway dies without
 * stopping them (SIGKILL, a crash): a tiny shell, in a group of its own, blocks reading a pipe
 * whose other end only we hold; the kernel closes it however we die, and the shell then sends
 * them SIGTERM (and SIGCONT, so that a stopped process can act on it, as systemd does), and
 * SIGKILL 5 s later. A command process has nothing else to notice; a worker notices its link
 * closing, and the kernel kills a stopped one (PR_SET_PDEATHSIG, python-shim/apppkg_shim/bootstrap.py).
 * The guard is started before the tree's leader, and told the leader's group on the pipe once it
 * is spawned: a gateway killed between the two spawns (a loaded host can hold it there for long)
 * left a leader without a guard; now the mark finds it. The shell's own environment is not
 * marked, so its grep does not find itself.
 */
function guardGroup(mark: string): GroupGuard {
  const script = [
    // The leader's group, or nothing (a command in the terminal's group, whose other members are
    // not ours; or the gateway died before it could say), then the end of the pipe.
    'read g; read _',
    // The marked processes' pids, from the environ files that hold the mark as a whole entry.
    `marked() { grep -lzxF "${TREE_MARK}=$1" /proc/[0-9]*/environ 2>/dev/null | sed 's,^/proc/,,;s,/environ$,,'; }`,
    '[ -n "$g" ] && g=-$g',
    // One scan of /proc for TERM and CONT (a scan reads every process's environ); KILL scans again.
    'm=$(marked "$0"); kill -TERM $g $m 2>/dev/null; kill -CONT $g $m 2>/dev/null',
    'sleep 5',
    'kill -KILL $g $(marked "$0") 2>/dev/null',
  ].join('\n');
  const guard = spawn('/bin/sh', ['-c', script, mark], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  guard.on('error', () => {});
  guard.stdin?.on('error', () => {});
  // Neither the guard nor its pipe keeps the gateway's event loop alive.
  guard.unref();
  (guard.stdin as Socket | null)?.unref();
  return {
    lead(pgid) {
      guard.stdin?.write(`${pgid ?? ''}\n`);
    },
    release() {
      guard.kill('SIGKILL');
    },
  };
}

/**
 * One guarded tree: its leader is spawned detached with `env(...)`, `watch`ed once it has a pid,
 * and `sweep`t when it exits (a supervised process, Child) or `end`ed (a command or hook,
 * runProgram: its processes get a grace to leave). `ownGroup: false` is a command left in the terminal's
 * process group (so that ^C and the terminal's reads reach it): its group is not its own to
 * signal, and the mark alone finds its processes.
 */
export class GuardedTree {
  private readonly mark = newTreeMark();
  private readonly guard: GroupGuard;
  private readonly ownGroup: boolean;

  /** Starts the tree's guard: make the tree right before its leader's spawn. */
  constructor({ ownGroup = true }: { ownGroup?: boolean } = {}) {
    this.ownGroup = ownGroup;
    this.guard = guardGroup(this.mark);
  }

  /** `env` with this tree's mark, for the leader's spawn. */
  env(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...env, [TREE_MARK]: this.mark };
  }

  /** The leader `pid` is spawned (undefined: its spawn failed, and the guard goes). */
  watch(pid: number | undefined): void {
    if (pid === undefined) this.guard.release();
    else this.guard.lead(this.ownGroup ? pid : null);
  }

  /** `signal` to every process of the tree (its group too, when it leads one). */
  async signal(pid: number | undefined, signal: NodeJS.Signals): Promise<void> {
    if (pid !== undefined && this.ownGroup) signalGroup(pid, signal);
    await signalMarked(TREE_MARK, this.mark, signal);
  }

  /** The tree ended as it should: the guard goes, and what the leader left behind stays. */
  release(): void {
    this.guard.release();
  }

  /**
   * The leader has exited: what it left in its group, and what carries the mark (a daemon that
   * left the group with setsid()), is killed. Resolves once /proc has been looked at.
   */
  async sweep(pid: number | undefined): Promise<void> {
    if (pid !== undefined && this.ownGroup) signalGroup(pid, 'SIGKILL');
    this.guard.release();
    await signalMarked(TREE_MARK, this.mark, 'SIGKILL');
  }

  /**
   * The leader of a command has exited, and what it left behind ends with it, as a container's
   * processes end with its main process (`docker run`): SIGTERM (and SIGCONT) to its group and
   * what carries the mark, then SIGKILL to whatever is left after `graceMs`. Resolves as soon as
   * none is left, the guard kept until then (a CLI killed meanwhile still takes them along).
   */
  async end(pid: number | undefined, graceMs: number, { told = false }: { told?: boolean } = {}): Promise<void> {
    const group = pid !== undefined && this.ownGroup ? pid : null;
    if (group !== null && !told) {
      signalGroup(group, 'SIGTERM');
      signalGroup(group, 'SIGCONT');
    }
    // Both in one pass over /proc: the scans asked for in the same turn share it. Told already
    // (a stop sent its group SIGTERM), a second one could turn a graceful exit into a hasty one
    // (uvicorn, celery): only counted.
    let left = told
      ? await signalMarked(TREE_MARK, this.mark, 0)
      : (await Promise.all([signalMarked(TREE_MARK, this.mark, 'SIGTERM'), signalMarked(TREE_MARK, this.mark, 'SIGCONT')]))[0];
    const deadline = Date.now() + graceMs;
    while (left > 0 && Date.now() < deadline) {
      // Not `delay`, whose timer is unref'd: a CLI command waits on this with nothing else to do.
      await new Promise((resolve) => setTimeout(resolve, END_POLL_MS));
      left = await signalMarked(TREE_MARK, this.mark, 0);
    }
    // The group's members carry the mark too, unless one cleared its environment: the group is
    // not polled (a member killed may stay a zombie until init collects it), only killed.
    if (group !== null) signalGroup(group, 'SIGKILL');
    if (left > 0) await signalMarked(TREE_MARK, this.mark, 'SIGKILL');
    this.guard.release();
  }
}

/** How often `end` looks whether the tree's processes have gone during their grace. */
const END_POLL_MS = 100;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
