// What an app that takes mail (app.yaml `mail:`, SPEC 5.3) is told: APPPKG_MAIL_SECRET, the
// key of the HMAC that signs each delivery (mail-secret.ts). An app without `mail:` gets
// nothing, and no app ever sees another's key: each is given its own, in its own environment.
import { randomBytes } from 'node:crypto';
import type { Description } from '../description/types.js';
import { mailSecret, storedMailSecret } from './mail-secret.js';

/**
 * `keep: false` (check, which creates nothing under the state root): the stored key, or where
 * none is stored yet a key for this run only.
 */
export function mailEnvironment(desc: Description, stateRoot: string, opts: { keep?: boolean } = {}): Record<string, string> {
  if (desc.mail === null) return {};
  const secret = opts.keep === false ? (storedMailSecret(stateRoot, desc.name) ?? randomBytes(32).toString('hex')) : mailSecret(stateRoot, desc.name);
  return { APPPKG_MAIL_SECRET: secret };
}
