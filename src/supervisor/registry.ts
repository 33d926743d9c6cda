// Desired state (the packages its source finds) against actual state (running instances),
// made equal by reconcile(): a first install runs commands.install, a new version runs
// commands.update, starts, passes its probe and only then takes traffic while the old one
// drains; a version that fails any step never serves and is not retried until a file in it
// changes. A version is judged only once its directory has settled (nothing in it changed for
// `settleMs`): a `cp -r` lands app.yaml seconds before the code (issue 13).
// Under --apps an app with `pip:` gets its virtualenv built (or reused) before its hooks run,
// and a refusal names the app's log and carries the last lines of its traceback or output.
// Removing the newest version rolls back the same way; restart() replaces a serving version
// with a fresh instance of itself the same way (serve --reload, the admin's restart), and
// rollback() serves the version below the serving one, keeping the one it left out of rotation
// until a file in it changes. One reconcile runs at a time, judging a few apps at once, each
// published as soon as it is judged. Each app keeps a short history of these events for status.
// Each description is read once, by the source, and that value is what the instance runs.
// The environment file as last read is the registry's too: useEnvironment() replaces it and
// restarts the apps it names, the way restart() does.
// A version taken out of rotation drains for `drainMs`: its requests finish, its websockets stay
// open until then (then 1012), and status counts them under that version.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { BrokenPackageStatus } from '../admin/status-types.js';
import { resolveApp, type AppContext, type RunMode } from '../app-context.js';
import type { Description } from '../description/types.js';
import { compareVersions, parsePackageDirName } from '../description/package-dir.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { countOf } from '../count.js';
import { runInAppEnvironment } from '../lifecycle/run-command.js';
import { AppLog } from '../log/app-log.js';
import { AppHistory } from './app-history.js';
import type { AppRecord } from './app-record.js';
import { appStatusOf, type SupervisedAppStatus } from './registry-status.js';
import type { AppInstance } from './app-instance.js';
import type { RunAs } from '../environment/run-as.js';
import { realDir, type AppSource, type BrokenPackage } from './discovery.js';
import { buildAppVenv, type PendingVenv } from './app-venv.js';
import { hasSettled, readPackageTree } from './package-tree.js';
import { appLogFile, formatRefusal, reasonOf, refusalUnderApps } from './refusal.js';
import { startApp } from './start-app.js';
import { WorkerBudget } from './worker-budget.js';

/** A host name (null = any) and a path prefix ('' = the root) that lead to an app. */
export interface RouteSpec {
  host: string | null;
  prefix: string;
}

/** One app as the registry publishes it: the version that serves, and the routes to it. */
export interface ServingApp {
  name: string;
  routes: RouteSpec[];
  instance: AppInstance;
}

/** RefusedApp.code of an app whose first version is still starting. */
export const STARTING = 'starting';

/** An app no version of which serves, refused (its import failed, say), or starting: its routes and why. */
export interface RefusedApp {
  name: string;
  routes: RouteSpec[];
  code: string;
}

export interface RegistryOptions {
  source: AppSource;
  /** The environment file as read at the start; useEnvironment() replaces it. */
  hostEnv: HostEnvironment;
  stateDir?: string;
  /** production: --apps (app users, hooks); development: serve (tracebacks, the caller's settings). */
  mode: RunMode;
  /** Where the requests to each app come in (its mount, its hosts). */
  routesOf: (name: string) => RouteSpec[];
  /** The app's mount, as status and the log show it. */
  mountOf: (name: string) => string;
  /**
   * Told the serving version of every app after each change: the proxy routes to these; and the
   * apps that serve nothing because they were refused: the proxy answers for them (503).
   */
  publish: (apps: ServingApp[], refused: RefusedApp[]) => void;
  say: (line: string) => void;
  /** How long a draining version may finish its requests and keep its websockets. */
  drainMs: number;
  /** Bound on lifecycle hooks (install, update). */
  hookTimeoutMs: number;
  /** Run commands.install on an app's first start and commands.update on a new version. */
  runHooks: boolean;
  /** Copy each app's output to the terminal too (serve). */
  echoLogs?: boolean;
  /** Workers and threads of every app, over the environment file (serve --workers/--threads). */
  workers?: number;
  threads?: number;
  /** Told when an app disappears from the source (its metrics are dropped). */
  onRemoved?: (name: string) => void;
  /**
   * How long nothing in a version's directory must change before the version is judged
   * (started or refused); 0 = at once (serve).
   */
  settleMs?: number;
  /** Told instead of the log line when a version is refused (serve reports its own way). */
  onRefused?: (name: string, error: GatewayError, stillServing: boolean) => void;
  /** Told instead of the "skipping" log line when a package's app.yaml cannot be loaded. */
  onBroken?: (dir: string, error: GatewayError) => void;
  /** --max-workers: Python workers of every app together (idle apps sleep to make room). */
  maxWorkers?: number;
}

/**
 * Apps judged at once in a reconcile. Starting one is mostly its interpreter importing, bound
 * by the CPU, so more than the cores gains little; at least four, so that a few imports that
 * hang until the start deadline leave room for the rest.
 */
const START_CONCURRENCY = Math.max(4, availableParallelism());

/** A version refused with this code is tried again by itself: the server, not the app, failed. */
const SERVICE_UNAVAILABLE = 'APPPKG_SERVICE_UNAVAILABLE';
const SERVICE_RETRY_FIRST_MS = 1000;
const SERVICE_RETRY_MAX_MS = 60_000;

/**
 * Changes to these make a serving version "changed" (it is started afresh): its directory, its
 * app.yaml. Only these: an app that writes files into its own directory must not restart.
 */
function fingerprint(desc: Description): string {
  try {
    const st = statSync(desc.file);
    return `${desc.dir}|${st.size}|${st.mtimeMs}`;
  } catch {
    return `${desc.dir}|gone`;
  }
}

export type { SupervisedAppStatus } from './registry-status.js';

/** What a rollback did: the versions it went from and to. */
export interface Rollback {
  from: string;
  to: string;
}

export class Registry {
  private records = new Map<string, AppRecord>();
  private broken: BrokenPackage[] = [];
  private running: Promise<void> | null = null;
  /** The run after the one under way, shared by every call made meanwhile. */
  private next: Promise<void> | null = null;
  private stopped = false;
  /** Aborted by stop(): a hook running then is stopped with its process group. */
  private readonly stopping = new AbortController();
  /** A reconcile due when the earliest settling version will have settled. */
  private settleTimer: { at: number; timer: NodeJS.Timeout } | null = null;
  /** Versions out of rotation, until their processes are gone; what each runs, for status. */
  private draining = new Map<AppInstance, { desc: Description; done: Promise<void> }>();

  private readonly budget: WorkerBudget | null;
  /** The environment file as last read: what an app that starts now is started with. */
  private currentHostEnv: HostEnvironment;

  constructor(private readonly opts: RegistryOptions) {
    this.budget = opts.maxWorkers ? new WorkerBudget(opts.maxWorkers) : null;
    this.currentHostEnv = opts.hostEnv;
  }

  /** The environment the apps are started with (RegistryOptions.hostEnv until useEnvironment()). */
  get hostEnv(): HostEnvironment {
    return this.currentHostEnv;
  }

  /**
   * Starts apps with `hostEnv` from now on (the environment file read again, SIGHUP). Each app
   * of `restart` is replaced as restart() does, so that its processes get what changed; its
   * refused versions are tried again, since a setting they missed may be there now. The other
   * apps keep their processes; the routes of every app are published again (a new mount).
   */
  useEnvironment(hostEnv: HostEnvironment, restart: string[]): Promise<void> {
    this.currentHostEnv = hostEnv;
    for (const name of restart) {
      const record = this.records.get(name);
      if (record === undefined) continue;
      record.restart = true;
      record.refused.clear();
    }
    return this.reconcile();
  }

  /**
   * Makes the running apps match the source. Calls made while one runs coalesce into one more
   * run after it, and resolve when that run is done (it saw what they asked for); `force`
   * (SIGHUP) also retries versions refused before.
   */
  reconcile(force = false): Promise<void> {
    if (force) for (const record of this.records.values()) record.refused.clear();
    if (this.running) {
      this.next ??= this.running.then(() => {
        this.next = null;
        return this.stopped ? undefined : this.reconcile();
      });
      return this.next;
    }
    this.running = this.reconcileOnce()
      .catch((err) => this.opts.say(reconcileFailure(err)))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /**
   * Replaces the serving version of `name` (every app when omitted) with a fresh instance of it;
   * an app that serves nothing tries its versions again, the refused ones included.
   */
  restart(name?: string): Promise<void> {
    for (const record of this.records.values()) {
      if (name !== undefined && record.name !== name) continue;
      record.restart = true;
      if (!record.serving) record.refused.clear();
    }
    return this.reconcile();
  }

  /**
   * Serves the highest version below the serving one that can start; the serving one stays out
   * of rotation until a file in it changes. Throws APPPKG_ADMIN_ACTION_FAILED when there is none
   * to go to or none of them starts (the serving one then keeps serving).
   */
  async rollback(name: string): Promise<Rollback> {
    const record = this.records.get(name);
    const serving = record?.serving;
    if (!record || !serving) throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action: 'rollback', app: name, reason: 'no version of it serves' });
    if (!this.canRollBack(record)) {
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
        action: 'rollback', app: name, reason: `${label(serving.desc)} is the oldest version that can serve`,
        hint: `put the version to go back to beside it in the apps directory (a directory of its own with app.yaml), then roll back`,
      });
    }
    const from = serving.desc;
    record.rolledBack.set(from.dir, readPackageTree(from.dir).signature);
    await this.reconcile();
    const now = record.serving?.desc;
    if (!now || now.dir === from.dir) {
      record.rolledBack.delete(from.dir);
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
        action: 'rollback', app: name, reason: `no earlier version could start${record.problem ? ` (${record.problem.message})` : ''}; ${label(from)} keeps serving`,
      });
    }
    record.history.add('rolled-back', `rolled back from ${label(from)} to ${label(now)}`, { version: now.version, from: from.version ?? from.dir });
    return { from: from.version ?? from.dir, to: now.version ?? now.dir };
  }

  /** Is there a version below the serving one that is neither refused nor still settling? */
  private canRollBack(record: AppRecord): boolean {
    const at = record.versions.findIndex((d) => d.dir === record.serving?.desc.dir);
    if (at < 0) return false;
    return record.versions.slice(at + 1).some((d) => !record.refused.has(d.dir) && !record.settling.has(d.dir) && !record.rolledBack.has(d.dir));
  }

  private async reconcileOnce(): Promise<void> {
    const discovery = await this.opts.source();
    for (const b of discovery.broken) {
      if (this.broken.some((old) => old.dir === b.dir && old.error.message === b.error.message)) continue;
      if (this.opts.onBroken) this.opts.onBroken(b.dir, b.error);
      else this.opts.say(`skipping ${b.dir}:\n${b.error.format()}`);
    }
    this.broken = discovery.broken;
    // A serving version whose app.yaml was edited into a broken one keeps serving meanwhile.
    const brokenDirs = new Map(discovery.broken.map((b) => [realDir(b.dir), b.error]));
    for (const record of this.records.values()) this.noteBrokenDescription(record, brokenDirs);

    const present = new Set<string>();
    let found = false;
    const records = discovery.apps.map((app) => {
      present.add(app.name);
      let record = this.records.get(app.name);
      if (record === undefined) {
        record = { name: app.name, serving: null, refused: new Map(), settling: new Set(), versions: [], problem: null, restart: false, rolledBack: new Map(), history: new AppHistory(), serviceRetryMs: 0, brokenDescription: null };
        this.records.set(app.name, record);
        found = true;
      }
      // A serving version whose app.yaml no longer loads is not a removed one: it runs on, and
      // only a newer version may take over from it, never the one below (a typo is no rollback).
      const serving = record.serving?.desc;
      record.versions = serving && brokenDirs.has(serving.dir) ? app.versions.filter((d) => compareVersions(d.version, serving.version) > 0) : app.versions;
      return record;
    });
    // Apps new here answer "starting" at their URLs from now on (the proxy holds their requests).
    if (found) this.publish();
    // A few at a time: an app whose import takes 20 s, or hangs until the start deadline, does
    // not hold back the others' first answer; each is published as soon as it is judged.
    const queue = [...records];
    const convergeNext = async (): Promise<void> => {
      for (let record = queue.shift(); record !== undefined && !this.stopped; record = queue.shift()) {
        try {
          await this.converge(record);
        } catch (err) {
          this.opts.say(reconcileFailure(err));
        }
        if (!this.stopped) this.publish();
      }
    };
    // Under --max-workers one at a time, as before: each app judged makes room for itself
    // before the next starts, so the budget is overrun by one app at most, not by several.
    const concurrency = this.budget === null ? START_CONCURRENCY : 1;
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, convergeNext));
    if (this.stopped) return;
    for (const [name, record] of this.records) {
      if (present.has(name) || this.stopped) continue;
      if (record.serving && brokenDirs.has(record.serving.desc.dir)) {
        record.versions = [record.serving.desc];
        continue;
      }
      this.records.delete(name);
      this.opts.onRemoved?.(name);
      if (record.serving) {
        this.opts.say(`${name}: removed; stopping it`);
        record.history.add('removed', 'its directory went away; stopping it', { version: record.serving.desc.version });
        const old = record.serving;
        this.publish();
        this.drain(old.instance, old.desc);
      }
    }
    this.publish();
  }

  /**
   * The serving version's app.yaml no longer loads: it runs on as it was started, which the
   * gateway's log said once but the app's history did not, so its status looked fine. Recorded
   * before converge, which may yet switch to another version.
   */
  private noteBrokenDescription(record: AppRecord, brokenDirs: Map<string, GatewayError>): void {
    const error = record.serving ? brokenDirs.get(record.serving.desc.dir) : undefined;
    if (!record.serving || error === undefined) {
      record.brokenDescription = null;
      return;
    }
    const seen = error.format();
    if (record.brokenDescription === seen) return;
    record.brokenDescription = seen;
    // The first problem, where it is: a description error lists each with its own code and line.
    const first = error.problems[0] ?? error;
    const at = first.file ? `${first.file}${first.line ? `:${first.line}:${first.column ?? 1}` : ''}` : null;
    const more = error.problems.length > 1 ? ` (and ${countOf(error.problems.length - 1, 'more problem')})` : '';
    const desc = record.serving.desc;
    record.history.add('broken', `app.yaml of ${label(desc)} no longer loads: ${first.code}${at ? ` at ${at}` : ''}: ${first.message}${more}; ${label(desc)} runs on as it was started`, {
      version: desc.version,
      reason: { code: first.code, message: at ? `${at}: ${first.message}` : first.message, hint: first.hint },
    });
  }

  /** Serve the highest version that is not refused; keep the current one if none can start. */
  private async converge(record: AppRecord): Promise<void> {
    const restart = record.restart;
    record.restart = false;
    record.settling.clear();
    for (const dir of record.refused.keys()) if (!record.versions.some((d) => d.dir === dir)) record.refused.delete(dir);
    for (const dir of record.rolledBack.keys()) if (!record.versions.some((d) => d.dir === dir)) record.rolledBack.delete(dir);
    // Why a version above the one that ends up serving was refused: status keeps saying it (a
    // restart of the serving one must not make a failed newer version look fine).
    let newerRefusal: GatewayError | null = null;
    for (const desc of record.versions) {
      const fp = fingerprint(desc);
      const rolledBack = record.rolledBack.get(desc.dir);
      if (record.serving?.fingerprint === fp && !restart && rolledBack === undefined) return; // already serving the best candidate
      const tree = readPackageTree(desc.dir);
      if (rolledBack !== undefined) {
        if (rolledBack === tree.signature) continue;
        record.rolledBack.delete(desc.dir); // changed since: a candidate again
      }
      const refused = record.refused.get(desc.dir);
      if (refused?.signature === tree.signature) {
        newerRefusal ??= refused.error;
        continue;
      }
      if (!hasSettled(tree, this.opts.settleMs ?? 0)) {
        // Still being copied: judged once nothing has changed in it for settleMs.
        record.settling.add(desc.dir);
        this.reconcileAt(tree.newestChangeMs + (this.opts.settleMs ?? 0));
        continue;
      }
      const started = await this.startVersion(record, desc);
      // The gateway began stopping meanwhile: nothing more is started, or recorded as refused.
      if (this.stopped) {
        if (started) await started.instance.stop(0);
        return;
      }
      if (!started) {
        if (record.problem?.code === SERVICE_UNAVAILABLE) {
          // Its database or Redis is down, not the app: tried again by itself, with back-off.
          record.serviceRetryMs = Math.min(SERVICE_RETRY_MAX_MS, (record.serviceRetryMs || SERVICE_RETRY_FIRST_MS / 2) * 2);
          this.opts.say(`${record.name}: trying again in ${Math.round(record.serviceRetryMs / 1000)} s`);
          this.reconcileAt(Date.now() + record.serviceRetryMs);
          continue;
        }
        // A restart that fails leaves the version as it is: the next change may mend it.
        // The files as they are after the attempt: an app that writes into its own directory
        // while it fails to start must not look changed, and be retried, at every look.
        if (!(restart && record.serving?.fingerprint === fp)) record.refused.set(desc.dir, { signature: readPackageTree(desc.dir).signature, error: record.problem! });
        newerRefusal ??= record.problem;
        continue;
      }
      record.serviceRetryMs = 0;
      record.refused.delete(desc.dir);
      const previous = record.serving;
      record.serving = { desc, fingerprint: fp, instance: started.instance, runAs: started.runAs };
      this.budget?.add(started.instance);
      if (previous) this.budget?.remove(previous.instance);
      if (started.runAs?.isRoot) {
        this.opts.say(`${record.name}: WARNING: runs as root; set \`user:\` for it in the environment file, or chown its directory to the user it should run as`);
      }
      record.problem = newerRefusal;
      // The proxy hands what waits for the old version to the new one; what the old one's
      // workers hold finishes there (SIGTERM lets a worker finish what it holds).
      this.publish();
      if (previous) {
        const same = previous.desc === desc || previous.desc.dir === desc.dir;
        const what = same ? `${label(desc)} restarted` : `${label(desc)} takes over from ${label(previous.desc)}`;
        this.opts.say(`${record.name}: ${what}; draining the old one`);
        record.history.add(same ? 'restarted' : 'switched', `${what}; the old one drains`, { version: desc.version, from: previous.desc.version ?? previous.desc.dir });
        this.drain(previous.instance, previous.desc);
      } else {
        this.opts.say(`${record.name}: ${label(desc)} serving at ${this.opts.mountOf(record.name)}`);
        record.history.add('serving', `${label(desc)} serving at ${this.opts.mountOf(record.name)}`, { version: desc.version });
      }
      // Judged (imported, probed); an app that was asleep, or that has no room in the budget,
      // sleeps again rather than stay awake for a deploy (SPEC 5.6).
      const noRoom = this.budget !== null && !(await this.budget.makeRoom(started.instance, started.instance.workerCount));
      if (previous?.instance.idleState === 'asleep' || noRoom) {
        await started.instance.sleep(noRoom ? `--max-workers ${this.opts.maxWorkers} reached` : 'judged while idle');
      }
      return;
    }
  }

  private drain(instance: AppInstance, desc: Description): void {
    this.budget?.remove(instance);
    const done = instance.drain(instance.versionDrainMs ?? this.opts.drainMs).finally(() => this.draining.delete(instance));
    this.draining.set(instance, { desc, done });
  }

  private async startVersion(record: AppRecord, desc: Description): Promise<{ instance: AppInstance; runAs: RunAs | null } | null> {
    const development = this.opts.mode === 'development';
    let venv: PendingVenv | null = null;
    try {
      const resolve = () => resolveApp({
        dir: desc.dir,
        desc,
        mode: this.opts.mode,
        hostEnv: this.currentHostEnv,
        stateDir: this.opts.stateDir,
        // Under --apps only the environment file counts, so one app's secret in the gateway's
        // environment never reaches another app; serve is the developer's own shell.
        settingsFromProcessEnv: development,
        switchUser: !development,
        venvDir: venv?.dir,
        provisionServices: true,
        say: this.opts.say,
      });
      let ctx = await resolve();
      if (!development && desc.pip) {
        const log = new AppLog(ctx.appEnv.logDir);
        venv = await buildAppVenv(ctx, log, this.opts.say).finally(() => log.end());
        // The environment was resolved before this venv existed: its python is now the new build's.
        if (venv) ctx = await resolve();
      }
      if (this.opts.runHooks) {
        const firstInstall = !existsSync(installedMarker(ctx));
        const hook = firstInstall ? 'install' : record.serving && record.serving.desc.dir !== desc.dir ? 'update' : null;
        if (hook) await this.runHook(ctx, hook);
        if (firstInstall) writeFileSync(installedMarker(ctx), `${JSON.stringify({ version: desc.version, dir: desc.dir, at: new Date().toISOString() })}\n`);
      }
      const instance = await startApp(ctx, {
        development,
        say: this.opts.say,
        echoLogs: this.opts.echoLogs,
        workers: this.opts.workers,
        threads: this.opts.threads,
        history: record.history,
        budget: this.budget ?? undefined,
        stop: this.stopping.signal,
      });
      // The version runs: the venv link follows it (the version it replaces drains meanwhile).
      const built = venv;
      venv = null; // from here on the build is the running version's: never discarded
      await built?.switchTo().catch((err) => this.opts.say(`${desc.name}: cannot switch its venv link to ${built.dir}: ${String(err)}; the version runs from that build directly`));
      return { instance, runAs: ctx.runAs };
    } catch (err) {
      await venv?.discard();
      // Stopped by the gateway's own stop (its hook killed): not a refusal of the version.
      if (this.stopped) return null;
      let error = isGatewayError(err)
        ? (err as GatewayError)
        : new GatewayError('APPPKG_WORKER_START_FAILED', { app: desc.name, reason: String(err), cause: err });
      // Under --apps the app's output is in its log only: say where, and bring its end here.
      if (!development) error = refusalUnderApps(error, appLogFile(this.opts.stateDir, desc.name));
      record.problem = error;
      record.history.add('refused', `${label(desc)} refused${record.serving ? `; ${label(record.serving.desc)} keeps serving` : ''}: ${error.message}`, {
        version: desc.version,
        reason: reasonOf(error),
      });
      if (this.opts.onRefused) {
        this.opts.onRefused(record.name, error, record.serving !== null);
      } else {
        const keeps = record.serving ? `; ${label(record.serving.desc)} keeps serving` : '';
        this.opts.say(`${record.name}: ${label(desc)} refused${keeps}:\n${formatRefusal(error)}`);
      }
      return null;
    }
  }

  private async runHook(ctx: AppContext, hook: 'install' | 'update'): Promise<void> {
    const command = ctx.desc.commands[hook];
    if (!command) return;
    this.opts.say(`${ctx.desc.name}: running commands.${hook} of ${label(ctx.desc)}: ${command}`);
    // Under serve the hook's output reaches the terminal too, as the workers' does (echoLogs).
    const log = new AppLog(ctx.appEnv.logDir, { echo: this.opts.echoLogs ? process.stderr : null });
    const started = Date.now();
    const status = await runInAppEnvironment(ctx, { shell: command, output: log, timeoutMs: this.opts.hookTimeoutMs, background: { stop: this.stopping.signal } });
    log.end();
    if (status !== 0) {
      throw new GatewayError('APPPKG_COMMAND_FAILED', { command: `commands.${hook} (${command})`, status });
    }
    this.opts.say(`${ctx.desc.name}: commands.${hook} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Hands the proxy the serving version of every app, with its routes. */
  private publish(): void {
    const serving: ServingApp[] = [];
    const refused: RefusedApp[] = [];
    for (const record of this.records.values()) {
      if (record.serving) serving.push({ name: record.name, routes: this.opts.routesOf(record.name), instance: record.serving.instance });
      else if (record.problem) refused.push({ name: record.name, routes: this.opts.routesOf(record.name), code: record.problem.code });
      // A new app still starting (its first version importing, its hook running) is there:
      // its URLs say so with a 503, not a 404 as if it did not exist.
      else refused.push({ name: record.name, routes: this.opts.routesOf(record.name), code: STARTING });
    }
    // A package whose app.yaml cannot be loaded, of a name nothing else answers for, answers
    // 503 naming why at its routes too, as a refused app does, not 404 "no app is mounted".
    for (const { dir, error } of this.broken) {
      const name = parsePackageDirName(basename(dir)).name;
      if (this.records.has(name) || refused.some((r) => r.name === name)) continue;
      refused.push({ name, routes: this.opts.routesOf(name), code: error.code });
    }
    this.opts.publish(serving, refused);
  }

  /** Why `name` does not serve (or the broken description of the one package), or null. */
  problemOf(name?: string): GatewayError | null {
    for (const record of this.records.values()) {
      if ((name === undefined || record.name === name) && !record.serving && record.problem) return record.problem;
    }
    return name === undefined ? (this.broken[0]?.error ?? null) : null;
  }

  /** The instance serving `name` now (null: none) and its last refusal; undefined for no such app. */
  servingOf(name: string): { instance: AppInstance | null; problem: GatewayError | null } | undefined {
    const record = this.records.get(name);
    return record && { instance: record.serving?.instance ?? null, problem: record.problem };
  }

  /** Is `name` served by some version now? */
  serves(name: string): boolean {
    return this.records.get(name)?.serving != null;
  }

  /** The apps whose first version is still starting (or settling), sorted. */
  get startingNames(): string[] {
    return this.names.filter((name) => {
      const record = this.records.get(name)!;
      return record.serving === null && record.problem === null;
    });
  }

  /** The names of the apps, sorted. */
  get names(): string[] {
    return [...this.records.keys()].sort();
  }

  status(): { apps: SupervisedAppStatus[]; broken: BrokenPackageStatus[] } {
    const apps = [...this.records.values()]
      // Code-point order, as `names`: localeCompare would load ICU's collation data (2.6 MiB of RSS).
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((record) =>
        appStatusOf(record, [...this.draining].filter(([, d]) => d.desc.name === record.name), {
          mount: this.opts.mountOf(record.name),
          hosts: this.opts.routesOf(record.name).filter((r) => r.host !== null).map((r) => r.host!),
          logFile: appLogFile(this.opts.stateDir, record.name),
          idleTimeoutSeconds: this.idleTimeoutOf(record.name),
          canRollBack: this.canRollBack(record),
        }),
      );
    return { apps, broken: this.broken.map(({ dir, error }) => ({ dir, code: error.code, message: error.format() })) };
  }

  private idleTimeoutOf(name: string): number | null {
    const env = this.currentHostEnv;
    const app = Object.hasOwn(env.apps, name) ? env.apps[name] : undefined;
    return app?.idleTimeout ?? env.defaults.idleTimeout;
  }

  /** Every pid of every app's processes, draining ones included (tests check them for orphans). */
  get pids(): number[] {
    return [...[...this.records.values()].flatMap((r) => r.serving?.instance.pids ?? []), ...[...this.draining.keys()].flatMap((d) => d.pids)];
  }

  /**
   * Resolves once no version is waiting to settle and no reconcile runs, or after `limitMs`
   * (a directory that keeps changing is judged later, by the reconcile due then).
   */
  async settled(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    while ((this.settleTimer !== null || this.running !== null) && !this.stopped && Date.now() < deadline) {
      await (this.running ?? new Promise((r) => setTimeout(r, 50)));
    }
  }

  /** The directories of refused and settling versions: a change to any file in them matters. */
  get watchedDirs(): string[] {
    return [...this.records.values()].flatMap((r) => [...r.refused.keys(), ...r.settling]);
  }

  /** One reconcile at `atMs` (the earliest asked for wins), for versions still settling. */
  private reconcileAt(atMs: number): void {
    if (this.stopped || (this.settleTimer !== null && this.settleTimer.at <= atMs)) return;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer.timer);
    // A little past the instant: the times are the file system's, compared with Date.now().
    const timer = setTimeout(() => {
      this.settleTimer = null;
      void this.reconcile();
    }, Math.max(0, atMs - Date.now()) + 50);
    this.settleTimer = { at: atMs, timer };
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.settleTimer !== null) clearTimeout(this.settleTimer.timer);
    this.settleTimer = null;
    await this.running;
    // Draining versions too: their websockets need not wait for the end of the drain.
    const instances = [...[...this.records.values()].flatMap((r) => (r.serving ? [r.serving.instance] : [])), ...this.draining.keys()];
    await Promise.all(instances.map((instance) => instance.stop(graceMs)));
    await Promise.all([...this.draining.values()].map((d) => d.done));
  }
}

/**
 * The log line of a reconcile that failed: the apps directory gone or unreadable (moved away
 * while the gateway runs) is said in words, with what happens next; anything else is a fault
 * of ours, and its stack is what a report needs.
 */
function reconcileFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall === 'scandir' && (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ENOTDIR')) {
    return `cannot read the apps directory ${String(e.path)} (${e.code}); the apps keep serving as they are, and it is read again at the next change or SIGHUP`;
  }
  return `reconcile failed: ${e?.stack ?? String(err)}`;
}

function label(desc: Description): string {
  return desc.version ? `version ${desc.version}` : desc.dir;
}

function installedMarker(ctx: AppContext): string {
  return join(dirname(ctx.appEnv.dataDir), 'installed.json');
}
