// Which keys of a second reading of the environment file count for which app, and which wait
// for a restart of the gateway (environment/environment-changes.ts): real files, loaded the way
// the gateway loads them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appChanges, keysNeedingGatewayRestart } from '../../src/environment/environment-changes.js';
import { loadEnvironmentFile, type HostEnvironment } from '../../src/environment/host-file.js';

const test = suite('environment changes');
const dir = mkdtempSync(join(tmpdir(), 'apppkg-env-changes-'));
let n = 0;

test.after(() => rmSync(dir, { recursive: true, force: true }));

async function env(text: string): Promise<HostEnvironment> {
  const file = join(dir, `env-${n++}.yaml`);
  writeFileSync(file, text);
  return loadEnvironmentFile(file);
}

test('the same file changes nothing', async () => {
  const text = 'settings: {A: "1"}\ndefaults: {workers: 3}\napps:\n  blog: {hosts: [blog.example.com], mount: /b, settings: {B: x}, timeout: 5}\n';
  assert.equal(appChanges(await env(text), await env(text), 'blog'), { restart: [], routes: [], live: [] });
});

test('settings are named, never their values; a removed one counts', async () => {
  const before = await env('settings: {A: "1", GONE: y}\napps:\n  blog: {settings: {SECRET: old}}\n');
  const after = await env('settings: {A: "2"}\napps:\n  blog: {settings: {SECRET: new}}\n');
  assert.equal(appChanges(before, after, 'blog').restart, ['settings.A', 'settings.GONE', 'settings.SECRET']);
  assert.equal(appChanges(before, after, 'other').restart, ['settings.A', 'settings.GONE']);
});

test('defaults: counts only for the apps that do not override it', async () => {
  const before = await env('defaults: {workers: 2, idle_timeout: 60}\napps:\n  blog: {workers: 4}\n');
  const after = await env('defaults: {workers: 3, idle_timeout: 60}\napps:\n  blog: {workers: 4}\n');
  assert.equal(appChanges(before, after, 'blog').restart, []);
  assert.equal(appChanges(before, after, 'shop').restart, ['workers']);
});

test('limits, user and interpreter need a restart; mount, hosts and mail domains only routing', async () => {
  const before = await env('apps:\n  blog: {threads: 8, max_body: 1MB, user: blog, python: /usr/bin/python3, mount: /b}\n');
  const after = await env('apps:\n  blog: {threads: 4, max_body: 2MB, user: www, python: /usr/bin/python3.11, mount: /blog, hosts: [b.example.com], mail_domains: [b.example.com]}\n');
  assert.equal(appChanges(before, after, 'blog'), { restart: ['threads', 'user', 'python', 'max_body'], routes: ['mount', 'hosts', 'mail_domains'], live: [] });
});

test('idle_timeout and drain are the gateway\'s alone: applied live, no restart; beside a restart key, both', async () => {
  const before = await env('defaults: {idle_timeout: 600}\napps:\n  blog: {drain: 30, timeout: 30}\n');
  const after = await env('defaults: {idle_timeout: 60}\napps:\n  blog: {drain: 5, timeout: 30}\n  shop: {idle_timeout: 600}\n');
  assert.equal(appChanges(before, after, 'blog'), { restart: [], routes: [], live: ['drain', 'idle_timeout'] });
  assert.equal(appChanges(before, after, 'shop'), { restart: [], routes: [], live: [] }, 'its own entry says what defaults said');
  const slower = await env('defaults: {idle_timeout: 60}\napps:\n  blog: {drain: 5, timeout: 60}\n');
  assert.equal(appChanges(before, slower, 'blog'), { restart: ['timeout'], routes: [], live: ['drain', 'idle_timeout'] });
});

test('a top-level drain changed is applied live to every app that names none of its own', async () => {
  const before = await env('apps:\n  blog: {drain: 30}\n  shop: {}\n');
  const after = await env('drain: 5\napps:\n  blog: {drain: 30}\n  shop: {}\n');
  assert.equal(appChanges(before, after, 'shop'), { restart: [], routes: [], live: ['drain'] });
  assert.equal(appChanges(before, after, 'blog'), { restart: [], routes: [], live: [] }, 'its own drain wins');
});

test('a new mount is a restart too for an app whose processes were told it (APPPKG_MOUNT)', async () => {
  const before = await env('apps:\n  nb: {mount: /nb}\n');
  const after = await env('apps:\n  nb: {mount: /notebook}\n');
  assert.equal(appChanges(before, after, 'nb', { toldMount: true }), { restart: ['mount'], routes: ['mount'], live: [] });
  assert.equal(appChanges(before, after, 'nb', { toldMount: false }), { restart: [], routes: ['mount'], live: [] });
  assert.equal(appChanges(before, before, 'nb', { toldMount: true }), { restart: [], routes: [], live: [] });
});

test('keys the gateway decides over the file (serve --workers) are no change', async () => {
  const before = await env('apps:\n  blog: {workers: 2}\n');
  const after = await env('apps:\n  blog: {workers: 5}\n');
  assert.equal(appChanges(before, after, 'blog', { fixed: ['workers'] }).restart, []);
});

test('a command app runs no Python workers: workers and threads are no change for it, its other keys are', async () => {
  const before = await env('apps:\n  nb: {workers: 2, threads: 4, timeout: 30}\n');
  const after = await env('apps:\n  nb: {workers: 5, threads: 8, timeout: 60}\n');
  assert.equal(appChanges(before, after, 'nb', { noWorkers: true }).restart, ['timeout']);
  assert.equal(appChanges(before, after, 'nb').restart, ['workers', 'threads', 'timeout']);
});

test("the host's services count for the apps that ask for them", async () => {
  const before = await env('services: {postgresql: "postgresql://a/postgres", redis: "redis://a"}\n');
  const after = await env('services: {postgresql: "postgresql://b/postgres", redis: "redis://b"}\n');
  assert.equal(appChanges(before, after, 'blog', { services: { database: 'sql', redis: null } }).restart, ['services.postgresql']);
  assert.equal(appChanges(before, after, 'blog', { services: { database: 'sqlite', redis: 'redis' } }).restart, ['services.redis']);
  assert.equal(appChanges(before, after, 'blog', { services: { database: null, redis: null } }).restart, []);
  assert.equal(appChanges(before, after, 'blog').restart, ['services.postgresql', 'services.redis'], 'an app not read yet: both');
});

test('replicas is only export kubernetes\'s: no change for the gateway', async () => {
  assert.equal(appChanges(await env('apps:\n  blog: {replicas: 1}\n'), await env('apps:\n  blog: {replicas: 3}\n'), 'blog'), { restart: [], routes: [], live: [] });
  assert.equal(appChanges(await env('defaults: {replicas: 1}\n'), await env('defaults: {replicas: 3}\n'), 'blog'), { restart: [], routes: [], live: [] }, 'defaults.replicas');
});

test('mail: waits for a restart of the gateway, key by key', async () => {
  const none = await env('');
  const smtp = await env('mail: {listen: 127.0.0.1:2525}\n');
  assert.equal(keysNeedingGatewayRestart(none, none), []);
  assert.equal(keysNeedingGatewayRestart(none, smtp), ['mail']);
  assert.equal(keysNeedingGatewayRestart(smtp, none), ['mail']);
  assert.equal(keysNeedingGatewayRestart(smtp, await env('mail: {listen: 127.0.0.1:2525, max_size: 25MB}\n')), [], 'the default written out is no change');
  assert.equal(keysNeedingGatewayRestart(smtp, await env('mail: {listen: 2526, lmtp: true, retry: [5, 10]}\n')), ['mail.listen', 'mail.lmtp', 'mail.retry']);
});

test.run();
