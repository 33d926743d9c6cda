// Runs a command (argv) or a lifecycle hook (a shell line) in an app's execution environment:
// the app directory as working directory, `python` meaning the app's interpreter, its sys.path,
// settings and private directories. Output goes to ours (or to a stream given); the exit status
// is passed on. What the command started ends with it (SPEC 4: no orphan processes, ever), as a
// container's processes end with its main process under `docker run`.
// `runProgram` is the same without the app's environment: `install` runs venv, pip and
// apt-get through it, so their own progress output streams to the terminal.
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import type { AppContext } from '../app-context.js';
import { commandEnvironment } from '../environment/app-env.js';
import { useWhileRunning } from '../environment/run-helper-holds.js';
import { spawnProcess } from '../spawn-process.js';
import { GuardedTree, killTree } from '../supervisor/process-group.js';
import { exitFailure, spawnFailure } from './spawn-failure.js';

/** How long, after the child exits, its piped output may take to reach EOF. */
const OUTPUT_DRAIN_MS = 2_000;

export interface RunSpec {
  argv?: string[];
  shell?: string;
  /** What the shell line is (`commands.install`), for the diagnosis of an exit 127 or 126. */
  key?: string;
  extraEnv?: Record<string, string>;
  /** Where the child's output goes (an app's log, say); default: ours. */
  output?: Writable;
  /** Stop the command's whole tree past this (a hook that hangs must not hold a deploy forever). */
  timeoutMs?: number;
  /** Told when timeoutMs stopped it (its status is then the signal's, 143 or 137). */
  onTimeout?: () => void;
  /**
   * A command the gateway runs in the background (a hook during a deploy): in a process group
   * of its own, guarded (guardGroup), so that it ends with the gateway however the gateway ends,
   * and stopped with its whole group when `stop` aborts (the gateway is stopping).
   */
  background?: { stop: AbortSignal };
}

export interface ProgramSpec {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  output?: Writable;
  timeoutMs?: number;
  onTimeout?: () => void;
  uid?: number;
  gid?: number;
  background?: { stop: AbortSignal };
  /**
   * What the command is, to say why it exited 127 or 126 when its program could not run
   * (spawn-failure.ts exitFailure): the program (`argv`), or the shell line and its key.
   */
  diagnose?: { argv: readonly string[] } | { shell: string; key: string };
}

/**
 * What a hook (commands.install, update, backup, restore, uninstall, check) gets over the app's
 * environment, as its workers and processes do: Python writes its output as it goes. Piped (to
 * the app log, to a CLI's caller), it buffered it: a hook's progress came at its end, and what it
 * printed before a kill (its timeout, a crash) was lost with the buffer.
 */
export const HOOK_ENV: Readonly<Record<string, string>> = { PYTHONUNBUFFERED: '1' };

/** After SIGTERM, how long a command's processes have before SIGKILL (stopped, or the command done). */
const STOP_KILL_MS = 3_000;

export function runInAppEnvironment(ctx: AppContext, run: RunSpec): Promise<number> {
  const env = { ...commandEnvironment(ctx.appEnv), ...run.extraEnv };
  const [file, args] = run.shell !== undefined ? ['/bin/sh', ['-c', run.shell]] : [run.argv![0], run.argv!.slice(1)];
  // A gateway in this process (the library's Gateway.start) must not prune the helpers under it.
  const release = ctx.appEnv.runDir === '' ? () => {} : useWhileRunning(ctx.appEnv.runDir);
  const diagnose = run.shell !== undefined ? { shell: run.shell, key: run.key ?? 'the command' } : { argv: run.argv! };
  return runProgram({ file, args, cwd: ctx.desc.dir, env, output: run.output, timeoutMs: run.timeoutMs, onTimeout: run.onTimeout, uid: ctx.runAs?.uid, gid: ctx.runAs?.gid, background: run.background, diagnose }).finally(release);
}

/**
 * Spawn, stream its output (ours, or `output`), resolve with its exit status (128+N for signal N).
 * With `output`, everything the child wrote is passed on before the promise resolves (a caller
 * that captures output reads it right after), unless a grandchild keeps the pipes open.
 */
export function runProgram(spec: ProgramSpec): Promise<number> {
  const { file, args, output: out } = spec;
  return new Promise((resolve) => {
    const background = spec.background;
    let settled = false;
    // Every command is a guarded tree: should we be killed (SIGKILL, a CI runner's timeout), it
    // goes with us, and when it exits, what it started goes with it. One in the terminal (`run`,
    // `test`, a hook run by the CLI) stays in the terminal's group, so its processes are found
    // by their mark alone; one with its output piped has no use for the terminal's group.
    const terminal = !out && !background;
    const tree = new GuardedTree({ ownGroup: !terminal, followStrays: true });
    // Signals to the CLI are passed to the command's whole tree (a shell's children too, as
    // tini and docker do), not only to its first process. Only in the foreground (a CLI
    // command): inside the gateway, signals mean the gateway's own things (SIGHUP = reload) and
    // its shutdown stops hooks itself. ^C and ^\\ from a terminal reach the whole group already:
    // SIGINT and SIGQUIT are passed on only where no terminal could have sent them.
    const fromTerminal = process.stdin.isTTY === true || process.stdout.isTTY === true || process.stderr.isTTY === true;
    const signals: NodeJS.Signals[] = out ? [] : ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
    const onSignal = (sig: NodeJS.Signals) => {
      // ^C from a terminal reaches the group without us, but what it ends is ours to finish.
      if (sig !== 'SIGUSR1' && sig !== 'SIGUSR2') tree.stopping(child.pid);
      if ((sig === 'SIGINT' || sig === 'SIGQUIT') && fromTerminal) return;
      void tree.signal(child.pid, sig);
    };
    // Before the spawn, which takes a while: a signal that comes meanwhile is not the default's
    // (the CLI killed, the command left running). Node runs the listener later, with `child` set.
    for (const s of signals) process.on(s, onSignal);
    const child = tree.spawnLeader(() =>
      spawnProcess(file, args, {
        cwd: spec.cwd,
        env: tree.env(spec.env),
        stdio: out ? ['ignore', 'pipe', 'pipe'] : 'inherit',
        uid: spec.uid,
        gid: spec.gid,
        // A foreground command stays in the terminal's group, which sends it ^C itself.
        detached: !terminal,
      }),
    );
    tree.watch(child.pid);
    let killTimer: NodeJS.Timeout | null = null;
    const stopTree = (why: string) => {
      if (child.pid === undefined || settled || killTimer !== null) return;
      // Named: in an app's log (and serve's terminal) a bare `stopped:` read as the gateway's own end.
      const what = spec.diagnose === undefined ? 'the command' : 'key' in spec.diagnose ? spec.diagnose.key : spec.diagnose.argv[0];
      out?.write(`apppkg-gateway: ${what} stopped: ${why}\n`);
      // The whole tree, told so: `end`, once the hook has exited, sends its group none again.
      tree.stop(child.pid);
      killTimer = setTimeout(() => child.pid !== undefined && killTree(child.pid), STOP_KILL_MS);
    };
    const stop = () => stopTree('the gateway is stopping');
    if (background?.stop.aborted) queueMicrotask(stop);
    else background?.stop.addEventListener('abort', stop, { once: true });
    const forwardOutput = (chunk: Buffer) => out!.write(chunk);
    if (out) {
      child.stdout!.on('data', forwardOutput);
      child.stderr!.on('data', forwardOutput);
    }
    // As a stop: SIGTERM to the whole tree (a migration may roll back its transaction), SIGKILL
    // 3 s later; what it started in the background or with setsid goes too.
    const timer = spec.timeoutMs
      ? setTimeout(() => {
          if (settled) return;
          spec.onTimeout?.();
          stopTree(`it ran longer than ${spec.timeoutMs! / 1000} s`);
        }, spec.timeoutMs)
      : null;
    let drainTimer: NodeJS.Timeout | null = null;
    // What the command left in its group, or started with setsid (a daemon), ends once it has
    // exited, a background job of its shell's (`sleep 300 &`) included: its status is the
    // command's, whatever those would have done (SPEC 4; `docker run` ends them the same way).
    let ending: Promise<void> | null = null;
    const end = () => (ending ??= tree.end(child.pid, STOP_KILL_MS));
    const done = (status: number) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      if (killTimer) clearTimeout(killTimer);
      background?.stop.removeEventListener('abort', stop);
      for (const s of signals) process.off(s, onSignal);
      if (out) {
        // Nothing reaches `output` once we have resolved (its owner may end it), and a pipe a
        // grandchild still holds must not keep our event loop alive.
        child.stdout!.off('data', forwardOutput).destroy();
        child.stderr!.off('data', forwardOutput).destroy();
      }
      void end()
        .then(() => explain(status))
        .finally(() => resolve(status));
    };
    // Said after the command's own output, before its status is passed on (its caller may end `out`).
    let spawnFailed = false;
    const runner = spec.uid === undefined ? null : { user: String(spec.uid), uid: spec.uid, gid: spec.gid ?? spec.uid };
    const explain = async (status: number): Promise<void> => {
      if ((status !== 127 && status !== 126) || spawnFailed || spec.diagnose === undefined) return;
      const failure = await exitFailure(spec.diagnose, spec.cwd, spec.env.PATH ?? '', runner).catch(() => null);
      if (failure !== null) (out ?? process.stderr).write(`apppkg-gateway: ${failure.format()}\n`);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnFailed = true;
      const status = err.code === 'ENOENT' ? 127 : 126;
      void spawnFailure(file, err, spec.cwd, spec.env.PATH ?? '', runner).then((failure) => {
        (out ?? process.stderr).write(`apppkg-gateway: ${failure.format()}\n`);
        done(status);
      });
    });
    // 'exit' can come before the last of the piped output has been read: wait for 'close'
    // (every pipe at EOF), but only briefly, since a daemon the child started may hold them
    // (ended meanwhile: its SIGTERM is sent now, not after the wait).
    child.on('exit', (code, signal) => {
      const status = code ?? 128 + (signal ? constants.signals[signal] : 0);
      void end();
      if (!out) return done(status);
      child.once('close', () => done(status));
      drainTimer = setTimeout(() => done(status), OUTPUT_DRAIN_MS);
    });
  });
}
