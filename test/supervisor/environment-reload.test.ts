// SIGHUP reads the environment file again (supervisor/environment-reload.ts): an app whose
// settings changed is restarted with no failed request, the others keep their workers, a route
// change needs no restart, a file with a problem changes nothing, and `mail:` waits for a
// restart of the gateway. Driven through the real CLI, a real Python app and real requests.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { addPackage, clientLoop } from '../helpers/apps-dir.js';
import { scanEndedAfter, scanOf } from '../helpers/rescan.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('environment file reload (SIGHUP)');

interface Setup {
  gw: RunningGateway;
  envFile: string;
}
const opened: Array<{ gw: RunningGateway; dir: ReturnType<typeof tempDir> }> = [];

test.after.each(async () => {
  for (const { gw, dir } of opened.splice(0)) await stopGatewayChecked(gw, dir);
});

/**
 * blog and shop, both the `environ` fixture answering its GREETING setting as `version` (read
 * at import, so an answer tells which workers gave it), under an environment file `env`.
 */
async function open(env: string, dir = tempDir('apppkg-env-reload-')): Promise<Setup> {
  const apps = join(dir.path, 'apps');
  const greeting = { 'environ_app.py': [[/VERSION = "1"/, 'VERSION = os.environ.get("GREETING")']] as [RegExp, string][] };
  addPackage(apps, 'environ', 'blog', greeting);
  addPackage(apps, 'environ', 'shop', greeting);
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, env);
  // --watch-interval 0: nothing but the SIGHUP may change what runs.
  const gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'),
    '--environment', envFile, '--watch-interval', '0', '--access-log', 'off',
  ], { ms: 60_000 });
  opened.push({ gw, dir });
  return { gw, envFile };
}

/** The real file of python3 on PATH, to install as an interpreter the environment file names. */
function pathPython(): string {
  return realpathSync(spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim());
}

async function greetingAt(gw: RunningGateway, path: string): Promise<{ status: number; greeting: string | null }> {
  const res = await request(`${gw.url}${path}`);
  if (res.statusCode !== 200) {
    await res.body.dump();
    return { status: res.statusCode, greeting: null };
  }
  return { status: 200, greeting: ((await res.body.json()) as { version: string | null }).version };
}

async function workerPids(gw: RunningGateway, name: string): Promise<number[]> {
  return (await appStatus(gw, name)).workers.map((w: { pid: number }) => w.pid).sort();
}

/** Resolves once `re` is in the gateway's output (bounded). */
function logged(gw: RunningGateway, re: RegExp, ms = 30_000): Promise<unknown> {
  return waitFor(() => re.test(gw.output()), ms, `${re} in the gateway's log`).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- output ---\n${gw.output()}`);
  });
}

// One worker an app (a Python process costs about half a gateway's start in CPU): which app a
// reload restarts, reroutes or leaves alone is the same with one. The test that restarts blog
// under a client's requests gives it two, so that the restart has two to replace.
const ENV = (blogGreeting: string, extra = '', blogWorkers = 1) =>
  `settings:\n  GREETING: shared\napps:\n  blog:\n    workers: ${blogWorkers}\n    settings:\n      GREETING: ${blogGreeting}\n  shop:\n    workers: 1\n${extra}`;

test('changed settings reach the app after SIGHUP with no failed request; an unchanged app keeps its workers', async () => {
  const { gw, envFile } = await open(ENV('hello', '', 2));
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
  assert.equal(await greetingAt(gw, '/shop/'), { status: 200, greeting: 'shared' });
  const blogBefore = await workerPids(gw, 'blog');
  const shopBefore = await workerPids(gw, 'shop');

  const loop = clientLoop(`${gw.url}/blog/`, 4);
  await waitFor(() => loop.result.sent > 50, 10_000, 'the loop to run');
  writeFileSync(envFile, ENV('bonjour', '', 2));
  gw.child.kill('SIGHUP');
  await waitFor(() => loop.result.versions.includes('bonjour'), 30_000, 'the new setting to be answered');
  const sentAtSwitch = loop.result.sent;
  await waitFor(() => loop.result.sent > sentAtSwitch + 100, 10_000, 'requests after the switch');
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  assert.is(result.versions[0], 'hello');
  assert.is(result.versions.at(-1), 'bonjour');

  await logged(gw, /blog: settings\.GREETING changed in \S+environment\.yaml; restarting it/);
  assert.not.match(gw.output(), /shop: .*changed in/);
  const blogAfter = await waitFor(async () => {
    const pids = await workerPids(gw, 'blog');
    return pids.length === 2 && pids.every((p) => !blogBefore.includes(p)) && pids;
  }, 15_000, "blog's fresh workers in status", ASK_GATEWAY_EVERY_MS);
  assert.is(blogAfter.length, 2);
  assert.equal(await workerPids(gw, 'shop'), shopBefore, 'shop is not restarted');
  assert.equal(await greetingAt(gw, '/shop/'), { status: 200, greeting: 'shared' });
});

test('a shared setting restarts every app that does not override it, and only those', async () => {
  const { gw, envFile } = await open(ENV('hello'));
  const blogBefore = await workerPids(gw, 'blog');
  writeFileSync(envFile, ENV('hello').replace('GREETING: shared', 'GREETING: everyone'));
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/shop/')).greeting === 'everyone', 30_000, 'shop to answer the new shared setting', ASK_GATEWAY_EVERY_MS);
  await logged(gw, /shop: settings\.GREETING changed/);
  assert.not.match(gw.output(), /blog: .*changed in/);
  assert.equal(await workerPids(gw, 'blog'), blogBefore, 'blog overrides GREETING: not restarted');
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
});

test('a new mount is routed after SIGHUP without restarting the app', async () => {
  const { gw, envFile } = await open(ENV('hello'));
  const blogBefore = await workerPids(gw, 'blog');
  writeFileSync(envFile, ENV('hello').replace('  blog:\n', '  blog:\n    mount: /journal\n'));
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/journal/')).greeting === 'hello', 30_000, 'blog at /journal', ASK_GATEWAY_EVERY_MS);
  await logged(gw, /blog: mount changed in \S+; routed anew, its workers keep running/);
  assert.is((await greetingAt(gw, '/blog/')).status, 404, 'the old mount routes nowhere');
  assert.equal(await workerPids(gw, 'blog'), blogBefore);
  assert.is((await appStatus(gw, 'blog')).mount, '/journal');
});

test('a new idle_timeout and drain are applied after SIGHUP without restarting the app: the same workers, put to sleep by the new timeout', async () => {
  const { gw, envFile } = await open(ENV('hello', '    idle_timeout: 600\n'));
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
  const blogBefore = await workerPids(gw, 'blog');
  const shopBefore = await workerPids(gw, 'shop');
  assert.is((await appStatus(gw, 'shop')).idle?.timeoutSeconds, 600);
  writeFileSync(envFile, ENV('hello', '    idle_timeout: 2\n    drain: 7\n'));
  gw.child.kill('SIGHUP');
  await logged(gw, /shop: drain, idle_timeout changed in \S+environment\.yaml; applied, its workers keep running/);
  assert.not.match(gw.output(), /shop: .*restarting it/);
  assert.not.match(gw.output(), /blog: .*changed in/);
  assert.equal(await workerPids(gw, 'shop'), shopBefore, 'shop is not restarted');
  assert.is((await appStatus(gw, 'shop')).idle?.timeoutSeconds, 2);
  // The new timeout is in force: shop, asked nothing since, sleeps; its workers were those it had.
  await waitFor(async () => (await appStatus(gw, 'shop')).state === 'idle', 30_000, 'shop to go idle under its new idle_timeout', ASK_GATEWAY_EVERY_MS);
  assert.match(gw.output(), /shop: no request for 2 s; stopping its workers until the next request/);
  // Its next request wakes it, with the setting it was given.
  assert.equal(await greetingAt(gw, '/shop/'), { status: 200, greeting: 'shared' });
  assert.equal(await workerPids(gw, 'blog'), blogBefore, 'blog is not restarted');
});

test('a SIGHUP while a deploy runs its commands.update, after another SIGHUP, is applied at once, not once that hook and probe end', async () => {
  const { gw, envFile } = await open(ENV('hello'));
  const apps = join(dirname(envFile), 'apps');
  // blog's version 2 runs a migration that takes a minute; the first SIGHUP deploys it.
  addPackage(apps, 'environ', 'blog.2', {
    'environ_app.py': [[/VERSION = "1"/, 'VERSION = os.environ.get("GREETING")']],
    'app.yaml': [[/$/, '\ncommands:\n  update: sleep 60\n']],
  });
  gw.child.kill('SIGHUP');
  await logged(gw, /blog: running commands\.update of version 2/);
  // A second SIGHUP (a config-management run's reload) asks for blog to be looked at again after
  // the deploy under way, and its reload waited for that: hook (up to --hook-timeout, 600 s),
  // start and probe. The third, with shop's greeting changed, waited behind it before it even
  // read the file.
  gw.child.kill('SIGHUP');
  await logged(gw, /environment\.yaml: read again; nothing in it changed for any app[^]*environment\.yaml: read again; nothing in it changed/);
  writeFileSync(envFile, ENV('hello', '    settings:\n      GREETING: hola\n'));
  gw.child.kill('SIGHUP');
  await logged(gw, /shop: settings\.GREETING changed in \S+environment\.yaml; restarting it/, 20_000);
  // One more at once, while shop's restart is under way: that restart is what it asks for already.
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/shop/')).greeting === 'hola', 20_000, "shop's new greeting", ASK_GATEWAY_EVERY_MS);
  await logged(gw, /(read again; nothing in it changed for any app[^]*){3}/, 20_000);
  assert.is(gw.output().split('shop: settings.GREETING changed').length - 1, 1, 'shop restarted once for its one change');
  assert.not.match(gw.output(), /commands\.update done/, "blog's hook still runs");
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' }, 'version 1 serves while version 2 migrates');
});

test('an environment file with a problem changes nothing: the log gives the error at its line, the old settings serve', async () => {
  const { gw, envFile } = await open(ENV('hello'));
  const blogBefore = await workerPids(gw, 'blog');
  // GREETING's new value is good, workers: on line 5 is not: the whole file is refused.
  writeFileSync(envFile, ENV('bonjour').replace('  blog:\n    workers: 1\n', '  blog:\n    workers: two\n'));
  const { started } = await scanOf(gw);
  gw.child.kill('SIGHUP');
  await logged(gw, /the environment file was not reloaded; the one read before stays in force[^\n]*\n {2}\S*environment\.yaml:5:14: apps\.blog\.workers: expected a whole number of at least 1, found "two"/);
  // The rescan that follows the reload, to its end (the apps judged again): still the old one.
  await scanEndedAfter(gw, started);
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
  assert.equal(await workerPids(gw, 'blog'), blogBefore);
  assert.not.match(gw.output(), /changed in/);

  // Broken YAML likewise, with its position; then a good file applies.
  writeFileSync(envFile, 'apps: [\n');
  gw.child.kill('SIGHUP');
  await logged(gw, /\S*environment\.yaml:1:7: apps: expected valid YAML/);
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
  writeFileSync(envFile, ENV('bonjour'));
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/blog/')).greeting === 'bonjour', 30_000, 'the mended file to apply', ASK_GATEWAY_EVERY_MS);
});

test('an app refused at the start for an interpreter not there yet serves after SIGHUP once it is installed', async () => {
  const dir = tempDir('apppkg-env-reload-');
  const python = join(dir.path, 'python3');
  const { gw } = await open(ENV('hello').replace('  blog:\n', `  blog:\n    python: ${python}\n`), dir);
  assert.is((await greetingAt(gw, '/blog/')).status, 503);
  symlinkSync(pathPython(), python);
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/blog/')).greeting === 'hello', 30_000, 'blog to serve once python3 is there', ASK_GATEWAY_EVERY_MS);
});

test('a reload whose restart was refused (python: naming no interpreter yet) is applied by the next SIGHUP once the host is mended, the file unchanged', async () => {
  const { gw, envFile } = await open(ENV('hello'));
  const blogBefore = await workerPids(gw, 'blog');
  const python = join(envFile, '..', 'python3');
  writeFileSync(envFile, ENV('bonjour').replace('  blog:\n', `  blog:\n    python: ${python}\n`));
  gw.child.kill('SIGHUP');
  await logged(gw, /blog: [^\n]*refused; [^\n]*keeps serving/);
  assert.equal(await greetingAt(gw, '/blog/'), { status: 200, greeting: 'hello' });
  // What the refusal's fix asks for, done outside the file: the interpreter is installed there.
  symlinkSync(pathPython(), python);
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await greetingAt(gw, '/blog/')).greeting === 'bonjour', 30_000, 'the file to apply once python3 is there', ASK_GATEWAY_EVERY_MS);
  assert.not.equal(await workerPids(gw, 'blog'), blogBefore);
  assert.not.match(gw.output(), /nothing in it changed/);
});

test('a change to mail: keeps the running listener and says a restart of the gateway is needed', async () => {
  const { gw, envFile } = await open(ENV('hello', 'mail:\n  listen: 127.0.0.1:0\n'));
  const listening = /mail: SMTP on (\S+)/.exec(gw.output())?.[1];
  assert.ok(listening, gw.output());
  const pids = [...(await workerPids(gw, 'blog')), ...(await workerPids(gw, 'shop'))];
  writeFileSync(envFile, ENV('hello', 'mail:\n  listen: 127.0.0.1:1\n  lmtp: true\n'));
  gw.child.kill('SIGHUP');
  await logged(gw, /mail\.listen, mail\.lmtp changed, but the mail listener is set up only when the gateway starts; it keeps its old settings until then \(restart needed\)/);
  const status = await (await request(`${gw.adminUrl}/status`)).body.json() as { mail: { listen: string; protocol: string } };
  assert.is(status.mail.listen, listening);
  assert.is(status.mail.protocol, 'smtp');
  assert.equal([...(await workerPids(gw, 'blog')), ...(await workerPids(gw, 'shop'))], pids, 'no app restarted for mail:');
});

test.run();
