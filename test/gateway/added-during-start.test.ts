// SPEC 4: changes under --apps are picked up without a restart. One made while the gateway
// starts its apps (after it read the directory, before it listens) was never picked up: the
// watcher took its picture of the directory after the start, with the new app already in it.
import { cpSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { EXAMPLES, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('an app added while the gateway starts');
const work = tempDir('apppkg-added-during-start-');
test.after(() => work.remove());

test('is served once the gateway listens, without a SIGHUP', async () => {
  const apps = join(work.path, 'apps');
  const state = join(work.path, 'state');
  // An app slow to import holds the start long enough to add another meanwhile.
  mkdirSync(join(apps, 'slow'), { recursive: true });
  writeFileSync(join(apps, 'slow', 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
  writeFileSync(join(apps, 'slow', 'main.py'), 'import time\ntime.sleep(3)\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"slow"]\n');
  const starting = startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  // The gateway has read the directory once it prepares slow's private directories.
  await waitFor(() => existsSync(join(state, 'apps', 'slow', 'tmp')), 30_000, 'the gateway to start slow');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const gw = await starting;
  try {
    await waitFor(async () => (await request(`${gw.url}/hello/`)).statusCode === 200, 20_000, 'the added app to serve');
    assert.is(await (await request(`${gw.url}/hello/`)).body.text(), 'Hello, world!\n');
  } finally {
    await gw.stop();
  }
});

test('a request for a new app still importing waits for it, then is served (not 404, not a 503 to retry)', async () => {
  const apps = join(work.path, 'apps2');
  const state = join(work.path, 'state2');
  mkdirSync(apps);
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0', '--watch-interval', '0.5']);
  try {
    const slow = join(work.path, 'slow-pkg');
    mkdirSync(slow);
    writeFileSync(join(slow, 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
    writeFileSync(join(slow, 'main.py'), 'import time\ntime.sleep(4)\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"slow"]\n');
    renameSync(slow, join(apps, 'slow'));
    await waitFor(() => existsSync(join(state, 'apps', 'slow', 'tmp')), 20_000, 'the gateway to start slow');
    const began = Date.now();
    const meanwhile = await request(`${gw.url}/slow/`);
    assert.is(meanwhile.statusCode, 200);
    assert.is(await meanwhile.body.text(), 'slow');
    assert.ok(Date.now() - began > 500, 'it waited for the import');
  } finally {
    await gw.stop();
  }
});

test.run();
