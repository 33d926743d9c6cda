// SPEC 5.7: a JavaScript caller gave `environment` and `stateDir`, never a flag, yet three fixes
// told it of the CLI's: a missing setting under `apps` ("given with --environment FILE ... under
// --apps"), a mail app's check without an environment file ("pass it with --environment"), and a
// second Gateway.start on the state root this process holds ("as --state-dir DIR"); and an
// `apps` that is no directory of app packages was "--apps: expected ...". Each now
// names the library's option, as APPPKG_CALLER=python makes the CLI say `environment=` and
// `state_dir=`. Imported from the built package by its own name (package.json exports), as a
// program that installed it imports it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError } from 'apppkg-gateway';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('library: fixes name the options the caller passed');
const work = tempDir('apppkg-lib-option-names-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
const say = (): void => {};
let gateway: Gateway | null = null;
test.after(() => stopGatewayAndWork(gateway, work));

// Its install hook outlasts the gateway's hookTimeoutMs.
writePackage(apps, 'slowhook', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  install: exec sleep 30\n', 'wsgi.py': WSGI });
writePackage(apps, 'needy', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nsettings: [NEEDED]\n', 'wsgi.py': WSGI });
// Port 1 on loopback: refused at once, no server there. The gateway is given it too, for pgsite.
const deadPostgres = join(work.path, 'dead-postgres.yaml');
writeFileSync(deadPostgres, 'services:\n  postgresql: postgresql://admin:secret@127.0.0.1:1/postgres\n', { mode: 0o600 });
writePackage(apps, 'pgsite', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n', 'wsgi.py': WSGI });
mkdirSync(join(work.path, 'pkgs'));
const mailApp = writePackage(join(work.path, 'pkgs'), 'desk', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nmail: /_mail\n', 'wsgi.py': WSGI });

test.before(async () => {
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: state, environment: deadPostgres, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, hookTimeoutMs: 1000, say }));
});

test('a setting missing under apps: the fix names environment, not --environment FILE', () => {
  const problem = gateway!.status().apps.find((a) => a.name === 'needy')?.problem;
  assert.is(problem?.code, 'APPPKG_SETTINGS_MISSING', JSON.stringify(problem));
  assert.is(problem!.hint, "set NEEDED in the environment file (apps: {needy: {settings: {...}}}) that the gateway is given with environment: FILE: the gateway's own environment variables never reach an app under apps");
});

test('a second Gateway.start on the state root this process holds: the fix names stateDir alone', async () => {
  const again = await within(60_000, 'the second Gateway.start', Gateway.start({ apps, stateDir: state, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, say })).then(
    async (g) => {
      await g.stop(); // started: stopped, so that the failure below leaves no process
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(isGatewayError(again), `started on the state root in use: ${String(again)}`);
  assert.is(again.code, 'APPPKG_STATE_ROOT_IN_USE');
  assert.is(again.hint, "this very process holds it: a gateway it started and has not stopped; await that gateway's stop() first, or give this one a state root of its own with stateDir: DIR (or APPPKG_STATE_DIR)");
});

test('check of a mail: app given no environment file: the fix says to give it as environment', async () => {
  const app = await AppPackage.open(mailApp, { stateDir: join(work.path, 'check-state') });
  const mail = (await within(60_000, 'AppPackage.check', app.check())).checks.find((c) => c.name === 'mail');
  assert.ok(mail !== undefined && !mail.ok, JSON.stringify(mail));
  assert.match(mail.detail, / \(no environment file given\)$/);
  assert.is(mail.fix, 'add `mail: {listen: 127.0.0.1:2525}` to the environment file (`lmtp: true` behind Postfix) and give it as environment: FILE; docs/mail.md');
});

test('apps that is not a directory of app packages: the message and fix name apps, not --apps', async () => {
  for (const [dir, found] of [
    [join(work.path, 'no-apps-here'), `nothing at ${join(work.path, 'no-apps-here')}`],
    [mailApp, `an app package (${join(mailApp, 'app.yaml')})`],
  ]) {
    const refusal = await within(60_000, `Gateway.start({ apps: ${dir} })`, Gateway.start({ apps: dir, stateDir: join(work.path, 'apps-state'), listen: '127.0.0.1:0', admin: false, say })).then(
      async (g) => {
        await g.stop();
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(isGatewayError(refusal), `Gateway.start({ apps: ${dir} }) started: ${String(refusal)}`);
    assert.is(refusal.code, 'APPPKG_APPS_DIR_INVALID');
    assert.is(refusal.message, `apps: expected a directory of app packages, found ${found}`);
    assert.not.match(refusal.format(), /--[a-z]/, refusal.format());
  }
});

test('a deploy\'s hook past hookTimeoutMs: the refusal names hookTimeoutMs and the gateway\'s calls, not --hook-timeout or systemctl', () => {
  const problem = gateway!.status().apps.find((a) => a.name === 'slowhook')?.problem;
  assert.is(problem?.code, 'APPPKG_COMMAND_TIMEOUT', JSON.stringify(problem));
  assert.match(problem!.message, /^commands\.install \(exec sleep 30\) did not finish within 1 s \(hookTimeoutMs\): it was stopped/);
  assert.match(problem!.hint ?? '', /a hook that needs longer needs a larger hookTimeoutMs \(milliseconds\); then the gateway's reload\(\) or rescan\(\) runs it again$/);
  assert.not.match(problem!.hint ?? '', /--hook-timeout|systemctl/);
});

test('check() of an app whose PostgreSQL does not answer: the fix gives the library\'s check, with environment', async () => {
  const dir = writePackage(join(work.path, 'pkgs'), 'pgapp', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n', 'wsgi.py': WSGI });
  const app = await AppPackage.open(dir, { environment: deadPostgres, stateDir: join(work.path, 'check-state') });
  const database = (await within(60_000, 'AppPackage.check', app.check())).checks.find((c) => c.name === 'services.database');
  assert.ok(database !== undefined && !database.ok && database.code === 'APPPKG_SERVICE_UNAVAILABLE', JSON.stringify(database));
  assert.match(database.fix, /; `\(await AppPackage\.open\(APP_DIR, \{ environment: FILE \}\)\)\.check\(\)` tries it$/);
  assert.not.match(database.fix, /apppkg-gateway check|--environment/);
});

// status() is the library's /status: a service's reason was failedServiceState's, the CLI's
// words (`apppkg-gateway check APP_DIR --environment FILE tries it`), though the refusal beside
// it named the library's check.
test('an app under apps whose PostgreSQL does not answer: its service\'s reason in status() gives the library\'s check, with environment', async () => {
  const database = await waitFor(() => gateway!.status().apps.find((a) => a.name === 'pgsite')?.services.find((s) => s.name === 'database'), 30_000, 'pgsite\'s database in status()');
  assert.is(database.state, 'unavailable', JSON.stringify(database));
  assert.match(database.reason ?? '', /^postgresql at 127\.0\.0\.1:1 \(services\.postgresql\): .*; `\(await AppPackage\.open\(APP_DIR, \{ environment: FILE \}\)\)\.check\(\)` tries it\)$/);
  assert.not.match(database.reason ?? '', /apppkg-gateway check|--environment|--state-dir/);
});

test('a host key in app.yaml (workers): its fix names environment, and Gateway.start({ app })\'s workers, not --environment or serve\'s flag', async () => {
  const dir = writePackage(join(work.path, 'pkgs'), 'hosty', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nworkers: 4\n', 'wsgi.py': WSGI });
  const refused = await AppPackage.open(dir, { stateDir: join(work.path, 'check-state') }).then(() => null, (e: unknown) => e);
  assert.ok(isGatewayError(refused), `opened: ${String(refused)}`);
  const problem = refused.details.problems?.[0];
  assert.is(problem?.code, 'APPPKG_DESC_UNKNOWN_KEY', refused.format());
  assert.is(problem!.hint, "move it to the environment file the gateway is given with environment: FILE, under the app's name: apps: {hosty: {workers: 4}} (Gateway.start({ app }) also takes workers: 4)");
});

test.run();
