// The last known state of each app's services, kept by the gateway process for `status`
// (SPEC 5.2: "status shows each service's state"). Written by each start's provisioning.

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

/** The last known state of each service of app `name` (for status). */
export function serviceStatusOf(name: string): ServiceStatus[] {
  return (byApp.get(name) ?? []).map((s) => ({ ...s }));
}

/** An app gone from --apps: its services are no longer shown. */
export function forgetServiceStatus(name: string): void {
  byApp.delete(name);
}
