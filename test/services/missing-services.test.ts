// An app asking for services the host does not offer is refused under --apps, and its reason (in
// /status, as the status page and `status` show it) names every one of them with one fix, so a
// user sets them all at once rather than learning the second after fixing the first. `check`
// run with no environment file says to give one, and how.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services the host does not offer');
const apps = tempDir('apppkg-missing-services-apps-');
const state = tempDir('apppkg-missing-services-state-');
const work = tempDir('apppkg-missing-services-work-');
test.after(() => work.remove());

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';

test('a version asking for PostgreSQL and Redis on a host offering neither is refused with both in its reason and its fix', async () => {
  writePackage(apps.path, 'both', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  database: postgresql\n  redis: redis\n', 'web.py': WSGI });
  writePackage(apps.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  try {
    const problem = async (name: string) => waitFor(async () => (await appStatus(gw, name))?.problem?.code && (await appStatus(gw, name)).problem, 20_000, `${name} to be refused`);
    const both = await problem('both');
    assert.is(both.code, 'APPPKG_SERVICE_MISSING');
    assert.match(both.message, /both asks for services\.database: postgresql, but the host offers no postgresql server, nor a redis server for its services\.redis/);
    assert.match(both.hint, /set `services\.postgresql` and `services\.redis` in the environment file \(e\.g\. `services: \{postgresql: postgresql:\/\/\S+, redis: redis:\/\/\S+\}`\)/);
    // One missing: said as before, without an "also".
    const one = await problem('one');
    assert.match(one.message, /one asks for services\.redis: redis, but the host offers no redis server$/);
    assert.match(one.hint, /^set `services\.redis` in the environment file/);
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test('check without --environment says to give an environment file, and how; with one, only what to set in it', async () => {
  const dir = writePackage(apps.path, 'cache', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const bare = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(bare.status, 1, bare.stdout + bare.stderr);
  assert.match(bare.stdout, /FAIL\s+services\.redis\s+\S+app\.yaml:4:3: cache asks for services\.redis: redis, but the host offers no redis server/);
  assert.match(bare.stdout, `fix: set \`services.redis\` in an environment file (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), and pass it: \`apppkg-gateway check ${dir} --environment FILE\`\n`);
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'settings: {}\n');
  const given = await runCli(['check', dir, '--environment', environment, '--state-dir', state.path]);
  assert.is(given.status, 1, given.stdout + given.stderr);
  assert.match(given.stdout, 'fix: set `services.redis` in the environment file (e.g. `services: {redis: redis://127.0.0.1:6379}`)\n');
});

test.run();
