// The venv builds a gateway removes after a version drains are those its own versions ran on
// (registry.ts pruneVenvBuilds). It removed every build beside the venv link that no version ran
// on, so a build an `install` beside the gateway was still making (STATE/apps/NAME/venv-*, switched
// in only at its end) went at the next drain of that app, under the install's feet. Through the
// real CLI: a build "in progress" under an app's state, a deploy whose old version drains.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';

const hello = (word: string) => `def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"${word}"]\n`;

test('a venv build another process is making is left when a version drains', async () => {
  const work = tempDir('apppkg-venv-prune-');
  const apps = join(work.path, 'apps');
  const state = join(work.path, 'state');
  writePackage(apps, 'blog.1.0', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': hello('one') });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--settle', '0', '--watch-interval', '0.2', '--access-log', 'off']);
  try {
    const body = async () => {
      const res = await request(`${gw.url}/blog/`);
      return res.body.text();
    };
    await waitFor(async () => (await body()) === 'one', 30_000, () => `blog 1.0 to serve\n${gw.output()}`);
    // What install's newVenvBuildDir makes beside the link before it switches to it.
    const building = join(state, 'apps', 'blog', 'venv-0123456789abcdef');
    mkdirSync(join(building, 'bin'), { recursive: true });
    writeFileSync(join(building, 'bin', 'python'), '');
    writePackage(apps, 'blog.2.0', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': hello('two') });
    await waitFor(async () => (await body()) === 'two', 30_000, () => `blog 2.0 to serve\n${gw.output()}`);
    // The switch's prune and the idle old version's drain, with its prune, have had their turn.
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(existsSync(building), `the build in progress was removed\n${gw.output()}`);
  } finally {
    await gw.stop();
    work.remove();
  }
});

test.run();
