// The status page in a browser with JavaScript off (a locked-down browser, NoScript, a text
// browser's view): admin.js never runs, so the page can only say where the data is. It said
// "connecting" and "Waiting for the gateway's status..." beside its <noscript> notice, for ever,
// as if something were under way: what the page shows then is the notice alone.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('admin: the status page without JavaScript');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const work = tempDir('apppkg-page-noscript-');
let gw: RunningGateway | undefined;
let browser: Browser | undefined;

test.after(async () => {
  await browser?.close().catch(() => {});
  await gw?.stop();
  work.remove();
});

inBrowser('JavaScript off: the page shows its notice and the link to /status, nothing that claims to be connecting or waiting', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps, { recursive: true });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off'], { ms: 60_000 });
  browser = await launchChromium();
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const answer = await page.goto(`${gw.adminUrl}/`, { timeout: 15_000 });
  assert.is(answer?.status(), 200);
  const shown = await page.innerText('body', { timeout: 15_000 });
  assert.match(shown, /This page needs JavaScript; \/status has the same data as JSON\./);
  assert.not.match(shown, /connecting/i, shown);
  assert.not.match(shown, /Waiting for the gateway/i, shown);
  const link = await page.getAttribute('noscript a', 'href');
  const json = await context.request.get(new URL(link ?? '', `${gw.adminUrl}/`).href, { timeout: 15_000 });
  assert.is(json.status(), 200);
  assert.ok(Array.isArray((await json.json() as { apps: unknown }).apps), 'the /status of the page\'s link is the status JSON');
});

test.run();
