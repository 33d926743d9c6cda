// What happened to one app lately, for the status page and /status (`history`): versions that
// took traffic, were refused (with why), rolled back or restarted, and processes that died.
// A bounded list, newest last: a crash loop must not grow the gateway's memory.
import type { HistoryEvent, RefusalStatus } from '../admin/status-types.js';

/** Events kept per app. */
const KEPT_EVENTS = 50;

export type HistoryKind = HistoryEvent['kind'];

export class AppHistory {
  private readonly events: HistoryEvent[] = [];
  /** Bumped at every event: lets a watcher tell "something happened" without comparing lists. */
  changes = 0;

  add(kind: HistoryKind, message: string, details: { version?: string | null; from?: string | null; reason?: RefusalStatus | null } = {}): void {
    this.events.push({ at: new Date().toISOString(), kind, version: details.version ?? null, from: details.from ?? null, message, reason: details.reason ?? null });
    if (this.events.length > KEPT_EVENTS) this.events.splice(0, this.events.length - KEPT_EVENTS);
    this.changes++;
  }

  /** Oldest first. */
  list(): HistoryEvent[] {
    return [...this.events];
  }
}
