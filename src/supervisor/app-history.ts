// What happened to one app lately, for the status page and /status (`history`): versions that
// took traffic, were refused (with why), rolled back or restarted, and processes that died.
// A bounded list, newest last: a crash loop must not grow the gateway's memory. It begins with
// what the gateway's last run left in the app's history file (history-file.ts), and tells
// `onChange` of each event, which writes it back there (history-writer.ts).
import type { HistoryEvent, RefusalStatus } from '../admin/status-types.js';

/** Events kept per app. */
export const KEPT_EVENTS = 50;

export type HistoryKind = HistoryEvent['kind'];

export class AppHistory {
  private readonly events: HistoryEvent[];
  /** Bumped at every event: lets a watcher tell "something happened" without comparing lists. */
  changes = 0;
  /** The `alike` the newest event was added with (none for one read from the file). */
  private newestAlike: string | null = null;

  /** `earlier`: the events of the gateway's last run, oldest first (their newest 50 are kept). */
  constructor(earlier: readonly HistoryEvent[] = [], private readonly onChange: () => void = () => {}) {
    this.events = earlier.slice(-KEPT_EVENTS).map((e) => ({ ...e }));
  }

  /**
   * `repeat`: the same event as the newest one (same kind, version and message) adds to it (its
   * `times` and `lastAt`) rather than a new one: a version tried again every minute through a
   * database outage would otherwise push every event that explains it out of the list.
   * `alike`: as `repeat`, for events whose messages differ in what does not matter (a crash
   * loop's exits name each pid and back-off): one with the same kind, version and `alike` as the
   * newest adds to it, its first message kept. Returns the event it went into.
   */
  add(kind: HistoryKind, message: string, details: { version?: string | null; from?: string | null; reason?: RefusalStatus | null; repeat?: boolean; alike?: string } = {}): HistoryEvent {
    const at = new Date().toISOString();
    const version = details.version ?? null;
    const from = details.from ?? null;
    const newest = this.events[this.events.length - 1];
    const alike = details.alike ?? null;
    const same = alike !== null ? alike === this.newestAlike : details.repeat && newest?.message === message;
    if (same && newest && newest.kind === kind && newest.version === version && newest.from === from) {
      newest.times++;
      newest.lastAt = at;
      newest.reason = details.reason ?? null;
      this.changes++;
      this.onChange();
      return newest;
    }
    const event: HistoryEvent = { at, kind, version, from, message, reason: details.reason ?? null, times: 1, lastAt: null };
    this.events.push(event);
    this.newestAlike = alike;
    if (this.events.length > KEPT_EVENTS) this.events.splice(0, this.events.length - KEPT_EVENTS);
    this.changes++;
    this.onChange();
    return event;
  }

  /** Oldest first. */
  list(): HistoryEvent[] {
    // Copies: a repeat changes the newest event in place, never a list already handed out.
    return this.events.map((e) => ({ ...e }));
  }
}
