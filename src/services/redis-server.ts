// The host's Redis (environment file `services.redis`, SPEC 5.2; Redis >= 6 for ACL users) as
// the gateway uses it: per app one ACL user whose keys and channels are limited to the app's
// prefix `NAME:`, with every command that could reach beyond it (KEYS, SCAN, FLUSHALL, SELECT,
// COPY, FUNCTION, CONFIG, ...) taken away, so that one app never reads, lists or deletes another's
// keys.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChainableCommander, Redis, RedisOptions } from 'ioredis';

/** ioredis is loaded by the first app that asks for Redis: a gateway without one never pays for it. */
const loadRedis = async (): Promise<typeof Redis> => (await import('ioredis')).Redis;
import { GatewayError, isGatewayError } from '../errors.js';
import { maskUrlPassword, USER_INFO_ENCODING, userInfoDecodes } from '../net/service-url.js';
import { withAdminConnection } from './admin-session.js';
import type { ServiceOwner } from './credentials-store.js';
import { dropping, newDropProgress } from './drop-progress.js';

export interface RedisServer {
  /** redis: or rediss: (TLS). */
  tls: boolean;
  host: string;
  port: number;
  user: string | null;
  password: string | null;
  db: number;
  /** host:port, for messages (never the password). */
  label: string;
  /** redis-py's `ssl_cert_reqs`, `ssl_ca_certs` and `ssl_check_hostname` from the URL's query (rediss:), or null. */
  certReqs?: string | null;
  caCerts?: string | null;
  checkHostname?: string | null;
}

export interface AppRedisUser {
  server: RedisServer;
  user: string;
  password: string;
  prefix: string;
}

const CONNECT_TIMEOUT_MS = 5000;

/**
 * What an app's user may do: its own keys and channels only. `-@dangerous -@admin` removes
 * FLUSHALL, KEYS, CONFIG, DEBUG, CLIENT KILL and the like; the rest reach past key patterns:
 * SCAN and RANDOMKEY list other apps' key names, SELECT/SWAPDB/MOVE cross databases, FUNCTION and
 * SCRIPT FLUSH change what every app shares, and CLIENT TRACKING's broadcast mode pushes the
 * name of every key any app writes (BCAST takes prefixes outside the user's key patterns).
 * The rest name no key, so no key pattern holds them, and answer for every app at once: DBSIZE
 * and MEMORY STATS count all apps' keys, PUBSUB CHANNELS / NUMSUB / SHARDCHANNELS name the
 * channels other apps listen on. MEMORY USAGE names a key, which the patterns hold, and comes
 * back after `-memory`.
 * SELECT of database 0 and of the one the host's URL names stays (appRules): a client sends the
 * URL's on connecting when it is not 0 (redis-py, ioredis: none for 0), and 0 walls nothing off,
 * since every new connection starts there.
 */
const APP_RULES = ['+@all', '-@dangerous', '-@admin', '-scan', '-randomkey', '-select', '-swapdb', '-move', '-dbsize', '-pubsub', '-memory', '+memory|usage'];
/**
 * COPY (6.2's) takes a `DB n` that no key pattern holds: the app's own keys written into any
 * database, where another gateway's app of the same name, or the host's own data, keeps its
 * keys. ACL rules cannot refuse one argument but a command's first, so COPY goes whole; no
 * common client library sends it (Celery, kombu, django-redis, Flask-Caching, RQ).
 */
const REDIS_62_RULES = ['-copy'];
/**
 * What Redis 6 refuses in ACL SETUSER, failing the whole call: FUNCTION is new in 7.0, and so is
 * denying one subcommand of a command allowed. On 6.x CLIENT is all of it @dangerous, TRACKING
 * gone with the rest; SCRIPT stays whole, since clients that run EVALSHA need SCRIPT LOAD: an app
 * may flush the scripts every app loaded (each loads them again at NOSCRIPT), but reaches no key.
 * CLUSTER is @admin whole on 6.x; 7.0 lets any user count and list a slot's keys (a cluster's:
 * elsewhere it answers with an error), every app's with them. SCRIPT DEBUG SYNC stops the whole
 * server, every app's clients, for as long as its debugging session lasts, where a script that
 * runs too long may be ended by SCRIPT KILL; no client library sends it.
 */
const REDIS_7_RULES = ['-function', '-script|flush', '-script|kill', '-script|debug', '-client|tracking', '-cluster|countkeysinslot', '-cluster|getkeysinslot'];

/** A Redis server's version as [major, minor], from INFO's redis_version. */
type RedisVersion = [number, number];

function appRules(prefix: string, db: number, [major, minor]: RedisVersion): string[] {
  // Channel patterns (&) came with 6.2, whose `reset` leaves a user every channel (its
  // acl-pubsub-default) and refuses a pattern after that; on 6.0 every user may use every
  // channel, so an app gets none rather than other apps' messages.
  const from62 = major > 6 || minor >= 2;
  const channels = from62 ? ['resetchannels', `&${prefix}*`] : [];
  return [`~${prefix}*`, ...channels, ...APP_RULES, ...(from62 ? REDIS_62_RULES : []), ...(major >= 7 ? REDIS_7_RULES : []), ...(channels.length === 0 ? ['-@pubsub'] : []), ...appDatabases(db).map((each) => `+select|${each}`)];
}

/**
 * The databases an app's user can write its keys into, 0 first: the URL's, and 0, where every
 * connection starts before any SELECT (a client that does not select writes there).
 */
function appDatabases(db: number): number[] {
  return db === 0 ? [0] : [0, db];
}

async function serverVersion(redis: Redis): Promise<RedisVersion> {
  const found = /^redis_version:(\d+)\.(\d+)/m.exec(await redis.info('server'));
  // A server that hides its version (a proxy, a fork) is taken for a current one.
  return found === null ? [7, 0] : [Number(found[1]), Number(found[2])];
}

/** redis://[user:password@]host[:port][/db] or rediss://... */
export function parseRedisUrl(text: string): RedisServer {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The environment file's reader refuses it first (host-file.ts): this is for other callers.
    throw new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'redis', server: maskUrlPassword(text), reason: 'expected a URL like redis://127.0.0.1:6379' });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'redis', server: url.host, reason: `expected a redis:// or rediss:// URL, found ${url.protocol}//` });
  }
  if (!userInfoDecodes(url)) {
    throw new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'redis', server: maskUrlPassword(text), reason: `expected a URL with ${USER_INFO_ENCODING}` });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(url.port || 6379);
  // As redis-py reads it: `?db=` over the path, `?username=` / `?password=` when the user
  // information has none.
  const q = url.searchParams;
  const db = Number(q.get('db') || url.pathname.replace(/^\//, '') || 0);
  return {
    tls: url.protocol === 'rediss:',
    host,
    port,
    user: url.username ? decodeURIComponent(url.username) : q.get('username') || null,
    password: url.password ? decodeURIComponent(url.password) : q.get('password') || null,
    db: Number.isInteger(db) ? db : 0,
    label: `${host}:${port}`,
    certReqs: q.get('ssl_cert_reqs'),
    caCerts: q.get('ssl_ca_certs'),
    checkHostname: q.get('ssl_check_hostname'),
  };
}

export function appRedisUserName(app: string): string {
  return `apppkg-${app}`;
}

export function appRedisPrefix(app: string): string {
  return `${app}:`;
}

/** REDIS_URL (with the app's user and password) and APPPKG_REDIS_PREFIX. */
export function redisEnvironment(u: AppRedisUser): Record<string, string> {
  const { server } = u;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  // The certificate's demands go on to the app as redis-py reads them, in the URL's query.
  const tls = server.tls
    ? Object.entries({ ssl_cert_reqs: server.certReqs ?? null, ssl_ca_certs: server.caCerts ?? null, ssl_check_hostname: server.checkHostname ?? null })
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}=${encodeURIComponent(v!).replaceAll('%2F', '/')}`)
    : [];
  return {
    REDIS_URL: `${server.tls ? 'rediss' : 'redis'}://${encodeURIComponent(u.user)}:${encodeURIComponent(u.password)}@${host}:${server.port}/${server.db}${tls.length > 0 ? `?${tls.join('&')}` : ''}`,
    APPPKG_REDIS_PREFIX: u.prefix,
  };
}

/**
 * Creates or resets the app's ACL user to exactly its rules and kept password: idempotent, and
 * a user deleted by hand (or lost in a Redis restart without an ACL file) comes back.
 */
export function ensureRedisUser(u: AppRedisUser, owner: ServiceOwner): Promise<{ created: boolean; openDefaultUser: boolean }> {
  return onAdmin(u.server, (redis) => setAppUser(redis, u, owner));
}

/**
 * ensureRedisUser for the watch (redis-user-watch.ts), which remakes a user it found missing a
 * moment ago: `keep` is asked on the admin connection, after every job queued on it before (an
 * uninstall's drop among them), whether the user is still to be kept; false leaves the server
 * as it is. Resolves whether the user was made.
 */
export function remakeRedisUser(u: AppRedisUser, owner: ServiceOwner, keep: () => Promise<boolean>): Promise<boolean> {
  return onAdmin(u.server, async (redis) => {
    if (!(await keep())) return false;
    await setAppUser(redis, u, owner);
    return true;
  });
}

async function setAppUser(redis: Redis, u: AppRedisUser, owner: ServiceOwner): Promise<{ created: boolean; openDefaultUser: boolean }> {
  const existing = await ownedUser(redis, u.user, owner, u.server.db);
  // The password is sent as its SHA-256 (#...): the plain text never crosses the wire.
  const hash = createHash('sha256').update(u.password).digest('hex');
  await redis.call('ACL', 'SETUSER', u.user, 'reset', 'on', `#${hash}`, ...appRules(u.prefix, u.server.db, await serverVersion(redis)));
  await inClaimDatabases(redis, u.server.db, (m) => m.set(claimKey(owner.app), owner.rootId));
  await saveAcl(redis);
  return { created: !existing, openDefaultUser: await defaultUserIsOpen(redis) };
}

/**
 * Whether the app's user exists, refusing one the gateway did not make or another state root
 * keeps. Redis keeps no comment on a user (PostgreSQL's roles have one), so one the gateway made
 * is told by its rules (keys and channels exactly the app's prefix), and the state root that
 * keeps its password by a key beside the apps' (claimKey, in inClaimDatabases). Someone else's
 * user is never taken over (docs/services.md), its password and rules left alone. The claim is looked at whether the
 * user is there or not: a Redis that keeps its data but not its users (restarted without an
 * aclfile) has the claim and no user, and the state root it names is the one to make it again.
 */
async function ownedUser(redis: Redis, user: string, owner: ServiceOwner, db: number): Promise<boolean> {
  const existing = (await redis.call('ACL', 'GETUSER', user)) as unknown[] | null;
  if (existing !== null && !madeByUs(existing, appRedisPrefix(owner.app))) {
    throw new GatewayError('APPPKG_SERVICE_CONFLICT', { kind: 'redis', what: 'user', object: user, app: owner.app });
  }
  let claims = await inClaimDatabases(redis, db, (m) => m.get(claimKey(owner.app)));
  if (claims.every(({ reply }) => reply === null)) claims = await inDatabases(redis, await otherKeyspaces(redis, db), db, (m) => m.get(claimKey(owner.app)));
  const others = claims.filter(({ reply }) => reply !== null && reply !== owner.rootId);
  if (others.length > 0) {
    throw new GatewayError('APPPKG_SERVICE_OTHER_STATE_ROOT', {
      kind: 'redis', what: 'user', object: user, app: owner.app, other: String(others[0]!.reply), stateRoot: owner.stateRoot, ours: owner.rootId,
      release: others.map(({ db: where }) => `redis-cli${where === 0 ? '' : ` -n ${where}`} DEL ${claimKey(owner.app)}`).join('; '),
    });
  }
  return existing !== null;
}

/**
 * Runs `command` on each database a claim is kept in, in one MULTI that ends on `db` again, and
 * resolves each database's reply. Database 0 whatever the host's URL names: an ACL user is the
 * server's, not a database's, and every connection starts in database 0 before any SELECT. A
 * claim kept in the URL's database alone let a second state root whose URL names another one
 * find none, give the user its own password and rules, and its app (the same name, the same
 * prefix) read the first one's keys in database 0. The URL's database too: gateways before this
 * one keep their claim there, and look for another's there.
 */
function inClaimDatabases(redis: Redis, db: number, command: (m: ChainableCommander) => void): Promise<{ db: number; reply: unknown }[]> {
  return inDatabases(redis, appDatabases(db), db, command);
}

/** Runs `command` on each of `databases` in one MULTI that ends on `home`, the URL's database. */
async function inDatabases(redis: Redis, databases: number[], home: number, command: (m: ChainableCommander) => void): Promise<{ db: number; reply: unknown }[]> {
  if (databases.length === 0) return [];
  const m = redis.multi();
  for (const each of databases) command(m.select(each));
  // The connection is left on the URL's database, as every other job expects.
  if (databases.at(-1) !== home) m.select(home);
  const replies = (await m.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return databases.map((each, i) => ({ db: each, reply: replies[2 * i + 1]?.[1] ?? null }));
}

/**
 * The databases holding keys other than 0 and the URL's (INFO keyspace), looked at for a claim
 * only when those two have none: a gateway before H294 kept its claim in its URL's database
 * alone, which a state root whose URL names another would miss, and take its user over.
 */
async function otherKeyspaces(redis: Redis, db: number): Promise<number[]> {
  const ours = appDatabases(db);
  return [...(await redis.info('keyspace')).matchAll(/^db(\d+):keys=[1-9]/gm)].map((m) => Number(m[1])).filter((each) => !ours.includes(each));
}

/**
 * The key naming the state root that keeps the app's user's password. No app's prefix (NAME:,
 * a name without '/') covers it, so no app can read or change it.
 */
function claimKey(app: string): string {
  return `apppkg-gateway/state-root/${app}`;
}

/**
 * Whether the server's `default` user is on without a password (a stock redis-server's, and
 * what SPEC's `redis://127.0.0.1:6379` logs in as): then any client on the host is every app
 * at once, whatever the apps' own users may do. Said, not refused: the host may want it so on
 * a laptop, and changing it would change the server for its other clients.
 */
async function defaultUserIsOpen(redis: Redis): Promise<boolean> {
  const user = (await redis.call('ACL', 'GETUSER', 'default').catch(() => null)) as unknown[] | null;
  const flags = user?.[user.indexOf('flags') + 1];
  return Array.isArray(flags) && flags.includes('on') && flags.includes('nopass');
}

/** What to tell the host when defaultUserIsOpen. */
export function openDefaultUserWarning(server: RedisServer): string {
  return `the Redis at ${server.label} lets any client in as its default user without a password, so every process on the host, ` +
    "an app's included, can read and change every app's keys: run `ACL SETUSER default off` there, and name a user of its own in services.redis";
}

/** Whether ACL GETUSER's answer is a user with the rules the gateway gives an app of `prefix`. */
function madeByUs(user: unknown[], prefix: string): boolean {
  const field = (name: string): string => {
    const value = user[user.indexOf(name) + 1];
    // Redis 7 answers "~a:* ~b:*"; Redis 6 a list of patterns, without the ~ or &.
    const patterns = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(' ') : [];
    return patterns.filter(Boolean).map((p) => p.replace(/^[~&%RW]*/, '')).join(' ');
  };
  return user.includes('keys') && field('keys') === `${prefix}*` && (!user.includes('channels') || field('channels') === `${prefix}*`);
}

/** Deletes the app's keys (its prefix) and its ACL user, each told to `progress`; false when there was no user. */
export function dropRedisUser(server: RedisServer, owner: ServiceOwner, progress = newDropProgress()): Promise<boolean> {
  const { app } = owner;
  const user = appRedisUserName(app);
  return onAdmin(server, async (redis) => {
    const existing = await ownedUser(redis, user, owner, server.db);
    // A refused drop is said as that drop, not as a provisioning.
    const drop = (what: string, run: () => Promise<unknown>) => dropping(progress, `redis ${what}`, () => run().catch((err) => Promise.reject(asRedisError(server, err, `drop of ${what} on redis at ${server.label}`))));
    await drop(`keys ${appRedisPrefix(app)}*`, () => eachKeyBatch(redis, app, server.db, (keys) => redis.unlink(...keys)));
    await drop(`user ${user}`, () => redis.call('ACL', 'DELUSER', user));
    await inClaimDatabases(redis, server.db, (m) => m.del(claimKey(app)));
    await dropOlderClaims(redis, owner, server.db);
    await saveAcl(redis);
    return existing;
  }, `uninstall of ${app}'s Redis user and keys on redis at ${server.label}`);
}

/**
 * Deletes this state root's claims on the app that an older gateway, whose URL named another
 * database, kept there (otherKeyspaces): left, they would refuse the next state root to
 * provision the app. Another state root's is left alone.
 */
async function dropOlderClaims(redis: Redis, owner: ServiceOwner, db: number): Promise<void> {
  const claims = await inDatabases(redis, await otherKeyspaces(redis, db), db, (m) => m.get(claimKey(owner.app)));
  const ours = claims.filter(({ reply }) => reply === owner.rootId).map(({ db: where }) => where);
  await inDatabases(redis, ours, db, (m) => m.del(claimKey(owner.app)));
}

/**
 * One of an app's keys as DUMP serialises it, its prefix taken off; ttlMs 0 = no expiry. `db0`:
 * found in database 0 while the URL names another (written by a client that did not SELECT), and
 * put back there; else the URL's database, whichever it is where it is restored.
 */
export interface DumpedKey {
  key: Buffer;
  ttlMs: number;
  dump: Buffer;
  db0?: boolean;
}

/** Hands every key of the app's prefix, DUMPed, to `onBatch`; resolves with how many there were. */
export function dumpAppKeys(server: RedisServer, app: string, onBatch: (keys: DumpedKey[]) => Promise<void>): Promise<number> {
  const prefixBytes = Buffer.byteLength(appRedisPrefix(app));
  return onAdmin(server, async (redis) => {
    let count = 0;
    await eachKeyBatch(redis, app, server.db, async (keys, db) => {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.dumpBuffer(key).pttl(key);
      const replies = (await pipeline.exec()) ?? [];
      const batch: DumpedKey[] = [];
      keys.forEach((key, i) => {
        const dump = replies[2 * i]?.[1] as Buffer | null;
        const ttl = replies[2 * i + 1]?.[1] as number;
        // Expired or deleted since SCAN named it.
        if (dump === null || dump === undefined || ttl === -2) return;
        batch.push({ key: key.subarray(prefixBytes), ttlMs: ttl > 0 ? ttl : 0, dump, ...(db !== server.db ? { db0: true } : {}) });
      });
      count += batch.length;
      if (batch.length > 0) await onBatch(batch);
    });
    return count;
  });
}

/**
 * RESTOREs `batches` under the app's prefix, on one admin connection; then the app's keys that
 * the backup does not hold are deleted, so that it holds the backup's and no others: after, not
 * before, so that a RESTORE the server refuses has lost nothing else. `action` names the step
 * in an error.
 */
export function restoreAppKeys(server: RedisServer, app: string, batches: AsyncIterable<DumpedKey[]>, action: string): Promise<void> {
  const prefix = Buffer.from(appRedisPrefix(app));
  return onAdmin(server, async (redis) => {
    // Per database: the same key may be in both, as the app wrote it.
    const restored = new Set<string>();
    try {
      for await (const batch of batches) {
        const pipeline = redis.pipeline();
        for (const { key, ttlMs, dump, db0 } of batch) {
          const full = Buffer.concat([prefix, key]);
          const db = db0 ? 0 : server.db;
          pipeline.select(db).restore(full, ttlMs, dump, 'REPLACE');
          restored.add(`${db}/${full.toString('latin1')}`);
        }
        for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
      }
    } finally {
      await redis.select(server.db);
    }
    await eachKeyBatch(redis, app, server.db, async (keys, db) => {
      const others = keys.filter((key) => !restored.has(`${db}/${key.toString('latin1')}`));
      if (others.length > 0) await redis.unlink(...others);
    });
  }, action);
}

/**
 * Hands the app's keys to `job` a batch at a time, with the database they are in: each database
 * the app's user can write into (appDatabases), 0 first, `job` run with the connection on it.
 * The connection is left on `home`, the URL's database, whatever happens.
 */
async function eachKeyBatch(redis: Redis, app: string, home: number, job: (keys: Buffer[], db: number) => Promise<unknown>): Promise<void> {
  const pattern = `${escapeGlob(appRedisPrefix(app))}*`;
  try {
    for (const db of appDatabases(home)) {
      await redis.select(db);
      let cursor = '0';
      do {
        const [next, keys] = (await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000)) as [Buffer, Buffer[]];
        if (keys.length > 0) await job(keys, db);
        cursor = next.toString();
      } while (cursor !== '0');
    }
  } finally {
    await redis.select(home);
  }
}

/** The server's version, whether its default user is open, and (`owner`) the app's user not another state root's. */
export function probeRedis(server: RedisServer, owner?: ServiceOwner): Promise<{ version: string; openDefaultUser: boolean }> {
  return onAdmin(server, async (redis) => {
    if (owner !== undefined) await ownedUser(redis, appRedisUserName(owner.app), owner, server.db);
    const info = String(await redis.call('INFO', 'server'));
    return { version: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown', openDefaultUser: await defaultUserIsOpen(redis) };
  });
}

/**
 * Which of `users` the server has not (ACL GETUSER answers null), and its run_id, which is new at
 * each start of the server: one round trip, on the admin connection (redis-user-watch.ts).
 */
export function missingRedisUsers(server: RedisServer, users: string[]): Promise<{ runId: string; missing: string[] }> {
  return onAdmin(server, async (redis) => {
    const pipeline = redis.pipeline().call('INFO', 'server');
    for (const user of users) pipeline.call('ACL', 'GETUSER', user);
    const replies = (await pipeline.exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const runId = /run_id:(\S+)/.exec(String(replies[0]?.[1]))?.[1] ?? 'unknown';
    return { runId, missing: users.filter((_, i) => replies[i + 1]?.[1] === null) };
  }, `checking the apps' users on redis at ${server.label}`);
}

/** Logs in as the app's user and pings: its password and rules are in force. */
export function probeRedisAsApp(u: AppRedisUser): Promise<void> {
  return pingAs(u.server, u.user, u.password);
}

/** Logs in as a REDIS_URL the host's settings give an app (check) and pings. */
export function probeGivenRedis(url: string): Promise<RedisServer> {
  const server = parseRedisUrl(url);
  return pingAs(server, server.user, server.password).then(() => server);
}

async function pingAs(server: RedisServer, user: string | null, password: string | null): Promise<void> {
  const redis = new (await loadRedis())(clientOptions(server, user, password));
  let why: Error | null = null;
  redis.on('error', (err: Error) => (why = err));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw asRedisError(server, connectFailure(err, why));
  } finally {
    redis.disconnect();
  }
}

// With an aclfile the users outlive a Redis restart; without one, the next start re-creates them.
async function saveAcl(redis: Redis): Promise<void> {
  await redis.call('ACL', 'SAVE').catch(() => {});
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function clientOptions(server: RedisServer, user: string | null, password: string | null): RedisOptions {
  return {
    host: server.host,
    port: server.port,
    username: user ?? undefined,
    password: password ?? undefined,
    db: server.db,
    tls: server.tls ? tlsOptions(server) : undefined,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Provisioning fails now and the registry retries the start later; no reconnect loop here.
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    // RESP2, as redis-py speaks by default: ioredis' RESP3 starts with HELLO 3 AUTH, which Redis
    // 6.0 runs as the default user before the AUTH in it, and refuses (NOPERM) when that user
    // is off, as it is on a server set up for ACL users.
    protocol: 2,
  };
}

/**
 * The `ssl_cert_reqs` values redis-py takes (its CERT_REQS: any other is "Invalid SSL Certificate
 * Requirements Flag"); 'optional' holds a server's certificate as 'required' does.
 */
export const SSL_CERT_REQS = ['none', 'optional', 'required'] as const;

/**
 * rediss: as redis-py reads its query: `ssl_cert_reqs=none` takes any certificate,
 * `ssl_ca_certs=FILE` names the authority of one a private CA signed (the usual for a Redis
 * with TLS), else Node's trusted authorities; the name in the certificate is held to the host
 * unless `ssl_check_hostname=false` (redis-py 4, Debian 12's, holds it only when told: stricter
 * here, the admin's password crosses that connection).
 */
function tlsOptions(server: RedisServer): { rejectUnauthorized: boolean; ca?: string; checkServerIdentity?: () => undefined } {
  if (server.certReqs === 'none') return { rejectUnauthorized: false };
  const checkHostname = server.checkHostname == null || !/^(0|f|false|n|no)$/i.test(server.checkHostname);
  let ca: string | undefined;
  if (server.caCerts) {
    try {
      ca = readFileSync(server.caCerts, 'utf8');
    } catch (err) {
      throw new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'redis', server: server.label, reason: `ssl_ca_certs=${server.caCerts}: ${(err as Error).message}` });
    }
  }
  return { rejectUnauthorized: true, ...(ca !== undefined ? { ca } : {}), ...(checkHostname ? {} : { checkServerIdentity: () => undefined }) };
}

class AdminRedis {
  constructor(readonly redis: Redis) {}
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function onAdmin<T>(server: RedisServer, job: (redis: Redis) => Promise<T>, action = `provisioning on redis at ${server.label}`): Promise<T> {
  const key = `redis:${server.user ?? ''}@${server.label}/${server.db}`;
  const open = async () => {
    const redis = new (await loadRedis())(clientOptions(server, server.user, server.password));
    let why: Error | null = null;
    redis.on('error', (err: Error) => (why = err));
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw asRedisError(server, connectFailure(err, why));
    }
    return new AdminRedis(redis);
  };
  return withAdminConnection(key, open, (admin) => job(admin.redis).catch((err) => Promise.reject(asRedisError(server, err, action))));
}

/**
 * Why a connect failed: ioredis rejects with "Connection is closed." once its socket has gone,
 * and says the cause (ECONNREFUSED, a DNS error) only as an 'error' event before that.
 */
function connectFailure(err: unknown, event: Error | null): unknown {
  return event !== null && (err as Error)?.message === 'Connection is closed.' ? event : err;
}

function asRedisError(server: RedisServer, err: unknown, action = `provisioning on redis at ${server.label}`): GatewayError {
  if (isGatewayError(err)) return err;
  const message = (err as Error)?.message ?? String(err);
  // A reply error (NOPERM, ERR unknown command) is the server refusing; everything else is reach.
  if ((err as Error)?.name === 'ReplyError' && !/^(WRONGPASS|NOAUTH|LOADING)/.test(message)) {
    return new GatewayError('APPPKG_SERVICE_FAILED', { action, reason: message, cause: err });
  }
  return new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'redis', server: server.label, reason: loginReason(server, message), cause: err });
}

/**
 * A login without a password refused, in words that say what to write: NOAUTH alone
 * ("Authentication required.") sent the host to start a server that was running, and the form a
 * requirepass password takes in a URL (an empty user before it) is not one many know.
 */
function loginReason(server: RedisServer, message: string): string {
  // A user named without a password is sent with an empty one, which WRONGPASS refuses.
  if (!/^(NOAUTH|WRONGPASS)/.test(message) || server.password !== null) return message;
  const url = (user: string) => `${server.tls ? 'rediss' : 'redis'}://${user}:PASSWORD@${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}/${server.db}`;
  const where = server.user !== null
    ? url(encodeURIComponent(server.user))
    : `${url('')} for the password of its default user (requirepass), ${url('USER')} for an ACL user`;
  return `${message.replace(/\.$/, '')}: the server asks for a password and the URL gives none: write it in the URL, ${where}`;
}
