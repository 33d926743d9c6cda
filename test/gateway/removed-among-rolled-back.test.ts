// The serving version removed when the versions left are some refused and some rolled back
// from: a rolled-back-from version is out of rotation only while another version can serve
// (README, "A rollback keeps the version it left out of rotation ... until no other version of
// the app is left"); SPEC 1.2 keeps the other versions as rollback targets. It answered 503
// where the rolled-back-from version, on disk and healthy, could serve: it now takes over.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway: the serving version removed, the others refused or rolled back from');

const apps = tempDir('apppkg-removed-rb-apps-');
const state = tempDir('apppkg-removed-rb-state-');
const aside = tempDir('apppkg-removed-rb-aside-');
let gw: RunningGateway | null = null;
const pids = new Set<number>();

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans([...pids], 15_000);
  for (const d of [apps, state, aside]) d.remove();
});

function addVersion(v: string, imports = true): string {
  return addPackage(apps.path, 'environ', `blog.${v}`, { 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"${imports ? '' : '\nimport no_such_module_here'}`]] });
}

async function served(): Promise<string> {
  const res = await request(`${gw!.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? String(JSON.parse(body).version) : `${res.statusCode} ${body.trim()}`;
}

const waitServed = (v: string, what: string) => waitFor(async () => (await served()) === v, 60_000, () => `${what}\n${gw!.output()}`);

test('1.2 rolled back from, 1.3 refused, 1.1 serving removed: 1.2 serves again, and the log says why', async () => {
  const token = join(state.path, 'token');
  writeFileSync(token, 'removed-rb-token\n', { mode: 0o600 });
  addVersion('1.1');
  addVersion('1.2');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', token, '--state-dir', state.path, '--access-log', 'off', '--settle', '0']);
  assert.is(await served(), '1.2');
  const admin = gw.adminUrl!.replace(/^http:\/\//, '');
  const rolled = await runCli(['rollback', 'blog', '--admin', admin, '--admin-token', token], { ms: 60_000 });
  assert.is(rolled.status, 0, rolled.stderr);
  assert.is(await served(), '1.1');
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);

  addVersion('1.3', false);
  await waitFor(() => /blog: version 1\.3 refused; version 1\.1 keeps serving/.test(gw!.output()), 60_000, () => `1.3 refused\n${gw!.output()}`);
  assert.is(await served(), '1.1');

  const from = gw.output().length;
  renameSync(join(apps.path, 'blog.1.1'), join(aside.path, 'blog.1.1'));
  await waitServed('1.2', 'version 1.2 serving once 1.1 is removed');
  assert.match(gw.output().slice(from), 'blog: version 1.2 serves again, though it was rolled back from: no other version of blog can serve (version 1.3 was refused)');
  assert.not.match(gw.output().slice(from), 'answers 503');
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
});

test.run();
