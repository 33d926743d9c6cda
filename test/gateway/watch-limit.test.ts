// The apps directory's watch refused (ENOSPC: the inotify watches of the gateway's user are used
// up, fs.inotify.max_user_watches): the log says so and what to raise, and a package deployed
// is still found, by the scan. It was silent. The gateway runs in a user namespace of its own
// whose inotify watches are set to 0 (/proc/sys/user/max_inotify_watches, that namespace's
// alone), so the host's and the other tests' watches are untouched.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { BIN, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('inotify watches used up');
const WATCHES = '/proc/sys/user/max_inotify_watches';
const canUnshare = existsSync(WATCHES) && spawnSync('unshare', ['--user', '--map-root-user', 'sh', '-c', `echo 0 > ${WATCHES}`], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const ifUnshare = runIf(test, canUnshare, 'needs unshare --user (util-linux) and user namespaces with their own inotify limits (Linux 5.11)');
const work = tempDir('apppkg-watch-limit-');
let gw: RunningGateway | null = null;

test.after(async () => {
  await gw?.stop();
  work.remove();
});

const hello = (text: string) => ({
  'app.yaml': 'platform: python, wsgi\napp: app:application\n',
  'app.py': `def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'${text}']\n`,
});

ifUnshare('the log says the watch was refused and why, and a package deployed is found by the scan', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  writePackage(apps, 'first', hello('first'));
  gw = await startCli([
    '--user', '--map-root-user', 'sh', '-c', `echo 0 > ${WATCHES} && exec "$0" "$@"`, BIN,
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--settle', '0', '--watch-interval', '0.5',
  ], { bin: 'unshare' });
  await waitFor(() => gw!.output().includes('cannot watch'), 10_000, () => `the log to say so: ${gw!.output().slice(-2000)}`);
  assert.match(gw.output(), `cannot watch ${apps} for changes (ENOSPC: the inotify watches of this user are used up; raise fs.inotify.max_user_watches with sysctl); changes under it are seen by the scan every 0.5 s`);
  writePackage(apps, 'second', hello('second'));
  await waitFor(async () => (await request(`${gw!.url}/second/`)).statusCode === 200, 30_000, 'second to be found and served');
});

test.run();
