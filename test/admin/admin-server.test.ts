// The admin listener on real sockets (TCP at port 0 and a unix socket), with a fixed status
// provider: plain data standing in for what the gateway reports, not a mocked gateway.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { statSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { runCli, tempDir, within } from '../helpers/process.js';
import { fakeProvider, fakeStatus } from './fake-status.js';
import { runIf } from '../helpers/skip.js';

interface Target {
  name: string;
  start(): Promise<{ server: AdminServer; agent: Agent; origin: string; connect(): net.Socket; asked: string[] }>;
  cleanup(): void;
}

const sockDir = tempDir('apppkg-admin-');
let sockets = 0;
const TARGETS: Target[] = [
  {
    name: 'tcp',
    async start() {
      const provider = fakeProvider();
      const server = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider, metrics: metricsWithTraffic() });
      const port = Number(new URL(server.url).port);
      return { server, agent: new Agent({ headersTimeout: 5000, bodyTimeout: 5000 }), origin: server.url, connect: () => net.connect(port, '127.0.0.1'), asked: provider.asked };
    },
    cleanup() {},
  },
  {
    name: 'unix',
    async start() {
      const path = join(sockDir.path, `admin-${++sockets}.sock`);
      const provider = fakeProvider();
      const server = await startAdminServer({ listen: { kind: 'unix', path }, provider, metrics: metricsWithTraffic() });
      return {
        server,
        asked: provider.asked,
        agent: new Agent({ headersTimeout: 5000, bodyTimeout: 5000, connect: { socketPath: path } }),
        origin: 'http://localhost',
        connect: () => net.connect(path),
      };
    },
    cleanup: () => sockDir.remove(),
  },
];

function metricsWithTraffic(): GatewayMetrics {
  const m = new GatewayMetrics({ status: fakeStatus });
  m.observeRequest('blog', 200, 0.02);
  m.observeRequest('blog', 503, 0.001);
  return m;
}

for (const target of TARGETS) {
  const test = suite(`admin server over ${target.name}`);
  let ctx: Awaited<ReturnType<Target['start']>>;
  test.before(async () => {
    ctx = await target.start();
  });
  test.after(async () => {
    await within(5000, 'cleanup', Promise.all([ctx?.server.close(), ctx?.agent.destroy()]));
    target.cleanup();
  });

  const get = (path: string, method: 'GET' | 'POST' | 'HEAD' = 'GET') =>
    within(5000, `${method} ${path}`, request(`${ctx.origin}${path}`, { method, dispatcher: ctx.agent }).then(async (r) => ({ status: r.statusCode, headers: r.headers, body: await r.body.text() })));

  test('GET /status round-trips the provider\'s JSON, with what this client may do', async () => {
    const r = await get('/status');
    assert.is(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const { access, ...status } = JSON.parse(r.body);
    assert.equal(status, fakeStatus());
    assert.equal(access, { act: true, logs: true, why: null });
  });

  test('GET /metrics is Prometheus text with the request counters and gauges', async () => {
    const r = await get('/metrics');
    assert.is(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^apppkg_requests_total\{app="blog",code="2xx"\} 1$/m);
    assert.match(r.body, /^apppkg_requests_total\{app="blog",code="5xx"\} 1$/m);
    assert.match(r.body, /^apppkg_app_up\{app="shop"\} 0$/m);
  });

  test('GET / is the status page under a strict CSP; unknown paths are 404; other methods 405', async () => {
    const index = await get('/');
    assert.is(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.match(String(index.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.match(index.body, /admin\.js/);
    for (const asset of ['/admin.js', '/admin.css']) assert.is((await get(asset)).status, 200, asset);
    const missing = await get('/nope');
    assert.is(missing.status, 404);
    assert.match(missing.body, /no such admin endpoint/);
    const post = await get('/status', 'POST');
    assert.is(post.status, 405);
    assert.is(post.headers.allow, 'GET, HEAD');
    const head = await get('/status', 'HEAD');
    assert.is(head.status, 200);
    assert.is(head.body, '');
  });

  test('every answer carries each security header once, the event stream, a followed log and every error too', async () => {
    const asks: Array<[string, 'GET' | 'HEAD' | 'POST', Record<string, string>]> = [
      ...['/', '/admin.js', '/admin.css', '/status', '/metrics', '/events', '/apps/blog/log', '/apps/blog/log?follow=1'].map((p): [string, 'GET', Record<string, string>] => [p, 'GET', {}]),
      ['/status', 'HEAD', {}],
      ['/nope', 'GET', {}], // 404
      ['/apps/blog/restart', 'GET', {}], // 405
      ['/apps/%E0%A4%A/log', 'GET', {}], // 400
      ['/apps/blog/restart', 'POST', { 'sec-fetch-site': 'cross-site' }], // 403 from the guard
      ['/apps/nope/restart', 'POST', {}], // 404 from the route
    ];
    for (const [path, method, headers] of asks) {
      // Headers only: /events and a followed log never end.
      const r = await within(5000, `${method} ${path}`, request(`${ctx.origin}${path}`, { method, headers, dispatcher: ctx.agent }));
      r.body.on('error', () => {}).destroy(); // the abort is ours
      const what = `${method} ${path} (${r.statusCode} ${String(r.headers['content-type'])})`;
      assert.is(r.headers['x-content-type-options'], 'nosniff', what);
      assert.is(r.headers['x-frame-options'], 'DENY', what);
      assert.is(r.headers['cross-origin-resource-policy'], 'same-origin', what);
      assert.is(r.headers['cross-origin-opener-policy'], 'same-origin', what);
    }
    assert.equal(ctx.asked, []);
  });

  test('a POST another site\'s page sent is refused naming what said so, with the fix; nothing is done', async () => {
    const post = (headers: Record<string, string>) =>
      within(5000, 'POST restart', request(`${ctx.origin}/apps/blog/restart`, { method: 'POST', headers, dispatcher: ctx.agent }).then(async (r) => ({ status: r.statusCode, body: JSON.parse(await r.body.text()) })));
    for (const [headers, said] of [
      [{ 'sec-fetch-site': 'same-site' }, 'Sec-Fetch-Site: same-site'],
      [{ 'sec-fetch-site': 'cross-site' }, 'Sec-Fetch-Site: cross-site'],
      [{ origin: 'http://evil.example' }, 'Origin: http://evil.example'],
      // What a browser sends: the page (another port of 127.0.0.1 is the same site, not the same origin).
      [{ origin: 'http://127.0.0.1:3000', 'sec-fetch-site': 'same-site' }, 'Origin: http://127.0.0.1:3000; Sec-Fetch-Site: same-site'],
    ] as [Record<string, string>, string][]) {
      const r = await post(headers);
      assert.is(r.status, 403);
      assert.ok(r.body.error.message.includes(`(${said})`), r.body.error.message);
      assert.match(r.body.error.hint, /apppkg-gateway restart NAME/);
    }
    assert.equal(ctx.asked, []);
  });

  test('an app name that is not valid percent-encoding is a 400 that says so, not a 500', async () => {
    const r = await get('/apps/%E0%A4%A/log');
    assert.is(r.status, 400);
    assert.match(r.body, /not valid percent-encoding/);
    assert.is((await get('/apps/nope%20app/log')).status, 404);
  });

  if (target.name === 'unix') {
    test('the unix socket is mode 0600 (whoever connects may act) and removed on close', async () => {
      const path = join(sockDir.path, 'admin-1.sock');
      assert.is(statSync(path).mode & 0o777, 0o600);
      const other = await startAdminServer({ listen: { kind: 'unix', path: join(sockDir.path, 'other.sock') }, provider: fakeProvider(), metrics: new GatewayMetrics({ processMetrics: false }) });
      assert.is(other.url, `unix:${join(sockDir.path, 'other.sock')}`);
      await within(3000, 'close', other.close());
      assert.not.ok(existsSync(join(sockDir.path, 'other.sock')));
    });

    // nobody: an app's user here; the gateway (root) chowns the socket to it.
    runIf(test, process.getuid?.() === 0, 'needs root: --socket-owner chowns the socket to another user')(
      '--socket-owner giving the unix socket to the user an app runs as: logs and actions need the token (403 saying so), as on loopback; apps never act through the admin',
      async () => {
        const NOBODY = 65534;
        const ask = async (socketUid: number, users: Array<{ name: string; user: string; uid: number }>) => {
          const path = join(sockDir.path, `owned-${socketUid}.sock`);
          const server = await startAdminServer({
            listen: { kind: 'unix', path }, provider: fakeProvider(), metrics: new GatewayMetrics({ processMetrics: false }),
            appsRunAsOthers: true, appUsers: () => users, socketOwner: { uid: socketUid },
          });
          const agent = new Agent({ headersTimeout: 5000, bodyTimeout: 5000, connect: { socketPath: path } });
          const one = (route: string, method = 'GET') =>
            within(5000, `${method} ${route}`, request(`http://localhost${route}`, { method, dispatcher: agent }).then(async (r) => ({ status: r.statusCode, body: await r.body.text() })));
          try {
            assert.is(statSync(path).uid, socketUid);
            // /status once the logs are allowed: a status with them withheld needs a whole one, which the fake is not.
            return { log: await one('/apps/blog/log'), restart: await one('/apps/blog/restart', 'POST'), status: users.length === 1 ? JSON.parse((await one('/status')).body) : null };
          } finally {
            await within(5000, 'cleanup', Promise.all([server.close(), agent.destroy()]));
          }
        };
        const owned = await ask(NOBODY, [{ name: 'blog', user: 'nobody', uid: NOBODY }, { name: 'shop', user: 'root', uid: 0 }]);
        assert.is(owned.log.status, 403, owned.log.body);
        assert.is(owned.restart.status, 403, owned.restart.body);
        const refusal = JSON.parse(owned.log.body).error;
        assert.match(refusal.message, 'the admin socket is nobody\'s (--socket-owner), the user that blog runs as: its processes could act through it');
        assert.match(refusal.hint, '--socket-owner root:GROUP');
        assert.match(refusal.hint, '--admin-token FILE');
        // A socket owner no app runs as (daemon, uid 1): the mode is the guard, as before.
        const apart = await ask(1, [{ name: 'blog', user: 'nobody', uid: NOBODY }]);
        assert.is(apart.log.status, 200, apart.log.body);
        assert.equal([apart.status.access.act, apart.status.access.logs], [true, true]);
      },
    );

    test('with --admin-token the unix socket asks for it too, as the flag says of every admin route: it was ignored there, so a socket given to nginx\'s user to proxy was open to whoever nginx let in', async () => {
      const path = join(sockDir.path, 'with-token.sock');
      const provider = fakeProvider();
      const server = await startAdminServer({ listen: { kind: 'unix', path }, provider, metrics: new GatewayMetrics({ processMetrics: false }), token: 'unix-token-7c1d' });
      const agent = new Agent({ headersTimeout: 5000, bodyTimeout: 5000, connect: { socketPath: path } });
      const ask = (route: string, method = 'GET', authorization?: string) =>
        within(5000, `${method} ${route}`, request(`http://localhost${route}`, { method, dispatcher: agent, headers: authorization ? { authorization } : {} }).then(async (r) => {
          const body = r.statusCode === 200 && (route === '/events' || route.includes('follow')) ? (r.body.on('error', () => {}).destroy(), '') : await r.body.text();
          return { status: r.statusCode, headers: r.headers, body };
        }));
      try {
        for (const route of ['/', '/admin.js', '/status', '/events', '/metrics', '/apps/blog/log', '/apps/blog/log?follow=1']) {
          const r = await ask(route);
          assert.is(r.status, 401, `GET ${route} without the token`);
          assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
        }
        assert.is((await ask('/apps/blog/restart', 'POST')).status, 401);
        assert.is((await ask('/status', 'GET', 'Bearer wrong')).status, 401);
        const bearer = await ask('/status', 'GET', 'Bearer unix-token-7c1d');
        assert.is(bearer.status, 200);
        assert.equal(JSON.parse(bearer.body).access, { act: true, logs: true, why: null });
        assert.is((await ask('/status', 'GET', `Basic ${Buffer.from('anyone:unix-token-7c1d').toString('base64')}`)).status, 200);
        assert.is((await ask('/events', 'GET', 'Bearer unix-token-7c1d')).status, 200);
        // The CLI without it: refused, and the fix is the token, not "use its unix: admin socket".
        const cli = await runCli(['status', '--admin', `unix:${path}`], { ms: 15_000 });
        assert.is(cli.status, 1, cli.stderr);
        assert.match(cli.stderr, `unix:${path} refused GET /status: HTTP 401`);
        assert.match(cli.stderr, '  fix: pass --admin-token FILE with the file the gateway was started with: given one, its unix: socket asks for the token too\n');
        // A wrong token is told so, and the fix names the file it came from: it said the listener
        // "needs its token" and to pass --admin-token FILE, to a command that had passed one.
        const wrongFile = join(sockDir.path, 'wrong-token');
        writeFileSync(wrongFile, 'not-the-token\n', { mode: 0o600 });
        const wrong = await runCli(['status', '--admin', `unix:${path}`, '--admin-token', wrongFile], { ms: 15_000 });
        assert.is(wrong.status, 1, wrong.stderr);
        assert.match(wrong.stderr, `unix:${path} refused GET /status: HTTP 401: the token sent is not this admin listener's (a wrong one, or one a SIGHUP rotated out)`);
        assert.match(wrong.stderr, `  fix: the token in ${wrongFile} is not the one the gateway holds: pass --admin-token the file the gateway was started with`);
        assert.not.match(wrong.stderr, /needs its token/);
      } finally {
        await within(5000, 'cleanup', Promise.all([server.close(), agent.destroy()]));
      }
    });
  }

  if (target.name === 'tcp') {
    test('a Host that is not a loopback name is refused on every route (DNS rebinding), naming the URL to use; loopback names are served', async () => {
      const port = Number(new URL(ctx.origin).port);
      // Headers only: /events and a followed log never end.
      const withHost = (path: string, host: string, method = 'GET') =>
        within(5000, `${method} ${path} as ${host}`, request(`${ctx.origin}${path}`, { method, headers: { host }, dispatcher: ctx.agent }).then(async (r) => {
          const body = r.statusCode === 421 ? JSON.parse(await r.body.text()) : (r.body.on('error', () => {}).destroy(), null);
          return { status: r.statusCode, body };
        }));
      for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example:${port}`, `0.0.0.0:${port}`]) {
        for (const path of ['/', '/admin.js', '/status', '/events', '/metrics', '/apps/blog/log', '/apps/blog/log?follow=1']) {
          const r = await withHost(path, host);
          assert.is(r.status, 421, `GET ${path} as ${host}`);
          assert.match(r.body.error.message, /DNS rebinding/);
          assert.ok(r.body.error.hint.includes(`use http://127.0.0.1:${port}/ (the CLI: --admin 127.0.0.1:${port})`), r.body.error.hint);
          assert.match(r.body.error.hint, /--admin-token FILE/);
        }
        assert.is((await withHost('/apps/blog/restart', host, 'POST')).status, 421);
      }
      assert.equal(ctx.asked, []);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `blog.localhost:${port}`, `LOCALHOST:${port}`]) {
        for (const path of ['/', '/status', '/events']) assert.is((await withHost(path, host)).status, 200, `GET ${path} as ${host}`);
      }
    });
  }

  test('close() does not hang on a keep-alive client or a half-sent request', async () => {
    const own = await target.start();
    // A finished request leaves its connection open (keep-alive) in the agent's pool.
    const r = await within(5000, 'GET /status', request(`${own.origin}/status`, { dispatcher: own.agent }));
    await r.body.text();
    // A raw client that sent half a request head and waits.
    const raw = own.connect();
    raw.on('error', () => {});
    await within(3000, 'raw connect', new Promise((resolve) => raw.once('connect', resolve)));
    raw.write('GET /status HTTP/1.1\r\nHost: x\r\n');
    const rawClosed = new Promise((resolve) => raw.once('close', resolve));
    try {
      await within(3000, 'close() with clients connected', own.server.close());
      await within(3000, 'the raw client to be disconnected', rawClosed);
    } finally {
      // On failure, hang up ourselves so the run ends instead of waiting on the open socket.
      raw.destroy();
      await within(3000, 'agent destroy', own.agent.destroy());
    }
  });

  test.run();
}
