// The gateway as a library (SPEC 5.7: `await Gateway.start({ apps, listen, admin, environment })`)
// and the composition root: the front (the proxy's listeners) routes to what the registry (the
// supervisor) publishes, the admin listener shows both, a watcher tells the registry when the
// apps directory changes. The CLI's `--apps` and `serve` are two uses of it. This file is the
// public class and its start order; the options and their checks are gateway-options.ts, the
// Front's and the Registry's wiring gateway-wiring.ts, the wait for the first reconcile
// gateway-start-wait.ts, serve --reload gateway-serve-reload.ts.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readAdminToken } from './admin/admin-access.js';
import { noSuchAppError } from './admin/no-such-app.js';
import { brokenAppError, startAdminServer, type AdminProvider, type AdminServer, type MailDeleteAsk, type MailDeleteDone, type MailRetryAsk, type MailRetryDone } from './admin/admin-server.js';
import { adminAddressFile, forgetAdminAddress, recordAdminAddress, type AdminAddressRecord } from './admin/admin-address-file.js';
import { adminKeyFile, forgetAdminKey, recordAdminKey, type AdminKeyRecord } from './admin/admin-key-file.js';
import { GatewayMetrics } from './admin/metrics.js';
import { ProcessSampler } from './admin/process-sampler.js';
import type { GatewayStatus } from './admin/status-types.js';
import { loadHostEnvironment, type RunMode } from './app-context.js';
import { adminListenerWords, type CommandWords } from './command-words.js';
import { namingCwdGone } from './working-directory.js';
import { environmentFileExposure } from './environment/environment-file-mode.js';
import { clearInterpreterCache } from './environment/interpreter-discovery.js';
import { releaseProbeCacheDir, setProbeCacheDir } from './environment/probe-cache.js';
import { namingStateRoot, prepareStateRoot, removeMadeDirs, stateCacheDir } from './environment/state-root.js';
import { heldByAnotherGateway, lockServedApp, lockStateRoot, type StateRootLock } from './environment/state-root-lock.js';
import { userNotAppliedWarnings } from './environment/run-as.js';
import { unknownAppWarnings } from './environment/unknown-apps.js';
import { GatewayError, givenAs, isGatewayError } from './errors.js';
import { reportStoppingWorkers } from './supervisor/stop-report.js';
import { checkGatewayOptions, LIBRARY_OPTION_NAMES, sayOnStderr, type CheckedStart, type GatewayOptions, type OptionNames } from './gateway-options.js';
import { waitForFirstJudgement } from './gateway-start-wait.js';
import { waitForFix, watchForReload } from './gateway-serve-reload.js';
import { createRegistry, frontOptions } from './gateway-wiring.js';
import { openFilesShortfall } from './open-files.js';
import { packageVersion } from './package-version.js';
import type { Front } from './proxy/front.js';
import { PostgresWatch } from './services/postgresql-watch.js';
import { RedisUserWatch } from './services/redis-user-watch.js';
import { serviceStatusOf } from './services/service-status.js';
import { appLogFile } from './supervisor/refusal.js';
import { DEFAULT_WORKERS } from './supervisor/start-app.js';
import { parsePackageDirName } from './description/package-dir.js';
import { appsDirectoriesIn } from './description/apps-dir.js';
import type { Registry } from './supervisor/registry.js';
import { servedAppName } from './supervisor/discovery.js';
import { AppsWatcher } from './supervisor/watcher.js';
import { overridesFor } from './environment/host-file.js';
import { checkAddressesApart, parseAddr } from './net/address.js';
import { reloadEnvironment, type EnvironmentReload } from './supervisor/environment-reload.js';
import { mailDomainsOf, type MailRoute } from './mail/mail-routes.js';
import type { MailService } from './mail/mail-service.js';
import { CLI_MAIL_WORDS, programMailWords, type MailWords } from './mail/mail-words.js';
import { queuedDeliveryCount } from './mail/mail-spool.js';
import { countOf } from './count.js';
import { cgroupHold } from './supervisor/cgroup-tree.js';

export type { GatewayStatus } from './admin/status-types.js';
export type { ListenAddress } from './net/address.js';
export type { UnixSocketOptions } from './net/listen.js';
export type { MailDeleteAsk, MailDeleteDone, MailRetryAsk, MailRetryDone } from './admin/admin-server.js';
export type { EnvironmentReload } from './supervisor/environment-reload.js';
export { DEFAULT_SETTLE_MS, type GatewayOptions } from './gateway-options.js';

/** A stopping worker still in a request has this to end; one in its own shutdown, at least this. */
const WORKER_STOP_MS = 5000;

export class Gateway {
  /** The listeners' URLs (`http://host:port` with port 0 resolved, or `unix:/path`). */
  readonly urls: string[];
  /** The admin listener's URL, or null without one. */
  readonly adminUrl: string | null;
  private stopping: Promise<void> | null = null;
  /** When stop() began (ISO), for status; null while it runs. */
  private stoppingSince: string | null = null;
  /** Set as stop() resolves: a program's status() then says `stopped`, not `stopping` for good. */
  private stoppedFully = false;
  private watcher: { start(): void; stop(): void } | null = null;
  /** The mail listener and its deliveries (SPEC 5.3), when the environment file has `mail:`. */
  private mail: MailService | null = null;
  /** CPU and RSS of the apps' processes, sampled when the admin listener is asked. */
  private readonly sampler = new ProcessSampler();
  /** The environment file (absolute) that reloadEnvironment() reads; null: none was given. */
  private environmentFile: string | null = null;
  /** What a refusal of that file, read again, calls its option (OptionNames.environment). */
  private environmentKey = LIBRARY_OPTION_NAMES.environment;
  /** What reload()'s line calls it: the CLI's SIGHUP, the library's reload() (OptionNames.commands). */
  private reloadWord = LIBRARY_OPTION_NAMES.commands.reload;
  /** What stop()'s lines call the grace (OptionNames.grace). */
  private graceKey = LIBRARY_OPTION_NAMES.grace;
  /**
   * What the fixes of restart(), restartApp(), rollback() and the mail calls name (OptionNames):
   * their caller's. The admin listener's requests are the CLI's, and are told its words.
   */
  private names: Pick<OptionNames, 'apps' | 'environment' | 'commands'> = LIBRARY_OPTION_NAMES;
  /** Root runs the apps as their users: a file they could read is said in the log. */
  private appsRunAsOthers = false;
  /** --apps DIR, whose apps the environment file's `apps:` entries should name; null under serve. */
  private appsDir: string | null = null;
  /** What it serves, in words: `the apps under DIR` (apps), `the app DIR` (app, serve). */
  private servedFrom = '';
  /** The option that turned watching --apps off (`watchIntervalMs 0`), for a broken package's fix; undefined while watched. */
  private unwatchedBy: string | undefined = undefined;
  /** Keys that options decide over the environment file (serve --workers). */
  private fixedKeys: Array<'workers' | 'threads'> = [];
  private say: (line: string) => void = sayOnStderr;
  /** Mail domain collisions the log has told of (mailRoutes runs for each recipient). */
  private readonly saidCollisions = new Set<string>();
  /** The state root's lock (`apps`), or its app's (`app`, serve): released once every app has stopped. */
  private lock: StateRootLock | null = null;
  /** Its state root, whose `cache/` keeps the interpreters' answers while it runs. */
  private stateRoot: string | null = null;
  /** STATE/admin.address (`apps` with an admin listener), removed at stop. */
  private adminAddress: AdminAddressRecord | null = null;
  /** STATE/admin.key (a root gateway's admin listener without a token), removed at stop. */
  private adminKey: AdminKeyRecord | null = null;
  /** The reload under way, if any: the next one waits for it. */
  private reloading: Promise<unknown> = Promise.resolve();
  /** Makes again the apps' Redis users that a Redis restarted without an aclfile forgot. */
  private redisUsers: RedisUserWatch | null = null;
  private postgres: PostgresWatch | null = null;

  private constructor(
    private readonly front: Front,
    private readonly registry: Registry,
    private readonly metrics: GatewayMetrics,
    private readonly graceMs: number,
    private readonly startedAt: string,
    urls: string[],
    private readonly admin: AdminServer | null,
  ) {
    this.urls = urls;
    this.adminUrl = admin?.url ?? null;
  }

  /**
   * Listens, then starts every app that can start. A busy or forbidden address fails before any
   * app has started or any hook has run (issue 13, item 4). With `apps`, the apps start a few at
   * a time and each answers as soon as it serves (a request for one still starting waits for
   * it); this resolves once every app is judged, or after 10 s; an app that cannot start is
   * reported and the rest serve. With `app`, requests wait until the app serves, and an app that
   * cannot start is an error (it is thrown, nothing is left running; with `reload`, it is
   * reported and retried at the next change).
   */
  static async start(options: GatewayOptions): Promise<Gateway> {
    try {
      return await Gateway.startChecked(options);
    } catch (err) {
      // A relative path (apps, stateDir) met a working directory removed since: Node's raw uv_cwd named neither.
      throw namingCwdGone(err, (options as GatewayOptions | undefined)?.optionNames?.commands ?? LIBRARY_OPTION_NAMES.commands);
    }
  }

  /** start() itself. */
  private static async startChecked(options: GatewayOptions): Promise<Gateway> {
    const checked = checkGatewayOptions(options);
    const { stateRoot } = checked;
    // The state root's directories this start made, removed again (when empty) if it fails.
    let madeRoot: string | undefined;
    const lock = await Gateway.claimStateRoot(checked, (first) => {
      madeRoot = first;
    }).catch((err: unknown) => {
      throw namingStateRoot(err, checked.names.stateDir);
    });
    try {
      const gateway = await Gateway.open(options, checked);
      gateway.lock = lock;
      gateway.stateRoot = stateRoot;
      return gateway;
    } catch (err) {
      releaseProbeCacheDir(stateCacheDir(stateRoot));
      if (!checked.single) await Promise.all([forgetAdminAddress(stateRoot), forgetAdminKey(stateRoot)]);
      await lock?.release();
      // Only what this start made, and only while empty (rmdir): another start on this root
      // may be about to use the apps/ or the root it found there (make-dir.ts makes them again
      // if we won that race). Where a gateway holds the root, its apps/ and the root are in
      // its use: a failed serve beside it takes back its own app's directory alone.
      const shared = await heldByAnotherGateway(stateRoot);
      if (lock.made !== undefined) await removeMadeDirs(shared ? lock.made.deepest : lock.made.first, lock.made.deepest);
      if (!shared) await removeMadeDirs(madeRoot, stateRoot);
      // A served app's state it could not make is thrown here (`app`): named as the caller gave it.
      throw namingStateRoot(err, checked.names.stateDir);
    }
  }

  /**
   * The state root made, and this gateway's: before anything listens or starts. `app` (serve)
   * takes no lock on the root: every serve of every app shares the default root, one apps/NAME
   * each, and two at once on a laptop must keep working; but two serves of one app would share
   * its data, so each holds its app.
   */
  private static async claimStateRoot({ single, stateRoot, dir }: CheckedStart, made: (first: string | undefined) => void): Promise<StateRootLock> {
    const first = await prepareStateRoot(stateRoot);
    made(first);
    try {
      return await (single ? lockServedApp(stateRoot, await servedAppName(dir)) : lockStateRoot(stateRoot));
    } catch (err) {
      await removeMadeDirs(first, stateRoot);
      throw err;
    }
  }

  /** start() once the options are checked and the state root is this gateway's. */
  private static async open(options: GatewayOptions, checked: CheckedStart): Promise<Gateway> {
    const { single, dir, mode, say, names, listen, adminAddr, adminToken, stateRoot } = checked;
    // Start-up order (issue 11, "the front's own cost"): the proxy's modules load while the host
    // environment is read, and interpreters' answers are kept under the state root so a second
    // start probes none.
    const frontModule = import('./proxy/front.js');
    frontModule.catch(() => {}); // awaited below; a failure is thrown there, not unhandled here
    setProbeCacheDir(stateCacheDir(stateRoot));
    const hostEnv = await loadHostEnvironment(options.environment, names.environment);
    // The mail listener binds once the apps serve: on the address of one of ours it failed then,
    // every app started for nothing, saying another process held it (`ss` showed the gateway).
    if (hostEnv.mail !== null) {
      checkAddressesApart([
        ...listen.map((addr) => ({ addr, flag: names.listen })),
        ...(adminAddr === null ? [] : [{ addr: adminAddr, flag: names.admin }]),
        { addr: parseAddr(hostEnv.mail.listen, 'mail.listen'), flag: 'mail.listen' },
      ]);
    }
    const graceMs = options.graceMs ?? 30_000;
    const metrics = new GatewayMetrics();
    let gateway: Gateway | null = null;
    const front = new (await frontModule).Front(frontOptions(options, listen, names, metrics, say));
    const registry = createRegistry({ options, single, dir, mode, say, hostEnv, graceMs, front, metrics, started: () => gateway !== null, stateKey: names.stateDir, environmentKey: names.environment, hookTimeoutKey: names.hookTimeout, maxWorkersKey: names.maxWorkers, commandWords: names.commands, startedAs: names.startedAs });
    const startedAt = new Date().toISOString();
    const watchIntervalMs = options.watchIntervalMs ?? 2000;
    // A broken package's fix says what loads it again: the watcher, or (not watching) a rescan.
    const unwatchedBy = single || watchIntervalMs > 0 ? undefined : `${names.watchInterval} 0`;
    const listenerWords = adminListenerWords(names.commands);
    // Both listeners are bound before any app starts: nothing has been started to undo when one fails.
    let urls: string[];
    let admin: AdminServer | null = null;
    let adminKey: AdminKeyRecord | null = null;
    const status = (): GatewayStatus => gateway!.status();
    try {
      urls = await front.start();
      if (adminAddr !== null) {
        // serve shares the state root with --apps' gateway: its admin.key is never serve's to touch.
        adminKey = single ? null : await noteAdminKey(stateRoot, adminToken !== null || !appsRunAsOtherUsers(mode), say);
        const provider: AdminProvider = {
          status,
          sample: () => gateway!.sampler.refresh(gateway!.pids),
          logFileOf: (name) => (registry.names.includes(name) ? appLogFile(options.stateDir, name) : null),
          appsListed: registry.listed,
          unwatchedBy,
          words: listenerWords,
          // Asked by the CLI's admin commands (or a client of the listener): the CLI's words,
          // but for what only this gateway's program can do.
          restart: (name) => gateway!.restartAppFor(name, listenerWords),
          rollback: (name) => gateway!.rollbackFor(name, listenerWords),
          retryMail: (ask, waitMs) => gateway!.retryMailFor(ask, waitMs ?? null, CLI_MAIL_WORDS),
          deleteMail: (ask) => gateway!.deleteMailFor(ask, CLI_MAIL_WORDS),
        };
        admin = await startAdminServer({
          listen: adminAddr, listenKey: names.admin, socketOwnerKey: names.socketOwner, provider, metrics, token: adminToken, appsRunAsOthers: appsRunAsOtherUsers(mode), appUsers: () => registry.appUsers,
          readToken: options.adminTokenFile === undefined ? undefined : () => readAdminToken(options.adminTokenFile!, say, names.adminTokenFile),
          socketOwner: { uid: options.unixSocket?.uid, gid: options.unixSocket?.gid },
          key: adminKey,
        }).catch((err: unknown) => {
          throw front.heldByOurOwn(err, adminAddr, names.admin) ?? err;
        });
      }
    } catch (err) {
      await adminKey?.remove();
      await front.stop(0);
      throw err;
    }
    // Once the admin listener is bound, before the apps start: status is how a start is watched.
    const adminAddress = single ? null : await noteAdminAddress(stateRoot, admin, say);
    if (!single && admin === null) await forgetAdminKey(stateRoot);
    gateway = new Gateway(front, registry, metrics, graceMs, startedAt, urls, admin);
    gateway.adminAddress = adminAddress;
    gateway.adminKey = adminKey;
    gateway.environmentFile = hostEnv.file;
    gateway.environmentKey = names.environment;
    gateway.reloadWord = names.commands.reload;
    gateway.graceKey = names.grace;
    gateway.names = names;
    gateway.appsRunAsOthers = appsRunAsOtherUsers(mode);
    // serve shares the host's environment file, whose other apps' entries are no mistake there.
    gateway.appsDir = single ? null : dir;
    gateway.servedFrom = single ? `the app ${dir}` : `the apps under ${dir}`;
    gateway.unwatchedBy = unwatchedBy;
    gateway.fixedKeys = [...(options.workers === undefined ? [] : ['workers' as const]), ...(options.threads === undefined ? [] : ['threads' as const])];
    gateway.say = say;
    gateway.warnIfEnvironmentFileOpen();
    // Before the apps start: it looks at the users their starts provision.
    const serviceKeys = { stateKey: names.stateDir, environmentKey: names.environment };
    gateway.redisUsers = RedisUserWatch.start(say, serviceKeys);
    gateway.postgres = PostgresWatch.start(say, serviceKeys);
    metrics.setStatusProvider(status);
    // Once, before any app starts: past the limit each start fails on its own, ~250 of 300
    // apps refused with thousands of lines and the one cause in none of them.
    if (!single) {
      const shortfall = openFilesShortfall(packageNamesIn(dir), options.workers ?? hostEnv.defaults.workers ?? DEFAULT_WORKERS);
      if (shortfall !== null) say(shortfall);
    }
    // The watcher's picture of --apps is taken before the first reconcile reads it: a package
    // copied in while the apps start is a change to it (taken after, it never was one).
    if (!single && watchIntervalMs > 0) gateway.watcher = new AppsWatcher(dir, () => void registry.reconcile(), watchIntervalMs, undefined, () => registry.watchedDirs, say, names.watchInterval);
    // serve --reload watches from before the first start: a fix saved while it runs (a slow
    // import that then fails) was never seen, 503 "waiting for a fix" with the fix on disk until
    // the next save. What it sees is acted on once the start is judged and said (H318).
    let firstStartJudged = (): void => {};
    if (single && options.reload) {
      const watcher = watchForReload(dir, registry, front, say, new Promise<void>((resolve) => (firstStartJudged = resolve)));
      gateway.watcher = watcher;
      watcher.start();
    }
    const judged = await waitForFirstJudgement(registry, single, say, options.stopWaiting).catch((err: unknown) => {
      gateway!.watcher?.stop();
      throw err;
    });
    // Told to stop meanwhile: the caller stops the gateway; an app not judged yet is no problem.
    const problem = single && judged ? registry.problemOf() : null;
    // serve --reload waits for a fix instead, as it does for a breakage after start (issue 13, item 6).
    if (problem !== null && options.reload) {
      waitForFix(problem, dir, registry, front, say);
    } else if (problem !== null) {
      await admin?.close();
      await front.stop(0);
      await registry.stop(1000);
      await gateway.redisUsers?.stop();
      await gateway.postgres?.stop();
      throw problem;
    }
    // Told to stop meanwhile, what came is answered by the stop (open()s it stopping), each
    // with Connection: close; opened here, it was answered as if the gateway would go on, and a
    // request pipelined behind met the stop's close of idle connections.
    if (judged) front.open();
    // Not judged: the caller stops the gateway, and a change seen meanwhile is no cause to start the app.
    if (judged) firstStartJudged();
    // Incoming mail (issue 16): after the apps serve and the front answers, since deliveries
    // are requests through it; loaded only when configured (smtp-server is not free to load).
    if (hostEnv.mail !== null) {
      try {
        const { MailService } = await import('./mail/mail-service.js');
        gateway.mail = await MailService.start({
          config: hostEnv.mail, stateRoot, listenerUrl: urls[0], routeHeaderOf: (app) => front.appRouteHeader(app), mountOf: (app) => front.appMount(app), routes: () => gateway!.mailRoutes(), say,
          words: { apps: names.apps, retryMail: names.commands.retryMail, deleteMail: names.commands.deleteMail },
        });
        metrics.setMailProvider(() => gateway!.mail?.status() ?? null, () => gateway!.mail?.countsByApp() ?? new Map(), () => gateway!.mail?.deadLettersByApp() ?? new Map());
      } catch (err) {
        // Asked before the stop, while the public listeners are still bound.
        const ours = front.heldByOurOwn(err, parseAddr(hostEnv.mail.listen, 'mail.listen'), 'mail.listen');
        await gateway.stop();
        throw ours ?? err;
      }
    } else {
      // Accepted with a 250 and kept, but no listener means no deliverer: they would wait
      // unseen (status has no mail: section then) until the listener is back.
      const { count, dir: queue } = await queuedDeliveryCount(stateRoot);
      if (count > 0) {
        // The environment file's option as the caller gives it: the CLI's --environment, the library's `environment`.
        const fix = hostEnv.file === null ? `start the gateway with ${givenAs(names.environment, 'FILE')} holding mail: {listen: ...}` : `put mail: {listen: ...} back in ${hostEnv.file} and restart the gateway`;
        say(`mail: ${countOf(count, 'delivery waits', 'deliveries wait')} in ${queue}, but ${hostEnv.file === null ? `there is no environment file (${names.environment})` : `${hostEnv.file} has no mail: listener`}, so none is tried: ${fix}; ${count === 1 ? 'it is' : 'they are'} delivered then, with ${count === 1 ? 'its delivery id' : 'their delivery ids'}`);
      }
    }
    if (!single) gateway.sayWhenNoApps(dir, names.apps, say, names.commands, watchIntervalMs > 0 ? 'watching for them' : `${names.commands.rescan} once they are there`);
    if (!single) for (const line of [...unknownAppWarnings(hostEnv, registry.knownNames, dir), ...userNotAppliedWarnings(hostEnv, process.getuid?.())]) say(line);
    if (!single) gateway.watcher?.start();
    return gateway;
  }

  /**
   * An apps directory with no package in it serves nothing: say so once, with what a package
   * looks like, rather than leave the user guessing why every URL is a 404 (issue 13, item 10).
   */
  private sayWhenNoApps(dir: string, appsKey: string, say: (line: string) => void, words: CommandWords, then: string): void {
    if (!this.registry.listsNothing) return;
    // `--apps /srv` for /srv/apps: served as empty, every URL a 404, the packages one level down.
    const below = appsDirectoriesIn(dir).map((b) => `${b.dir} holds ${countOf(b.packages.length, 'app package')} (${b.packages.slice(0, 3).join(', ')}${b.packages.length > 3 ? ', ...' : ''})`);
    if (below.length > 0) {
      say(`no app packages in ${dir}, but ${below.join('; ')}: give ${appsKey} ${below.length === 1 ? 'that directory' : 'one of those directories'} to serve ${below.length === 1 ? 'them' : 'its packages'} (each package is a directory holding app.yaml, directly in the apps directory); ${then}`);
      return;
    }
    say(`no app packages in ${dir}: a package is a directory holding app.yaml, e.g. ${join(dir, 'hello', 'app.yaml')}${words.writesAppYaml(join(dir, 'hello'))}; ${then}`);
  }

  /**
   * status() with each process's CPU and RSS read now (or within the last 2 s): status() alone
   * has only what the admin listener last sampled, nothing without one.
   */
  async sampledStatus(): Promise<GatewayStatus> {
    await this.sampler.refresh(this.pids);
    return this.status();
  }

  /** What GET /status on the admin listener answers; CPU and RSS are those of the admin's last sample. */
  status(): GatewayStatus {
    const { apps, broken } = this.registry.status();
    // An app's waiting mail rides on its entry; a name no entry has (removed) is the mail section's.
    const waitingMail = this.mail?.waitingByApp() ?? null;
    const listed = new Set(apps.map((app) => app.name));
    return this.sampler.fill({
      pid: process.pid,
      version: packageVersion(),
      startedAt: this.startedAt,
      state: this.stoppedFully ? 'stopped' : this.stoppingSince === null ? 'running' : 'stopping',
      stoppingSince: this.stoppingSince,
      now: new Date().toISOString(),
      listen: this.urls,
      processTrees: { cgroup: cgroupHold().dir, why: cgroupHold().why },
      scan: this.registry.scan,
      // Each app's status is the registry's fresh object: completed in place, as copying 300 of
      // them at every build cost more than their figures.
      apps: apps.map((app) => {
        const errors = this.metrics.errorsOf(app.name);
        return Object.assign(app, {
          requests: this.metrics.requestsOf(app.name),
          errors,
          failed: errors,
          refusedForRoom: this.metrics.refusedForRoomOf(app.name),
          websocketsRefusedForRoom: this.metrics.websocketsRefusedForRoomOf(app.name),
          queued: this.front.queued(app.name),
          processes: app.processes.map((p) => (p.queued === undefined ? p : { ...p, queued: this.front.queuedFor(app.name, p.name) })),
          latency: this.metrics.latency(app.name),
          services: serviceStatusOf(app.name),
          mail: waitingMail?.get(app.name) ?? null,
        });
      }),
      broken,
      ...(this.mail ? { mail: this.mail.status(waitingMail ?? undefined, (name) => listed.has(name)) } : {}),
    });
  }

  /**
   * Each app's mail domains (`apps.NAME.mail_domains`, default NAME.localhost) and the `mail:`
   * path of the version serving now, for the mail listener's routing and its deliveries.
   */
  private mailRoutes(): MailRoute[] {
    // A package whose app.yaml does not load (by its directory's name) still owns its domains:
    // it serves none now (451, the sender tries again), rather than a 550 that bounces the
    // mail for good while its app.yaml is being fixed.
    const names = this.registry.knownNames;
    const { domains, collisions } = mailDomainsOf(names.map((app) => ({ app, explicit: overridesFor(this.registry.hostEnv, app).mailDomains })));
    for (const c of collisions) {
      const said = `${c.domain} ${c.owner} ${c.others.join(' ')}`;
      if (this.saidCollisions.has(said)) continue;
      this.saidCollisions.add(said);
      this.say(`mail: ${c.domain} is the domain of ${c.owner}; ${c.others.join(' and ')} ${c.others.length === 1 ? 'gets' : 'get'} no mail by default: give ${c.others.length === 1 ? 'it' : 'each'} a domain of its own in apps.NAME.mail_domains of the environment file`);
    }
    return names.map((app) => {
      const instance = this.registry.servingOf(app)?.instance;
      const desc = instance?.desc;
      const hosts = overridesFor(this.registry.hostEnv, app).hosts;
      return { app, domains: domains.get(app) ?? [], path: desc?.mail ?? null, serving: desc !== undefined, maxBody: instance?.limits.maxBody ?? Infinity, timeoutMs: instance?.limits.timeoutMs, hosts };
    });
  }

  /**
   * Opens the access log file again under its name (SIGUSR1, after logrotate moved it away),
   * its directory made again when it was removed (`onOpened` names it): false when the log is
   * not a file (stdout, a stream, or none).
   */
  reopenAccessLog(onOpened?: (madeDir: string | null) => void): boolean {
    return this.front.reopenAccessLog(onOpened);
  }

  /** Every running app's app.log opened again under its name (SIGUSR1, after logrotate moved it away, or its directory was removed). */
  reopenAppLogs(): { reopened: number; failed: number } {
    return this.registry.reopenAppLogs();
  }

  /**
   * Reads `adminTokenFile` again (SIGHUP), so a token is rotated without a restart: false
   * without one. A file that no longer holds a token throws APPPKG_ADMIN_TOKEN_FILE and the old
   * token stays in force.
   */
  reloadAdminToken(): boolean {
    return this.admin?.reloadToken() ?? false;
  }

  /** Says in the log when the apps' users could read the environment file (environment-file-mode.ts). */
  private warnIfEnvironmentFileOpen(): void {
    if (!this.appsRunAsOthers || this.environmentFile === null) return;
    const warning = environmentFileExposure(this.environmentFile);
    if (warning !== null) this.say(warning);
  }

  /**
   * Reads the environment file again (SIGHUP) and applies it: each app whose processes it
   * changes (settings, workers, limits, user...) is restarted with no failed request, an app
   * whose mount or hosts alone changed is routed anew without one, the others are left alone;
   * `mail:` keeps its old value until the gateway restarts (the log says so). Resolves, once the
   * restarted apps serve, with what changed; null without an environment file. A file with a
   * problem throws (APPPKG_ENVFILE_INVALID, ...) and the environment read before stays in force.
   */
  reloadEnvironment(): Promise<EnvironmentReload | null> {
    return this.reloadEnvironmentFile(false);
  }

  private reloadEnvironmentFile(rescan: boolean): Promise<EnvironmentReload | null> {
    const file = this.environmentFile;
    if (file === null || this.stopping) return Promise.resolve(null);
    // One at a time: two SIGHUPs in a row must not judge the second file against a stale first.
    // The next waits until this one's file is in force, not until the apps it looked at are
    // judged: a deploy under way (a commands.update of minutes) held every later SIGHUP.
    let inForce = () => {};
    const applied = new Promise<void>((resolve) => (inForce = resolve));
    const run = this.reloading.then(() => {
      this.warnIfEnvironmentFileOpen();
      // The file may name an interpreter installed since it was last asked for (the fix its
      // refusal gave); the probe cache file still spares a re-probe of what did not change.
      clearInterpreterCache();
      return reloadEnvironment(this.registry, file, { say: this.say, fixed: this.fixedKeys, appsDir: this.appsDir, rescan, inForce, fileKey: this.environmentKey });
    });
    this.reloading = Promise.race([applied, run.catch(() => {})]);
    return run;
  }

  /**
   * SIGHUP's (after the admin token): the environment file read again and applied, then the apps
   * looked at as rescan() does, in one look at the apps directory (each app.yaml read once). A
   * file with a problem is said, and the one read before stays in force while the apps are
   * looked at all the same.
   */
  async reload(): Promise<void> {
    const applied = await this.reloadEnvironmentFile(true).catch((err: unknown) => {
      this.say(`${this.reloadWord}: the environment file was not reloaded; the one read before stays in force, whole:\n${isGatewayError(err) ? err.format() : String(err)}`);
      return null;
    });
    if (applied === null) await this.rescan();
  }

  /** Looks at the apps again now (SIGHUP), retrying versions refused before and restarting one in a crash loop. */
  rescan(): Promise<void> {
    // From the stop's start, as the watcher: a look during the grace listed a package put in
    // `apps` meanwhile as `starting`, for good.
    if (this.stopping) return Promise.resolve();
    // A version refused for want of an interpreter is retried with the ones the host has now.
    clearInterpreterCache();
    return this.registry.reconcile(true);
  }

  /**
   * Replaces the workers and processes of `name` (every app when omitted), as a deploy does;
   * rejects with APPPKG_ADMIN_ACTION_FAILED once stop() has begun, whatever the name, else with
   * APPPKG_ADMIN_NO_SUCH_APP, naming the apps, for a name it has no app of
   * (APPPKG_ADMIN_APP_BROKEN, with why, for a package of that name whose app.yaml does not load).
   */
  async restart(name?: string): Promise<void> {
    // Once stop() has begun nothing starts: resolving would say fresh workers serve. Before the
    // name: a stopped gateway listing its apps for a typo had the user try one, refused in turn.
    if (this.stoppingSince !== null) {
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
        action: 'restart', app: name ?? 'every app', reason: `this gateway's stop() began at ${this.stoppingSince}; a stopped gateway starts nothing`,
        hint: `${this.names.commands.startAgain}: its apps start with it`,
      });
    }
    if (name !== undefined) this.assertApp(name, this.names.commands);
    await this.registry.restart(name);
  }

  /**
   * The admin's restart of one app: resolves once a fresh instance serves; throws
   * APPPKG_ADMIN_ACTION_FAILED when it could not start (what served keeps serving), and
   * APPPKG_ADMIN_NO_SUCH_APP, naming the apps, for a name it has no app of.
   */
  restartApp(name: string): Promise<{ version: string | null; message: string }> {
    return this.restartAppFor(name, this.names.commands);
  }

  /** restartApp(), its fixes in `words`. */
  private async restartAppFor(name: string, words: CommandWords): Promise<{ version: string | null; message: string }> {
    this.assertRunning('restart', name, words);
    this.assertApp(name, words);
    const before = this.registry.servingOf(name)?.instance ?? null;
    // Read now: the restart may put that instance to sleep for its successor's room.
    const wasAsleep = before === null || before.idleState === 'asleep';
    await this.registry.restart(name);
    const after = this.registry.servingOf(name);
    if (!after?.instance || after.instance === before) {
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
        action: 'restart', app: name,
        reason: `${after?.problem?.message ?? 'the fresh instance did not start'}${after?.instance ? '; the running one keeps serving' : ''}`,
        // The refusal's own fix (the setting to add, the file to mend), not only where to look.
        hint: after?.problem ? `${after.problem.hint}; ${words.logsAndStatus(name)} say more` : undefined,
        whereToLook: words.logsAndStatus(name),
      });
    }
    const version = after.instance.desc.version;
    const what = `${name}: ${version ? `version ${version}` : 'the app'}`;
    // An app stopped while idle had no workers to drain, and its fresh ones, once probed, stop
    // again (SPEC 5.6): saying "the old workers drain" would have the user look for them.
    if (after.instance.idleState === 'asleep') {
      return { version, message: `${what} restarted and passed its probe; ${asleepAfter(wasAsleep)}` };
    }
    // A command app has no workers: its processes (processes.web, the others) are what drain.
    return { version, message: `${what} restarted; ${after.instance.desc.kind === 'command' ? 'its old processes drain' : 'the old workers drain'}` };
  }

  /** Serves the version below the serving one (Registry.rollback), as the admin's rollback. */
  rollback(name: string): Promise<{ from: string; to: string; message: string }> {
    return this.rollbackFor(name, this.names.commands);
  }

  /** rollback(), its fixes in `words`. */
  private async rollbackFor(name: string, words: CommandWords): Promise<{ from: string; to: string; message: string }> {
    this.assertRunning('rollback', name, words);
    this.assertApp(name, words);
    const serving = this.registry.servingOf(name)?.instance;
    const wasAsleep = !serving || serving.idleState === 'asleep';
    const { from, to } = await this.registry.rollback(name, words);
    // As for a restart: an app stopped while idle had nothing running to drain.
    if (this.registry.servingOf(name)?.instance?.idleState === 'asleep') {
      return { from, to, message: `${name}: rolled back from ${from} to ${to}, which passed its probe; ${asleepAfter(wasAsleep)}; ${from} stays out of rotation until a file in it changes` };
    }
    return { from, to, message: `${name}: rolled back from ${from} to ${to}; ${from} drains and stays out of rotation until a file in it changes` };
  }

  /**
   * The admin's `mail retry`: dead letters back into the mail queue, tried now (mail-retry.ts).
   * A dead letter of a name no package under --apps has now is refused, naming it.
   */
  retryMail(ask: MailRetryAsk, waitMs: number | null = null): Promise<MailRetryDone> {
    return this.retryMailFor(ask, waitMs, this.mailWords());
  }

  /** The admin's `mail delete`: dead letters removed for good (mail-delete.ts). */
  deleteMail(ask: MailDeleteAsk): Promise<MailDeleteDone> {
    return this.deleteMailFor(ask, this.mailWords());
  }

  private async retryMailFor(ask: MailRetryAsk, waitMs: number | null, words: MailWords): Promise<MailRetryDone> {
    return this.mailService(words).retry(ask, () => this.registry.knownNames, waitMs, words);
  }

  private async deleteMailFor(ask: MailDeleteAsk, words: MailWords): Promise<MailDeleteDone> {
    return this.mailService(words).delete(ask, words);
  }

  /** What the mail calls' refusals and answers name for a program that called them (this gateway's option names). */
  private mailWords(): MailWords {
    return programMailWords({ apps: this.names.apps, environment: this.names.environment, status: this.names.commands.status });
  }

  private mailService(words: MailWords): MailService {
    if (this.mail === null) {
      const where = this.environmentFile === null ? `there is no environment file (${this.environmentKey})` : `no mail: in ${this.environmentFile}`;
      throw new GatewayError('APPPKG_MAIL_OFF', { reason: `this gateway runs no mail listener (${where}), so it delivers no mail`, ...words.fixDetails });
    }
    return this.mail;
  }

  /** The admin listener answers while the gateway stops, for status; nothing is started then, whatever the name asked for. */
  private assertRunning(action: string, name: string, words: CommandWords): void {
    if (this.stoppingSince === null) return;
    throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action, app: name, reason: `the gateway is stopping (since ${this.stoppingSince})`, hint: `${words.startAgain}: its apps start with it` });
  }

  /** An unknown name is a typo, not a failed start or a no-op: say so with the names, as the admin route does. */
  private assertApp(name: string, words: CommandWords): void {
    const apps = this.registry.names;
    if (apps.includes(name)) return;
    const broken = brokenAppError(this.registry.status().broken, name, words, this.unwatchedBy);
    if (broken !== null) throw broken;
    // Its program holds this Gateway: named by what it serves, not by its listen URLs (there may be
    // several, or a unix: socket), which are not how the program tells its gateways apart.
    throw noSuchAppError({ gateway: `this gateway (of ${this.servedFrom})` }, name, apps);
  }

  /** Every pid of every app's processes (tests check them for orphans). */
  get pids(): number[] {
    return this.registry.pids;
  }

  /**
   * Stops accepting, lets requests in flight finish (within `graceMs` of the options), then
   * stops every app's processes. Resolves once every process the gateway started is gone.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // performance.now(): a step of the wall clock during the stop must not cut requests (forward) or hold the stop (back).
      const graceEnds = performance.now() + this.graceMs;
      this.stoppingSince = new Date().toISOString();
      this.watcher?.stop();
      const redisUsers = this.redisUsers?.stop();
      const postgres = this.postgres?.stop();
      // Before the front and the apps: a delivery in flight can still reach its app.
      await this.mail?.stop(this.graceMs);
      await this.front.stop(this.graceMs);
      // A worker with no request in flight is running its own shutdown (an ASGI lifespan
      // `shutdown` that closes a pool slowly, work after a response): it has what is left of
      // the grace, as gunicorn's graceful_timeout covers a worker's exit; a fixed 5 s killed a
      // 12 s shutdown with 25 s of grace unused. One still in a request (its client gone: a
      // WSGI thread sleeps on for it) keeps 5 s. Either way the stop ends within --grace +
      // WORKER_STOP_MS + CANCEL_BOUND_MS (worker.ts), the bound `export kubernetes` gives the pod.
      const shutdownMs = Math.max(WORKER_STOP_MS, graceEnds - performance.now());
      const endReport = reportStoppingWorkers(() => this.registry.status().apps, this.say, performance.now() + shutdownMs, this.graceKey);
      try {
        await this.registry.stop(WORKER_STOP_MS, shutdownMs);
      } finally {
        endReport();
      }
      await redisUsers;
      await postgres;
      // Last: a stop may take up to --grace (requests finishing, an ASGI lifespan shutdown), and
      // status is where it is watched (the gateway `stopping`, each worker's stoppingSince).
      await this.admin?.close();
      await this.adminAddress?.remove();
      await this.adminKey?.remove();
      if (this.stateRoot !== null) releaseProbeCacheDir(stateCacheDir(this.stateRoot));
      await this.lock?.release();
      this.stoppedFully = true;
    })();
    return this.stopping;
  }
}

/**
 * STATE/admin.address for the admin commands given no --admin; with no admin listener, the
 * file a gateway that crashed left is removed, so that they say nobody answers on the default
 * rather than name its dead address. Not being able to write it costs only that convenience.
 */
async function noteAdminAddress(stateRoot: string, admin: AdminServer | null, say: (line: string) => void): Promise<AdminAddressRecord | null> {
  if (admin === null) {
    await forgetAdminAddress(stateRoot);
    return null;
  }
  try {
    return await recordAdminAddress(stateRoot, admin.url);
  } catch (err) {
    say(`could not write ${adminAddressFile(stateRoot)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): \`apppkg-gateway status\` and the other admin commands need --admin ${admin.url} to find this gateway`);
    return null;
  }
}

/**
 * STATE/admin.key for root's own admin commands on this host, when the listener may refuse them
 * for want of a token (`none`: it never does; a key a crashed gateway left is removed). Not being
 * able to write it costs root's CLI only that convenience: the token or the unix socket remain.
 */
async function noteAdminKey(stateRoot: string, none: boolean, say: (line: string) => void): Promise<AdminKeyRecord | null> {
  if (none) {
    await forgetAdminKey(stateRoot);
    return null;
  }
  try {
    return await recordAdminKey(stateRoot);
  } catch (err) {
    say(`could not write ${adminKeyFile(stateRoot)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): \`apppkg-gateway logs\`, \`restart\` and \`rollback\` need --admin-token or a unix: --admin while an app runs as another user`);
    return null;
  }
}

/**
 * Why a restarted or rolled-back app's fresh workers stop once probed, by whether it slept
 * when asked (read before the action, which may put it to sleep). One that was serving was put
 * to sleep meanwhile: an app that alone fills --max-workers has no room for its new workers
 * beside the old ones, so the old ones sleep once nothing is in flight. "It was idle" said of an app under load had
 * its user look for the idle_timeout it never had.
 */
function asleepAfter(wasAsleep: boolean): string {
  if (wasAsleep) return 'it was idle, so its workers stop again until its next request';
  return 'it was serving when asked, and was put to sleep meanwhile (--max-workers left no room for its new workers beside the old ones, or its idle_timeout passed), so its new workers stop until its next request wakes them';
}

/** Root switches the apps to their users (production): their processes share this host with its files. */
function appsRunAsOtherUsers(mode: RunMode): boolean {
  return mode === 'production' && process.getuid?.() === 0;
}

/** How many apps the packages under `dir` are (`blog.1` and `blog.2` one), before any is loaded. */
function packageNamesIn(dir: string): number {
  try {
    return new Set(readdirSync(dir).filter((entry) => !entry.startsWith('.')).map((entry) => parsePackageDirName(entry).name)).size;
  } catch {
    return 0; // the start's own look says why
  }
}

