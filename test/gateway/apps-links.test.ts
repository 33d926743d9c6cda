// Symlinks under --apps (SPEC 1.2: "a symlink is followed"). A link named as its app (`blog ->
// blog.1.2`) is one more directory of it; a link of another name to a directory another entry
// there serves (`shoplink -> shop.1.2` beside `shop.1.2`) ran that one directory as two apps,
// each with its own workers, data and hooks. It is refused now, named in status with the fix.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { rescanned } from '../helpers/rescan.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('symlinks under --apps');
const apps = tempDir('apppkg-links-apps-');
const releases = tempDir('apppkg-links-releases-');
const state = warmStateDir('apppkg-links-state-');
let gw: RunningGateway | null = null;

const version = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });

async function answer(path: string): Promise<{ status: number; text: string }> {
  const res = await request(`${gw!.url}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

/** Each app in status: its name, the version serving, and how many workers it runs. */
async function served(): Promise<Array<[string, string | null, number]>> {
  return (await gatewayStatus(gw!)).apps.map((a: any) => [a.name, a.version, a.workers.length]);
}

test.before(async () => {
  addPackage(apps.path, 'environ', 'shop.1.1', version('shop 1.1'));
  addPackage(apps.path, 'environ', 'shop.1.2', version('shop 1.2'));
  symlinkSync('shop.1.2', join(apps.path, 'shoplink'));
  // The link named as its app, beside the versions: one more directory of blog.
  addPackage(apps.path, 'environ', 'blog.1.1', version('blog 1.1'));
  addPackage(apps.path, 'environ', 'blog.1.2', version('blog 1.2'));
  symlinkSync('blog.1.2', join(apps.path, 'blog'));
  // Two links to one release outside the apps directory: the first in code-point order serves it.
  addPackage(releases.path, 'environ', 'wiki.1.0', version('wiki 1.0'));
  addPackage(releases.path, 'environ', 'shop.3.0', version('shop 3.0'));
  symlinkSync(join(releases.path, 'wiki.1.0'), join(apps.path, 'wiki'));
  symlinkSync(join(releases.path, 'wiki.1.0'), join(apps.path, 'wikilink'));
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--watch-interval', '0', '--settle', '0', ...oneWorkerEach(state.path)]);
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, releases, state);
});

test('a link of another name to a version served beside it is refused: one app, one set of workers, the link in status with both paths and the fix', async () => {
  assert.equal(await served(), [['blog', '1.2', 1], ['shop', '1.2', 1], ['wiki', '1.0', 1]]);
  const status = await gatewayStatus(gw!);
  const links = status.broken.filter((b: any) => b.code === 'APPPKG_APPS_LINK_DUPLICATE').map((b: any) => b.dir);
  assert.equal(links, [join(apps.path, 'shoplink'), join(apps.path, 'wikilink')]);
  const shoplink = status.broken.find((b: any) => b.dir === join(apps.path, 'shoplink'));
  assert.ok(shoplink.message.includes(`${join(apps.path, 'shoplink')} is a symlink to shop.1.2, which ${join(apps.path, 'shop.1.2')} serves already as the app shop`), shoplink.message);
  assert.match(shoplink.message, /name it shop \(`ln -sfn shop\.1\.2 shop` in /);
  const wikilink = status.broken.find((b: any) => b.dir === join(apps.path, 'wikilink'));
  assert.ok(wikilink.message.includes(`which ${join(apps.path, 'wiki')} serves already as the app wiki`), wikilink.message);
  const refused = await answer('/shoplink/');
  assert.is(refused.status, 503, refused.text);
  assert.match(refused.text, /APPPKG_APPS_LINK_DUPLICATE/);
  assert.is(JSON.parse((await answer('/shop/')).text).version, 'shop 1.2');
  assert.is(JSON.parse((await answer('/blog/')).text).version, 'blog 1.2');
  assert.is(JSON.parse((await answer('/wiki/')).text).version, 'wiki 1.0');
  const blog = status.apps.find((a: any) => a.name === 'blog');
  assert.equal(blog.versions.map((v: any) => v.version), ['1.2', '1.1']);
  // Said once, not at every look.
  await rescanned(gw!);
  assert.is(gw!.output().split(`skipping ${join(apps.path, 'shoplink')}:`).length, 2, gw!.output());
});

test('the link switched to a release outside the apps directory is served as an app of its own name', async () => {
  symlinkSync(join(releases.path, 'shop.3.0'), join(apps.path, '.shoplink.next'));
  renameSync(join(apps.path, '.shoplink.next'), join(apps.path, 'shoplink'));
  await rescanned(gw!);
  assert.equal(await served(), [['blog', '1.2', 1], ['shop', '1.2', 1], ['shoplink', null, 1], ['wiki', '1.0', 1]]);
  assert.is(JSON.parse((await answer('/shoplink/')).text).version, 'shop 3.0');
  assert.equal((await gatewayStatus(gw!)).broken.map((b: any) => b.dir), [join(apps.path, 'wikilink')]);
});

test.run();
