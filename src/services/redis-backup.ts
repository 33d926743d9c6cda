// An app's Redis keys in its backups, beside its database (SPEC 5.2): what `redis: redis` gave
// the app (sessions, queues, what it keeps there) comes back with `restore`, on this host or a
// fresh one. DIR/database/redis.jsonl holds one line per key of the app's prefix: the key
// without the prefix, its time to live and Redis' own DUMP of the value (so every type comes
// back as it was), base64, and `"db": 0` on a key found in database 0 while the URL names another
// (a client that does not SELECT writes there); a line without it (every line of a backup made
// before) is the URL's database's. RESTORE reads DUMP's format only on a Redis of the same or a newer
// version; an older one refuses it, and restore says so.
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { countOf } from '../count.js';
import { GatewayError } from '../errors.js';
import { ensurePassword, readCredentials, serviceOwner } from './credentials-store.js';
import { BACKUP_DATABASE_DIR, clearDatabaseDir, openBackupFile, REDIS_BACKUP_FILE, type AppServiceScope } from './database-backup.js';
import { appRedisPrefix, appRedisUserName, dumpAppKeys, ensureRedisUser, parseRedisUrl, restoreAppKeys, type DumpedKey, type RedisServer } from './redis-server.js';
import { planServices } from './service-plan.js';

/** What a backup's manifest records of the app's Redis keys. */
export interface RedisSnapshot {
  /** Relative to the backup directory. */
  file: string;
  keys: number;
  bytes: number;
}

const REDIS_FILE = `${BACKUP_DATABASE_DIR}/${REDIS_BACKUP_FILE}`;
const RESTORE_BATCH = 500;

interface KeyLine {
  key: string;
  ttl: number;
  dump: string;
  db?: 0;
}

/** Writes the app's keys into DIR/database/redis.jsonl; null when it has no Redis (or no user made yet). */
export async function backupRedis(scope: AppServiceScope, backupDir: string): Promise<RedisSnapshot | null> {
  const server = appRedisServer(scope);
  if (server === null) return null;
  if (!(await readCredentials(scope.stateRoot, scope.desc.name)).redis) {
    scope.say?.(`==> no Redis user made for ${scope.desc.name} yet: none of its keys to back up`);
    return null;
  }
  const dir = await clearDatabaseDir(backupDir, [REDIS_BACKUP_FILE]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, REDIS_BACKUP_FILE);
  // O_EXCL: never opened through a symlink put at its name (clearDatabaseDir removed what was there).
  const handle = await open(`${file}.partial`, 'wx', 0o600);
  let keys: number;
  try {
    keys = await dumpAppKeys(server, scope.desc.name, async (batch) => {
      await handle.write(batch.map((k) => `${JSON.stringify({ key: k.key.toString('base64'), ttl: k.ttlMs, dump: k.dump.toString('base64'), ...(k.db0 ? { db: 0 } : {}) } satisfies KeyLine)}\n`).join(''));
    });
  } finally {
    await handle.close();
  }
  await rename(`${file}.partial`, file);
  return { file: REDIS_FILE, keys, bytes: (await stat(file)).size };
}

/**
 * Before anything of a restore changes: the app still has Redis here, its server answers, and
 * the app's ACL user is there, made when missing (a fresh host), as its PostgreSQL role is
 * (database-backup.ts): keys loaded under a prefix no user of this state root's holds were
 * another state root's to overwrite, which making the user first refuses. The keys the app
 * holds now are replaced, no reason to refuse.
 */
export async function assertRedisRestorable(scope: AppServiceScope, snap: RedisSnapshot): Promise<void> {
  const server = appRedisServer(scope);
  if (server === null) {
    throw new GatewayError('APPPKG_SERVICE_FAILED', {
      action: `restore of ${scope.desc.name}'s Redis keys`,
      reason: `the backup holds ${countOf(snap.keys, 'Redis key')}, but the app no longer asks for \`services: {redis: redis}\``,
      fix: `ask for it in app.yaml again, or load ${snap.file} by hand`,
    });
  }
  const { password } = await ensurePassword(scope.stateRoot, scope.desc.name, 'redis');
  const user = { server, user: appRedisUserName(scope.desc.name), password, prefix: appRedisPrefix(scope.desc.name) };
  const made = await ensureRedisUser(user, await serviceOwner(scope.stateRoot, scope.desc.name));
  if (made.created) scope.say?.(`==> created redis ACL user ${user.user} (keys ${user.prefix}*) on ${server.label}`);
}

/** Loads the backup's keys under the app's prefix; then its keys the backup lacks are deleted. */
export async function restoreRedis(scope: AppServiceScope, backupDir: string, snap: RedisSnapshot): Promise<void> {
  const server = appRedisServer(scope)!;
  const file = path.join(backupDir, snap.file);
  // Not followed nor waited on (a link or FIFO the app's user put there), as the database's dump.
  const handle = await openBackupFile(backupDir, snap.file, REDIS_BACKUP_FILE, `restore ${scope.desc.name}'s Redis keys from ${file}`);
  try {
    await restoreAppKeys(server, scope.desc.name, keyBatches(handle, file), `restore of ${scope.desc.name}'s Redis keys from ${file}`);
  } catch (err) {
    if (!(err instanceof GatewayError) || !/DUMP payload/i.test(err.message)) throw err;
    throw new GatewayError('APPPKG_SERVICE_FAILED', { ...err.details, fix: 'restore onto a Redis of the version that was backed up, or a newer one; or the file was changed since' });
  } finally {
    await handle.close();
  }
}

async function* keyBatches(handle: FileHandle, file: string): AsyncGenerator<DumpedKey[]> {
  let batch: DumpedKey[] = [];
  let number = 0;
  for await (const line of createInterface({ input: handle.createReadStream({ autoClose: false }), crlfDelay: Infinity })) {
    number++;
    if (line === '') continue;
    batch.push(parseKeyLine(line, `${file}:${number}`));
    if (batch.length >= RESTORE_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

function parseKeyLine(line: string, where: string): DumpedKey {
  let k: Partial<KeyLine> | null = null;
  try {
    k = JSON.parse(line) as Partial<KeyLine>;
  } catch {
    // reported below
  }
  if (typeof k?.key !== 'string' || typeof k.ttl !== 'number' || typeof k.dump !== 'string' || (k.db !== undefined && k.db !== 0)) {
    throw new GatewayError('APPPKG_SERVICE_FAILED', { action: `restore of the Redis keys in ${where}`, reason: 'the line is not a key as backup writes it ({"key", "ttl", "dump"}, and "db": 0 or none)' });
  }
  return { key: Buffer.from(k.key, 'base64'), ttlMs: k.ttl, dump: Buffer.from(k.dump, 'base64'), ...(k.db === 0 ? { db0: true } : {}) };
}

function appRedisServer(scope: AppServiceScope): RedisServer | null {
  const url = planServices(scope.desc, scope.hostEnv).redisUrl;
  return url === null ? null : parseRedisUrl(url);
}
