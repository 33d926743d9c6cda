// SPEC 5.2 says Redis >= 6. Redis 6 refuses in ACL SETUSER what 7 takes (denying one subcommand,
// FUNCTION, and on 6.0 channel patterns), and one rule it refuses fails the whole user: every app
// asking for `redis` was refused on Debian 11's 6.0. Needs a Redis 6 server, which Debian 12 does
// not ship: APPPKG_TEST_REDIS6_SERVER names one (built from redis' 6.0 or 6.2 sources); without
// it the tests are skipped, and the run says so.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: Redis 6');
const bin = process.env.APPPKG_TEST_REDIS6_SERVER ?? '';
const version = bin === '' ? null : /v=(6)\.(\d+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '');
const withRedis6 = runIf(test, version !== null, bin === '' ? 'APPPKG_TEST_REDIS6_SERVER does not name a Redis 6 redis-server' : `${bin} is not a Redis 6 redis-server`);
const minor = version === null ? 0 : Number(version[2]);

const work = tempDir('apppkg-redis6-');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
let redis: RunningRedis;
let alpha: string;

test.before(async () => {
  if (version === null) return;
  redis = await startRedis({ bin });
  writeFileSync(envFile, `services:\n  redis: ${redis.url}\n`);
  alpha = addPackage(work.path, 'services-probe', 'alpha');
});

test.after(async () => {
  await redis?.stop();
  work.remove();
});

const env = { APPPKG_STATE_DIR: state };
const probe = (...args: string[]) => runCli(['run', alpha, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', ...args], { ms: 60_000, env });

withRedis6('an app gets its Redis user on Redis 6, its own keys and none of the others', async () => {
  const installed = await runCli(['install', alpha, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.match(installed.stdout, /created redis ACL user apppkg-alpha/);
  // Again: the user is recognised as the gateway's own (its rules read back as Redis 6 gives them).
  const again = await runCli(['install', alpha, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.is((await probe('redis', 'SET', 'alpha:k', 'mine')).status, 0);
  assert.is(JSON.parse((await probe('redis', 'GET', 'alpha:k')).stdout), 'mine');
  const tries = [['GET', 'beta:k'], ['KEYS', '*'], ['SCAN', '0'], ['FLUSHALL'], ['RANDOMKEY'], ['CONFIG', 'GET', '*'], ['SELECT', '1'], ['PUBLISH', 'beta:news', 'x'], ['CLIENT', 'TRACKING', 'on', 'BCAST']];
  const r = await probe('redis-each', JSON.stringify(tries));
  assert.is(r.status, 0, r.stdout + r.stderr);
  const answers: string[] = JSON.parse(r.stdout);
  tries.forEach((args, i) => assert.match(answers[i], /^refused: NoPermissionError/, `alpha ran ${args.join(' ')}: ${answers[i]}`));
  // Its own channels: on 6.2 and later; 6.0 cannot limit channels, so an app gets none.
  const own = JSON.parse((await probe('redis-each', JSON.stringify([['PUBLISH', 'alpha:news', 'x']]))).stdout)[0];
  if (minor >= 2) assert.is(own, '0');
  else assert.match(own, /^refused: NoPermissionError/);
});

test.run();
