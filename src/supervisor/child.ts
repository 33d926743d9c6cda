// One child process as the supervisor keeps it: spawned as the leader of its own process group
// (a terminal's Ctrl-C reaches the gateway only, and the group reaches grandchildren that
// tree-kill cannot find once their parent has exited), stopped the one way every process
// here is stopped: SIGTERM (and SIGCONT, so that a stopped process can act on it), a bounded
// wait, then SIGKILL to the tree and the group. Whatever it leaves in its group goes with it,
// and a guarded child's daemons that left the group (setsid) too: they carry its mark.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { delay, GuardedTree, killTree, signalGroup } from './process-group.js';
import { EarliestTimer } from './earliest-timer.js';
import { spawnProcess } from '../spawn-process.js';

export interface ChildSpec {
  file: string;
  args: string[];
  cwd: string;
  /** The complete environment (nothing is inherited implicitly). */
  env: Record<string, string>;
  stdio: StdioOptions;
  /** The app's user and group, when the gateway runs as root. */
  uid?: number;
  gid?: number;
  /**
   * SIGTERM to the whole group (a shell and what it started) rather than the leader alone
   * (the Python shim, which drains its requests and then ends its own helpers; a program that
   * ends its own pool). What the leader leaves gets its SIGTERM once it has exited.
   */
  termGroup: boolean;
  /**
   * A guard process ends the group if the gateway dies without stopping it: a command process,
   * and a worker's own children (the worker itself dies with the gateway by PDEATHSIG). A
   * guarded child's tree is marked (process-group.ts), so that its daemons end with it too.
   */
  guard: boolean;
  /**
   * A guarded child whose tree is read every few seconds while it runs (GuardedTree's
   * `followStrays`): a command process, which nothing else ends such children for.
   */
  followStrays?: boolean;
}

/** After the leader's exit, how long what it left behind has between SIGTERM and SIGKILL (a command's too). */
const LEFT_BEHIND_GRACE_MS = 3000;
/** How long a child's pipes are read after it exited, when something else still holds them. */
const PIPES_AFTER_EXIT_MS = 1000;

export class Child extends EventEmitter {
  readonly process: ChildProcess;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Why spawn itself failed (ENOENT, EACCES for the app's user), if it did. */
  spawnError: Error | null = null;
  private exitedFlag = false;
  private readonly exitPromise: Promise<void>;
  private readonly termGroup: boolean;
  /** The stop under way: when its SIGKILL comes, brought sooner by a shorter bound. */
  private stopping: EarliestTimer | null = null;
  /** The end of the stop under way. */
  private stopped: Promise<void> = Promise.resolve();
  /** Set once SIGKILL was ours to send: what is left behind has had its grace. */
  private killed = false;
  /** What the leader left behind, while it has its grace; `kill` cuts it short. */
  private leftBehind: { tree: GuardedTree; pid: number | undefined } | null = null;
  private readonly tree: GuardedTree | null;
  private readonly followStrays: boolean;

  /** Spawns at once; a spawn that fails ends in 'exit' (null, null) with `spawnError` set. */
  constructor(spec: ChildSpec) {
    super();
    this.termGroup = spec.termGroup;
    this.followStrays = spec.followStrays === true;
    const tree = spec.guard ? new GuardedTree({ followStrays: spec.followStrays }) : null;
    this.tree = tree;
    const spawn = () =>
      spawnProcess(spec.file, spec.args, {
        cwd: spec.cwd,
        env: tree === null ? spec.env : tree.env(spec.env),
        stdio: spec.stdio,
        detached: true,
        uid: spec.uid,
        gid: spec.gid,
      });
    const child = tree === null ? spawn() : tree.spawnLeader(spawn);
    this.process = child;
    tree?.watch(child.pid);
    this.exitPromise = new Promise<void>((resolve) => {
      const ended = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitedFlag) return;
        this.exitedFlag = true;
        this.exitCode = code;
        this.exitSignal = signal;
        // Gone once its daemons are: a gateway that stops right after must not leave them.
        if (tree !== null) void this.endLeftBehind(tree, child.pid).finally(resolve);
        else {
          if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
          resolve();
        }
        // A process that escaped both (it cleared its environment) may still hold our end of
        // its stdout: read what is there, then let go, or the gateway could never exit.
        const letGo = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, PIPES_AFTER_EXIT_MS).unref(); // fires only while something else keeps us running: the pipes
        child.once('close', () => clearTimeout(letGo));
        this.emit('exit', code, signal);
      };
      child.once('exit', ended);
      child.once('error', (err) => {
        this.spawnError = err;
        if (child.pid === undefined) ended(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get exited(): boolean {
    return this.exitedFlag;
  }

  /** Resolves once the process has exited (and its group was killed). */
  whenExited(): Promise<void> {
    return this.exitPromise;
  }

  /** How it ended, for messages: `status 1`, `SIGKILL`, `could not be spawned: ...`. */
  get how(): string {
    if (this.spawnError !== null && this.exitCode === null && this.exitSignal === null) return `could not be spawned: ${this.spawnError.message}`;
    return this.exitSignal ?? `status ${this.exitCode}`;
  }

  /**
   * SIGTERM (+ SIGCONT), up to `graceMs` to exit, then SIGKILL to the tree. Resolves once gone.
   * Asked again while it stops (the gateway stops during a drain), the signal is not sent
   * again, and the SIGKILL comes at the earlier of the two bounds: a drain's longer grace
   * (`drain`) must not hold the gateway's stop.
   */
  async stop(graceMs: number): Promise<void> {
    const pid = this.process.pid;
    if (pid === undefined || this.exitedFlag) return;
    if (this.stopping === null) {
      this.terminate(pid);
      let killNow!: () => void;
      const outOfTime = new Promise<void>((resolve) => (killNow = resolve));
      const stopping = new EarliestTimer(killNow);
      this.stopping = stopping;
      stopping.within(graceMs);
      this.stopped = Promise.race([this.exitPromise.then(() => true), outOfTime.then(() => false)]).then(async (inTime) => {
        stopping.clear();
        if (inTime) return;
        this.kill();
        await Promise.race([this.exitPromise, delay(5000)]);
      });
    } else {
      this.stopping.within(graceMs);
    }
    await this.stopped;
  }

  private terminate(pid: number): void {
    if (this.termGroup) {
      // The whole tree, a shell's daemons outside its group too (its `setsid ... &`), marked or
      // not (the shim ends such children of its own: left_behind.py).
      if (this.tree !== null) return this.tree.stop(pid);
      signalGroup(pid, 'SIGTERM');
      signalGroup(pid, 'SIGCONT');
      return;
    }
    // Its exit hands its children to init: a child that left both the group and the mark is
    // known only by a read of the tree, and that is made now, as a group's stop makes it.
    if (this.followStrays) this.tree?.stopping(pid);
    try {
      this.process.kill('SIGTERM');
      // A stopped process (SIGSTOP, a debugger) holds SIGTERM pending until SIGKILL past the
      // grace: wake it so that it stops gracefully now (systemd sends SIGCONT likewise).
      this.process.kill('SIGCONT');
    } catch {
      // already gone
    }
  }

  /**
   * What the leader left in its group, and its marked daemons, get SIGTERM (and SIGCONT) and
   * a moment to finish, as a command's do (process-group.ts `end`), then SIGKILL: an app's
   * multiprocessing pool or helper killed outright leaves its shared memory, semaphores and
   * temporary files behind, and its parent, the worker, never got to stop it (a worker's own
   * SIGTERM is the shim's, which drains requests and exits). Not when the grace was spent
   * already: the leader itself was SIGKILLed by us.
   */
  private endLeftBehind(tree: GuardedTree, pid: number | undefined): Promise<void> {
    if (this.killed) return tree.sweep(pid);
    this.leftBehind = { tree, pid };
    // A stop of a group sent the tree SIGTERM already (termGroup): the tree knows, and sends none again.
    return tree.end(pid, LEFT_BEHIND_GRACE_MS).finally(() => (this.leftBehind = null));
  }

  /** SIGKILL the tree and the group, now; after the leader's exit, what it left behind. */
  kill(): void {
    this.killed = true;
    if (this.leftBehind !== null) void this.leftBehind.tree.sweep(this.leftBehind.pid);
    const pid = this.process.pid;
    if (pid === undefined || this.exitedFlag) return;
    killTree(pid);
  }
}
