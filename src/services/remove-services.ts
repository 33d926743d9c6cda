// `uninstall`'s part on the host's servers (SPEC 5.2): the app's PostgreSQL database and role,
// its Redis user and every key under its prefix, then its kept passwords.
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { shellLine } from '../shell-words.js';
import { credentialsFile, forgetCredentials, readCredentials, serviceOwner } from './credentials-store.js';
import { newDropProgress } from './drop-progress.js';
import { appDatabaseName, dropAppDatabase, parsePostgresUrl, probePostgres } from './postgresql-server.js';
import { appRedisPrefix, appRedisUserName, dropRedisUser, parseRedisUrl, probeRedis } from './redis-server.js';
import { unwatchPostgres } from './postgresql-watch.js';
import { unwatchRedisUser } from './redis-user-watch.js';

export interface RemoveServicesOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  say?: (line: string) => void;
  /** What the caller removes only after this (uninstall: the state directory), left too when a drop fails. */
  removedAfter?: string;
}

/**
 * For `uninstall`: drops the app's PostgreSQL database and role, its Redis user and keys, and
 * forgets their passwords, each said as it goes. A host that offers the server no more: said,
 * and skipped. Every server it will touch must answer first: one that does not stops the
 * uninstall before anything is dropped, not halfway (the database gone, the Redis user left).
 * A drop that fails once something is gone all the same (a role that holds a grant elsewhere
 * cannot be dropped, its database dropped already) throws its error with `dropped` and `left`,
 * which its hint says, with the uninstall to run again: the passwords are kept for it.
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
  const database = appDatabaseName(desc.name);
  const redisUser = appRedisUserName(desc.name);
  const progress = newDropProgress();
  // Without the environment file the servers are out of reach: the command that reaches them,
  // with this state root, whose id the server's objects carry (another state root may not drop them).
  const again = `\`${shellLine(['apppkg-gateway', 'uninstall', desc.dir])} --environment FILE ${shellLine(['--state-dir', scope.stateRoot])}\``;
  let stage: 'postgresql' | 'redis' = 'postgresql';
  try {
    if (pg !== null) {
      // Its database gone, it is no longer this process's to look at (postgresql-watch.ts).
      unwatchPostgres(desc.name);
      const gone = await dropAppDatabase(pg, owner, progress);
      const what = [gone.database ? 'database' : '', gone.role ? 'role' : ''].filter(Boolean).join(' and ');
      const made = gone.others.length === 0 ? '' : `, and the database${gone.others.length === 1 ? '' : 's'} it made: ${gone.others.join(', ')}`;
      if (what !== '') dropped(`postgresql ${what} ${database}${made}`);
    } else if (creds.postgresql) {
      scope.say?.(`==> ${desc.name} had a PostgreSQL database, but services.postgresql is not set: its database and role ${database} are left on the server; run ${again} with the environment file that sets services.postgresql to drop them, or drop them by hand`);
    }
    stage = 'redis';
    if (redis !== null) {
      // Not made again by this process's watch (redis-user-watch.ts) once dropped.
      unwatchRedisUser(desc.name);
      if (await dropRedisUser(redis, owner, progress)) dropped(`redis user ${redisUser} and its keys`);
    } else if (creds.redis) {
      scope.say?.(`==> ${desc.name} had a Redis user, but services.redis is not set: its user ${redisUser} and keys ${appRedisPrefix(desc.name)}* are left on the server; run ${again} with the environment file that sets services.redis to remove them, or remove them by hand`);
    }
  } catch (err) {
    if (progress.done.length === 0 || !isGatewayError(err)) throw err;
    // What it was at, and what comes after: past the app's database, a PostgreSQL drop has its
    // role still to go (the databases the role made come before it), then the Redis drop.
    const left = new Set([
      progress.doing,
      ...(stage === 'postgresql' ? [`postgresql role ${database}`] : []),
      ...(redis !== null ? [`redis keys ${appRedisPrefix(desc.name)}*`, `redis user ${redisUser}`] : []),
    ]);
    for (const done of [...progress.done, null]) left.delete(done);
    throw new GatewayError(err.code, {
      ...err.details,
      dropped: progress.done,
      left: [...left, `the kept passwords (${credentialsFile(scope.stateRoot, desc.name)})`, ...(scope.removedAfter ? [scope.removedAfter] : [])],
      dir: desc.dir,
      cause: err,
    });
  }
  await forgetCredentials(scope.stateRoot, desc.name);
  return removed;
}
