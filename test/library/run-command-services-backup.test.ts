// AppPackage.runCommand('backup') and ('restore') do what `backup --to` and `restore --from` do
// with a hook (SPEC 5.2): the app's PostgreSQL database and Redis keys go to DIR/database/ beside
// what commands.backup wrote, and come back in place of the app's before commands.restore runs.
// The library's backup held only what the hook wrote: a restore lost the database.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage } from '../../src/index.js';
import { addPackage } from '../helpers/apps-dir.js';
import { withDeadline } from '../helpers/link-harness.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, servicesEnvironment, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('library runCommand backup and restore: the database and Redis keys');
const work = tempDir('apppkg-lib-services-backup-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let redis: RunningRedis;
let envFile: string;
let dir: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  envFile = servicesEnvironment(work.path, 'environment', { postgresql: pg.url, redis: redis.url });
  // Hooks of its own, beside the database: what they write must stay in the backup too.
  dir = addPackage(work.path, 'services-probe', 'ledger', {
    'app.yaml': [[/$/, 'commands:\n  backup: echo hooked > "$APPPKG_BACKUP_DIR/hook.txt"\n  restore: test -f "$APPPKG_BACKUP_DIR/hook.txt"\n']],
  });
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

const sql = async (statement: string): Promise<unknown> => {
  const r = await runCli(['run', dir, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', statement], { ms: 90_000, env: { APPPKG_STATE_DIR: state } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
};

function command(app: AppPackage, name: 'backup' | 'restore', backupDir: string, force = false): Promise<number> {
  const output = new PassThrough().resume();
  return withDeadline(app.runCommand(name, { env: { APPPKG_BACKUP_DIR: backupDir }, output, timeoutMs: 60_000, force }), 90_000, `runCommand ${name}`);
}

withServers('backup dumps the database and Redis keys beside the hook\'s files; restore loads them back over what the app has now, then runs its hook', async () => {
  const app = await AppPackage.open(dir, { stateDir: state, environment: envFile });
  await sql('CREATE TABLE t (x int)');
  await sql('INSERT INTO t VALUES (1), (2)');
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, username: 'admin', password: redis.adminPassword, lazyConnect: true });
  await admin.connect();
  try {
    await admin.set('ledger:kept', 'v1');
    const to = join(work.path, 'backup');
    assert.is(await command(app, 'backup', to), 0);
    assert.is(readFileSync(join(to, 'hook.txt'), 'utf8'), 'hooked\n');
    const manifest = JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8'));
    assert.equal([manifest.app, manifest.hook], ['ledger', true]);
    assert.equal([manifest.database?.kind, manifest.database?.file], ['postgresql', 'database/postgresql.dump']);
    assert.is(readFileSync(join(to, manifest.database.file)).subarray(0, 5).toString(), 'PGDMP');
    assert.equal([manifest.redis?.file, manifest.redis?.keys], ['database/redis.jsonl', 1]);
    assert.ok(existsSync(join(to, manifest.redis.file)));

    await sql('DELETE FROM t WHERE x = 1');
    await admin.set('ledger:kept', 'changed');
    // Data there: replaced by the backup's, as `restore --from` does.
    assert.is(await command(app, 'restore', to), 0);
    assert.equal(await sql('SELECT x FROM t ORDER BY x'), [[1], [2]]);
    assert.is(await admin.get('ledger:kept'), 'v1');
    // `force`, which restore once needed over data, is still taken.
    await sql('DELETE FROM t');
    assert.is(await command(app, 'restore', to, true), 0);
    assert.equal(await sql('SELECT x FROM t ORDER BY x'), [[1], [2]]);
  } finally {
    admin.disconnect();
  }
});

test.run();
