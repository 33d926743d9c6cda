// X-Apppkg-Signature (SPEC 5.3): HMAC-SHA256 of the POSTed body, hex, keyed by the app's
// APPPKG_MAIL_SECRET. The app recomputes it over the body it read and compares in constant
// time (docs/mail.md), so a request that did not come from the gateway's mail listener (anyone
// can POST to the app's mail path through the public listener) is told apart.
import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The signature of a spooled message file, read as a stream (messages can be 25 MB). */
export async function signFile(file: string, secret: string): Promise<string> {
  const hmac = createHmac('sha256', secret);
  for await (const chunk of createReadStream(file)) hmac.update(chunk as Buffer);
  return hmac.digest('hex');
}

export function signBody(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}
