// When a delivery is tried again, and when it is given up (src/mail/retry-schedule.ts), and
// which app a recipient's domain belongs to (src/mail/mail-routes.ts): pure functions.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAIL_DEFAULTS } from '../../src/environment/host-file.js';
import { nextAttemptAt } from '../../src/mail/retry-schedule.js';
import { domainOf, mailDomainsOf, routeRecipient, type MailRoute } from '../../src/mail/mail-routes.js';

const test = suite('mail retry schedule and routes');
const S = 1000;

test('the default schedule: 1 min, 5 min, 15 min, 1 h, then every 4 h, for two days', () => {
  const schedule = { retry: MAIL_DEFAULTS.retry, giveUp: MAIL_DEFAULTS.giveUp };
  const received = 1_000_000;
  let now = received;
  const waits: number[] = [];
  for (let failed = 1; ; failed++) {
    const next = nextAttemptAt(schedule, received, failed, now);
    if (next === null) break;
    waits.push((next - now) / S);
    now = next;
  }
  assert.equal(waits.slice(0, 6), [60, 300, 900, 3600, 14400, 14400]);
  assert.is(now, received + 2 * 24 * 3600 * S, 'the last attempt is at give_up exactly');
  assert.ok(waits.length >= 12 && waits.length <= 16, `${waits.length} retries`);
});

test('past give_up: null (a dead letter)', () => {
  const schedule = { retry: [1], giveUp: 10 };
  assert.is(nextAttemptAt(schedule, 0, 3, 10 * S), null);
  assert.is(nextAttemptAt(schedule, 0, 3, 9.5 * S), 10 * S, 'clamped to the deadline');
  assert.is(nextAttemptAt(schedule, 0, 1, 2 * S), 3 * S);
});

test('routing by domain: case and a trailing dot do not matter; unknown, not serving, no mail:', () => {
  const routes: MailRoute[] = [
    { app: 'desk', domains: ['help.example.com'], path: '/_mail', serving: true, maxBody: 1000 },
    { app: 'blog', domains: ['blog.localhost'], path: null, serving: true, maxBody: 1000 },
    { app: 'down', domains: ['down.localhost'], path: null, serving: false, maxBody: 1000 },
  ];
  assert.equal(routeRecipient('Ann@Help.Example.COM.', routes, null), { kind: 'app', app: 'desk', path: '/_mail', maxBody: 1000 });
  assert.equal(routeRecipient('x@blog.localhost', routes, null), { kind: 'no-mail', app: 'blog' });
  assert.equal(routeRecipient('x@down.localhost', routes, null), { kind: 'not-serving', app: 'down' });
  assert.equal(routeRecipient('x@example.com', routes, null), { kind: 'unknown-domain', domain: 'example.com' });
  assert.equal(routeRecipient('nobody', routes, 'desk'), { kind: 'unknown-domain', domain: '' });
  assert.is(domainOf('"a@b"@Sub.Example.org'), 'sub.example.org');
});

test('postmaster (RFC 5321 4.5.1): to the app mail.postmaster names, in any case; kept when none can take it; postmaster@DOMAIN is the domain\'s', () => {
  const routes: MailRoute[] = [
    { app: 'desk', domains: ['help.example.com'], path: '/_mail', serving: true, maxBody: 1000 },
    { app: 'blog', domains: ['blog.localhost'], path: null, serving: true, maxBody: 1000 },
    { app: 'down', domains: ['down.localhost'], path: '/_mail', serving: false, maxBody: 1000 },
  ];
  for (const address of ['postmaster', 'PostMaster']) assert.equal(routeRecipient(address, routes, 'desk'), { kind: 'app', app: 'desk', path: '/_mail', maxBody: 1000 });
  assert.equal(routeRecipient('postmaster', routes, 'down'), { kind: 'not-serving', app: 'down' });
  const kept = (postmaster: string | null) => {
    const route = routeRecipient('Postmaster', routes, postmaster);
    return route.kind === 'kept' ? route.reason : `not kept: ${route.kind}`;
  };
  assert.match(kept(null), /no app takes it: name one in mail\.postmaster of the environment file/);
  assert.match(kept('blog'), /mail\.postmaster names blog, which takes no mail \(no mail: in its app\.yaml\)/);
  assert.match(kept('Desk'), /mail\.postmaster names Desk, which is not an app here/);
  assert.equal(routeRecipient('postmaster@blog.localhost', routes, 'desk'), { kind: 'no-mail', app: 'blog' });
});

test('mail domains: those named, else NAME.localhost in lower case; a default another app names, or one two names share in case, goes to one app and is told', () => {
  const { domains, collisions } = mailDomainsOf([
    { app: 'Cap', explicit: [] },
    { app: 'cap', explicit: [] },
    { app: 'alpha', explicit: ['alpha.example.com', 'blog.localhost'] },
    { app: 'blog', explicit: [] },
    { app: 'desk', explicit: [] },
  ]);
  assert.equal(Object.fromEntries(domains), { Cap: ['cap.localhost'], cap: [], alpha: ['alpha.example.com', 'blog.localhost'], blog: [], desk: ['desk.localhost'] });
  assert.equal(collisions, [
    { domain: 'cap.localhost', owner: 'Cap', others: ['cap'] },
    { domain: 'blog.localhost', owner: 'alpha', others: ['blog'] },
  ]);
});

test.run();
