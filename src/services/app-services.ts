// The services an app asks for in app.yaml (SPEC 5.2: `services: {database, redis}`), given by
// what the host offers in the environment file (`services: {postgresql, redis}`): provisioned
// (its own database and role, its own Redis ACL user), and injected as the variables Python
// apps already read (DATABASE_URL, PG*, REDIS_URL, APPPKG_REDIS_PREFIX). Issue 15.
import { stat } from 'node:fs/promises';
import type { Description } from '../description/types.js';
import { overridesFor, type HostEnvironment } from '../environment/host-file.js';
import type { CallerOptionKeys } from '../environment/app-env.js';
import { appStateDirs } from '../environment/state-root.js';
import { isGatewayError } from '../errors.js';
import { ensurePassword, readCredentials, serviceOwner } from './credentials-store.js';
import { appDatabaseName, ensureAppDatabase, parsePostgresUrl, postgresEnvironment, probePostgres, setRoleCreatesDatabases, type AppDatabase } from './postgresql-server.js';
import { appRedisPrefix, appRedisUserName, ensureRedisUser, openDefaultUserWarning, parseRedisUrl, probeRedis, redisEnvironment, type AppRedisUser } from './redis-server.js';
import { databaseKind, missingServices, planServices, type ServicePlan } from './service-plan.js';
import { unwatchPostgres, watchPostgres } from './postgresql-watch.js';
import { unwatchRedisUser, watchRedisUser } from './redis-user-watch.js';
import { failedServiceState, forgetServiceStatus, recordServiceStatus, type ServiceStatus } from './service-status.js';
import { databasesOfGoneApps } from './renamed-databases.js';
import { sqliteEnvironment, sqlitePath } from './sqlite-database.js';

export { serviceStatusOf, type ServiceStatus } from './service-status.js';

/** An app gone from --apps: its services are no longer shown, nor its Redis user kept, nor its PostgreSQL looked at. */
export function forgetAppServices(name: string): void {
  forgetServiceStatus(name);
  unwatchRedisUser(name);
  unwatchPostgres(name);
}

export interface ServiceOptions extends CallerOptionKeys {
  desc: Description;
  hostEnv: HostEnvironment;
  stateRoot: string;
  /** Create what is missing (install, a start); false: only compute the variables (describe, check). */
  provision: boolean;
  say?: (line: string) => void;
}

/** The variables that tell the app where its services are; {} when it asks for none. */
export async function serviceEnvironment(opts: ServiceOptions): Promise<Record<string, string>> {
  const desc = withoutGivenServices(opts.desc, opts.hostEnv);
  const given = givenEnvironment(opts.desc, opts.hostEnv);
  let plan: ServicePlan;
  try {
    plan = planServices(desc, opts.hostEnv);
  } catch (err) {
    if (opts.provision) recordRefusal(desc, opts.hostEnv, err);
    throw err;
  }
  // A version that no longer asks for the gateway's Redis: its user is no longer kept.
  if (opts.provision && !plan.redisUrl) unwatchRedisUser(desc.name);
  if (opts.provision && plan.database !== 'postgresql') unwatchPostgres(desc.name);
  if (!plan.database && !plan.redisUrl) {
    if (opts.provision) recordServiceStatus(desc.name, []);
    return given;
  }
  // One app's provisioning at a time: a start and an install racing must not make two passwords.
  return { ...given, ...(await serialised(`${opts.stateRoot}\0${desc.name}`, () => gather(opts, plan))) };
}

/**
 * The variables the app's services give it (DATABASE_URL, PG*, REDIS_URL, APPPKG_REDIS_PREFIX):
 * a `settings:` entry of one of them is met by the service, as the environment file's setting
 * would meet it. A service the host cannot give counts as giving its own: its refusal, naming
 * the environment key to set, says more than a missing setting would.
 */
export function serviceVariableNames(desc: Description, hostEnv: HostEnvironment): string[] {
  // `sql` is SQLite, with no PG*, on a host without PostgreSQL.
  const database = databaseKind(desc, hostEnv);
  const names: string[] = [];
  if (database !== null) names.push('DATABASE_URL');
  if (database === 'postgresql') names.push('PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE');
  if ((desc.services?.redis ?? null) !== null) names.push('REDIS_URL', 'APPPKG_REDIS_PREFIX');
  return names;
}

/**
 * The URLs of the services the app asks for that the host's settings give (DATABASE_URL,
 * REDIS_URL): the host's business (a managed database, a Kubernetes Secret: docs/kubernetes.md),
 * neither provisioned, refused, nor changed. null for a service not asked or not given.
 */
export function givenServices(desc: Description, hostEnv: HostEnvironment): { database: string | null; redis: string | null } {
  const settings = overridesFor(hostEnv, desc.name).settings;
  return {
    database: desc.services.database !== null && settings.DATABASE_URL !== undefined ? settings.DATABASE_URL : null,
    redis: desc.services.redis !== null && settings.REDIS_URL !== undefined ? settings.REDIS_URL : null,
  };
}

/**
 * What the gateway adds to a given service: a REDIS_URL without APPPKG_REDIS_PREFIX beside it
 * gets the prefix the gateway would have given (NAME:), the one `export kubernetes` writes too.
 */
function givenEnvironment(desc: Description, hostEnv: HostEnvironment): Record<string, string> {
  const settings = overridesFor(hostEnv, desc.name).settings;
  if (givenServices(desc, hostEnv).redis === null || settings.APPPKG_REDIS_PREFIX !== undefined) return {};
  return { APPPKG_REDIS_PREFIX: appRedisPrefix(desc.name) };
}

/**
 * Runs `run` (commands.test) with the app's PostgreSQL role allowed to create databases: a test
 * runner makes a database of its own beside the app's (Django's and pytest-django's test_NAME)
 * and drops it after, which a role made NOCREATEDB cannot. The right is taken back after, however
 * the run ends; an app on SQLite, or on a database the host's settings give, is run as it is.
 */
export async function withTestDatabases<T>(opts: Omit<ServiceOptions, 'provision'>, run: () => Promise<T>): Promise<T> {
  let plan: ServicePlan;
  try {
    plan = planServices(withoutGivenServices(opts.desc, opts.hostEnv), opts.hostEnv);
  } catch {
    return run(); // the run's own start says why the service cannot be had
  }
  if (plan.database !== 'postgresql') return run();
  const server = parsePostgresUrl(plan.postgresqlUrl!);
  const owner = await serviceOwner(opts.stateRoot, opts.desc.name);
  await setRoleCreatesDatabases(server, owner, true);
  try {
    return await run();
  } finally {
    await setRoleCreatesDatabases(server, owner, false).catch((err) => {
      opts.say?.(`${opts.desc.name}: could not take CREATEDB back from role ${appDatabaseName(opts.desc.name)} on ${server.label}: ${String(err)}`);
    });
  }
}

/** `desc` without the services the host's settings give already (givenServices). */
export function withoutGivenServices(desc: Description, hostEnv: HostEnvironment): Description {
  const given = givenServices(desc, hostEnv);
  return {
    ...desc,
    services: {
      database: given.database !== null ? null : desc.services.database,
      redis: given.redis !== null ? null : desc.services.redis,
    },
  };
}

async function gather(opts: ServiceOptions, plan: ServicePlan): Promise<Record<string, string>> {
  const { desc, stateRoot } = opts;
  const env: Record<string, string> = {};
  const statuses: ServiceStatus[] = [];
  // `fn` null: a look before the real step, whose status it leaves to that step unless it fails.
  const attempt = async (name: string, kind: string, fn: () => Promise<Record<string, string> | null>) => {
    try {
      const got = await fn();
      if (got === null) return;
      Object.assign(env, got);
      statuses.push({ name, kind, state: 'ready', reason: null });
    } catch (err) {
      statuses.push({ name, kind, ...failedServiceState(err, opts) });
      if (opts.provision) recordServiceStatus(desc.name, statuses);
      throw err;
    }
  };
  if (plan.database === 'sqlite') {
    await attempt('database', 'sqlite', async () => {
      const dataDir = appStateDirs(stateRoot, desc.name).data;
      if (opts.provision) await sayIfMovedToSqlite(opts, sqlitePath(dataDir));
      return sqliteEnvironment(dataDir);
    });
  }
  // What refuses the app (a role, database or Redis user of its name that is not this state
  // root's) is known before anything is made or claimed on either server: a refused app leaves
  // nothing behind (its PostgreSQL role made, say, and then its Redis user found taken).
  // Both are looked at, the second one too when the first is down: status shows each service
  // that keeps the app from starting, not the first alone. The refusal is the first one's.
  if (opts.provision && plan.database === 'postgresql' && plan.redisUrl) {
    const owner = await serviceOwner(stateRoot, desc.name);
    const looks: Array<[name: string, kind: string, look: () => Promise<unknown>]> = [
      ['database', 'postgresql', () => probePostgres(parsePostgresUrl(plan.postgresqlUrl!), owner)],
      ['redis', 'redis', () => probeRedis(parseRedisUrl(plan.redisUrl!), owner)],
    ];
    const failures: unknown[] = [];
    for (const [name, kind, look] of looks) {
      await look().catch((err: unknown) => {
        statuses.push({ name, kind, ...failedServiceState(err, opts) });
        failures.push(err);
      });
    }
    if (failures.length > 0) {
      recordServiceStatus(desc.name, statuses);
      throw failures[0];
    }
  }
  if (plan.database === 'postgresql') await attempt('database', 'postgresql', () => postgresqlFor(opts, plan.postgresqlUrl!));
  if (plan.redisUrl) await attempt('redis', 'redis', () => redisFor(opts, plan.redisUrl!));
  if (opts.provision) recordServiceStatus(desc.name, statuses);
  return env;
}

async function postgresqlFor(opts: ServiceOptions, url: string): Promise<Record<string, string>> {
  const { desc, stateRoot } = opts;
  const server = parsePostgresUrl(url);
  const name = appDatabaseName(desc.name);
  if (!opts.provision) {
    // Computed only: what was kept, or the variables without a password until something creates it.
    const password = (await readCredentials(stateRoot, desc.name)).postgresql?.password;
    const env = postgresEnvironment({ server, name, password: password ?? '' });
    if (!password) {
      delete env.PGPASSWORD;
      env.DATABASE_URL = env.DATABASE_URL.replace(/:@/, '@');
    }
    return env;
  }
  const { password, created } = await ensurePassword(stateRoot, desc.name, 'postgresql');
  const db: AppDatabase = { server, name, password };
  const started = performance.now();
  const made = await ensureAppDatabase(db, await serviceOwner(stateRoot, desc.name));
  const say = opts.say ?? (() => {});
  const sqlite = sqlitePath(appStateDirs(stateRoot, desc.name).data);
  if (made.createdDatabase && desc.services?.database === 'sql' && (await sizeOf(sqlite)) > 0) {
    say(`${desc.name}: WARNING: database: sql is PostgreSQL now (services.postgresql is set), in a new, empty database ${name}; ` +
      `the SQLite database the app had (${sqlite}) is left as it was, and none of its data was copied`);
  }
  if (made.createdRole || made.createdDatabase) {
    const what = [made.createdRole ? 'role' : '', made.createdDatabase ? 'database' : ''].filter(Boolean).join(' and ');
    // A renamed directory is another app: its new database is empty, and the old one is not lost.
    const left = made.createdDatabase ? await databasesOfGoneApps(stateRoot, desc.name).catch(() => []) : [];
    const older = left.map((l) => `${l.database} (of ${l.app}, last installed from ${l.dir}, which is gone)`).join(', ');
    const kept = left.length === 0 ? '' :
      `; it is new and empty, and ${older} ${left.length === 1 ? 'is' : 'are'} kept as ${left.length === 1 ? 'it was' : 'they were'}: ` +
      `if this app was renamed, give it \`name: ${left[0].app}\` in its app.yaml to use that one's data`;
    say(`${desc.name}: created postgresql ${what} ${name} on ${server.label} in ${Math.round(performance.now() - started)} ms${kept}`);
  } else if (created) {
    // The kept password was gone (removed by hand): the role now has the new one.
    say(`${desc.name}: postgresql credentials were missing under ${stateRoot}/services; a new password was set for role ${name}`);
  }
  watchPostgres(desc.name, server);
  return postgresEnvironment(db);
}

/**
 * `database: sql` follows the host (PostgreSQL when services.postgresql is set, else SQLite), so
 * a host that adds or removes the key moves the app to an empty database: its data looks lost.
 * Said once, at the first start on the new one: here, when the app had a PostgreSQL role kept
 * and has no SQLite file yet; for the other way, where postgresqlFor creates the database.
 */
async function sayIfMovedToSqlite(opts: ServiceOptions, sqlite: string): Promise<void> {
  const { desc, stateRoot } = opts;
  if (desc.services?.database !== 'sql' || (await sizeOf(sqlite)) >= 0) return;
  if (!(await readCredentials(stateRoot, desc.name)).postgresql) return;
  opts.say?.(`${desc.name}: WARNING: database: sql is SQLite now (the environment file names no services.postgresql), in a new, empty ${sqlite}; ` +
    `its PostgreSQL database ${appDatabaseName(desc.name)} is left as it was, and none of its data was copied: set services.postgresql again to go back to it`);
}

/** The file's size, -1 when there is none. */
async function sizeOf(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => -1);
}

async function redisFor(opts: ServiceOptions, url: string): Promise<Record<string, string>> {
  const { desc, stateRoot } = opts;
  const server = parseRedisUrl(url);
  const user = appRedisUserName(desc.name);
  const prefix = appRedisPrefix(desc.name);
  if (!opts.provision) {
    const password = (await readCredentials(stateRoot, desc.name)).redis?.password;
    const env = redisEnvironment({ server, user, password: password ?? '', prefix });
    if (!password) env.REDIS_URL = env.REDIS_URL.replace(/:@/, '@');
    return env;
  }
  const { password, created } = await ensurePassword(stateRoot, desc.name, 'redis');
  const u: AppRedisUser = { server, user, password, prefix };
  const owner = await serviceOwner(stateRoot, desc.name);
  const made = await ensureRedisUser(u, owner);
  watchRedisUser(u, owner);
  const say = opts.say ?? (() => {});
  if (made.created) say(`${desc.name}: created redis ACL user ${user} (keys ${prefix}*) on ${server.label}`);
  else if (created) say(`${desc.name}: redis credentials were missing under ${stateRoot}/services; a new password was set for user ${user}`);
  if (made.openDefaultUser) say(`${desc.name}: WARNING: ${openDefaultUserWarning(server)}`);
  return redisEnvironment(u);
}

/**
 * The refusal on each service it is about: one the host lacks both servers for names both in one
 * error (service-plan.ts), and status showed it on the database's line alone, no redis line, as if
 * Redis were no concern; each has its own line, its own words, as a down server's has.
 */
function recordRefusal(desc: Description, hostEnv: HostEnvironment, err: unknown): void {
  if (!isGatewayError(err)) return;
  const each = err.code === 'APPPKG_SERVICE_MISSING' && err.details.alsoService !== undefined ? missingServices(desc, hostEnv) : [err];
  recordServiceStatus(desc.name, each.map((e) => ({ name: String(e.details.service ?? 'database'), kind: String(e.details.kind ?? ''), state: 'refused' as const, reason: `${e.message} (fix: ${e.hint})` })));
}

const queues = new Map<string, Promise<unknown>>();

function serialised<T>(key: string, job: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const run = before.catch(() => {}).then(job);
  const tail = run.catch(() => {});
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}
