// Desired state (the packages under --apps) against actual state (running instances), made
// equal by reconcile(): a first install runs commands.install, a new version runs
// commands.update, starts, passes its probe and only then takes traffic while the old one
// drains; a version that fails any step never serves and is not retried until it changes.
// Removing the newest version rolls back the same way. One reconcile runs at a time.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AppStatus, BrokenPackageStatus, VersionStatus } from '../admin/status-types.js';
import { resolveApp, type AppContext } from '../app-context.js';
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Gateway, RoutedApp } from '../gateway.js';
import { runInAppEnvironment } from '../lifecycle/run-command.js';
import { AppLog } from '../log/app-log.js';
import type { AppInstance } from './app-instance.js';
import type { GatewayMetrics } from '../admin/metrics.js';
import type { RunAs } from '../environment/run-as.js';
import { discoverApps } from './discovery.js';
import { startApp } from './start-app.js';
import { readRssBytes } from './recycle.js';

export interface RegistryOptions {
  appsDir: string;
  hostEnv: HostEnvironment;
  stateDir?: string;
  gateway: Gateway;
  say: (line: string) => void;
  /** How long a draining version may finish its requests. */
  drainMs: number;
  /** Bound on lifecycle hooks (install, update). */
  hookTimeoutMs: number;
  /** Told when an app disappears from the apps directory (its metrics are dropped). */
  onRemoved?: (name: string) => void;
}

interface Serving {
  desc: Description;
  fingerprint: string;
  instance: AppInstance;
  runAs: RunAs | null;
}

interface AppRecord {
  name: string;
  serving: Serving | null;
  /** fingerprint -> why that exact version (as it was then) was refused. */
  refused: Map<string, GatewayError>;
  versions: Description[];
  /** The last refusal, shown in status until a version serves again. */
  problem: GatewayError | null;
}

/** Changes to these make a package "changed": its directory, its app.yaml. */
function fingerprint(desc: Description): string {
  try {
    const st = statSync(desc.file);
    return `${desc.dir}|${st.size}|${st.mtimeMs}`;
  } catch {
    return `${desc.dir}|gone`;
  }
}

export class Registry {
  private records = new Map<string, AppRecord>();
  private broken: BrokenPackageStatus[] = [];
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private draining = new Set<Promise<void>>();

  constructor(private readonly opts: RegistryOptions) {}

  /**
   * Makes the running apps match the apps directory. Calls made while one runs coalesce into
   * one more run after it; `force` (SIGHUP) also retries versions refused before.
   */
  reconcile(force = false): Promise<void> {
    if (force) for (const record of this.records.values()) record.refused.clear();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.reconcileOnce()
      .catch((err) => this.opts.say(`reconcile failed: ${(err as Error).stack ?? String(err)}`))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.reconcile();
        }
      });
    return this.running;
  }

  private async reconcileOnce(): Promise<void> {
    const discovery = await discoverApps(this.opts.appsDir);
    const brokenNow = discovery.broken.map(({ dir, error }) => ({ dir, code: error.code, message: error.format() }));
    for (const b of brokenNow) {
      if (!this.broken.some((old) => old.dir === b.dir && old.message === b.message)) this.opts.say(`skipping ${b.dir}:\n${b.message}`);
    }
    this.broken = brokenNow;

    const present = new Set<string>();
    for (const app of discovery.apps) {
      if (this.stopped) return;
      present.add(app.name);
      const record = this.records.get(app.name) ?? { name: app.name, serving: null, refused: new Map(), versions: [], problem: null };
      this.records.set(app.name, record);
      record.versions = app.versions;
      await this.converge(record);
    }
    for (const [name, record] of this.records) {
      if (present.has(name) || this.stopped) continue;
      this.records.delete(name);
      this.opts.onRemoved?.(name);
      if (record.serving) {
        this.opts.say(`${name}: removed; stopping it`);
        const old = record.serving.instance;
        this.publish();
        this.drain(old);
      }
    }
    this.publish();
  }

  /** Serve the highest version that is not refused; keep the current one if none can start. */
  private async converge(record: AppRecord): Promise<void> {
    for (const desc of record.versions) {
      const fp = fingerprint(desc);
      if (record.serving?.fingerprint === fp) return; // already serving the best candidate
      if (record.refused.has(fp)) continue;
      const started = await this.startVersion(record, desc);
      if (!started) {
        record.refused.set(fp, record.problem!);
        continue;
      }
      const previous = record.serving;
      record.serving = { desc, fingerprint: fp, instance: started.instance, runAs: started.runAs };
      if (started.runAs?.isRoot) {
        this.opts.say(`${record.name}: WARNING: runs as root; set \`user:\` for it in the environment file, or chown its directory to the user it should run as`);
      }
      record.problem = null;
      this.publish();
      if (previous) {
        // Requests still queued for the old version go to the new one; those in its workers
        // finish there (SIGTERM lets a worker finish what it holds).
        previous.instance.handOver(started.instance);
        this.opts.say(`${record.name}: ${label(desc)} takes over from ${label(previous.desc)}; draining the old one`);
        this.drain(previous.instance);
      } else {
        this.opts.say(`${record.name}: ${label(desc)} serving at ${this.mountOf(record.name)}`);
      }
      return;
    }
  }

  private drain(instance: AppInstance): void {
    const stopping = instance.stop(this.opts.drainMs).finally(() => this.draining.delete(stopping));
    this.draining.add(stopping);
  }

  private async startVersion(record: AppRecord, desc: Description): Promise<{ instance: AppInstance; runAs: RunAs | null } | null> {
    let ctx: AppContext;
    try {
      ctx = await resolveApp({ dir: desc.dir, mode: 'production', hostEnv: this.opts.hostEnv, stateDir: this.opts.stateDir, switchUser: true });
      const firstInstall = !existsSync(installedMarker(ctx));
      const hook = firstInstall ? 'install' : record.serving ? 'update' : null;
      if (hook) await this.runHook(ctx, hook);
      if (firstInstall) writeFileSync(installedMarker(ctx), `${JSON.stringify({ version: desc.version, dir: desc.dir, at: new Date().toISOString() })}\n`);
      return { instance: await startApp(ctx, { development: false, say: this.opts.say }), runAs: ctx.runAs };
    } catch (err) {
      const error = isGatewayError(err)
        ? (err as GatewayError)
        : new GatewayError('APPPKG_WORKER_START_FAILED', { app: desc.name, reason: String(err), cause: err });
      record.problem = error;
      const keeps = record.serving ? `; ${label(record.serving.desc)} keeps serving` : '';
      this.opts.say(`${record.name}: ${label(desc)} refused${keeps}:\n${error.format()}`);
      return null;
    }
  }

  private async runHook(ctx: AppContext, hook: 'install' | 'update'): Promise<void> {
    const command = ctx.desc.commands[hook];
    if (!command) return;
    this.opts.say(`${ctx.desc.name}: running commands.${hook} of ${label(ctx.desc)}: ${command}`);
    const log = new AppLog(ctx.appEnv.logDir);
    const started = Date.now();
    const status = await runInAppEnvironment(ctx, { shell: command, output: log, timeoutMs: this.opts.hookTimeoutMs });
    log.end();
    if (status !== 0) {
      throw new GatewayError('APPPKG_COMMAND_FAILED', { command: `commands.${hook} (${command})`, status });
    }
    this.opts.say(`${ctx.desc.name}: commands.${hook} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  private mountOf(name: string): string {
    return this.opts.hostEnv.apps[name]?.mount ?? `/${name}`;
  }

  /** Hands the gateway the routes of every serving version. */
  private publish(): void {
    const routed: RoutedApp[] = [];
    for (const record of this.records.values()) {
      if (!record.serving) continue;
      const hosts = this.opts.hostEnv.apps[record.name]?.hosts ?? [];
      routed.push({
        instance: record.serving.instance,
        routes: [
          { host: null, prefix: this.mountOf(record.name) },
          { host: `${record.name}.localhost`, prefix: '' },
          ...hosts.map((host) => ({ host, prefix: '' })),
        ],
      });
    }
    this.opts.gateway.setApps(routed);
  }

  status(metrics?: GatewayMetrics): { apps: AppStatus[]; broken: BrokenPackageStatus[] } {
    const apps: AppStatus[] = [];
    for (const record of [...this.records.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const serving = record.serving;
      const instance = serving?.instance;
      const versions: VersionStatus[] = record.versions.map((desc) => {
        const refused = record.refused.get(fingerprint(desc));
        const isServing = serving?.desc.dir === desc.dir;
        return {
          version: desc.version,
          dir: desc.dir,
          state: isServing ? 'serving' : refused ? 'failed' : 'standby',
          reason: refused && !isServing ? { code: refused.code, message: refused.message } : null,
        };
      });
      apps.push({
        name: record.name,
        state: !instance ? 'failed' : instance.crashLooping ? 'crash-loop' : instance.state,
        version: serving?.desc.version ?? null,
        dir: serving?.desc.dir ?? null,
        mount: this.mountOf(record.name),
        hosts: [`${record.name}.localhost`, ...(this.opts.hostEnv.apps[record.name]?.hosts ?? [])],
        user: serving?.runAs?.user ?? null,
        runsAsRoot: serving ? (serving.runAs ? serving.runAs.isRoot : process.getuid?.() === 0) : false,
        versions,
        workers: (instance?.workerStatus() ?? []).map((w) => ({ ...w, rssBytes: w.pid ? readRssBytes(w.pid) : null })),
        processes: instance?.processStatus() ?? [],
        restarts: instance?.restarts ?? 0,
        requests: metrics?.requestsOf(record.name) ?? instance?.requests ?? 0,
        errors: metrics?.errorsOf(record.name) ?? 0,
        queued: instance?.queued ?? 0,
        latency: metrics?.latency(record.name) ?? { p50: null, p90: null, p99: null },
        problem: record.problem ? { code: record.problem.code, message: record.problem.message } : null,
      });
    }
    return { apps, broken: this.broken };
  }

  /** Every pid of every app's workers (tests check them for orphans). */
  get pids(): number[] {
    return [...this.records.values()].flatMap((r) => r.serving?.instance.pids ?? []);
  }

  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    await this.running;
    await Promise.all([...this.records.values()].map((r) => r.serving?.instance.stop(graceMs)));
    await Promise.all(this.draining);
  }
}

function label(desc: Description): string {
  return desc.version ? `version ${desc.version}` : desc.dir;
}

function installedMarker(ctx: AppContext): string {
  return join(dirname(ctx.appEnv.dataDir), 'installed.json');
}
