// What a second reading of the environment file changes, key by key, as the file names them:
// for an app, the keys its processes were started with (a restart applies them) apart from the
// keys that only lead requests or mail to it (applied where they are read, at each request; the
// mount is also a restart's for an app whose `processes:` were told it) and those the gateway
// alone reads while the app runs (LIVE_KEYS: applied to the running instance);
// for the gateway, the keys it reads once, at its start. Pure: nothing here restarts anything.
import { isDeepStrictEqual } from 'node:util';
import type { AppServices } from '../description/types.js';
import { MAIL_KEYS, OVERRIDE_KEYS, overridesFor, type AppOverrides, type HostEnvironment } from './host-file.js';

/** One app's changed keys, e.g. `settings.SECRET_KEY`, `workers`, `mount`. */
export interface AppChanges {
  /** What its processes get (environment, limits, user, interpreter): only a restart applies these. */
  restart: string[];
  /** Its mount, hosts and mail domains: the router and the mail listener read them afresh. */
  routes: string[];
  /** LIVE_KEYS that changed: the running instance takes them, its processes keep running. */
  live: string[];
}

/**
 * Keys the gateway alone reads, each time it needs them, while the app runs: when to put it to
 * sleep (idle_timeout) and how long a version drains once replaced (drain). A restart for them
 * cut nothing (it drains), but stopped every worker and process of the app, its caches and
 * connections, for a setting none of them sees. The others stay a restart's: each worker or its
 * proxy was built with its value (timeout's 504 clock, max_requests, max_body, queue, ...).
 */
export const LIVE_KEYS: ReadonlyArray<keyof AppOverrides> = ['idleTimeout', 'drain'];

export interface AppChangeOptions {
  /**
   * The services the app asks for (its app.yaml's `services:`); undefined when not known (no
   * version of it has been read): a change to the host's services then counts for it.
   */
  services?: AppServices;
  /** Keys the gateway's own options decide over the file (serve --workers): not a change. */
  fixed?: Array<keyof AppOverrides>;
  /**
   * Its processes were told its mount (APPPKG_MOUNT: it has `processes:`), so a new mount is
   * theirs only once they restart; the workers' SCRIPT_NAME comes with each request.
   */
  toldMount?: boolean;
  /** It runs no Python workers (`platform: python, command`): their count and threads are nobody's. */
  noWorkers?: boolean;
}

/** Keys only Python workers are started with; a command app's processes never read them. */
const WORKER_KEYS: ReadonlyArray<keyof AppOverrides> = ['workers', 'threads'];

/** `settings.NAME` for each setting added, removed or given another value (never the values). */
function changedSettings(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort().map((name) => `settings.${name}`);
}

/** The host's services the app's processes are told of (SPEC 5.2): only those it asks for. */
function changedServices(before: HostEnvironment, after: HostEnvironment, asked: AppServices | undefined): string[] {
  const usesPostgresql = asked === undefined || asked.database === 'sql' || asked.database === 'postgresql';
  const usesRedis = asked === undefined || asked.redis === 'redis';
  return [
    ...(usesPostgresql && before.services.postgresql !== after.services.postgresql ? ['services.postgresql'] : []),
    ...(usesRedis && before.services.redis !== after.services.redis ? ['services.redis'] : []),
  ];
}

/**
 * What changed for `name` between the two readings, after `defaults:`, the top-level `python:`
 * and shared settings are applied: an edit to `defaults:` that the app overrides is no change.
 * `replicas` is left out: only `export kubernetes` reads it.
 */
export function appChanges(before: HostEnvironment, after: HostEnvironment, name: string, opts: AppChangeOptions = {}): AppChanges {
  const was = overridesFor(before, name);
  const is = overridesFor(after, name);
  const changed = (Object.keys(OVERRIDE_KEYS) as Array<keyof AppOverrides>).filter((key) => !opts.fixed?.includes(key) && !(opts.noWorkers && WORKER_KEYS.includes(key)) && was[key] !== is[key]);
  const restart: string[] = changed.filter((key) => !LIVE_KEYS.includes(key)).map((key) => OVERRIDE_KEYS[key]);
  const live = changed.filter((key) => LIVE_KEYS.includes(key)).map((key) => OVERRIDE_KEYS[key]);
  restart.push(...changedSettings(was.settings, is.settings), ...changedServices(before, after, opts.services));
  if (opts.toldMount && was.mount !== is.mount) restart.push('mount');
  const routes = [
    ...(was.mount !== is.mount ? ['mount'] : []),
    ...(!isDeepStrictEqual(was.hosts, is.hosts) ? ['hosts'] : []),
    ...(!isDeepStrictEqual(was.mailDomains, is.mailDomains) ? ['mail_domains'] : []),
  ];
  return { restart, routes, live };
}

/**
 * The keys that changed but that the gateway reads only at its start: the mail listener's
 * (`mail:`, each of its keys; `mail` alone when the listener is added or removed). Its socket,
 * spool and delivery schedule are built from them once (mail/mail-service.ts).
 */
export function keysNeedingGatewayRestart(before: HostEnvironment, after: HostEnvironment): string[] {
  if (before.mail === null && after.mail === null) return [];
  if (before.mail === null || after.mail === null) return ['mail'];
  const was = before.mail;
  const is = after.mail;
  return (Object.keys(MAIL_KEYS) as Array<keyof typeof MAIL_KEYS>).filter((key) => !isDeepStrictEqual(was[key], is[key])).map((key) => `mail.${MAIL_KEYS[key]}`);
}
