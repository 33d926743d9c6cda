// A program running a Gateway was told to run CLI commands it has no way to run there (its
// gateway has no admin listener with admin: false, and the methods that do the same are its
// own): a virtualenv removed by hand said "`apppkg-gateway restart shop` builds it again", a
// rolled-back version serving again "then `apppkg-gateway rollback blog`", a refusal tried again
// unchanged "`apppkg-gateway status` shows it", an import refused "`apppkg-gateway check DIR`
// repeats the import in the terminal", an environment file that did not load at reload() "SIGHUP:
// the environment file was not reloaded", and a database dropped while its app slept "bring back
// what they held with `apppkg-gateway restore`". Each now names the library's call, as
// option-names.test.ts has the options named. Imported by the package's own name, as a program does.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { addPackage, wsgiPackage, writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';
import { serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { statusPids } from '../helpers/status.js';

const test = suite('library: fixes name the Gateway\'s methods, not the CLI\'s commands');
const work = tempDir('apppkg-lib-command-words-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;
let pg: RunningPostgres | null = null;

// Nothing to install: the venv itself is what is removed.
writePackage(apps, 'shop', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n', 'requirements.txt': '', 'wsgi.py': WSGI });
addPackage(apps, 'crash-on-import', 'broken');
for (const v of ['1', '2']) wsgiPackage(apps, `blog.${v}`, 'platform: python, wsgi\napp: wsgi:application\n');

test.before(async () => {
  const environment = join(work.path, 'environment.yaml');
  let services = '';
  if (missing === null) {
    pg = await startPostgres();
    addPackage(apps, 'services-probe', 'ledger', {
      'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
    });
    services = `services:\n  postgresql: ${JSON.stringify(pg.url)}\n`;
  }
  writeFileSync(environment, `${services}defaults:\n  workers: 1\napps:\n  ledger:\n    idle_timeout: 1\n`, { mode: 0o600 });
  gateway = await within(180_000, 'Gateway.start', Gateway.start({ apps, stateDir: state, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
});

test.after(() => stopGatewayAndWork(gateway, work, seen, async () => pg?.stop()));

const log = (): string => said.join('\n');
const app = (name: string): any => (gateway!.status() as any).apps.find((a: any) => a.name === name);

test('a virtualenv removed by hand: the fix is gateway.restart(NAME), in the log and in status, with no word of serve', async () => {
  const res = await request(`${gateway!.urls[0]}/shop/`, { headersTimeout: 120_000 });
  assert.is(res.statusCode, 200);
  await res.body.text();
  const before = statusPids({ apps: [app('shop')] });
  for (const pid of before) seen.add(pid);
  const appState = join(state, 'apps', 'shop');
  for (const entry of readdirSync(appState)) if (entry === 'venv' || entry.startsWith('venv-')) rmSync(join(appState, entry), { recursive: true, force: true });
  for (const pid of app('shop').workers.map((w: any) => w.pid).filter(Boolean)) process.kill(pid, 'SIGKILL');
  const fix = "(removed since the app was started); `gateway.restart('shop')` builds it again and starts the app on it";
  await waitFor(() => said.some((l) => l.startsWith('shop: worker') && l.includes(fix)), 30_000, () => `the venv's fix in the log:\n${log()}`);
  const row = await waitFor(() => app('shop').restarting.find((w: any) => w.lastExit?.failedToStart), 30_000, 'the restarting worker in status');
  assert.ok(row.lastExit.failedToStart.includes(fix), row.lastExit.failedToStart);
  assert.not.match(log(), 'apppkg-gateway restart');
  assert.not.match(log(), 'under serve');
});

test('a refusal tried again with the same files: the line says gateway.status() shows it', async () => {
  await waitFor(() => app('broken')?.problem, 30_000, 'broken to be refused');
  await gateway!.reload();
  const still = await waitFor(() => said.find((l) => /^broken: \S+ still refused: /.test(l)), 30_000, () => `the still-refused line:\n${log()}`);
  assert.match(still, 'the whole refusal was logged then, `gateway.status()` shows it; change a file in it to deploy it anew)');
  assert.not.match(still, 'apppkg-gateway status');
});

test('a refused import: its fix says AppPackage\'s check() repeats the import, not `apppkg-gateway check DIR`', async () => {
  const problem = await waitFor(() => app('broken')?.problem, 30_000, 'broken to be refused');
  assert.is(problem.code, 'APPPKG_APP_IMPORT_FAILED', JSON.stringify(problem));
  assert.ok(problem.hint.endsWith(`a change to any file of the version retries it, and \`(await AppPackage.open(${JSON.stringify(join(apps, 'broken'))})).check()\` repeats the import`), problem.hint);
  assert.not.match(log(), 'apppkg-gateway check');
});

test('the version rolled back to removed: the one rolled back from serves again, and the way back is gateway.rollback(NAME)', async () => {
  await waitFor(() => app('blog')?.version === '2', 60_000, 'blog version 2 to serve');
  await gateway!.rollback('blog');
  rmSync(join(apps, 'blog.1'), { recursive: true });
  await gateway!.rescan();
  const again = await waitFor(() => said.find((l) => l.startsWith('blog: version 2 serves again')), 30_000, () => `the serves-again line:\n${log()}`);
  assert.ok(again.endsWith("(to roll back again, put the version to go back to beside it, then `gateway.rollback('blog')`)"), again);
});

test('reload() with an environment file that does not load: its line begins with gateway.reload(), not SIGHUP', async () => {
  const environment = join(work.path, 'environment.yaml');
  const before = readFileSync(environment, 'utf8');
  writeFileSync(environment, 'defaults: [not, a, mapping]\n', { mode: 0o600 });
  try {
    await within(30_000, 'reload()', gateway!.reload());
  } finally {
    writeFileSync(environment, before, { mode: 0o600 });
  }
  const line = said.find((l) => l.includes('the environment file was not reloaded'));
  assert.ok(line?.startsWith('`gateway.reload()`: the environment file was not reloaded; the one read before stays in force, whole:\n'), line ?? log());
  assert.not.match(log(), 'SIGHUP');
});

withServers('a database dropped while its app slept: the warning names AppPackage\'s runCommand(\'restore\')', async () => {
  const whoami = async (): Promise<number> => {
    const res = await request(`${gateway!.urls[0]}/ledger/whoami`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
    await res.body.text();
    return res.statusCode;
  };
  await waitFor(async () => (await whoami()) === 200, 60_000, 'ledger to serve from its database');
  await waitFor(() => app('ledger').state === 'idle', 30_000, 'ledger to sleep');
  pg!.psql('DROP DATABASE apppkg_ledger WITH (FORCE)');
  pg!.psql('DROP ROLE apppkg_ledger');
  assert.is(await whoami(), 200, log());
  const warning = said.find((l) => l.startsWith('ledger: WARNING: its postgresql role or database'));
  assert.ok(warning?.endsWith("bring back what they held with AppPackage's `runCommand('restore', { env: { APPPKG_BACKUP_DIR: DIR } })` from a backup"), warning ?? log());
});

test.run();
