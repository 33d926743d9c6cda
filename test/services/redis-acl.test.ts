// SPEC 5.2: "An app can never reach another app's database or keys", held on Redis by the rules
// of the app's ACL user. Each command that reaches past the app's prefix (another database, every
// app's keys, channels or commands, what the server shares) is tried from the app itself, with
// the REDIS_URL the gateway gave it, and refused; every one but a script's insides is also asked
// of the server with ACL DRYRUN, which runs nothing (SHUTDOWN, MONITOR and SCRIPT DEBUG are asked
// so only). What common client libraries send on the app's own keys still passes (Celery's, end
// to end, in celery-redis.test.ts). docs/services.md says what stays allowed and why. The ACL
// user is the server's: a second state root on another database of it is refused the user too.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../helpers/process.js';
import { redisAppSuite } from '../helpers/redis-app-suite.js';
import { servicesEnvironment } from '../helpers/servers.js';

const test = suite('services: what an app\'s Redis user is refused');
const fx = redisAppSuite(test, {
  tempPrefix: 'apppkg-redis-acl-',
  missing() {
    // ACL DRYRUN and FUNCTION came with 7.0; redis-6.test.ts holds what 6.x gets.
    const version = /v=(\d+)\./.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '');
    return version !== null && Number(version[1]) < 7 ? `redis-server is ${version[0]}: these rules are Redis 7's` : null;
  },
});
const { withRedis, work, state, env, envFile, alpha, admin } = fx;

/** `run` is a start of the app: its user is set to this gateway's rules first. */
const clients = (...args: string[]) => runCli(['run', alpha, '--environment', envFile, '--state-dir', state, '--', 'python', 'clients.py', ...args], { ms: 60_000, env });

// What another app (beta) and the host keep: a key, a list to SORT by, a function of the host's.
function otherAppsData(): void {
  admin('SET', 'beta:k', 'secret');
  admin('RPUSH', 'alpha:l', '1', '2');
  admin('SET', 'alpha:x', 'mine');
  admin('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
  admin('FUNCTION', 'LOAD', 'REPLACE', "#!lua name=hostlib\nredis.register_function('hostget', function(keys, args) return redis.call('GET', args[1]) end)");
}

// Tried by the app for real: each would reach past its prefix if it ran.
const refused: string[][] = [
  // Another logical database: COPY's DB argument is held by no key pattern.
  ['COPY', 'alpha:x', 'alpha:y', 'DB', '1'], ['COPY', 'alpha:x', 'alpha:y', 'DB', '1', 'REPLACE'],
  ['MOVE', 'alpha:x', '1'], ['SWAPDB', '0', '1'], ['SELECT', '1'], ['MIGRATE', '127.0.0.1', '1', 'alpha:x', '1', '1000'],
  ['RESTORE', 'alpha:r', '0', 'payload'],
  // Every app's keys at once.
  ['FLUSHALL'], ['FLUSHDB'], ['KEYS', 'alpha:*'], ['KEYS', 'beta:*'], ['SCAN', '0', 'MATCH', 'beta:*'], ['RANDOMKEY'], ['DBSIZE'],
  ['SORT', 'alpha:l', 'BY', 'beta:*'], ['SORT', 'alpha:l', 'GET', 'beta:*'], ['SORT_RO', 'alpha:l', 'GET', 'beta:*'],
  ['OBJECT', 'ENCODING', 'beta:k'], ['OBJECT', 'FREQ', 'beta:k'], ['MEMORY', 'USAGE', 'beta:k'], ['MEMORY', 'STATS'],
  // Scripts run as the app's user: a key they do not declare, another database, COPY in one.
  ['EVAL', "return redis.call('GET', 'beta:k')", '0'], ['EVAL', "return redis.call('GET', KEYS[1])", '1', 'beta:k'],
  ['EVAL', "return redis.call('SELECT', '1')", '0'], ['EVAL', "return redis.call('COPY', KEYS[1], 'alpha:y', 'DB', '1')", '1', 'alpha:x'],
  ['FCALL', 'hostget', '0', 'beta:k'],
  // Server-wide: functions, the script cache, the server's own state.
  ['FUNCTION', 'LOAD', "#!lua name=alphalib\nredis.register_function('f', function() return 1 end)"], ['FUNCTION', 'DELETE', 'hostlib'],
  ['FUNCTION', 'FLUSH'], ['FUNCTION', 'LIST'], ['FUNCTION', 'DUMP'], ['SCRIPT', 'FLUSH'], ['SCRIPT', 'KILL'],
  ['CONFIG', 'GET', '*'], ['CONFIG', 'SET', 'notify-keyspace-events', ''],
  ['CLIENT', 'LIST'], ['CLIENT', 'KILL', 'ID', '1'], ['CLIENT', 'NO-EVICT', 'on'], ['CLIENT', 'UNBLOCK', '1'],
  ['CLIENT', 'TRACKING', 'on', 'BCAST'],
  // Other apps' commands, keys and channels.
  ['SLOWLOG', 'GET'], ['SLOWLOG', 'LEN'], ['LATENCY', 'LATEST'], ['LATENCY', 'HISTOGRAM'], ['LATENCY', 'DOCTOR'],
  ['INFO', 'keyspace'], ['INFO', 'commandstats'], ['INFO'], ['ACL', 'LOG'], ['ACL', 'LIST'],
  ['PUBLISH', 'beta:news', 'x'], ['SPUBLISH', 'beta:news', 'x'], ['PUBSUB', 'CHANNELS'], ['PUBSUB', 'NUMSUB', 'beta:news'],
  ['SUBSCRIBE', 'beta:news'], ['PSUBSCRIBE', '*'], ['SSUBSCRIBE', 'beta:news'],
  // Keyspace notifications name every app's keys as they change, the app's own among them.
  ['SUBSCRIBE', '__keyspace@0__:beta:k'], ['SUBSCRIBE', '__keyevent@0__:set'], ['PSUBSCRIBE', '__key*__:*'], ['SUBSCRIBE', '__keyspace@0__:alpha:x'],
];

// Asked of the server only: each would stop the server, or this client, if it ran.
const refusedDryRun: string[][] = [
  ['SHUTDOWN', 'NOSAVE'], ['MONITOR'], ['DEBUG', 'OBJECT', 'alpha:x'], ['SCRIPT', 'DEBUG', 'SYNC'], ['SCRIPT', 'DEBUG', 'YES'],
  ['FAILOVER'], ['CLIENT', 'PAUSE', '10'], ['REPLICAOF', 'NO', 'ONE'], ['SAVE'], ['BGSAVE'], ['LASTSAVE'],
];

// Kept on purpose (docs/services.md): each answers for the app's own connection or keys, or is
// sent by a common client library; SCRIPT EXISTS tells no more than the EVALSHA clients need.
const kept: string[][] = [
  ['SELECT', '0'], ['SCRIPT', 'EXISTS', '0000000000000000000000000000000000000000'], ['SCRIPT', 'LOAD', 'return 1'],
  // SHA-1 of the script just loaded.
  ['EVALSHA', 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db', '0'], ['WAIT', '0', '0'], ['CLIENT', 'INFO'], ['CLIENT', 'ID'],
  ['CLIENT', 'SETNAME', 'web'], ['HELLO', '2'], ['MULTI'], ['EXEC'], ['MEMORY', 'USAGE', 'alpha:x'],
  ['EVAL', "return redis.call('GET', 'alpha:x')", '0'],
];

/** Each of refused as the app ran it: an ACL refusal, not another error (a typo would pass as one). */
function assertRefused(answers: string[]): void {
  refused.forEach((argv, i) =>
    assert.match(answers[i], /^refused: (NoPermissionError: |ResponseError: .*The user executing the script can't (run this command|access))/, `alpha ran ${argv.join(' ')}: ${answers[i]}`));
}

function assertDryRun(): void {
  for (const argv of [...refused, ...refusedDryRun]) {
    // ACL DRYRUN asks the command's rules, not those of what a script calls.
    if (argv[0] === 'EVAL' || argv[0] === 'FCALL') continue;
    assert.match(admin('ACL', 'DRYRUN', 'apppkg-alpha', ...argv), /^This user has no permissions to (run|access)/, `ACL DRYRUN ${argv.join(' ')}`);
  }
}

withRedis("an app's user is refused every command that reaches another database, other apps' keys, channels or commands, or what the server shares", async () => {
  const installed = await runCli(['install', alpha, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  otherAppsData();
  const r = await clients('try', JSON.stringify([...refused, ...kept]));
  assert.is(r.status, 0, r.stdout + r.stderr);
  const answers: string[] = JSON.parse(r.stdout);
  assertRefused(answers);
  assertDryRun();
  // Nothing of the app's reached another database, and what the host and beta keep is there.
  assert.is(admin('-n', '1', 'DBSIZE'), '0');
  assert.is(admin('GET', 'beta:k'), 'secret');
  assert.match(admin('FUNCTION', 'LIST'), /hostget/);
  assert.not.match(admin('FUNCTION', 'LIST'), /alphalib/);
  kept.forEach((argv, i) => assert.not.match(answers[refused.length + i], /^refused/, `alpha ran ${argv.join(' ')}: ${answers[refused.length + i]}`));
});

withRedis('what redis-py, django-redis, Flask-Caching and channels_redis send on the app\'s own keys and channels passes', async () => {
  admin('ACL', 'LOG', 'RESET');
  const r = await clients('libraries');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.stdout), { 'redis-py': 'ok', 'django-redis': 'ok', 'flask-caching': 'ok', 'channels_redis': 'ok' });
  assert.is(admin('ACL', 'LOG'), '', 'the server refused the app something');
});

withRedis('a user an older gateway made, allowed COPY and SCRIPT DEBUG, gets this one\'s rules at the app\'s next start', async () => {
  // As the gateway before this one left it: its password and claim kept, only the rules older.
  admin('ACL', 'SETUSER', 'apppkg-alpha', '+copy', '+script|debug');
  assert.is(admin('ACL', 'DRYRUN', 'apppkg-alpha', 'COPY', 'alpha:x', 'alpha:y', 'DB', '1'), 'OK');
  const r = await clients('try', JSON.stringify(refused));
  assert.is(r.status, 0, r.stdout + r.stderr);
  assertRefused(JSON.parse(r.stdout));
  assertDryRun();
  assert.is(admin('-n', '1', 'DBSIZE'), '0');
});

// ACL users are the server's, not a database's, and every connection starts in database 0: a
// second state root on database 1 that took the user over (its claim was kept in the URL's
// database, so it found none) gave it a new password, and its app, the same prefix, read the
// first one's keys in database 0.
withRedis('a second state root whose services.redis names another database of the server is refused the app\'s user, as on the same one', async () => {
  const other = join(work.path, 'state-other');
  const inDb1 = servicesEnvironment(work.path, 'environment-db1', { redis: fx.redis.url.replace(/\/0$/, '/1') });
  const r = await runCli(['run', alpha, '--environment', inDb1, '--state-dir', other, '--', 'python', 'clients.py', 'try', JSON.stringify([['GET', 'alpha:x']])], { ms: 60_000, env: { APPPKG_STATE_DIR: other } });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /redis user "apppkg-alpha" of alpha belongs to another state root/);
  assert.match(r.stdout + r.stderr, /release it on the server first: redis-cli DEL apppkg-gateway\/state-root\/alpha\n/);
  // The first state root's app keeps its password, its keys and database 0.
  const first = await clients('try', JSON.stringify([['GET', 'alpha:x']]));
  assert.is(first.status, 0, first.stdout + first.stderr);
  assert.equal(JSON.parse(first.stdout), ["b'mine'"]);
});

test.run();
