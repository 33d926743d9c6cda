// Works the spool: every delivery is POSTed when due (mail-post.ts); 2xx forgets it, 406
// buries it, anything else waits for the next attempt of the retry schedule, until give_up
// buries it (SPEC 5.3); one for no app (postmaster mail no app takes) is buried at once. One timer, set for the earliest delivery due; a bounded number of
// attempts at a time for each app, so a spool full of mail does not flood an app that just came
// back, and an app that holds its attempts (each up to a minute, or its `timeout`) holds no other app's mail.
import { longestWait, nextAttemptAt, type RetrySchedule } from './retry-schedule.js';
import { spanOf } from '../count.js';
import { open, type FileHandle } from 'node:fs/promises';
import { signOpened } from './mail-signature.js';
import { readSpooledTrace } from './mail-trace.js';
import type { MailSpool, SpooledDelivery, DeadLetter } from './mail-spool.js';
import type { MailTarget, PostOutcome } from './mail-post.js';

/** Attempts in flight at once for one app. */
const PER_APP = 4;
/** Attempts in flight at once, over every app: the open messages and connections. */
const CONCURRENCY = 64;

export interface DelivererOptions {
  spool: MailSpool;
  target: MailTarget;
  schedule: RetrySchedule;
  /** The app's `mail:` path now, or null when it takes no mail now (not serving, removed, no `mail:`). */
  pathOf: (app: string) => string | null;
  /** The app's `timeout` in ms (how long its answer may take), when known. */
  timeoutOf?: (app: string) => number | undefined;
  /** Why pathOf gave null, for the log and the delivery's last error. */
  whyNoPath?: (app: string) => string;
  /** The app's APPPKG_MAIL_SECRET. */
  secretOf: (app: string) => string;
  say: (line: string) => void;
  /** Each attempt's end, for the counters. */
  onOutcome?: (outcome: 'delivered' | 'retry' | 'dead', delivery: SpooledDelivery) => void;
}

/** A delivery waiting for its attempt; both times are performance.now() ms. */
interface Waiting {
  delivery: SpooledDelivery;
  /** What give_up counts from: its receipt, or its return from the dead letters (`mail retry`). */
  receivedAt: number;
  dueAt: number;
}

export class MailDeliverer {
  /**
   * Each waiting delivery, with when it is due and when it was received, on the monotonic clock.
   * The spool keeps wall times (they outlive the process); measured against the wall clock in
   * memory, a step back of the host's clock held every retry for as long as the step, a step
   * forward made them all due at once, and one past give_up buried them all at their next
   * failure, days early.
   */
  private readonly waiting = new Map<string, Waiting>();
  private readonly inFlight = new Map<string, { app: string; done: Promise<void>; abort: AbortController }>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: DelivererOptions) {}

  /** Takes every delivery the spool holds (those an earlier run left included) and starts. */
  start(): void {
    // Received in an earlier run: only the wall clock spans the restart. A clock behind the
    // receipt (stepped back since) counts it as received now, never in the future; and a next
    // attempt further away than the schedule's longest wait was written under a clock ahead of
    // this one: a clock a year fast when it failed held it a year. A time that is no number (a
    // record edited by hand) counts as now: a NaN due time was never due, and broke status.
    const now = performance.now();
    const wallNow = Date.now();
    const longest = longestWait(this.opts.schedule);
    const ageOf = (at: number | undefined): number => (Number.isFinite(at) ? Math.max(0, wallNow - at!) : 0);
    for (const delivery of this.opts.spool.pending()) {
      let age = ageOf(delivery.receivedAt);
      delivery.receivedAt = wallNow - age;
      // Put back by `mail retry`: its give_up counts from then, as it did before this restart.
      if (delivery.retriedAt !== undefined) {
        age = Math.min(age, ageOf(delivery.retriedAt));
        delivery.retriedAt = wallNow - age;
      }
      const wait = Number.isFinite(delivery.nextAttemptAt) ? Math.min(Math.max(0, delivery.nextAttemptAt - wallNow), longest) : 0;
      delivery.nextAttemptAt = wallNow + wait;
      this.wait({ delivery, receivedAt: now - age, dueAt: now + wait });
    }
    this.pump();
  }

  /** A message just accepted, or dead letters put back (`mail retry`): tried now. */
  add(deliveries: SpooledDelivery[]): void {
    if (this.stopped) return; // spooled: the next start delivers them
    // Just accepted or put back: give_up counts from now, on either clock, and due now.
    const now = performance.now();
    for (const delivery of deliveries) this.wait({ delivery, receivedAt: now, dueAt: now });
    this.pump();
  }

  private wait(waiting: Waiting): void {
    this.waiting.set(waiting.delivery.id, waiting);
  }

  /** Deliveries waiting for a retry (they have failed at least once), in flight excluded. */
  get retrying(): number {
    let n = 0;
    for (const { delivery } of this.waiting.values()) if (delivery.attempts > 0) n++;
    return n;
  }

  /** Whether this delivery's attempt is under way now (status: it has no next attempt to wait for). */
  isAttempting(id: string): boolean {
    return this.inFlight.has(id);
  }

  /**
   * Stops starting attempts; those in flight may finish within `graceMs`, then are aborted.
   * An aborted attempt stays in the spool, due at once: the next start tries it again (with the
   * same delivery id, so an app that got it anyway drops the repeat).
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const all = Promise.all([...this.inFlight.values()].map((f) => f.done));
    let grace: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (grace = setTimeout(resolve, graceMs)));
    await Promise.race([all, expired]);
    clearTimeout(grace);
    for (const flight of this.inFlight.values()) flight.abort.abort();
    await all;
  }

  private pump(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = performance.now();
    const due = [...this.waiting.values()].filter((w) => w.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
    const perApp = new Map<string, number>();
    for (const flight of this.inFlight.values()) perApp.set(flight.app, (perApp.get(flight.app) ?? 0) + 1);
    for (const waiting of due) {
      const { delivery } = waiting;
      if (this.inFlight.size >= CONCURRENCY) break;
      // Its app has its share in flight: tried as one of them ends (pump runs then).
      if ((perApp.get(delivery.app) ?? 0) >= PER_APP) continue;
      perApp.set(delivery.app, (perApp.get(delivery.app) ?? 0) + 1);
      this.waiting.delete(delivery.id);
      const abort = new AbortController();
      const done = this.attempt(waiting, abort.signal)
        .catch((err) => this.retryAfterError(waiting, err as Error))
        .finally(() => {
          this.inFlight.delete(delivery.id);
          this.pump();
        });
      this.inFlight.set(delivery.id, { app: delivery.app, done, abort });
    }
    // The next due one; one that is due already waits for a free slot (pump runs as each ends,
    // its app's among them).
    let next = Infinity;
    for (const w of this.waiting.values()) next = Math.min(next, w.dueAt);
    if (next !== Infinity && next > now) {
      // setTimeout's limit is ~24.8 days; a schedule is hours at most, but keep within it.
      this.timer = setTimeout(() => this.pump(), Math.min(next - now, 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  private async attempt({ delivery, receivedAt }: Waiting, signal: AbortSignal): Promise<void> {
    const { spool, schedule, say } = this.opts;
    if (delivery.keep !== undefined) {
      // No app to try (postmaster mail no app takes): not a failed attempt, not counted as one.
      this.bury(await spool.bury(delivery, delivery.keep, false), say);
      return;
    }
    const path = this.opts.pathOf(delivery.app);
    const file = spool.messageFile(delivery);
    // Opened once, then signed and streamed from that descriptor (mail-signature.ts says why). A
    // message file gone from the spool (removed by hand, lost by a restore) is a failed attempt
    // like any other, counted, so that give_up makes it a dead letter; thrown, it was tried for
    // ever, and gone between the signing and a second open it was retried without a count.
    const handle = path === null ? null : await openUnlessMissing(file);
    let outcome: PostOutcome;
    try {
      outcome = path === null
        ? { kind: 'failed', reason: this.opts.whyNoPath?.(delivery.app) ?? `${delivery.app} does not take mail now (not serving, or no mail: in its app.yaml)` }
        : handle === null
          ? { kind: 'failed', reason: `message file missing (${file})` }
          : await this.post(delivery, handle, path, signal);
    } finally {
      await handle?.close();
    }
    if (outcome.kind === 'delivered') {
      await spool.delivered(delivery);
      this.opts.onOutcome?.('delivered', delivery);
      return;
    }
    if (outcome.kind === 'refused') {
      this.bury(await spool.bury(delivery, `the app refused it (${outcome.status}${outcome.status === 413 ? ': larger than its max_body' : ''})`, true), say);
      this.opts.onOutcome?.('dead', delivery);
      return;
    }
    if (signal.aborted) {
      // Stopped mid-attempt: not a failure of the app's, and due again at the next start.
      return;
    }
    const now = performance.now();
    const dueAt = nextAttemptAt(schedule, receivedAt, delivery.attempts + 1, now);
    if (dueAt === null) {
      this.bury(await spool.bury(delivery, `given up after ${delivery.attempts + 1} attempts: ${outcome.reason}`, true), say);
      this.opts.onOutcome?.('dead', delivery);
      return;
    }
    // The spool's copy is on the wall clock, for the next start.
    await spool.retryAt(delivery, Date.now() + (dueAt - now), outcome.reason);
    // Every deferral is a line, as Postfix logs each: the access log shows only the attempts that
    // reached the app, and status only counts them, so an app that answers every delivery with a
    // redirect, or one removed with mail waiting, was silent for the two days until give_up.
    say(`mail: ${deliveryName(delivery)} to ${delivery.app} not delivered: ${outcome.reason}; attempt ${delivery.attempts}, the next in ${spanOf(dueAt - now)}`);
    this.opts.onOutcome?.('retry', delivery);
    if (!this.stopped) this.wait({ delivery, receivedAt, dueAt });
  }

  /**
   * The message POSTed as it was received, the trace the spool keeps before it (mail-trace.ts)
   * in X-Apppkg-Received; read, signed and streamed from the one descriptor.
   */
  private async post(delivery: SpooledDelivery, handle: FileHandle, path: string, signal: AbortSignal): Promise<PostOutcome> {
    const trace = await readSpooledTrace(handle);
    const signed = await signOpened(handle, this.opts.secretOf(delivery.app), trace?.bytes ?? 0);
    return this.opts.target.post(delivery, signed, trace?.header ?? null, path, signal, this.opts.timeoutOf?.(delivery.app));
  }

  /**
   * An attempt that threw rather than ended (its message unreadable, a record not written: a full
   * disk) is tried again on the schedule, a line each time. Left out of `waiting`, it was never
   * tried again until a restart, and status said its next attempt was due now, for ever. Past
   * give_up it is a dead letter, as a failed attempt is: tried again at the longest wait, it was
   * never given up. Only if the dead letter cannot be written either is it tried again so.
   */
  private async retryAfterError(waiting: Waiting, err: Error): Promise<void> {
    const { delivery, receivedAt } = waiting;
    let now = performance.now();
    let dueAt = nextAttemptAt(this.opts.schedule, receivedAt, delivery.attempts + 1, now);
    let why = err.message;
    if (dueAt === null && !this.stopped) {
      try {
        // Postmaster mail no app takes was never attempted: it keeps its own reason, as at once.
        const kept = delivery.keep !== undefined;
        const reason = kept ? delivery.keep! : `given up after ${delivery.attempts + 1} attempts: ${err.message}`;
        this.bury(await this.opts.spool.bury(delivery, reason, !kept), this.opts.say);
        if (!kept) this.opts.onOutcome?.('dead', delivery);
        return;
      } catch (buryErr) {
        why = `${err.message}; past give_up, and it could not be made a dead letter: ${(buryErr as Error).message}`;
        now = performance.now();
      }
    }
    dueAt ??= now + longestWait(this.opts.schedule);
    this.opts.say(`mail: ${deliveryName(delivery)} to ${delivery.app || 'no app'}: ${why}; tried again in ${spanOf(dueAt - now)}`);
    if (this.stopped) return;
    delivery.nextAttemptAt = Date.now() + (dueAt - now);
    this.wait({ delivery, receivedAt, dueAt });
  }

  private bury(letter: DeadLetter, say: (line: string) => void): void {
    const kept = letter.file ?? `its message file was missing: its record alone is kept, in ${this.opts.spool.deadRecord(letter)}`;
    say(`mail: ${deliveryName(letter)} to ${letter.app || 'no app'} is a dead letter: ${letter.reason} (kept in ${kept})`);
  }
}

/**
 * A delivery as the log names it: its id (the app's X-Apppkg-Delivery-Id) and its message's, the
 * one the sender's 250 said ("Queued as ID") and X-Apppkg-Received carries, so that a message
 * is found in the gateway's log from the sender's.
 */
function deliveryName(delivery: SpooledDelivery): string {
  return `delivery ${delivery.id} (queued as ${delivery.messageId})`;
}

/** The message file opened for reading; null when it is gone (any other error is thrown). */
async function openUnlessMissing(file: string): Promise<FileHandle | null> {
  try {
    return await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
