// What `status` says of the mail waiting for each app (SPEC 5.3, docs/mail.md): an app that
// answered 500 to every delivery for an hour showed only in the spool's totals, and which app,
// since when, why and until when were in the log alone. Made from the spool's deliveries at each
// status; one entry per app, however many deliveries wait: counts and the newest failure, never
// a list. Pure: the spool and the deliverer are read by the caller.
import type { AppMailStatus } from '../admin/status-types.js';
import type { SpooledDelivery } from './mail-spool.js';

interface Tally {
  waiting: number;
  retrying: number;
  attempting: number;
  failedAttempts: number;
  oldestReceivedAt: number;
  lastFailure: { at: number | null; reason: string } | null;
  nextAttemptAt: number | null;
  givesUpAt: number;
}

/**
 * The waiting mail of each app that has some, by name. `isAttempting`: whether a delivery's
 * attempt is under way (it has no next attempt to wait for until it ends). `giveUpS`: the
 * schedule's give_up, which status turns into the time the first of them becomes a dead letter
 * (SPEC 5.3's "for up to two days": a host told only of the next attempt could not tell a
 * message an hour from its end from one just received). Postmaster mail that no app takes is no
 * app's: it is a dead letter at once.
 */
export function waitingMailByApp(pending: Iterable<SpooledDelivery>, isAttempting: (id: string) => boolean, giveUpS: number): Map<string, AppMailStatus> {
  const tallies = new Map<string, Tally>();
  for (const d of pending) {
    if (d.keep !== undefined) continue;
    let t = tallies.get(d.app);
    if (t === undefined) {
      t = { waiting: 0, retrying: 0, attempting: 0, failedAttempts: 0, oldestReceivedAt: d.receivedAt, lastFailure: null, nextAttemptAt: null, givesUpAt: Infinity };
      tallies.set(d.app, t);
    }
    t.waiting++;
    t.failedAttempts += d.attempts;
    if (d.attempts > 0) t.retrying++;
    t.oldestReceivedAt = Math.min(t.oldestReceivedAt, d.receivedAt);
    // `mail retry` gives a dead letter put back a fresh schedule: give_up counts from then.
    t.givesUpAt = Math.min(t.givesUpAt, (d.retriedAt ?? d.receivedAt) + giveUpS * 1000);
    if (d.lastError !== null && isNewer(d.lastErrorAt ?? null, t.lastFailure)) t.lastFailure = { at: d.lastErrorAt ?? null, reason: d.lastError };
    if (isAttempting(d.id)) t.attempting++;
    else t.nextAttemptAt = Math.min(t.nextAttemptAt ?? Infinity, d.nextAttemptAt);
  }
  const out = new Map<string, AppMailStatus>();
  for (const [app, t] of tallies) {
    out.set(app, {
      waiting: t.waiting,
      retrying: t.retrying,
      attempting: t.attempting,
      failedAttempts: t.failedAttempts,
      oldestReceivedAt: iso(t.oldestReceivedAt),
      lastFailure: t.lastFailure === null ? null : { at: t.lastFailure.at === null ? null : iso(t.lastFailure.at), reason: t.lastFailure.reason },
      nextAttemptAt: t.nextAttemptAt === null ? null : iso(t.nextAttemptAt),
      givesUpAt: iso(t.givesUpAt),
    });
  }
  return out;
}

/** A failure at `at` is newer than `last`; one of unknown time (an older gateway's record) only replaces none. */
function isNewer(at: number | null, last: Tally['lastFailure']): boolean {
  if (last === null) return true;
  if (at === null) return false;
  return last.at === null || at > last.at;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
