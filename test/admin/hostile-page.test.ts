// A developer runs the gateway on a laptop and browses the web: what can a hostile page in that
// browser do to the admin listener (SPEC 5.4, docs/admin.md "Who may do what")? In Debian's
// chromium, driven by playwright-core, against the admin server with a fixed status provider
// (plain data, as in admin-server.test.ts) whose every field the apps' authors control carries
// markup. The hostile site is a server on another loopback port (127.0.0.1: the same site as the
// admin listener; localhost: another site); a DNS rebinding is played by chromium's resolver
// mapping a foreign name to 127.0.0.1. Nothing may restart or roll back an app, read the status,
// the events or a log, frame the page, or run a script in it.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { hasChromium, launchChromium, NEEDS_CHROMIUM } from '../helpers/browser.js';
import type { AdminProvider, AdminServer } from '../../src/admin/admin-server.js';
import type { AppStatus, GatewayStatus } from '../../src/admin/status-types.js';
import { GatewayError } from '../../src/errors.js';
import { tempDir, waitFor, within } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { openStatusPage } from '../helpers/status-page.js';
import { fakeAdminServer, fakeStatus } from './fake-status.js';

const test = suite('admin: a hostile page in the browser');
const inBrowser = runIf(test, hasChromium, NEEDS_CHROMIUM);
/** A name the attacker's DNS first gave its own address, then 127.0.0.1. */
const REBOUND = 'rebound.example';
const WAIT_MS = 15_000;

const dir = tempDir('apppkg-hostile-');
const logFile = join(dir.path, 'app.log');
let adminServer: AdminServer | undefined;
/** The same, with --admin-token: the browser's user has logged in to it (HTTP Basic). */
let tokenServer: AdminServer | undefined;
const TOKEN = randomBytes(16).toString('hex');
let hostile: http.Server | undefined;
let browser: Browser | undefined;
let admin = '';
let hostilePort = 0;
/** What the provider was asked to do: nothing but what the page's own buttons ask. */
const asked: string[] = [];
/** 2 once the status has changed under the open page (a live update). */
let phase = 1;

/**
 * Text that runs `__x(tag)` if it ever becomes markup: a script, an inline handler (closing an
 * attribute first), an SVG's onload, and the end of a script element.
 */
function payload(tag: string): string {
  return `${tag}<script>__x("${tag}")</script>"><img src=x onerror="__x('${tag}')"></script><svg onload="__x('${tag}')"></svg>`;
}

/** The fields an app's author controls: its directory (name, version), its output, its probe's answer. */
function hostileStatus(): GatewayStatus {
  const s = fakeStatus();
  const exit = () => ({ pid: 9, code: 1, signal: null, at: s.now, uptimeSeconds: 3, reason: payload('exit'), failedToStart: null });
  const base = s.apps[0];
  const workers = base.workers.map((w) => ({ ...w, lastExit: exit(), recycled: 1, lastRecycle: { at: s.now, reason: payload('recycle') } }));
  const app: AppStatus = {
    ...base,
    name: payload('name'),
    version: payload('version'),
    mount: `/${payload('mount')}`,
    hosts: [payload('host')],
    user: payload('user'),
    canRollBack: true,
    versions: [
      { ...base.versions[0], version: payload('version'), dir: payload('dir'), workers },
      { ...base.versions[0], version: payload('refused'), state: 'refused', workers: [], reason: { code: 'APPPKG_APP_IMPORT_FAILED', message: payload('refusal'), hint: payload('hint') } },
    ],
    workers,
    restarting: [],
    processes: [{ name: payload('process'), pid: 77, state: 'running', route: payload('route'), port: 1, restarts: 1, startedAt: s.now, rssBytes: 1, cpuPercent: 1, lastExit: exit() }],
    problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: payload('problem'), hint: payload('fix'), log: payload('logpath'), tail: [payload('traceback')] },
    health: { path: payload('probe'), at: s.now, ok: false, status: null, error: payload('answer'), pid: 1001 },
    history: [{ at: s.now, kind: 'refused', version: payload('version'), from: payload('from'), message: payload('history'), reason: { code: 'APPPKG_APP_IMPORT_FAILED', message: payload('why'), tail: [payload('tail')] }, times: 2, lastAt: s.now }],
    log: { file: logFile, lines: [{ at: s.now, stream: 'stdout', text: payload('line') }, { at: s.now, stream: 'stderr', text: payload('stderr') }] },
    services: [{ name: payload('service'), kind: 'sqlite', state: 'failed', reason: payload('service-reason') }],
  };
  const apps = [app, { ...s.apps[1], name: 'blog' }];
  if (phase === 2) {
    app.log = { ...app.log, lines: [...app.log.lines!, { at: s.now, stream: 'stderr', text: payload('live-line') }] };
    apps.push({ ...s.apps[1], name: payload('live-app'), problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: payload('live-problem') } });
  }
  return { ...s, version: payload('gateway'), apps, broken: [{ dir: payload('broken'), code: 'APPPKG_DESC_INVALID', message: payload('broken-message') }] };
}

const provider: AdminProvider = {
  status: hostileStatus,
  sample: async () => {},
  logFileOf: () => logFile,
  restart: async (name) => {
    asked.push(`restart ${name}`);
    return { version: null, message: payload('restarted') };
  },
  rollback: async (name) => {
    asked.push(`rollback ${name}`);
    throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action: 'rollback', app: name, reason: payload('rollback-failed') });
  },
};

test.before(async () => {
  writeFileSync(logFile, `${payload('file-line')}\n`);
  adminServer = await fakeAdminServer(provider);
  admin = adminServer.url;
  tokenServer = await fakeAdminServer(provider, TOKEN);
  hostile = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>a site</title><p>nothing to see'));
  await new Promise<void>((resolve) => hostile!.listen(0, '127.0.0.1', resolve));
  hostilePort = (hostile.address() as AddressInfo).port;
  if (hasChromium) {
    browser = await launchChromium(
      // Chromium's own Private Network Access would refuse the rebound page's requests before
      // they reach the listener; Firefox and Safari have none: the listener's guard is tested.
      [`--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`, '--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks'],
    );
  }
});

test.after(async () => {
  await browser?.close().catch(() => {});
  await adminServer?.close();
  await tokenServer?.close();
  await new Promise<void>((resolve) => (hostile?.listening ? hostile.close(() => resolve()) : resolve()));
  dir.remove();
});

/**
 * A context whose pages can run the functions given to page.evaluate: a transform that keeps
 * inner functions' names (tsx's, esbuild's keepNames) calls a helper (__name) that only exists on this side.
 */
async function newContext(options: Parameters<Browser['newContext']>[0] = {}): Promise<BrowserContext> {
  const context = await browser!.newContext(options);
  await context.addInitScript({ content: 'window.__name = (f) => f;' });
  return context;
}

/**
 * Every request to the admin listener at `target` that ended, as `METHOD /path OUTCOME`: the
 * status the browser got, or `withheld` when it never let the page see one (a no-cors fetch or
 * a beacon to another origin: Cross-Origin-Resource-Policy), or the browser's error.
 */
function answersOf(context: BrowserContext, target: string): { list(): string[] } {
  const seen = new Map<Request, string>();
  const line = (r: Request, outcome: string) => `${r.method()} ${r.url().slice(target.length)} ${outcome}`;
  context.on('response', (r) => {
    if (r.url().startsWith(target)) seen.set(r.request(), line(r.request(), String(r.status())));
  });
  context.on('requestfailed', (r) => {
    // After an answer (a form's 403 the frame then refuses to show) the answer is what counts.
    if (!r.url().startsWith(target) || seen.has(r)) return;
    const error = r.failure()?.errorText ?? '';
    seen.set(r, line(r, error.startsWith('net::ERR_BLOCKED_BY_RESPONSE') ? 'withheld' : error));
  });
  return { list: () => [...seen.values()] };
}

for (const { site, token } of [{ site: '127.0.0.1', token: false }, { site: 'localhost', token: false }, { site: '127.0.0.1', token: true }]) {
  const who = site === 'localhost' ? 'another site' : 'the same site, another origin';
  inBrowser(`a page of http://${site}:PORT (${who})${token ? ', the user logged in to the admin with its token,' : ''} can neither act, nor read the status, events, logs or metrics, nor frame the page`, async () => {
    const target = token ? tokenServer!.url : admin;
    // Sent with every request to the admin listener, the hostile page's too: more than a
    // browser's remembered Basic login ever is, so a refusal here is one by Sec-Fetch-Site.
    const context = await newContext(token ? { httpCredentials: { username: 'admin', password: TOKEN, origin: target, send: 'always' } } : {});
    try {
      const answers = answersOf(context, target);
      const page = await context.newPage();
      await page.goto(`http://${site}:${hostilePort}/`);
      const read = await within(WAIT_MS * 2, 'the hostile page\'s tries', page.evaluate(async (target) => {
        // A form posted into a frame of its own, as a page does to act behind the user's back.
        const post = (action: string, enctype?: string) => new Promise<void>((resolve) => {
          const name = `f${Math.random()}`;
          const frame = Object.assign(document.createElement('iframe'), { name, onload: () => resolve() });
          const form = Object.assign(document.createElement('form'), { method: 'POST', action, target: name });
          if (enctype) form.enctype = enctype;
          form.append(Object.assign(document.createElement('input'), { name: 'x', value: 'y' }));
          document.body.append(frame, form);
          form.submit();
        });
        await post(`${target}/apps/blog/restart`, 'text/plain');
        await post(`${target}/apps/blog/rollback`);
        // Sent all the same; its opaque answer the browser withholds (Cross-Origin-Resource-Policy), and the fetch fails.
        await fetch(`${target}/apps/blog/restart`, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: 'x' }).catch(() => {});
        navigator.sendBeacon(`${target}/apps/blog/rollback`, 'x');
        await new Promise((resolve) => Object.assign(new Image(), { onload: resolve, onerror: resolve, src: `${target}/apps/blog/restart` }));
        const out: Record<string, string> = {};
        for (const path of ['/status', '/events', '/apps/blog/log', '/metrics', '/']) {
          // The status alone: the body of /events or of a followed log never ends.
          out[path] = await fetch(`${target}${path}`).then((r) => `read: ${r.status}`, () => 'refused');
        }
        out.EventSource = await new Promise<string>((resolve) => {
          const events = new EventSource(`${target}/events`);
          events.addEventListener('status', () => (events.close(), resolve('read')));
          events.onerror = () => (events.close(), resolve('refused'));
        });
        out.frame = await new Promise<string>((resolve) => {
          const frame = document.createElement('iframe');
          frame.onload = () => resolve('loaded');
          frame.src = `${target}/`;
          document.body.append(frame);
        });
        return out;
      }, target));
      for (const [what, outcome] of Object.entries(read).filter(([k]) => k !== 'frame')) assert.is(outcome, 'refused', `${what}: ${outcome}`);
      // The frame "loads" an error page of the browser's: the status page is in none of them.
      const frames = page.frames().filter((f) => f !== page.mainFrame());
      const shown = await Promise.all(frames.map((f) => f.evaluate(() => document.querySelector('[data-apps]') !== null).catch(() => false)));
      assert.equal(shown, frames.map(() => false), 'the status page in another site\'s frame');
      const posts = () => answers.list().filter((a) => a.startsWith('POST ')).map((a) => a.split(' ')[2]);
      await waitFor(() => posts().length >= 4, WAIT_MS, () => `the four POSTs answered: ${answers.list().join(', ')}`);
      // The forms are refused (403) for coming from another site, with the token's login too;
      // a no-cors fetch or a beacon the browser may send without the login (401), and what the
      // listener answered them it keeps from the page (withheld): nothing done is what counts.
      assert.ok(posts().every((status) => status === '403' || status === 'withheld' || (token && status === '401')), answers.list().join(', '));
      assert.ok(posts().filter((status) => status === '403').length >= 2, answers.list().join(', '));
      assert.equal(asked, [], 'nothing was restarted or rolled back');
    } finally {
      await context.close();
    }
  });
}

inBrowser(`after a DNS rebinding (http://${REBOUND}:PORT is 127.0.0.1), the rebound page gets 421 for the page, status, events, logs, metrics and actions`, async () => {
  const context = await newContext();
  try {
    const page = await context.newPage();
    const origin = `${REBOUND}:${new URL(admin).port}`;
    // The page the attacker's server gave first; its scripts now run in that origin, and the
    // name leads to the admin listener: each request is the same origin as the page.
    const first = await page.goto(`http://${origin}/`);
    assert.is(first?.status(), 421);
    const got = await within(WAIT_MS, 'the rebound page\'s tries', page.evaluate(async () => {
      const out: Record<string, string> = {};
      for (const path of ['/', '/status', '/apps/blog/log', '/apps/blog/log?follow=1', '/metrics', '/admin.js']) {
        out[path] = await fetch(path).then((r) => String(r.status), (e) => `failed: ${e}`);
      }
      out['POST /apps/blog/restart'] = await fetch('/apps/blog/restart', { method: 'POST' }).then((r) => String(r.status), (e) => `failed: ${e}`);
      out.EventSource = await new Promise<string>((resolve) => {
        const events = new EventSource('/events');
        events.addEventListener('status', () => (events.close(), resolve('read')));
        events.onerror = () => (events.close(), resolve('refused'));
      });
      return out;
    }));
    for (const [what, outcome] of Object.entries(got)) assert.is(outcome, what === 'EventSource' ? 'refused' : '421', what);
    assert.equal(asked, []);
  } finally {
    await context.close();
  }
});

/** Waits (bounded) until the page's text holds `text`. */
async function showing(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => document.body.textContent!.includes(t), text, { timeout: WAIT_MS });
}

for (const bypassCSP of [false, true]) {
  inBrowser(`markup in every field an app's author controls is shown as text, live updates and action answers too; no script runs${bypassCSP ? ' (the CSP set aside: the page\'s own escaping)' : ' (under the CSP)'}`, async () => {
    phase = 1;
    asked.length = 0;
    const context = await newContext({ bypassCSP });
    try {
      const { page, errors } = await openStatusPage(context, `${admin}/`, {
        shown: 'section.app',
        ms: WAIT_MS,
        before: (page) =>
          page.addInitScript(() => {
            const ran: string[] = ((window as any).__ran = []);
            (window as any).__x = (tag: string) => ran.push(tag);
            // Under the CSP an injected handler is refused, not run: a refusal is as much a failure.
            document.addEventListener('securitypolicyviolation', (e) => ran.push(`CSP refused ${e.violatedDirective}`));
          }),
      });
      await showing(page, payload('stderr'));
      phase = 2; // what the next event brings
      await showing(page, payload('live-line'));
      await showing(page, payload('live-problem'));
      const card = page.locator('section.app').first();
      await card.locator('[data-action="restart"]').click();
      await showing(page, payload('restarted'));
      await card.locator('[data-action="rollback"]').click();
      await showing(page, payload('rollback-failed'));

      const text = await page.evaluate(() => document.body.textContent!);
      for (const tag of ['name', 'version', 'mount', 'host', 'user', 'refused', 'refusal', 'exit', 'process', 'route', 'problem', 'fix', 'logpath', 'traceback', 'answer', 'history', 'why', 'tail', 'line', 'service', 'live-app', 'gateway', 'broken', 'broken-message']) {
        assert.ok(text.includes(payload(tag)), `${tag}'s text on the page, as text`);
      }
      const injected = await page.evaluate(() => [...document.querySelectorAll('img, svg, iframe, script')].map((el) => el.outerHTML.slice(0, 80)));
      assert.equal(injected, ['<script src="admin.js" defer=""></script>'], 'no element but the page\'s own script');
      assert.equal(await page.evaluate(() => (window as any).__ran), [], 'no script of the apps\' ran');
      assert.equal(errors, []);
      assert.equal(asked, [`restart ${payload('name')}`, `rollback ${payload('name')}`], 'the page\'s own buttons act');
    } finally {
      await context.close();
      asked.length = 0;
    }
  });
}

test.run();
