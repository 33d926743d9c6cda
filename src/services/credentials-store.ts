// The secrets of each app's services, generated once and kept under the state root
// (STATE/services/NAME.json, mode 0600 in a 0700 directory): the same across versions, restarts
// and gateway upgrades (SPEC 5.2). Apart from STATE/apps/NAME, because that directory may belong
// to the app's user and is what `uninstall` removes wholesale; here only the gateway reads.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError, isGatewayError, systemErrorReason } from '../errors.js';

export interface AppCredentials {
  /** PostgreSQL: the password of the app's role. */
  postgresql?: { password: string };
  /** Redis: the password of the app's ACL user. */
  redis?: { password: string };
}

export type ServiceKind = keyof AppCredentials;

export function credentialsFile(stateRoot: string, app: string): string {
  return path.join(stateRoot, 'services', `${app}.json`);
}

/** What is kept for `app`; {} when nothing is (never provisioned, or removed by hand). */
export async function readCredentials(stateRoot: string, app: string): Promise<AppCredentials> {
  const file = credentialsFile(stateRoot, app);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw storeFailure(file, err);
  }
  try {
    const parsed = JSON.parse(text) as AppCredentials;
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    // A file cut short is as good as none: the caller makes a new password and sets it.
    return {};
  }
}

/**
 * The password of `kind` for `app`, made (and kept) when there is none. `created` says that it
 * is new, so that the caller sets it on the server and logs that it did (never the password).
 */
export async function ensurePassword(stateRoot: string, app: string, kind: ServiceKind): Promise<{ password: string; created: boolean }> {
  const kept = (await readCredentials(stateRoot, app))[kind]?.password;
  if (typeof kept === 'string' && kept.length > 0) return { password: kept, created: false };
  return withStoreLock(stateRoot, app, async () => {
    // Read again under the lock: another process may have made it since.
    const creds = await readCredentials(stateRoot, app);
    const made = creds[kind]?.password;
    if (typeof made === 'string' && made.length > 0) return { password: made, created: false };
    // 32 random bytes, base64url: no character that needs quoting in a URL, a shell or SQL.
    const password = randomBytes(32).toString('base64url');
    await writeCredentials(stateRoot, app, { ...creds, [kind]: { password } });
    return { password, created: true };
  });
}

/** Held for one read and one write of a small file: a lock older than this was left by a crash. */
const STORE_LOCK_STALE_MS = 10_000;

/**
 * Runs `job` holding STATE/services/NAME.json.lock (a directory: mkdir is atomic). Two processes
 * making an app's first password at once (a gateway starting a new app while `install` or `run`
 * of it runs beside) each wrote its own, the last rename won, and the one whose password lost
 * set it on the role anyway: an app served with it failed to log in until its next start.
 */
async function withStoreLock<T>(stateRoot: string, app: string, job: () => Promise<T>): Promise<T> {
  const lock = `${credentialsFile(stateRoot, app)}.lock`;
  try {
    await mkdir(path.dirname(lock), { recursive: true, mode: 0o700 });
    // The lock as this process first saw it, and when (monotonic): one made before the wall
    // clock stepped back has its time ahead of the clock, and its age alone kept it fresh for
    // as long as the step.
    let seen: { ino: number; mtimeMs: number; since: number } | null = null;
    for (;;) {
      try {
        await mkdir(lock, { mode: 0o700 });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const found = await stat(lock).catch(() => null);
        if (found === null) continue; // let go meanwhile
        if (seen === null || seen.ino !== found.ino || seen.mtimeMs !== found.mtimeMs) seen = { ino: found.ino, mtimeMs: found.mtimeMs, since: performance.now() };
        const stale = Date.now() - found.mtimeMs > STORE_LOCK_STALE_MS || performance.now() - seen.since > STORE_LOCK_STALE_MS;
        if (stale) await rm(lock, { recursive: true, force: true });
        else await sleep(5 + Math.random() * 10);
      }
    }
  } catch (err) {
    throw storeFailure(lock, err);
  }
  try {
    return await job();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * This state root's name on the servers: random, made once, kept beside the credentials. Every
 * role, database and Redis user the gateway makes carries the name of the state root that keeps
 * its password (postgresql-server.ts, redis-server.ts), so that a second state root (another
 * user's default one, a copy, a second host on one server) is refused, rather than giving a
 * running app a new password under the feet of the gateway that serves it, or dropping its data.
 */
export async function stateRootId(stateRoot: string): Promise<string> {
  const file = stateRootIdFile(stateRoot);
  try {
    return parseId(file, await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeFailure(file, err);
  }
  // A temporary file of this call's own: the apps of a starting gateway come here at once, in
  // one process, and a name shared by them was truncated under a link already made.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(temp, `${randomBytes(8).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    // A hard link appears whole or not at all, and never over another: of two processes making
    // it at once, one's stands, and both read that one.
    await link(temp, file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    return parseId(file, await readFile(file, 'utf8'));
  } catch (err) {
    throw isGatewayError(err) ? err : storeFailure(file, err);
  } finally {
    await rm(temp, { force: true });
  }
}

/** This state root's id when it has one, without making it (check looks, it never writes). */
export async function existingStateRootId(stateRoot: string): Promise<string | null> {
  const file = stateRootIdFile(stateRoot);
  return readFile(file, 'utf8').then((text) => parseId(file, text), () => null);
}

/** Whose a role, database or Redis user is: the app's, under the state root that keeps its password. */
export interface ServiceOwner {
  app: string;
  stateRoot: string;
  /** stateRootId(stateRoot). */
  rootId: string;
}

export async function serviceOwner(stateRoot: string, app: string): Promise<ServiceOwner> {
  return { app, stateRoot, rootId: await stateRootId(stateRoot) };
}

function stateRootIdFile(stateRoot: string): string {
  return path.join(stateRoot, 'services', 'state-root-id');
}

function parseId(file: string, text: string): string {
  const id = text.trim();
  if (/^[0-9a-f]{16}$/.test(id)) return id;
  throw new GatewayError('APPPKG_STATE_DIR_FAILED', { path: file, reason: 'it does not hold a state root id (16 hex digits); it was changed by hand' });
}

export async function forgetCredentials(stateRoot: string, app: string): Promise<void> {
  await rm(credentialsFile(stateRoot, app), { force: true });
}

async function writeCredentials(stateRoot: string, app: string, creds: AppCredentials): Promise<void> {
  const file = credentialsFile(stateRoot, app);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await chmod(path.dirname(file), 0o700);
    // Written beside and renamed: a crash leaves the old file or the new one, never half.
    await writeFile(temp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw storeFailure(file, err);
  }
}

function storeFailure(file: string, err: unknown): GatewayError {
  return new GatewayError('APPPKG_STATE_DIR_FAILED', { path: file, reason: systemErrorReason(err, file), cause: err });
}
