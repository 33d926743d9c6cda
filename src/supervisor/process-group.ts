// Signals for a child spawned `detached` (the leader of its own process group): the group
// reaches grandchildren that a walk of the tree cannot find once their parent has exited, the
// walk (killTree) reaches those that moved to a group or session of their own. Neither reaches
// a daemon that left the group with setsid() (subprocess.Popen(start_new_session=True), a double fork) once its parent
// is gone: a guarded tree is marked instead, an environment variable its every process inherits,
// and what carries the mark is found in /proc when the tree ends. One that clears its environment
// too is found only in the tree while its parent runs: read just before a stop (`stopping`),
// and for a command every few seconds while it runs (`followStrays`). Where the gateway holds
// its trees in cgroups (cgroup-tree.ts), each tree's leaf is killed whole once the rest is done:
// that one too.
import type { Socket } from 'node:net';
import treeKill from 'tree-kill';
import { procStat, ticksSinceBoot } from '../proc-stat.js';
import { spawnProcess } from '../spawn-process.js';
import { GUARD_GRACE_MS, treeCgroup, type TreeCgroup } from './cgroup-tree.js';
import { signalMarked } from './marked-processes.js';
import { descendantsOf, readDescendants } from './process-tree.js';
import { signalStrays, straysIn, straysOf, type Strays } from './strays.js';

/** The variable that marks a guarded tree's processes (SPEC 4: no orphan processes, ever). */
export const TREE_MARK = 'APPPKG_TREE';

let marks = 0;

/** How long a released guard, SIGKILLed, is waited for to be reaped: at once, unless the host is stalled. */
const GUARD_REAP_MS = 1000;

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
  const tree = descendantsOf(pid)?.map((one) => one.pid) ?? null;
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

interface GroupGuard {
  /** The tree's leader is `pid`, the group to end with the mark's processes (null: the mark's alone). */
  lead(pgid: number | null): void;
  /** The group ended as it should (stopped, or exited): the guard goes, doing nothing; resolves once it is reaped. */
  release(): Promise<void>;
}

/**
 * Ends the processes marked `mark`, and the group its leader names, if the gateway dies without
 * stopping them (SIGKILL, a crash): a tiny shell, in a group of its own, blocks reading a pipe
 * whose other end only we hold; the kernel closes it however we die, and the shell then sends
 * them SIGTERM (and SIGCONT, so that a stopped process can act on it, as systemd does), and
 * SIGKILL to what is left of them GUARD_GRACE_MS (5 s) later; it ends as soon as none is left. A command process
 * has nothing else to notice; a worker notices its link closing, and the kernel kills a stopped
 * one (PR_SET_PDEATHSIG, python-shim/apppkg_shim/bootstrap.py).
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
    // Then up to 5 s for them to end: it went on for the whole 5 s however soon they had, and
    // outlived, by seconds, whatever embeds or tests the gateway. `live`: a marked process of
    // the first scan, or a member of the group, runs. A zombie does not: init may collect one
    // seconds late (a member's makes `kill -0` succeed, so a live member is looked for in /proc's
    // stat files, small, and read only once the marked ones are gone). /proc's environ files are
    // scanned again only once none is live, for one marked since (forked while handling the
    // SIGTERM), which gets its own, and no sooner than 0.5 s after the last scan (r): a process
    // in the middle of an exec shows no environment for a moment (the scan 5 s later used to
    // find it), and a tree that kept forking children that end had it scan at every poll.
    'live() {',
    '  for p in $m; do',
    '    read -r s 2>/dev/null </proc/$p/stat || continue',
    '    s=${s##*) }; case $s in [ZXx]*) ;; *) return 0;; esac',
    '  done',
    '  [ -n "$g" ] && kill -0 $g 2>/dev/null && grep -qE "^[0-9]+ \\(.*\\) [^ZXx] [0-9]+ ${g#-} " /proc/[0-9]*/stat 2>/dev/null',
    '}',
    // The clock, in hundredths since boot, read without a fork (counting the polls drifted by a
    // second on a loaded host); without /proc/uptime each poll counts as a tenth. A sleep that
    // takes no fraction (POSIX asks only for whole seconds) sleeps a second.
    'now() { if read -r c _ 2>/dev/null </proc/uptime; then c=$((${c%.*} * 100 + 1${c#*.} - 100)); else c=$((c + 10)); fi; }',
    `c=0; now; e=$((c + ${GUARD_GRACE_MS / 10})); r=$((c + 50))`,
    'while now; [ $c -lt $e ]; do',
    '  sleep 0.1 2>/dev/null || sleep 1',
    '  live || [ $c -lt $r ] && continue',
    '  m=$(marked "$0"); [ -z "$m" ] && exit 0',
    '  r=$((c + 50)); kill -TERM $m 2>/dev/null; kill -CONT $m 2>/dev/null',
    'done',
    'kill -KILL $g $(marked "$0") 2>/dev/null',
  ].join('\n');
  const guard = spawnProcess('/bin/sh', ['-c', script, mark], {
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
      if (guard.pid === undefined || guard.exitCode !== null || guard.signalCode !== null) return Promise.resolve();
      // Waited for: a stop that resolved with it unreaped left the embedding program a child
      // (`[sh] <defunct>`) until a later turn. The timer, not unref'd, keeps the event loop
      // alive until then (the guard is unref'd), and bounds the wait.
      const reaped = new Promise<void>((resolve) => {
        const bound = setTimeout(resolve, GUARD_REAP_MS);
        guard.once('exit', () => {
          clearTimeout(bound);
          resolve();
        });
      });
      guard.kill('SIGKILL');
      return reaped;
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
  /** The tree's own cgroup, which holds whatever its processes do; null where the gateway holds none. */
  private readonly cgroup: TreeCgroup | null = treeCgroup();
  private readonly ownGroup: boolean;
  /** What of the tree the stop's SIGTERM would not reach, read as it was sent (`stopping`). */
  private readonly strays: Strays = new Map();
  /** Had our SIGTERM: the group, as a whole (a stop's, or an end's). */
  private groupTold = false;
  /**
   * Who had the group's SIGTERM: its members in the leader's tree then (pid and start time),
   * and the clock tick just before it. A member found later that is neither one of them nor
   * older than the tick (a child forked while handling that SIGTERM) had none, and gets its own.
   */
  private groupToldAt: { tick: number; members: Set<string> } | null = null;
  /** Had our SIGTERM, by pid: what of the tree is outside the group (marked, or a stray). */
  private readonly told = new Set<number>();

  /** Reads the strays every STRAY_READ_MS while the leader runs (`followStrays`); null when not, or no more. */
  private strayReads: NodeJS.Timeout | null = null;
  private readonly followStrays: boolean;

  /**
   * Starts the tree's guard: make the tree right before its leader's spawn. `followStrays`: its
   * tree is read every few seconds while the leader runs, so that what neither its group nor its
   * mark reaches ends with it even when it exits by itself (a `processes:` command, a hook); a
   * worker's shim ends its own such children (python-shim/apppkg_shim/left_behind.py).
   */
  constructor({ ownGroup = true, followStrays = false }: { ownGroup?: boolean; followStrays?: boolean } = {}) {
    this.ownGroup = ownGroup;
    this.followStrays = followStrays;
    this.guard = guardGroup(this.mark);
  }

  /** `spawn()`, the leader's, run so that the leader is born in the tree's cgroup, where it has one. */
  spawnLeader<T extends { pid?: number }>(spawn: () => T): T {
    return this.cgroup === null ? spawn() : this.cgroup.bornInside(spawn);
  }

  /** `env` with this tree's mark, for the leader's spawn. */
  env(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...env, [TREE_MARK]: this.mark };
  }

  /** The leader `pid` is spawned (undefined: its spawn failed, and the guard goes). */
  watch(pid: number | undefined): void {
    if (pid === undefined) {
      void this.guard.release();
      void this.cgroup?.end();
      return;
    }
    this.guard.lead(this.ownGroup ? pid : null);
    if (this.followStrays) this.readStrays(pid, STRAY_READ_MS);
  }

  /**
   * Reads the strays of the leader `pid`'s tree every `ms` while it runs, asynchronously (none
   * of it blocks the event loop). Once the leader has exited, its children are init's before
   * the gateway can know (the kernel hands them over before it reports the exit), so what is
   * read beforehand is all there is: a stray whose parent exited between two reads, or before
   * the first (a double fork's daemon), stays out of reach.
   */
  private readStrays(pid: number, ms: number): void {
    const leader = procStat(pid)?.startTime;
    if (leader === undefined) return;
    const group = this.ownGroup ? pid : null;
    let reading = false;
    const read = async () => {
      if (reading) return;
      reading = true;
      try {
        const tree = await readDescendants(pid);
        // What was read is the leader's own tree only if `pid` is still the leader: once it has
        // exited, its pid may be another process's.
        if (tree === null || procStat(pid)?.startTime !== leader) return;
        const strays = await straysIn(tree, group, `${TREE_MARK}=${this.mark}`);
        if (this.strayReads === null) return; // the tree has ended meanwhile
        for (const [stray, start] of strays) this.strays.set(stray, start);
        signalStrays(this.strays, 0); // forgets those that have exited
      } finally {
        reading = false;
      }
    };
    this.strayReads = setInterval(() => void read(), ms).unref();
  }

  private stopReadingStrays(): void {
    if (this.strayReads !== null) clearInterval(this.strayReads);
    this.strayReads = null;
  }

  /**
   * `signal`, passed on from the CLI, to every process of the tree once: its group when it
   * leads one, and what carries the mark outside it. A SIGTERM goes as a stop's does (with its
   * SIGCONT, the strays too), and counts as one: what had it gets none again when the command
   * has exited (`end`), though each SIGTERM passed on reaches them all, as each one sent to the
   * CLI was meant to.
   */
  async signal(pid: number | undefined, signal: NodeJS.Signals): Promise<void> {
    if (signal === 'SIGTERM') {
      this.groupTold = false;
      this.told.clear();
      await this.terminate(pid);
      return;
    }
    const group = pid !== undefined && this.ownGroup ? pid : null;
    if (group !== null) signalGroup(group, signal);
    await signalMarked(TREE_MARK, this.mark, signal, group === null ? undefined : (marked) => procStat(marked)?.pgid !== group);
  }

  /**
   * The leader `pid` is sent its stop's SIGTERM right after this: what of its tree neither the
   * group nor the mark reaches (a child in a session of its own with its environment cleared)
   * is read now, since the leader's exit hands it to init, and `stop`, `end` and `sweep` end it
   * too, by pid and start time. One walk of its tree per stop (process-tree.ts).
   */
  stopping(pid: number | undefined): void {
    if (pid === undefined) return;
    for (const [stray, start] of straysOf(pid, this.ownGroup ? pid : null, `${TREE_MARK}=${this.mark}`)) this.strays.set(stray, start);
  }

  /**
   * A graceful stop: SIGTERM (and SIGCONT) to every process of the tree at once, its group,
   * what carries the mark outside the group (a daemon that left it with setsid(), its
   * environment kept) and the strays; `end` then counts them through their grace, and SIGKILLs
   * what is left. The group signalled alone, such a daemon got SIGKILL 3 s later and nothing
   * before it.
   */
  stop(pid: number | undefined): void {
    if (pid === undefined) return;
    this.stopping(pid);
    void this.terminate(pid);
  }

  /**
   * SIGTERM (and SIGCONT) to each process of the tree that has not had one from us: its group,
   * the strays, and what carries the mark outside the group. Once each: a second SIGTERM can
   * turn a graceful exit into a hasty one (uvicorn, celery), and the group's members carry the
   * mark too, so the group's SIGTERM and the mark's both reached them. A member born after the
   * group's (a child forked while handling it) had none: `leftBehind`, once the leader has
   * exited, it gets its own; while the leader runs it is the leader's to end (a helper of its
   * shutdown, which it waits for). Resolves with how many
   * processes carry the mark, in the group or not, from the same pass over /proc, and notes
   * them in `found`.
   */
  private async terminate(pid: number | undefined, found: Strays = new Map(), leftBehind = false): Promise<number> {
    const group = pid !== undefined && this.ownGroup ? pid : null;
    if (group !== null && !this.groupTold) {
      this.groupTold = true;
      // Ticks are 10 ms: a handler's fork often starts in the tick of the signal, which the
      // members read just before tell apart. One forked between the read and the signal would
      // have two: a window of no turn of the event loop.
      const tick = ticksSinceBoot();
      const members = groupMembers(group);
      signalGroup(group, 'SIGTERM');
      signalGroup(group, 'SIGCONT');
      this.groupToldAt = tick === null ? null : { tick, members };
    }
    const untoldStrays: Strays = new Map([...this.strays].filter(([stray]) => !this.told.has(stray)));
    signalStrays(untoldStrays, 'SIGTERM');
    signalStrays(untoldStrays, 'SIGCONT');
    for (const stray of untoldStrays.keys()) this.told.add(stray);
    const now = new Set<number>();
    const untold = (marked: number): boolean => {
      if (this.told.has(marked) || (group !== null && this.inGroupTold(marked, group, leftBehind))) return false;
      this.told.add(marked);
      now.add(marked);
      return true;
    };
    // All three in one pass over /proc, as requests asked for in the same turn share it; the
    // SIGCONT goes to whom the SIGTERM went, asked of each process right after it.
    const [, , marked] = await Promise.all([
      signalMarked(TREE_MARK, this.mark, 'SIGTERM', untold),
      signalMarked(TREE_MARK, this.mark, 'SIGCONT', (one) => now.has(one)),
      signalMarked(TREE_MARK, this.mark, 0, noteIn(found)),
    ]);
    return marked;
  }

  /** `pid` is in the group `group`, and had its SIGTERM (or, not `leftBehind`, is left to the leader). */
  private inGroupTold(pid: number, group: number, leftBehind: boolean): boolean {
    const stat = procStat(pid);
    if (stat?.pgid !== group) return false;
    const told = this.groupToldAt;
    return !leftBehind || told === null || Number(stat.startTime) < told.tick || told.members.has(`${pid}:${stat.startTime}`);
  }

  /** Last, once the tree's signals and grace are done: what is left in its cgroup is killed (one that escaped them all). */
  private async killCgroup(): Promise<void> {
    await this.cgroup?.end();
  }

  /**
   * The leader has exited: what it left in its group, and what carries the mark (a daemon that
   * left the group with setsid()), is killed. Resolves once /proc has been looked at.
   */
  async sweep(pid: number | undefined): Promise<void> {
    this.stopReadingStrays();
    if (pid !== undefined && this.ownGroup) signalGroup(pid, 'SIGKILL');
    signalStrays(this.strays, 'SIGKILL');
    await Promise.all([this.guard.release(), signalMarked(TREE_MARK, this.mark, 'SIGKILL')]);
    await this.killCgroup();
  }

  /**
   * The leader of a command has exited, and what it left behind ends with it, as a container's
   * processes end with its main process (`docker run`): SIGTERM (and SIGCONT) to its group and
   * what carries the mark, each that a `stop` has not told already, then SIGKILL to whatever is
   * left after `graceMs`. Resolves as soon as none is left, the guard kept until then (a CLI
   * killed meanwhile still takes them along).
   */
  async end(pid: number | undefined, graceMs: number): Promise<void> {
    this.stopReadingStrays();
    const group = pid !== undefined && this.ownGroup ? pid : null;
    // The marked processes found are waited for by pid and start time, as the strays are: a
    // scan reads every environ file of the host, and it was made every 100 ms of the grace. A
    // scan again only once none of them is left, for one marked since (a child of theirs).
    const marked: Strays = new Map();
    let left = (await this.terminate(pid, marked, true)) + signalStrays(this.strays, 0);
    // performance.now(): a step of the wall clock must not KILL at once (forward) or hold the stop (back).
    const deadline = performance.now() + graceMs;
    while (left > 0 && performance.now() < deadline) {
      // Not `delay`, whose timer is unref'd: a CLI command waits on this with nothing else to do.
      await new Promise((resolve) => setTimeout(resolve, END_POLL_MS));
      left = signalStrays(marked, 0) + signalStrays(this.strays, 0);
      // A process marked since (a child of theirs, born after the SIGTERM) has its own now.
      if (left === 0) left = await this.terminate(pid, marked, true);
    }
    // The group's members carry the mark too, unless one cleared its environment: the group is
    // not polled (a member killed may stay a zombie until init collects it), only killed.
    if (group !== null) signalGroup(group, 'SIGKILL');
    signalStrays(this.strays, 'SIGKILL');
    if (left > 0) await signalMarked(TREE_MARK, this.mark, 'SIGKILL');
    await this.guard.release();
    await this.killCgroup();
  }
}

/** The members of the group `group` in its leader's tree, by pid and start time (one walk of the tree). */
function groupMembers(group: number): Set<string> {
  const leader = procStat(group);
  const tree = (descendantsOf(group) ?? []).filter((one) => one.pgid === group);
  return new Set([...(leader ? [`${group}:${leader.startTime}`] : []), ...tree.map((one) => `${one.pid}:${one.start}`)]);
}

/** An `only` for signalMarked that notes each marked process in `found`, by pid and start time, and accepts it. */
function noteIn(found: Strays): (pid: number) => boolean {
  return (pid) => {
    const start = procStat(pid)?.startTime;
    if (start !== undefined) found.set(pid, start);
    return true;
  };
}

/**
 * How often a tree that follows its strays reads them while its leader runs: a walk of the tree
 * (a few small files of /proc per process in it) every 5 s for each `processes:` command.
 */
const STRAY_READ_MS = 5000;

/** How often `end` looks whether the tree's processes have gone during their grace. */
const END_POLL_MS = 100;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
