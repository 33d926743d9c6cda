// status's per-app mail (src/mail/mail-waiting.ts) from spool records, without a gateway: counts,
// the oldest, the newest failure, the next attempt; bounded to one entry per app.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { waitingMailByApp } from '../../src/mail/mail-waiting.js';
import type { SpooledDelivery } from '../../src/mail/mail-spool.js';

const test = suite('mail waiting per app');
const T = Date.parse('2026-01-02T03:00:00.000Z');
const at = (s: number) => new Date(T + s * 1000).toISOString();

function delivery(id: string, app: string, fields: Partial<SpooledDelivery> = {}): SpooledDelivery {
  return { id, messageId: `m-${id}`, app, from: 'ann@example.org', to: [`x@${app}.localhost`], receivedAt: T, size: 10, attempts: 0, nextAttemptAt: T, lastError: null, ...fields };
}

test('one entry per app: its count, retrying, failed attempts, oldest, newest failure and earliest next attempt', () => {
  const pending = [
    delivery('1', 'blog', { receivedAt: T + 10_000, attempts: 3, nextAttemptAt: T + 900_000, lastError: 'the app answered 500', lastErrorAt: T + 600_000 }),
    delivery('2', 'blog', { receivedAt: T, attempts: 5, nextAttemptAt: T + 700_000, lastError: 'no answer from the app (UND_ERR_HEADERS_TIMEOUT)', lastErrorAt: T + 500_000 }),
    delivery('3', 'blog', { receivedAt: T + 20_000, nextAttemptAt: T + 20_000 }),
    delivery('4', 'shop', { receivedAt: T + 5_000, nextAttemptAt: T + 5_000 }),
  ];
  const byApp = waitingMailByApp(pending, () => false, 172_800);
  assert.equal([...byApp.keys()], ['blog', 'shop']);
  assert.equal(byApp.get('blog'), {
    waiting: 3, retrying: 2, attempting: 0, failedAttempts: 8, oldestReceivedAt: at(0),
    lastFailure: { at: at(600), reason: 'the app answered 500' }, nextAttemptAt: at(20), givesUpAt: at(172_800),
  });
  assert.equal(byApp.get('shop'), { waiting: 1, retrying: 0, attempting: 0, failedAttempts: 0, oldestReceivedAt: at(5), lastFailure: null, nextAttemptAt: at(5), givesUpAt: at(172_805) });
});

test('a delivery being attempted has no next attempt: null when every one is; postmaster mail no app takes is no app\'s', () => {
  const pending = [
    delivery('1', 'blog', { attempts: 1, nextAttemptAt: T + 60_000, lastError: 'the app answered 503', lastErrorAt: T }),
    delivery('2', 'blog', { nextAttemptAt: T + 1_000 }),
    delivery('3', '', { keep: 'no app takes postmaster mail' }),
  ];
  const one = waitingMailByApp(pending, (id) => id === '2', 172_800).get('blog')!;
  assert.is(one.attempting, 1);
  assert.is(one.nextAttemptAt, at(60));
  const all = waitingMailByApp(pending, () => true, 172_800);
  assert.is(all.get('blog')!.nextAttemptAt, null);
  assert.is(all.get('blog')!.attempting, 2);
  assert.not.ok(all.has(''));
});

test('a record of an older gateway (no lastErrorAt): its reason, time unknown, until a failure with a time', () => {
  const old = delivery('1', 'blog', { attempts: 2, lastError: 'the app answered 502' });
  assert.equal(waitingMailByApp([old], () => false, 172_800).get('blog')!.lastFailure, { at: null, reason: 'the app answered 502' });
  const dated = delivery('2', 'blog', { attempts: 1, lastError: 'the app answered 500', lastErrorAt: T });
  assert.equal(waitingMailByApp([old, dated], () => false, 172_800).get('blog')!.lastFailure, { at: at(0), reason: 'the app answered 500' });
  assert.equal(waitingMailByApp([dated, old], () => false, 172_800).get('blog')!.lastFailure, { at: at(0), reason: 'the app answered 500' });
});

// SPEC 5.3: retried "for up to two days", then kept and shown: status says when that is, the
// first of an app's deliveries to reach it; one put back by `mail retry` counts from then.
test('when the first of them is given up: its receipt plus give_up, or its mail retry plus give_up', () => {
  const pending = [
    delivery('1', 'blog', { receivedAt: T + 30_000, attempts: 2, nextAttemptAt: T + 400_000 }),
    delivery('2', 'blog', { receivedAt: T - 86_400_000, retriedAt: T + 10_000, nextAttemptAt: T + 10_000 }),
  ];
  assert.is(waitingMailByApp(pending, () => false, 600).get('blog')!.givesUpAt, at(610));
  assert.is(waitingMailByApp(pending.slice(0, 1), () => false, 172_800).get('blog')!.givesUpAt, at(172_830));
});

test.run();
