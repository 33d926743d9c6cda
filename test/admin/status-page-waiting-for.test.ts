// The status page said only `starting` of a version whose start took long: not whether it
// waited for the import, a health probe answering 503 or a hook. Against the admin server with
// a status that changes under the open page, in Debian's chromium: the version's `waitingFor`
// shows under it from /events, without a reload, its failed probes when they come, and goes
// once the version serves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import type { AdminServer } from '../../src/admin/admin-server.js';
import type { AppStatus, WaitingForStatus, VersionStatus } from '../../src/admin/status-types.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';
import { fakeAdminServer, fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('status page: what a starting version waits for');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
let server: AdminServer | null = null;
let browser: Browser | null = null;

test.after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

inBrowser('a starting version\'s waitingFor shows under it, then its failed probes, a retried version\'s next try counts down, and it goes once it serves', async () => {
  const serving = fakeStatus().apps[0];
  const startingRow = (waitingFor: WaitingForStatus | null): VersionStatus => ({
    ...serving.versions[0], version: '2026.12.01', dir: '/var/apps/blog.2026.12.01', state: 'starting', requests: 0, failed: 0, inFlight: 0, queued: 0, workers: [], waitingFor,
  });
  // The page counts by the gateway's clock, the status's `now`.
  const now = Date.parse(fakeStatus().now);
  const since = new Date(now - 5000).toISOString();
  let blog: AppStatus = { ...serving, versions: [startingRow({ for: 'import', what: 'worker 1003 to import blog.wsgi:application, then say READY', since, failedProbes: null }), ...serving.versions] };
  const provider = { ...fakeProvider(), status: () => ({ ...fakeStatus(), apps: [{ ...blog }] }) };
  server = await fakeAdminServer(provider);
  browser = await launchChromium();
  const wait = '[data-app="blog"] [data-version-state="starting"] [data-waiting-for]';
  const { page, errors, navigations } = await openStatusPage(browser, `${server.url}/`, { shown: wait });
  assert.is(await page.$eval(wait, (el) => (el as HTMLElement).dataset.waitingFor), 'import');
  assert.match(await page.$eval(wait, (el) => el.textContent), /^waiting \d+s for worker 1003 to import blog\.wsgi:application, then say READY$/);

  const at = new Date(now - 1000).toISOString();
  blog = { ...blog, versions: [startingRow({ for: 'probe', what: "worker 1003's health probe GET /healthz to answer 2xx or 3xx", since, failedProbes: { count: 3, status: 503, error: null, at } }), ...serving.versions] };
  await page.waitForSelector(`${wait} [data-failed-probes="3"]`, { timeout: 30_000 });
  assert.is(await page.$eval(wait, (el) => (el as HTMLElement).dataset.waitingFor), 'probe');
  assert.match(await page.$eval(wait, (el) => el.textContent), /^waiting \d+s for worker 1003's health probe GET \/healthz to answer 2xx or 3xx; 3 failed probes, the last: 503 (just now|\d+s ago)$/);

  // A version refused while its database is down, tried again by itself: its next try counts down.
  const next = new Date(now + 40_000).toISOString();
  const retrying: VersionStatus = {
    ...startingRow({ for: 'retry', what: 'its next try (it is tried again by itself, with back-off): APPPKG_SERVICE_UNAVAILABLE: postgresql at /run/postgresql:5432 (services.postgresql): connect ENOENT', since, failedProbes: null, nextAttemptAt: next }),
    state: 'failed',
    reason: { code: 'APPPKG_SERVICE_UNAVAILABLE', message: 'postgresql at /run/postgresql:5432 (services.postgresql): connect ENOENT', hint: 'start the server' },
  };
  blog = { ...blog, versions: [retrying, ...serving.versions] };
  const retry = '[data-app="blog"] [data-version-state="failed"] [data-waiting-for="retry"]';
  await page.waitForSelector(`${retry} [data-next-attempt]`, { timeout: 30_000 });
  assert.match(await page.$eval(retry, (el) => el.textContent), /^waiting \d+s for its next try \(it is tried again by itself, with back-off\): APPPKG_SERVICE_UNAVAILABLE: postgresql at .*; the next try in \d+s$/);

  blog = { ...serving };
  await page.waitForFunction(() => !document.querySelector('[data-app="blog"] [data-waiting-for]'), null, { timeout: 30_000 });
  assert.is(navigations(), 1, 'no reload');
  assert.equal(errors, []);
  await page.close();
});

test.run();
