// A package reached through a symlink (SPEC 1.2: "A symlink (`blog -> blog.2026.11.24`) is
// followed") has the name and version the gateway serves it under, whichever library opens it:
// AppPackage.open (JS) and apppkg.AppPackage (Python) read it as `--apps` does (description/load.ts
// loadDescription): a link without a version takes its target's when the target is of its name
// (`blog -> blog.2026.11.24`: blog, 2026.11.24); one named unlike its target (`shoplink ->
// shop.1.2`) is an app of the link's name, without a version, as `bench -> app` is the app bench.
// Asked by H287, which found the libraries giving shoplink and no version: so does the gateway.
// Its target is outside --apps: beside the link it would be served twice, and the link is
// refused (APPPKG_APPS_LINK_DUPLICATE, gateway/apps-links).
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage } from 'apppkg-gateway';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('a package through a symlink: the libraries name it as the gateway serves it');
const work = tempDir('apppkg-linked-package-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let gw: RunningGateway | null = null;

const releases = join(work.path, 'releases');
wsgiPackage(releases, 'shop.1.2', 'platform: python, wsgi\napp: wsgi:application\n');
mkdirSync(apps);
symlinkSync(join(releases, 'shop.1.2'), join(apps, 'shoplink'));
wsgiPackage(releases, 'blog.2026.11.24', 'platform: python, wsgi\napp: wsgi:application\n');
symlinkSync(join(releases, 'blog.2026.11.24'), join(apps, 'blog'));

test.after(() => stopGatewayChecked(gw, work));

/** The Python library's name and version of `dir`, from python-shim/ as a program imports it. */
function pythonSays(dir: string): { name: string; version: string | null } {
  const code = 'import json, sys, apppkg\np = apppkg.AppPackage(sys.argv[1], state_dir=sys.argv[2])\nprint(json.dumps({"name": p.name, "version": p.version}))';
  const r = spawnSync('python3', ['-c', code, dir, state], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONPATH: SHIM_DIR } });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { name: string; version: string | null };
}

test('shoplink -> releases/shop.1.2 and blog -> releases/blog.2026.11.24: AppPackage.open and apppkg.AppPackage say the name and version --apps serves', async () => {
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off']);
  const running = gw;
  const served = await waitFor(async () => {
    const status = await gatewayStatus(running);
    return status.apps.length === 2 ? (status.apps as Array<{ name: string; version: string | null }>) : null;
  }, 30_000, 'the two apps');
  const servedAs = (name: string) => served.find((a) => a.name === name);
  assert.is(servedAs('shoplink')?.version, null, JSON.stringify(served));
  assert.is(servedAs('blog')?.version, '2026.11.24', JSON.stringify(served));
  for (const [link, name] of [['shoplink', 'shoplink'], ['blog', 'blog']]) {
    const dir = join(apps, link);
    const js = await AppPackage.open(dir, { stateDir: state });
    assert.equal({ name: js.name, version: js.version }, { name, version: servedAs(name)!.version }, `AppPackage.open(${dir})`);
    assert.equal(pythonSays(dir), { name, version: servedAs(name)!.version }, `apppkg.AppPackage(${dir})`);
  }
});

test.run();
