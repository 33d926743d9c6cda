// The status page's line beside the dead letters' count: the retry and the delete in the words of
// whoever runs the gateway, and a tooltip that said "apppkg-gateway status lists the dead letters
// with their ids" on every gateway, a program's too, where no such command is at hand. In
// Debian's chromium, against a Gateway a program started (the library's), with dead letters a
// run before it kept: the tooltip lists their ids itself, from /status.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser } from 'playwright-core';
import { Gateway } from 'apppkg-gateway';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, within } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';

const test = suite('admin: the dead letters\' line on the status page of a program\'s gateway');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const work = tempDir('apppkg-page-dead-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const seen = new Set<number>();
let gateway: Gateway | null = null;
let browser: Browser | undefined;

/** Kept by an earlier run: one of blog's, and postmaster mail kept for no app. */
const DEAD = [['seeded-blog-0001', 'blog'], ['seeded-postmastr', '']] as const;

function seedDeadLetters(): void {
  const mail = join(state, 'mail');
  for (const sub of ['messages', 'queue', 'dead']) mkdirSync(join(mail, sub), { recursive: true, mode: 0o700 });
  const eml = 'From: ann@example.org\r\nSubject: seeded\r\n\r\nHello.\r\n';
  DEAD.forEach(([id, app], i) => {
    // Oldest first, as /status lists them.
    const at = Date.now() - 3_600_000 + i * 1000;
    const file = join(mail, 'dead', `${id}.eml`);
    writeFileSync(file, eml);
    writeFileSync(join(mail, 'dead', `${id}.json`), JSON.stringify({
      id, messageId: `m-${id}`, app, from: 'ann@example.org', to: [`x@${app || 'blog'}.localhost`], receivedAt: at, size: Buffer.byteLength(eml),
      attempts: 1, nextAttemptAt: at, lastError: 'the app refused it (406)', deadAt: at, reason: 'the app refused it (406)', file,
    }));
  });
}

test.after(async () => {
  await browser?.close().catch(() => {});
  await stopGatewayAndWork(gateway, work, seen);
});

inBrowser('a program\'s gateway: retry and delete in its calls, and the ids they take in the tooltip, not a command of the CLI', async () => {
  mkdirSync(apps);
  wsgiPackage(apps, 'blog', 'platform: python, wsgi\napp: wsgi:application\n');
  seedDeadLetters();
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'defaults:\n  workers: 1\nmail:\n  listen: 127.0.0.1:0\n  retry: [600]\n  give_up: 3600\n', { mode: 0o600 });
  gateway = await within(120_000, 'Gateway.start', Gateway.start({ apps, stateDir: state, environment, listen: '127.0.0.1:0', admin: '127.0.0.1:0', settleMs: 0, say: () => {} }));
  for (const pid of gateway.pids) seen.add(pid);
  browser = await launchChromium();
  const { page, errors } = await openStatusPage(browser, `${gateway.adminUrl}/`, { shown: '[data-mail-retry]', ms: 30_000 });
  const line = async (selector: string) => page.$eval(selector, (el) => ({ text: el.textContent ?? '', title: el.getAttribute('title') ?? '' }));
  const retry = await line('[data-mail-retry]');
  const del = await line('[data-mail-delete]');
  assert.is(retry.text, '; to deliver them again: gateway.retryMail({ ids: [ID, ...] }) (or { all: true, app: APP })');
  assert.is(del.text, '; to delete them for good: gateway.deleteMail({ ids: [ID, ...] }) (or { all: true, app: APP })');
  const ids = "the dead letters' ids, oldest first: seeded-blog-0001 (blog), seeded-postmastr (postmaster mail)";
  assert.is(retry.title, ids);
  assert.is(del.title, ids);
  assert.equal(errors, []);
  await page.close();
});

test.run();
