// An idle app whose wake fails (SPEC 5.6), as every reader of the gateway sees it: the 503's
// body and Retry-After, `status`, /status, the page and /metrics say the same thing. Its 503s
// are the serving version's failures as the app's (ERRORS and the version line agree); until
// idle.nextWakeAt its requests get the 503 at once, so apppkg_app_up is 0 and the 503 says when
// the first request wakes it again (a change to its files does not make that sooner). And a
// wake that waits past its start bound for room gets the "starting from idle" 503, which ERRORS
// and the version's failed count alike too.
// Through the real CLI, with real workers; the page in Debian's chromium.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { Browser } from 'playwright-core';
import { writePackage } from '../helpers/apps-dir.js';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, runCli, waitFor } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { idleGateways, slowstopAsleepInShutdown, writeSlowstop, type IdleEnv } from '../helpers/idle-gateways.js';
import { openStatusPage } from '../helpers/status-page.js';

const test = suite('idle apps: a failed wake');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);

type Env = IdleEnv;
const gateways = idleGateways('apppkg-wake-failed-');
const { opened, open, app, get } = gateways;
let browser: Browser | undefined;

async function metrics(env: Env): Promise<string> {
  return (await request(`${env.gw.adminUrl}/metrics`, { headersTimeout: 10_000 })).body.text();
}

test.after.each(() => gateways.stopAll());

test.after(async () => {
  await browser?.close();
});

/** An app `vault` at version 1 whose import raises while `broken` is there; asleep once this resolves. `settings`: more of its lines in the environment file. */
async function asleepVault(settings = ''): Promise<{ env: Env; broken: string; wakesFailed: () => Promise<any> }> {
  let broken = '';
  const env = await open([], `apps:\n  vault:\n    idle_timeout: 1\n    workers: 1\n${settings}`, [], (apps, dir) => {
    broken = join(dir, 'broken');
    writePackage(apps, 'vault.1', {
      'app.yaml': 'platform: python, wsgi\napp: vault:application\n',
      'vault.py': `import os\nif os.path.exists(${JSON.stringify(broken)}):\n    raise RuntimeError("no database")\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n`,
    });
  });
  await waitFor(async () => (await app(env, 'vault'))?.state === 'ready', 30_000, 'vault to serve', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await app(env, 'vault')).state === 'idle', 15_000, 'vault to go idle', ASK_GATEWAY_EVERY_MS);
  // Requests until the fourth wake has failed, then none: its back-off (4 s) runs on untouched.
  // A fifth failure within the minute would make it a crash loop, which says so by itself.
  const wakesFailed = (): Promise<any> =>
    waitFor(async () => {
      await get(env, '/vault/');
      const now = await app(env, 'vault');
      return now.history.filter((e: any) => e.kind === 'wake-failed').length >= 4 ? now : undefined;
    }, 30_000, 'four failed wakes', ASK_GATEWAY_EVERY_MS);
  return { env, broken, wakesFailed };
}

/** Leeway for the gateway's wall clock against this process's (wall-clock.ts keeps its own offset). */
const CLOCKS_MS = 100;
const ROUNDS = 3;

/**
 * An asleep vault whose wakes fail, read by every reader within its fourth failure's back-off
 * (4 s: a fifth failure within the minute would be a crash loop, so no longer one can be had):
 * /metrics, `status` and /status at once, then a request. Each answer must have come before
 * idle.nextWakeAt by this process's clock; on a loaded host (the CLI alone may take seconds to
 * start) one may come after, where the gateway rightly says otherwise (up, a wake tried): the
 * round is then taken again on a new gateway, whose back-off starts over.
 */
async function readWithinBackoff(): Promise<{ env: Env; first: Awaited<ReturnType<typeof get>>; looped: any; page: string; printed: { stdout: string }; after: any; during: Awaited<ReturnType<typeof get>> }> {
  const late: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const { env, broken, wakesFailed } = await asleepVault();
    writeFileSync(broken, '');
    const first = await get(env, '/vault/');
    const looped = await wakesFailed();
    const wakeAt = Date.parse(looped.idle.nextWakeAt as string);
    const inTime = (): boolean => Date.now() < wakeAt - CLOCKS_MS;
    const [page, printed, after] = await Promise.all([metrics(env), runCli(['status', '--admin', new URL(env.gw.adminUrl!).host], { ms: 15_000 }), app(env, 'vault')]);
    // Not asked once late: a request after nextWakeAt would wake it a fifth time.
    if (inTime()) {
      const during = await get(env, '/vault/');
      if (inTime()) return { env, first, looped, page, printed, after, during };
    }
    late.push(`round ${round}: its last read answered ${Date.now() - wakeAt} ms from nextWakeAt (in time below -${CLOCKS_MS})`);
    opened.splice(opened.indexOf(env), 1);
    await env.gw.stop();
    await assertNoOrphans([...env.pids]);
  }
  throw new Error(`no round read within the 4 s back-off: ${late.join('; ')}`);
}

test('failed wakes: their 503s count in the serving version\'s failed as in ERRORS; until idle.nextWakeAt the 503 says when it is woken again, status shows it, and apppkg_app_up is 0', async () => {
  const { env, first, looped, page, printed, after, during } = await readWithinBackoff();
  assert.is(first.status, 503, first.body);
  // Not a refusal for good ("it was refused" read as one): when it is tried again.
  assert.match(first.body, /^vault could not be woken from idle \(APPPKG_APP_IMPORT_FAILED\); the (first request after \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+ s\)|next request) wakes it again; `apppkg-gateway status` says why$/m, first.body);
  assert.ok(after.idle.nextWakeAt, `status read within the back-off: ${JSON.stringify(after.idle)}`);
  assert.is(after.state, 'idle', 'four failures are no crash loop yet');
  assert.match(page, /^apppkg_app_up\{app="vault"\} 0$/m, 'a failed wake held off: its requests get 503 at once');
  assert.match(page, /^apppkg_app_idle\{app="vault"\} 1$/m);
  const wakeAt = looped.idle.nextWakeAt as string;
  assert.is(after.idle.nextWakeAt, wakeAt, 'no wake since');
  assert.is(during.status, 503);
  assert.ok(Number(during.headers['retry-after']) >= 1, String(during.headers['retry-after']));
  assert.ok(during.body.includes(`the first request after ${wakeAt} (in `), `${during.body} / nextWakeAt ${wakeAt}`);

  // The app's ERRORS and its serving version's failed count the same 503s.
  const serving = after.versions.find((v: any) => v.state === 'serving');
  assert.ok(after.errors >= 5, `errors ${String(after.errors)}`);
  assert.is(serving.failed, after.errors, `version failed ${String(serving.failed)}, app errors ${String(after.errors)}`);
  assert.is(serving.requests, after.requests);
  // And status prints them so: its version line, the failed wakes (wakes, not requests), the next.
  const out = printed.stdout;
  assert.match(out, new RegExp(`version 1 serving: ${String(after.requests)} served, ${String(after.errors)} failed`), out);
  assert.match(out, /vault:[\s\S]*0 cold starts; \d+ wakes failed/, out);
  assert.match(out, new RegExp(`next wake: at the first request after ${wakeAt.replace(/[.]/g, '\\.')} \\(in \\d+(\\.\\d+)? s\\); until then its requests get 503 at once`), out);
  // So does its history, whose event said "the next try is in 4 s", as if one came by itself.
  const events = after.history.filter((e: any) => e.kind === 'wake-failed');
  assert.match(events.at(-1).message, /^vault could not be woken; the first request after 4 s wakes it again: /, events.at(-1).message);
  // Its fix says what tries it again: not a change to its files, as for a refused version.
  assert.match(after.problem.hint, /the first request after its back-off \(`next wake` in status\) wakes it again/, after.problem.hint);
  assert.not.match(after.problem.hint, /a change to any file of the version retries it/);
  // And the command that repeats the import names the app's directory, not a placeholder.
  assert.ok(after.problem.hint.includes(`\`apppkg-gateway check ${join(env.apps, 'vault.1')}\` repeats the import`), after.problem.hint);
});

// With `queue: 0` nothing waits for a wake, and within the back-off of a failed one no wake
// starts: its 503 said "starting from idle; try again" with Retry-After 1, where the same
// request with a queue was told the wake failed and when it is tried again (until 2026-12-08).
test('queue: 0: within the back-off of a failed wake, its 503 says the wake failed, when it is tried again, with that Retry-After, and counts as the app\'s, as with a queue', async () => {
  const late: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const { env, broken, wakesFailed } = await asleepVault('    queue: 0\n');
    writeFileSync(broken, '');
    const looped = await wakesFailed();
    const wakeAt = looped.idle.nextWakeAt as string;
    const wakeAtMs = Date.parse(wakeAt);
    const inTime = (): boolean => Date.now() < wakeAtMs - CLOCKS_MS;
    if (inTime()) {
      const during = await get(env, '/vault/');
      const answeredInTime = inTime();
      const after = await app(env, 'vault');
      // No wake tried since (a late answer would have started one): the back-off answered it.
      if (answeredInTime && after.idle.nextWakeAt === wakeAt) {
        assert.is(during.status, 503, during.body);
        assert.match(during.body, /^vault could not be woken from idle \(APPPKG_APP_IMPORT_FAILED\); the first request after \S+ \(in \d+ s\) wakes it again; `apppkg-gateway status` says why$/m, during.body);
        assert.ok(during.body.includes(`the first request after ${wakeAt} (in `), `${during.body} / nextWakeAt ${wakeAt}`);
        const retryAfter = Number(during.headers['retry-after']);
        const inSeconds = Number(/\(in (\d+) s\)/.exec(during.body)![1]);
        assert.is(retryAfter, inSeconds, `Retry-After ${String(during.headers['retry-after'])}, the body's ${inSeconds} s`);
        // Counted as the wake-failed 503s of an app with a queue: the app's ERRORS and its serving version's failed alike.
        const servingOf = (vault: any): any => vault.versions.find((v: any) => v.state === 'serving');
        assert.is(after.errors, looped.errors + 1, `errors ${String(looped.errors)} -> ${String(after.errors)}`);
        assert.is(servingOf(after).failed, after.errors, `version failed ${String(servingOf(after).failed)}, app errors ${String(after.errors)}`);
        assert.is(after.refusedForRoom ?? 0, 0);
        return;
      }
    }
    late.push(`round ${round}: its request answered ${Date.now() - wakeAtMs} ms from nextWakeAt (in time below -${CLOCKS_MS})`);
    opened.splice(opened.indexOf(env), 1);
    await env.gw.stop();
    await assertNoOrphans([...env.pids]);
  }
  throw new Error(`no round asked within the 4 s back-off: ${late.join('; ')}`);
});

test('a wake that waits for room past its start bound (start_timeout 2 and 3 s): 503 "starting from idle ... within 5 s" with Retry-After, in ERRORS and the version\'s failed alike, not a failed wake; the wake goes on and serves', async () => {
  const env = await open([], 'defaults:\n  workers: 1\napps:\n  slowstop:\n    idle_timeout: 1\n  quick:\n    timeout: 1\n    start_timeout: 2\n', ['--max-workers', '1'], (apps) => {
    writePackage(apps, 'quick', {
      'app.yaml': 'platform: python, wsgi\napp: quick:application\n',
      'quick.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"quick"]\n',
    });
    writeSlowstop(apps, 8); // a pool closed slowly: longer than quick's 5 s
  });
  const stopping = await slowstopAsleepInShutdown(gateways, env);
  const before = await app(env, 'quick');
  const servingOf = (quick: any): any => quick.versions.find((v: any) => v.state === 'serving');
  // quick's wake waits for slowstop's room (8 s) past its own bound: start_timeout 2 and 3 s.
  const res = await get(env, '/quick/');
  assert.is(res.status, 503, res.body);
  assert.match(res.body, /quick is starting from idle and did not take the request within 5 s; try again/, res.body);
  assert.ok(res.headers['retry-after'], 'Retry-After');
  const quick = await app(env, 'quick');
  assert.is(quick.state, 'waking', 'the wake goes on');
  assert.is(quick.idle.coldStartFailures ?? 0, 0, 'no failed wake: it was still starting');
  // The app did not take it within its own start bound: its ERRORS and its serving version's
  // failed count it alike (a refusal for want of room, none able to sleep, is in neither).
  assert.is(quick.errors, before.errors + 1);
  assert.is(servingOf(quick).failed, servingOf(before).failed + 1, `version ${JSON.stringify(servingOf(quick))}, app errors ${String(quick.errors)}`);
  // Once slowstop's worker is gone, the wake serves.
  await waitFor(async () => (await get(env, '/quick/')).body === 'quick', 20_000, 'quick to serve once its room came', ASK_GATEWAY_EVERY_MS);
  assert.not.ok(isAlive(stopping));
  assert.is((await app(env, 'quick')).idle.coldStarts, 1);
});

inBrowser('the page shows the failed wakes (wakes, not requests) and, until it, when the first request wakes it again', async () => {
  browser ??= await launchChromium();
  const chromium = browser;
  // As readWithinBackoff: each read timed against idle.nextWakeAt, a late round taken again on a new gateway.
  const late: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const { env, broken, wakesFailed } = await asleepVault();
    const context = await chromium.newContext();
    try {
      const { page, errors } = await openStatusPage(context, `${env.gw.adminUrl}/`, { shown: '[data-app="vault"] [data-cold-starts]', ms: 15_000 });
      writeFileSync(broken, '');
      const looped = await wakesFailed();
      // Drawn from the event the fourth failure sent, within its 4 s back-off (the third's, 2 s, may show first).
      const wakeAt = looped.idle.nextWakeAt as string;
      const wakeAtMs = Date.parse(wakeAt);
      const inTime = (): boolean => Date.now() < wakeAtMs - CLOCKS_MS;
      const shown = inTime()
        ? await page.waitForFunction((at) => document.querySelector('[data-app="vault"] [data-next-wake]')?.getAttribute('data-next-wake') === at, wakeAt, { timeout: 3000 }).then(() => true, (err: Error) => {
            if (inTime()) throw err;
            return false;
          })
        : false;
      if (shown) {
        const next = (await page.$('[data-app="vault"] [data-next-wake]'))!;
        const nextText = (await next.textContent()) ?? '';
        const stat = await page.$eval('[data-app="vault"] [data-cold-starts]', (el) => [el.textContent ?? '', el.getAttribute('title') ?? '']);
        if (inTime()) {
          assert.match(nextText, /^(in \d|due now)/);
          assert.match(stat[0], /0; \d+ wakes failed; next wake/, stat[0]);
          assert.match(stat[1], /its last wake failed: the first request after .* wakes it again/, stat[1]);
          assert.equal(errors, []);
          return;
        }
      }
      late.push(`round ${round}: its last read answered ${Date.now() - wakeAtMs} ms from nextWakeAt (in time below -${CLOCKS_MS})`);
    } finally {
      await context.close();
    }
    opened.splice(opened.indexOf(env), 1);
    await env.gw.stop();
    await assertNoOrphans([...env.pids]);
  }
  throw new Error(`no round read the page within the 4 s back-off: ${late.join('; ')}`);
});

test.run();
