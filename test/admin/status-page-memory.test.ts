// The status page showed neither an app's memoryNote (max_memory below what the app takes,
// which `status` and /status say) nor, in the tooltip of its `failed` count, the websocket
// handshakes the gateway refused for want of room under --max-workers (only the requests).
// Against the admin server with a status that changes under the open page, in Debian's
// chromium: both appear from /events, without a reload, and go when the status drops them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import type { AdminServer } from '../../src/admin/admin-server.js';
import type { AppStatus } from '../../src/admin/status-types.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';
import { fakeAdminServer, fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('status page: memory note, websockets refused for room');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const NOTE = "max_memory 32.0 MiB is below what the app takes after its import (a worker's resident memory is 57.3 MiB as it begins serving): its workers are not recycled for their memory, since each replacement would be over it too; raise max_memory above 57.3 MiB plus what a worker grows by as it serves (e.g. max_memory: 115MB) in the environment file";
let server: AdminServer | null = null;
let browser: Browser | null = null;

test.after(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
});

inBrowser('a memoryNote and websocket refusals for room come with an event and show; gone from the status, they go', async () => {
  let blog: AppStatus = { ...fakeStatus().apps[0], refusedForRoom: 0, websocketsRefusedForRoom: 0 };
  const provider = { ...fakeProvider(), status: () => ({ ...fakeStatus(), apps: [{ ...blog }] }) };
  server = await fakeAdminServer(provider);
  browser = await launchChromium();
  const { page, errors, navigations } = await openStatusPage(browser, `${server.url}/`, { shown: '[data-app="blog"] [data-errors]' });
  const failedTitle = () => page.$eval('[data-app="blog"] [data-errors]', (el) => (el as HTMLElement).title);
  assert.is(await page.$('[data-app="blog"] [data-memory-note]'), null);
  assert.is(await failedTitle(), 'responses with status 500 or above');

  blog = { ...blog, refusedForRoom: 2, websocketsRefusedForRoom: 1, workers: blog.workers.map((w, i) => ({ ...w, memoryNote: i === 0 ? NOTE : null })) };
  await page.waitForSelector('[data-app="blog"] [data-memory-note]', { timeout: 30_000 });
  assert.is(await page.$eval('[data-app="blog"] [data-memory-note]', (el) => el.textContent), `memory: ${NOTE}`);
  await page.waitForFunction(() => (document.querySelector('[data-app="blog"] [data-errors]') as HTMLElement).title.includes('websocket'), null, { timeout: 30_000 });
  assert.is(await failedTitle(), 'responses with status 500 or above; not the 2 requests and 1 websocket handshake the gateway refused (503) for want of room under --max-workers to wake it');

  // Websockets alone, and the note gone (max_memory raised: the app restarted without one).
  blog = { ...blog, refusedForRoom: 0, websocketsRefusedForRoom: 3, workers: blog.workers.map((w) => ({ ...w, memoryNote: null })) };
  await page.waitForFunction(() => !document.querySelector('[data-app="blog"] [data-memory-note]'), null, { timeout: 30_000 });
  assert.is(await page.$eval('[data-app="blog"] .memory-note', (el) => (el as HTMLElement).hidden), true);
  assert.is(await failedTitle(), 'responses with status 500 or above; not the 3 websocket handshakes the gateway refused (503) for want of room under --max-workers to wake it');
  assert.is(navigations(), 1, 'no reload');
  assert.equal(errors, []);
  await page.close();
});

test.run();
