// Radicale, a CalDAV server from Debian's package (python3-radicale), under a mount through the
// real CLI, driven the way a calendar client drives it: WebDAV's and CalDAV's own methods
// (MKCALENDAR, PROPFIND, REPORT) with XML bodies, Depth, Basic auth and its WWW-Authenticate,
// ETags and If-Match preconditions, and hrefs built from SCRIPT_NAME. Skipped, and said so, on a
// host whose /usr/bin/python3 cannot import radicale.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const HAS_RADICALE = spawnSync('/usr/bin/python3', ['-c', 'import radicale'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('gateway: radicale');
const ifRadicale = runIf(test, HAS_RADICALE, 'needs python3-radicale (npm test installs it as root)');
const apps = tempDir('apppkg-radicale-apps-');
const state = tempDir('apppkg-radicale-state-');
const alice = { authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` };
let gw: RunningGateway | undefined;

test.before(async () => {
  if (!HAS_RADICALE) return;
  addPackage(apps.path, 'radicale', 'cal');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  await waitFor(async () => (await gatewayStatus(gw!)).apps[0]?.state === 'ready', 60_000, 'radicale to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

async function dav(method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`${gw!.url}${path}`, { method, headers: { ...alice, ...opts.headers }, body: opts.body });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

function event(summary: string, description = ''): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//apppkg test//EN', 'BEGIN:VEVENT', 'UID:ev1@example.com',
    'DTSTAMP:20261201T120000Z', 'DTSTART:20261210T100000Z', 'DTEND:20261210T110000Z', `SUMMARY:${summary}`];
  // RFC 5545 §3.1: content lines folded at 75 octets, each continuation begun by a space.
  if (description) for (let i = 0; i < description.length; i += 60) lines.push(`${i === 0 ? 'DESCRIPTION:' : ' '}${description.slice(i, i + 60)}`);
  return [...lines, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
}

const xml = { 'content-type': 'application/xml; charset=utf-8' };

ifRadicale('no credentials, or a wrong password: 401 with its WWW-Authenticate', async () => {
  for (const headers of [{ authorization: '' }, { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` }]) {
    const res = await dav('PROPFIND', '/cal/alice/', { headers: { ...headers, depth: '0' } });
    assert.is(res.status, 401, res.body);
    assert.match(String(res.headers['www-authenticate']), /^Basic realm=/);
  }
});

ifRadicale('a calendar client\'s session under the mount: MKCALENDAR, PUT, PROPFIND, REPORT, GET, If-Match, DELETE', async () => {
  const made = await dav('MKCALENDAR', '/cal/alice/work/', {
    headers: xml,
    body: '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>',
  });
  assert.is(made.status, 201, made.body);

  const put = await dav('PUT', '/cal/alice/work/ev1.ics', { headers: { 'content-type': 'text/calendar', 'if-none-match': '*' }, body: event('Meeting') });
  assert.is(put.status, 201, put.body);
  const etag = String(put.headers.etag);
  assert.match(etag, /^"[0-9a-f]+"$/);

  const listed = await dav('PROPFIND', '/cal/alice/work/', {
    headers: { ...xml, depth: '1' },
    body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:displayname/></D:prop></D:propfind>',
  });
  assert.is(listed.status, 207, listed.body);
  // Hrefs carry the mount (SCRIPT_NAME), as a client follows them.
  assert.match(listed.body, /<href>\/cal\/alice\/work\/<\/href>.*<displayname>Work<\/displayname>/s);
  assert.ok(listed.body.includes(`<href>/cal/alice/work/ev1.ics</href><propstat><prop><getetag>${etag}</getetag>`), listed.body);

  const found = await dav('REPORT', '/cal/alice/work/', {
    headers: { ...xml, depth: '1' },
    body: '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
      + '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20261201T000000Z" end="20261231T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>',
  });
  assert.is(found.status, 207, found.body);
  assert.match(found.body, /<href>\/cal\/alice\/work\/ev1\.ics<\/href>.*SUMMARY:Meeting/s);

  const got = await dav('GET', '/cal/alice/work/ev1.ics');
  assert.is(got.status, 200);
  assert.is(got.headers.etag, etag);
  assert.match(got.body, /SUMMARY:Meeting/);

  const stale = await dav('PUT', '/cal/alice/work/ev1.ics', { headers: { 'content-type': 'text/calendar', 'if-match': '"not-the-etag"' }, body: event('Moved') });
  assert.is(stale.status, 412, stale.body);
  const moved = await dav('PUT', '/cal/alice/work/ev1.ics', { headers: { 'content-type': 'text/calendar', 'if-match': etag }, body: event('Moved') });
  assert.is(moved.status, 201, moved.body);
  assert.is.not(moved.headers.etag, etag);

  assert.is((await dav('DELETE', '/cal/alice/work/ev1.ics', { headers: { 'if-match': etag } })).status, 412);
  assert.is((await dav('DELETE', '/cal/alice/work/ev1.ics', { headers: { 'if-match': String(moved.headers.etag) } })).status, 200);
  assert.is((await dav('GET', '/cal/alice/work/ev1.ics')).status, 404);
});

ifRadicale('a 1 MiB event arrives whole', async () => {
  const description = 'x'.repeat(1024 * 1024);
  assert.is((await dav('MKCALENDAR', '/cal/alice/big/')).status, 201);
  const put = await dav('PUT', '/cal/alice/big/ev1.ics', { headers: { 'content-type': 'text/calendar' }, body: event('Big', description) });
  assert.is(put.status, 201, put.body);
  const got = await dav('GET', '/cal/alice/big/ev1.ics');
  assert.is(got.status, 200);
  const unfolded = got.body.replace(/\r\n /g, '');
  assert.ok(unfolded.includes(`DESCRIPTION:${description}\r\n`), `the description came back with ${/DESCRIPTION:(x*)/.exec(unfolded)?.[1].length} of its ${description.length} octets`);
});

test.run();
