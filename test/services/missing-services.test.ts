// An app asking for services the host does not offer is refused under --apps, and its reason (in
// /status, as the status page and `status` show it) names every one of them with one fix, so a
// user sets them all at once rather than learning the second after fixing the first. Each entry
// point run with no environment file says to give one, and how: check's, serve's and the
// gateway's own option; with one, the fix names it and what makes the gateway read it again.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { Gateway } from 'apppkg-gateway';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { runCli, startCli, tempDir, waitFor, within } from '../helpers/process.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services the host does not offer');
const apps = tempDir('apppkg-missing-services-apps-');
const state = tempDir('apppkg-missing-services-state-');
const work = tempDir('apppkg-missing-services-work-');
// The tests after the first write into apps and state again (check, serve), making them anew if
// the first had removed them: they go once, here, with the rest.
test.after(() => {
  for (const dir of [apps, state, work]) dir.remove();
});

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
    // A gateway started with no environment file has none for SIGHUP to read again: it is started
    // with one, by the user's own command line (without its --listen, --admin and --state-dir, the
    // line suggested started another gateway, on the default addresses and state root).
    assert.match(both.hint, /set `services\.postgresql` and `services\.redis` in an environment file \(e\.g\. `services: \{postgresql: postgresql:\/\/\S+, redis: redis:\/\/\S+\}`\)/);
    assert.ok(both.hint.includes(`, and start the gateway with it: \`apppkg-gateway --apps ${apps.path} --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-dir ${state.path} --access-log off --environment FILE\``), both.hint);
    // status shows each service that keeps the app from starting on a line of its own, as it
    // does a down server's: the one line, database's, had the Redis line missing.
    const status = await runCli(['status', '--admin', gw.adminUrl!]);
    assert.is(status.status, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /service database: postgresql refused: both asks for services\.database: postgresql, but the host offers no postgresql server \(/);
    assert.match(status.stdout, /service redis: redis refused: both asks for services\.redis: redis, but the host offers no redis server \(/);
    // One missing: said as before, without an "also".
    const one = await problem('one');
    assert.match(one.message, /one asks for services\.redis: redis, but the host offers no redis server$/);
    assert.match(one.hint, /^set `services\.redis` in an environment file/);
  } finally {
    await stopGatewayChecked(gw);
  }
});

test('under --apps with an environment file, the fix names that file and the SIGHUP that reads it again', async () => {
  const filed = tempDir('apppkg-missing-services-filed-');
  const filedState = tempDir('apppkg-missing-services-filed-state-');
  writePackage(filed.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const environment = join(work.path, 'gateway-environment.yaml');
  writeFileSync(environment, 'settings: {}\n');
  const gw = await startCli(['--apps', filed.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', filedState.path, '--access-log', 'off', '--environment', environment]);
  try {
    const one = await waitFor(async () => (await appStatus(gw, 'one'))?.problem?.code && (await appStatus(gw, 'one')).problem, 20_000, 'one to be refused');
    assert.is(one.hint, `set \`services.redis\` in ${environment} (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), then send the gateway SIGHUP (\`systemctl reload apppkg-gateway\` under systemd): it reads the file again and retries the app`);
  } finally {
    await stopGatewayChecked(gw, filed, filedState);
  }
});

// A program's Gateway installs no SIGHUP handler: its reload() is what the signal does (the file
// read again, then the apps looked at again), as the library's other fixes say it
// (command-words.ts); this one said reloadEnvironment(), in words of its own.
test('a library Gateway with an environment file: the fix names that file and gateway.reload()', async () => {
  const filed = tempDir('apppkg-missing-services-lib-');
  const filedState = tempDir('apppkg-missing-services-lib-state-');
  writePackage(filed.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const environment = join(work.path, 'library-environment.yaml');
  writeFileSync(environment, 'settings: {}\n');
  let gateway: Gateway | null = null;
  try {
    gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps: filed.path, stateDir: filedState.path, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: () => {} }));
    const running = gateway;
    const one = await waitFor(async () => (await running.status()).apps.find((a) => a.name === 'one')?.problem ?? null, 20_000, 'one to be refused');
    assert.is(one.hint, `set \`services.redis\` in ${environment} (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), then call \`gateway.reload()\`: it reads the file again and retries the app`);
  } finally {
    await stopGatewayAndWork(gateway, { remove: () => [filed, filedState].forEach((d) => d.remove()) });
  }
});

test('serve says to start serve with an environment file (or again, once the one it has sets the service)', async () => {
  const dir = writePackage(work.path, 'queue', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const bare = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--workers=1']);
  assert.is(bare.status, 1, bare.stdout + bare.stderr);
  assert.match(bare.stderr, /queue asks for services\.redis: redis, but the host offers no redis server\n/);
  // serve's own command line again, every option kept as given (`--workers=1` too), the file added.
  assert.ok(bare.stderr.includes(`fix: set \`services.redis\` in an environment file (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), and pass it: \`apppkg-gateway serve ${dir} --port 0 --state-dir ${state.path} --workers=1 --environment FILE\`\n`), bare.stderr);
  const environment = join(work.path, 'serve-environment.yaml');
  writeFileSync(environment, 'settings: {}\n');
  const given = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path, '--environment', environment]);
  assert.is(given.status, 1, given.stdout + given.stderr);
  assert.ok(given.stderr.includes(`fix: set \`services.redis\` in ${environment} (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), then start serve again: it reads the file once, as it starts\n`), given.stderr);
});

test('check without --environment says to give an environment file, and how; with one, only what to set in it', async () => {
  const dir = writePackage(apps.path, 'cache', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\n', 'web.py': WSGI });
  const bare = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(bare.status, 1, bare.stdout + bare.stderr);
  assert.match(bare.stdout, /FAIL\s+services\.redis\s+\S+app\.yaml:4:3: cache asks for services\.redis: redis, but the host offers no redis server/);
  // check's own line again, its --state-dir kept: without it the check ran on another state root.
  assert.match(bare.stdout, `fix: set \`services.redis\` in an environment file (e.g. \`services: {redis: redis://127.0.0.1:6379}\`), and pass it: \`apppkg-gateway check ${dir} --state-dir ${state.path} --environment FILE\`\n`);
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'settings: {}\n');
  const given = await runCli(['check', dir, '--environment', environment, '--state-dir', state.path]);
  assert.is(given.status, 1, given.stdout + given.stderr);
  // Named, as serve and --apps name theirs: "the environment file" left the user to guess which.
  assert.match(given.stdout, `fix: set \`services.redis\` in ${environment} (e.g. \`services: {redis: redis://127.0.0.1:6379}\`)\n`);
});

// SPEC 5.2: the app asking for postgresql on a host with none is refused "with an error naming
// the environment key to set". install and run, given no environment file, named "the
// environment file", one the user never gave, and not how to give it.
test('install and run without --environment say to give an environment file, and how: install on its own command line', async () => {
  const dir = writePackage(work.path, 'ledger', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  database: postgresql\n', 'web.py': WSGI });
  const installed = await runCli(['install', dir, '--state-dir', state.path]);
  assert.is(installed.status, 1, installed.stdout + installed.stderr);
  const all = installed.stdout + installed.stderr;
  assert.match(all, /ledger asks for services\.database: postgresql, but the host offers no postgresql server\n/);
  assert.ok(all.includes(`set \`services.postgresql\` in an environment file (e.g. \`services: {postgresql: postgresql:///postgres?host=/var/run/postgresql}\`), and pass it: \`apppkg-gateway install ${dir} --state-dir ${state.path} --environment FILE\`, or ask for \`database: sql\``), all);
  // run's own command line, --state-dir kept and the option before `--` (after it, it went to CMD).
  const ran = await runCli(['run', dir, '--state-dir', state.path, '--', 'python', '-c', 'print(1)']);
  assert.is(ran.status, 1, ran.stdout + ran.stderr);
  assert.ok(ran.stderr.includes(`, and pass it: \`apppkg-gateway run ${dir} --state-dir ${state.path} --environment FILE -- python -c 'print(1)'\``), ran.stderr);
  const tested = writePackage(work.path, 'tested', { 'app.yaml': 'platform: python, wsgi\napp: web:application\nservices:\n  redis: redis\ncommands:\n  test: "true"\n', 'web.py': WSGI });
  const test_ = await runCli(['test', tested, '--state-dir', state.path]);
  assert.is(test_.status, 1, test_.stdout + test_.stderr);
  assert.ok(test_.stderr.includes(`, and pass it: \`apppkg-gateway test ${tested} --state-dir ${state.path} --environment FILE\``), test_.stderr);
});

test.run();
