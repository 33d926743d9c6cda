// The gateway as a library (SPEC 5.7: `await Gateway.start({ apps, listen, admin, environment })`)
// and the composition root: the front (the proxy's listeners) routes to what the registry (the
// supervisor) publishes, the admin listener shows both, a watcher tells the registry when the
// apps directory changes. The CLI's `--apps` and `serve` are two uses of it.
import { createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { checkAdminAddress, readAdminToken } from './admin/admin-access.js';
import { startAdminServer, DEFAULT_ADMIN, type AdminProvider, type AdminServer } from './admin/admin-server.js';
import { GatewayMetrics } from './admin/metrics.js';
import { ProcessSampler } from './admin/process-sampler.js';
import type { GatewayStatus } from './admin/status-types.js';
import { loadHostEnvironment, type RunMode } from './app-context.js';
import { setProbeCacheDir } from './environment/interpreters.js';
import { prepareStateRoot, resolveStateRoot } from './environment/state-root.js';
import { lockStateRoot, type StateRootLock } from './environment/state-root-lock.js';
import { GatewayError } from './errors.js';
import { packageVersion } from './package-version.js';
import { addressesOverlap, formatAddr, toAddr, type ListenAddress } from './net/address.js';
import type { UnixSocketOptions } from './net/listen.js';
import { compileTrustProxy } from './proxy/forwarded-headers.js';
import type { Front, PublishedApp } from './proxy/front.js';
import { appDirSource, appsDirSource } from './supervisor/discovery.js';
import { forgetServiceStatus, serviceStatusOf } from './services/service-status.js';
import { appLogFile } from './supervisor/refusal.js';
import { Registry, type RouteSpec, type ServingApp } from './supervisor/registry.js';
import { AppsWatcher, SourceWatcher } from './supervisor/watcher.js';
import { validateAppsDir } from './description/apps-dir.js';
import { overridesFor } from './environment/host-file.js';
import { reloadEnvironment, type EnvironmentReload } from './supervisor/environment-reload.js';
import type { MailRoute } from './mail/mail-routes.js';
import type { MailService } from './mail/mail-service.js';

export type { GatewayStatus } from './admin/status-types.js';
export type { ListenAddress } from './net/address.js';
export type { EnvironmentReload } from './supervisor/environment-reload.js';

export interface GatewayOptions {
  /** A directory of app packages, each a directory with app.yaml (`--apps`). */
  apps?: string;
  /** Or one app directory, mounted at / (`serve`; development mode unless `mode` says otherwise). */
  app?: string;
  /** Where to listen: `PORT`, `HOST:PORT`, `unix:/path`, or parsed addresses. Default 127.0.0.1:8000. */
  listen?: string | number | ListenAddress | Array<string | number | ListenAddress>;
  /** The admin listener (/status, /metrics); false for none. Default 127.0.0.1:8099 with `apps`, none with `app`. */
  admin?: string | number | ListenAddress | false;
  /**
   * A file holding the admin listener's token (`--admin-token FILE`): every admin route then
   * needs it; needed for an admin address other than loopback (docs/admin.md).
   */
  adminTokenFile?: string;
  /** The host's environment file (settings, hosts, mounts, workers, ...). */
  environment?: string;
  /** The state root (apps' data, logs, tmp); default as the CLI's --state-dir. */
  stateDir?: string;
  /** production: app users, hooks, no tracebacks in 500s; development: the reverse. */
  mode?: RunMode;
  /** Believe X-Forwarded-* from these peers (true: any peer), as behind nginx. */
  trustProxy?: boolean | string[];
  /** Where the access log goes: a stream, a file name, or null for none (the default). */
  accessLog?: Writable | string | null;
  /** Mode and owner of `unix:` listeners. */
  unixSocket?: UnixSocketOptions;
  /** How long requests in flight may take to finish on stop(); default 30 s. */
  graceMs?: number;
  /** How long a client may take to send a request head (408 past it); default 20 s. */
  headerTimeoutMs?: number;
  /** How often `apps` is rescanned for changes; default 2 s; 0 = only on rescan(). */
  watchIntervalMs?: number;
  /**
   * With `apps`: how long nothing in a version's directory must change before it is judged
   * (started or refused), so that a copy still under way is not refused; default 1 s.
   */
  settleMs?: number;
  /** With `app`: replace the workers when a .py file or app.yaml under it changes; an app that cannot start is then waited for, not thrown. */
  reload?: boolean;
  /** Workers and threads per app, over the environment file. */
  workers?: number;
  threads?: number;
  /**
   * --max-workers: the Python workers of every app together; an app that must start past it
   * first puts the least recently used quiet app to sleep (SPEC 5.6).
   */
  maxWorkers?: number;
  /** Copy each app's output to our stderr as well as its log (default: with `app`). */
  echoLogs?: boolean;
  /** The gateway's own log lines; default: stderr, prefixed `apppkg-gateway: `. */
  say?: (line: string) => void;
}

/** serve --reload's line when the app cannot start: why, and that it waits rather than exits. */
function waitingForFix(problem: GatewayError, dir: string): string {
  return `${problem.format()}\nwaiting for a change under ${dir} to try again (--reload; Ctrl-C to stop)`;
}

/** What a request is answered (503) while serve --reload waits for a fix. */
function unavailableWhileBroken(problem: GatewayError): string {
  return `the app could not start (${problem.message}); serve --reload is waiting for a fix: see its terminal`;
}

/** Did `work` settle within `ms`? */
async function settlesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Two listeners on one address: the second's bind failed with EADDRINUSE, reported as "another
 * process listens" when it was our own first one. Said as the usage error it is, before any bind.
 */
function checkAddressesApart(listeners: Array<{ addr: ListenAddress; flag: string }>): void {
  listeners.forEach(({ addr, flag }, i) => {
    const earlier = listeners.slice(0, i).find((l) => addressesOverlap(l.addr, addr));
    if (earlier === undefined) return;
    const address = formatAddr(addr);
    const other = formatAddr(earlier.addr);
    const wild = [earlier.addr, addr].find((a) => a.kind === 'tcp' && (a.host === '0.0.0.0' || a.host === '::'));
    throw new GatewayError('APPPKG_ADDR_TWICE', {
      first: earlier.flag, second: flag, address, other, same: address === other,
      why: wild?.kind === 'tcp' ? `${wild.host} takes port ${wild.port} on every ${wild.host === '::' ? '' : 'IPv4 '}address of this host` : 'the same socket',
    });
  });
}

const sayOnStderr = (line: string): void => {
  process.stderr.write(`apppkg-gateway: ${line}\n`);
};

/** What Gateway.start has checked and worked out before it opens the gateway. */
interface CheckedStart {
  single: boolean;
  dir: string;
  mode: RunMode;
  say: (line: string) => void;
  listenFlag: string;
  listen: ListenAddress[];
  adminAddr: ListenAddress | null;
  adminToken: string | null;
  stateRoot: string;
}

/** How long a version's directory must not change before it is judged (--settle). */
export const DEFAULT_SETTLE_MS = 1000;
/** How long the start waits for versions still being copied. */
const START_SETTLE_LIMIT_MS = 30_000;
/**
 * Under --apps, how long start() waits for every app to be judged before it returns (the CLI
 * then says "listening on"). Requests are answered before: an app that serves is routed to, an
 * app still starting holds its requests until it serves. Past this an app whose import is slow
 * or hangs is named, and the start goes on without it.
 */
const START_ANNOUNCE_LIMIT_MS = 10_000;

/** The bound on lifecycle hooks (install, update) run by a deploy. */
const HOOK_TIMEOUT_MS = 10 * 60 * 1000;

export class Gateway {
  /** The listeners' URLs (`http://host:port` with port 0 resolved, or `unix:/path`). */
  readonly urls: string[];
  /** The admin listener's URL, or null without one. */
  readonly adminUrl: string | null;
  private stopping: Promise<void> | null = null;
  private watcher: { start(): void; stop(): void } | null = null;
  /** The mail listener and its deliveries (SPEC 5.3), when the environment file has `mail:`. */
  private mail: MailService | null = null;
  /** CPU and RSS of the apps' processes, sampled when the admin listener is asked. */
  private readonly sampler = new ProcessSampler();
  /** The environment file (absolute) that reloadEnvironment() reads; null: none was given. */
  private environmentFile: string | null = null;
  /** Keys that options decide over the environment file (serve --workers). */
  private fixedKeys: Array<'workers' | 'threads'> = [];
  private say: (line: string) => void = sayOnStderr;
  /** The state root's lock (`apps` only), released once every app has stopped. */
  private lock: StateRootLock | null = null;
  /** The reload under way, if any: the next one waits for it. */
  private reloading: Promise<unknown> = Promise.resolve();

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
   * Listens, then starts every app that can start, then answers requests. A busy or forbidden
   * address fails before any app has started or any hook has run (issue 13, item 4); requests
   * that arrive meanwhile wait until the apps are up. With `app`, an app that cannot start is an
   * error (it is thrown, nothing is left running; with `reload`, it is reported and retried at the next change); with `apps`, it is reported and the rest serve.
   */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const single = options.app !== undefined;
    if (single === (options.apps !== undefined)) {
      throw new GatewayError('APPPKG_USAGE', { reason: 'Gateway.start: expected either apps (a directory of app packages) or app (one app directory)', command: '' });
    }
    const dir = resolve((options.apps ?? options.app)!);
    if (!single) validateAppsDir(dir);
    const mode: RunMode = options.mode ?? (single ? 'development' : 'production');
    const say = options.say ?? sayOnStderr;
    // The flag each listener comes from, for the hint of a listen failure: serve has --port.
    const listenFlag = single ? '--port' : '--listen';
    const listen = [options.listen ?? '127.0.0.1:8000'].flat().map((a) => toAddr(a, listenFlag));
    const adminOption = options.admin ?? (single ? false : DEFAULT_ADMIN);
    const adminAddr = adminOption === false ? null : toAddr(adminOption, '--admin');
    const adminToken = options.adminTokenFile === undefined ? null : readAdminToken(options.adminTokenFile, say);
    if (adminAddr !== null) checkAdminAddress(adminAddr, adminToken);
    checkAddressesApart([...listen.map((addr) => ({ addr, flag: listenFlag })), ...(adminAddr === null ? [] : [{ addr: adminAddr, flag: '--admin' }])]);
    compileTrustProxy(options.trustProxy); // a bad address is a usage error now, not at the first request
    const stateRoot = resolveStateRoot({ flag: options.stateDir });
    await prepareStateRoot(stateRoot);
    // Before anything listens or starts. `app` (serve) takes no lock: every serve of every app
    // shares the default root, one apps/NAME each, and two at once on a laptop must keep working.
    const lock = single ? null : await lockStateRoot(stateRoot);
    try {
      const gateway = await Gateway.open(options, { single, dir, mode, say, listenFlag, listen, adminAddr, adminToken, stateRoot });
      gateway.lock = lock;
      return gateway;
    } catch (err) {
      await lock?.release();
      throw err;
    }
  }

  /** start() once the options are checked and the state root is this gateway's. */
  private static async open(options: GatewayOptions, checked: CheckedStart): Promise<Gateway> {
    const { single, dir, mode, say, listenFlag, listen, adminAddr, adminToken, stateRoot } = checked;
    // Start-up order (issue 11, "the front's own cost"): the proxy's modules load while the host
    // environment is read, and interpreters' answers are kept under the state root so a second
    // start probes none.
    const frontModule = import('./proxy/front.js');
    frontModule.catch(() => {}); // awaited below; a failure is thrown there, not unhandled here
    setProbeCacheDir(join(stateRoot, 'cache'));
    const hostEnv = await loadHostEnvironment(options.environment);
    const graceMs = options.graceMs ?? 30_000;
    const metrics = new GatewayMetrics();
    const front = new (await frontModule).Front({
      listen,
      listenFlag,
      accessLog: typeof options.accessLog === 'string' ? createWriteStream(options.accessLog, { flags: 'a' }) : (options.accessLog ?? null),
      onResponse: (app, status, seconds) => metrics.observeRequest(app, status, seconds),
      unixSocket: options.unixSocket,
      trustProxy: options.trustProxy,
      headersTimeoutMs: options.headerTimeoutMs,
      leanLane: process.env.APPPKG_LEAN_LANE !== '0',
    });
    // From the environment in force (registry.hostEnv): a reload's new mount is routed at once.
    const routesOf = (name: string): RouteSpec[] => {
      if (single) return [{ host: null, prefix: '' }];
      const apps = registry.hostEnv.apps;
      const app = Object.hasOwn(apps, name) ? apps[name] : undefined;
      return [
        { host: null, prefix: app?.mount ?? `/${name}` },
        { host: `${name}.localhost`, prefix: '' },
        ...(app?.hosts ?? []).map((host) => ({ host, prefix: '' })),
      ];
    };
    const registry = new Registry({
      source: single ? appDirSource(dir) : appsDirSource(dir),
      hostEnv,
      stateDir: options.stateDir,
      mode,
      routesOf,
      mountOf: (name) => (single ? '/' : routesOf(name)[0].prefix),
      // The supervisor's AppInstance is the proxy's Backend: TypeScript checks the fit here.
      publish: (apps: ServingApp[], refused) => {
        front.publish(apps.map((a): PublishedApp => ({ name: a.name, routes: a.routes, backend: a.instance })), refused);
        // Under --apps every app is known from the first publish on (the starting ones hold
        // their requests), so the front answers from then on, not once the slowest app is up.
        // serve opens once its one app is judged: a start that fails is the command's error.
        if (!single) front.open();
      },
      say,
      drainMs: graceMs,
      hookTimeoutMs: HOOK_TIMEOUT_MS,
      settleMs: single ? 0 : (options.settleMs ?? DEFAULT_SETTLE_MS),
      // serve too: a first run migrates the database as --apps does (issue 13, item 5); serve has
      // one version, so commands.update never runs there.
      runHooks: true,
      echoLogs: options.echoLogs ?? single,
      workers: options.workers,
      threads: options.threads,
      maxWorkers: options.maxWorkers,
      onRemoved: (name) => {
        metrics.forgetApp(name);
        forgetServiceStatus(name);
      },
      // serve: a broken app.yaml at the start is the start's own error, thrown to the caller;
      // one broken later leaves the running workers serving.
      onBroken: single
        ? (_dir, error) => {
            if (gateway !== null && registry.names.some((name) => registry.serves(name))) say(`reload failed: ${error.format()}\n  (still serving the previous workers)`);
          }
        : undefined,
      // serve: a start that fails is thrown to the caller; a reload that fails keeps the old one.
      onRefused: single
        ? (_name, error, stillServing) => {
            if (stillServing) say(`reload failed: ${error.format()}\n  (still serving the previous workers)`);
          }
        : undefined,
    });
    const startedAt = new Date().toISOString();
    // Both listeners are bound before any app starts: nothing has been started to undo when one fails.
    let urls: string[];
    let admin: AdminServer | null = null;
    let gateway: Gateway | null = null;
    const status = (): GatewayStatus => gateway!.status();
    try {
      urls = await front.start();
      if (adminAddr !== null) {
        const provider: AdminProvider = {
          status,
          sample: () => gateway!.sampler.refresh(gateway!.pids),
          logFileOf: (name) => (registry.names.includes(name) ? appLogFile(options.stateDir, name) : null),
          restart: (name) => gateway!.restartApp(name),
          rollback: (name) => gateway!.rollback(name),
        };
        // Root switches the apps to their users (production): their processes share this host.
        const appsRunAsOthers = mode === 'production' && process.getuid?.() === 0;
        admin = await startAdminServer({
          listen: adminAddr, provider, metrics, token: adminToken, appsRunAsOthers,
          readToken: options.adminTokenFile === undefined ? undefined : () => readAdminToken(options.adminTokenFile!, say),
          socketOwner: { uid: options.unixSocket?.uid, gid: options.unixSocket?.gid },
        });
      }
    } catch (err) {
      await front.stop(0);
      throw err;
    }
    gateway = new Gateway(front, registry, metrics, graceMs, startedAt, urls, admin);
    gateway.environmentFile = hostEnv.file;
    gateway.fixedKeys = [...(options.workers === undefined ? [] : ['workers' as const]), ...(options.threads === undefined ? [] : ['threads' as const])];
    gateway.say = say;
    metrics.setStatusProvider(status);
    const watchIntervalMs = options.watchIntervalMs ?? 2000;
    // The watcher's picture of --apps is taken before the first reconcile reads it: a package
    // copied in while the apps start is a change to it (taken after, it never was one).
    if (!single && watchIntervalMs > 0) gateway.watcher = new AppsWatcher(dir, () => void registry.reconcile(), watchIntervalMs, undefined, () => registry.watchedDirs);
    const judged = (async () => {
      await registry.reconcile();
      // A version still being copied when the gateway starts is waited for, within a bound.
      await registry.settled(START_SETTLE_LIMIT_MS);
    })();
    if (single) {
      await judged;
    } else if (!(await settlesWithin(judged, START_ANNOUNCE_LIMIT_MS))) {
      const starting = registry.startingNames;
      if (starting.length > 0) say(`still starting after ${START_ANNOUNCE_LIMIT_MS / 1000} s: ${starting.join(', ')}; the other apps serve, and requests for these wait for them`);
    }
    const problem = single ? registry.problemOf() : null;
    // serve --reload waits for a fix instead, as it does for a breakage after start (issue 13, item 6).
    if (problem !== null && options.reload) {
      say(waitingForFix(problem, dir));
      front.setUnavailable(unavailableWhileBroken(problem));
    } else if (problem !== null) {
      await admin?.close();
      await front.stop(0);
      await registry.stop(1000);
      throw problem;
    }
    front.open();
    // Incoming mail (issue 16): after the apps serve and the front answers, since deliveries
    // are requests through it; loaded only when configured (smtp-server is not free to load).
    if (hostEnv.mail !== null) {
      try {
        const { MailService } = await import('./mail/mail-service.js');
        gateway.mail = await MailService.start({
          config: hostEnv.mail, stateRoot, listenerUrl: urls[0], routes: () => gateway!.mailRoutes(), say,
        });
        metrics.setMailProvider(() => gateway!.mail?.status() ?? null);
      } catch (err) {
        await gateway.stop();
        throw err;
      }
    }
    if (!single) gateway.sayWhenNoApps(dir, say, watchIntervalMs > 0 ? 'watching for them' : 'send SIGHUP once they are there');
    if (single && options.reload) {
      gateway.watcher = new SourceWatcher(dir, async () => {
        // Nothing serves (the start failed, or every try since): a restart has nothing to
        // replace, so start it afresh, retrying the version refused before.
        const serving = registry.names.some((name) => registry.serves(name));
        say(serving ? 'change detected; restarting workers' : 'change detected; starting the app');
        await (serving ? registry.restart() : registry.reconcile(true));
        const problem = registry.problemOf();
        if (!serving && problem !== null) say(waitingForFix(problem, dir));
        front.setUnavailable(problem !== null && !registry.names.some((name) => registry.serves(name)) ? unavailableWhileBroken(problem) : null);
      });
    }
    gateway.watcher?.start();
    return gateway;
  }

  /**
   * An apps directory with no package in it serves nothing: say so once, with what a package
   * looks like, rather than leave the user guessing why every URL is a 404 (issue 13, item 10).
   */
  private sayWhenNoApps(dir: string, say: (line: string) => void, then: string): void {
    const { apps, broken } = this.registry.status();
    if (apps.length > 0 || broken.length > 0) return;
    say(
      `no app packages in ${dir}: a package is a directory holding app.yaml, e.g. ${join(dir, 'hello', 'app.yaml')} ` +
        `(\`apppkg-gateway init DIR\` writes one); ${then}`,
    );
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
    return this.sampler.fill({
      pid: process.pid,
      version: packageVersion(),
      startedAt: this.startedAt,
      now: new Date().toISOString(),
      listen: this.urls,
      apps: apps.map((app) => ({
        ...app,
        requests: this.metrics.requestsOf(app.name),
        errors: this.metrics.errorsOf(app.name),
        queued: this.front.queued(app.name),
        latency: this.metrics.latency(app.name),
        services: serviceStatusOf(app.name),
      })),
      broken,
      ...(this.mail ? { mail: this.mail.status() } : {}),
    });
  }

  /**
   * Each app's mail domains (`apps.NAME.mail_domains`, default NAME.localhost) and the `mail:`
   * path of the version serving now, for the mail listener's routing and its deliveries.
   */
  private mailRoutes(): MailRoute[] {
    return this.registry.names.map((app) => {
      const desc = this.registry.servingOf(app)?.instance?.desc;
      const domains = overridesFor(this.registry.hostEnv, app).mailDomains;
      return { app, domains: domains.length > 0 ? domains : [`${app}.localhost`], path: desc?.mail ?? null, serving: desc !== undefined };
    });
  }

  /**
   * Reads `adminTokenFile` again (SIGHUP), so a token is rotated without a restart: false
   * without one. A file that no longer holds a token throws APPPKG_ADMIN_TOKEN_FILE and the old
   * token stays in force.
   */
  reloadAdminToken(): boolean {
    return this.admin?.reloadToken() ?? false;
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
    const file = this.environmentFile;
    if (file === null || this.stopping) return Promise.resolve(null);
    // One at a time: two SIGHUPs in a row must not judge the second file against a stale first.
    const run = this.reloading.then(() => reloadEnvironment(this.registry, file, { say: this.say, fixed: this.fixedKeys }));
    this.reloading = run.catch(() => {});
    return run;
  }

  /** Looks at the apps again now (SIGHUP), retrying versions refused before. */
  rescan(): Promise<void> {
    return this.registry.reconcile(true);
  }

  /** Replaces the workers and processes of `name` (every app when omitted), as a deploy does. */
  restart(name?: string): Promise<void> {
    return this.registry.restart(name);
  }

  /**
   * The admin's restart of one app: resolves once a fresh instance serves; throws
   * APPPKG_ADMIN_ACTION_FAILED when it could not start (what served keeps serving).
   */
  async restartApp(name: string): Promise<{ version: string | null; message: string }> {
    const before = this.registry.servingOf(name)?.instance ?? null;
    await this.registry.restart(name);
    const after = this.registry.servingOf(name);
    if (!after?.instance || after.instance === before) {
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', {
        action: 'restart', app: name,
        reason: `${after?.problem?.message ?? 'the fresh instance did not start'}${after?.instance ? '; the running one keeps serving' : ''}`,
      });
    }
    const version = after.instance.desc.version;
    return { version, message: `${name}: ${version ? `version ${version}` : 'the app'} restarted; the old workers drain` };
  }

  /** The admin's rollback: serves the version below the serving one (Registry.rollback). */
  async rollback(name: string): Promise<{ from: string; to: string; message: string }> {
    const { from, to } = await this.registry.rollback(name);
    return { from, to, message: `${name}: rolled back from ${from} to ${to}; ${from} drains and stays out of rotation until a file in it changes` };
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
      this.watcher?.stop();
      // Before the front and the apps: a delivery in flight can still reach its app.
      await this.mail?.stop(this.graceMs);
      await this.admin?.close();
      await this.front.stop(this.graceMs);
      await this.registry.stop(5000);
      await this.lock?.release();
    })();
    return this.stopping;
  }
}
