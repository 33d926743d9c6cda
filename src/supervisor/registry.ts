// Desired state (the packages its source finds) against actual state (running instances),
// made equal by reconcile(): a first install runs commands.install, a new version runs
// commands.update, starts, passes its probe and only then takes traffic while the old one
// drains; a version that fails any step never serves and is not retried until a file in it
// changes. A version is judged only once its directory has settled (nothing in it changed for
// `settleMs`): a `cp -r` lands app.yaml seconds before the code (issue 13).
// Removing the newest version rolls back the same way; restart() replaces a serving version
// with a fresh instance of itself the same way (serve --reload, the admin's restart), and
// rollback() serves the version below the serving one, keeping the one it left out of rotation
// until a file in it changes. One look at the source runs at a time; each app it finds is judged
// by itself (a few at once: start-slots.ts), so that one app's slow start holds back no other
// app's start or deploy, and published as soon as it is judged. Each app keeps a short history
// of these events for status.
// Each description is read once, by the source, and that value is what the instance runs.
// The environment file as last read is the registry's too: useEnvironment() replaces it and
// restarts the apps it names, the way restart() does.
// A version taken out of rotation drains for `drainMs`: its requests finish, its websockets stay
// open until then (then 1012), and status counts them under that version.
// How one app's versions are judged and one of them started (hooks, venv, refusal) is
// version-judge.ts; this file is the loop around it, what it publishes, status and rollback.
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { BrokenPackageStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import { compareVersions, parsePackageDirName } from '../description/package-dir.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError } from '../errors.js';
import { countOf } from '../count.js';
import { AppHistory } from './app-history.js';
import type { AppRecord } from './app-record.js';
import { appStatusOf, type SupervisedAppStatus } from './registry-status.js';
import type { AppInstance } from './app-instance.js';
import { realDir, type AppSource, type BrokenPackage } from './discovery.js';
import { readPackageTree } from './package-tree.js';
import { appLogFile } from './refusal.js';
import { StartSlots } from './start-slots.js';
import { label, VersionJudge, type VersionJudgeOptions } from './version-judge.js';
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

/** What the Registry is given; those that judging a version reads are VersionJudgeOptions. */
export interface RegistryOptions extends VersionJudgeOptions {
  source: AppSource;
  /** The environment file as read at the start; useEnvironment() replaces it. */
  hostEnv: HostEnvironment;
  /** Where the requests to each app come in (its mount, its hosts). */
  routesOf: (name: string) => RouteSpec[];
  /**
   * Told the serving version of every app after each change: the proxy routes to these; and the
   * apps that serve nothing because they were refused: the proxy answers for them (503).
   */
  publish: (apps: ServingApp[], refused: RefusedApp[]) => void;
  /** How long a draining version may finish its requests and keep its websockets. */
  drainMs: number;
  /** Told when an app disappears from the source (its metrics are dropped). */
  onRemoved?: (name: string) => void;
  /** Told instead of the "skipping" log line when a package's app.yaml cannot be loaded. */
  onBroken?: (dir: string, error: GatewayError) => void;
}

/** Apps judged at once: about the cores (start-slots.ts), at least four. */
const START_CONCURRENCY = Math.max(4, availableParallelism());
/** After this, a start that is still going gives its slot to the next app (start-slots.ts). */
const START_SLOT_HOLD_MS = 5000;

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
  /**
   * Each app is judged by itself: a slow start (an install hook, an import that hangs) holds
   * back no other app's start, deploy or removal. The judging under way per app, and whether a
   * later look at the directory asked for another once it ends.
   */
  private readonly judging = new Map<AppRecord, { done: Promise<void>; again: boolean }>();
  private readonly slots: StartSlots;
  /** Judges and starts the versions of each app, for this registry. */
  private readonly judge: VersionJudge;
  /** The environment file as last read: what an app that starts now is started with. */
  private currentHostEnv: HostEnvironment;

  constructor(private readonly opts: RegistryOptions) {
    this.budget = opts.maxWorkers ? new WorkerBudget(opts.maxWorkers) : null;
    // Under --max-workers one at a time, a slot held to the end: each app judged makes room for
    // itself before the next starts, so the budget is overrun by one app at most.
    this.slots = this.budget === null ? new StartSlots(START_CONCURRENCY, START_SLOT_HOLD_MS) : new StartSlots(1, null);
    this.currentHostEnv = opts.hostEnv;
    this.judge = new VersionJudge(opts, this.budget, this.stopping.signal, {
      hostEnv: () => this.currentHostEnv,
      stopped: () => this.stopped,
      reconcileAt: (atMs) => this.reconcileAt(atMs),
      publish: () => this.publish(),
      drain: (instance, desc) => this.drain(instance, desc),
    });
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
   * Makes the running apps match the source. One look at the source runs at a time; calls made
   * meanwhile coalesce into one more look after it. Each app found is judged by itself (an app
   * being judged is judged again after, if a look asked). Resolves once the apps of the look
   * that saw what the call asked for are judged; `force` (SIGHUP) also retries versions refused
   * before.
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
    const look = this.reconcileOnce();
    this.running = look
      .then(
        () => undefined,
        (err) => this.opts.say(reconcileFailure(err)),
      )
      .finally(() => {
        this.running = null;
      });
    return look.then(
      (judged) => Promise.all(judged).then(() => undefined),
      () => undefined,
    );
  }

  /** Judges `record` now, or again once its judging under way ends; resolves when it is judged. */
  private judgeApp(record: AppRecord): Promise<void> {
    const current = this.judging.get(record);
    if (current !== undefined) {
      current.again = true;
      return current.done;
    }
    const entry = { done: Promise.resolve(), again: true };
    entry.done = (async () => {
      while (entry.again && !this.stopped) {
        entry.again = false;
        const release = await this.slots.take();
        try {
          if (!this.stopped) await this.judge.converge(record);
        } catch (err) {
          this.opts.say(reconcileFailure(err));
        } finally {
          release();
        }
        // Removed from the directory while it started: what it started goes too.
        if (this.records.get(record.name) !== record && record.serving) {
          const gone = record.serving;
          record.serving = null;
          this.drain(gone.instance, gone.desc);
        }
        if (!this.stopped) this.publish();
      }
      this.judging.delete(record);
    })();
    this.judging.set(record, entry);
    return entry.done;
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

  /** One look at the source: what it changed is under way; resolves with each app's judging. */
  private async reconcileOnce(): Promise<Array<Promise<void>>> {
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
    // Each published as soon as it is judged, a few at a time (start-slots.ts).
    const judged = records.map((record) => this.judgeApp(record));
    if (this.stopped) return judged;
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
    return judged;
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

  private drain(instance: AppInstance, desc: Description): void {
    this.budget?.remove(instance);
    const done = instance.drain(instance.versionDrainMs ?? this.opts.drainMs).finally(() => this.draining.delete(instance));
    this.draining.set(instance, { desc, done });
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
   * Resolves once no version is waiting to settle, no reconcile runs and no app is being judged,
   * or after `limitMs` (a directory that keeps changing is judged later, by the reconcile due then).
   */
  async settled(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    while ((this.settleTimer !== null || this.running !== null || this.judging.size > 0) && !this.stopped && Date.now() < deadline) {
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
    // Starts under way end at once (the stop signal reaches their hooks and workers).
    await Promise.all([...this.judging.values()].map((j) => j.done));
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
