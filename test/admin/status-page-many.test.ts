// The status page with many apps (SPEC 5.6: 300 on one host): each status event redrew every
// app's card, its summary, processes, history and log, so with 300 apps and a few waking the
// page's main thread was busy all the time (long tasks adding up to more than the time
// measured). A card is drawn again only when its app's status changed. Against the admin server
// with a status of 120 apps of which one changes at every event, in Debian's chromium. And the
// page applies /events' changes (the whole status first, then `apps` events with only what
// changed): a counter, an app gone, an app come, without a reload.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import type { AdminServer } from '../../src/admin/admin-server.js';
import type { AppStatus } from '../../src/admin/status-types.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';
import { fakeAdminServer, fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('status page, many apps');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const APPS = 120;
let server: AdminServer | null = null;
let browser: Browser | null = null;

test.after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

inBrowser(`of ${APPS} apps, only the one whose status changed is drawn again at each event`, async () => {
  let asked = 0;
  const blog = fakeStatus().apps[0];
  const provider = {
    ...fakeProvider(),
    status: () => {
      asked++;
      const apps: AppStatus[] = Array.from({ length: APPS }, (_, i) => ({ ...blog, name: `app${String(i).padStart(3, '0')}`, mount: `/app${i}` }));
      // The first app serves a request between every two statuses.
      apps[0] = { ...apps[0], requests: 1000 + asked };
      return { ...fakeStatus(), apps };
    },
  };
  server = await fakeAdminServer(provider);
  browser = await launchChromium();
  const last = `app${String(APPS - 1).padStart(3, '0')}`;
  const { page } = await openStatusPage(browser, `${server.url}/`, { shown: `[data-app="${last}"] [data-requests]` });
  // The cards taken and app000's count read in one go: two events drawn between two reads would
  // meet the wait below at once, with nothing drawn after the cards were taken.
  const first = await page.evaluate(() => {
    (window as any).drawn = [...document.querySelectorAll('[data-app] [data-requests]')];
    return Number((document.querySelector('[data-app="app000"] [data-requests]') as HTMLElement).dataset.requests);
  });
  // Two events more, each with app000's count up.
  await page.waitForFunction((seen) => Number((document.querySelector('[data-app="app000"] [data-requests]') as HTMLElement).dataset.requests) >= seen + 2, first, { timeout: 30_000 });
  const kept = await page.evaluate(() => (window as any).drawn.map((el: Element) => el.isConnected));
  assert.is(kept.length, APPS);
  assert.is(kept[0], false, 'app000 is drawn again');
  assert.is(kept.filter(Boolean).length, APPS - 1, 'the other cards are left as they were');
});

inBrowser('the page follows the stream\'s changes without a reload: one app\'s counter, an app removed, an app added in its place', async () => {
  await server?.close();
  const blog = fakeStatus().apps[0];
  const app = (name: string, requests = 7): AppStatus => ({ ...blog, name, mount: `/${name}`, requests });
  let apps = Array.from({ length: 30 }, (_, i) => app(`app${String(i).padStart(2, '0')}`));
  const provider = { ...fakeProvider(), status: () => ({ ...fakeStatus(), apps: apps.map((a) => ({ ...a })) }) };
  server = await fakeAdminServer(provider);
  browser ??= await launchChromium();
  // The events as the page receives them: `apps` ones after the first, never the whole status again.
  const kinds: string[] = [];
  const { page, errors, navigations } = await openStatusPage(browser, `${server.url}/`, {
    shown: '[data-app="app29"] [data-requests]',
    before: async (page) => {
      page.on('console', (m) => m.text().startsWith('event ') && kinds.push(m.text().slice(6)));
      await page.addInitScript(() => {
        const Original = window.EventSource;
        (window as any).EventSource = class extends Original {
          constructor(url: string | URL, init?: EventSourceInit) {
            super(url, init);
            for (const kind of ['status', 'apps']) this.addEventListener(kind, () => console.log(`event ${kind}`));
          }
        };
      });
    },
  });
  const names = () => page.$$eval('section.app', (els) => els.map((el) => (el as HTMLElement).dataset.app));
  const requestsOf = (name: string) => page.$eval(`[data-app="${name}"] [data-requests]`, (el) => Number((el as HTMLElement).dataset.requests));
  await page.evaluate(() => ((window as any).app10 = document.querySelector('[data-app="app10"]')));

  apps[5] = { ...apps[5], requests: 1234 };
  await page.waitForFunction(() => (document.querySelector('[data-app="app05"] [data-requests]') as HTMLElement).dataset.requests === '1234', null, { timeout: 30_000 });
  assert.is(await requestsOf('app06'), 7);

  apps = apps.filter((a) => a.name !== 'app10');
  await page.waitForFunction(() => !document.querySelector('[data-app="app10"]'), null, { timeout: 30_000 });
  assert.is(await page.evaluate(() => (window as any).app10.isConnected), false);

  apps.splice(3, 0, app('app02b', 55));
  await page.waitForSelector('[data-app="app02b"] [data-requests]', { timeout: 30_000 });
  assert.is(await requestsOf('app02b'), 55);
  const shown = await names();
  assert.equal(shown, apps.map((a) => a.name), 'the cards in the status\'s order');
  assert.is(await page.$eval('[data-gateway]', (el) => el.textContent!.includes('apps30')), true, 'the header counts the apps');
  assert.is(navigations(), 1, 'no reload');
  assert.is(kinds[0], 'status');
  assert.ok(kinds.length >= 4 && kinds.slice(1).every((k) => k === 'apps'), kinds.join(' '));
  assert.equal(errors, []);
  await page.close();
});

test.run();
