// SPEC 5.2: "An app can never reach another app's ... keys." Each app's Redis user holds its own
// prefix only, but a server whose `default` user is on without a password (a stock
// redis-server's, and what `redis://127.0.0.1:6379` logs in as) lets any client be every app at
// once. The gateway cannot close that without changing the server for its other clients: it
// says so, in the app's start and in `check`, with the command that closes it; and says nothing
// of the kind for a server whose default user is off.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: a Redis whose default user is open');
const work = tempDir('apppkg-services-redis-default-');
const state = join(work.path, 'state');
let open: RunningRedis;
let closed: RunningRedis;
let app: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };

const environment = (name: string, url: string): string => servicesEnvironment(work.path, name, { redis: url });

const cli = (envFile: string, args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
const WARNING = /WARNING: the Redis at 127\.0\.0\.1:\d+ lets any client in as its default user without a password.*`ACL SETUSER default off`/;

test.before(async () => {
  if (missing) return;
  [open, closed] = await Promise.all([startRedis({ openDefault: true }), startRedis()]);
  app = addPackage(work.path, 'services-probe', 'kappa', {
    'app.yaml': [['  database: sql\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-redis]']],
  });
});

test.after(async () => {
  await Promise.all([open?.stop(), closed?.stop()]);
  work.remove();
});

withServers('an open default user: install and check say what it exposes and how to close it; the app still gets its own user', async () => {
  const envFile = environment('open', `redis://127.0.0.1:${open.port}`);
  const installed = await cli(envFile, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.match(installed.stdout + installed.stderr, WARNING);
  // What the warning is about: anyone, no password, reads the app's keys.
  assert.is((await runCli(['run', app, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'redis', 'SET', 'kappa:k', 'v'], { ms: 60_000, env })).status, 0);
  assert.is(execFileSync('redis-cli', ['-p', String(open.port), 'GET', 'kappa:k'], { encoding: 'utf8' }).trim(), 'v');
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+services\.redis\s+Redis [\d.]+ at 127\.0\.0\.1:\d+ reachable, user apppkg-kappa/);
  assert.match(checked.stdout, WARNING);
});

withServers('a default user that is off: no such warning', async () => {
  const envFile = environment('closed', closed.url);
  const installed = await cli(envFile, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  for (const out of [installed.stdout + installed.stderr, checked.stdout]) assert.not.match(out, /WARNING/);
});

// A URL without the password the server asks for got "NOAUTH Authentication required." and the
// fix "start the server", of a server that was running.
withServers('a URL without the password the server asks for: check says so, with the URL to write', async () => {
  for (const [url, refusal, write] of [
    [`redis://127.0.0.1:${closed.port}/0`, 'NOAUTH Authentication required', `redis://:PASSWORD@127.0.0.1:${closed.port}/0 for the password of its default user (requirepass), redis://USER:PASSWORD@127.0.0.1:${closed.port}/0 for an ACL user`],
    [`redis://admin@127.0.0.1:${closed.port}/0`, 'WRONGPASS invalid username-password pair or user is disabled', `redis://admin:PASSWORD@127.0.0.1:${closed.port}/0`],
  ]) {
    const checked = await cli(environment('no-password', url), ['check', app]);
    assert.is(checked.status, 1, checked.stdout + checked.stderr);
    assert.ok(
      checked.stdout.includes(`services.redis  redis at 127.0.0.1:${closed.port} (services.redis): ${refusal}: the server asks for a password and the URL gives none: write it in the URL, ${write}\n`),
      checked.stdout,
    );
  }
});

test.run();
