// The format of GET /events (docs/admin.md, "The event stream"): a stream's first event is the
// whole status (`status`); each after it (`apps`) carries only what changed since what that
// client was last sent: the apps whose entries changed or that came, the names of those gone,
// and the top-level fields that changed. With 300 apps the whole status is ~580 KB, and one busy
// app's counter sent it to every page and watch twice a second. Made here from JSON cut once per
// tick and access level (status-events.ts), and applied here for `status --watch`; the status
// page applies it with its own copy of applyStatusEvent (admin-page/admin.js: a plain script),
// which test/admin/status-patch runs on the same cases as this one.
import type { AppStatus, GatewayStatus } from './status-types.js';

/** The data of an `apps` event. Each key but `now` is left out when it has nothing to say. */
export interface StatusPatch {
  /** The gateway's clock, as the status's `now`: changes alone send nothing, but it comes with every event. */
  now: string;
  /** Top-level fields (all but `apps` and `now`) whose values changed, with their new values. */
  changed?: Partial<GatewayStatus>;
  /** Top-level fields the status no longer has (`mail` once the environment file has none). */
  unset?: string[];
  /** Apps that came or whose entries changed, each whole: it replaces the one of its name. */
  apps?: AppStatus[];
  /** The names of apps no longer in the status. */
  removed?: string[];
  /** Every app's name, in the status's order: sent when an app came or went, or the order changed. */
  order?: string[];
}

/**
 * A status cut to compare by parts: each top-level field and each app as JSON, made once. Never
 * changed once made: what a client was sent holds its maps as they are, not copies.
 */
export interface StatusCut {
  /** The status's keys in its order, `apps` and `now` included: the whole event keeps it. */
  keys: string[];
  /** JSON of each top-level field but `apps` and `now`. */
  fields: Map<string, string>;
  now: string;
  /** JSON of each app's entry by name, in the status's order. */
  apps: Map<string, string>;
  /** JSON of the apps' names in order. */
  order: string;
}

/** What a client was last sent, as JSON by part: what the next event is compared with. */
export interface SentStatus {
  fields: Map<string, string>;
  apps: Map<string, string>;
  order: string;
}

export function cutStatus(status: GatewayStatus): StatusCut {
  const fields = new Map<string, string>();
  const keys: string[] = [];
  for (const [key, value] of Object.entries(status)) {
    // As JSON.stringify: a field set to undefined is no field.
    if (value === undefined) continue;
    keys.push(key);
    if (key !== 'apps' && key !== 'now') fields.set(key, JSON.stringify(value));
  }
  const apps = new Map<string, string>();
  for (const app of status.apps) apps.set(app.name, JSON.stringify(app));
  return { keys, fields, now: JSON.stringify(status.now), apps, order: JSON.stringify([...apps.keys()]) };
}

/** JSON of each of a client's own fields (what it may do): added to every status it is sent. */
export function extraFields(extra: Partial<GatewayStatus>): Map<string, string> {
  const fields = new Map<string, string>();
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) fields.set(key, JSON.stringify(value));
  return fields;
}

/** The top-level fields a client gets from `cut`: the status's own, its own (`extra`) over them. */
function fieldsFor(cut: StatusCut, extra: Map<string, string>): Map<string, string> {
  if (extra.size === 0) return cut.fields;
  const fields = new Map(cut.fields);
  for (const [key, json] of extra) fields.set(key, json);
  return fields;
}

/** The first event of a stream: the whole status, byte for byte JSON.stringify({...status, ...extra}). */
export function wholeEvent(cut: StatusCut, extra: Map<string, string>): { data: string; sent: SentStatus } {
  const fields = fieldsFor(cut, extra);
  const keys = [...cut.keys, ...[...extra.keys()].filter((k) => !cut.keys.includes(k))];
  const parts = keys.map((key) => {
    const json = key === 'apps' ? `[${[...cut.apps.values()].join(',')}]` : key === 'now' ? cut.now : fields.get(key)!;
    return `${JSON.stringify(key)}:${json}`;
  });
  return { data: `{${parts.join(',')}}`, sent: { fields, apps: cut.apps, order: cut.order } };
}

/**
 * The `apps` event that brings a client from `sent` to `cut` (and `sent` up to date with it),
 * or null when nothing but `now` changed: then nothing is sent.
 */
export function patchEvent(cut: StatusCut, extra: Map<string, string>, sent: SentStatus): string | null {
  const fields = fieldsFor(cut, extra);
  const changed: string[] = [];
  for (const [key, json] of fields) if (sent.fields.get(key) !== json) changed.push(`${JSON.stringify(key)}:${json}`);
  const unset = [...sent.fields.keys()].filter((key) => !fields.has(key));
  const apps: string[] = [];
  for (const [name, json] of cut.apps) if (sent.apps.get(name) !== json) apps.push(json);
  const removed = [...sent.apps.keys()].filter((name) => !cut.apps.has(name));
  const reordered = sent.order !== cut.order;
  if (changed.length === 0 && unset.length === 0 && apps.length === 0 && !reordered) return null;
  const parts = [`"now":${cut.now}`];
  if (changed.length > 0) parts.push(`"changed":{${changed.join(',')}}`);
  if (unset.length > 0) parts.push(`"unset":${JSON.stringify(unset)}`);
  if (apps.length > 0) parts.push(`"apps":[${apps.join(',')}]`);
  if (removed.length > 0) parts.push(`"removed":${JSON.stringify(removed)}`);
  if (reordered) parts.push(`"order":${cut.order}`);
  sent.fields = fields;
  sent.apps = cut.apps;
  sent.order = cut.order;
  return `{${parts.join(',')}}`;
}

/**
 * A client's copy of the status after an event of the stream: `status` replaces it, `apps`
 * is applied to it (in place); null while it has had no `status` yet. Other events leave it.
 */
export function applyStatusEvent(status: GatewayStatus | null, event: string, data: string): GatewayStatus | null {
  if (event === 'status') return JSON.parse(data) as GatewayStatus;
  if (event !== 'apps' || status === null) return status;
  const patch = JSON.parse(data) as StatusPatch;
  status.now = patch.now;
  Object.assign(status, patch.changed ?? {});
  for (const key of patch.unset ?? []) delete (status as unknown as Record<string, unknown>)[key];
  const removed = new Set(patch.removed ?? []);
  const apps = new Map(status.apps.filter((app) => !removed.has(app.name)).map((app) => [app.name, app]));
  for (const app of patch.apps ?? []) apps.set(app.name, app);
  status.apps = patch.order ? patch.order.flatMap((name) => apps.get(name) ?? []) : [...apps.values()];
  return status;
}
