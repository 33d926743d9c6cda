// The key of the HMAC that signs an app's incoming mail (SPEC 5.3, X-Apppkg-Signature): one per
// app, generated at first use and kept under the state root, so that it stays the same across
// restarts, versions and gateway upgrades, as the services' credentials do (SPEC 5.2).
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { appStateDirs } from '../environment/state-root.js';

/** STATE/apps/NAME/mail-secret: beside the app's data, never inside it (the app may publish its data dir). */
export function mailSecretFile(stateRoot: string, name: string): string {
  return join(appStateDirs(stateRoot, name).app, 'mail-secret');
}

/**
 * The app's secret, created (mode 0600) when missing. Synchronous: the app's environment is
 * built synchronously around it. Two gateways creating it at once agree: the file is written
 * aside and linked into place, and whoever loses the link reads the winner's.
 *
 * The file stays the gateway's (root's, in production): the app gets the key through its
 * environment, so it never needs to read the file.
 */
export function mailSecret(stateRoot: string, name: string): string {
  const file = mailSecretFile(stateRoot, name);
  const existing = readSecret(file);
  if (existing !== null) return existing;
  mkdirSync(join(file, '..'), { recursive: true });
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(aside, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(aside, { force: true });
  }
  return readSecret(file)!;
}

/** The app's secret when one is stored; null before its first use (nothing is created). */
export function storedMailSecret(stateRoot: string, name: string): string | null {
  return readSecret(mailSecretFile(stateRoot, name));
}

function readSecret(file: string): string | null {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text === '' ? null : text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
