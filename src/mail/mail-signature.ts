// X-Apppkg-Signature (SPEC 5.3): HMAC-SHA256 of the POSTed body, hex, keyed by the app's
// APPPKG_MAIL_SECRET. The app recomputes it over the body it read and compares in constant
// time (docs/mail.md), so a request that did not come from the gateway's mail listener (anyone
// can POST to the app's mail path through the public listener) is told apart.
import { createHmac } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** What a delivery POSTs: its message file held open, and the signature and length of what it holds from `start`. */
export interface SignedMessage {
  handle: FileHandle;
  signature: string;
  /** Where the message begins in the file: after the gateway's Received: field (mail-trace.ts). */
  start: number;
  /** The bytes signed, from `start` to the file's end: what is streamed, and its Content-Length. */
  size: number;
}

/**
 * The message in `handle` signed, read from `start` to its end (messages can be 25 MB, read a
 * chunk at a time): what is then streamed from the same descriptor is what was signed, whatever
 * is renamed onto its name meanwhile. Signed by name, then opened again to be streamed, a message
 * swapped between the two (put back by hand) went out with another's signature: a 403 from the
 * app, and an attempt spent.
 */
export async function signOpened(handle: FileHandle, secret: string, start = 0): Promise<SignedMessage> {
  const hmac = createHmac('sha256', secret);
  const chunk = Buffer.allocUnsafe(SIGN_CHUNK);
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, start + size);
    if (bytesRead === 0) break;
    hmac.update(chunk.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { handle, signature: hmac.digest('hex'), start, size };
}

const SIGN_CHUNK = 1 << 16;

export function signBody(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}
