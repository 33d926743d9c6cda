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

  /**
   * `repeat`: the same event as the newest one (same kind, version and message) adds to it (its
   * `times` and `lastAt`) rather than a new one: a version tried again every minute through a
   * database outage would otherwise push every event that explains it out of the list.
   * Returns the event it went into.
   */
  add(kind: HistoryKind, message: string, details: { version?: string | null; from?: string | null; reason?: RefusalStatus | null; repeat?: boolean } = {}): HistoryEvent {
    const at = new Date().toISOString();
    const version = details.version ?? null;
    const from = details.from ?? null;
    const newest = this.events[this.events.length - 1];
    if (details.repeat && newest && newest.kind === kind && newest.version === version && newest.from === from && newest.message === message) {
      newest.times++;
      newest.lastAt = at;
      newest.reason = details.reason ?? null;
      this.changes++;
      return newest;
    }
    const event: HistoryEvent = { at, kind, version, from, message, reason: details.reason ?? null, times: 1, lastAt: null };
    this.events.push(event);
    if (this.events.length > KEPT_EVENTS) this.events.splice(0, this.events.length - KEPT_EVENTS);
    this.changes++;
    return event;
  }

  /** Oldest first. */
  list(): HistoryEvent[] {
    // Copies: a repeat changes the newest event in place, never a list already handed out.
    return this.events.map((e) => ({ ...e }));
  }
}
