// Which server backs each service an app asks for (SPEC 5.2), from app.yaml's `services:` and
// the environment file's: `sql` is PostgreSQL where the host has one, else SQLite; `postgresql`
// or `redis` on a host without that server refuses the app, naming the key to set.
import type { Description } from '../description/types.js';
import { placeOf } from '../description/key-place.js';
import type { HostEnvironment } from '../environment/host-file.js';
import { GatewayError } from '../errors.js';

export type DatabaseKind = 'postgresql' | 'sqlite';

export interface ServicePlan {
  /** What backs `services.database`; null when the app asks for no database. */
  database: DatabaseKind | null;
  /** The host's PostgreSQL URL when `database` is postgresql. */
  postgresqlUrl: string | null;
  /** The host's Redis URL when the app asks for `redis`; null when it does not. */
  redisUrl: string | null;
}

export const EXAMPLE_URLS = {
  postgresql: 'postgresql:///postgres?host=/var/run/postgresql',
  redis: 'redis://127.0.0.1:6379',
} as const;

/**
 * The plan, or APPPKG_SERVICE_MISSING for the first service the host cannot give, placed at its
 * entry; a second one the host cannot give either is named in it (`also`), so that a refused
 * version says all there is to set in one reason.
 */
export function planServices(desc: Description, hostEnv: HostEnvironment): ServicePlan {
  const [first, second] = missingServices(desc, hostEnv);
  if (second) throw new GatewayError('APPPKG_SERVICE_MISSING', { ...first.details, alsoService: second.details.service, alsoKind: second.details.kind, alsoUrl: second.details.url });
  if (first) throw first;
  const asked = desc.services ?? { database: null, redis: null };
  const offered = hostEnv.services ?? { postgresql: null, redis: null };
  const database = databaseKind(desc, hostEnv);
  return {
    database,
    postgresqlUrl: database === 'postgresql' ? offered.postgresql : null,
    redisUrl: asked.redis === 'redis' ? offered.redis : null,
  };
}

/**
 * What backs the database the app asks for, whether the host can give it or not: `sql` is
 * PostgreSQL where the host has one, else SQLite; null for no database.
 */
export function databaseKind(desc: Description, hostEnv: HostEnvironment): DatabaseKind | null {
  const asked = desc.services?.database ?? null;
  if (asked === 'sql') return hostEnv.services?.postgresql ? 'postgresql' : 'sqlite';
  return asked;
}

/**
 * APPPKG_SERVICE_MISSING for each service the app asks for that the host cannot give, database
 * first; [] when it can give them all. `check` names every one in one run, each at its own entry.
 */
export function missingServices(desc: Description, hostEnv: HostEnvironment): GatewayError[] {
  const asked = desc.services ?? { database: null, redis: null };
  const offered = hostEnv.services ?? { postgresql: null, redis: null };
  const errors: GatewayError[] = [];
  if (asked.database === 'postgresql' && !offered.postgresql) errors.push(missing(desc, 'database', 'postgresql', 'postgresql'));
  if (asked.redis === 'redis' && !offered.redis) errors.push(missing(desc, 'redis', 'redis', 'redis'));
  return errors;
}

function missing(desc: Description, service: string, asked: string, kind: 'postgresql' | 'redis'): GatewayError {
  const at = placeOf(desc, ['services', service]);
  return new GatewayError('APPPKG_SERVICE_MISSING', {
    app: desc.name,
    service,
    asked,
    kind,
    envKey: `services.${kind}`,
    url: EXAMPLE_URLS[kind],
    ...(at ? { file: desc.file, line: at.line, column: at.column, key: `services.${service}` } : {}),
  });
}
