// What the tests behind a real Postfix share: the message they submit, the mail-sink app's
// deliveries as they read them, and their teardown (mail-postfix-lmtp, -smtp, -unix, -full-disk).
import { request } from 'undici';
import type { RunningPostfix } from './postfix.js';
import { assertNoOrphans, waitFor, type RunningGateway } from './process.js';
import type { SinkDelivery } from './smtp.js';

/** One POST the mail-sink fixture received, as its /deliveries tells it. */
export interface PostfixDelivery extends SinkDelivery { id: string; app: string; subject: string; status: number; from: string; to: string; message: string; received_from: string | null }

export async function sinkDeliveries(gw: RunningGateway, app: string): Promise<PostfixDelivery[]> {
  return (await (await request(`${gw.url}/${app}/deliveries`)).body.json()) as PostfixDelivery[];
}

/** The delivery of `subject` that `app` answered 200, once it is there. */
export function sinkDeliveryOf(gw: RunningGateway, app: string, subject: string, ms = 20_000): Promise<PostfixDelivery> {
  return waitFor(async () => (await sinkDeliveries(gw, app)).find((d) => d.subject === subject && d.status === 200), ms, `${app}'s delivery of "${subject}"`, 200);
}

/** A message as a client sends it, with what a relay must pass as is: dot lines, 8-bit bytes, a tab, a trailing space. */
export function awkwardMessage(subject: string, to: string): Buffer[] {
  return [
    'From: ann@alpha.localhost',
    `To: ${to}`,
    `Subject: ${subject}`,
    'Date: Mon, 7 Dec 2026 10:00:00 +0000',
    `Message-ID: <${subject.replace(/\W/g, '-')}@client.test>`,
    'Content-Type: text/plain; charset=latin1',
    '',
    '.a line that began with a dot',
    '..one that began with two',
    '.',
    'tab\tand a trailing space ',
  ].map((line) => Buffer.from(line, 'latin1')).concat([Buffer.from([0x38, 0x2d, 0x62, 0x69, 0x74, 0x3a, 0x20, 0xe9, 0xff, 0x80, 0x7f]), Buffer.from('the end', 'latin1')]);
}

/** What the message's lines are once received: each ends in CRLF (RFC 5321 4.1.1.4). */
export function asReceived(lines: Buffer[]): Buffer {
  return Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\r\n')]));
}

/**
 * A suite's end: the gateway stopped and its processes gone, then Postfix stopped, then
 * `remove` (the suite's directories), each step run though the one before it threw.
 */
export async function stopBehindPostfix(parts: { gw?: RunningGateway; pids: number[]; postfix?: RunningPostfix; remove: () => void }): Promise<void> {
  try {
    await parts.gw?.stop();
    await assertNoOrphans(parts.pids);
  } finally {
    try {
      await parts.postfix?.stop();
    } finally {
      parts.remove();
    }
  }
}
