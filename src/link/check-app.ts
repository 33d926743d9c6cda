// `python apppkg_shim_main.py check`: import the app in a throwaway process, as a worker
// would (same sys.path, same environment), and say whether it is a callable. The CLI's
// `check` command uses it; it never spawns a worker or touches the link.

import { spawn } from 'node:child_process';
import treeKill from 'tree-kill';
import { GatewayError } from '../errors.js';
import { LineTap, startError } from './shim-output.js';
import { SHIM_MAIN } from './shim-path.js';

/** What the check needs of an app's environment (environment/app-env.ts's AppEnvironment fits). */
export interface CheckEnvironment {
  python: string;
  env: Record<string, string>;
  appDir: string;
  sysPath: string[];
  name: string;
}

export interface AppCheck {
  /** e.g. "function, Python 3.11.7" */
  detail: string;
  /** The type of the app object. */
  type: string;
  python: string;
  executable: string;
  sysPath: string[];
  /** An ASGI app: whether it speaks lifespan (its startup and shutdown ran); null for WSGI. */
  lifespan: 'supported' | 'unsupported' | null;
}

/** How long `check` lets an ASGI app's lifespan startup (and then its shutdown) take. */
export const CHECK_LIFESPAN_MS = 5000;

/**
 * Resolves when `app` imports and is callable (an ASGI app: and its lifespan startup completes
 * within CHECK_LIFESPAN_MS); rejects with APPPKG_APP_IMPORT_FAILED (details: app, where
 * "file:line", reason, traceback), APPPKG_APP_NOT_CALLABLE, APPPKG_APP_LIFESPAN_FAILED, or
 * APPPKG_WORKER_START_FAILED (the interpreter would not run, or the deadline passed).
 */
export function checkAppImport(appEnv: CheckEnvironment, app: string, deadlineMs = 60_000, kind: 'wsgi' | 'asgi' = 'wsgi'): Promise<AppCheck> {
  return new Promise((resolve, reject) => {
    const config = JSON.stringify({ app, kind, sysPath: appEnv.sysPath, threads: 1, multiprocess: false, development: true, name: appEnv.name, lifespanWithinMs: CHECK_LIFESPAN_MS });
    const child = spawn(appEnv.python, [SHIM_MAIN, 'check'], {
      cwd: appEnv.appDir,
      env: { ...appEnv.env, APPPKG_SHIM_CONFIG: config, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const tap = new LineTap(() => undefined, () => true);
    child.stdout.setEncoding('utf8'); // decoded across reads: one may end inside a character
    child.stdout.on('data', (c: string) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => tap.push(c));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) treeKill(child.pid, 'SIGKILL');
      reject(new GatewayError('APPPKG_WORKER_START_FAILED', { app, reason: `the import did not finish within ${deadlineMs} ms` }));
    }, deadlineMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new GatewayError('APPPKG_WORKER_START_FAILED', { app, reason: `cannot run ${appEnv.python}: ${e.message}`, cause: e }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      tap.end();
      let result: Partial<AppCheck> & { ok?: boolean } = {};
      try {
        result = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof result;
      } catch {
        // no JSON: judged by the exit status below
      }
      if (code === 0 && result.ok) {
        resolve({
          detail: `${result.type ?? 'callable'}, Python ${result.python ?? '?'}`,
          type: result.type ?? 'callable',
          python: result.python ?? '',
          executable: result.executable ?? appEnv.python,
          sysPath: result.sysPath ?? [],
          lifespan: result.lifespan ?? null,
        });
      } else {
        reject(startError(app, code, signal, tap));
      }
    });
  });
}
