// A SIGHUP the gateway gets while it starts (before "listening on"): a deploy script that starts
// the gateway, copies a version in and sends SIGHUP at once. The start's scan may have read the
// apps directory before the copy; the signal was then only said, and with --watch-interval 0
// nothing ever looked again, so the version sent for stayed unserved.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, pidsByArgs, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { scanOf } from '../helpers/rescan.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('SIGHUP while the gateway starts');
const apps = tempDir('apppkg-hup-start-apps-');
const state = warmStateDir('apppkg-hup-start-state-');
const marker = join(state.path, 'imported');
let gw: RunningGateway | null = null;

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

test('a version copied in after the start\'s scan read the directory, then SIGHUP: it serves once the gateway has started', async () => {
  // blog 1.0's import says it began (so the start's scan has read the directory: it found the
  // version it imports), then holds the start, and so "listening on", for a few seconds.
  addPackage(apps.path, 'environ', 'blog.1.0', {
    'environ_app.py': [[/^VERSION = "1"/m, `VERSION = "1.0"\nimport time\nopen(${JSON.stringify(marker)}, "w").close()\ntime.sleep(4)`]],
  });
  const args = ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--watch-interval', '0', '--settle', '0', ...oneWorkerEach(state.path)];
  let listening = false;
  const starting = startCli(args).then((started) => {
    listening = true;
    return started;
  });
  try {
    await waitFor(() => existsSync(marker), 30_000, 'blog 1.0 to be imported');
    addPackage(apps.path, 'environ', 'blog.1.1', { 'environ_app.py': [[/^VERSION = "1"/m, 'VERSION = "1.1"']] });
    const [pid] = pidsByArgs((argv) => argv.includes('--apps') && argv.includes(apps.path) && argv.some((a) => a.endsWith('main.js')));
    assert.ok(pid !== undefined, 'the gateway\'s process was not found');
    process.kill(pid, 'SIGHUP');
    assert.not.ok(listening, 'the gateway said "listening on" before the SIGHUP: the test did not test a SIGHUP during the start');
  } finally {
    gw = await starting;
  }
  const blog = await waitFor(async () => {
    const now = await appStatus(gw!, 'blog');
    return now?.version === '1.1' && now.state === 'ready' ? now : null;
  }, 30_000, () => `blog 1.1 to serve (the SIGHUP during the start made no scan after it)\n${gw!.output()}`, ASK_GATEWAY_EVERY_MS);
  assert.is(blog.version, '1.1');
  assert.ok((await scanOf(gw!)).started >= 2, 'no scan after the start\'s');
});

test.run();
