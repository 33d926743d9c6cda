// From an app's context to a running AppInstance: its log, its worker count and limits (the
// environment file's overrides over the defaults below), its start.
import { appLogOptions, atAppKey, type AppContext } from '../app-context.js';
import { debMissing, pipCovers } from '../environment/checks.js';
import { explainSystemModuleImport } from '../environment/system-module.js';
import { namingFixes, type CommandWords } from '../command-words.js';
import { isGatewayError, type GatewayError } from '../errors.js';
import { vendorHostMismatch } from '../lifecycle/vendor-check.js';
import { AppLog } from '../log/app-log.js';
import { countOf } from '../count.js';
import { testKnob } from '../test-knob.js';
import { ensureServicesAtWake } from '../services/wake-services.js';
import { startWaitMs } from './published-apps.js';
import { AppInstance } from './app-instance.js';
import type { AppHistory } from './app-history.js';
import type { RequestTally } from '../admin/request-tally.js';
import type { StartSteps } from './start-steps.js';
import type { WorkerBudget } from './worker-budget.js';

export interface StartAppOptions {
  development: boolean;
  say: (line: string) => void;
  /** What its fixes call a command: the CLI's (the default) or the library's methods. */
  commandWords?: CommandWords;
  /** A failed wake's fix in the caller's words, as its version's refusal says it (version-judge.ts); else commandWords alone. */
  inCallersWords?: (error: GatewayError) => GatewayError;
  /** Copy the app's output to the terminal too (serve). */
  echoLogs?: boolean;
  workers?: number;
  threads?: number;
  /** The app's history: its processes' deaths are recorded there. */
  history?: AppHistory;
  /** What the version answered before (its earlier instances): this one adds to it. */
  tally?: RequestTally;
  /** --max-workers: room for the workers is held before they start, and asked for when the app wakes. */
  budget?: WorkerBudget;
  /** Aborted when the gateway stops: a start under way (an import that hangs) is stopped then. */
  stop?: AbortSignal;
  /** The gateway's drain (--grace), for an app whose environment gives no `drain`. */
  drainMs?: number;
  /** Its mount as its `processes:` are told it (APPPKG_MOUNT): empty at the root. */
  mount?: string;
  /**
   * Told the instance before any of its processes spawn: the caller lists them (pids, status)
   * while they import and are probed, which may take the whole start bound.
   */
  created?: (instance: AppInstance) => void;
  /** Each wake of the app from idle, its time in seconds (/metrics' histogram). */
  onColdStart?: (seconds: number) => void;
  /** The app's other instances (a draining version) hold a request or a websocket: it is not idle meanwhile. */
  othersBusy?: () => boolean;
  /** What the start waits for, for status: room under --max-workers here, then each worker's and process's steps. */
  wait?: StartSteps;
  /**
   * The app takes traffic from its first worker up (SPEC 4: each worker passes its probe before
   * it gets any), the others joining as they come up: for an app no other version serves, whose
   * requests wait for the start. Not for a new version beside a serving one: it switches only
   * once all its workers are up, and one that fails refuses it while the old version serves.
   * Nor under --max-workers or with idle_timeout (AppInstance.start says why).
   */
  serveFromFirstWorker?: boolean;
}

export const DEFAULT_WORKERS = 2;
export const DEFAULT_THREADS = 8;
/** Requests an app may hold waiting for a free thread before it answers 503 (`queue`). */
export const DEFAULT_QUEUE = 1024;
/** Seconds an app has to send its response head before 504 (`timeout`). */
export const DEFAULT_TIMEOUT_S = 60;
/** The largest request body, 100 MiB (`max_body`), as nginx's client_max_body_size but larger. */
export const DEFAULT_MAX_BODY = 100 * 1024 * 1024;
/**
 * The largest websocket message from a client when `max_body` is not set: uvicorn's
 * `ws_max_size`, 16 MiB. Not max_body's 100 MiB: a message is held whole, by Node and again
 * by the worker, where a body streams through within its window.
 */
export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024;
/** How long a worker may take to import the app, or a process to listen. */
export const START_TIMEOUT_MS = 60_000;
/** A shorter default bound, for a test of an app run with no environment file to set start_timeout in. */
export const START_TIMEOUT_ENV = 'APPPKG_TEST_START_TIMEOUT_MS';

/** The app's start bound: its `start_timeout` in the environment file (per app or under defaults), else START_TIMEOUT_MS. */
export function startTimeoutMsOf(overrides: { startTimeout: number | null }): number {
  return overrides.startTimeout === null ? testKnob(START_TIMEOUT_ENV, START_TIMEOUT_MS) : overrides.startTimeout * 1000;
}

export async function startApp(ctx: AppContext, opts: StartAppOptions): Promise<AppInstance> {
  const log = new AppLog(ctx.appEnv.logDir, {
    echo: opts.echoLogs ? process.stderr : null,
    ...appLogOptions(ctx),
    onError: (err, retrying) => {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      // A full disk is tried at each line; a file that cannot be opened (its directory gone and
      // not made again) at each rotation point and SIGUSR1.
      const until = code === 'ENOSPC' || code === 'EDQUOT' ? 'one can be written again (free space on it)' : 'it can be opened again (tried at its next rotation point, 10 MB on, and at SIGUSR1)';
      const then = retrying ? `its lines are dropped until ${until}; the app keeps running` : 'the app keeps running without a log file';
      opts.say(`${ctx.desc.name}: cannot write ${ctx.appEnv.logDir}/app.log (${code}); ${then}`);
    },
    onRecover: (dropped) => opts.say(`${ctx.desc.name}: ${ctx.appEnv.logDir}/app.log is written again (${dropped} bytes of output were lost)`),
  });
  const o = ctx.overrides;
  // platform: python, command: processes.web is the app's server; no WSGI workers.
  let workers = ctx.desc.kind === 'command' ? 0 : (opts.workers ?? o.workers ?? DEFAULT_WORKERS);
  if (opts.budget && workers > opts.budget.max) {
    // More than the whole budget could never start: every request would wait for room that
    // cannot be made. The budget is the host's bound, so it wins, and the log says so.
    opts.say(`${ctx.desc.name}: workers ${workers} is more than ${opts.budget.maxWorkersKey} ${opts.budget.max}; it runs ${opts.budget.max}`);
    workers = opts.budget.max;
  }
  const instance = new AppInstance({
    desc: ctx.desc,
    appEnv: ctx.appEnv,
    workers,
    threads: opts.threads ?? o.threads ?? DEFAULT_THREADS,
    development: opts.development,
    log,
    limits: {
      queue: o.queue ?? DEFAULT_QUEUE,
      timeoutMs: (o.timeout ?? DEFAULT_TIMEOUT_S) * 1000,
      wakeWaitMs: startWaitMs(startTimeoutMsOf(o)),
      maxBody: o.maxBody ?? DEFAULT_MAX_BODY,
      maxMessage: o.maxBody ?? DEFAULT_MAX_MESSAGE,
    },
    startTimeoutMs: startTimeoutMsOf(o),
    say: opts.say,
    maxRequests: o.maxRequests ?? 0,
    maxMemory: o.maxMemory ?? 0,
    versionDrainMs: o.drain === null ? opts.drainMs : o.drain * 1000,
    uid: ctx.runAs?.uid,
    gid: ctx.runAs?.gid,
    history: opts.history,
    tally: opts.tally,
    idleTimeoutMs: (o.idleTimeout ?? 0) * 1000,
    othersBusy: opts.othersBusy,
    beforeWake: () => ensureServicesAtWake({ desc: ctx.desc, hostEnv: ctx.hostEnv, stateRoot: ctx.stateRoot, say: opts.say, restoreWords: opts.commandWords?.restore }),
    commandWords: opts.commandWords,
    inCallersWords: opts.inCallersWords,
    budget: opts.budget,
    mount: opts.mount,
    startSteps: opts.wait,
    serveFromFirstWorker: opts.serveFromFirstWorker,
    onColdStart: opts.onColdStart && ((ms) => opts.onColdStart!(ms / 1000)),
  });
  opts.created?.(instance);
  // SPEC 1.3: the deb packages are what the app imports from the system interpreter. One not
  // installed is said as `check` says it, in the app's log and the gateway's, but not refused:
  // SPEC 1 refuses a start without a setting, not without these, and an app may import one
  // only where it needs it (a view, a command). If the import fails, the refusal names it.
  const missingDebs = await debMissing(ctx.desc, (missing) => pipCovers(missing, ctx.desc, Promise.resolve(ctx.interpreter), ctx.runAs ?? null)).catch(() => null);
  const debs = missingDebs && opts.commandWords ? namingFixes(missingDebs, opts.commandWords, ctx.desc.dir) : missingDebs;
  if (debs !== null) {
    const those = String(debs.details.missing).includes(' ') ? 'those packages' : 'that package';
    const line = `${debs.placedMessage}; starting the app anyway, but what it imports from ${those} is not there; fix: ${debs.hint}`;
    opts.say(`${ctx.desc.name}: ${line}`);
    log.note(line);
  }
  const stopStarting = (): void => void instance.stop(0);
  opts.stop?.addEventListener('abort', stopStarting, { once: true });
  try {
    if (opts.stop?.aborted) stopStarting();
    // The budget counts these workers from before they spawn until the caller adds the instance
    // (or removes it): the bound holds while other apps start alongside (worker-budget.ts).
    await opts.budget?.reserve(instance, workers, (waking) => {
      const why = waking.length === 0 ? 'every running app holds requests' : `${waking.join(', ')} ${waking.length === 1 ? 'is' : 'are'} waking (room is made once that ends)`;
      opts.say(`${ctx.desc.name}: waiting for room under ${opts.budget!.maxWorkersKey} ${opts.budget!.max}: ${why}`);
      opts.wait?.judge('room', `room for ${countOf(workers, 'worker')} under ${opts.budget!.maxWorkersKey} ${opts.budget!.max}: ${why}`);
    }, opts.stop);
    opts.wait?.judgeDone();
    await instance.start();
  } catch (caught) {
    opts.budget?.remove(instance);
    log.end();
    const explained = await explainedImportFailure(ctx, debs !== null ? missingDebImport(debs, caught) : caught);
    const err = atAppKey(await explainSystemModuleImport(explained, ctx.desc, ctx.interpreter), ctx.desc);
    // Under serve the terminal has shown each failing worker's traceback (echoLogs) already:
    // the error need not carry it to the terminal once more (run-loop's printAppError). It says
    // it was shown, for a fix made again from these details (namingFixes, serve's words) to
    // point above as the first one did.
    if (opts.echoLogs && isGatewayError(err) && err.details.traceback !== undefined) {
      delete err.details.traceback;
      err.details.tracebackShown = true;
    }
    throw err;
  } finally {
    opts.stop?.removeEventListener('abort', stopStarting);
  }
  return instance;
}

/**
 * A vendored compiled distribution this interpreter cannot load makes its import fail as
 * "No module named ..." (Python looks for another file name): the refusal then says what
 * `check` says, with its fix, and keeps the traceback (its last lines follow the refusal).
 */
async function explainedImportFailure(ctx: AppContext, err: unknown): Promise<unknown> {
  if (!isGatewayError(err) || err.code !== 'APPPKG_APP_IMPORT_FAILED' || ctx.desc.paths.length === 0) return err;
  const mismatch: GatewayError | null = await vendorHostMismatch(ctx.desc, ctx.interpreter, { pythonOverride: ctx.overrides.python ?? undefined, environmentFile: ctx.environmentFile ?? undefined }).catch(() => null);
  if (mismatch === null) return err;
  mismatch.details.traceback = err.details.traceback;
  mismatch.details.cause = err;
  return mismatch;
}

/**
 * An import that failed for want of a module, with `deb:` packages not installed: the refusal
 * is the missing packages, with `check`'s fix (apt-get install), and keeps the traceback.
 */
function missingDebImport(debs: GatewayError, err: unknown): unknown {
  if (!isGatewayError(err) || err.code !== 'APPPKG_APP_IMPORT_FAILED' || !/^(ModuleNotFoundError|ImportError)\b/.test(String(err.details.reason))) return err;
  debs.details.traceback = err.details.traceback;
  debs.details.cause = err;
  return debs;
}
