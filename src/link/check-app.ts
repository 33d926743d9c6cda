// `python apppkg_shim_main.py check`: import the app in a throwaway process, as a worker
// would (same sys.path, same environment), and say whether it is a callable. The CLI's
// `check` command uses it; it never spawns a worker or touches the link.

import { spawn } from 'node:child_process';
import treeKill from 'tree-kill';
import { GatewayError } from '../errors.js';
import { LINK_PROTOCOL } from './frames.js';
import { LineTap, startError } from './shim-output.js';
import { SHIM_MAIN } from './shim-path.js';
import { silenceTimeout } from '../net/after-next-poll.js';
import { testKnob } from '../test-knob.js';

/** What the check needs of an app's environment (environment/app-env.ts's AppEnvironment fits). */
export interface CheckEnvironment {
  python: string;
  env: Record<string, string>;
  appDir: string;
  sysPath: string[];
  name: string;
  /** The user the app's processes run as, when the gateway switches users (as root); else absent. */
  runAs?: { uid: number; gid: number } | null;
}

export interface AppCheck {
  /** e.g. "function, Python 3.11.7" */
  detail: string;
  /** The type of the app object. */
  type: string;
  python: string;
  executable: string;
  sysPath: string[];
  /**
   * An ASGI app: whether it speaks lifespan (it answered startup and shutdown with `complete`;
   * what ran for them, if anything, the shim cannot see); null for WSGI.
   */
  lifespan: 'supported' | 'unsupported' | null;
  /**
   * [class, its package's version] of an app that kept the `lifespan=` it was given as an
   * unknown keyword (FastAPI before 0.93): the function named never ran. null otherwise.
   */
  lifespanIgnored: [string, string] | null;
  /** [top-level module, file] of what the import loaded from dist-packages directories (Debian's). */
  distPackages: Array<[string, string]>;
  /** A `cherrypy.tree`: the paths its apps are mounted at ("" for /); null for any other app. */
  treeMounts: string[] | null;
}

/** How long `check` lets an ASGI app's lifespan startup (and then its shutdown) take. */
export const CHECK_LIFESPAN_MS = 5000;

/**
 * The process tree the import runs in (supervisor/process-group.ts's GuardedTree fits): what the
 * app's import starts (a helper it Popens, a daemon) ends with the check.
 */
export interface ImportTree {
  /** `spawn()`, the import's, run so that its process is born in the tree's cgroup, where it has one. */
  spawnLeader<T extends { pid?: number }>(spawn: () => T): T;
  /** The import's environment, with the tree's mark. */
  env(env: Record<string, string>): NodeJS.ProcessEnv;
  /** The import's process is spawned (the leader of its own group). */
  watch(pid: number | undefined): void;
  /** It has exited: SIGTERM to what it left behind, SIGKILL past `graceMs`; resolves once none is left. */
  end(pid: number | undefined, graceMs: number): Promise<void>;
}

/** How long the import may take: a worker's bound by default (`start_timeout`, 60 s). */
const IMPORT_WITHIN_MS = 60_000;
/** Lowers IMPORT_WITHIN_MS for a test of what comes past it (test-knob.ts). */
export const IMPORT_WITHIN_ENV = 'APPPKG_TEST_CHECK_IMPORT_MS';

/** What the import left behind has this long after SIGTERM. */
const LEFT_BEHIND_GRACE_MS = 3000;
/** After the import's exit, how long its piped output may take to reach EOF. */
const OUTPUT_DRAIN_MS = 2000;

/**
 * Resolves when `app` imports and is callable (an ASGI app: and its lifespan startup completes
 * within CHECK_LIFESPAN_MS); rejects with APPPKG_APP_IMPORT_FAILED (details: app, where
 * "file:line", reason, traceback), APPPKG_APP_NOT_CALLABLE, APPPKG_APP_LIFESPAN_FAILED, or
 * APPPKG_WORKER_START_FAILED (the interpreter would not run, or the deadline passed). With a
 * `tree`, the import runs in it and settles once what the import started has ended. With
 * `hideModules`, those top-level modules cannot be imported (as on a host without them), and an
 * ASGI app's lifespan is not run: whether the app imports so is the question.
 */
export function checkAppImport(
  appEnv: CheckEnvironment,
  app: string,
  deadlineMs = testKnob(IMPORT_WITHIN_ENV, IMPORT_WITHIN_MS),
  kind: 'wsgi' | 'asgi' = 'wsgi',
  tree?: ImportTree,
  hideModules: readonly string[] = [],
): Promise<AppCheck> {
  return new Promise((resolve, reject) => {
    // A start that fails names the app by these first: `app:` (wsgi:app) names no app.
    const whose = { name: appEnv.name, dir: appEnv.appDir };
    const config = JSON.stringify({ protocol: LINK_PROTOCOL, app, kind, sysPath: appEnv.sysPath, threads: 1, multiprocess: false, development: true, name: appEnv.name, lifespanWithinMs: CHECK_LIFESPAN_MS, ...(hideModules.length > 0 ? { hideModules } : {}) });
    const env = { ...appEnv.env, APPPKG_SHIM_CONFIG: config, PYTHONUNBUFFERED: '1' };
    const spawnImport = () =>
      spawn(appEnv.python, [SHIM_MAIN, 'check'], {
        cwd: appEnv.appDir,
        env: tree ? tree.env(env) : env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: tree !== undefined,
        uid: appEnv.runAs?.uid,
        gid: appEnv.runAs?.gid,
      });
    // Moved into its cgroup after the spawn, what the import forks at once (a helper it starts
    // with setsid) would be born outside it, and outlive the check's end of the tree.
    const child = tree ? tree.spawnLeader(spawnImport) : spawnImport();
    tree?.watch(child.pid);
    let settled = false;
    let ending: Promise<void> | null = null;
    const endTree = () => {
      if (tree) ending ??= tree.end(child.pid, LEFT_BEHIND_GRACE_MS);
    };
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (drainTimer) clearTimeout(drainTimer);
      // A process the app started holds the pipes it inherited: they must not keep us waiting.
      child.stdout.destroy();
      child.stderr.destroy();
      void (ending ?? Promise.resolve()).finally(outcome);
    };
    let stdout = '';
    const tap = new LineTap(() => undefined, () => true);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let drainTimer: NodeJS.Timeout | null = null;
    const judge = () => {
      if (exit === null || settled) return;
      tap.end();
      const { code, signal } = exit;
      const result = resultOf(stdout, app) ?? {};
      if (code === 0 && result.ok) {
        settle(() =>
          resolve({
            detail: `${result.type ?? 'callable'}, Python ${result.python ?? '?'}`,
            type: result.type ?? 'callable',
            python: result.python ?? '',
            executable: result.executable ?? appEnv.python,
            sysPath: result.sysPath ?? [],
            lifespan: result.lifespan ?? null,
            distPackages: result.distPackages ?? [],
            treeMounts: result.treeMounts ?? null,
            lifespanIgnored: result.lifespanIgnored ?? null,
          }),
        );
      } else {
        const error = startError(app, code, signal, tap, whose);
        // check keeps no app log: a traceback is printed above its line.
        settle(() => reject(error.code === 'APPPKG_APP_LIFESPAN_FAILED' ? new GatewayError(error.code, { ...error.details, log: "check's output, above" }) : error));
      }
    };
    // The result is the last line on stdout, written before the import's exit: with both, the
    // check is done, whether or not a process the app started still holds the pipes (EOF on
    // them would wait for that process's end). A failure's traceback comes on stderr, read to
    // its EOF (soon: what held it is ended at the exit), or for OUTPUT_DRAIN_MS.
    const resultLine = () => exit !== null && exit.code === 0 && resultOf(stdout, app) !== null;
    child.stdout.setEncoding('utf8'); // decoded across reads: one may end inside a character
    child.stdout.on('data', (c: string) => {
      stdout += c;
      if (resultLine()) judge();
    });
    child.stderr.on('data', (c: Buffer) => tap.push(c));
    // Its result and exit may be in the kernel, in time, after a stall of our loop: read first.
    const timer = silenceTimeout(() => {
      if (settled) return;
      if (child.pid !== undefined) treeKill(child.pid, 'SIGKILL');
      endTree();
      settle(() => reject(new GatewayError('APPPKG_WORKER_START_FAILED', { ...whose, app, reason: `the import did not finish within ${deadlineMs} ms` })));
    }, deadlineMs);
    child.once('error', (e) => {
      settle(() => reject(new GatewayError('APPPKG_WORKER_START_FAILED', { ...whose, app, reason: `cannot run ${appEnv.python}: ${e.message}`, cause: e })));
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      endTree();
      if (resultLine()) return judge();
      drainTimer = setTimeout(judge, OUTPUT_DRAIN_MS);
    });
    child.once('close', judge);
  });
}

type ShimResult = Partial<AppCheck> & { ok?: boolean; app?: string };

/** The shim's result, the last whole line of `stdout` (null: not there, or not yet read). */
function resultOf(stdout: string, app: string): ShimResult | null {
  if (!stdout.endsWith('\n')) return null;
  try {
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as ShimResult;
    // A line the app itself printed at import is not the shim's.
    return typeof result === 'object' && result !== null && result.app === app && typeof result.ok === 'boolean' ? result : null;
  } catch {
    return null;
  }
}
