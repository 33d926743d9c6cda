// A service whose variable the host's settings already give (a managed database, a Kubernetes
// Secret written into the pod's environment file: docs/kubernetes.md) is taken as given: no
// server is needed, nothing is provisioned, and the app sees the settings' value.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('services given by the settings');

test('DATABASE_URL and REDIS_URL in the settings: no server asked for, none refused, the values reach the app', async () => {
  const work = tempDir('apppkg-services-given-');
  try {
    const app = addPackage(work.path, 'services-probe', 'probe');
    const env = join(work.path, 'environment.yaml');
    const state = join(work.path, 'state');
    const print = ['--', 'python3', '-c', 'import os; print(os.environ["DATABASE_URL"], os.environ["REDIS_URL"], os.environ.get("PGPASSWORD"))'];
    // Without the settings, a host with no servers refuses a redis app, naming the key to set.
    writeFileSync(env, 'apps: {}\n');
    const refused = await runCli(['run', app, '--environment', env, '--state-dir', state, ...print]);
    assert.is(refused.status, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /services\.redis/);
    writeFileSync(env, 'apps:\n  probe:\n    settings:\n      DATABASE_URL: postgresql://app:secret@db.internal/app\n      REDIS_URL: redis://cache.internal:6379/0\n');
    const given = await runCli(['run', app, '--environment', env, '--state-dir', state, ...print]);
    assert.is(given.status, 0, given.stdout + given.stderr);
    assert.is(given.stdout.trim(), 'postgresql://app:secret@db.internal/app redis://cache.internal:6379/0 None');
  } finally {
    work.remove();
  }
});

test.run();
