// The host's PostgreSQL (environment file `services.postgresql`, SPEC 5.2) as the gateway uses
// it: per app one role and one database of the same name, the database owned by that role and
// closed to every other (`REVOKE CONNECT ... FROM PUBLIC`), both marked with a comment so that
// the gateway never takes over or drops what it did not create. Statements run on the one admin
// connection of admin-session.ts.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import { GatewayError, isGatewayError } from '../errors.js';
import { maskUrlPassword, parseServiceUrl, USER_INFO_ENCODING, userInfoDecodes } from '../net/service-url.js';
import { withAdminConnection } from './admin-session.js';
import type { ServiceOwner } from './credentials-store.js';
import { dropping, newDropProgress } from './drop-progress.js';
import { libpqTlsVariables, nodeTlsOption, type PostgresTls } from './postgresql-tls.js';
import { foreignTemplateObjects, templateRefusal } from './template-objects.js';

/** pg is loaded by the first app that asks for PostgreSQL: a gateway without one never pays for it. */
const loadPg = (): Promise<typeof pg> => (pgModule ??= importPg());
let pgModule: Promise<typeof pg> | undefined;

/**
 * pg's lib/stream.js asks as it loads whether it runs on Cloudflare Workers: by
 * `navigator.userAgent`, or with no navigator (Node 20 has none) by making a `new Response`,
 * which loads Node's bundled undici (fetch) for that alone: ~50 ms of CPU at every command that
 * meets PostgreSQL (measured 40-60 ms). Node 21's own navigator, lent for the import, answers the
 * first question.
 */
async function importPg(): Promise<typeof pg> {
  if ('navigator' in globalThis) return (await import('pg')).default;
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` }, configurable: true });
  try {
    return (await import('pg')).default;
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}

/** Where the server is and who the gateway is there, from the host's URL. */
export interface PostgresServer {
  /** A socket directory (starts with "/") or a host name / address. */
  host: string;
  port: number;
  user: string;
  password: string | null;
  /** The database the admin connection opens (any that exists: `postgres`). */
  database: string;
  /** host:port, for messages (never the password). */
  label: string;
  /** libpq's `sslmode` and `sslrootcert` from the URL's query, or null. */
  sslmode?: string | null;
  sslrootcert?: string | null;
}

/** The app's own role and database (one name for both). */
export interface AppDatabase {
  server: PostgresServer;
  name: string;
  password: string;
}

const DEFAULT_SOCKET_DIR = '/var/run/postgresql';
const CONNECT_TIMEOUT_MS = 5000;

/**
 * `postgresql:///postgres?host=/var/run/postgresql`, `postgresql://admin:pw@db.example:5432/postgres`,
 * a socket directory percent-encoded as the host (`postgresql://postgres@%2Ftmp%2Fpg/postgres`)
 * or after an empty one (`postgresql://admin:pw@/postgres?host=/tmp/pg`): the forms libpq accepts.
 */
export function parsePostgresUrl(text: string): PostgresServer {
  const parsed = parseServiceUrl(text);
  // The environment file's reader refuses both (host-file.ts): these are for other callers.
  if (parsed === null) throw unavailable(maskUrlPassword(text), 'expected a URL like postgresql:///postgres?host=/var/run/postgresql');
  const { url, hostname } = parsed;
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw unavailable(`${url.protocol}//${url.host}`, `expected a postgresql:// URL, found ${url.protocol}//`);
  }
  if (!userInfoDecodes(url)) throw unavailable(maskUrlPassword(text), `expected a URL with ${USER_INFO_ENCODING}`);
  const q = url.searchParams;
  // A query parameter wins over the URL's part, as libpq reads `@localhost/db?host=/run/pg`.
  const host = q.get('host') || decodeURIComponent(hostname) || DEFAULT_SOCKET_DIR;
  const port = Number(q.get('port') || url.port || 5432);
  const user = q.get('user') || decodeURIComponent(url.username) || os.userInfo().username;
  const password = q.get('password') ?? (url.password ? decodeURIComponent(url.password) : null);
  const database = q.get('dbname') || decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  return { host, port, user, password, database, label: `${host}:${port}`, sslmode: q.get('sslmode'), sslrootcert: q.get('sslrootcert') };
}

/**
 * `apppkg_NAME`: the prefix keeps an app called "postgres" away from the superuser's role.
 * PostgreSQL cuts identifiers at 63 bytes; a longer name keeps its start and a hash.
 */
export function appDatabaseName(app: string): string {
  const name = `apppkg_${app}`;
  if (Buffer.byteLength(name) <= 63) return name;
  return `${name.slice(0, 50)}_${createHash('sha256').update(app).digest('hex').slice(0, 12)}`;
}

/** The variables the app reads (SPEC 5.2): DATABASE_URL and libpq's PG*. */
export function postgresEnvironment(db: AppDatabase): Record<string, string> {
  const { server, name, password } = db;
  const credentials = `${encodeURIComponent(name)}:${encodeURIComponent(password)}`;
  const database = encodeURIComponent(name);
  // A socket directory goes in the query (`@/db?host=/run/postgresql&port=5432`), the one
  // spelling libpq, psycopg2, dj-database-url and SQLAlchemy all read: SQLAlchemy takes a
  // percent-encoded host part (`@%2Frun%2Fpostgresql:5432`) as a host name.
  const tls = tlsOf(server);
  const tlsQuery = Object.entries({ sslmode: tls.sslmode, sslrootcert: tls.sslrootcert })
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v!).replaceAll('%2F', '/')}`);
  const url = server.host.startsWith('/')
    ? `postgresql://${credentials}@/${database}?${[`host=${encodeURIComponent(server.host).replaceAll('%2F', '/')}`, `port=${server.port}`, ...tlsQuery].join('&')}`
    : `postgresql://${credentials}@${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}/${database}${tlsQuery.length > 0 ? `?${tlsQuery.join('&')}` : ''}`;
  return {
    ...libpqTlsVariables(tls),
    DATABASE_URL: url,
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGUSER: name,
    PGPASSWORD: password,
    PGDATABASE: name,
  };
}

/** What `ensureAppDatabase` had to create (for the log). */
export interface EnsureResult {
  createdRole: boolean;
  createdDatabase: boolean;
}

/**
 * Creates the app's role and database where missing and (re)sets the role's password to the
 * kept one: idempotent, so a start after a role or a credentials file removed by hand heals it,
 * from the state root that keeps them (`owner`); another state root is refused (ownedRow).
 */
export function ensureAppDatabase(db: AppDatabase, owner: ServiceOwner): Promise<EnsureResult> {
  return onAdmin(db.server, (client) => whileAppLocked(client, db.name, async () => {
    const ident = client.escapeIdentifier(db.name);
    const marker = client.escapeLiteral(markerOf(owner));
    // Both looked at before anything is made: a database of the app's name that is not the
    // gateway's refuses the app here, with no role left behind for it (ownedRow throws).
    const database = await ownedRow(client, 'database', db.name, owner);
    // Before its password is set: a role another state root keeps is refused here.
    const role = await ownedRow(client, 'role', db.name, owner);
    // The password goes as a SCRAM verifier: the plain text never reaches the server or its log.
    const verifier = client.escapeLiteral(scramVerifier(db.password));
    if (!role) {
      // INHERIT (the default): from PostgreSQL 15 the public schema belongs to pg_database_owner,
      // whose rights the database's owner has only by inheriting them.
      // One query string, so one transaction (the simple query protocol's implicit one, which a
      // failure rolls back, leaving the admin connection usable): probePostgres (check, and a
      // run's look before it provisions) reads the role's comment without this lock, and saw
      // the role between two statements with no comment yet, as a role the gateway never made.
      await client.query(`CREATE ROLE ${ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD ${verifier}; COMMENT ON ROLE ${ident} IS ${marker}`);
    } else {
      // NOCREATEDB too: a `test` run killed before it took the right back (app-services.ts)
      // must not leave the role able to make databases.
      await client.query(`ALTER ROLE ${ident} LOGIN NOCREATEDB PASSWORD ${verifier}`);
    }
    await actAsOwner(client, ident);
    if (!database) {
      const foreign = await foreignTemplateObjects(client, (other) => connectAdmin(db.server, other));
      if (foreign.length > 0) throw templateRefusal(db.name, db.server.label, foreign);
      await client.query(`CREATE DATABASE ${ident} OWNER ${ident}`);
      await client.query(`COMMENT ON DATABASE ${ident} IS ${marker}`);
    }
    // Every role may connect to a new database by default: only its owner may here.
    await client.query(`REVOKE ALL ON DATABASE ${ident} FROM PUBLIC`);
    return { createdRole: !role, createdDatabase: !database };
  }));
}

/**
 * Runs `job` holding a session lock of the app's role name on the server. The admin connections
 * of one process take turns (admin-session.ts), but two processes provisioning one app at once
 * (a gateway starting a new app while `install` or `run` of it runs beside) each found no
 * database, and the second CREATE DATABASE failed on the name the first had just taken.
 */
async function whileAppLocked<T>(client: pg.Client, name: string, job: () => Promise<T>): Promise<T> {
  // pg_advisory_lock takes a bigint: the first 8 bytes of a hash of the name, signed.
  const key = createHash('sha256').update(`apppkg-gateway ${name}`).digest().readBigInt64BE(0).toString();
  await client.query('SELECT pg_advisory_lock($1)', [key]);
  try {
    return await job();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
  }
}

/**
 * Drops the app's database and role, if they are the gateway's, and the databases its role made
 * itself (`others`), each told to `progress` as it goes; `database` and `role` say which there were.
 */
export function dropAppDatabase(server: PostgresServer, owner: ServiceOwner, progress = newDropProgress()): Promise<{ database: boolean; role: boolean; others: string[] }> {
  const name = appDatabaseName(owner.app);
  return onAdmin(server, async (client) => {
    const ident = client.escapeIdentifier(name);
    // A refused drop is said as that drop: "drop of role apppkg_blog", not as a provisioning.
    const drop = (what: string, statement: string) => dropping(progress, `postgresql ${what}`, () => client.query(statement).catch((err) => Promise.reject(asServiceError(server, err, `drop of ${what}`))));
    const role = await ownedRow(client, 'role', name, owner);
    if (role) await actAsOwner(client, ident);
    const database = await ownedRow(client, 'database', name, owner);
    // WITH (FORCE) ends the app's sessions still open (PostgreSQL 13+).
    if (database) await drop(`database ${name}`, `DROP DATABASE ${ident} WITH (FORCE)`);
    // A role that owns a database cannot be dropped, and the app's may own some of its own
    // making: a test runner's test_NAME, made while `test` lets it and kept after (Django's
    // --keepdb, pytest-django's --reuse-db). They are the app's, as its own database is.
    const others = role
      ? (await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1', [name])).rows.map((r) => r.datname)
      : [];
    for (const other of others) await drop(`database ${other}`, `DROP DATABASE ${client.escapeIdentifier(other)} WITH (FORCE)`);
    if (role) await drop(`role ${name}`, `DROP ROLE ${ident}`);
    return { database: Boolean(database), role: Boolean(role), others };
  }, `uninstall of ${owner.app}'s database and role`);
}

/**
 * Lets the app's role create databases, or not (its default). Only the gateway's own role is
 * changed (`ownedRow`): a role of the same name made by someone else is left alone.
 */
export function setRoleCreatesDatabases(server: PostgresServer, owner: ServiceOwner, allowed: boolean): Promise<void> {
  const name = appDatabaseName(owner.app);
  return onAdmin(server, async (client) => {
    if (!(await ownedRow(client, 'role', name, owner))) return;
    await client.query(`ALTER ROLE ${client.escapeIdentifier(name)} ${allowed ? 'CREATEDB' : 'NOCREATEDB'}`);
  });
}

/** An empty database again, for `restore` to load the backup's into: dropped and created anew. */
export async function recreateAppDatabase(db: AppDatabase, owner: ServiceOwner): Promise<void> {
  await onAdmin(db.server, async (client) => {
    if (await ownedRow(client, 'role', db.name, owner)) await actAsOwner(client, client.escapeIdentifier(db.name));
    if (!(await ownedRow(client, 'database', db.name, owner))) return;
    await client.query(`DROP DATABASE ${client.escapeIdentifier(db.name)} WITH (FORCE)`);
  });
  await ensureAppDatabase(db, owner);
}

/**
 * Logs in as a DATABASE_URL the host's settings give an app (check): the server's version and
 * where it is. Nothing is asked of the role but to log in.
 */
export async function probeGivenPostgres(url: string): Promise<{ server: PostgresServer; version: string }> {
  const server = parsePostgresUrl(url);
  const client = new (await loadPg()).Client(clientConfig(server, server.user, server.password, server.database));
  client.on('error', () => {});
  try {
    await client.connect();
    const r = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return { server, version: r.rows[0].v.split(' ')[0] };
  } catch (err) {
    throw asServiceError(server, err, 'connect');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The server's version when it answers the admin connection and its role may give apps their
 * roles and databases (check); a role that may not is APPPKG_SERVICE_FAILED naming the fix, and
 * the app's role kept by another state root than `owner`'s, APPPKG_SERVICE_OTHER_STATE_ROOT.
 */
export function probePostgres(server: PostgresServer, owner?: ServiceOwner): Promise<string> {
  return onAdmin(server, async (client) => {
    // Looked at, never claimed: a role another state root keeps is this state root's problem.
    if (owner !== undefined) await rowOwner(client, 'role', appDatabaseName(owner.app), owner);
    const { superuser, createrole, createdb } = await adminRights(client);
    if (!superuser && !(createrole && createdb)) {
      const lacks = [createrole ? '' : 'CREATEROLE', createdb ? '' : 'CREATEDB'].filter(Boolean).join(' ');
      throw new GatewayError('APPPKG_SERVICE_FAILED', {
        action: `check of the admin role ${server.user} on postgresql at ${server.label}`,
        reason: `it may not give apps their own roles and databases (it lacks ${lacks})`,
        fix: `\`ALTER ROLE ${client.escapeIdentifier(server.user)} ${lacks}\` as a superuser, or name a superuser in \`services.postgresql\``,
      });
    }
    const r = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    // "15.18 (Debian 15.18-0+deb12u1)": the number is what a reader compares.
    return r.rows[0].v.split(' ')[0];
  });
}

/** Whether the app's role and database `name` are both on `server`: one query as the admin (wake-services.ts). */
export function appDatabasePresent(server: PostgresServer, name: string): Promise<boolean> {
  return onAdmin(server, async (client) => {
    const r = await client.query<{ present: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS present',
      [name],
    );
    return r.rows[0].present;
  }, 'check');
}

/** One round trip as the admin, failing as a start's provisioning would (postgresql-watch.ts). */
export function pingPostgres(server: PostgresServer): Promise<void> {
  return onAdmin(server, async (client) => {
    await client.query('SELECT 1');
  }, 'check');
}

/**
 * Makes the admin a member of the app's role, unless it is a superuser: PostgreSQL lets a role
 * create, change or drop a database owned by another only as its member (able to SET ROLE to
 * it, from 16), and an admin with CREATEROLE CREATEDB is not one by itself. Idempotent.
 */
async function actAsOwner(client: pg.Client, ident: string): Promise<void> {
  if ((await adminRights(client)).superuser) return;
  await client.query(`GRANT ${ident} TO CURRENT_USER`);
}

/** What the admin connection's role may do. */
async function adminRights(client: pg.Client): Promise<{ superuser: boolean; createrole: boolean; createdb: boolean }> {
  const r = await client.query<{ superuser: boolean; createrole: boolean; createdb: boolean }>(
    'SELECT rolsuper AS superuser, rolcreaterole AS createrole, rolcreatedb AS createdb FROM pg_roles WHERE rolname = current_user',
  );
  return r.rows[0];
}

// Comments mark what the gateway created, and for which state root (credentials-store.ts,
// stateRootId): it only alters and drops its own, and only from the state root that keeps its
// password. A comment without a state root is of a gateway before that (or released by hand,
// as APPPKG_SERVICE_OTHER_STATE_ROOT says): the first state root to meet it takes it.
function markerOf(owner: ServiceOwner): string {
  return `${unclaimedMarkerOf(owner.app)}; state root ${owner.rootId}`;
}

function unclaimedMarkerOf(app: string): string {
  return `apppkg-gateway: app ${app}`;
}

/** Whether the role or database exists and is the owner's; one it was not made for is claimed now. */
async function ownedRow(client: pg.Client, what: 'role' | 'database', name: string, owner: ServiceOwner): Promise<boolean> {
  const found = await rowOwner(client, what, name, owner);
  if (found === 'unclaimed') {
    const on = `${what === 'role' ? 'ROLE' : 'DATABASE'} ${client.escapeIdentifier(name)}`;
    await client.query(`COMMENT ON ${on} IS ${client.escapeLiteral(markerOf(owner))}`);
  }
  return found !== 'absent';
}

/**
 * Whose the role or database is, by its comment: absent, the owner's, made by a gateway but
 * claimed by no state root; another state root's or nobody's gateway is an error.
 */
async function rowOwner(client: pg.Client, what: 'role' | 'database', name: string, owner: ServiceOwner): Promise<'absent' | 'ours' | 'unclaimed'> {
  const sql = what === 'role'
    ? "SELECT shobj_description(oid, 'pg_authid') AS c FROM pg_roles WHERE rolname = $1"
    : "SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database WHERE datname = $1";
  const r = await client.query<{ c: string | null }>(sql, [name]);
  if (r.rows.length === 0) return 'absent';
  const comment = r.rows[0].c ?? '';
  if (comment === markerOf(owner)) return 'ours';
  if (comment === unclaimedMarkerOf(owner.app)) return 'unclaimed';
  const other = /; state root ([0-9a-f]+)$/.exec(comment);
  if (other !== null && comment === `${unclaimedMarkerOf(owner.app)}; state root ${other[1]}`) {
    const release = (kind: string) => `COMMENT ON ${kind} ${client.escapeIdentifier(name)} IS ${client.escapeLiteral(unclaimedMarkerOf(owner.app))}`;
    throw new GatewayError('APPPKG_SERVICE_OTHER_STATE_ROOT', {
      kind: 'postgresql', what, object: name, app: owner.app, other: other[1], stateRoot: owner.stateRoot, ours: owner.rootId,
      release: `${release('ROLE')}; ${release('DATABASE')}`,
    });
  }
  throw new GatewayError('APPPKG_SERVICE_CONFLICT', { kind: 'postgresql', what, object: name, app: owner.app });
}

/** RFC 5802/7677 SCRAM-SHA-256 verifier, in the form PostgreSQL stores (pg_authid.rolpassword). */
function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

class AdminClient {
  constructor(readonly client: pg.Client) {}
  close(): Promise<void> {
    return this.client.end();
  }
}

/** `action` names what `job` does in its errors: "provision on postgresql at ... failed". */
function onAdmin<T>(server: PostgresServer, job: (client: pg.Client) => Promise<T>, action = 'provision'): Promise<T> {
  const key = `postgresql:${server.user}@${server.label}/${server.database}`;
  const open = async () => new AdminClient(await connectAdmin(server, server.database));
  return withAdminConnection(key, open, (admin) => job(admin.client).catch((err) => Promise.reject(asServiceError(server, err, action))));
}

const tlsOf = (server: PostgresServer): PostgresTls => ({ sslmode: server.sslmode ?? null, sslrootcert: server.sslrootcert ?? null });

/** node-postgres' options for `user` on `server`, with the TLS its URL asks for. */
function clientConfig(server: PostgresServer, user: string, password: string | null, database: string): pg.ClientConfig {
  let ssl: ReturnType<typeof nodeTlsOption>;
  try {
    ssl = nodeTlsOption(tlsOf(server), server.host);
  } catch (err) {
    throw unavailable(server.label, (err as Error).message);
  }
  return { host: server.host, port: server.port, user, password: password ?? undefined, database, ssl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS };
}

/** A connection as the admin to `database` (the server's own, or template1 to look into it). */
async function connectAdmin(server: PostgresServer, database: string): Promise<pg.Client> {
  const client = new (await loadPg()).Client(clientConfig(server, server.user, server.password, database));
  // A connection the server drops later ends with an 'error' event: never an uncaught one.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw asServiceError(server, err, 'connect');
  }
  return client;
}

/** SQLSTATE classes that mean "cannot reach or log in", which a later try may cure. */
const UNREACHABLE_STATES = /^(08|28|3D|57P)/;

export function asServiceError(server: PostgresServer, err: unknown, action: string): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as { message?: string; code?: string; severity?: string };
  const message = e?.message ?? String(err);
  // Only the server's own errors (pg's DatabaseError) carry a severity; a socket's code
  // (ECONNREFUSED) is no SQLSTATE.
  const sqlState = typeof e.severity === 'string' && typeof e.code === 'string' ? e.code : null;
  if (!sqlState || UNREACHABLE_STATES.test(sqlState)) {
    return new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'postgresql', server: server.label, reason: loginReason(server, message), cause: err });
  }
  return new GatewayError('APPPKG_SERVICE_FAILED', { action: `${action} on postgresql at ${server.label}`, reason: `${message} (SQLSTATE ${sqlState})`, cause: err });
}

/**
 * pg's words when the server asks for a SCRAM password and the URL (nor PGPASSWORD, nor
 * ~/.pgpass) gives one: SPEC 5.2's own example URL names no user and no password.
 */
const NO_PASSWORD_GIVEN = /client password must be a string/;

/**
 * A login refused, in words that say what to do. On Debian, pg_hba.conf's `peer` lets a Unix
 * user in only as the role of its name, so SPEC 5.2's example URL (no user) as root reaches the
 * role "root", which a fresh PostgreSQL does not have.
 */
function loginReason(server: PostgresServer, message: string): string {
  if (NO_PASSWORD_GIVEN.test(message)) return noPasswordReason(server);
  const me = os.userInfo().username;
  const createRole = (role: string) => `sudo -u postgres createuser --createrole --createdb ${role}`;
  if (/^Peer authentication failed/.test(message)) {
    return `${message}: peer authentication (pg_hba.conf) lets the gateway's Unix user ${JSON.stringify(me)} in only as the role of that name: name it in the URL (postgresql://${encodeURIComponent(me)}@...), a role made with \`${createRole(me)}\`, or give a password in the URL for a pg_hba.conf line that asks for one`;
  }
  const missing = /^role "(.+)" does not exist$/.exec(message);
  if (missing) return `${message}: make it as a superuser (\`${createRole(missing[1])}\`), or name another user in the URL`;
  return message;
}

function noPasswordReason(server: PostgresServer): string {
  const where = server.host.startsWith('/') ? `@/${server.database}?host=${server.host}${server.port === 5432 ? '' : `&port=${server.port}`}` : `@${server.host}:${server.port}/${server.database}`;
  return `the server asks ${JSON.stringify(server.user)} for a password and the URL gives none: write it in the URL (postgresql://${encodeURIComponent(server.user)}:PASSWORD${where}), or let that user in without one (peer in pg_hba.conf)`;
}

function unavailable(server: string, reason: string): GatewayError {
  return new GatewayError('APPPKG_SERVICE_UNAVAILABLE', { kind: 'postgresql', server, reason });
}
