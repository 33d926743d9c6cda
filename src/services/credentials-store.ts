// The secrets of each app's services, generated once and kept under the state root
// (STATE/services/NAME.json, mode 0600 in a 0700 directory): the same across versions, restarts
// and gateway upgrades (SPEC 5.2). Apart from STATE/apps/NAME, because that directory may belong
// to the app's user and is what `uninstall` removes wholesale; here only the gateway reads.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError, systemErrorReason } from '../errors.js';

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
  const creds = await readCredentials(stateRoot, app);
  const kept = creds[kind]?.password;
  if (typeof kept === 'string' && kept.length > 0) return { password: kept, created: false };
  // 32 random bytes, base64url: no character that needs quoting in a URL, a shell or SQL.
  const password = randomBytes(32).toString('base64url');
  await writeCredentials(stateRoot, app, { ...creds, [kind]: { password } });
  return { password, created: true };
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
