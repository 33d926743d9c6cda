// What the registry hands the proxy after every change (RegistryOptions.publish): the serving
// version of each app with its routes, and the apps that serve nothing with why (refused,
// starting, or a package whose app.yaml cannot be loaded), which the proxy answers 503 for.
import { basename } from 'node:path';
import { parsePackageDirName } from '../description/package-dir.js';
import type { AppInstance } from './app-instance.js';
import { isStarting, type AppRecord } from './app-record.js';
import type { BrokenPackage } from './discovery.js';

/** A host name (null = any) and a path prefix ('' = the root) that lead to an app. */
export interface RouteSpec {
  host: string | null;
  prefix: string;
  /** One of the app's defaults (`NAME.localhost`, `/NAME`): another app's `hosts:` or `mount:` naming it takes it. */
  implicit?: boolean;
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
  /** Of an app starting: how long a request for it waits before a 503 to retry (startWaitMs). */
  startWaitMs?: number;
  /**
   * Of an app starting: the routes of the processes that take requests in any of its versions
   * (null: a command app's web, which takes every path), whichever of them comes to serve.
   */
  processRoutes?: Array<string | null>;
}

/**
 * Past its start bound, the time a start takes to be refused: its workers are stopped (1 s,
 * then SIGKILL) before the refusal is published. A request waits that long too, so that one
 * that came as the start began gets the start's outcome, not a 503 saying it still starts.
 */
const REFUSAL_PUBLISHED_MS = 3_000;

/**
 * How long a request waits for an app starting: the app's own start bound (`start_timeout`,
 * which bounds the import and the health probe together), counted from the request, and the
 * refusal's time. A hook running first (commands.install) is not counted: past this the
 * request gets a 503 with Retry-After, as it does while an older version is tried after a
 * newer one was refused.
 */
export function startWaitMs(startTimeoutMs: number): number {
  return startTimeoutMs + REFUSAL_PUBLISHED_MS;
}

/** RefusedApp.processRoutes of a starting app: of every version it has, as any may be the one that serves. */
function processRoutesOf(record: AppRecord): Array<string | null> {
  const routes = new Set<string | null>();
  for (const desc of record.versions) {
    for (const [name, spec] of Object.entries(desc.processes)) if (name === 'web' || spec.route !== null) routes.add(name === 'web' ? null : spec.route);
  }
  return [...routes];
}

/** The serving version of every app of `records`, with its routes, and the apps that serve nothing. */
export function publishedApps(
  records: ReadonlyMap<string, AppRecord>,
  broken: readonly BrokenPackage[],
  routesOf: (name: string) => RouteSpec[],
  startTimeoutMsOf: (name: string) => number,
): { serving: ServingApp[]; refused: RefusedApp[] } {
  const serving: ServingApp[] = [];
  const refused: RefusedApp[] = [];
  for (const record of records.values()) {
    if (record.serving) serving.push({ name: record.name, routes: routesOf(record.name), instance: record.serving.instance });
    else if (!isStarting(record)) refused.push({ name: record.name, routes: routesOf(record.name), code: record.problem!.code });
    // A new app still starting (its first version importing, its hook running, or an older one
    // tried after a newer was refused) is there: its URLs wait for it, then say so with a 503,
    // not a 404 as if it did not exist, nor "refused" while a version may still serve.
    else refused.push({ name: record.name, routes: routesOf(record.name), code: STARTING, startWaitMs: startWaitMs(startTimeoutMsOf(record.name)), processRoutes: processRoutesOf(record) });
  }
  // A package whose app.yaml cannot be loaded, of a name nothing else answers for, answers
  // 503 naming why at its routes too, as a refused app does, not 404 "no app is mounted".
  for (const { dir, error } of broken) {
    const name = parsePackageDirName(basename(dir)).name;
    if (records.has(name) || refused.some((r) => r.name === name)) continue;
    refused.push({ name, routes: routesOf(name), code: error.code });
  }
  return { serving, refused };
}

export interface Publication {
  serving: ServingApp[];
  refused: RefusedApp[];
}

/**
 * Whether `a` and `b` hand the proxy the same: each app served by the same instance at the same
 * routes, the same refusals. The registry publishes after every judging, reconcile and switch;
 * most change nothing, and each rebuilds the proxy's routes for every app, which made a start of
 * 300 apps publish 1,400 times (13 s of the gateway's one thread).
 */
export function samePublication(a: Publication, b: Publication): boolean {
  const sameRoutes = (x: RouteSpec[], y: RouteSpec[]): boolean =>
    x.length === y.length && x.every((r, i) => r.host === y[i].host && r.prefix === y[i].prefix && r.implicit === y[i].implicit);
  const sameList = <T>(x: Array<T | null>, y: Array<T | null>): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    a.serving.length === b.serving.length &&
    a.refused.length === b.refused.length &&
    a.serving.every((s, i) => s.name === b.serving[i].name && s.instance === b.serving[i].instance && sameRoutes(s.routes, b.serving[i].routes)) &&
    a.refused.every((r, i) => {
      const o = b.refused[i];
      return r.name === o.name && r.code === o.code && r.startWaitMs === o.startWaitMs && sameRoutes(r.routes, o.routes) && sameList(r.processRoutes ?? [], o.processRoutes ?? []);
    })
  );
}
