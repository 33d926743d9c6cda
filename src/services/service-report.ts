// What `describe` and `check` say of an app's services (SPEC 5.2): what the app asks, what backs
// it on this host, the variables it gets (passwords masked), and for `check` whether each server
// answers. Nothing here creates anything.
import type { Description } from '../description/types.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import { givenServices, serviceEnvironment, withoutGivenServices } from './app-services.js';
import { existingStateRootId, readCredentials, type ServiceOwner } from './credentials-store.js';
import { appDatabaseName, parsePostgresUrl, probeGivenPostgres, probePostgres } from './postgresql-server.js';
import { appRedisUserName, openDefaultUserWarning, parseRedisUrl, probeGivenRedis, probeRedis } from './redis-server.js';
import { missingServices, planServices, type ServicePlan } from './service-plan.js';

/** `describe`'s "services": asked, and what it gets here. */
export interface ServicesDescription {
  asks: { database: string | null; redis: string | null };
  /** Per asked service, what backs it; absent when the host cannot give it (see `problem`). */
  gets: { database?: string; redis?: string };
  /** The variables injected, passwords as "***". */
  env: Record<string, string>;
  /** Why the app would be refused, with the fix; null when it would not. */
  problem: string | null;
}

export interface ServiceCheck {
  /** services.database or services.redis */
  name: string;
  ok: boolean;
  detail: string;
  fix: string;
  code?: ErrorCode;
  /**
   * What install (or a first start) makes for the service that is not made yet, in words for a
   * fix ("its Redis user apppkg-blog"): the app cannot log in with it until then.
   */
  unmade?: string;
}

const SECRET_VARS = new Set(['PGPASSWORD']);

/** What backs a service whose variable the host's settings give (describe's `gets`). */
const GIVEN = 'given by settings';

/** Passwords out of URLs (user:***@) and out of the variables that hold one. */
export function maskSecrets(env: Record<string, string>): Record<string, string> {
  const masked: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) masked[k] = SECRET_VARS.has(k) ? '***' : v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@]*@/i, '$1:***@');
  return masked;
}

export async function describeServices(desc: Description, hostEnv: HostEnvironment, stateRoot: string): Promise<ServicesDescription> {
  const asks = { database: desc.services?.database ?? null, redis: desc.services?.redis ?? null };
  const result: ServicesDescription = { asks, gets: {}, env: {}, problem: null };
  const given = givenServices(desc, hostEnv);
  if (given.database !== null) result.gets.database = GIVEN;
  if (given.redis !== null) result.gets.redis = GIVEN;
  // Every service the host cannot give is named, as check names each; the others are described.
  const { missing, available } = withoutMissingServices(desc, hostEnv);
  const problems = missing.map((err) => `${err.message} (fix: ${err.hint})`);
  try {
    const plan = planServices(withoutGivenServices(available, hostEnv), hostEnv);
    if (plan.database) result.gets.database = plan.database;
    if (plan.redisUrl) result.gets.redis = 'redis';
    result.env = maskSecrets(await serviceEnvironment({ desc: available, hostEnv, stateRoot, provision: false }));
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    problems.push(`${err.message} (fix: ${err.hint})`);
  }
  result.problem = problems.length > 0 ? problems.join('; ') : null;
  return result;
}

/**
 * `describe`'s `provides` (what backs each service here, the variables with passwords masked,
 * the problem); null for an app asking for no services:, whose description has no `provides`.
 */
export async function describeProvides(desc: Description, hostEnv: HostEnvironment, stateRoot: string): Promise<Record<string, unknown> | null> {
  if (desc.services.database === null && desc.services.redis === null) return null;
  const given = await describeServices(desc, hostEnv, stateRoot);
  return { ...given.gets, env: given.env, problem: given.problem };
}

/** APPPKG_SERVICE_MISSING for each service the host cannot give, and `desc` asking only for the others. */
function withoutMissingServices(desc: Description, hostEnv: HostEnvironment): { missing: GatewayError[]; available: Description } {
  const missing = missingServices(withoutGivenServices(desc, hostEnv), hostEnv);
  const names = new Set(missing.map((err) => err.details.service));
  const available: Description = {
    ...desc,
    services: { database: names.has('database') ? null : desc.services.database, redis: names.has('redis') ? null : desc.services.redis },
  };
  return { missing, available };
}

/**
 * One line per service the app asks for ([] when it asks for none), each tried as the app would
 * get it. `naming` gives a failure's fix the caller's words for its options (the state root's,
 * the environment file's).
 */
export async function checkServices(desc: Description, hostEnv: HostEnvironment, stateRoot: string, naming: (err: GatewayError) => GatewayError = (err) => err): Promise<ServiceCheck[]> {
  const asks = desc.services ?? { database: null, redis: null };
  if (!asks.database && !asks.redis) return [];
  const given = givenServices(desc, hostEnv);
  const givenChecks: ServiceCheck[] = [];
  if (given.database !== null && !/^postgres(ql)?:/i.test(given.database)) {
    // sqlite:///..., or a server of a kind the gateway does not speak: the app's to reach.
    givenChecks.push({ name: 'services.database', ok: true, detail: `${asks.database}: DATABASE_URL given by the settings (${maskSecrets({ url: given.database }).url}); not checked`, fix: '' });
  } else if (given.database !== null) {
    const url = given.database;
    givenChecks.push(await probe('services.database', naming, async () => {
      const { server, version } = await asGiven('DATABASE_URL', desc.name, hostEnv, () => probeGivenPostgres(url));
      return `${asks.database}: DATABASE_URL given by the settings: PostgreSQL ${version} at ${server.label} reachable as ${server.user} (the host's, not provisioned)`;
    }));
  }
  if (given.redis !== null) {
    const url = given.redis;
    givenChecks.push(await probe('services.redis', naming, async () => {
      const server = await asGiven('REDIS_URL', desc.name, hostEnv, () => probeGivenRedis(url));
      return `REDIS_URL given by the settings: Redis at ${server.label} reachable${server.user ? ` as ${server.user}` : ''} (the host's, not provisioned)`;
    }));
  }
  // Every service the host cannot give fails on its own line, and the others are still tried:
  // a user learns all there is to set in one run, not one key per run.
  const { missing, available } = withoutMissingServices(desc, hostEnv);
  // With no environment file at all, the fix also says how to give one (errors.ts passEnvironmentFile);
  // with one, it names it, as serve's and --apps' do: "the environment file" left the user to guess which.
  const told = (err: GatewayError): GatewayError =>
    naming(new GatewayError(err.code, { ...err.details, ...(hostEnv.file === null ? { noEnvironmentFile: true, dir: desc.dir } : { environmentFile: hostEnv.file }) }));
  const missingChecks: ServiceCheck[] = missing.map(told).map((err) => ({ name: `services.${String(err.details.service)}`, ok: false, detail: err.message, fix: err.hint, code: err.code }));
  const plan: ServicePlan = planServices(withoutGivenServices(available, hostEnv), hostEnv);
  const creds = await readCredentials(stateRoot, desc.name);
  // A state root that never provisioned has no id yet: then any claim on the servers is another's.
  const owner: ServiceOwner = { app: desc.name, stateRoot, rootId: (await existingStateRootId(stateRoot)) ?? 'none yet' };
  const env = maskSecrets(await serviceEnvironment({ desc: available, hostEnv, stateRoot, provision: false }));
  const checks: ServiceCheck[] = [...givenChecks, ...missingChecks];
  const made = (yes: boolean) => (yes ? '' : '; created on install or first start');
  if (plan.database === 'sqlite') {
    checks.push({ name: 'services.database', ok: true, detail: `${asks.database}: SQLite, DATABASE_URL=${env.DATABASE_URL}`, fix: '' });
  } else if (plan.database === 'postgresql') {
    checks.push(unmadeUnless(Boolean(creds.postgresql), `its PostgreSQL role and database ${appDatabaseName(desc.name)}`, await probe('services.database', naming, async () => {
      const server = parsePostgresUrl(plan.postgresqlUrl!);
      const version = await probePostgres(server, owner);
      return `${asks.database}: PostgreSQL ${version} at ${server.label} reachable, role and database ${appDatabaseName(desc.name)}${made(Boolean(creds.postgresql))}, DATABASE_URL=${env.DATABASE_URL}`;
    })));
  }
  if (plan.redisUrl) {
    const url = plan.redisUrl;
    checks.push(unmadeUnless(Boolean(creds.redis), `its Redis user ${appRedisUserName(desc.name)}`, await probe('services.redis', naming, async () => {
      const server = parseRedisUrl(url);
      const { version, openDefaultUser } = await probeRedis(server, owner);
      const open = openDefaultUser ? `; WARNING: ${openDefaultUserWarning(server)}` : '';
      return `Redis ${version} at ${server.label} reachable, user ${appRedisUserName(desc.name)}${made(Boolean(creds.redis))}, keys ${env.APPPKG_REDIS_PREFIX}*, REDIS_URL=${env.REDIS_URL}${open}`;
    })));
  }
  // services.database before services.redis, whether given, missing or probed. Code-point order:
  // localeCompare would load ICU's collation data into the gateway (scripts/bundle-cli.mjs).
  return checks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A server the settings name (DATABASE_URL, REDIS_URL) that does not answer: the setting is what
 * to correct, not `services:` of the environment file, which may have none.
 */
async function asGiven<T>(variable: string, app: string, hostEnv: HostEnvironment, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isGatewayError(err) || err.code !== 'APPPKG_SERVICE_UNAVAILABLE') throw err;
    // The app's own settings win over the top-level ones (overridesFor): named where it comes from.
    const givenToEvery = !(Object.hasOwn(hostEnv.apps, app) && Object.hasOwn(hostEnv.apps[app].settings ?? {}, variable));
    throw new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { ...err.details, given: variable, app, givenToEvery });
  }
}

/** `check` with `unmade` set when the state root holds no credentials for the service yet. */
function unmadeUnless(made: boolean, what: string, check: ServiceCheck): ServiceCheck {
  return made ? check : { ...check, unmade: what };
}

/**
 * The socket's own words for a server that is not there (nothing listens, no socket file, no
 * route, no such host, no answer in time), as against one that answered and refused the login
 * or the TLS handshake: node's `connect ECONNREFUSED ...`, `getaddrinfo ENOTFOUND ...`, pg's
 * `Connection terminated due to connection timeout`.
 */
const NO_SERVER_THERE = /\b(connect|getaddrinfo) E[A-Z]+\b|connection timeout/;

async function probe(name: string, naming: (err: GatewayError) => GatewayError, fn: () => Promise<string>): Promise<ServiceCheck> {
  try {
    return { name, ok: true, detail: await fn(), fix: '' };
  } catch (caught) {
    if (!isGatewayError(caught)) throw caught;
    const err = naming(caught);
    // SPEC 5.2: check says whether each service is reachable. Its ok line says "reachable"; a
    // server that is not there said only `connect ENOENT /run/postgresql/.s.PGSQL.5432`, words
    // of the socket a reader had to know to tell "down" from "refused me".
    const unreachable = err.code === 'APPPKG_SERVICE_UNAVAILABLE' && NO_SERVER_THERE.test(String(err.details.reason ?? ''));
    return { name, ok: false, detail: unreachable ? `not reachable: ${err.message}` : err.message, fix: err.hint, code: err.code };
  }
}
