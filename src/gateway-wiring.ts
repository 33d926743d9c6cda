// How the composition root joins the proxy and the supervisor: the Front's options and its
// report of each response (metrics), and the Registry's callbacks: the routes of each app, its
// publish (ServingApp → the Front's PublishedApp), and how serve and --apps each take a
// removed, broken or refused app. gateway.ts builds both with these, in its start order.
import type { GatewayMetrics } from './admin/metrics.js';
import type { CommandWords } from './command-words.js';
import type { RunMode } from './app-context.js';
import type { HostEnvironment } from './environment/host-file.js';
import { appUser } from './environment/run-as.js';
import { DEFAULT_HOOK_TIMEOUT_MS, DEFAULT_SETTLE_MS, type GatewayOptions, type OptionNames } from './gateway-options.js';
import type { ListenAddress } from './net/address.js';
import type { Front, FrontOptions, PublishedApp } from './proxy/front.js';
import { forgetAppServices } from './services/app-services.js';
import { appDirSource, appsDirSource, namingBroken } from './supervisor/discovery.js';
import type { RouteSpec, ServingApp } from './supervisor/published-apps.js';
import { Registry } from './supervisor/registry.js';


/** The Front's options from the gateway's; each response it answers is counted in `metrics`. */
export function frontOptions(options: GatewayOptions, listen: ListenAddress[], names: Pick<OptionNames, 'listen' | 'listenHost' | 'socketOwner' | 'commands'>, metrics: GatewayMetrics, say: (line: string) => void): FrontOptions {
  return {
    listen,
    listenFlag: names.listen,
    listenHostFlag: names.listenHost,
    socketOwnerKey: names.socketOwner,
    statusCall: names.commands.status,
    accessLog: options.accessLog ?? null,
    onResponse: (app, status, seconds, refusedForRoom) => metrics.observeRequest(app, status, seconds, refusedForRoom),
    onWebsocketRefusedForRoom: (app) => metrics.observeWebsocketRefusedForRoom(app),
    unixSocket: options.unixSocket,
    trustProxy: options.trustProxy,
    headersTimeoutMs: options.headerTimeoutMs,
    leanLane: process.env.APPPKG_LEAN_LANE !== '0',
    say,
  };
}

/** What the Registry is built from: the checked start, the environment file and the Front it publishes to. */
export interface RegistryWiring {
  options: GatewayOptions;
  single: boolean;
  dir: string;
  mode: RunMode;
  say: (line: string) => void;
  hostEnv: HostEnvironment;
  graceMs: number;
  front: Front;
  metrics: GatewayMetrics;
  /** Has start() made the Gateway yet? Before, serve's broken app.yaml is the start's own error. */
  started: () => boolean;
  /** What an app's refused state calls the state root's option (OptionNames.stateDir). */
  stateKey: string;
  /** What a missing setting's fix calls the environment file's option (OptionNames.environment). */
  environmentKey: string;
  /** What a hook's timeout calls the option that bounds it (OptionNames.hookTimeout). */
  hookTimeoutKey: string;
  /** What the log and status call the bound on every app's workers (OptionNames.maxWorkers). */
  maxWorkersKey: string;
  /** What a fix calls a command (OptionNames.commands). */
  commandWords: CommandWords;
  /** The CLI's command line that started the gateway (OptionNames.startedAs). */
  startedAs?: string;
}

/** The Registry, publishing to the Front. */
export function createRegistry({ options, single, dir, mode, say, hostEnv, graceMs, front, metrics, started, stateKey, environmentKey, hookTimeoutKey, maxWorkersKey, commandWords, startedAs }: RegistryWiring): Registry {
  // From the environment in force (registry.hostEnv): a reload's new mount is routed at once.
  const routesOf = (name: string): RouteSpec[] => {
    if (single) return [{ host: null, prefix: '' }];
    const apps = registry.hostEnv.apps;
    const app = Object.hasOwn(apps, name) ? apps[name] : undefined;
    return [
      // The default mount gives way to another app's `mount:` naming the same path, as the
      // default host does to a `hosts:` entry, whichever app comes first.
      { host: null, prefix: app?.mount ?? `/${name}`, implicit: app?.mount === undefined },
      { host: `${name}.localhost`, prefix: '', implicit: true },
      ...(app?.hosts ?? []).map((host) => ({ host, prefix: '' })),
    ];
  };
  const registry: Registry = new Registry({
    // --apps switches each app to its user (production): what its app.yaml leads to is shown
    // only as far as that user may read it, by the environment in force.
    source: namingBroken(single ? appDirSource(dir, environmentKey) : appsDirSource(dir, mode === 'production' ? (name: string, at: string) => appUser(registry.hostEnv, name, at) : undefined, environmentKey), commandWords),
    hostEnv,
    stateDir: options.stateDir,
    entryDir: dir,
    startedAs,
    stateKey,
    environmentKey,
    hookTimeoutKey,
    commandWords,
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
    websocketsAtOnce: single && options.reload === true,
    hookTimeoutMs: options.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS,
    settleMs: single ? 0 : (options.settleMs ?? DEFAULT_SETTLE_MS),
    // serve too: a first run migrates the database as --apps does (issue 13, item 5); serve has
    // one version, so commands.update never runs there.
    runHooks: true,
    echoLogs: options.echoLogs ?? single,
    workers: options.workers,
    threads: options.threads,
    maxWorkers: options.maxWorkers,
    maxWorkersKey,
    onColdStart: (name, seconds) => metrics.observeColdStart(name, seconds),
    onRemoved: (name) => {
      metrics.forgetApp(name);
      forgetAppServices(name);
    },
    // serve: a broken app.yaml at the start is the start's own error, thrown to the caller;
    // one broken later leaves the running workers serving.
    onBroken: single
      ? (_dir, error) => {
          if (started() && registry.names.some((name) => registry.serves(name))) say(`reload failed: ${error.format()}\n  (still serving the previous workers)`);
        }
      : undefined,
    // serve: a start that fails is thrown to the caller; a reload that fails keeps the old one.
    onRefused: single
      ? (_name, error, stillServing) => {
          if (stillServing) say(`reload failed: ${error.format()}\n  (still serving the previous workers)`);
        }
      : undefined,
  });
  return registry;
}
