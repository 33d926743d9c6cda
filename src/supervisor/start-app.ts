// From an app's context to a running AppInstance: its log, its worker count, its start.
import type { AppContext } from '../app-context.js';
import { AppLog } from '../log/app-log.js';
import { AppInstance } from './app-instance.js';

export interface StartAppOptions {
  development: boolean;
  say: (line: string) => void;
  /** Copy the app's output to the terminal too (serve). */
  echoLogs?: boolean;
  workers?: number;
  threads?: number;
}

export const DEFAULT_WORKERS = 2;
export const DEFAULT_THREADS = 8;

export async function startApp(ctx: AppContext, opts: StartAppOptions): Promise<AppInstance> {
  const log = new AppLog(ctx.appEnv.logDir, {
    echo: opts.echoLogs ? process.stderr : null,
    onError: (err) => opts.say(`${ctx.desc.name}: cannot write ${ctx.appEnv.logDir}/app.log (${(err as NodeJS.ErrnoException).code ?? err.message}); the app keeps running without a log file`),
  });
  const threads = opts.threads ?? ctx.overrides.threads ?? DEFAULT_THREADS;
  const instance = new AppInstance({
    desc: ctx.desc,
    appEnv: ctx.appEnv,
    workers: opts.workers ?? ctx.overrides.workers ?? DEFAULT_WORKERS,
    threads,
    development: opts.development,
    log,
    maxQueue: 1024,
    startTimeoutMs: 60_000,
    say: opts.say,
  });
  try {
    await instance.start();
  } catch (err) {
    log.end();
    throw err;
  }
  return instance;
}
