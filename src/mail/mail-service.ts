// The gateway's mail service (SPEC 5.3, docs/mail.md): the listener takes messages into the
// spool, the deliverer POSTs them to their apps; the counters and dead letters feed `status`
// and /metrics. Started by the gateway when the environment file has `mail:`.
import type { MailListenerConfig } from '../environment/host-file.js';
import type { MailDeleteAsk, MailDeleteDone, MailRetryAsk, MailRetryDone, MailRetryOutcome } from '../admin/admin-server.js';
import type { AppMailStatus, MailAppCounts, MailStatus } from '../admin/status-types.js';
import { countOf } from '../count.js';
import { deleteDeadLetters } from './mail-delete.js';
import { MailDeliverer } from './mail-deliverer.js';
import { startMailListener, type MailListener } from './mail-listener.js';
import { deliveryHost, MailTarget, type RouteHeaderOf } from './mail-post.js';
import { retryDeadLetters } from './mail-retry.js';
import type { MailRoute } from './mail-routes.js';
import { mailSecret } from './mail-secret.js';
import type { MailWords } from './mail-words.js';
import { MailSpool } from './mail-spool.js';
import { waitingMailByApp } from './mail-waiting.js';

/**
 * The dead letters /status lists, the newest: `deadLetters` counts them all, and the spool keeps
 * every one (STATE/mail/dead/). The 50 newest, as an app's history keeps its 50 newest events:
 * a host whose mail bounced for months listed thousands, in every /status and in the JSON the
 * status page and `status` read each time.
 */
export const DEAD_LETTERS_LISTED = 50;

export interface MailServiceOptions {
  config: MailListenerConfig;
  stateRoot: string;
  /** The gateway's first public listener URL (Gateway.urls[0]): deliveries go through it. */
  listenerUrl: string;
  /** The header that routes a delivery to its app there, whatever Host others claim. */
  routeHeaderOf: RouteHeaderOf;
  /** The app's mount as routed now ('' at the root): a delivery's path is its `mail:` under it. */
  mountOf: (app: string) => string;
  /** Every app with its mail domains and its serving version's `mail:` path, now. */
  routes: () => MailRoute[];
  say: (line: string) => void;
  /**
   * What status and the log name, as the gateway's caller has them (OptionNames): the apps
   * option, and the calls that deliver dead letters again (`mail retry`, a Gateway's
   * retryMail()) and delete them, said beside them in status.
   */
  words: { apps: string; retryMail: string; deleteMail: string };
  /** How long a client may stay silent; default the environment file's `mail.timeout`. */
  idleTimeoutMs?: number;
}

export class MailService {
  private received = 0;
  private delivered = 0;
  private failedAttempts = 0;
  private refused = 0;
  /** By app; postmaster mail no app takes is no app's (it is a dead letter at once). */
  private readonly byApp = new Map<string, MailAppCounts>();
  /** `mail retry --wait`: by delivery id, told when that delivery is delivered or dead again. */
  private readonly waiters = new Map<string, (outcome: MailRetryOutcome) => void>();

  private constructor(
    private readonly config: MailListenerConfig,
    private readonly spool: MailSpool,
    private readonly deliverer: MailDeliverer,
    private readonly target: MailTarget,
    private listener: MailListener | null,
    private readonly say: (line: string) => void,
    private readonly words: MailServiceOptions['words'],
  ) {}

  static async start(opts: MailServiceOptions): Promise<MailService> {
    const spool = new MailSpool(opts.stateRoot);
    await spool.open(opts.say);
    const routeOf = (app: string) => opts.routes().find((r) => r.app === app);
    const target = new MailTarget(opts.listenerUrl, opts.routeHeaderOf, (app) => deliveryHost(app, routeOf(app)?.hosts ?? []), opts.mountOf);
    // `service` is set below, before the first attempt can end.
    let service: MailService | null = null;
    const deliverer = new MailDeliverer({
      spool,
      target,
      schedule: { retry: opts.config.retry, giveUp: opts.config.giveUp },
      pathOf: (app) => {
        const route = routeOf(app);
        return route?.serving ? route.path : null;
      },
      timeoutOf: (app) => routeOf(app)?.timeoutMs,
      whyNoPath: (app) => {
        const route = routeOf(app);
        if (route === undefined) return `${app} is no app of this gateway now (removed from ${opts.words.apps}?)`;
        return route.serving ? `${app}'s serving version declares no mail: in its app.yaml` : `${app} does not serve now`;
      },
      secretOf: (app) => mailSecret(opts.stateRoot, app),
      say: opts.say,
      onOutcome: (outcome, delivery) => {
        service?.count(outcome, delivery.app);
        service?.settle(outcome, delivery);
      },
    });
    let listener: MailListener;
    try {
      listener = await startMailListener({
        config: opts.config,
        spool,
        routes: opts.routes,
        onAccepted: (deliveries) => {
          service!.received++;
          for (const delivery of deliveries) if (delivery.app !== '') service!.countsOf(delivery.app).accepted++;
          deliverer.add(deliveries);
        },
        onRefused: () => service!.refused++,
        say: opts.say,
        idleTimeoutMs: opts.idleTimeoutMs ?? opts.config.timeout * 1000,
      });
    } catch (err) {
      await target.close();
      throw err;
    }
    service = new MailService(opts.config, spool, deliverer, target, listener, opts.say, opts.words);
    const waiting = spool.pending().length;
    opts.say(`mail: ${opts.config.lmtp ? 'LMTP' : 'SMTP'} on ${listener.address}${waiting > 0 ? `; ${countOf(waiting, 'delivery', 'deliveries')} left in the spool, resuming` : ''}`);
    deliverer.start();
    return service;
  }

  private count(outcome: 'delivered' | 'retry' | 'dead', app: string): void {
    if (outcome === 'delivered') this.delivered++;
    else this.failedAttempts++;
    const counts = this.countsOf(app);
    if (outcome === 'delivered') counts.delivered++;
    else if (outcome === 'retry') counts.deferred++;
    else counts.undeliverable++;
  }

  /** Tells a `mail retry --wait` how its delivery ended; a failed attempt that is tried again ends nothing. */
  private settle(outcome: 'delivered' | 'retry' | 'dead', delivery: { id: string; app: string; lastError: string | null }): void {
    const waiter = this.waiters.get(delivery.id);
    if (waiter === undefined || outcome === 'retry') return;
    const reason = outcome === 'dead' ? this.spool.deadLetters().find((d) => d.id === delivery.id)?.reason ?? delivery.lastError : null;
    waiter({ id: delivery.id, app: delivery.app, outcome, reason });
  }

  /** A delivery a `mail retry --wait` ran out of time for: still waiting, with its last failure. */
  private outcomeNow(id: string, app: string): MailRetryOutcome {
    const waiting = this.spool.pending().find((d) => d.id === id);
    if (waiting !== undefined) {
      const attempting = this.deliverer.isAttempting(id);
      return { id, app, outcome: 'waiting', reason: waiting.lastError, nextAttemptAt: attempting ? null : new Date(waiting.nextAttemptAt).toISOString() };
    }
    // Ended as the wait ran out, between two turns of the event loop.
    const dead = this.spool.deadLetters().find((d) => d.id === id);
    return dead === undefined ? { id, app, outcome: 'delivered', reason: null } : { id, app, outcome: 'dead', reason: dead.reason };
  }

  private countsOf(app: string): MailAppCounts {
    let counts = this.byApp.get(app);
    if (counts === undefined) {
      counts = { accepted: 0, retried: 0, delivered: 0, deferred: 0, undeliverable: 0 };
      this.byApp.set(app, counts);
    }
    return counts;
  }

  /** Each app's deliveries since the start, for /metrics: every app that has had one. */
  countsByApp(): ReadonlyMap<string, MailAppCounts> {
    return this.byApp;
  }

  /** How many dead letters the spool keeps for each app ('' for postmaster mail no app takes), for /metrics: status lists the newest alone. */
  deadLettersByApp(): Map<string, number> {
    const byApp = new Map<string, number>();
    for (const d of this.spool.deadLetters()) byApp.set(d.app, (byApp.get(d.app) ?? 0) + 1);
    return byApp;
  }

  /** The mail waiting for each app that has some, by name (mail-waiting.ts). */
  waitingByApp(): Map<string, AppMailStatus> {
    return waitingMailByApp(this.spool.pending(), (id) => this.deliverer.isAttempting(id), this.config.giveUp);
  }

  /**
   * `mail retry`: dead letters back into the queue, tried now (mail-retry.ts). `appNames`: the
   * apps under --apps now; a dead letter of another is refused. `waitMs` (`--wait`): resolves
   * once each one put back is delivered or a dead letter again, or that long has passed, with
   * how each ended (`waited`). `words`: what its refusals and answer name, the asker's.
   */
  async retry(ask: MailRetryAsk, appNames: () => string[], waitMs: number | null, words: MailWords): Promise<MailRetryDone> {
    const ends = new Map<string, Promise<MailRetryOutcome>>();
    let done: MailRetryDone;
    try {
      done = await this.putBack(ask, appNames, words, (delivery) => {
        // Before the deliverer has it: its end cannot come unseen.
        if (waitMs !== null) ends.set(delivery.id, new Promise((resolve) => this.waiters.set(delivery.id, resolve)));
      });
    } catch (err) {
      for (const id of ends.keys()) this.waiters.delete(id);
      throw err;
    }
    if (waitMs === null) return done;
    let timer: NodeJS.Timeout | undefined;
    // Unref'd: a gateway stopping meanwhile (its admin listener closed, the answer lost) is not held for it.
    const timeUp = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs).unref()));
    try {
      const outcomes = await Promise.all(done.retried.map(async ({ id, app }) => (await Promise.race([ends.get(id)!, timeUp])) ?? this.outcomeNow(id, app)));
      return { ...done, waited: { seconds: waitMs / 1000, outcomes } };
    } finally {
      clearTimeout(timer);
      for (const id of ends.keys()) this.waiters.delete(id);
    }
  }

  private putBack(ask: MailRetryAsk, appNames: () => string[], words: MailWords, onPutBack: (delivery: { id: string }) => void): Promise<MailRetryDone> {
    return retryDeadLetters({
      spool: this.spool,
      appNames,
      isApp: (app) => appNames().includes(app),
      postmaster: this.config.postmaster,
      deliver: (deliveries) => {
        // Counted apart from `accepted` (mail that came), for the balance MailAppCounts keeps.
        for (const delivery of deliveries) {
          this.countsOf(delivery.app).retried++;
          onPutBack(delivery);
        }
        this.deliverer.add(deliveries);
      },
      say: this.say,
      words,
    }, ask);
  }

  /** `mail delete`: dead letters removed for good (mail-delete.ts), an app's gone from --apps too. */
  delete(ask: MailDeleteAsk, words: MailWords): Promise<MailDeleteDone> {
    return deleteDeadLetters(this.spool, ask, this.config.postmaster, this.say, words);
  }

  /**
   * `waiting`: waitingByApp() when the caller has it already; `isListed`: whether a name is an app
   * of the gateway's status, which shows its waiting mail under it (the others' are here).
   */
  status(waiting = this.waitingByApp(), isListed: (app: string) => boolean = () => true): MailStatus {
    const dead = this.spool.deadLetters();
    return {
      listen: this.listener?.address ?? null,
      protocol: this.config.lmtp ? 'lmtp' : 'smtp',
      spooled: this.spool.pending().length,
      received: this.received,
      delivered: this.delivered,
      failedAttempts: this.failedAttempts,
      refused: this.refused,
      retrying: this.deliverer.retrying,
      waitingForRemoved: [...waiting].filter(([app]) => !isListed(app)).map(([app, mail]) => ({ app, ...mail })),
      deadLetters: dead.length,
      deadLettersByApp: Object.fromEntries(this.deadLettersByApp()),
      postmaster: this.config.postmaster,
      dead: dead.slice(-DEAD_LETTERS_LISTED).map((d) => ({
        id: d.id, app: d.app, from: d.from, to: d.to, receivedAt: new Date(d.receivedAt).toISOString(), deadAt: new Date(d.deadAt).toISOString(),
        attempts: d.attempts, reason: d.reason, file: d.file,
      })),
      retryCommand: this.words.retryMail,
      deleteCommand: this.words.deleteMail,
    };
  }

  /**
   * Stops taking mail (a transaction under way may end within `graceMs`), then lets the
   * deliveries in flight end within `graceMs`: what is not delivered stays in the spool for the
   * next start. Call it before the apps stop, so those deliveries can still reach them.
   */
  async stop(graceMs: number): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    await listener?.close(Math.min(graceMs, 5000));
    await this.deliverer.stop(graceMs);
    await this.target.close();
  }
}
