// A Redis restarted without an `aclfile` (a stock Debian redis-server has none) has forgotten
// the apps' ACL users: every command of every app then fails with WRONGPASS, while the apps run
// on and nothing would restart them. The gateway keeps each app's password (credentials-store.ts),
// so while some app it serves uses Redis it looks every few seconds whether the server still has
// their users, and makes the missing ones again as their first provisioning did (remakeRedisUser:
// the same name, password and rules, and the same refusal of a user or claim another state root
// has). One round trip per server and check, none per request.
// The same look tells when the server cannot be reached: `status` says so, and the log once
// when it goes and once when it is back.
import { isGatewayError } from '../errors.js';
import { readCredentials, type ServiceOwner } from './credentials-store.js';
import { missingRedisUsers, remakeRedisUser, type AppRedisUser, type RedisServer } from './redis-server.js';
import type { CallerOptionKeys } from '../environment/app-env.js';
import { failedServiceState, updateServiceStatus } from './service-status.js';
import { RepeatedLook } from './repeated-look.js';
import { testKnob } from '../test-knob.js';

/** How often each server is looked at: a lost user is made again within about this long. */
export const REDIS_CHECK_INTERVAL_MS = 3000;
/** The suite's interval, so that a test of what looks do (or do not do) waits for looks, not seconds. */
export const REDIS_CHECK_ENV = 'APPPKG_TEST_REDIS_CHECK_MS';

interface WatchedUser {
  user: AppRedisUser;
  owner: ServiceOwner;
}

/** By app name: each app's latest provisioning (a new version, a new services.redis) replaces its entry. */
const watched = new Map<string, WatchedUser>();

/** The app's user, just provisioned, is to be kept on its server from now on. */
export function watchRedisUser(user: AppRedisUser, owner: ServiceOwner): void {
  watched.set(owner.app, { user, owner });
}

/** The app no longer uses the gateway's Redis (gone from --apps, no `redis:` any more, or given by the settings). */
export function unwatchRedisUser(app: string): void {
  watched.delete(app);
}

/**
 * Whether `w` is still this gateway's to keep, as the remake is about to run: the app still
 * watched with this provisioning (not gone from --apps or uninstalled here since the look chose
 * it), and its state root still keeping this password (not uninstalled by another process,
 * which forgets it).
 */
async function stillKept(w: WatchedUser): Promise<boolean> {
  if (watched.get(w.owner.app) !== w) return false;
  const kept = await readCredentials(w.owner.stateRoot, w.owner.app).catch(() => null);
  return kept?.redis?.password === w.user.password;
}

/** `said`'s key for the look itself failing (an app's name has no space). */
const CHECK = 'the check';

/** What the watch last found on one server. */
interface ServerState {
  /** run_id at the last look; null before the first. */
  runId: string | null;
  /** Unreachable at the last look (said once in the log). */
  down: boolean;
  /** The apps whose status this watch made other than ready: made ready again once mended. */
  marked: Set<string>;
  /** The failure last said per app, so a user that cannot be made again is said once, not each look. */
  said: Map<string, string>;
}

export class RedisUserWatch {
  private readonly servers = new Map<string, ServerState>();
  private readonly repeated: RepeatedLook;

  private constructor(
    private readonly say: (line: string) => void,
    private readonly keys: CallerOptionKeys,
    intervalMs: number,
  ) {
    this.repeated = new RepeatedLook(() => this.look(), intervalMs, (err: unknown) => this.say(`redis users' check failed: ${String(err)}`));
  }

  /**
   * Looks every `intervalMs`, the next look only once the one before has finished (a server that
   * hangs delays it). `keys`: what the reasons' fixes call the gateway's options (its OptionNames).
   */
  static start(say: (line: string) => void, keys: CallerOptionKeys = {}, intervalMs = testKnob(REDIS_CHECK_ENV, REDIS_CHECK_INTERVAL_MS)): RedisUserWatch {
    return new RedisUserWatch(say, keys, intervalMs);
  }

  /** No further look; resolves once the one under way has finished. */
  stop(): Promise<void> {
    return this.repeated.stop();
  }

  /** One look at each server some watched app uses. */
  private async look(): Promise<void> {
    const byServer = new Map<string, { server: RedisServer; users: WatchedUser[] }>();
    for (const w of watched.values()) {
      const key = serverKey(w.user.server);
      const group = byServer.get(key) ?? { server: w.user.server, users: [] };
      group.users.push(w);
      byServer.set(key, group);
    }
    for (const key of this.servers.keys()) if (!byServer.has(key)) this.servers.delete(key);
    await Promise.all([...byServer].map(([key, { server, users }]) => {
      let state = this.servers.get(key);
      if (!state) this.servers.set(key, (state = { runId: null, down: false, marked: new Set(), said: new Map() }));
      return this.lookAt(server, users, state);
    }));
  }

  private async lookAt(server: RedisServer, users: WatchedUser[], state: ServerState): Promise<void> {
    const apps = users.map((w) => w.owner.app);
    let found: { runId: string; missing: string[] };
    try {
      found = await missingRedisUsers(server, users.map((w) => w.user.user));
    } catch (err) {
      const failed = failedServiceState(err, this.keys);
      const message = isGatewayError(err) ? err.message : String(err);
      if (failed.state !== 'unavailable') {
        // The look itself refused (the admin user lost ACL GETUSER): the apps may be fine.
        if (state.said.get(CHECK) !== message) this.say(`${message}; until that is mended, an app's Redis user that the server forgets is made again only at the app's next start`);
        state.said.set(CHECK, message);
        return;
      }
      if (!state.down) this.say(`${message}; ${listOf(apps)} ${apps.length === 1 ? 'gets' : 'get'} errors from it until it is back`);
      state.down = true;
      for (const app of apps) this.mark(state, app, failed);
      return;
    }
    state.said.delete(CHECK);
    const wasDown = state.down;
    const before = state.runId;
    state.runId = found.runId;
    state.down = false;
    if (wasDown) this.say(`redis at ${server.label}: reachable again`);
    const made: string[] = [];
    for (const w of users) {
      const app = w.owner.app;
      // Gone while the look was under way: nothing of it is this gateway's to mend or show.
      if (watched.get(app) !== w) continue;
      if (found.missing.includes(w.user.user)) {
        try {
          if (!(await remakeRedisUser(w.user, w.owner, () => stillKept(w)))) continue;
          made.push(app);
        } catch (err) {
          const failed = failedServiceState(err, this.keys);
          if (state.said.get(app) !== failed.reason) this.say(`${app}: could not make redis user ${w.user.user} again on ${server.label}: ${failed.reason}`);
          state.said.set(app, failed.reason);
          this.mark(state, app, failed);
          continue;
        }
      }
      state.said.delete(app);
      if (state.marked.delete(app)) updateServiceStatus(app, 'redis', 'ready', null);
    }
    if (made.length === 0) return;
    this.say(`redis at ${server.label}: ${howLost(wasDown, before, found.runId)}; made again for ${listOf(made)}`);
  }

  private mark(state: ServerState, app: string, failed: { state: string; reason: string }): void {
    state.marked.add(app);
    updateServiceStatus(app, 'redis', failed.state, failed.reason);
  }
}

/**
 * Why users were missing: a server that was away, or whose run_id (new at each start) changed,
 * restarted; one with the same run_id had them deleted; before the first look, either.
 */
function howLost(wasDown: boolean, runIdBefore: string | null, runId: string): string {
  if (wasDown || (runIdBefore !== null && runIdBefore !== runId)) return 'restarted without its ACL users';
  if (runIdBefore === runId) return 'lost the ACL users, deleted while it ran';
  return 'lost its ACL users';
}

/** One server as the admin connection reaches it (admin-session.ts's key). */
function serverKey(server: RedisServer): string {
  return `${server.user ?? ''}@${server.label}/${server.db}`;
}

function listOf(apps: string[]): string {
  return `${apps.length === 1 ? 'app' : 'apps'} ${[...apps].sort().join(', ')}`;
}
