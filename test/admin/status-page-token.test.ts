// The status page logged in with an admin token (HTTP Basic) that the gateway no longer takes:
// the token rotated and the gateway restarted (systemctl restart), so the stream's reconnects
// get 401. EventSource says nothing of why it gave up, and the page said "disconnected,
// retrying" for ever, which no retry mends; it now says the login was refused and to reload.
// The same when the token is rotated while the gateway runs (SIGHUP): the gateway ends the
// stream the old token opened, and the page's reconnect is refused as after a restart.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';

const PAGE_MS = 15_000;

const test = suite('admin: the status page when its login is refused');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const work = tempDir('apppkg-page-token-');
const tokenFile = join(work.path, 'admin-token');
const apps = join(work.path, 'apps');
let gw: RunningGateway | undefined;
let browser: Browser | undefined;

test.after(async () => {
  await browser?.close().catch(() => {});
  await gw?.stop();
  work.remove();
});

const gateway = (admin: string) =>
  startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', admin, '--admin-token', tokenFile, '--state-dir', join(work.path, 'state'), '--access-log', 'off'], { ms: 60_000 });

inBrowser('the token changed under a logged-in page (rotated, the gateway restarted): the page says its login was refused and to reload, not "retrying" for ever', async () => {
  writeFileSync(tokenFile, 'first-token-5d2a\n', { mode: 0o600 });
  mkdirSync(apps, { recursive: true });
  gw = await gateway('127.0.0.1:0');
  const admin = new URL(gw.adminUrl!).host;
  browser = await launchChromium();
  const context = await browser.newContext({ httpCredentials: { username: 'admin', password: 'first-token-5d2a', send: 'always' } });
  const { page, navigations } = await openStatusPage(context, `${gw.adminUrl}/`, { shown: '[data-connection="live"]', ms: PAGE_MS });

  await gw.stop();
  writeFileSync(tokenFile, 'second-token-9e4b\n', { mode: 0o600 });
  gw = await gateway(admin);
  const text = () => page.$eval('[data-connection]', (el) => el.textContent ?? '');
  const said = await waitFor(async () => {
    const now = await text();
    return /401/.test(now) ? now : undefined;
  }, PAGE_MS, 'the page to say its login was refused');
  assert.match(said, 'the gateway refused the login (401): its admin token changed; reload the page and log in with the new one');
  assert.is(await page.$eval('[data-connection]', (el) => el.getAttribute('data-connection')), 'error');
  // Still tried: the gateway said so, and a page left open is no worse than before.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  assert.match(await text(), /401/, 'the next retry keeps saying why');
  assert.is(navigations(), 1, 'no reload of its own');
});

inBrowser('the token rotated under a logged-in page (SIGHUP): its stream ends, and the page says its login was refused and to reload', async () => {
  // The gateway of the test above, serving with the second token.
  const context = await browser!.newContext({ httpCredentials: { username: 'admin', password: 'second-token-9e4b', send: 'always' } });
  const { page } = await openStatusPage(context, `${gw!.adminUrl}/`, { shown: '[data-connection="live"]', ms: PAGE_MS });
  writeFileSync(tokenFile, 'third-token-41c7\n', { mode: 0o600 });
  gw!.child.kill('SIGHUP');
  const said = await waitFor(async () => {
    const now = await page.$eval('[data-connection]', (el) => el.textContent ?? '');
    return /401/.test(now) ? now : undefined;
  }, PAGE_MS, 'the page to say its login was refused');
  assert.match(said, 'the gateway refused the login (401): its admin token changed; reload the page and log in with the new one');
  await context.close();
});

test.run();
