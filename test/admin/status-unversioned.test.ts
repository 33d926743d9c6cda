// An app whose directory has no `.VERSION` suffix has no version (SPEC 1.2): `status` printed its
// path where the version goes (`version /srv/apps/plain serving`). The built CLI's text, its
// --json, /status and the page (in Debian's chromium) against a real gateway and real Python.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { statusPids } from '../helpers/status.js';
import { openStatusPage } from '../helpers/status-page.js';

const test = suite('status: an app without a version');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
const dir = tempDir('apppkg-unversioned-');
const apps = join(dir.path, 'apps');
const state = join(dir.path, 'state');
let gw: RunningGateway | null = null;
let pids: number[] = [];

test.before(async () => {
  addPackage(apps, 'environ', 'plain');
  addPackage(apps, 'environ', 'blog.2');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0']);
  await waitFor(async () => {
    const status = await statusJson();
    pids = statusPids(status);
    return ['plain', 'blog'].every((name) => status.apps.find((a: any) => a.name === name)?.versions.some((v: any) => v.state === 'serving'));
  }, 90_000, 'plain and blog serving', ASK_GATEWAY_EVERY_MS);
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(pids);
  dir.remove();
});

async function statusJson(): Promise<any> {
  const res = await request(`${gw!.adminUrl}/status`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return res.body.json();
}

test('status says (unversioned) where a version goes, not the directory; --json and /status have version null and the directory apart', async () => {
  const r = await runCli(['status', '--state-dir', state], { ms: 30_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^plain:\n {2}version \(unversioned\) serving: /m);
  assert.match(r.stdout, /^blog:\n {2}version 2 serving: /m);
  assert.not.ok(r.stdout.includes(`version ${join(apps, 'plain')}`), r.stdout);
  // The table's VERSION column, as for an app that serves none.
  assert.match(r.stdout, /^plain\s+ready\s+-\s/m);

  const json = await runCli(['status', '--json', '--state-dir', state], { ms: 30_000 });
  assert.is(json.status, 0, json.stderr);
  for (const status of [JSON.parse(json.stdout), await statusJson()]) {
    const plain = status.apps.find((a: any) => a.name === 'plain');
    assert.is(plain.version, null);
    assert.equal(plain.versions.map((v: any) => [v.version, v.dir, v.state]), [[null, join(apps, 'plain'), 'serving']]);
  }
});

inBrowser('the page says (unversioned) too, the directory in its title', async () => {
  const browser = await launchChromium();
  try {
    const label = '[data-app="plain"] [data-version-state="serving"] .group-label';
    const { page, errors } = await openStatusPage(browser, `${gw!.adminUrl}/`, { shown: label });
    assert.is(await page.$eval(label, (el) => el.textContent), '(unversioned)');
    assert.is(await page.$eval(label, (el) => el.getAttribute('title')), join(apps, 'plain'));
    assert.equal(errors, []);
  } finally {
    await browser.close();
  }
});

test.run();
