// What `restart` and `rollback` say while the gateway has not answered: the POST answers once
// the fresh version serves, and one waiting for room under --max-workers waits, with no bound of
// the gateway's, until a running app has nothing in flight, which for an app that alone fills
// the bound under steady traffic may be never; the command printed nothing meanwhile. It looks at
// /status as `systemctl restart` would show a job: the starting row's `waitingFor`, said once it
// is room (what it waits for, and what lets it go on), and past --room-wait an exit 1 that says
// the gateway still holds the restart, rather than a silent hang until the user's Ctrl-C.
import { setTimeout as delay } from 'node:timers/promises';
import type { AppStatus, GatewayStatus, WaitingForStatus } from '../admin/status-types.js';
import { GatewayError } from '../errors.js';

/** A start finds room within a second or two when some app can sleep: said only past this. */
export const NOTICE_AFTER_MS = 2000;
/** /status is read this often while the action waits. */
const LOOK_EVERY_MS = 1000;
/** As systemd's DefaultTimeoutStartSec: how long `systemctl restart` waits for a start by default. */
export const DEFAULT_ROOM_WAIT_S = 90;

export interface ActionWatch {
  /** Rejects with APPPKG_ADMIN_ACTION_WAITING once the wait for room passed its bound; never resolves. */
  overdue: Promise<never>;
  stop(): void;
}

interface WatchOptions {
  app: string;
  action: 'restart' | 'rollback';
  status: () => Promise<GatewayStatus>;
  say: (line: string) => void;
  /** 0: no bound. */
  roomWaitMs: number;
}

/** The wait for room of the app's starting row, or null when it waits for anything else. */
export function roomWaitOf(app: AppStatus): WaitingForStatus | null {
  const wait = app.versions.find((v) => v.state === 'starting')?.waitingFor;
  return wait?.for === 'room' ? wait : null;
}

/**
 * What lets a wait for room go on, in the user's terms: the bound's key and value are read from
 * the step's own words (`room for 2 workers under --max-workers 2: ...`).
 */
export function roomFix(app: AppStatus, wait: WaitingForStatus): string {
  const bound = /\bunder (\S+) (\d+)/.exec(wait.what);
  const key = bound?.[1] ?? '--max-workers';
  const max = bound === null ? null : Number(bound[2]);
  const own = app.workers.length;
  const alone = max !== null && own >= max
    ? `: here ${app.name} itself, whose serving workers (${own}) fill ${key} ${max}, with ${app.inFlight} ${app.inFlight === 1 ? 'request' : 'requests'} in flight now`
    : '';
  return `it goes on once a running app has nothing in flight and can be put to sleep for the room${alone}; `
    + `to let it go on, raise the gateway's ${key}, lower \`workers\` of ${app.name} or of the other apps (environment.yaml's \`apps: {${app.name}: {workers: N}}\`), or wait for the load to fall`;
}

/** `ms`, or less once `signal` aborts (as gateway-away.ts waits between its reconnects). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {});
}

/** Watches the app's status while the action's POST waits; stop() ends it. */
export function watchAction(opts: WatchOptions): ActionWatch {
  const controller = new AbortController();
  const signal = controller.signal;
  const overdue = new Promise<never>((_, reject) => {
    void (async () => {
      let told: string | null = null;
      await sleep(NOTICE_AFTER_MS, signal);
      while (!signal.aborted) {
        // A status that fails to come is the POST's to report (the gateway gone, a refusal).
        const status = await opts.status().catch(() => null);
        if (signal.aborted) return;
        const app = status?.apps.find((a) => a.name === opts.app);
        const wait = app === undefined ? null : roomWaitOf(app);
        if (app !== undefined && wait !== null && status) {
          const waitedMs = Math.max(0, Date.parse(status.now) - Date.parse(wait.since));
          if (told !== wait.what) {
            told = wait.what;
            opts.say(`${opts.app}: the ${opts.action} waits for ${wait.what} (${Math.round(waitedMs / 1000)} s so far)`);
            opts.say(`  ${roomFix(app, wait)}${opts.roomWaitMs > 0 ? `; this command gives up waiting after ${opts.roomWaitMs / 1000} s (--room-wait)` : ''}`);
          }
          if (opts.roomWaitMs > 0 && waitedMs >= opts.roomWaitMs) {
            reject(new GatewayError('APPPKG_ADMIN_ACTION_WAITING', { action: opts.action, app: opts.app, waited: Math.round(waitedMs / 1000), what: wait.what, fix: roomFix(app, wait) }));
            return;
          }
        } else if (told !== null && app !== undefined) {
          told = null;
          opts.say(`${opts.app}: there is room now; the ${opts.action} goes on`);
        }
        await sleep(LOOK_EVERY_MS, signal);
      }
    })();
  });
  // Never awaited when the POST answers first.
  overdue.catch(() => {});
  return { overdue, stop: () => controller.abort() };
}
