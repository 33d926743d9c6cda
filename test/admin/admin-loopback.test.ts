// Which --admin addresses are loopback, so need no --admin-token (SPEC 5.4, docs/admin.md "Who
// may do what"), and what a wildcard admin's `admin on` line says, through the built CLI: a real
// gateway started on each address, asked by `status` as its user would, copying that line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('admin loopback');

/** Whether this host can listen on `host` (an IPv6 stack may be switched off in a container). */
const canListen = (host: string) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(0, host, () => server.close(() => resolve(true)));
  });
const hasV6 = await canListen('::1');
const ifV6 = runIf(test, hasV6, 'needs IPv6 on loopback (::1) to listen there');

const dir = tempDir('apppkg-admin-loopback-');
const apps = join(dir.path, 'apps');
mkdirSync(apps);
const tokenFile = join(dir.path, 'token');
writeFileSync(tokenFile, 'loopback-test-token\n', { mode: 0o600 });
const running: RunningGateway[] = [];

test.after.each(async () => {
  for (const gw of running.splice(0)) await gw.stop();
});
test.after(() => dir.remove());

function gateway(admin: string, extra: string[] = [], state = 'state'): Promise<RunningGateway> {
  return startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', admin, '--state-dir', join(dir.path, state), '--access-log', 'off', ...extra]).then((gw) => {
    running.push(gw);
    return gw;
  });
}

/** `status` asking the address as the gateway's `admin on` line gives it: answered, exit 0. */
async function statusAt(gw: RunningGateway, extra: string[] = []): Promise<void> {
  const r = await runCli(['status', '--admin', `${gw.adminUrl}/`, '--state-dir', join(dir.path, 'client-state'), ...extra], { ms: 30_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^gateway pid \d+/);
}

const loopbacks: Array<[string, boolean]> = [
  ['127.0.0.1:0', false],
  // All of 127.0.0.0/8 is loopback (Linux answers on every address of it).
  ['127.0.0.2:0', false],
  ['localhost:0', false],
  ['[::1]:0', true],
  // ::1 written out, and 127.0.0.1 as an IPv4-mapped IPv6 address, in both its spellings:
  // the kernel routes each to loopback. They were refused as needing a token.
  ['[0:0:0:0:0:0:0:1]:0', true],
  ['[::ffff:127.0.0.1]:0', true],
  ['[::ffff:7f00:1]:0', true],
];
for (const [admin, v6] of loopbacks) {
  (v6 ? ifV6 : test)(`--admin ${admin} is loopback: the gateway starts without a token, and status reaches it`, async () => {
    const gw = await gateway(admin);
    assert.ok(gw.adminUrl?.startsWith('http://'), gw.output());
    await statusAt(gw);
  });
}

/** This host's first address that is not loopback (a LAN address), or one of TEST-NET: refused before any bind. */
const lan = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address ?? '192.0.2.10';

for (const admin of ['0.0.0.0:0', '[::]:0', `${lan}:0`, '[::ffff:10.1.2.3]:0', '[::127.0.0.1]:0']) {
  test(`--admin ${admin} is not loopback: refused without --admin-token (exit 2)`, async () => {
    const r = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', admin, '--state-dir', join(dir.path, 'refused-state')], { ms: 30_000 });
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, `--admin ${admin} is not a loopback address`);
    assert.not.match(r.stdout, /admin on/);
  });
}

for (const [wild, every] of [['0.0.0.0', 'every IPv4 address of this host'], ['::', 'every address of this host, IPv4 and IPv6']] as const) {
  (wild === '::' ? ifV6 : test)(`--admin on ${wild} with a token: the admin line says what it listens on, and labels the URL that reaches it from this host`, async () => {
    const gw = await gateway(`${wild.includes(':') ? `[${wild}]` : wild}:0`, ['--admin-token', tokenFile], `state-${wild === '::' ? 'v6' : 'v4'}`);
    const line = /^admin on .*$/m.exec(gw.output())?.[0] ?? '';
    const port = /:(\d+)\//.exec(line)?.[1];
    const listens = wild.includes(':') ? `[${wild}]:${port}` : `${wild}:${port}`;
    assert.is(line, `admin on http://127.0.0.1:${port}/ (this URL reaches it from this host; it listens on ${listens}, ${every})`);
    // The URL, copied as the line gives it, is the one status asks.
    await statusAt(gw, ['--admin-token', tokenFile]);
  });
}

// SPEC 5.4 as a client meets it: the gateway's admin on every address with a token, asked at
// 127.0.0.1 (the suite sends traffic to loopback only: a LAN address is refused above before any
// bind; the token's rule is the same for every client of a listener not on loopback). A colon
// in the token: Basic's password is everything after the user's colon (RFC 7617), so a token
// holding one still logs a browser in.
test(
  '--admin 0.0.0.0 with a token: every route, the page and the POSTs included, answers 401 (asking a browser to log in) without it; Bearer or Basic\'s password lets in',
  async () => {
    const lanApps = join(dir.path, 'lan-apps');
    wsgiPackage(lanApps, 'blog', 'platform: python, wsgi\napp: wsgi:application\n');
    const lanEnv = join(dir.path, 'lan-env.yaml');
    writeFileSync(lanEnv, 'defaults:\n  workers: 1\n', { mode: 0o600 });
    const token = 'lan:token-8d1f0c';
    const lanToken = join(dir.path, 'lan-token');
    writeFileSync(lanToken, `${token}\n`, { mode: 0o600 });
    const gw = await startCli(['--apps', lanApps, '--environment', lanEnv, '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0', '--admin-token', lanToken, '--state-dir', join(dir.path, 'state-lan'), '--access-log', 'off']);
    running.push(gw);
    const port = /:(\d+)$/.exec(gw.adminUrl ?? '')?.[1];
    assert.ok(port, gw.output());
    const ask = async (method: 'GET' | 'POST', path: string, authorization?: string) => {
      const r = await request(`http://127.0.0.1:${port}${path}`, { method, headers: authorization ? { authorization } : {}, headersTimeout: 30_000, bodyTimeout: 30_000 });
      // A stream (the events, a followed log) is not read to its end: its head is the answer.
      const body = r.statusCode === 200 && /events|follow/.test(path) ? '' : await r.body.text();
      if (body === '') r.body.destroy();
      return { status: r.statusCode, challenge: r.headers['www-authenticate'], body };
    };
    const routes: Array<['GET' | 'POST', string]> = [
      ['GET', '/'], ['GET', '/admin.js'], ['GET', '/admin.css'], ['GET', '/status'], ['GET', '/metrics'], ['GET', '/events'],
      ['GET', '/apps/blog/log'], ['GET', '/apps/blog/log?follow=1'], ['POST', '/apps/blog/restart'], ['POST', '/apps/blog/rollback'],
      ['GET', '/apps/nosuch/log'], ['GET', '/no/such/route'],
    ];
    for (const [method, path] of routes) {
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${Buffer.from('admin:wrong').toString('base64')}`, `Basic ${Buffer.from(`${token}:`).toString('base64')}`]) {
        const r = await ask(method, path, authorization);
        assert.is(r.status, 401, `${method} ${path} with ${authorization ?? 'no Authorization'}: ${r.body}`);
        assert.match(String(r.challenge), /^Basic realm=/, `${method} ${path}: a browser is asked to log in`);
      }
    }
    const bearer = `Bearer ${token}`;
    const basic = `Basic ${Buffer.from(`anyone:${token}`).toString('base64')}`;
    for (const authorization of [bearer, basic]) {
      for (const path of ['/', '/admin.js', '/status', '/metrics', '/events', '/apps/blog/log']) {
        const r = await ask('GET', path, authorization);
        assert.is(r.status, 200, `GET ${path} with ${authorization.split(' ')[0]}: ${r.body}`);
      }
    }
    const restarted = await ask('POST', '/apps/blog/restart', bearer);
    assert.is(restarted.status, 200, restarted.body);
    assert.match(restarted.body, /"app":"blog"/);
    // Past the token, rollback answers for the app itself: it has no version to go back to.
    const rollback = await ask('POST', '/apps/blog/rollback', basic);
    assert.is(rollback.status, 409, rollback.body);
  },
);

test.run();
