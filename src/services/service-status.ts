// The last known state of each app's services, kept by the gateway process for `status`
// (SPEC 5.2: "status shows each service's state"). Written by each start's provisioning, and
// between starts by the Redis users' watch (redis-user-watch.ts) and the PostgreSQL one
// (postgresql-watch.ts) when a server goes or comes back.
import { namingCallerOptions, type CallerOptionKeys } from '../environment/app-env.js';
import { isGatewayError, type GatewayError } from '../errors.js';

/** One service of one app, as status shows it. */
export interface ServiceStatus {
  /** The app.yaml key: database | redis. */
  name: string;
  /** What backs it: postgresql | sqlite | redis. */
  kind: string;
  /** ready | unavailable | refused */
  state: string;
  /** Why not ready, with the fix; null when ready. */
  reason: string | null;
  /** When this state was found (ISO 8601). */
  since?: string;
}

const byApp = new Map<string, ServiceStatus[]>();

export function recordServiceStatus(app: string, statuses: ServiceStatus[]): void {
  const now = new Date().toISOString();
  const earlier = byApp.get(app) ?? [];
  byApp.set(app, statuses.map((s) => {
    const same = earlier.find((e) => e.name === s.name && e.kind === s.kind && e.state === s.state);
    return { ...s, since: same?.since ?? now };
  }));
}

/**
 * One service of a running app found in another state since its start: the app's other services
 * are left as they were. Nothing for an app or service with no state kept (forgotten meanwhile).
 */
export function updateServiceStatus(app: string, name: string, state: string, reason: string | null): void {
  const statuses = byApp.get(app);
  const index = statuses?.findIndex((s) => s.name === name) ?? -1;
  if (!statuses || index < 0) return;
  const earlier = statuses[index];
  if (earlier.state === state && earlier.reason === reason) return;
  const since = earlier.state === state ? earlier.since : new Date().toISOString();
  byApp.set(app, statuses.map((s, i) => (i === index ? { ...s, state, reason, since } : s)));
}

/**
 * The state and reason `status` shows for a service that failed with `err`, its fix in the words
 * of `keys`: a library gateway's status said `apppkg-gateway check APP_DIR --environment FILE`
 * and `--state-dir` to a program that has neither.
 */
export function failedServiceState(err: unknown, keys: CallerOptionKeys = {}): { state: 'unavailable' | 'refused'; reason: string } {
  if (!isGatewayError(err)) return { state: 'refused', reason: String(err) };
  const named = namingCallerOptions(err, keys) as GatewayError;
  return { state: named.code === 'APPPKG_SERVICE_UNAVAILABLE' ? 'unavailable' : 'refused', reason: `${named.message} (fix: ${named.hint})` };
}

/** The last known state of each service of app `name` (for status). */
export function serviceStatusOf(name: string): ServiceStatus[] {
  return (byApp.get(name) ?? []).map((s) => ({ ...s }));
}

/** An app gone from --apps: its services are no longer shown. */
export function forgetServiceStatus(name: string): void {
  byApp.delete(name);
}
