// Gateway.reloadEnvironment() (SPEC 5.7's library; the CLI's SIGHUP calls it): in-process, it
// answers what it applied, throws a file with a problem as Gateway.start would, and is null
// for a gateway started without an environment file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { Gateway, isGatewayError } from '../../src/index.js';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { assertNoOrphans, tempDir } from '../helpers/process.js';

const test = suite('Gateway.reloadEnvironment');
const work = tempDir('apppkg-lib-env-reload-');
const apps = join(work.path, 'apps');
const envFile = join(work.path, 'environment.yaml');
const lines: string[] = [];
let gateway: Gateway | null = null;

test.before(async () => {
  addPackage(apps, 'environ', 'blog');
  addPackage(apps, 'environ', 'shop');
  writeFileSync(envFile, 'apps:\n  blog: {workers: 1, settings: {GREETING: hello}}\n  shop: {workers: 1}\n');
  gateway = await Gateway.start({
    apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(work.path, 'state'), watchIntervalMs: 0, say: (line) => lines.push(line),
  });
});

test.after(() => stopGatewayAndWork(gateway, work));

async function greeting(path: string): Promise<string | null> {
  const res = await request(`${gateway!.urls[0]}${path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return ((await res.body.json()) as { setting: string | null }).setting;
}

test('it answers what changed for which app once the restarted ones serve', async () => {
  assert.is(await greeting('/blog/'), 'hello');
  writeFileSync(envFile, 'apps:\n  blog: {workers: 2, settings: {GREETING: bonjour}}\n  shop: {workers: 1, mount: /store}\n');
  const report = await gateway!.reloadEnvironment();
  assert.equal(report, { file: envFile, restarted: { blog: ['workers', 'settings.GREETING'] }, rerouted: { shop: ['mount'] }, applied: {}, needsGatewayRestart: [] });
  assert.is(await greeting('/blog/'), 'bonjour');
  assert.is(await greeting('/store/'), null);
  assert.is(gateway!.status().apps.find((a) => a.name === 'blog')!.workers.length, 2);
  assert.ok(lines.some((l) => /^blog: workers, settings\.GREETING changed in /.test(l)), lines.join('\n'));
});

test('a file with a problem is thrown as Gateway.start reports it, and nothing changes', async () => {
  writeFileSync(envFile, 'apps:\n  blog: {settings: {GREETING: again}, mount: /x}\n  shop: {mount: /x}\n');
  // The serving workers' pids: the version the test before replaced may still be draining, and
  // its workers leave gateway.pids whenever they end.
  const servingPids = () => gateway!.status().apps.flatMap((a) => a.workers.map((w) => w.pid));
  const pids = servingPids();
  const err = await gateway!.reloadEnvironment().then(() => null, (e: unknown) => e);
  assert.ok(isGatewayError(err), String(err));
  assert.is(err.code, 'APPPKG_ENVFILE_INVALID');
  assert.match(err.format(), /environment\.yaml:3:17: apps\.shop\.mount: expected a mount no other app has/);
  assert.is(await greeting('/blog/'), 'bonjour');
  assert.equal(servingPids(), pids);
});

test('a file gone since the start is refused naming the option given, environment, not the CLI\'s --environment', async () => {
  rmSync(envFile);
  const err = await gateway!.reloadEnvironment().then(() => null, (e: unknown) => e);
  writeFileSync(envFile, 'apps:\n  blog: {workers: 2, settings: {GREETING: bonjour}}\n  shop: {workers: 1, mount: /store}\n');
  assert.ok(isGatewayError(err), String(err));
  assert.is(err.code, 'APPPKG_ENVFILE_NOT_FOUND');
  assert.is(err.hint, 'pass an existing YAML file to environment, or leave it out');
  assert.is(await greeting('/blog/'), 'bonjour');
});

test('a gateway without an environment file has none to read: null', async () => {
  const other = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: join(work.path, 'state2'), watchIntervalMs: 0, say: () => {} });
  const pids = other.pids;
  try {
    assert.is(await other.reloadEnvironment(), null);
  } finally {
    await other.stop();
    await assertNoOrphans(pids);
  }
});

test.run();
