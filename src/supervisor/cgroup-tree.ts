// Process trees held by cgroups (SPEC 4: no orphan processes, ever). A child that leaves its
// group with setsid() and clears its environment escapes the group's signal and the tree's
// mark, and once its parent has exited no walk of the tree finds it; a cgroup v2 holds every
// descendant whatever it does. The gateway makes one cgroup for its run under its own, and sits
// in its `spawner` leaf, so that what it spawns (a tree's guard) is born inside its subtree; each
// guarded tree gets a leaf its leader is born in (the gateway steps into the leaf for the spawn:
// a leader moved in after it, as Node's spawn returns after the exec, had already forked a
// `setsid ... &` into the spawner leaf), killed whole (cgroup.kill) once the tree's signals and
// grace are done. What is left in the spawner leaf is killed at the gateway's exit. The signals, the group, the mark and the
// strays (process-group.ts) stay the first line, and the only one where there is no cgroup.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { procStat } from '../proc-stat.js';

/** Where the gateway's process trees are held, or why they are not. */
export type CgroupHold = { dir: string; why: null } | { dir: null; why: string };

/** How long a killed leaf is waited for to empty before it is left (a process stuck in D state). */
const EMPTY_WAIT_MS = 5000;
const RUN_PREFIX = 'apppkg-gateway.';

let run: CgroupRun | null = null;
let hold: CgroupHold = { dir: null, why: 'the gateway runs embedded in a program (Gateway.start): only the apppkg-gateway command moves itself into a cgroup' };

/** Whether, and where, process trees are held by cgroups now (status, the start line). */
export function cgroupHold(): CgroupHold {
  return hold;
}

/**
 * The cgroup v2 directory the gateway may make its run's cgroup in, or why none: not Linux,
 * not root, no cgroup2 mount, not writable, or a systemd unit's that was not delegated to us
 * (systemd owns it, and the unit's KillMode= ends its processes).
 */
export function ownCgroup(): CgroupHold {
  // The host's switch, for a host whose cgroup tree another tool manages in a way this one does
  // not see (a cgroup it must not move processes out of, controllers it enables later).
  if (process.env.APPPKG_CGROUPS === 'off') return { dir: null, why: 'APPPKG_CGROUPS=off in the gateway\'s environment' };
  if (process.platform !== 'linux') return { dir: null, why: 'cgroups are Linux\'s' };
  if (process.getuid?.() !== 0) return { dir: null, why: 'the gateway does not run as root' };
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    membership = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return { dir: null, why: 'there is no /proc' };
  }
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE SUPER
  const mount = mountinfo.split('\n').map((line) => line.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2');
  const path = membership.split('\n').find((line) => line.startsWith('0::'))?.slice(3);
  if (mount === undefined || path === undefined) return { dir: null, why: 'no cgroup v2 hierarchy is mounted' };
  const root = unescapeMount(mount[3]);
  if (root !== '/' && !path.startsWith(root)) return { dir: null, why: `the gateway's cgroup ${path} is outside the cgroup2 mount at ${mount[4]}` };
  const dir = join(unescapeMount(mount[4]), root === '/' ? path : path.slice(root.length));
  try {
    accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
    accessSync(dir, constants.W_OK);
  } catch {
    return { dir: null, why: `its cgroup ${dir} is not writable` };
  }
  const unit = path.split('/').findIndex((part) => /\.(service|scope)$/.test(part));
  if (unit !== -1) {
    const unitDir = join(dir, ...Array<string>(path.split('/').length - 1 - unit).fill('..'));
    if (!delegated(unitDir)) return { dir: null, why: `its cgroup belongs to the systemd unit ${path.split('/')[unit]}, not delegated to it (Delegate=yes); the unit's KillMode= ends its processes` };
  }
  return { dir, why: null };
}

/** mountinfo's octal escapes (`\040` a space). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** systemd marks a delegated unit's cgroup with an xattr; Node reads none, Python (3.3+) does. */
function delegated(dir: string): boolean {
  const script = 'import os,sys\nfor n in ("trusted.delegate","user.delegate"):\n  try:\n    if os.getxattr(sys.argv[1], n) == b"1": sys.exit(0)\n  except OSError: pass\nsys.exit(1)';
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', script, dir], { stdio: 'ignore', timeout: 5000 });
    if (r.error === undefined) return r.status === 0;
  }
  return false;
}

/**
 * Makes the run's cgroup and moves the gateway into its spawner leaf, where `ownCgroup` allows.
 * Sets what `cgroupHold` answers. Silent: the gateway's first lines are its usage errors.
 */
export async function openCgroupRun(): Promise<CgroupHold> {
  const own = ownCgroup();
  if (own.dir === null) return (hold = own);
  const me = procStat(process.pid)?.startTime ?? '0';
  const dir = join(own.dir, `${RUN_PREFIX}${pidNamespace()}.${process.pid}.${me}`);
  try {
    mkdirSync(dir);
    mkdirSync(join(dir, 'spawner'));
    writeFileSync(join(dir, 'spawner', 'cgroup.procs'), String(process.pid));
  } catch (err) {
    removeQuietly(join(dir, 'spawner'));
    removeQuietly(dir);
    return (hold = { dir: null, why: `${dir} could not be made or entered (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
  }
  run = new CgroupRun(own.dir, dir);
  return (hold = { dir, why: null });
}

/**
 * How long a tree's guard gives its processes after its SIGTERM before its SIGKILL
 * (process-group.ts guardGroup), the gateway's stop and its death alike.
 */
export const GUARD_GRACE_MS = 5000;
/** Beyond GUARD_GRACE_MS, for a dead run's guards: their polls, a loaded host's slow SIGKILL. */
const GUARD_SLACK_MS = 1000;

/** The dead runs whose guards are still in their grace, reaped once it is up (or at the exit). */
let reaping: Promise<void> | null = null;
let hurry: (() => void) | null = null;

/**
 * Kills and removes what gateways that did not stop (SIGKILL, a crash) left beside the run,
 * saying whose processes. Once the gateway has started: what they left is in nobody's way, and a
 * line about it must not come before a usage error. A run whose guards still live (its spawner
 * leaf holds them: they sent their SIGTERM as its gateway died, their SIGKILL comes
 * GUARD_GRACE_MS later) is left to them for that grace, in the background: a gateway restarted
 * at once (systemd's Restart=) killed the app's processes in the middle of their shutdown
 * handlers. What is left after it (an escapee neither the group nor the mark reaches) is killed.
 */
export async function reapDeadRuns(say: (line: string) => void): Promise<void> {
  if (run === null) return;
  const guarded: string[] = [];
  for (const left of leftByDeadRuns(run.parent)) {
    if (populated(join(left, 'spawner')) && treesPopulated(left)) guarded.push(left);
    else sayReaped(say, left, await removeRun(left), false);
  }
  if (guarded.length === 0) return;
  say(`process trees: ${guarded.join(', ')} ${guarded.length === 1 ? 'was' : 'were'} left by a gateway that did not stop, its guards giving its processes their grace (SIGTERM, then SIGKILL ${GUARD_GRACE_MS / 1000} s later): killed after it`);
  const cut = new Promise<void>((resolve) => (hurry = resolve));
  reaping = Promise.all(
    guarded.map(async (left) => {
      await Promise.race([cut, guardsDone(left, GUARD_GRACE_MS + GUARD_SLACK_MS)]);
      // The app's processes past their grace, not the guards that end with the run.
      const outlived = treeLeaves(left).flatMap(procsOf);
      await removeRun(left);
      sayReaped(say, left, outlived, true);
    }),
  ).then(() => {
    reaping = null;
    hurry = null;
  });
}

function sayReaped(say: (line: string) => void, left: string, pids: number[], waited: boolean): void {
  const killed = pids.length === 0 ? (waited ? ': its processes ended in their grace' : '') : `: killed ${pids.length === 1 ? 'its process' : 'its processes'} ${pids.join(', ')}`;
  say(`process trees: ${left} was left by a gateway that did not stop${killed}`);
}

/** The run `dir`'s tree leaves: its cgroups but itself and its spawner leaf. */
function treeLeaves(dir: string): string[] {
  return subtree(dir).filter((cgroup) => cgroup !== dir && cgroup !== join(dir, 'spawner'));
}

/** Whether a process is left in a tree leaf of the run `dir`. */
function treesPopulated(dir: string): boolean {
  return treeLeaves(dir).some(populated);
}

/** Waits until the run `dir`'s guards have ended or its trees are empty, at most `ms`. */
async function guardsDone(dir: string, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (populated(join(dir, 'spawner')) && treesPopulated(dir) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The gateway's exit: what is left in its run's cgroup is killed, and the cgroups go. */
export async function closeCgroupRun(): Promise<void> {
  const closing = run;
  if (closing === null) return;
  run = null;
  hold = { dir: null, why: 'the gateway has stopped' };
  // A dead run still in its guards' grace is killed now: the gateway's exit does not wait for it.
  hurry?.();
  await reaping;
  await closing.close();
}

/** A leaf for one process tree, in the gateway's run; null when trees are not held by cgroups. */
export function treeCgroup(): TreeCgroup | null {
  return run?.leaf() ?? null;
}

/**
 * The inode of this process's pid namespace: a run's pid means nothing in another one. A
 * gateway in a container (its own pid namespace, its host's cgroup tree) is pid 1 there, and
 * here pid 1 is init with another start time: judged by pid alone, each side took the other's
 * run for a dead one and killed its processes.
 */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

/**
 * The run cgroups under `parent` whose gateway (pid namespace, pid and start time in the name) is
 * gone; runs of other pid namespaces are never judged. A run named before the namespace was in
 * the name (`apppkg-gateway.PID.START`, an older gateway's) is judged by its spawner leaf as well:
 * a running gateway sits in it whatever its namespace (cgroup.events counts processes no pid
 * namespace hides), so it is gone only when no process of that pid and start time runs here and
 * its spawner leaf is empty. Without that, the older gateways' runs were left for good.
 */
function leftByDeadRuns(parent: string): string[] {
  const ours = pidNamespace();
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return [];
  }
  return entries
    .filter((entry) => {
      const m = /^apppkg-gateway\.(\d+)\.(\d+)\.(\d+)$/.exec(entry);
      if (m !== null) return m[1] === ours && procStat(Number(m[2]))?.startTime !== m[3];
      const old = /^apppkg-gateway\.(\d+)\.(\d+)$/.exec(entry);
      return old !== null && procStat(Number(old[1]))?.startTime !== old[2] && !populated(join(parent, entry, 'spawner'));
    })
    .map((entry) => join(parent, entry));
}

/** Kills every process in `dir`'s subtree, waits for each cgroup to empty (bounded), and removes them; the pids killed. */
async function removeRun(dir: string): Promise<number[]> {
  const cgroups = subtree(dir);
  const pids = cgroups.flatMap(procsOf);
  for (const cgroup of cgroups.reverse()) {
    kill(cgroup);
    await emptied(cgroup, EMPTY_WAIT_MS);
    removeQuietly(cgroup);
  }
  return pids;
}

/** `dir` and the cgroups below it, parents first. */
function subtree(dir: string): string[] {
  const found = [dir];
  for (let at = 0; at < found.length; at++) {
    try {
      for (const entry of readdirSync(found[at], { withFileTypes: true })) if (entry.isDirectory()) found.push(join(found[at], entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Moves the process `pid` into the cgroup `dir`; false when it could not (gone, or the cgroup is). */
function moveInto(dir: string, pid: number): boolean {
  try {
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    return true;
  } catch {
    return false;
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** SIGKILL to every process of `dir` (and below): cgroup.kill (Linux 5.14), else each pid listed. */
function kill(dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
    return;
  } catch {
    // no cgroup.kill: pid by pid, a fork meanwhile caught by the next look
  }
  for (const pid of procsOf(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Whether a process is left in `dir` or below (cgroup.events' `populated`); false once it is gone. */
function populated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'latin1'));
  } catch {
    return false;
  }
}

function removeQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone already, or still busy: a later start removes it
  }
}

async function emptied(dir: string, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (!populated(dir)) return true;
    if (performance.now() >= deadline) return false;
    kill(dir); // a fork between the kill and its death (no cgroup.kill) is caught here
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

class CgroupRun {
  private trees = 0;
  private readonly leaves = new Set<TreeCgroup>();

  constructor(
    readonly parent: string,
    readonly dir: string,
  ) {}

  leaf(): TreeCgroup | null {
    const dir = join(this.dir, `tree.${++this.trees}`);
    try {
      mkdirSync(dir);
    } catch {
      return null; // the tree has its signals, group and mark still
    }
    const leaf = new TreeCgroup(dir, join(this.dir, 'spawner'), () => this.leaves.delete(leaf));
    this.leaves.add(leaf);
    return leaf;
  }

  /** Every leaf killed, the gateway moved back to its own cgroup, the spawner's rest killed, all removed. */
  async close(): Promise<void> {
    await Promise.all([...this.leaves].map((leaf) => leaf.end()));
    try {
      writeFileSync(join(this.parent, 'cgroup.procs'), String(process.pid));
    } catch {
      // our own cgroup gone: the spawner is left with us in it, and a later start removes it
      return;
    }
    await removeRun(this.dir);
  }
}

/** One process tree's leaf: its leader moved in at its spawn, killed whole and removed at its end. */
export class TreeCgroup {
  private ending: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    private readonly spawner: string,
    private readonly forget: () => void,
  ) {}

  /**
   * `spawn()` with the gateway in the leaf, so that the leader is born in it; synchronous, so
   * nothing else of the gateway runs meanwhile. Where the gateway cannot step in, the leader is
   * moved in after its spawn (what it forked before stays in the spawner leaf).
   */
  bornInside<T extends { pid?: number }>(spawn: () => T): T {
    if (!moveInto(this.dir, process.pid)) {
      const child = spawn();
      if (child.pid !== undefined) moveInto(this.dir, child.pid);
      return child;
    }
    try {
      return spawn();
    } finally {
      moveInto(this.spawner, process.pid);
    }
  }

  /** Kills whatever is left in the leaf, waits for it to empty (bounded) and removes it. Once. */
  end(): Promise<void> {
    this.ending ??= (async () => {
      // Never the gateway: a step back to the spawner that failed left it here.
      if (procsOf(this.dir).includes(process.pid) && !moveInto(this.spawner, process.pid)) return;
      kill(this.dir);
      await emptied(this.dir, EMPTY_WAIT_MS);
      removeQuietly(this.dir);
      this.forget();
    })();
    return this.ending;
  }
}

/** The start line's word on it, brief; `status` has the same. */
export function holdLine(held: CgroupHold): string {
  return held.dir !== null ? `process trees: held by the cgroup ${held.dir}` : `process trees: not held by cgroups (${held.why}): a process that leaves its group and clears its environment can outlive its tree`;
}
