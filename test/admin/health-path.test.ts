// /status's `health: null` and the page's `no probe` said the same of an app with no `health:`
// path and of one whose probe had not answered yet. A real gateway: `plain` has no path; `held`
// has one, and its import is held while a file of the test's is there, so its probe has not run.
// /status's `healthPath` tells them apart (`health` keeps its type), and the page says why.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { writePackage } from '../helpers/apps-dir.js';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { openStatusPage } from '../helpers/status-page.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('admin: why an app shows no health probe');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);

const dir = tempDir('apppkg-health-path-');
const state = warmStateDir('apppkg-health-path-state-');
const apps = join(dir.path, 'apps');
const staging = join(dir.path, 'staging');
const hold = join(dir.path, 'hold-import');
let gw: RunningGateway | undefined;
let browser: Browser | undefined;
const pids = new Set<number>();

function wsgi(head: string[]): string {
  return [
    ...head,
    'def application(environ, start_response):',
    '    start_response("200 OK", [("Content-Type", "text/plain")])',
    '    return [b"ok"]',
    '',
  ].join('\n');
}

test.before(async () => {
  mkdirSync(apps);
  mkdirSync(staging);
  writeFileSync(hold, '');
  writePackage(apps, 'plain', { 'app.yaml': 'platform: python, wsgi\napp: plain_app:application\n', 'plain_app.py': wsgi([]) });
  // Bounded, so that a test gone wrong leaves no import held for ever.
  writePackage(staging, 'held', {
    'app.yaml': 'platform: python, wsgi\napp: held_app:application\nhealth: /healthz\n',
    'held_app.py': wsgi(['import os, time', 'deadline = time.monotonic() + 50', `while os.path.exists(${JSON.stringify(hold)}) and time.monotonic() < deadline:`, '    time.sleep(0.05)', '']),
  });
  const env = join(dir.path, 'environment.yaml');
  writeFileSync(env, 'defaults:\n  workers: 1\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off', '--settle', '0']);
  renameSync(join(staging, 'held'), join(apps, 'held'));
  gw.child.kill('SIGHUP');
});

test.after(async () => {
  try {
    rmSync(hold, { force: true });
    await browser?.close().catch(() => {});
    await gw?.stop();
    await assertNoOrphans([...pids]);
  } finally {
    dir.remove();
    state.remove();
  }
});

async function appsWhen(ready: (apps: Record<string, any>) => boolean, what: string): Promise<Record<string, any>> {
  let seen: unknown;
  return waitFor(async () => {
    const status = await gatewayStatus(gw!);
    for (const pid of statusPids(status)) pids.add(pid);
    const byName = Object.fromEntries(status.apps.map((a: any) => [a.name, a]));
    seen = byName;
    return ready(byName) ? byName : undefined;
  }, 30_000, () => `${what}; apps: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
}

inBrowser('no health: path and a probe not answered yet differ in /status (healthPath) and on the page; the probe shows once it answers', async () => {
  const before = await appsWhen((a) => a.plain?.state === 'ready' && a.held?.state === 'starting', 'plain to serve and held to start');
  assert.is(before.plain.health, null);
  assert.is(before.plain.healthPath, null);
  assert.is(before.held.health, null);
  assert.is(before.held.healthPath, '/healthz');

  browser = await launchChromium();
  const { page, errors } = await openStatusPage(browser, `${gw!.adminUrl}/`, { shown: '[data-app="held"] [data-health]' });
  const text = (name: string): Promise<string | null> => page.$eval(`[data-app="${name}"] [data-health] .value`, (el) => el.textContent);
  assert.is(await page.$eval('[data-app="plain"] [data-health]', (el) => (el as HTMLElement).dataset.health), 'none');
  assert.is(await text('plain'), 'no health: path in app.yaml');
  assert.is(await page.$eval('[data-app="held"] [data-health]', (el) => (el as HTMLElement).dataset.health), 'pending');
  assert.is(await text('held'), 'GET /healthz not probed yet');

  rmSync(hold);
  const after = await appsWhen((a) => a.held?.state === 'ready' && a.held.health !== null, 'held to serve, probed');
  assert.is(after.held.health.ok, true);
  assert.is(after.held.healthPath, '/healthz');
  await page.waitForSelector('[data-app="held"] [data-health="ok"]', { timeout: 10_000 });
  assert.match(String(await text('held')), /^GET \/healthz \u2192 200 ok, /);
  assert.equal(errors, []);
  await page.close();
});

test.run();
