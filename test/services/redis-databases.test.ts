// SPEC 5.2 with a host URL naming a database other than 0 (`redis://.../3`): every connection
// starts in database 0 and the ACL cannot keep the app's user out of it, so a client that does
// not SELECT writes its prefix's keys there. uninstall removes them there too, backup saves them
// (a line with "db": 0) and restore puts them back there; a backup without that field (every one
// made before) restores into the URL's database. SELECT 0 is the app's as SELECT 3 is; another
// database is not. A claim an older gateway kept in its own URL's database, neither 0 nor this
// URL's, is still seen (INFO keyspace) and refuses a second state root; uninstall deletes it
// where it is its own state root's.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli } from '../helpers/process.js';
import { redisAppSuite } from '../helpers/redis-app-suite.js';

const test = suite('services: an app\'s Redis keys in database 0 and the URL\'s');
const { withRedis, work, state, env, envFile, alpha, admin } = redisAppSuite(test, { tempPrefix: 'apppkg-redis-dbs-', url: (url) => url.replace(/\/0$/, '/3') });

const cli = (...args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 90_000, env });

// As the app's own user: one client on the URL without its database (no SELECT: database 0),
// one on the URL as given, and that one's SELECT 0 and SELECT 1.
const APP_WRITES = `
import json, os, redis
url, p = os.environ["REDIS_URL"], os.environ["APPPKG_REDIS_PREFIX"]
bare = redis.Redis.from_url(url.rsplit("/", 1)[0], socket_timeout=10, socket_connect_timeout=10)
bare.set(p + "k0", "zero")
bare.set(p + "both", "in 0")
r = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
r.set(p + "k3", "three")
r.set(p + "both", "in 3")
answers = []
for db in (0, 1):
    try:
        answers.append(str(r.execute_command("SELECT", db)))
    except Exception as e:
        answers.append("refused: %s" % type(e).__name__)
print(json.dumps(answers))
`;

withRedis('keys the app wrote without SELECT are backed up, restored into database 0 and removed by uninstall, beside the URL\'s', async () => {
  const installed = await cli('install', alpha);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const wrote = await runCli(['run', alpha, '--environment', envFile, '--state-dir', state, '--', 'python', '-c', APP_WRITES], { ms: 60_000, env });
  assert.is(wrote.status, 0, wrote.stdout + wrote.stderr);
  // SELECT 0 walls nothing off (a new connection is there): the app's, as the URL's is.
  assert.equal(JSON.parse(wrote.stdout), ['True', 'refused: NoPermissionError']);
  assert.is(admin('-n', '0', 'GET', 'alpha:k0'), 'zero');
  assert.is(admin('-n', '3', 'GET', 'alpha:k3'), 'three');

  const to = join(work.path, 'backup');
  const backup = await cli('backup', alpha, '--to', to);
  assert.is(backup.status, 0, backup.stdout + backup.stderr);
  assert.match(backup.stdout, /alpha's Redis keys: 4 keys/);
  const file = join(to, 'database', 'redis.jsonl');
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const where = lines.map((l) => `${Buffer.from(l.key, 'base64')}@${l.db ?? 'url'}`).sort();
  assert.equal(where, ['both@0', 'both@url', 'k0@0', 'k3@url']);

  admin('-n', '0', 'DEL', 'alpha:k0');
  admin('-n', '0', 'SET', 'alpha:since0', 'x');
  admin('-n', '3', 'SET', 'alpha:both', 'changed');
  const restored = await cli('restore', alpha, '--from', to);
  assert.is(restored.status, 0, restored.stdout + restored.stderr);
  assert.is(admin('-n', '0', 'GET', 'alpha:k0'), 'zero');
  assert.is(admin('-n', '0', 'GET', 'alpha:both'), 'in 0');
  assert.is(admin('-n', '3', 'GET', 'alpha:both'), 'in 3');
  assert.is(admin('-n', '3', 'EXISTS', 'alpha:k0'), '0', 'database 0\'s key went back there, not into the URL\'s');
  assert.is(admin('-n', '0', 'EXISTS', 'alpha:since0'), '0', 'a restore leaves the backup\'s keys and no others, in database 0 too');

  // A backup made before: no "db", every key the URL's database's.
  writeFileSync(file, lines.filter((l) => l.db === undefined).map((l) => JSON.stringify(l)).join('\n') + '\n');
  const old = await cli('restore', alpha, '--from', to);
  assert.is(old.status, 0, old.stdout + old.stderr);
  assert.is(admin('-n', '3', 'GET', 'alpha:k3'), 'three');
  assert.is(admin('-n', '3', 'GET', 'alpha:both'), 'in 3');

  admin('-n', '0', 'SET', 'alpha:k0', 'zero');
  // This state root's claim as a gateway before H294 left it with a URL naming database 5, and
  // another state root's in 6 (it refused nothing: 0 and 3 have this one's).
  const rootId = readFileSync(join(state, 'services', 'state-root-id'), 'utf8').trim();
  admin('-n', '5', 'SET', 'apppkg-gateway/state-root/alpha', rootId);
  admin('-n', '6', 'SET', 'apppkg-gateway/state-root/alpha', 'another-state-root');
  const r = await cli('uninstall', alpha, '--yes');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(admin('-n', '0', 'KEYS', 'alpha:*'), '', 'uninstall left the app\'s keys in database 0');
  assert.is(admin('-n', '3', 'KEYS', 'alpha:*'), '');
  assert.is(admin('-n', '5', 'EXISTS', 'apppkg-gateway/state-root/alpha'), '0', 'this state root\'s older claim was left');
  assert.is(admin('-n', '6', 'GET', 'apppkg-gateway/state-root/alpha'), 'another-state-root');
});

// A gateway before H294 kept its claim in its URL's database alone: here 5, which is neither 0
// nor this host's 3.
withRedis('a claim an older gateway kept in another database refuses the app\'s user, with where to release it', async () => {
  const beta = addPackage(work.path, 'redis-clients', 'beta');
  admin('-n', '5', 'SET', 'apppkg-gateway/state-root/beta', 'an-older-state-root');
  const r = await cli('install', beta);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /redis user "apppkg-beta" of beta belongs to another state root/);
  assert.match(r.stdout + r.stderr, /release it on the server first: redis-cli -n 5 DEL apppkg-gateway\/state-root\/beta\n/);
  assert.is(admin('ACL', 'GETUSER', 'apppkg-beta'), '', 'the user was made anyway');
});

test.run();
