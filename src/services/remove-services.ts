// `uninstall`'s part on the host's servers (SPEC 5.2): the app's PostgreSQL database and role,
// its Redis user and every key under its prefix, then its kept passwords.
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { forgetCredentials, readCredentials, serviceOwner } from './credentials-store.js';
import { appDatabaseName, dropAppDatabase, parsePostgresUrl } from './postgresql-server.js';
import { appRedisUserName, dropRedisUser, parseRedisUrl } from './redis-server.js';

export interface RemoveServicesOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  say?: (line: string) => void;
}

/**
 * For `uninstall`: drops the app's PostgreSQL database and role, its Redis user and keys, and
 * forgets their passwords. A host that offers the server no more: said, and skipped.
 */
export async function removeServices(scope: RemoveServicesOptions): Promise<string[]> {
  const { desc, hostEnv } = scope;
  const removed: string[] = [];
  const asked = desc.services ?? { database: null, redis: null };
  const creds = await readCredentials(scope.stateRoot, desc.name);
  const pgUrl = hostEnv.services?.postgresql;
  if ((asked.database === 'sql' || asked.database === 'postgresql' || creds.postgresql) && pgUrl) {
    if (await dropAppDatabase(parsePostgresUrl(pgUrl), await serviceOwner(scope.stateRoot, desc.name))) removed.push(`postgresql database and role ${appDatabaseName(desc.name)}`);
  } else if (creds.postgresql) {
    scope.say?.(`==> ${desc.name} had a PostgreSQL database, but services.postgresql is not set: drop ${appDatabaseName(desc.name)} by hand`);
  }
  const redisUrl = hostEnv.services?.redis;
  if ((asked.redis === 'redis' || creds.redis) && redisUrl) {
    if (await dropRedisUser(parseRedisUrl(redisUrl), await serviceOwner(scope.stateRoot, desc.name))) removed.push(`redis user ${appRedisUserName(desc.name)} and its keys`);
  } else if (creds.redis) {
    scope.say?.(`==> ${desc.name} had a Redis user, but services.redis is not set: remove ${appRedisUserName(desc.name)} by hand`);
  }
  await forgetCredentials(scope.stateRoot, desc.name);
  return removed;
}
