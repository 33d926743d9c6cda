// What an app that takes mail (app.yaml `mail:`, SPEC 5.3) is told: APPPKG_MAIL_SECRET, the
// key of the HMAC that signs each delivery (mail-secret.ts). An app without `mail:` gets
// nothing, and no app ever sees another's key: each is given its own, in its own environment.
import type { Description } from '../description/types.js';
import { mailSecret } from './mail-secret.js';

export function mailEnvironment(desc: Description, stateRoot: string): Record<string, string> {
  if (desc.mail === null) return {};
  return { APPPKG_MAIL_SECRET: mailSecret(stateRoot, desc.name) };
}
