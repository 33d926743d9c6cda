// The status page shows an app's waiting mail on its card (docs/mail.md, "Status and metrics"),
// live: in Debian's chromium against a real gateway whose mail app answers 500, the card gets
// its `mail waiting` figure (count, the last reason, the next attempt) from the stream's `apps`
// events, and loses it once the app answers 200, without a reload; removed from --apps with mail
// waiting, the app has no card, and the header names it.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

/** How long the page may take to show a change: events come at most twice a second. */
const PAGE_MS = 15_000;

const test = suite('admin: an app\'s waiting mail on the status page');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const apps = tempDir('apppkg-page-mail-apps-');
const state = tempDir('apppkg-page-mail-state-');
const envFile = join(state.path, 'environment.yaml');
const answerFile = join(state.path, 'apps', 'alpha', 'data', 'answer');
let gw: RunningGateway | undefined;
let browser: Browser | undefined;
let pids: number[] = [];

test.after(async () => {
  await browser?.close().catch(() => {});
  await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
});

inBrowser('a mail app answering 500: its card shows how much waits, why and the next attempt, as events come; once it answers 200 that goes; removed, the header names it', async () => {
  addPackage(apps.path, 'mail-sink', 'alpha');
  // Retries far enough apart that the page is seen waiting for the next attempt.
  writeFileSync(envFile, 'mail:\n  listen: 127.0.0.1:0\n  retry: [4]\n  give_up: 600\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--environment', envFile], { ms: 60_000 });
  pids = statusPids(await gatewayStatus(gw));
  browser = await launchChromium();
  const { page, errors, navigations } = await openStatusPage(browser, `${gw.adminUrl}/`, { shown: '[data-app="alpha"] [data-requests]', ms: PAGE_MS, console: /(?:)/ });
  assert.is(await page.$('[data-app="alpha"] [data-mail-waiting]'), null, 'nothing waits yet');

  writeFileSync(answerFile, '500');
  assert.equal(await sendWithSmtplib(mailPort(gw.output()), 'ann@example.org', ['a@alpha.localhost'], message({ subject: 'for the page' })), { refused: {} });
  await page.waitForSelector('[data-app="alpha"] [data-mail-waiting="1"] [data-mail-reason]', { timeout: PAGE_MS });
  const shown = await page.$eval('[data-app="alpha"] [data-mail-waiting]', (el) => ({
    text: el.textContent,
    reason: el.querySelector('[data-mail-reason]')?.textContent,
    bad: el.classList.contains('bad'),
  }));
  assert.is(shown.reason, 'the app answered 500');
  assert.ok(shown.bad, 'shown as a failure');
  assert.match(shown.text!, /^mail waiting1 \(1 retrying(, 1 being attempted)?\), oldest \d+s; last failed (just now|\d+s ago): the app answered 500; (next (in \d+s|due now)|every one being attempted now); given up in [89]m \d\ds unless delivered$/);
  // The next attempt, as /status has it, counting down on the card.
  const next = (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'alpha').mail?.nextAttemptAt;
  if (next) await page.waitForSelector(`[data-app="alpha"] [data-mail-next="${next}"]`, { timeout: PAGE_MS });

  rmSync(answerFile);
  await page.waitForFunction(() => !document.querySelector('[data-app="alpha"] [data-mail-waiting]'), null, { timeout: PAGE_MS });
  assert.is((await gatewayStatus(gw)).apps.find((a: any) => a.name === 'alpha').mail, null);

  // Removed from --apps with mail waiting: no card, so the header names it.
  writeFileSync(answerFile, '500');
  assert.equal(await sendWithSmtplib(mailPort(gw.output()), 'ann@example.org', ['a@alpha.localhost'], message({ subject: 'alpha goes' })), { refused: {} });
  await page.waitForSelector('[data-app="alpha"] [data-mail-waiting="1"] [data-mail-reason]', { timeout: PAGE_MS });
  rmSync(join(apps.path, 'alpha'), { recursive: true, force: true });
  await page.waitForSelector('[data-mail-removed-app="alpha"]', { timeout: 30_000 });
  assert.is(await page.$('[data-app="alpha"]'), null, 'its card is gone');
  assert.match(await page.$eval('[data-mail-removed-app="alpha"]', (el) => el.textContent!), /^; 1 waiting for alpha \(no app now\)$/);
  assert.is(navigations(), 1, 'no reload: the stream\'s events brought it and took it away');
  assert.equal(errors, []);
  await page.close();
});

test.run();
