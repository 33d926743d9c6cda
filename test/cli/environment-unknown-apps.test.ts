// An `apps.NAME` entry of the environment file that names no app under --apps (a typo, most
// often) is said in the gateway's log at start and at each SIGHUP, with a "did you mean" and the
// apps there: before, it was silently ignored and the real app ran without its keys.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { EXAMPLES, runCli, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('cli: environment entries for apps not there');
const work = tempDir('apppkg-env-unknown-apps-');
test.after(() => work.remove());

const count = (text: string, part: string) => text.split(part).length - 1;

test('a typo under apps: is warned of at start and at SIGHUP, with the name it looks like; real and broken apps are not', async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'examples/hello', 'blog');
  // A package whose app.yaml does not load is still an app there: its entry is no mistake.
  mkdirSync(join(apps, 'shop.1.0'), { recursive: true });
  writeFileSync(join(apps, 'shop.1.0', 'app.yaml'), 'platform: python, wsgi\nnot_a_key: 1\n');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  blog:\n    workers: 1\n  blgo:\n    settings: {GREETING: hi}\n  shop:\n    workers: 1\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(work.path, 'state'), '--access-log', 'off']);
  try {
    const typo = `${env}:4:3: apps.blgo: no app of that name under ${apps} (did you mean "blog"?); its keys apply to nothing until one is deployed (apps there: blog, shop)`;
    await waitFor(() => gw.output().includes(typo), 10_000, () => `the warning in:\n${gw.output()}`);
    assert.not.match(gw.output(), /apps\.(blog|shop):/);
    assert.is((await request(`${gw.url}/blog/`, { headersTimeout: 10_000 })).statusCode, 200, 'nothing refused');
    // An app deployed with its entry, then SIGHUP (the file is read before the rescan finds it): no mistake either.
    addPackage(apps, 'examples/hello', 'news');
    writeFileSync(env, 'apps:\n  blog:\n    workers: 1\n  zzz-other:\n    workers: 1\n  news:\n    workers: 1\n');
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.output().includes(`${env}:4:3: apps.zzz-other: no app of that name under ${apps}; its keys`), 10_000, () => `the warning at SIGHUP in:\n${gw.output()}`);
    assert.not.match(gw.output(), /apps\.news:/);
    assert.is(count(gw.output(), 'apps.blgo:'), 1, 'said once, at start');
  } finally {
    await gw.stop();
  }
  // serve runs one app with the host's file, whose other apps' entries are no mistake there.
  const served = await startCli(['serve', join(EXAMPLES, 'hello'), '--port', '0', '--environment', env, '--state-dir', join(work.path, 'state-serve')]);
  try {
    assert.not.match(served.output(), /no app of that name/);
  } finally {
    await served.stop();
  }
});

test('check of an app the environment file names a typo away warns at that entry; an exact entry, or none near, says nothing', async () => {
  const app = join(work.path, 'check', 'blog');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\n');
  writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');
  const env = join(work.path, 'check-environment.yaml');
  writeFileSync(env, 'apps:\n  shop:\n    workers: 1\n  blgo:\n    workers: 1\n');
  const state = join(work.path, 'check-state');
  const warned = await runCli(['check', app, '--environment', env, '--state-dir', state]);
  assert.is(warned.status, 0, 'a warning, not a failure: ' + warned.stdout + warned.stderr);
  assert.match(warned.stdout, new RegExp(`ok\\s+environment\\s+${env.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:3: WARNING: no apps\\.blog in \\S+, but apps\\.blgo: did you mean it for this app\\?`));
  writeFileSync(env, 'apps:\n  blog:\n    workers: 1\n  blgo:\n    workers: 1\n');
  const exact = await runCli(['check', app, '--environment', env, '--state-dir', state]);
  assert.not.match(exact.stdout, /WARNING: no apps/);
});

test.run();
