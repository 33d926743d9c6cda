// services.redis as rediss:// to a Redis whose certificate a private authority signed (the usual
// for a Redis with TLS), named as redis-py reads it: `?ssl_ca_certs=FILE`. The gateway read none
// of redis-py's ssl_* options, so it refused the certificate ("self-signed certificate") and no
// app could start; nor did the apps' REDIS_URL carry them on.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, startRedis, type RunningRedis, tlsServersMissing } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: a Redis over TLS');
const work = tempDir('apppkg-services-redis-tls-');
const state = join(work.path, 'state');
let redis: RunningRedis & { certificate?: string };
let app: string;

const missing = tlsServersMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };

const cli = (envFile: string, args: string[], after: string[] = []) =>
  runCli([...args, '--environment', envFile, '--state-dir', state, ...(after.length ? ['--', ...after] : [])], { ms: 120_000, env });

test.before(async () => {
  if (missing) return;
  redis = await startRedis({ tls: true });
  app = addPackage(work.path, 'services-probe', 'tlsapp', { 'app.yaml': [['  database: sql\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-redis]']] });
});

test.after(async () => {
  await redis?.stop();
  work.remove();
});

withServers('rediss:// with ssl_ca_certs: install makes the user over TLS; the app gets the same in REDIS_URL and reaches its keys', async () => {
  assert.match(redis.url, /^rediss:\/\/.*\?ssl_ca_certs=\S+server\.crt$/);
  const envFile = servicesEnvironment(work.path, 'ca', { redis: redis.url });
  const installed = await cli(envFile, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const vars = await cli(envFile, ['run', app], ['sh', '-c', 'echo "$REDIS_URL"']);
  assert.match(vars.stdout.trim(), new RegExp(`^rediss://apppkg-tlsapp:[^@]+@127\\.0\\.0\\.1:${redis.port}/0\\?ssl_ca_certs=${redis.certificate}$`));
  const set = await cli(envFile, ['run', app], ['python', 'probe.py', 'redis', 'SET', 'tlsapp:k', 'v']);
  assert.is(set.status, 0, set.stdout + set.stderr);
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+services\.redis\s+Redis [\d.]+ at 127\.0\.0\.1:\d+ reachable/);
});

withServers('rediss:// without its authority: refused as the certificate it is; ssl_cert_reqs=none takes it', async () => {
  const bare = redis.url.replace(/\?.*$/, '');
  const refused = await cli(servicesEnvironment(work.path, 'bare', { redis: bare }), ['check', app]);
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /FAIL\s+services\.redis\s+redis at 127\.0\.0\.1:\d+ \(services\.redis\): self-signed certificate/);
  const any = await cli(servicesEnvironment(work.path, 'none', { redis: `${bare}?ssl_cert_reqs=none` }), ['check', app]);
  assert.is(any.status, 0, any.stdout + any.stderr);
});

withServers('the name in the certificate is held to the host unless ssl_check_hostname=false', async () => {
  const other = redis.url.replace('127.0.0.1', 'localhost');
  const refused = await cli(servicesEnvironment(work.path, 'name', { redis: other }), ['check', app]);
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /FAIL\s+services\.redis\s+.*Host: localhost\. is not in the cert's altnames|FAIL\s+services\.redis\s+.*does not match certificate's altnames/);
  const unchecked = await cli(servicesEnvironment(work.path, 'name', { redis: `${other}&ssl_check_hostname=false` }), ['check', app]);
  assert.is(unchecked.status, 0, unchecked.stdout + unchecked.stderr);
});

test.run();
