import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatMs, renderStatusTable } from '../../src/admin/status-table.js';
import { fitToTerminal } from '../../src/cli/commands/status.js';
import type { MailStatus } from '../../src/admin/status-types.js';
import { fakeStatus } from './fake-status.js';

const test = suite('status table');

test('columns line up and each app has its row', () => {
  const text = renderStatusTable(fakeStatus());
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('NAME'));
  assert.ok(header > 0);
  const [head, blog, shop] = lines.slice(header, header + 3);
  assert.is(blog.indexOf('ready'), head.indexOf('STATE'));
  assert.is(shop.indexOf('/shop'), head.indexOf('MOUNT'));
  assert.match(lines[0], /gateway pid 4242, version 0\.1\.0/);
  assert.ok(text.endsWith('\n'));
});

test('per app: each version\'s figures (SPEC 5.4: served, failed, in flight, queued, latency) and each worker\'s', () => {
  const text = renderStatusTable(fakeStatus());
  assert.match(text, /^  version 2026\.11\.24 serving: 120 served, 4 failed, 2 in flight, 1 queued, p50 12ms, p99 250ms$/m);
  assert.match(text, /^  workers: 1001 ready \(40 served, 1 failed\), 1002 starting \(0 served, 0 failed\)$/m);
});

test('a draining version lists its workers (stopping while they finish, a lifespan shutdown say), apart from the serving version\'s', () => {
  const status = fakeStatus();
  const blog = status.apps[0];
  const serving = blog.versions[0];
  const stopping = serving.workers.map((w, i) => ({ ...w, pid: 901 + i, state: 'stopping' as const, requests: 0, failed: 0 }));
  blog.versions = [serving, { ...serving, version: '2026.11.23', dir: '/var/apps/blog.2026.11.23', state: 'draining', inFlight: 0, queued: 0, requests: 7, failed: 0, workers: stopping }];
  const text = renderStatusTable(status);
  assert.match(text, /^  version 2026\.11\.23 draining: 7 served, 0 failed, 0 in flight, 0 queued, p50 12ms, p99 250ms\n    its workers: 901 stopping \(0 served, 0 failed\), 902 stopping \(0 served, 0 failed\)$/m);
  assert.match(text, /^  workers: 1001 ready \(40 served, 1 failed\), 1002 starting \(0 served, 0 failed\)$/m);
});

test('last: whether process trees are held by cgroups, and why not when not', () => {
  const held = renderStatusTable({ ...fakeStatus(), processTrees: { cgroup: '/sys/fs/cgroup/apppkg-gateway.4242.99', why: null } }).split('\n');
  assert.equal(held.slice(-3), ['', 'process trees held by the cgroup /sys/fs/cgroup/apppkg-gateway.4242.99', '']);
  const not = renderStatusTable({ ...fakeStatus(), processTrees: { cgroup: null, why: 'the gateway does not run as root' } }).split('\n');
  assert.equal(not.slice(-3), ['', 'process trees not held by cgroups: the gateway does not run as root', '']);
});

test('no apps and no broken packages', () => {
  const text = renderStatusTable({ ...fakeStatus(), apps: [], broken: [] });
  assert.match(text, /no apps are served/);
  assert.not.match(text, /broken/);
});

test('per app: failed wakes are wakes, not requests; held off, when the first request wakes it again, and nothing once that is due', () => {
  const status = fakeStatus();
  const now = Date.parse(status.now);
  const at = new Date(now + 4200).toISOString();
  status.apps[0] = { ...status.apps[0], state: 'idle', idle: { timeoutSeconds: 60, lastActive: '2026-01-02T03:05:00.000Z', coldStarts: 0, lastColdStartMs: null, coldStartSecondsTotal: 0, coldStartFailures: 1, wakeFailure: 'app: cannot import blog', nextWakeAt: at } };
  const held = renderStatusTable(status);
  assert.match(held, /idle since 2026-01-02T03:05:00\.000Z; 0 cold starts; 1 wake failed\n/);
  assert.ok(held.includes(`\n  next wake: at the first request after ${at} (in 4.2 s); until then its requests get 503 at once\n`), held);
  // Due, not yet asked: the time alone (a status a moment old).
  status.apps[0].idle!.nextWakeAt = new Date(now - 1).toISOString();
  assert.match(renderStatusTable(status), /next wake: at the first request after \S+; until then/);
  // Past it the gateway says null: no line, and the failures stay counted.
  status.apps[0].idle = { ...status.apps[0].idle!, coldStartFailures: 3, nextWakeAt: null };
  const after = renderStatusTable(status);
  assert.not.match(after, /next wake/);
  assert.match(after, /0 cold starts; 3 wakes failed\n/);
});

test('per app: services, idle and cold starts; then the mail listener\'s counts', () => {
  const status = fakeStatus();
  status.apps[0] = { ...status.apps[0], state: 'idle', idle: { timeoutSeconds: 60, lastActive: '2026-01-02T03:05:00.000Z', coldStarts: 2, lastColdStartMs: 90, coldStartSecondsTotal: 0.15, wakeFailure: null, nextWakeAt: null } };
  // No retryCommand yet: the line that names it comes with it, below.
  const mail: Omit<MailStatus, 'retryCommand'> = { listen: '127.0.0.1:2525', protocol: 'smtp', spooled: 1, received: 5, delivered: 4, failedAttempts: 1, refused: 2, retrying: 1, deadLetters: 0, dead: [], waitingForRemoved: [] };
  status.mail = mail as MailStatus;
  const text = renderStatusTable(status);
  assert.match(text, /service database: sqlite ready/);
  assert.match(text, /idle since 2026-01-02T03:05:00\.000Z; 2 cold starts, the last in 90 ms/);
  assert.match(text, /mail \(smtp\) on 127\.0\.0\.1:2525: 5 received, 4 delivered, 1 spooled \(1 waiting to retry\), 0 dead letters, 2 refused/);
  assert.not.match(text, /dead letter [0-9a-f-]+ to/);
  status.mail = {
    ...status.mail, deadLetters: 1,
    dead: [{ id: 'd-1', app: 'blog', from: 'a@example.com', to: ['post@blog.localhost'], receivedAt: '2026-01-02T03:00:00.000Z', deadAt: '2026-01-02T03:04:00.000Z', attempts: 1, reason: 'the app refused it (406)', file: '/state/mail/dead/d-1.eml' }],
  };
  assert.match(renderStatusTable(status), /1 dead letter, 2 refused\n {2}dead letter d-1 to blog \(post@blog\.localhost\) since 2026-01-02T03:04:00\.000Z: the app refused it \(406\); kept in \/state\/mail\/dead\/d-1\.eml\n/);
  // How to deliver them again, under them: the command the gateway names.
  status.mail.retryCommand = 'apppkg-gateway mail retry ID... (or --all [APP])';
  assert.match(renderStatusTable(status), /kept in \/state\/mail\/dead\/d-1\.eml\n {2}to deliver dead letters again, once their app takes them: apppkg-gateway mail retry ID\.\.\. \(or --all \[APP\]\)\n/);
  // Many: the latest ten, and how many more the JSON has.
  const one = status.mail.dead[0];
  status.mail.dead = Array.from({ length: 12 }, (_, i) => ({ ...one, id: `d-${i}`, deadAt: `2026-01-02T03:${String(10 + i).padStart(2, '0')}:00.000Z` }));
  status.mail.deadLetters = 12;
  const many = renderStatusTable(status);
  assert.is(many.match(/ {2}dead letter d-/g)?.length, 10);
  assert.match(many, / {2}dead letter d-11 to blog/);
  assert.not.match(many, /dead letter d-[01] to/);
  assert.match(many, / {2}and 2 older \(status --json lists every one\)/);
  // More than the JSON lists (its newest 50): counted from deadLetters, not from the list.
  status.mail.deadLetters = 80;
  assert.match(renderStatusTable(status), / {2}and 70 older \(status --json lists the newest 12, STATE\/mail\/dead\/ keeps every one\)\n/);
});

test('a problem: its fix and log on their own lines, and the last lines when the status has them', () => {
  const status = fakeStatus();
  status.apps[1] = { ...status.apps[1], problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import', hint: 'fix the import', log: '/state/apps/shop/log/app.log', tail: ['Traceback (most recent call last):', 'ImportError: no'] } };
  const text = renderStatusTable(status);
  assert.match(text, /\n {2}problem: APPPKG_APP_IMPORT_FAILED: app: cannot import\n {4}fix: fix the import\n {4}log: \/state\/apps\/shop\/log\/app\.log\n {4}last lines of \/state\/apps\/shop\/log\/app\.log:\n {6}\| Traceback \(most recent call last\):\n {6}\| ImportError: no\n/);
  status.apps[1].problem = { code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import' };
  assert.not.match(renderStatusTable(status), /^ +(fix|log|last lines)/m);
});

test('each refused version says why on its row when the app\'s problem is another one\'s (a newer refusal): status says why for every version it lists', () => {
  const status = fakeStatus();
  const blog = status.apps[0];
  const serving = blog.versions[0];
  const refused = (version: string, code: string, message: string) => ({ ...serving, version, dir: `/var/apps/blog.${version}`, state: 'failed', reason: { code, message }, requests: 0, failed: 0, inFlight: 0, queued: 0, workers: [] });
  blog.versions = [refused('4', 'APPPKG_APP_PROBE_FAILED', 'health probe of blog: GET /healthz answered 500'), refused('3', 'APPPKG_COMMAND_FAILED', 'commands.update (migrate) exited with status 7'), serving];
  blog.problem = { code: 'APPPKG_APP_PROBE_FAILED', message: 'health probe of blog: GET /healthz answered 500' };
  const text = renderStatusTable(status);
  assert.match(text, /^  version 3 failed\n    why: APPPKG_COMMAND_FAILED: commands\.update \(migrate\) exited with status 7$/m);
  assert.match(text, /^  version 4 failed$/m, 'the newest refusal is the problem below, not said twice');
  assert.match(text, /^  problem: APPPKG_APP_PROBE_FAILED: health probe of blog/m);
});

test("a problem whose message has lines of its own (an exception's fields nested under it): they go under the problem, their indentation kept", () => {
  // What an app whose import raises such an error inside a nested call (pydantic's, say) shows.
  const message = [
    "app: cannot import app:application (/srv/shop/settings.py:6): ValueError: 2 validation errors for Settings",
    '  database',
    '    field required (type=value_error.missing)',
    '  secret',
    '    field required (type=value_error.missing)',
    '',
  ].join('\n');
  const status = fakeStatus();
  status.apps[1] = { ...status.apps[1], problem: { code: 'APPPKG_APP_IMPORT_FAILED', message, hint: 'fix the import' } };
  status.broken = [{ dir: '/var/apps/wiki', code: 'APPPKG_APP_IMPORT_FAILED', message }];
  const text = renderStatusTable(status);
  assert.match(text, /\n {2}problem: APPPKG_APP_IMPORT_FAILED: app: cannot import app:application \(\/srv\/shop\/settings\.py:6\): ValueError: 2 validation errors for Settings\n {8}database\n {10}field required \(type=value_error\.missing\)\n {8}secret\n {10}field required \(type=value_error\.missing\)\n {4}fix: fix the import\n/);
  assert.match(text, /\n {2}\/var\/apps\/wiki: APPPKG_APP_IMPORT_FAILED: app: cannot import .*Settings\n {8}database\n {10}field required/);
  // No line of the message passes for one of the table's (flush left, or at a detail's column).
  for (const line of text.split('\n').filter((l) => /^ *(database|secret|field required)/.test(l))) assert.ok(line.startsWith('      '), JSON.stringify(line));
  assert.not.match(text, / +\n/);
});

test("a problem's message, its log's last lines and a broken package's message are the app's words: their control characters are printed as escapes, a tab kept", () => {
  // An app that crashes on import printing a terminal's escapes (a title, a clear screen, colour).
  const status = fakeStatus();
  status.apps[1] = { ...status.apps[1], problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import: RuntimeError: \x1b]0;pwned\x07', hint: 'fix the import', log: '/state/apps/shop/log/app.log', tail: ['\x1b[2J\x1b[Hall clear', '\tat line 3\r'] } };
  status.broken = [{ dir: '/var/apps/wiki', code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import: \x1b[31mred\x9b' }];
  const text = renderStatusTable(status);
  assert.not.match(text, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  assert.ok(text.includes('RuntimeError: \\x1b]0;pwned\\x07\n'), text);
  assert.ok(text.includes('| \\x1b[2J\\x1b[Hall clear\n'), text);
  assert.ok(text.includes('| \tat line 3\\x0d\n'), text);
  assert.ok(text.includes('/var/apps/wiki: APPPKG_APP_IMPORT_FAILED: app: cannot import: \\x1b[31mred\\x9b\n'), text);
});

test('formatMs', () => {
  assert.is(formatMs(null), '-');
  assert.is(formatMs(0.0012), '1.2ms');
  assert.is(formatMs(0.0123), '12ms');
  assert.is(formatMs(1.5), '1500ms');
});

test('mail waiting for an app: one line under it (count, oldest, last failure, next attempt, when given up); an app removed from --apps: under the mail section', () => {
  const status = fakeStatus();
  assert.not.match(renderStatusTable(status), /mail waiting/, 'none without mail waiting');
  status.apps[0].mail = {
    waiting: 3, retrying: 2, attempting: 1, failedAttempts: 14, oldestReceivedAt: '2026-01-02T02:00:05.000Z',
    lastFailure: { at: '2026-01-02T03:04:00.000Z', reason: 'the app answered 500' }, nextAttemptAt: '2026-01-02T03:09:05.000Z', givesUpAt: '2026-01-04T02:00:05.000Z',
  };
  status.mail = {
    listen: '127.0.0.1:2525', protocol: 'smtp', spooled: 4, received: 5, delivered: 1, failedAttempts: 15, refused: 0, retrying: 3, deadLetters: 0, dead: [], retryCommand: 'apppkg-gateway mail retry ID... (or --all [APP])',
    waitingForRemoved: [{ app: 'gone', waiting: 1, retrying: 1, attempting: 0, failedAttempts: 1, oldestReceivedAt: '2026-01-02T03:05:00.000Z', lastFailure: { at: null, reason: 'gone is no app of this gateway now (removed from --apps?)' }, nextAttemptAt: '2026-01-02T03:05:00.000Z', givesUpAt: '2026-01-02T03:05:00.000Z' }],
  };
  const text = renderStatusTable(status);
  assert.match(text, /^blog:\n(  .*\n)*  mail waiting: 3 deliveries \(2 retrying, 1 being attempted\) for 65 min, the oldest received at 2026-01-02T02:00:05\.000Z; 14 failed attempts, the last at 2026-01-02T03:04:00\.000Z: the app answered 500; the next attempt at 2026-01-02T03:09:05\.000Z \(in 4 min\); the first given up at 2026-01-04T02:00:05\.000Z \(in 46\.9 h\), a dead letter, unless delivered before$/m);
  assert.match(text, /^mail \(smtp\) .*\n  mail waiting for gone \(no app of this gateway now\): 1 delivery \(1 retrying\) for 5 s, the oldest received at 2026-01-02T03:05:00\.000Z; 1 failed attempt, the last: gone is no app of this gateway now \(removed from --apps\?\); the next attempt due now; given up at its next attempt, a dead letter, unless delivered before$/m);
  status.apps[0].mail = { ...status.apps[0].mail, attempting: 3, nextAttemptAt: null };
  assert.match(renderStatusTable(status), /the app answered 500; every one being attempted now; the first given up at 2026-01-04T02:00:05\.000Z/m);
});

// status --watch cut each line to the window by code point: a line of CJK (two columns a
// character) went twice as wide as the window and wrapped into the lines below; one of letters
// with combining accents (two code points, one column) was cut at half the window.
test('status --watch cuts a line to the columns a terminal draws it in, not its code points, never inside a character', () => {
  const cjk = `broken: ${'日本語'.repeat(10)}`; // 8 + 60 columns
  assert.is(fitToTerminal(cjk, 40, 24), `broken: ${'日本語'.repeat(5)}…\n`, 'cut to 38 columns and the ellipsis: another character would take 40, the ellipsis 41');
  const accented = 'caf\u0065\u0301 '.repeat(7); // 35 columns, 42 code points
  assert.is(fitToTerminal(accented, 40, 24), `${accented}\n`, 'kept whole: it fits');
  const emoji = `ok ${'👩\u200d👩\u200d👧'.repeat(20)}`; // 3 + 40 columns: one family, one emoji
  assert.is(fitToTerminal(emoji, 10, 24), `ok ${'👩\u200d👩\u200d👧'.repeat(3)}…\n`, 'a family is cut whole, never after a ZWJ');
  assert.is(fitToTerminal('e\u0301'.repeat(50), 40, 24), `${'e\u0301'.repeat(39)}…\n`, 'an accent stays with its letter');
});

test.run();
