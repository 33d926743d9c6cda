// The format of /events (src/admin/status-patch.ts, docs/admin.md): the whole status first, then
// only what changed, per app. Each case is applied by the module's applyStatusEvent (what
// `status --watch` uses) and by the status page's own copy of it (admin-page/admin.js, a plain
// script, read from the file), and both must come to the status as it is now.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyStatusEvent, cutStatus, extraFields, patchEvent, wholeEvent, type StatusPatch } from '../../src/admin/status-patch.js';
import type { AppStatus, GatewayStatus } from '../../src/admin/status-types.js';
import { ROOT } from '../helpers/process.js';
import { fakeStatus } from './fake-status.js';

const test = suite('admin: the /events format, whole then what changed');

type Apply = (status: GatewayStatus | null, event: string, data: string) => GatewayStatus | null;

/** The page's applyStatusEvent, from admin-page/admin.js as the browser gets it. */
function pageApply(): Apply {
  const script = readFileSync(join(ROOT, 'admin-page', 'admin.js'), 'utf8');
  const found = /^function applyStatusEvent\(status, event, data\) \{\n[\s\S]*?\n\}\n/m.exec(script);
  assert.ok(found, 'admin.js has function applyStatusEvent(status, event, data)');
  return new Function(`${found![0]}\nreturn applyStatusEvent;`)() as Apply;
}

const appliers: Array<[string, Apply]> = [['status-patch.ts', applyStatusEvent], ['admin.js', pageApply()]];
const ACCESS = { access: { act: true, logs: false, why: 'no token' } };

function app(name: string, requests = 0): AppStatus {
  return { ...fakeStatus().apps[0], name, mount: `/${name}`, requests };
}

function many(n: number): GatewayStatus {
  return { ...fakeStatus(), apps: Array.from({ length: n }, (_, i) => app(`app${String(i).padStart(2, '0')}`)) };
}

/** What a client holds after the whole status of `from`, then the change to `to`: both appliers, checked against `to`. */
function roundTrip(from: GatewayStatus, to: GatewayStatus, extra: Partial<GatewayStatus> = ACCESS): StatusPatch | null {
  const fields = extraFields(extra);
  const whole = wholeEvent(cutStatus(from), fields);
  assert.is(whole.data, JSON.stringify({ ...from, ...extra }), 'the first event is the whole status, as JSON.stringify makes it');
  const data = patchEvent(cutStatus(to), fields, whole.sent);
  for (const [who, apply] of appliers) {
    let held = apply(null, 'apps', '{"now":"x"}');
    assert.is(held, null, `${who}: a change before the whole status is not applied`);
    held = apply(held, 'status', whole.data);
    if (data !== null) held = apply(held, 'apps', data);
    assert.equal(held, JSON.parse(JSON.stringify({ ...to, ...extra, ...(data === null ? { now: from.now } : {}) })), `${who}: the client comes to the status as it is`);
  }
  return data === null ? null : (JSON.parse(data) as StatusPatch);
}

test('nothing but `now` changed: no event', () => {
  const from = many(3);
  assert.is(roundTrip(from, { ...from, now: '2026-01-02T03:06:00.000Z', apps: from.apps.map((a) => ({ ...a })) }), null);
});

test('one app of 50 changed: that app alone, and `now`', () => {
  const from = many(50);
  const to = { ...from, now: '2026-01-02T03:06:00.000Z', apps: from.apps.map((a, i) => (i === 7 ? { ...a, requests: a.requests + 1 } : a)) };
  const patch = roundTrip(from, to)!;
  assert.equal(Object.keys(patch).sort(), ['apps', 'now']);
  assert.equal(patch.apps!.map((a) => a.name), ['app07']);
  assert.is(patch.now, to.now);
});

test('an app removed: its name in `removed`, the order of the rest', () => {
  const from = many(4);
  const to = { ...from, apps: from.apps.filter((a) => a.name !== 'app02') };
  const patch = roundTrip(from, to)!;
  assert.equal(patch.removed, ['app02']);
  assert.equal(patch.order, ['app00', 'app01', 'app03']);
  assert.is(patch.apps, undefined);
});

test('an app added in the middle: its entry and the order; one removed and one added at once', () => {
  const from = many(3);
  const added = { ...from, apps: [from.apps[0], app('app00b', 5), ...from.apps.slice(1)] };
  const patch = roundTrip(from, added)!;
  assert.equal(patch.apps!.map((a) => a.name), ['app00b']);
  assert.equal(patch.order, ['app00', 'app00b', 'app01', 'app02']);
  const swapped = roundTrip(from, { ...from, apps: [from.apps[0], app('zz'), from.apps[2]] })!;
  assert.equal(swapped.removed, ['app01']);
  assert.equal(swapped.apps!.map((a) => a.name), ['zz']);
});

test('the apps reordered, none changed: the order alone', () => {
  const from = many(3);
  const patch = roundTrip(from, { ...from, apps: [...from.apps].reverse() })!;
  assert.equal(patch.order, ['app02', 'app01', 'app00']);
  assert.is(patch.apps, undefined);
});

test('top-level fields: those changed in `changed`, one gone in `unset`, one come', () => {
  const from = { ...many(2), mail: undefined };
  const broken = [{ dir: '/var/apps/x', code: 'APPPKG_DESC_INVALID', message: 'x' }];
  const stopping = { ...from, state: 'stopping' as const, stoppingSince: '2026-01-02T03:06:00.000Z', broken };
  const patch = roundTrip(from, stopping)!;
  assert.equal(patch.changed, { state: 'stopping', stoppingSince: stopping.stoppingSince, broken });
  assert.is(patch.apps, undefined);
  const mail = { listen: '127.0.0.1:2525', protocol: 'smtp' as const, spooled: 0, received: 1, delivered: 1, failedAttempts: 0, refused: 0, retrying: 0, deadLetters: 0, dead: [], waitingForRemoved: [], retryCommand: 'apppkg-gateway mail retry ID... (or --all [APP])' };
  assert.equal(roundTrip(from, { ...from, mail })!.changed, { mail });
  const gone = roundTrip({ ...from, mail }, from)!;
  assert.equal(gone.unset, ['mail']);
  assert.is(gone.changed, undefined);
});

test('the client\'s own fields (what it may do) are in the whole status, and not sent again', () => {
  const from = many(2);
  assert.is(roundTrip(from, { ...from, apps: from.apps.map((a) => ({ ...a })) }, ACCESS), null);
  const fields = extraFields(ACCESS);
  const whole = wholeEvent(cutStatus(from), fields);
  assert.equal(JSON.parse(whole.data).access, ACCESS.access);
  // Another client's fields over the same cut: each compares with what it was sent.
  const other = extraFields({ access: { act: true, logs: true, why: null } });
  const patch = JSON.parse(patchEvent(cutStatus(from), other, whole.sent)!) as StatusPatch;
  assert.equal(patch.changed, { access: { act: true, logs: true, why: null } });
});

test('`sent` follows the events: the same change is not sent twice', () => {
  const from = many(5);
  const fields = extraFields({});
  const { sent } = wholeEvent(cutStatus(from), fields);
  const to = { ...from, apps: from.apps.map((a, i) => (i === 1 ? { ...a, state: 'idle' } : a)) };
  assert.ok(patchEvent(cutStatus(to), fields, sent) !== null);
  assert.is(patchEvent(cutStatus(to), fields, sent), null);
});

test.run();
