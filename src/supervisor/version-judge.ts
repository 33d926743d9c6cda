// Judging one app's versions and starting the one to serve: converge() walks its versions from
// the highest, skipping those refused (until a file in them changes), rolled back from or still
// settling, and starts the first that can (its environment, its venv under --apps, its
// commands.install or commands.update hook, its processes up and probed). A version that
// starts takes over and the one before drains; one that fails any step is refused, and
// status and the log say why (under --apps, naming the app's log and carrying the last lines of
// its traceback or output); a database or Redis that is down is retried with back-off.
// The Registry (registry.ts) runs the reconcile loop around it and owns the records; this is
// what the loop does for one record.
import { existsSync, statSync } from 'node:fs';
import { appLogOptions, prepareRefusalLog, pythonPassedOver, resolveApp, type AppContext, type RunMode } from '../app-context.js';
import { CLI_COMMAND_WORDS, namingFixes, type CommandWords } from '../command-words.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import type { RunAs } from '../environment/run-as.js';
import { checkPip } from '../environment/checks.js';
import { pathsMissingRefusal } from '../environment/paths-entries.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { venvBuildOf } from '../environment/venv.js';
import { namingCallerOptions, namingGatewayEntry } from '../environment/app-env.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { HOOK_ENV, runInAppEnvironment } from '../lifecycle/run-command.js';
import { AppLog } from '../log/app-log.js';
import type { AppInstance } from './app-instance.js';
import { askRestart, saveRolledBack, showProblem, versionTally, type AppRecord, type Refusal } from './app-record.js';
import { buildAppVenv, type PendingVenv } from './app-venv.js';
import { failedUpdatesFile, installedFile, keepFailedUpdate, readFailedUpdates, readInstalled, tryRecordInstalled, updateSkipped, updatesPending } from '../lifecycle/installed-version.js';
import { readPackageTree, settleWaitMs, signatureDigest, treeDigest, type PackageTree } from './package-tree.js';
import { appLogFile, formatRefusal, logOffset, noteRefusalInLog, placedMessage, reasonOf, refusalUnderApps } from './refusal.js';
import { startApp } from './start-app.js';
import { StartSteps } from './start-steps.js';
import type { WorkerBudget } from './worker-budget.js';
import type { DrainCause } from './worker-drain.js';

/** The Registry's options that judging a version reads (RegistryOptions extends these). */
export interface VersionJudgeOptions {
  stateDir?: string;
  /** What a refusal of an app's state calls `stateDir` (the CLI's --state-dir, the library's stateDir); default --state-dir. */
  stateKey?: string;
  /** What a missing setting's fix calls the environment file's option (the CLI's --environment, the library's environment); default --environment. */
  environmentKey?: string;
  /** serve's app directory or the --apps directory, as the caller gave it: a fix that restarts the gateway names it. */
  entryDir?: string;
  /** The CLI's command line that started the gateway (OptionNames.startedAs): such a fix says it again. */
  startedAs?: string;
  /** What a hook's timeout calls the option that bounds it (the CLI's --hook-timeout, the library's hookTimeoutMs); default --hook-timeout. */
  hookTimeoutKey?: string;
  /** What a fix calls a command (the CLI's `apppkg-gateway rollback NAME`, the library's `gateway.rollback('NAME')`); default the CLI's. */
  commandWords?: CommandWords;
  /** production: --apps (app users, hooks); development: serve (tracebacks, the caller's settings). */
  mode: RunMode;
  /** The app's mount, as status and the log show it. */
  mountOf: (name: string) => string;
  say: (line: string) => void;
  /** Bound on the lifecycle hooks a deploy runs (install, update): --hook-timeout. */
  hookTimeoutMs: number;
  /** Run commands.install on an app's first start and commands.update on a new version. */
  runHooks: boolean;
  /** Copy each app's output to the terminal too (serve). */
  echoLogs?: boolean;
  /** Workers and threads of every app, over the environment file (serve --workers/--threads). */
  workers?: number;
  threads?: number;
  /**
   * How long nothing in a version's directory must change before the version is judged
   * (started or refused); 0 = at once (serve).
   */
  settleMs?: number;
  /** Told instead of the log line when a version is refused (serve reports its own way). */
  onRefused?: (name: string, error: GatewayError, stillServing: boolean) => void;
  /** --max-workers: Python workers of every app together (idle apps sleep to make room). */
  maxWorkers?: number;
  /** What the log and status call maxWorkers: the CLI's --max-workers (the default), the library's maxWorkers. */
  maxWorkersKey?: string;
  /** Each wake of an idle app, its time in seconds (/metrics' cold-start histogram). */
  onColdStart?: (name: string, seconds: number) => void;
  /**
   * How long a draining version may finish its requests and keep its websockets, for an app
   * whose environment gives no `drain`; a recycled worker keeps its websockets as long.
   */
  drainMs: number;
}

/** What the judge asks of the Registry it works for. */
export interface JudgingRegistry {
  /** The environment file as last read: what a version that starts now is started with. */
  hostEnv(): HostEnvironment;
  /** Has the registry begun stopping? */
  stopped(): boolean;
  /** One reconcile `ms` from now, for a version still settling or (`settling` false) a service to try again. */
  reconcileIn(ms: number, settling?: boolean): void;
  /** Hands the proxy the serving version of every app. */
  publish(): void;
  /** Takes `instance` out of rotation; it drains, its websockets told `cause` at the end. */
  drain(instance: AppInstance, desc: Description, cause: DrainCause, runAs: RunAs | null): void;
  /** The run helpers a start of this gateway wrote (pruned once no version uses them). */
  wroteHelpers(dir: string): void;
  /** The other apps whose serving version runs as `uid`. */
  servingAs(uid: number, except: string): string[];
  /** Does a draining version of `name` hold a request or a websocket? */
  drainingBusy(name: string): boolean;
}

/** A version refused with this code is tried again by itself: the server, not the app, failed. */
const SERVICE_UNAVAILABLE = 'APPPKG_SERVICE_UNAVAILABLE';
const SERVICE_RETRY_FIRST_MS = 1000;
const SERVICE_RETRY_MAX_MS = 60_000;

/**
 * How often a version refused because the gateway's open files ran out is tried again by itself
 * (1 s doubling, to 32 s), before it waits for SIGHUP or a change of its files as any refused
 * version does: a limit raised, or files let go, needs no reload (~250 of 300 apps refused at a
 * start under a too-low limit were kept refused until SIGHUP), and a limit that stays too low is
 * not tried for ever. A try takes no room the admin needs: spawns keep FILES_KEPT (open-files.ts).
 */
const OPEN_FILES_TRIES = 6;

function outOfFilesRefusal(error: GatewayError): boolean {
  if (error.details.openFiles !== undefined) return true;
  const errno = error.details.errno ?? (error.details.cause as NodeJS.ErrnoException | undefined)?.code;
  return errno === 'EMFILE' || errno === 'ENFILE';
}

/** Is `record`'s version refused with `error` tried again by itself, with back-off? */
function waitsItOut(record: AppRecord, error: GatewayError): boolean {
  return error.code === SERVICE_UNAVAILABLE || (outOfFilesRefusal(error) && record.openFilesTries < OPEN_FILES_TRIES);
}

/** HH:MM:SS of an ISO time, in the gateway's local time as its log's other times. */
/** Status's restarts and cold starts are the app's since the gateway started: a retired instance's go to the record. */
function keepPastCounts(record: AppRecord, instance: AppInstance): void {
  record.pastRestarts += instance.restarts;
  record.pastColdStarts += instance.coldStarts;
  record.pastColdStartMs += instance.coldStartMsTotal;
  record.pastColdStartFailures += instance.coldStartFailures;
  record.pastLastColdStartMs = instance.lastColdStartMs ?? record.pastLastColdStartMs;
}

function clockOf(iso: string): string {
  return new Date(iso).toTimeString().slice(0, 8);
}

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

/**
 * Is `desc`, restarted in place (its app.yaml edited, the admin's restart after a `git pull`),
 * the installed version with files other than those its commands.update or install passed
 * with? Then it is a new deploy of that version, and its update runs, as it would at the
 * gateway's next start (updatesPending).
 */
function editedSinceUpdate(desc: Description, marker: string): boolean {
  if (!desc.commands.update) return false;
  const installed = readInstalled(marker);
  if (installed === null || !installed.tracksUpdates || installed.dir !== desc.dir || installed.files === null) return false;
  return installed.files !== treeDigest(desc.dir);
}

export class VersionJudge {
  /** Apps whose installed.json predates recorded updates: the version that serves first replaces it. */
  private readonly adoptAtStart = new Set<string>();
  /** Apps whose failed updates kept from the gateway's last run were looked at (once, at its start). */
  private readonly keptFailuresRead = new Set<string>();
  /** By version directory, while it settles: its tree's signature and since when it has been seen so. */
  private readonly unchanged = new Map<string, { signature: string; since: number }>();

  constructor(
    private readonly opts: VersionJudgeOptions,
    private readonly budget: WorkerBudget | null,
    /** Aborted by the registry's stop(): a hook running then is stopped with its process group. */
    private readonly stop: AbortSignal,
    private readonly registry: JudgingRegistry,
  ) {}

  private get words(): CommandWords {
    return this.opts.commandWords ?? CLI_COMMAND_WORDS;
  }

  /**
   * A refusal of the app in `dir` with its fix in the caller's words: its options, its commands,
   * and how this gateway comes to read an environment file (the file in force when it is said).
   */
  private inCallersWords(err: GatewayError, development: boolean, dir: string): GatewayError {
    const entry = { mode: development ? ('serve' as const) : ('apps' as const), dir: this.opts.entryDir, file: this.registry.hostEnv().file, startedAs: this.opts.startedAs };
    return namingFixes(namingGatewayEntry(namingCallerOptions(err, this.opts), entry) as GatewayError, this.words, dir);
  }

  /** Serve the highest version that is not refused; keep the current one if none can start. */
  async converge(record: AppRecord): Promise<void> {
    const restart = record.restart;
    const restartCause = record.restartCause;
    record.restart = false;
    record.restartCause = 'restarted';
    record.settling.clear();
    const listed = (dir: string): boolean => record.versions.some((d) => d.dir === dir);
    for (const dir of record.refused.keys()) if (!listed(dir)) record.refused.delete(dir);
    for (const dir of record.refusalsSaid.keys()) if (!listed(dir)) record.refusalsSaid.delete(dir);
    // The problem of a version whose directory is gone goes with it (`rm -r apps/blog.2` after
    // its refusal): what status says instead is decided below, as after a deploy.
    if (record.problemDir !== null && !listed(record.problemDir)) showProblem(record, null);
    const rollbacks = record.rolledBack.size;
    for (const dir of record.rolledBack.keys()) if (!record.versions.some((d) => d.dir === dir)) record.rolledBack.delete(dir);
    if (record.rolledBack.size !== rollbacks) saveRolledBack(record);
    // A rollback keeps a version out while another can serve (SPEC 1.2: the others are rollback
    // targets). With only rolled-back versions left, or refused ones beside them (the one rolled
    // back to removed, while running or while the gateway was down), the workers of a removed
    // directory would serve on unsaid, or the app answer 503, or say `starting` for good, where
    // a version on disk could serve: the last one rolled back from (the lowest) serves again.
    if (record.rolledBack.size > 0 && !(record.serving !== null && listed(record.serving.desc.dir)) && record.versions.every((d) => record.rolledBack.has(d.dir) || record.refused.has(d.dir))) {
      const last = record.versions.filter((d) => record.rolledBack.has(d.dir)).at(-1)!;
      record.rolledBack.delete(last.dir);
      saveRolledBack(record);
      const refused = record.versions.filter((d) => record.refused.has(d.dir)).map((d) => label(d));
      const why = refused.length === 0 ? 'is left' : `can serve (${refused.join(', ')} ${refused.length === 1 ? 'was' : 'were'} refused)`;
      this.opts.say(`${record.name}: ${label(last)} serves again, though it was rolled back from: no other version of ${record.name} ${why} (to roll back again, put the version to go back to beside it, then ${this.words.rollback(record.name)})`);
    }
    // Why a version above the one that ends up serving was refused: status keeps saying it (a
    // restart of the serving one must not make a failed newer version look fine).
    let newerRefusal: Refusal | null = null;
    // Nothing serves yet (the gateway's start): a version whose commands.update has not run is
    // tried after the older ones, then deployed from the one that serves, as while running.
    const pending = this.updatesPendingAtStart(record);
    this.refuseKeptFailures(record, pending);
    const order = pending.size === 0 ? record.versions : [...record.versions.filter((d) => !pending.has(d.dir)), ...record.versions.filter((d) => pending.has(d.dir))];
    for (const desc of order) {
      const fp = fingerprint(desc);
      const rolledBack = record.rolledBack.get(desc.dir);
      if (record.brokenDescription !== null && record.serving?.desc.dir === desc.dir && rolledBack === undefined) {
        // Its app.yaml no longer loads: it runs on as it was started, and the versions below it
        // are for the admin's rollback only (a typo is no rollback).
        if (record.problem === null) showProblem(record, newerRefusal);
        return;
      }
      // The serving version's tree is walked only when its restart was refused: otherwise its
      // fingerprint (app.yaml) is all a serving version is judged by.
      const refusedRestartTree = record.restartRefused?.dir === desc.dir && record.serving?.desc.dir === desc.dir ? readPackageTree(desc.dir) : null;
      const mended = refusedRestartTree !== null && refusedRestartTree.signature !== record.restartRefused!.signature;
      if (record.serving?.fingerprint === fp && !restart && !mended && rolledBack === undefined) {
        // Already serving the best candidate; a problem dropped above gives way to the refusal
        // of a newer version still there, if any.
        if (record.problem === null) showProblem(record, newerRefusal);
        return;
      }
      const tree = refusedRestartTree ?? readPackageTree(desc.dir);
      if (rolledBack !== undefined) {
        if (rolledBack === tree.signature) continue;
        record.rolledBack.delete(desc.dir); // changed since: a candidate again
        saveRolledBack(record);
      }
      // The admin's restart of the serving version is told the files are ready (`git pull &&
      // restart`): it does not wait for them to settle, and is not lost meanwhile. Its files
      // refused since it began to serve are tried again: a restart restarts what serves, never
      // the version below it.
      const restarting = (restart || mended) && record.serving?.desc.dir === desc.dir;
      // The serving version judged anew for its edited app.yaml, a restart in place too: refused,
      // it serves on as it was started, and no version below it is tried (as for `restarting`).
      const inPlace = record.serving?.desc.dir === desc.dir;
      const refused = record.refused.get(desc.dir);
      if (refused?.signature === tree.signature && !restarting) {
        newerRefusal ??= { dir: desc.dir, error: refused.error };
        if (inPlace) break;
        continue;
      }
      const settleWait = restarting ? 0 : this.settleWait(desc.dir, tree);
      if (settleWait > 0) {
        // Still being copied: judged once nothing has changed in it for settleMs.
        record.settling.add(desc.dir);
        this.registry.reconcileIn(settleWait);
        // The serving version edited in place serves on as it was started while its files
        // settle: a version below, unchanged and so judged at once, would take over meanwhile.
        if (inPlace) break;
        continue;
      }
      this.unchanged.delete(desc.dir);
      record.startingVersion = record.serving === null;
      record.judging = desc.dir;
      const wait = (record.startSteps = new StartSteps());
      const started = await this.startVersion(record, desc, { updatePending: pending.has(desc.dir), restarting, wait, startedWith: tree.signature }).finally(() => {
        record.startingVersion = false;
        record.judging = null;
        record.startingInstance = null;
        record.startingRunAs = null;
        record.startSteps = null;
        wait.close();
      });
      // The gateway began stopping meanwhile: nothing more is started, or recorded as refused.
      if (this.registry.stopped()) {
        if (started) {
          this.budget?.remove(started.instance);
          await started.instance.stop(0);
        }
        return;
      }
      if (!started) {
        // A restart keeps no serviceWait (its version serves on), so its own refusal is asked.
        if (record.problem !== null && (record.problem.code === SERVICE_UNAVAILABLE || record.serviceWait?.error === record.problem || (restarting && waitsItOut(record, record.problem)))) {
          // Its database or Redis is down, or the open files ran out, not the app: tried again by itself, with back-off.
          if (record.problem.code !== SERVICE_UNAVAILABLE) record.openFilesTries++;
          record.serviceRetryMs = Math.min(SERVICE_RETRY_MAX_MS, (record.serviceRetryMs || SERVICE_RETRY_FIRST_MS / 2) * 2);
          const again = record.serviceRepeat;
          record.serviceRepeat = null;
          const refusedAgain = again ? `${label(desc)} refused again, the same way (${again.times} times since ${clockOf(again.at)}); ` : '';
          this.opts.say(`${record.name}: ${refusedAgain}trying again in ${Math.round(record.serviceRetryMs / 1000)} s`);
          this.registry.reconcileIn(record.serviceRetryMs, false);
          const nextTryAt = performance.now() + record.serviceRetryMs;
          if (record.serviceWait?.dir === desc.dir) record.serviceWait.nextTryAt = nextTryAt;
          if (restarting) {
            // A restart (new settings at SIGHUP, the admin's) is still owed: the serving version
            // matches its description, so the retry would otherwise find nothing to do. And as
            // below, the versions under the serving one are not tried meanwhile. One asked during
            // this judging is the later ask, and its cause the one told (app-record.ts askRestart).
            if (!record.restart) askRestart(record, restartCause);
            record.restartWait = { dir: desc.dir, error: record.problem, since: performance.now(), nextTryAt };
            return;
          }
          if (inPlace) break;
          continue;
        }
        // A restart that fails leaves what serves serving (the next change may mend its files):
        // an older version taking over would run code the serving one's update hook moved past.
        if (restarting) {
          // startVersion kept its files (restartRefused), by the rule a refused version's are.
          record.restartWait = null;
          return;
        }
        newerRefusal ??= { dir: desc.dir, error: record.problem! };
        // An older version taking over would run code its commands.update moved past (above).
        if (inPlace) break;
        continue;
      }
      record.serviceRetryMs = 0;
      record.serviceWait = null;
      record.restartWait = null;
      record.openFilesTries = 0;
      record.refused.delete(desc.dir);
      record.refusalsSaid.delete(desc.dir);
      const previous = record.serving;
      if (previous) keepPastCounts(record, previous.instance);
      record.serving = { desc, fingerprint: fp, instance: started.instance, runAs: started.runAs, hostEnv: started.hostEnv };
      // The previous instance keeps its room while it drains (registry.drain gives it back).
      this.budget?.add(started.instance);
      if (started.runAs?.isRoot) {
        // A `user: root` the host wrote is a choice to confirm, not a default to change.
        this.opts.say(started.runAs.named
          ? `${record.name}: WARNING: runs as root, as its \`user:\` in the environment file says: its processes can do anything on this host; give it a user of its own unless it needs root`
          : `${record.name}: WARNING: runs as root; set \`user:\` for it in the environment file, or chown its directory to the user it should run as`);
      } else if (started.runAs) {
        // SPEC 2.1: settings of one app are never visible to another. The kernel shows a
        // process's environment (/proc/PID/environ), TMPDIR and data to every process of the
        // same user, so apps sharing one (their directories owned by one deploy user) see each other's.
        const sharing = this.registry.servingAs(started.runAs.uid, record.name);
        if (sharing.length > 0) {
          this.opts.say(`${record.name}: WARNING: runs as ${started.runAs.user}, as ${sharing.join(', ')} ${sharing.length === 1 ? 'does' : 'do'}: each can read the other's settings (/proc/PID/environ), TMPDIR and data; set \`user:\` for it in the environment file to a user of its own`);
        }
      }
      // At the start a version refused for its kept failure is judged after the older ones
      // (`order`), though it is higher: status says why it does not serve all the same.
      showProblem(record, newerRefusal ?? this.refusedAbove(record, desc));
      record.restartRefused = null;
      // The proxy hands what waits for the old version to the new one; what the old one's
      // workers hold finishes there (SIGTERM lets a worker finish what it holds).
      this.registry.publish();
      if (previous) {
        const same = previous.desc === desc || previous.desc.dir === desc.dir;
        const what = same ? `${label(desc)} restarted` : `${label(desc)} takes over from ${label(previous.desc)}`;
        this.opts.say(`${record.name}: ${what}; draining the old one`);
        // An app without version suffixes is named by its directory on both sides of the arrow,
        // and a restart of one by neither (the message names it): never "DIR -> nothing".
        const side = (d: Description) => d.version ?? (same ? null : d.dir);
        // Leaving a version the admin's rollback put out of rotation (rollback.ts) is that
        // rollback: one event in the history, not a switch and then a rollback of the same change.
        const rollback = !same && record.rolledBack.has(previous.desc.dir);
        const kind = same ? 'restarted' : rollback ? 'rolled-back' : 'switched';
        const told = rollback ? `rolled back from ${label(previous.desc)} to ${label(desc)}` : what;
        record.history.add(kind, `${told}; the old one drains`, { version: side(desc), from: side(previous.desc) });
        // The same files restarted (restart NAME, a SIGHUP's changed settings) are not a deploy, as
        // the same directory with files changed in place is (an app without version suffixes).
        this.registry.drain(previous.instance, previous.desc, same && restarting ? restartCause : rollback ? 'rolled-back' : 'deployed', previous.runAs);
      } else {
        this.opts.say(`${record.name}: ${label(desc)} serving at ${this.opts.mountOf(record.name)}`);
        record.history.add('serving', `${label(desc)} serving at ${this.opts.mountOf(record.name)}`, { version: desc.version });
        // A marker from before updates were recorded: what serves now is the baseline from here on.
        if (this.adoptAtStart.delete(record.name)) this.record(desc, 'adopted');
        // One refused again at once for its kept failure (refuseKeptFailures) is not deployed now.
        const next = order.find((d) => pending.has(d.dir) && d !== desc && record.refused.get(d.dir)?.signature !== readPackageTree(d.dir).signature);
        if (next) {
          this.opts.say(`${record.name}: ${label(next)} has not passed its commands.update; it is deployed now, ${label(desc)} serving meanwhile`);
          this.registry.reconcileIn(0);
        }
      }
      // Judged (imported, probed) within the room startApp held for it in the budget; an app
      // that was asleep sleeps again rather than stay awake for a deploy (SPEC 5.6).
      if (previous?.instance.idleState === 'asleep') await started.instance.sleep('judged while idle');
      return;
    }
    // Nothing (else) could start: a problem dropped above gives way to a refusal still there.
    if (record.problem === null) showProblem(record, newerRefusal);
    // The serving version's directory removed, and every version left refused: its workers
    // would serve on from a directory that is gone, unsaid (and could not start again). A
    // version still settling, or waiting for its database, may yet take over: it serves till then.
    const serving = record.serving;
    if (serving !== null && !listed(serving.desc.dir) && record.settling.size === 0 && record.versions.every((d) => record.refused.has(d.dir) || record.rolledBack.has(d.dir))) {
      const refused = record.versions.filter((d) => record.refused.has(d.dir)).map((d) => label(d));
      const why = refused.length === 0 ? '' : ` (${refused.join(', ')} ${refused.length === 1 ? 'was' : 'were'} refused)`;
      const told = `${label(serving.desc)} removed, and no other version can serve${why}: ${record.name} answers 503 until one does`;
      this.opts.say(`${record.name}: ${told}`);
      record.history.add('removed', told, { version: serving.desc.version });
      keepPastCounts(record, serving.instance);
      record.serving = null;
      this.registry.publish();
      this.registry.drain(serving.instance, serving.desc, 'removed', serving.runAs);
    }
  }

  /** The digest (signatureDigest) of the tree of `dir` as the last look at it while it settles found it; null when it does not settle. */
  settlingDigest(dir: string): string | null {
    return this.unchanged.get(dir)?.signature ?? null;
  }

  /** settleWaitMs for the version in `dir`, its tree seen unchanged since (performance.now(): no wall clock) the first look that found it so. */
  private settleWait(dir: string, tree: PackageTree): number {
    const now = performance.now();
    // A digest: a directory removed while it settled leaves its entry, which must stay small.
    const signature = signatureDigest(tree.signature);
    let seen = this.unchanged.get(dir);
    if (seen?.signature !== signature) this.unchanged.set(dir, (seen = { signature, since: now }));
    return settleWaitMs(tree, this.opts.settleMs ?? 0, now - seen.since);
  }

  /**
   * Keeps in installed.json that `desc` passed its hook (or, `adopted`, serves as the baseline),
   * or says why it could not and what that means: false then.
   */
  private record(desc: Description, by: 'install' | 'update' | 'adopted'): boolean {
    const file = installedFile(this.opts.stateDir, desc.name);
    const failed = tryRecordInstalled(file, desc, by, by === 'adopted' ? null : treeDigest(desc.dir));
    if (failed === null) return true;
    const what = by === 'adopted' ? 'serves as the baseline of its updates' : `passed its commands.${by}`;
    const then = by === 'adopted' ? 'that is judged again' : `its commands.${by} runs again`;
    this.opts.say(`${desc.name}: cannot record that ${label(desc)} ${what} in ${file} (${failed}); ${then} at the gateway's next start: free space on the state root, or make it writable`);
    return false;
  }

  /** The dirs of the versions whose update is due before they serve, when nothing serves (updatesPending). */
  private updatesPendingAtStart(record: AppRecord): Set<string> {
    // serve has one version, and runs commands.install only (docs/architecture.md).
    if (record.serving !== null || !this.opts.runHooks || this.opts.mode !== 'production') return new Set();
    // The common start, no update hook anywhere: not even the file is read.
    if (!record.versions.some((d) => d.commands.update)) return new Set();
    const installed = readInstalled(installedFile(this.opts.stateDir, record.name));
    if (installed !== null && !installed.tracksUpdates) this.adoptAtStart.add(record.name);
    return updatesPending(record.versions, installed, treeDigest);
  }

  /** The refusal of the highest version above `desc` that is refused with the files it has, if any. */
  private refusedAbove(record: AppRecord, desc: Description): Refusal | null {
    for (const d of record.versions) {
      if (d === desc) return null;
      const refused = record.refused.get(d.dir);
      if (refused !== undefined && refused.signature === readPackageTree(d.dir).signature) return { dir: d.dir, error: refused.error };
    }
    return null;
  }

  /**
   * At the gateway's start, a version whose commands.update failed in an earlier run with the
   * files it still has is refused again for the same reason without running the hook: a
   * restart of the gateway (an upgrade of its package, a reboot) is nobody's ask to run a
   * failed migration again, as it is not while the gateway runs. What retries it is what
   * retries any refused version: a change to its files, SIGHUP (`systemctl reload`), or
   * `apppkg-gateway restart NAME` while nothing serves (README.md).
   */
  private refuseKeptFailures(record: AppRecord, pending: Set<string>): void {
    if (this.keptFailuresRead.has(record.name)) return;
    this.keptFailuresRead.add(record.name);
    if (pending.size === 0) return;
    for (const [dir, failed] of readFailedUpdates(failedUpdatesFile(this.opts.stateDir, record.name))) {
      const desc = record.versions.find((d) => d.dir === dir);
      if (desc === undefined || !pending.has(dir) || failed.files !== treeDigest(dir)) continue;
      const error = new GatewayError(failed.code as ErrorCode, failed.details);
      record.refused.set(dir, { signature: readPackageTree(dir).signature, error });
      const refused = `${label(desc)} refused: its commands.update failed at ${failed.at} with these same files, and is not run again until a file in it changes or you ${this.words.reloadNow}: ${placedMessage(error)}`;
      record.history.add('refused', refused, { version: desc.version, reason: reasonOf(error) });
      this.opts.say(`${record.name}: ${label(desc)} refused: its commands.update failed at ${failed.at} with these same files; it is not run again (change a file in it, or ${this.words.rescan}, to run it again):\n${formatRefusal(error)}`);
    }
  }

  /**
   * `updatePending`: its commands.update runs though no older version serves
   * (updatesPendingAtStart); `restarting`: the serving version restarted in place, whose failure
   * leaves it serving rather than refused; `startedWith`: its files' signature as read before the start.
   */
  private async startVersion(
    record: AppRecord,
    desc: Description,
    { updatePending, restarting, wait, startedWith }: { updatePending: boolean; restarting: boolean; wait: StartSteps; startedWith: string },
  ): Promise<{ instance: AppInstance; runAs: RunAs | null; hostEnv: HostEnvironment } | null> {
    const development = this.opts.mode === 'development';
    const hostEnv = this.registry.hostEnv();
    const logFile = appLogFile(this.opts.stateDir, desc.name);
    const logStart = development ? 0 : logOffset(logFile);
    let venv: PendingVenv | null = null;
    // A version runs on its venv's build directory, not on the link to it: the link moves to the
    // next deploy's build while this version drains, and its workers read those libraries then
    // (importlib.metadata, a lazy import, a respawn's python), under code written for these.
    const venvBuild = desc.pip ? await venvBuildOf(appStateDirs(resolveStateRoot({ flag: this.opts.stateDir }), desc.name).venv).catch(() => undefined) : undefined;
    let updateFailed = false;
    let hookFailed = false;
    try {
      const resolve = () => resolveApp({
        dir: desc.dir,
        desc,
        mode: this.opts.mode,
        hostEnv,
        stateDir: this.opts.stateDir,
        // Under --apps only the environment file counts, so one app's secret in the gateway's
        // environment never reaches another app; serve is the developer's own shell.
        settingsFromProcessEnv: development,
        // SPEC §2.1: APPPKG_ENV is production under --apps and development under serve, whatever
        // the shell serve runs from exports: the gateway answers as development (tracebacks), and
        // an app told production beside it debugged a mode the gateway was not in.
        modeAsRun: true,
        switchUser: !development,
        venvDir: venv?.dir ?? venvBuild,
        provisionServices: true,
        // A service's status reason, as the refusal below, in the caller's words.
        stateKey: this.opts.stateKey,
        environmentKey: this.opts.environmentKey,
        say: this.opts.say,
      }).then((ctx) => {
        this.registry.wroteHelpers(ctx.appEnv.runDir);
        record.startingRunAs = ctx.runAs;
        return ctx;
      });
      // Its services are made ready here (a PostgreSQL user and database, a Redis user), as its environment is resolved.
      const services = [desc.services?.database ? 'its database' : null, desc.services?.redis ? 'its Redis' : null].filter((x) => x !== null);
      wait.judge(services.length > 0 ? 'services' : 'environment', services.length > 0
        ? `${services.join(' and ')} to be ready, and its interpreter and settings`
        : 'its interpreter and settings to be resolved');
      let ctx = await resolve();
      const passedOver = await pythonPassedOver(ctx);
      if (passedOver !== null) this.opts.say(passedOver);
      // serve too (SPEC §2.1: the venv is on sys.path when pip is used): without it an app
      // whose requirements --apps installs failed under serve on its first import. Not when
      // serve finds every requirement already there (in the interpreter, before any install):
      // a developer's own installs keep serving as they did, with no offline pip to satisfy.
      if (desc.pip && !(development && (await checkPip(desc, ctx.interpreter, { stateRoot: this.opts.stateDir })).ok)) {
        const log = new AppLog(ctx.appEnv.logDir, appLogOptions(ctx));
        wait.judge('venv', `pip to build its virtualenv from ${desc.pip}`);
        venv = await buildAppVenv(ctx, log, this.opts.say).finally(() => log.end());
        // The environment was resolved before this venv existed: its python is now the new build's.
        if (venv) ctx = await resolve();
      }
      if (this.opts.runHooks) {
        const marker = installedFile(this.opts.stateDir, desc.name);
        const firstInstall = !existsSync(marker);
        const newVersion = record.serving
          ? record.serving.desc.dir !== desc.dir ? this.updateDue(record, desc, marker) : editedSinceUpdate(desc, marker)
          : updatePending;
        const hook = firstInstall ? 'install' : newVersion ? 'update' : null;
        updateFailed = hook === 'update';
        hookFailed = hook !== null;
        if (hook !== null && desc.commands[hook]) wait.judge('hook', `commands.${hook} to finish: ${desc.commands[hook]}`);
        const ran = hook !== null && (await this.runHook(ctx, hook));
        updateFailed = false;
        hookFailed = false;
        if (firstInstall) this.record(desc, 'install');
        // Recorded as soon as it passed, not once the version serves: an import or a probe that
        // fails after it leaves the data migrated all the same, and a retry of the version (a
        // SIGHUP, the gateway's next start) must not run the migration again with these files.
        if (ran && hook === 'update' && this.record(desc, 'update')) {
          try {
            keepFailedUpdate(failedUpdatesFile(this.opts.stateDir, desc.name), desc.dir, null);
          } catch {
            // Harmless if left: installed.json names this version now, so it is not pending, and
            // refuseKeptFailures looks only at pending ones.
          }
        }
      }
      // Python skips it unsaid, and the app fails to import what it was to hold: refused as
      // check refuses it. Only now, as commands.install may be what makes it (pip install --target).
      const missingPath = pathsMissingRefusal(desc);
      if (missingPath !== null) throw missingPath;
      const instance = await startApp(ctx, {
        development,
        say: this.opts.say,
        commandWords: this.opts.commandWords,
        inCallersWords: (err) => this.inCallersWords(err, development, desc.dir),
        echoLogs: this.opts.echoLogs,
        workers: this.opts.workers,
        threads: this.opts.threads,
        history: record.history,
        tally: versionTally(record, desc.dir),
        budget: this.budget ?? undefined,
        stop: this.stop,
        drainMs: this.opts.drainMs,
        // As SCRIPT_NAME gives it: empty for an app at the root (serve, `mount: /`).
        mount: this.opts.mountOf(desc.name).replace(/\/+$/, ''),
        created: (instance) => (record.startingInstance = instance),
        wait,
        onColdStart: this.opts.onColdStart && ((seconds) => this.opts.onColdStart!(desc.name, seconds)),
        othersBusy: () => this.registry.drainingBusy(desc.name),
        serveFromFirstWorker: !record.serving,
      });
      // From here on nothing may throw: the catch below would refuse a version whose workers run.
      // The version runs: the venv link follows it (the version it replaces drains meanwhile).
      const built = venv;
      venv = null; // from here on the build is the running version's: never discarded
      await built?.switchTo().catch((err) => this.opts.say(`${desc.name}: cannot switch its venv link to ${built.dir}: ${String(err)}; the version runs from that build directly`));
      return { instance, runAs: ctx.runAs, hostEnv };
    } catch (err) {
      await venv?.discard();
      // Stopped by the gateway's own stop (its hook killed): not a refusal of the version.
      if (this.registry.stopped()) return null;
      let error = isGatewayError(err)
        ? this.inCallersWords(err, development, desc.dir)
        : new GatewayError('APPPKG_WORKER_START_FAILED', { name: desc.name, dir: desc.dir, reason: String(err), cause: err });
      // Under --apps the app's output is in its log only: say where, and bring its end here.
      if (!development) error = refusalUnderApps(error, logFile, logStart);
      // Not run again at the gateway's next start with these files (refuseKeptFailures).
      if (updateFailed && !development) {
        try {
          keepFailedUpdate(failedUpdatesFile(this.opts.stateDir, desc.name), desc.dir, { files: treeDigest(desc.dir), code: error.code, details: error.details });
        } catch (err) {
          this.opts.say(`${desc.name}: cannot keep its failed commands.update for the next start: ${String(err)}; it is run again then`);
        }
      }
      const refused = `${label(desc)} refused${record.serving ? `; ${label(record.serving.desc)} keeps serving` : ''}: ${placedMessage(error)}`;
      // Under serve the terminal has it; under --apps, the app's log as well (below).
      const logged = !development && (await prepareRefusalLog(desc, { hostEnv: this.registry.hostEnv(), stateDir: this.opts.stateDir, switchUser: true }));
      // From here to the return nothing awaits: status shows the refusal whole (the problem, the
      // version failed, the history's event, the gateway's line) or not yet, never a problem
      // beside a version that looks fine.
      const waits = waitsItOut(record, error);
      // The files as they are after the attempt: an app that writes into its own directory
      // while it fails to start must not look changed, and be retried, at every look. But files
      // changed during the attempt may be a fix copied in while a slow import failed, which
      // kept as refused waited for another change or a SIGHUP: that is tried once more. Its
      // try changing them again (it started from what the first left) is the app's own writing.
      // A restart that fails leaves the version serving: its files are kept in restartRefused,
      // not refused, by the same rule (a hook's writes, the app's own, a fix copied in meanwhile).
      const after = !waits ? readPackageTree(desc.dir).signature : null;
      const leftBefore = restarting ? (record.restartRefused?.dir === desc.dir ? record.restartRefused.leftBehind : undefined) : record.refused.get(desc.dir)?.leftBehind;
      // Not under serve: a failed first start ends it or has --reload wait for a change, and a
      // version serving behind that wait's back would still be answered 503 there; --reload
      // restarts for a save during a restart itself. Nor after a failed hook: it writes into the
      // directory as hooks do (collectstatic, pip install --target), and a failed migration is
      // run again only when asked (README), at a restart as at a start.
      const changedMeanwhile = !development && !hookFailed && after !== null && after !== startedWith && leftBefore !== startedWith;
      const signature = changedMeanwhile ? startedWith : after;
      const kept = signature === null ? null : { signature, leftBehind: changedMeanwhile ? after! : undefined };
      if (restarting) {
        if (kept !== null) record.restartRefused = { dir: desc.dir, ...kept };
      } else {
        if (kept !== null) record.refused.set(desc.dir, { ...kept, error });
        record.serviceWait = waits ? { dir: desc.dir, error, since: performance.now(), nextTryAt: null } : null;
      }
      showProblem(record, { dir: desc.dir, error });
      // Tried again at SIGHUP with the same files, and refused the same way: nothing to tell but
      // that. A restart is asked for (the admin's, a reload's new settings): said whole each time.
      const said = `${error.code}: ${placedMessage(error)}`;
      const saidOf = restarting ? null : signature;
      const before = saidOf === null || this.opts.onRefused ? undefined : record.refusalsSaid.get(desc.dir);
      const still = before !== undefined && before.signature === saidOf && before.said === said ? before : null;
      // Tried again through an outage or at a reload: the same refusal adds to its event (a count, the last try).
      const event = record.history.add('refused', refused, {
        version: desc.version,
        reason: reasonOf(error),
        repeat: waits || still !== null,
      });
      // Said whole the first time, in the app's log too: each try after it is one line (the
      // judge's loop says the gateway's).
      if (logged) {
        if (still !== null) noteRefusalInLog(logFile, `${label(desc)} still refused, the same way as at ${still.at} (${error.code}): its files are unchanged`, undefined);
        else if (event.times > 1) noteRefusalInLog(logFile, `${label(desc)} refused again, the same way (${error.code}); tried again with back-off`, undefined);
        else noteRefusalInLog(logFile, refused, error.hint);
      }
      const keeps = record.serving ? `; ${label(record.serving.desc)} keeps serving` : '';
      if (still !== null) {
        this.opts.say(
          `${record.name}: ${label(desc)} still refused${keeps}: ${said.split('\n', 1)[0]} (unchanged since ${still.at}: the same files, the same error; ` +
            `the whole refusal was logged then, ${this.words.status} shows it; change a file in it to deploy it anew)`,
        );
      } else if (waits && event.times > 1) {
        record.serviceRepeat = event;
      } else if (this.opts.onRefused) {
        this.opts.onRefused(record.name, error, record.serving !== null);
      } else {
        this.opts.say(`${record.name}: ${label(desc)} refused${keeps}:\n${formatRefusal(error)}`);
        if (saidOf !== null) record.refusalsSaid.set(desc.dir, { signature: saidOf, said, at: new Date().toISOString() });
      }
      if (changedMeanwhile) {
        // Looked at again now, not at the watcher's next poll: under --watch-interval 0 there is none.
        this.opts.say(restarting
          ? `${record.name}: files in ${label(desc)} changed while it was restarting; restarting it again with them`
          : `${record.name}: files in ${label(desc)} changed while it was starting; trying it again with them`);
        this.registry.reconcileIn(0);
      }
      return null;
    }
  }

  /**
   * Does `desc`, taking over from the serving version, run its commands.update? Not when it is
   * a rollback or the installed version copied back unchanged (updateSkipped): the log says so
   * when it has the hook, since a user who wrote one expects it to run at every switch.
   */
  private updateDue(record: AppRecord, desc: Description, marker: string): boolean {
    const installed = readInstalled(marker);
    const skipped = updateSkipped(desc, record.versions, installed, () => treeDigest(desc.dir));
    if (skipped === null) return true;
    if (desc.commands.update) {
      const newest = installed!.version === null ? installed!.dir : `version ${installed!.version}`;
      this.opts.say(skipped === 'rollback'
        ? `${record.name}: rolling back to ${label(desc)}: its commands.update is not run (${newest}'s ran; a rollback keeps the data as it is)`
        : `${record.name}: ${label(desc)} is back with the files its commands.update passed with; it is not run again (change a file in it to deploy it anew)`);
    }
    return false;
  }

  /** Runs the hook, if the app has one (false when not); throws when it fails. */
  private async runHook(ctx: AppContext, hook: 'install' | 'update'): Promise<boolean> {
    const command = ctx.desc.commands[hook];
    if (!command) return false;
    this.opts.say(`${ctx.desc.name}: running commands.${hook} of ${label(ctx.desc)}: ${command}`);
    // Under serve the hook's output reaches the terminal too, as the workers' does (echoLogs).
    const log = new AppLog(ctx.appEnv.logDir, { echo: this.opts.echoLogs ? process.stderr : null, ...appLogOptions(ctx) });
    // performance.now(): a step of the wall clock made it "done in 3600.2 s".
    const started = performance.now();
    let timedOut = false;
    const status = await runInAppEnvironment(ctx, { shell: command, key: `commands.${hook}`, extraEnv: HOOK_ENV, output: log, timeoutMs: this.opts.hookTimeoutMs, onTimeout: () => (timedOut = true), background: { stop: this.stop } });
    log.end();
    // Cut by the gateway's stop, it is no refusal (none is recorded), but the log said nothing of
    // it between "running commands.update" and "stopped": said, with when it runs again (at the
    // next start the version is not installed, or its update not passed, so it runs then).
    if (this.stop.aborted) {
      this.opts.say(`${ctx.desc.name}: commands.${hook} of ${label(ctx.desc)} stopped with the gateway after ${((performance.now() - started) / 1000).toFixed(1)} s; it runs again at the next start`);
    }
    // Said as what it is: "exited with status 143" read as the hook's own failure.
    if (timedOut) throw new GatewayError('APPPKG_COMMAND_TIMEOUT', { command: `commands.${hook} (${command})`, seconds: this.opts.hookTimeoutMs / 1000, hookTimeoutKey: this.opts.hookTimeoutKey, ...(this.opts.mode === 'development' ? { serve: true } : {}) });
    if (status !== 0) {
      throw new GatewayError('APPPKG_COMMAND_FAILED', { command: `commands.${hook} (${command})`, status });
    }
    this.opts.say(`${ctx.desc.name}: commands.${hook} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return true;
  }
}

/** A version as the log and the history name it. */
export function label(desc: Description): string {
  return desc.version ? `version ${desc.version}` : desc.dir;
}
