// The admin socket of the shipped systemd unit (examples/deploy/apppkg-gateway.service), for a
// command given no --admin that finds nobody on the default address: a gateway the unit runs
// listens there and nowhere else, and "start one" sent its user to start a second gateway.
import { statSync } from 'node:fs';

/** The unit's `--admin unix:` path; APPPKG_UNIT_ADMIN_SOCKET (read by the CLI alone) names another, for tests and other units. */
export const UNIT_ADMIN_SOCKET = '/run/apppkg-gateway/admin.sock';

/** The unit's admin socket when one is there, as `unix:PATH`; else null. */
export function unitAdminSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  const path = env.APPPKG_UNIT_ADMIN_SOCKET || UNIT_ADMIN_SOCKET;
  try {
    return statSync(path).isSocket() ? `unix:${path}` : null;
  } catch {
    // Not there, or its directory closed to this user: nothing to point at with certainty.
    return null;
  }
}
