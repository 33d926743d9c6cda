// Which Unix user an app's processes run as when the gateway runs as root (SPEC §2): the
// environment file's `user:`, else the owner of the app directory. Root itself is allowed,
// but flagged: an app should not need it.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { keyLabel, type YamlPath } from '../description/key-label.js';
import { overridesFor, type FilePlace, type HostEnvironment } from './host-file.js';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** True when that user is root: shown in status and the log. */
  isRoot: boolean;
  /** True when the environment file's `user:` named it (not the app directory's owner). */
  named: boolean;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function passwd(): PasswdEntry[] {
  let text = '';
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

/** `configured` (a name or a uid) as this host's user, or null when it has none such; for check. */
export function findUser(configured: string): { user: string; uid: number } | null {
  const users = passwd();
  const entry = /^\d+$/.test(configured) ? users.find((u) => u.uid === Number(configured)) : users.find((u) => u.name === configured);
  // A bare uid runs as that uid even with no name (resolveRunAs): not unknown.
  if (!entry) return /^\d+$/.test(configured) ? { user: configured, uid: Number(configured) } : null;
  return { user: entry.name, uid: entry.uid };
}

/**
 * null when the gateway is not root (it cannot switch users, so it does not try). `at`: where the
 * environment file names `configured`, where an unknown user is reported.
 */
export function resolveRunAs(desc: Pick<Description, 'dir' | 'name'>, configured: string | null, at?: FilePlace | null): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const users = passwd();
  let entry: PasswdEntry | undefined;
  if (configured !== null && configured !== '') {
    entry = /^\d+$/.test(configured)
      ? (users.find((u) => u.uid === Number(configured)) ?? { name: configured, uid: Number(configured), gid: Number(configured), home: '/' })
      : users.find((u) => u.name === configured);
    if (!entry) {
      throw new GatewayError('APPPKG_USER_UNKNOWN', { user: configured, app: desc.name, key: 'user', ...(at ? { file: at.file, line: at.line, column: at.column, key: at.key } : {}) });
    }
  } else {
    const owner = statSync(desc.dir).uid;
    entry = users.find((u) => u.uid === owner) ?? { name: String(owner), uid: owner, gid: owner, home: '/' };
  }
  return { user: entry.name, uid: entry.uid, gid: entry.gid, home: entry.home, isRoot: entry.uid === 0, named: configured !== null && configured !== '' };
}

/**
 * The user the app `name` of the package directory `dir` runs as, by `hostEnv`'s `user:` for it
 * (none: its directory's owner), for reading its app.yaml only as far as that user may
 * (description/load.ts readerFor); null when not root. A `user:` this host has no such user
 * for stops the app at its start (APPPKG_USER_UNKNOWN), not here: its directory's owner reads.
 */
export function appUser(hostEnv: HostEnvironment | null, name: string, dir: string): RunAs | null {
  const configured = hostEnv === null ? null : overridesFor(hostEnv, name).user;
  try {
    return resolveRunAs({ dir, name }, configured);
  } catch {
    return resolveRunAs({ dir, name }, null);
  }
}

/**
 * As root, whose rights each app's app.yaml (and what else of it is read for it) is read with:
 * its user by `hostEnv` (appUser), for loadDescription's readerFor; undefined when not root,
 * where everything is read as we are. For the commands that read apps as the gateway would
 * without running them (export).
 */
export function appUserReader(hostEnv: HostEnvironment | null): ((name: string, dir: string) => RunAs | null) | undefined {
  return process.getuid?.() === 0 ? (name, dir) => appUser(hostEnv, name, dir) : undefined;
}

/**
 * The interpreter must be runnable by the app's user: pyenv's under /root is not, for one.
 * Asking the kernel (a real exec as that user) is the only answer that cannot be wrong.
 */
export function assertCanExecute(python: string, runAs: RunAs): void {
  if (runAs.isRoot) return;
  const r = spawnSync(python, ['-c', ''], { uid: runAs.uid, gid: runAs.gid, cwd: '/', timeout: 20_000, stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    const reason = (r.error as NodeJS.ErrnoException | undefined)?.code ?? `exit status ${r.status}`;
    throw new GatewayError('APPPKG_PY_NOT_EXECUTABLE', { path: python, reason: `user ${runAs.user} cannot run it (${reason})` });
  }
}

/**
 * One line per `user:` of `hostEnv` (under `defaults:` or an app) when the gateway is not root
 * (`uid` not 0): it cannot switch users, so every app runs as the gateway's own user, and a
 * `user: blog` applied to nothing left the host thinking its apps were kept apart. [] as root.
 */
export function userNotAppliedWarnings(hostEnv: HostEnvironment, uid: number | undefined): string[] {
  if (uid === undefined || uid === 0) return [];
  const named: Array<[YamlPath, string]> = [];
  if (hostEnv.defaults.user !== null) named.push([['defaults', 'user'], hostEnv.defaults.user]);
  for (const [name, app] of Object.entries(hostEnv.apps)) if (app.user !== null) named.push([['apps', name, 'user'], app.user]);
  const self = passwd().find((u) => u.uid === uid)?.name ?? `uid ${uid}`;
  return named.map(([at, user]) => {
    const key = keyLabel(at);
    const place = hostEnv.places[key];
    const where = place ? `${place.file}:${place.line}:${place.column}: ` : hostEnv.file ? `${hostEnv.file}: ` : '';
    return `${where}${key}: ${user} is not applied: the gateway runs as ${self}, not root, and cannot switch users, so the apps run as ${self}; start it as root (the shipped systemd unit does) for each app to run as its user`;
  });
}
