// A PostgreSQL server that stops while apps run: their requests fail, and `status` went on
// saying "postgresql ready" (what their start found) for as long as it was down, where a Redis
// that went was said (redis-user-watch.ts). So while some app the gateway serves uses one, the
// gateway logs in to it as the admin every few seconds (one connection per server and look,
// none per request, none kept between looks): `status` then says `unavailable` with the reason
// and the fix, and the log says it once when the server goes and once when it is back. The apps
// are not restarted: their drivers connect again by themselves once it is back.
import { isGatewayError } from '../errors.js';
import { pingPostgres, type PostgresServer } from './postgresql-server.js';
import type { CallerOptionKeys } from '../environment/app-env.js';
import { failedServiceState, updateServiceStatus } from './service-status.js';
import { RepeatedLook } from './repeated-look.js';

/** How often each server is looked at: `status` is right about it within about this long. */
export const POSTGRES_CHECK_INTERVAL_MS = 5000;

/** By app name: the server its latest provisioning gave it. */
const watched = new Map<string, PostgresServer>();

/** The app's database, just provisioned on `server`, is looked after from now on. */
export function watchPostgres(app: string, server: PostgresServer): void {
  watched.set(app, server);
}

/** The app no longer uses the gateway's PostgreSQL (gone from --apps, another database, given by the settings). */
export function unwatchPostgres(app: string): void {
  watched.delete(app);
}

/** One app's entry as a look found it. */
interface Watched {
  app: string;
  server: PostgresServer;
}

/** What the watch last found on one server. */
interface ServerState {
  /** The failure said last (once per outage); null while it answers. */
  said: string | null;
  /** The apps whose status this watch made other than ready: made ready again once it answers. */
  marked: Set<string>;
}

export class PostgresWatch {
  private readonly servers = new Map<string, ServerState>();
  private readonly repeated: RepeatedLook;

  private constructor(
    private readonly say: (line: string) => void,
    private readonly keys: CallerOptionKeys,
    intervalMs: number,
  ) {
    this.repeated = new RepeatedLook(() => this.look(), intervalMs, (err: unknown) => this.say(`postgresql check failed: ${String(err)}`));
  }

  /**
   * Looks every `intervalMs`, the next look only once the one before has finished (a server that
   * hangs delays it). `keys`: what the reasons' fixes call the gateway's options (its OptionNames).
   */
  static start(say: (line: string) => void, keys: CallerOptionKeys = {}, intervalMs = POSTGRES_CHECK_INTERVAL_MS): PostgresWatch {
    return new PostgresWatch(say, keys, intervalMs);
  }

  /** No further look; resolves once the one under way has finished. */
  stop(): Promise<void> {
    return this.repeated.stop();
  }

  private async look(): Promise<void> {
    const byServer = new Map<string, { server: PostgresServer; apps: Watched[] }>();
    for (const [app, server] of watched) {
      const key = `${server.user}@${server.label}/${server.database}`;
      const group = byServer.get(key) ?? { server, apps: [] };
      group.apps.push({ app, server });
      byServer.set(key, group);
    }
    for (const key of this.servers.keys()) if (!byServer.has(key)) this.servers.delete(key);
    await Promise.all([...byServer].map(([key, { server, apps }]) => {
      let state = this.servers.get(key);
      if (!state) this.servers.set(key, (state = { said: null, marked: new Set() }));
      return this.lookAt(server, apps, state);
    }));
  }

  private async lookAt(server: PostgresServer, apps: Watched[], state: ServerState): Promise<void> {
    // Gone or provisioned anew while the look was under way: nothing of it is this look's to show.
    const current = () => apps.filter((w) => watched.get(w.app) === w.server).map((w) => w.app);
    try {
      await pingPostgres(server);
    } catch (err) {
      const failed = failedServiceState(err, this.keys);
      const message = isGatewayError(err) ? err.message : String(err);
      const names = current();
      if (state.said === null && names.length > 0) {
        this.say(`${message}; ${names.length === 1 ? 'app' : 'apps'} ${names.sort().join(', ')} ${names.length === 1 ? 'gets' : 'get'} errors from it until it is back`);
      }
      state.said = message;
      for (const app of names) {
        state.marked.add(app);
        updateServiceStatus(app, 'database', failed.state, failed.reason);
      }
      return;
    }
    if (state.said !== null) this.say(`postgresql at ${server.label}: reachable again`);
    state.said = null;
    for (const app of current()) if (state.marked.delete(app)) updateServiceStatus(app, 'database', 'ready', null);
  }
}
