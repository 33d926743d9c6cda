// Debian's chromium, driven headless by playwright-core (nothing downloaded), for the tests of
// the admin page. One launch for every file, so that each runs the browser the same way, and
// keeps chromium's own log: when a page stops answering on a busy host, what chromium said (a
// GPU process that died, a renderer that hung) can go into the failure instead of being lost.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from './process.js';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const NEEDS_CHROMIUM = `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)`;

/** Each browser's log file: chromium's own lines, of every one of its processes. */
const logs = new WeakMap<Browser, string>();
/** How much of that log a failure shows; the D-Bus complaints of a host without one are left out. */
const SAID_LINES = 40;

/** Starts chromium with `args` after what every test needs: no sandbox (the tests run as root), a log. */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-chromium-log-'));
  const log = join(dir, 'chromium.log');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--enable-logging', `--log-file=${log}`, ...args],
    timeout: 30_000,
  }).catch((err) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  logs.set(browser, log);
  browser.on('disconnected', () => rmSync(dir, { recursive: true, force: true }));
  return browser;
}

/** What chromium last logged, for a failure's message. */
export function browserSaid(browser: Browser | undefined): string {
  const log = browser ? logs.get(browser) : undefined;
  let lines: string[] = [];
  try {
    if (log) lines = readFileSync(log, 'utf8').split('\n').filter((line) => line && !/dbus|D-Bus|org\.freedesktop/.test(line));
  } catch {
    // no log yet, or the browser is gone with it
  }
  return lines.length ? lines.slice(-SAID_LINES).join('\n') : '(nothing)';
}

/**
 * Clicks a button of the page while the test's own clients keep both cores busy. The button
 * must be enabled by the page's own account (its DOM), then it gets a real mouse click at its
 * place. Playwright's usual wait for a box that keeps still counts animation frames, and a
 * headless chromium on a saturated 2-core CI host once drew none for 15 s while its script ran
 * (2026-12-06): the click is forced past that wait. A covered or moved button still fails the
 * test, as the click then reaches something else and no answer comes.
 */
export async function clickUnderLoad(page: Page, selector: string, ms = 15_000): Promise<void> {
  const failed = (message: string) => new Error(`${message}\n--- chromium said ---\n${browserSaid(page.context().browser() ?? undefined)}`);
  const deadline = Date.now() + ms;
  let state = '';
  await waitFor(async () => {
    state = await page.$eval(selector, (el) => ((el as HTMLButtonElement).disabled ? 'disabled' : el.getClientRects().length ? 'shown' : 'hidden'));
    return state === 'shown';
  }, ms, selector, 100).catch(() => {
    throw failed(`${selector} stayed ${state} for ${ms} ms`);
  });
  try {
    await page.click(selector, { force: true, timeout: Math.max(1_000, deadline - Date.now()) });
  } catch (err) {
    throw failed((err as Error).message);
  }
}
