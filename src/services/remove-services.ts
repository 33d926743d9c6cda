// `uninstall`'s part on the host's servers (SPEC 5.2): the app's PostgreSQL database and role,
// its Redis user and every key under its prefix, then its kept passwords.
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { forgetCredentials, readCredentials, serviceOwner } from './credentials-store.js';
import { appDatabaseName, dropAppDatabase, parsePostgresUrl, probePostgres } from './postgresql-server.js';
import { appRedisUserName, dropRedisUser, parseRedisUrl, probeRedis } from './redis-server.js';
import { unwatchRedisUser } from './redis-user-watch.js';

export interface RemoveServicesOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  say?: (line: string) => void;
}

/**
 * For `uninstall`: drops the app's PostgreSQL database and role, its Redis user and keys, and
 * forgets their passwords, each said as it goes. A host that offers the server no more: said,
 * and skipped. Every server it will touch must answer first: one that does not stops the
 * uninstall before anything is dropped, not halfway (the database gone, the Redis user left).
 */
export async function removeServices(scope: RemoveServicesOptions): Promise<string[]> {
  const { desc, hostEnv } = scope;
  const removed: string[] = [];
  const asked = desc.services ?? { database: null, redis: null };
  const creds = await readCredentials(scope.stateRoot, desc.name);
  const owner = await serviceOwner(scope.stateRoot, desc.name);
  const pgUrl = hostEnv.services?.postgresql;
  const pg = (asked.database === 'sql' || asked.database === 'postgresql' || creds.postgresql) && pgUrl ? parsePostgresUrl(pgUrl) : null;
  const redisUrl = hostEnv.services?.redis;
  const redis = (asked.redis === 'redis' || creds.redis) && redisUrl ? parseRedisUrl(redisUrl) : null;
  if (pg !== null) await probePostgres(pg, owner);
  if (redis !== null) await probeRedis(redis, owner);
  const dropped = (what: string): void => {
    removed.push(what);
    scope.say?.(`==> dropped ${what}`);
  };
  if (pg !== null) {
    const { dropped: existed, others } = await dropAppDatabase(pg, owner);
    const made = others.length === 0 ? '' : `, and the database${others.length === 1 ? '' : 's'} it made: ${others.join(', ')}`;
    if (existed) dropped(`postgresql database and role ${appDatabaseName(desc.name)}${made}`);
  } else if (creds.postgresql) {
    scope.say?.(`==> ${desc.name} had a PostgreSQL database, but services.postgresql is not set: drop ${appDatabaseName(desc.name)} by hand`);
  }
  if (redis !== null) {
    // Not made again by this process's watch (redis-user-watch.ts) once dropped.
    unwatchRedisUser(desc.name);
    if (await dropRedisUser(redis, owner)) dropped(`redis user ${appRedisUserName(desc.name)} and its keys`);
  } else if (creds.redis) {
    scope.say?.(`==> ${desc.name} had a Redis user, but services.redis is not set: remove ${appRedisUserName(desc.name)} by hand`);
  }
  await forgetCredentials(scope.stateRoot, desc.name);
  return removed;
}
