// SPEC §2.1 "Settings of one app are never visible to another" holds only between users: the
// kernel shows a process's environment (/proc/PID/environ), its TMPDIR and data directory to
// every process of the same user. Two apps whose directories one deploy user owns run as that
// user by default, and the gateway says so in its log, naming both, rather than nothing while
// each could read the other's DATABASE_URL. Through the real CLI running as root.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chownSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { stopGatewayChecked } from '../helpers/status.js';
import { hostUser } from '../helpers/host-accounts.js';
import { installForOtherUsers, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('reliability: apps sharing a user');
const ifRoot = runIf(test, isRoot, 'needs root to run apps as a user');
const USER = 'apppkg-shared-user';
const work = isRoot ? tempDir('apppkg-shared-user-') : null;
let gw: RunningGateway | null = null;

test.after(() => stopGatewayChecked(gw, ...(work ? [work] : [])));

const APP = `import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [os.environ.get("SECRET", "-").encode()]
`;

ifRoot('two apps run by one user: the second to start is flagged, naming the first; an app of its own user is not', async () => {
  const { uid, gid } = hostUser(USER);
  assert.ok(uid > 0, `user ${USER} made`);
  chmodSync(work!.path, 0o755);
  const apps = join(work!.path, 'apps');
  mkdirSync(apps);
  for (const name of ['a', 'b', 'c']) {
    const dir = join(apps, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: app:application\n');
    writeFileSync(join(dir, 'app.py'), APP);
    for (const file of [dir, join(dir, 'app.yaml'), join(dir, 'app.py')]) chownSync(file, uid, gid);
  }
  const env = join(work!.path, 'environment.yaml');
  // c runs as nobody: a user of its own here.
  writeFileSync(env, 'python: /usr/bin/python3\napps:\n  a:\n    workers: 1\n    settings: {SECRET: a-secret}\n  b:\n    workers: 1\n  c:\n    workers: 1\n    user: nobody\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work!.path, 'state'),
    '--environment', env, '--watch-interval', '0', '--settle', '0', '--access-log', 'off'], { ms: 60_000, bin: installForOtherUsers().bin });
  for (const name of ['a', 'b', 'c']) {
    await waitFor(async () => (await request(`${gw!.url}/${name}/`)).statusCode === 200, 30_000, () => `${name} serving:\n${gw!.output()}`);
  }
  const warnings = gw.output().split('\n').filter((line) => line.includes(`WARNING: runs as ${USER}`));
  assert.is(warnings.length, 1, gw.output());
  assert.match(warnings[0], /^apppkg-gateway: (a|b): WARNING: runs as apppkg-shared-user, as (a|b) does: each can read the other's settings \(\/proc\/PID\/environ\), TMPDIR and data; set `user:` for it in the environment file to a user of its own$/);
  assert.not.match(gw.output(), /c: WARNING/);
});

test.run();
