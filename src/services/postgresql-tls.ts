// `sslmode` (and `sslrootcert`) of services.postgresql, as libpq reads them, for the gateway's own
// connections (node-postgres) and for what the apps are given. Unread, a host's
// `?sslmode=require` had the gateway log in without TLS (refused by a server whose pg_hba.conf
// says `hostssl`), and the apps' DATABASE_URL dropped it.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export interface PostgresTls {
  sslmode: string | null;
  sslrootcert: string | null;
}

/**
 * node-postgres' `ssl` for a libpq sslmode, to `host`. It cannot fall back from one to the other, so
 * `allow` and `prefer` (libpq's default) connect without TLS, as the gateway always did; the
 * three that demand TLS get it, verified as libpq verifies it.
 */
export function nodeTlsOption(tls: PostgresTls, host: string): false | { rejectUnauthorized: boolean; ca?: string; checkServerIdentity?: () => undefined } {
  if (tls.sslmode !== 'require' && tls.sslmode !== 'verify-ca' && tls.sslmode !== 'verify-full') return false;
  // A Unix socket never carries TLS: libpq ignores sslmode there, and node-postgres would ask
  // the server for it and be refused ("The server does not support SSL connections").
  if (host.startsWith('/')) return false;
  // libpq's require verifies the chain too when a root certificate is there; verify-* need one
  // (~/.postgresql/root.crt by default; `system`: the usual trusted authorities).
  const rootcert = tls.sslrootcert ?? path.join(os.homedir(), '.postgresql', 'root.crt');
  let ca: string | undefined;
  if (rootcert !== 'system') {
    try {
      ca = readFileSync(rootcert, 'utf8');
    } catch (err) {
      if (tls.sslmode !== 'require' || tls.sslrootcert !== null) throw new Error(`sslmode=${tls.sslmode} reads the server's certificate authority from ${rootcert}: ${(err as Error).message}; name it with sslrootcert=FILE`);
    }
  }
  const verify = tls.sslmode !== 'require' || ca !== undefined;
  return {
    rejectUnauthorized: verify,
    ...(ca !== undefined ? { ca } : {}),
    ...(tls.sslmode !== 'verify-full' ? { checkServerIdentity: () => undefined } : {}),
  };
}

/** The libpq variables that carry the same demand to the app and to pg_dump. */
export function libpqTlsVariables(tls: PostgresTls): Record<string, string> {
  return {
    ...(tls.sslmode !== null ? { PGSSLMODE: tls.sslmode } : {}),
    ...(tls.sslrootcert !== null ? { PGSSLROOTCERT: tls.sslrootcert } : {}),
  };
}
