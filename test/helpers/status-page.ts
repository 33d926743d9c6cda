// The admin listener's status page (admin-page/) opened in chromium as its tests watch it: from
// before it loads, what its scripts threw (and what the console called an error, where a test
// counts that), and how often its main frame navigated, since a page that reloads itself would
// hide a live update that failed; handed over once it shows what the test begins with.
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';

export interface WatchedPage {
  page: Page;
  /** The answer to the page's own GET. */
  response: Response | null;
  /** Its scripts' errors, and the console's errors that `console` matched: none, on a good page. */
  errors: string[];
  /** Main-frame navigations since it was opened: 1 until it is reloaded. */
  navigations(): number;
}

export interface OpenOptions {
  /** A selector for what the page shows once it has drawn what the test needs (an app's row). */
  shown: string;
  /** How long it may take to show it. */
  ms?: number;
  /** Where its errors go: a file's own list, shared by its pages; a new one by default. */
  errors?: string[];
  /** A console error whose text matches this counts as an error too (a CSP refusal). */
  console?: RegExp;
  /** Done to the page before it loads: the test's own listeners, init scripts and routes. */
  before?: (page: Page) => Promise<unknown>;
}

/** Opens `url` in a new page of `from`, watched from its first load, and waits until it shows `shown`. */
export async function openStatusPage(from: Browser | BrowserContext, url: string, { shown, ms = 30_000, errors = [], console: counted, before }: OpenOptions): Promise<WatchedPage> {
  const page = await from.newPage();
  let navigations = 0;
  page.on('framenavigated', (frame) => frame === page.mainFrame() && navigations++);
  page.on('pageerror', (err) => errors.push(`script error: ${err.message}`));
  if (counted !== undefined) page.on('console', (msg) => msg.type() === 'error' && counted.test(msg.text()) && errors.push(`console: ${msg.text()}`));
  await before?.(page);
  const response = await page.goto(url);
  await page.waitForSelector(shown, { timeout: ms });
  return { page, response, errors, navigations: () => navigations };
}
