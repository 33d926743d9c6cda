// The admin socket of the shipped systemd unit (examples/deploy/apppkg-gateway.service), for a
// command given no --admin that finds nobody on the default address: a gateway the unit runs
// listens there and nowhere else, and "start one" sent its user to start a second gateway.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { findUser } from '../environment/run-as.js';

/** The unit's `--admin unix:` path; APPPKG_UNIT_ADMIN_SOCKET (read by the CLI alone) names another, for tests and other units. */
export const UNIT_ADMIN_SOCKET = '/run/apppkg-gateway/admin.sock';

/**
 * What this user can tell of the unit's admin socket: `socket` (as `unix:PATH`) when it is there;
 * `closed` when a directory on its way may not be entered (the unit's RuntimeDirectory is 0750,
 * root and the unit's Group=), so a gateway's socket may be there all the same: saying nothing
 * sent the user to start a second gateway, as "start one" did before the hint.
 */
export type UnitSocket =
  | { socket: string; closed?: undefined }
  | { socket: string; closed: { dir: string; owner: string; group: string; mode: string; me: string } };

/** The unit's admin socket when one is there or may be (a directory closed to this user); else null. */
export function unitAdminSocket(env: NodeJS.ProcessEnv = process.env): UnitSocket | null {
  const path = env.APPPKG_UNIT_ADMIN_SOCKET || UNIT_ADMIN_SOCKET;
  try {
    return statSync(path).isSocket() ? { socket: `unix:${path}` } : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') return null;
    return { socket: `unix:${path}`, closed: closedDirectory(path) };
  }
}

/** The topmost directory on `path`'s way that this user may not enter (its own directory when none is). */
export function topClosedDirectory(path: string): string {
  let closed = dirname(path);
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      accessSync(dir, constants.X_OK);
    } catch {
      closed = dir;
    }
  }
  return closed;
}

/** topClosedDirectory with its owner, group and mode. */
function closedDirectory(path: string): { dir: string; owner: string; group: string; mode: string; me: string } {
  const closed = topClosedDirectory(path);
  const me = findUser(String(process.getuid?.() ?? 0))?.user ?? 'this user';
  try {
    const st = statSync(closed);
    return { dir: closed, owner: findUser(String(st.uid))?.user ?? String(st.uid), group: groupName(st.gid), mode: (st.mode & 0o777).toString(8).padStart(4, '0'), me };
  } catch {
    // Its parent is open (it was the topmost closed one), so this is not expected: the unit's own.
    return { dir: closed, owner: 'root', group: 'its group', mode: 'unknown', me };
  }
}

function groupName(gid: number): string {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid));
    return line?.split(':')[0] ?? String(gid);
  } catch {
    return String(gid);
  }
}
