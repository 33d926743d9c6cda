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
// of these events for status, kept across restarts of the gateway (app-histories.ts).
// Each description is read once, by the source, and that value is what the instance runs.
// The environment file as last read is the registry's too: useEnvironment() replaces it and
// restarts the apps it names, the way restart() does.
// A version taken out of rotation drains for `drainMs`: its requests finish, its websockets stay
// open until then (then 1012; under serve --reload they are closed at once), and status counts
// them under that version, on a `draining` row of their own when the version serves again from
// a fresh instance (a restart, or a rollback during the drain: the old instance is never put
// back in rotation, its workers have begun to stop).
// How one app's versions are judged and one of them started (hooks, venv, refusal) is
// version-judge.ts; this file is the loop around it. When it looks is reconcile-scheduler.ts,
// the judging of each app by itself judging-queue.ts, what it publishes published-apps.ts,
// rollback rollback.ts, a serving version's broken app.yaml broken-description.ts, status
// registry-status.ts, and the looks counted for status (when the last ended) scan-tally.ts.
import path from 'node:path';
import type { BrokenPackageStatus, ScanStatus } from '../admin/status-types.js';
import type { Description } from '../description/types.js';
import { compareVersions, parsePackageDirName } from '../description/package-dir.js';
import { overrideOf, type HostEnvironment } from '../environment/host-file.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { removeVenvBuild, venvBuildOf } from '../environment/venv.js';
import type { GatewayError } from '../errors.js';
import { LogTail } from '../log/log-tail.js';
import { AppHistories } from './app-histories.js';
import { askRestart, isStarting, newAppRecord, pruneTallies, type AppRecord } from './app-record.js';
import type { RunAs } from '../environment/run-as.js';
import type { AppInstance } from './app-instance.js';
import { noteBrokenDescription } from './broken-description.js';
import { realDir, type AppSource, type BrokenPackage } from './discovery.js';
import { JudgingQueue } from './judging-queue.js';
import { signatureDigest } from './package-tree.js';
import { pruneRunHelpers } from './prune-run-helpers.js';
import { publishedApps, samePublication, type Publication, type RefusedApp, type RouteSpec, type ServingApp } from './published-apps.js';
import { ReconcileScheduler, reconcileFailure } from './reconcile-scheduler.js';
import { ScanTally, type Scan } from './scan-tally.js';
import { CLI_COMMAND_WORDS, type CommandWords } from '../command-words.js';
import { startTimeoutMsOf } from './start-app.js';
import { idleTimeoutOf, registryStatus, type SupervisedAppStatus } from './registry-status.js';
import { appLogFile, rolledBackFile } from './refusal.js';
import { canRollBack, rollBack, type Rollback } from './rollback.js';
import { label, VersionJudge, type VersionJudgeOptions } from './version-judge.js';
import { notAVersionOf, versionNotices } from './version-notices.js';
import { WorkerBudget } from './worker-budget.js';
import type { DrainCause, RestartCause } from './worker-drain.js';

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
  /** Told when an app disappears from the source (its metrics are dropped). */
  onRemoved?: (name: string) => void;
  /** Told instead of the "skipping" log line when a package's app.yaml cannot be loaded. */
  onBroken?: (dir: string, error: GatewayError) => void;
  /**
   * serve --reload: a version out of rotation closes its websockets (1012) at once, not at the
   * end of its drain, so that a developer's page reconnects to the new code, as under uvicorn
   * --reload; a deploy under --apps keeps them open for the drain (SPEC 5.1).
   */
  websocketsAtOnce?: boolean;
}

export type { SupervisedAppStatus } from './registry-status.js';

export class Registry {
  private records = new Map<string, AppRecord>();
  private broken: BrokenPackage[] = [];
  /** versionNotices already said: once each, not at every scan. */
  private noticed = new Set<string>();
  /** When it looks at the source: one look at a time, or at a given time (reconcile-scheduler.ts). */
  private readonly looks: ReconcileScheduler;
  /** Those looks counted, with what each found changed, for status (scan-tally.ts). */
  private readonly scans = new ScanTally();
  private stopped = false;
  /** Aborted by stop(): a hook running then is stopped with its process group. */
  private readonly stopping = new AbortController();
  /** Versions out of rotation, until their processes are gone; what each runs, for status. */
  private draining = new Map<AppInstance, { desc: Description; done: Promise<void>; runAs: RunAs | null }>();
  /** Apps whose directory went away, until their processes are gone: status lists them `stopping`. */
  private removed = new Map<string, AppRecord>();

  private readonly budget: WorkerBudget | null;
  /** Each app is judged by itself, a few at a time (judging-queue.ts). */
  private readonly judging: JudgingQueue;
  /** Judges and starts the versions of each app, for this registry. */
  private readonly judge: VersionJudge;
  /** The environment file as last read: what an app that starts now is started with. */
  private currentHostEnv: HostEnvironment;
  /** What the proxy was handed last: a publish that would hand it the same again is left out. */
  private published: Publication | null = null;
  /** The run helpers its starts wrote, and when it began: what pruneHelpers may remove. */
  private readonly helperDirs = new Set<string>();
  /** The venv builds this gateway's versions ran on, by app: the only ones pruneVenvBuilds removes. */
  private readonly venvBuildsRun = new Map<string, Set<string>>();
  private readonly startedAt = Date.now();
  /** Each app's history, read from and written to its state directory. */
  private readonly histories: AppHistories;
  /**
   * Resolves once the first look at the source has listed the apps (or failed): until then an
   * app the admin listener is asked about is not known yet, where it may well be there (a
   * `logs -f` coming back to a gateway that has just restarted).
   */
  readonly listed: Promise<void>;
  private markListed: () => void = () => {};

  constructor(private readonly opts: RegistryOptions) {
    this.listed = new Promise((resolve) => (this.markListed = resolve));
    this.budget = opts.maxWorkers ? new WorkerBudget(opts.maxWorkers, opts.maxWorkersKey) : null;
    this.judging = new JudgingQueue({
      converge: (record) => this.judge.converge(record),
      judged: (record) => this.judged(record),
      failed: (err) => this.sayFailure(err),
      stopped: () => this.stopped,
    });
    this.looks = new ReconcileScheduler({
      look: () => this.reconcileOnce(),
      failed: (err) => this.sayFailure(err),
      stopped: () => this.stopped,
      busy: () => this.judging.busy,
    });
    this.currentHostEnv = opts.hostEnv;
    this.histories = new AppHistories({ stateDir: opts.stateDir, say: opts.say });
    this.judge = new VersionJudge(opts, this.budget, this.stopping.signal, {
      hostEnv: () => this.currentHostEnv,
      stopped: () => this.stopped,
      reconcileIn: (ms, settling) => this.looks.runIn(ms, settling),
      publish: () => this.publish(),
      drain: (instance, desc, cause, runAs) => this.drain(instance, desc, cause, runAs),
      wroteHelpers: (dir) => this.helperDirs.add(dir),
      servingAs: (uid, except) => [...this.records.values()].filter((r) => r.name !== except && r.serving?.runAs?.uid === uid).map((r) => r.name).sort(),
      drainingBusy: (name) => [...this.draining.keys()].some((instance) => instance.name === name && !instance.ownQuiet),
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
   * `force`: the look is reconcile(true)'s too (SIGHUP). Each app of `live` (not restarted) has
   * its serving instance take the new idle_timeout and drain (environment-changes.ts LIVE_KEYS).
   */
  useEnvironment(hostEnv: HostEnvironment, restart: string[], force = false, live: string[] = []): Promise<void> {
    this.currentHostEnv = hostEnv;
    for (const name of restart) {
      const record = this.records.get(name);
      if (record === undefined) continue;
      askRestart(record, 'restarted');
      record.restartFor = hostEnv;
      record.refused.clear();
    }
    for (const name of live) {
      if (restart.includes(name)) continue; // its new instance is started with them
      const drain = overrideOf(hostEnv, name, 'drain');
      this.records.get(name)?.serving?.instance.applyLive({
        idleTimeoutMs: (overrideOf(hostEnv, name, 'idleTimeout') ?? 0) * 1000,
        versionDrainMs: drain === null ? this.opts.drainMs : drain * 1000,
      });
    }
    return this.reconcile(force);
  }

  /**
   * Makes the running apps match the source. One look at the source runs at a time; calls made
   * meanwhile coalesce into one more look after it. Each app found is judged by itself (an app
   * being judged is judged again after, if a look asked). Resolves once the apps of the look
   * that saw what the call asked for are judged; `force` (SIGHUP) also retries versions refused
   * before, and replaces a serving version in a crash loop as restart() does.
   */
  reconcile(force = false): Promise<void> {
    if (force) {
      for (const record of this.records.values()) {
        record.refused.clear();
        // Its cause fixed in place (a file the app reads, a database back), a crash loop would
        // otherwise wait out a back-off of up to 30 s; a fresh instance that still fails its
        // probe is refused and the looping one keeps what it serves.
        if (record.serving?.instance.crashLooping === true) askRestart(record, 'restarted');
      }
    }
    return this.looks.run();
  }

  /** After each judging of `record`: what it started goes if it was removed meanwhile; publish. */
  private judged(record: AppRecord): void {
    // A restart asked for meanwhile is still to come: its file stays the one to compare with.
    if (!record.restart) record.restartFor = null;
    // Removed from the directory while it started: what it started goes too.
    if (this.records.get(record.name) !== record && record.serving) {
      const gone = record.serving;
      record.serving = null;
      this.drain(gone.instance, gone.desc, 'removed', gone.runAs);
    }
    if (this.stopped) return;
    this.publish();
    this.pruneHelpers(record.name);
    void this.pruneVenvBuilds(record.name);
  }

  /**
   * Replaces the serving version of `name` (every app when omitted) with a fresh instance of it;
   * an app that serves nothing tries its versions again, the refused ones included. `cause`:
   * what the old workers' websockets are told the restart was.
   */
  restart(name?: string, cause: RestartCause = 'restarted'): Promise<void> {
    for (const record of this.records.values()) {
      if (name !== undefined && record.name !== name) continue;
      askRestart(record, cause);
      if (!record.serving) record.refused.clear();
    }
    return this.reconcile();
  }

  /** The rollback of `name` (rollback.ts), its fix in `words` (the admin's CLI, a Gateway's caller). */
  rollback(name: string, words: Pick<CommandWords, 'logsAndStatus'>): Promise<Rollback> {
    return rollBack(name, this.records.get(name), () => this.reconcile(), words);
  }

  /**
   * How the log names a broken package that is a serving version's directory: "skipping" it
   * read as the app being stopped, while that version runs on as it was started.
   */
  private servedFrom(dir: string): string | undefined {
    for (const record of this.records.values()) {
      const desc = record.serving?.desc;
      if (desc?.dir === dir) return `${record.name}: ${label(desc)} runs on as it was started; its app.yaml no longer loads`;
    }
    return undefined;
  }

  /** A look or a judging that failed, in the log (what looks again in the caller's words). */
  private sayFailure(err: unknown): void {
    this.opts.say(reconcileFailure(err, (this.opts.commandWords ?? CLI_COMMAND_WORDS).reload));
  }

  /**
   * One look at the source, counted (scan-tally.ts): it ends with the judging of each app it
   * found, and what waits for it (reconcile(), a Gateway's rescan()) waits for the count too, so
   * that status() read then shows the scan ended.
   */
  private async reconcileOnce(): Promise<Array<Promise<void>>> {
    const scan = this.scans.begin();
    let judged: Array<Promise<void>> = [];
    try {
      judged = await this.lookAtSource(scan);
    } finally {
      // A look that failed has ended too, having judged nothing.
      judged = [...judged, this.scans.end(scan, Promise.all(judged))];
    }
    return judged;
  }

  /** One look at the source: what it changed is under way; resolves with each app's judging. */
  private async lookAtSource(scan: Scan): Promise<Array<Promise<void>>> {
    const discovery = await this.opts.source().catch((err: unknown) => {
      this.markListed();
      throw err;
    });
    this.scans.found(scan, discovery);
    for (const b of discovery.broken) {
      if (this.broken.some((old) => old.dir === b.dir && old.error.message === b.error.message)) continue;
      if (this.opts.onBroken) this.opts.onBroken(b.dir, b.error);
      else this.opts.say(`${(b.loads ? undefined : this.servedFrom(realDir(b.dir))) ?? `skipping ${b.dir}`}:\n${b.error.format()}`);
    }
    this.broken = discovery.broken;
    // A serving version whose app.yaml was edited into a broken one keeps serving meanwhile. A
    // link refused for where it leads says nothing of its target's app.yaml.
    const brokenDirs = new Map(discovery.broken.filter((b) => !b.loads).map((b) => [realDir(b.dir), b.error]));
    for (const record of this.records.values()) noteBrokenDescription(record, brokenDirs);

    const present = new Set<string>();
    let found = false;
    const records = discovery.apps.map((app) => {
      present.add(app.name);
      let record = this.records.get(app.name);
      if (record === undefined) {
        record = newAppRecord(app.name, rolledBackFile(this.opts.stateDir, app.name), this.histories.of(app.name));
        this.records.set(app.name, record);
        found = true;
        const versionOf = notAVersionOf(app.name, discovery.apps);
        if (versionOf !== null) this.opts.say(versionOf);
      }
      for (const { key, line } of versionNotices(app)) {
        if (this.noticed.has(key)) continue;
        this.noticed.add(key);
        this.opts.say(line);
      }
      // A serving version whose app.yaml no longer loads is not a removed one: it runs on, listed
      // in its place (status, the admin's rollback to the versions below it); only a newer
      // version takes over from it by itself (a typo is no rollback: VersionJudge.converge).
      const serving = record.serving?.desc;
      record.versions = serving && brokenDirs.has(serving.dir) ? withVersion(app.versions, serving) : app.versions;
      pruneTallies(record);
      return record;
    });
    // Apps new here answer "starting" at their URLs from now on (the proxy holds their requests).
    if (found) this.publish();
    this.markListed();
    // Each published as soon as it is judged, a few at a time (start-slots.ts).
    const judged = records.map((record) => this.judging.judge(record));
    if (this.stopped) return judged;
    for (const [name, record] of this.records) {
      if (present.has(name) || this.stopped) continue;
      if (record.serving && brokenDirs.has(record.serving.desc.dir)) {
        record.versions = [record.serving.desc];
        continue;
      }
      this.records.delete(name);
      // Added again while this one drains, the app goes on in a history of its own.
      this.histories.removed(name);
      this.opts.onRemoved?.(name);
      if (record.serving) {
        this.opts.say(`${name}: removed; stopping it`);
        record.history.add('removed', 'its directory went away; stopping it', { version: record.serving.desc.version });
        const old = record.serving;
        this.publish();
        this.drain(old.instance, old.desc, 'removed', old.runAs);
        // Its workers may take a while yet (a drain's requests and websockets, an ASGI lifespan
        // shutdown): status shows them until they are gone, not an app that is simply not there.
        this.removed.set(name, record);
        void this.draining.get(old.instance)?.done.finally(() => {
          if (this.removed.get(name) !== record) return;
          this.removed.delete(name);
          this.forgetRemoved(name);
        });
      } else {
        this.forgetRemoved(name);
      }
    }
    this.publish();
    return judged;
  }

  private drain(instance: AppInstance, desc: Description, cause: DrainCause, runAs: RunAs | null): void {
    // Its workers count under --max-workers until they are gone, not from the switch: a drain
    // holds its requests and websockets for up to `drain` s, and another app woken meanwhile
    // ran one worker past the bound for as long.
    const done = instance.drain(cause, instance.versionDrainMs ?? this.opts.drainMs, this.opts.websocketsAtOnce ? 0 : undefined).finally(() => {
      this.budget?.remove(instance);
      this.draining.delete(instance);
      // A start of the app under way may be writing helpers no version uses yet: its end prunes.
      const record = this.records.get(instance.name);
      if (!this.stopped && (record === undefined || !this.judging.isJudging(record))) this.pruneHelpers(instance.name);
      // Unlike a helper, a build a version ran on is never a start's under way (that one is no
      // version's yet): it goes when its last version has drained, not at the app's next judging.
      // At a stop, stop() prunes once every drain is done.
      if (!this.stopped) void this.pruneVenvBuilds(instance.name);
    });
    this.draining.set(instance, { desc, done, runAs });
  }

  /**
   * Removes the run helpers of `name` that neither its serving version nor a draining one uses
   * (prune-run-helpers.ts): one was left for every change of its configuration. Called when no
   * start of it is under way, at the end of its judging or of a drain.
   */
  private pruneHelpers(name: string): void {
    const serving = this.records.get(name)?.serving?.instance;
    const draining = [...this.draining.keys()].filter((instance) => instance.name === name);
    const inUse = new Set([...(serving ? [serving] : []), ...draining].map((instance) => instance.runDir));
    const runRoot = appStateDirs(resolveStateRoot({ flag: this.opts.stateDir }), name).run;
    for (const gone of pruneRunHelpers(runRoot, { inUse, ours: this.helperDirs, since: this.startedAt })) this.helperDirs.delete(gone);
  }

  /**
   * Removes the venv builds of `name` this gateway's versions ran on that neither its serving
   * version nor a draining one runs on now, nor the venv link leads to (the next start's): a
   * deploy that changed the requirements leaves the old version's build to it (app-venv.ts), and
   * so does an `install` beside the gateway (install-venv.ts). Only those: a build another process
   * is making (an `install` beside the gateway) or one a killed install left is install's to
   * clear. Called after each judging of the app, at the end of each drain, and at the stop, once
   * every version has ended: a build kept for a version stopped with the gateway was left for good
   * (the next gateway's versions never ran on it).
   */
  private async pruneVenvBuilds(name: string): Promise<void> {
    const serving = this.records.get(name)?.serving?.instance;
    const draining = [...this.draining.keys()].filter((instance) => instance.name === name);
    const inUse = new Set([...(serving && !this.stopped ? [serving] : []), ...draining].flatMap((instance) => (instance.venvDir === null ? [] : [instance.venvDir])));
    const venvPath = appStateDirs(resolveStateRoot({ flag: this.opts.stateDir }), name).venv;
    let ran = this.venvBuildsRun.get(name);
    if (ran === undefined) this.venvBuildsRun.set(name, (ran = new Set()));
    for (const dir of inUse) if (dir !== venvPath) ran.add(dir);
    const gone = [...ran].filter((dir) => !inUse.has(dir));
    if (gone.length === 0) return;
    const current = await venvBuildOf(venvPath).catch(() => null);
    await Promise.all(
      gone.map(async (dir) => {
        if (dir === current || !ran.has(dir)) return;
        ran.delete(dir);
        await removeVenvBuild(dir).catch(() => {
          // Left for install's own sweep: a build that cannot be removed now is no version's.
        });
      }),
    );
  }

  /** Hands the proxy the serving version of every app, with its routes. */
  private publish(): void {
    const next = publishedApps(this.records, this.broken, this.opts.routesOf, (name) => startTimeoutMsOf({ startTimeout: overrideOf(this.currentHostEnv, name, 'startTimeout') }));
    if (this.published !== null && samePublication(this.published, next)) return;
    this.published = next;
    this.opts.publish(next.serving, next.refused);
  }

  /** Why `name` does not serve (or the broken description of the one package), or null. */
  problemOf(name?: string): GatewayError | null {
    for (const record of this.records.values()) {
      if ((name === undefined || record.name === name) && !record.serving && record.problem) return record.problem;
    }
    return name === undefined ? (this.broken[0]?.error ?? null) : null;
  }

  /**
   * The instance serving `name` now (null: none), its last refusal, the environment file it runs
   * with and the one a reload's restart of it under way is for; undefined for no such app.
   */
  servingOf(name: string): { instance: AppInstance | null; problem: GatewayError | null; hostEnv: HostEnvironment | null; restartFor: HostEnvironment | null } | undefined {
    const record = this.records.get(name);
    return record && { instance: record.serving?.instance ?? null, problem: record.problem, hostEnv: record.serving?.hostEnv ?? null, restartFor: record.restartFor };
  }

  /**
   * The user of each app whose processes may run now, where the gateway switches users (--apps
   * as root): serving (idle too), starting, draining (an app removed included); an app with two
   * users at once (a version starting as another) once for each.
   */
  get appUsers(): Array<{ name: string; user: string; uid: number }> {
    const seen = new Map<string, { name: string; user: string; uid: number }>();
    const add = (name: string, runAs: RunAs | null | undefined): void => {
      if (runAs) seen.set(`${name}\0${runAs.uid}`, { name, user: runAs.user, uid: runAs.uid });
    };
    for (const name of this.names) {
      const record = this.records.get(name)!;
      add(name, record.serving?.runAs);
      add(name, record.startingRunAs);
    }
    for (const [instance, { runAs }] of this.draining) add(instance.name, runAs);
    return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Is `name` served by some version now? */
  serves(name: string): boolean {
    return this.records.get(name)?.serving != null;
  }

  /** The apps whose first version is still starting (or settling), sorted. */
  get startingNames(): string[] {
    return this.names.filter((name) => {
      return isStarting(this.records.get(name)!);
    });
  }

  /** The names of the apps, sorted. */
  get names(): string[] {
    return [...this.records.keys()].sort();
  }

  /** The apps and the packages whose app.yaml does not load (named by their directory), sorted. */
  get knownNames(): string[] {
    const broken = this.broken.map((b) => parsePackageDirName(path.basename(b.dir)).name);
    return [...new Set([...this.records.keys(), ...broken])].sort();
  }

  /** Kept per app: resolving the state root and joining its path at every status build added up at 300 apps. */
  private readonly logFiles = new Map<string, string>();
  private logFileOf(name: string): string {
    let file = this.logFiles.get(name);
    if (file === undefined) this.logFiles.set(name, (file = appLogFile(this.opts.stateDir, name)));
    return file;
  }

  /**
   * An app gone from --apps, its processes stopped: the tail of its log kept in memory for
   * status goes (the file stays), and its history once written, unless the app came back under
   * its name meanwhile.
   */
  private forgetRemoved(name: string): void {
    if (this.records.has(name)) return;
    LogTail.release(this.logFileOf(name));
    this.logFiles.delete(name);
    void this.histories.release(name, () => this.records.has(name));
  }

  /**
   * Whether status() would list nothing (no app, none stopping since its removal, no package whose
   * app.yaml does not load), without building it: the start asks once, and a status built only for
   * that compiled the whole status path and read each app's log tail (~3 ms of every start).
   */
  get listsNothing(): boolean {
    return this.records.size === 0 && this.removed.size === 0 && this.broken.length === 0;
  }

  /** The looks at the source so far (GatewayStatus.scan). */
  get scan(): ScanStatus {
    return this.scans.status;
  }

  status(): { apps: SupervisedAppStatus[]; broken: BrokenPackageStatus[] } {
    // An app added again under its name while the old one stops lists that one among its versions.
    const removed = [...this.removed.values()].filter((r) => !this.records.has(r.name));
    return registryStatus(this.records.values(), removed, [...this.draining], this.broken, (record) => ({
      mount: this.opts.mountOf(record.name),
      hosts: this.opts.routesOf(record.name).filter((r) => r.host !== null).map((r) => r.host!),
      logFile: this.logFileOf(record.name),
      idleTimeoutSeconds: idleTimeoutOf(this.currentHostEnv, record.name),
      canRollBack: canRollBack(record),
    }));
  }

  /**
   * Every pid of every app's processes, starting and draining ones included (tests and callers
   * check them for orphans).
   */
  get pids(): number[] {
    const instances = [...this.records.values()].flatMap((r) => [r.serving?.instance, r.startingInstance]);
    return [...instances.flatMap((i) => i?.pids ?? []), ...[...this.draining.keys()].flatMap((d) => d.pids)];
  }

  /** Resolves once nothing is settling, looked at or judged, or after `limitMs` (reconcile-scheduler.ts). */
  settled(limitMs: number, opts: { backOff?: boolean } = {}): Promise<void> {
    return this.looks.settled(limitMs, opts);
  }

  /**
   * The directories of refused, settling and rolled-back-from versions, and of a serving one
   * whose restart was refused: a change to any file in them matters (a rolled-back-from one is a
   * candidate again, docs/admin.md; a mended serving one is restarted). The other serving and
   * older versions are not walked at every poll: only these few. Each with the digest
   * (signatureDigest) of its files as they were judged, null where none is kept: the watcher
   * takes a directory it walks for the first time as changed only when they differ from it.
   */
  get watchedDirs(): Map<string, string | null> {
    const dirs = new Map<string, string | null>();
    for (const r of this.records.values()) {
      for (const [dir, { signature }] of r.refused) dirs.set(dir, signatureDigest(signature));
      for (const dir of r.settling) dirs.set(dir, this.judge.settlingDigest(dir));
      for (const [dir, signature] of r.rolledBack) dirs.set(dir, signatureDigest(signature));
      if (r.restartRefused) dirs.set(r.restartRefused.dir, signatureDigest(r.restartRefused.signature));
    }
    return dirs;
  }

  /**
   * Every running version's app.log (the draining ones' too, whose last lines still come)
   * opened again under its name (SIGUSR1): how many were, and how many could not be.
   */
  reopenAppLogs(): { reopened: number; failed: number } {
    const instances = new Set([...[...this.records.values()].flatMap((r) => (r.serving?.instance ? [r.serving.instance] : [])), ...this.draining.keys()]);
    let reopened = 0;
    for (const instance of instances) if (instance.reopenLog()) reopened++;
    return { reopened, failed: instances.size - reopened };
  }

  /**
   * Stops every version's processes: one still running a request within `graceMs`, one running
   * none within `shutdownMs` (AppInstance.stop).
   */
  async stop(graceMs: number, shutdownMs = graceMs): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.looks.stop();
    // Starts under way end at once (the stop signal reaches their hooks and workers).
    await this.judging.ended();
    // Draining versions too: their websockets need not wait for the end of the drain.
    const instances = [...[...this.records.values()].flatMap((r) => (r.serving ? [r.serving.instance] : [])), ...this.draining.keys()];
    try {
      await Promise.all(instances.map((instance) => instance.stop(graceMs, shutdownMs)));
      await Promise.all([...this.draining.values()].map((d) => d.done));
      // Every version has ended: what they ran on but the link's build is no next start's.
      await Promise.all([...this.venvBuildsRun.keys()].map((name) => this.pruneVenvBuilds(name)));
    } finally {
      // Last: a process that died during the stop is in it too.
      await this.histories.close();
    }
  }
}

/** `versions` (highest first) with `desc` in its place among them. */
function withVersion(versions: readonly Description[], desc: Description): Description[] {
  const below = versions.findIndex((d) => compareVersions(d.version, desc.version) <= 0);
  return below < 0 ? [...versions, desc] : [...versions.slice(0, below), desc, ...versions.slice(below)];
}
