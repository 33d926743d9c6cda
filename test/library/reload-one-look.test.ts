// SIGHUP (Gateway.reload) reads the environment file again and looks at the apps directory once:
// each app.yaml is read once. It was read three times: by the scan for the unknown-apps
// warning, by the registry's look with the new file, and by the rescan after it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir } from '../helpers/process.js';

const test = suite('Gateway.reload: one look');
const work = tempDir('apppkg-lib-reload-look-');
const apps = join(work.path, 'apps');
const envFile = join(work.path, 'environment.yaml');
const lines: string[] = [];
let gateway: Gateway | null = null;

// The reads of each app.yaml, watched where load-yaml.ts opens it (node:fs/promises' open).
const realOpen = fsPromises.open;
const reads = new Map<string, number>();
const readsOf = (name: string): number => reads.get(join(apps, name, 'app.yaml')) ?? 0;

/**
 * reload() and what it did to status's `scan`: one look is one scan, ended (the count shows it)
 * by the time reload() resolves; the apps it found changed.
 */
async function reloadCounted(): Promise<string[]> {
  const before = gateway!.status().scan!;
  await gateway!.reload();
  const after = gateway!.status().scan!;
  assert.equal([after.started, after.finished], [before.started + 1, before.started + 1], `one scan, ended once reload() resolved: ${JSON.stringify({ before, after })}`);
  return after.changed;
}

test.before(async () => {
  (fsPromises as { open: unknown }).open = ((file: Parameters<typeof realOpen>[0], ...rest: unknown[]) => {
    if (typeof file === 'string' && file.endsWith('app.yaml')) reads.set(file, (reads.get(file) ?? 0) + 1);
    return (realOpen as (...args: unknown[]) => unknown)(file, ...rest);
  }) as typeof realOpen;
  syncBuiltinESMExports();
  addPackage(apps, 'environ', 'blog');
  addPackage(apps, 'environ', 'shop');
  writeFileSync(envFile, 'apps:\n  blog: {workers: 1}\n  shop: {workers: 1}\n');
  // settleMs 0: a package just written is judged at the look that finds it. With the default
  // second, the look due once `news` has settled could fall in a later case's reload() on a
  // loaded host, and count as a second scan there (run 94).
  gateway = await Gateway.start({
    apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(work.path, 'state'), watchIntervalMs: 0, settleMs: 0, say: (line) => lines.push(line),
  });
});

test.after(async () => {
  fsPromises.open = realOpen;
  syncBuiltinESMExports();
  await stopGatewayAndWork(gateway, work);
});

test('a reload reads each app.yaml once, and still warns of an entry naming no app (one deployed with its entry is none)', async () => {
  addPackage(apps, 'environ', 'news');
  writeFileSync(envFile, 'apps:\n  blog: {workers: 1}\n  shop: {workers: 1}\n  news: {workers: 1}\n  blgo: {workers: 1}\n');
  reads.clear();
  assert.equal(await reloadCounted(), ['news']);
  assert.equal({ blog: readsOf('blog'), shop: readsOf('shop'), news: readsOf('news') }, { blog: 1, shop: 1, news: 1 });
  assert.ok(lines.some((l) => l.includes('apps.blgo: no app of that name under') && l.includes('(did you mean "blog"?)')), lines.join('\n'));
  assert.not.ok(lines.some((l) => l.includes('apps.news:')), lines.join('\n'));
  assert.ok(gateway!.status().apps.some((a) => a.name === 'news'), 'the app deployed with its entry is looked at');
});

test('without a change to the file, once too', async () => {
  reads.clear();
  assert.equal(await reloadCounted(), []);
  assert.equal({ blog: readsOf('blog'), shop: readsOf('shop'), news: readsOf('news') }, { blog: 1, shop: 1, news: 1 });
});

test('a file with a problem: said, and the apps are looked at all the same, once', async () => {
  writeFileSync(envFile, 'apps:\n  blog: {workers: two}\n');
  reads.clear();
  lines.length = 0;
  assert.equal(await reloadCounted(), []);
  assert.ok(lines.some((l) => l.includes('the environment file was not reloaded')), lines.join('\n'));
  assert.equal({ blog: readsOf('blog'), shop: readsOf('shop'), news: readsOf('news') }, { blog: 1, shop: 1, news: 1 });
});

test.run();
