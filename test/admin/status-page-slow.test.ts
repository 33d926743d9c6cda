// The status page over a slow link (a phone's, a VPN's): the stream's head comes at once, the
// whole status (its first event, ~580 KB with 300 apps) long after. The page said "live" at the
// head, over "Waiting for the gateway's status..." or, after a reconnect, over the status of
// before: "live" now means the page shows the gateway's status of this stream.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import type { AdminServer } from '../../src/admin/admin-server.js';
import { runIf } from '../helpers/skip.js';
import { fakeAdminServer, fakeProvider } from './fake-status.js';

const test = suite('admin: the status page over a slow link');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
let server: AdminServer | undefined;
let browser: Browser | undefined;

test.after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

inBrowser('at 2 KB/s: the page says "live" only once the status it shows is drawn, never over "Waiting for the gateway\'s status"', async () => {
  server = await fakeAdminServer(fakeProvider());
  browser = await launchChromium();
  const page = await (await browser.newContext()).newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 200, downloadThroughput: 2048, uploadThroughput: 2048 });
  await page.goto(`${server.url}/`, { timeout: 60_000 });
  // Asked in the page, at the moment the badge changes: what the apps' part shows then.
  const shownWhenLive = await page.evaluate(() => new Promise<string>((resolve, reject) => {
    const badge = document.querySelector('[data-connection]')!;
    const apps = document.querySelector('[data-apps]') as HTMLElement;
    const seen = () => badge.getAttribute('data-connection') === 'live' && (observer.disconnect(), resolve(apps.innerText.slice(0, 80)), true);
    const observer = new MutationObserver(() => void seen());
    observer.observe(badge, { attributes: true, childList: true, characterData: true, subtree: true });
    void seen();
    setTimeout(() => reject(new Error(`not live within 60 s: ${badge.textContent}`)), 60_000);
  }));
  assert.not.match(shownWhenLive, /Waiting for the gateway/, shownWhenLive);
  assert.match(shownWhenLive, /blog/);
});

test.run();
