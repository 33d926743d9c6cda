// `deb:` packages not installed (SPEC 1.3: what the app imports from the system interpreter):
// `check` names them, and a start says the same in the app's log and the gateway's, without
// refusing an app that still imports; one whose import fails is refused naming the packages,
// with check's fix, rather than with the bare ModuleNotFoundError. An app listing no `deb:`,
// on an interpreter that lacks a module Debian gave /usr/bin/python3, is told the `deb:` line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('cli: deb packages not installed');
const onDebian = runIf(test, hasProgram('dpkg-query'), 'needs dpkg-query (a Debian host)');
const work = tempDir('apppkg-deb-missing-');
let gw: RunningGateway | null = null;
test.after(() => stopGatewayChecked(gw, work));

const ABSENT = 'python3-apppkg-no-such-package';
const SAID = `deb: package not installed: ${ABSENT}`;
// apt has no such package either: its fix says to check the name, not to apt-get what does not exist.
const FIX = `fix: this host's apt lists have no ${ABSENT}: check the name in deb: (\`apt-cache search WORD\`, Debian names Python packages python3-NAME), or run \`apt-get update\` if the lists are old; then \`apt-get install -y ${ABSENT}\``;

function writeApp(dir: string, firstLine: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), `app: wsgi:application\ndeb: [python3-yaml, ${ABSENT}]\n`);
  writeFileSync(join(dir, 'wsgi.py'), `${firstLine}\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n`);
}

onDebian('--apps: an app that still imports starts, its log and status naming the package; one that does not is refused naming it', async () => {
  const apps = join(work.path, 'apps');
  writeApp(join(apps, 'spare'), '# imports nothing of the missing package');
  writeApp(join(apps, 'uses'), 'import apppkg_no_such_module');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off']);
  const spare = await waitFor(async () => {
    const s = await appStatus(gw!, 'spare');
    return s?.state === 'ready' ? s : undefined;
  }, 30_000, () => `spare ready in:\n${gw!.output()}`);
  // The file, not status's log.lines: a gateway run as root shows those only with a token.
  const log = readFileSync(spare.log.file, 'utf8');
  assert.match(log, `[apppkg-gateway] ${join(apps, 'spare', 'app.yaml')}:2:21: ${SAID}; `);
  assert.match(log, FIX);
  const answer = await request(`${gw.url}/spare/`);
  assert.is(await answer.body.text(), 'up');
  const uses = await waitFor(async () => {
    const s = await appStatus(gw!, 'uses');
    return s?.problem ? s : undefined;
  }, 30_000, () => `uses refused in:\n${gw!.output()}`);
  assert.is(uses.problem.code, 'APPPKG_DEB_MISSING', JSON.stringify(uses.problem));
  assert.match(uses.problem.message, `app.yaml:2:21: ${SAID}`);
  assert.match(`fix: ${uses.problem.hint}`, FIX);
  assert.match(gw.output(), `uses: ${join(apps, 'uses', 'app.yaml')}:2:21: ${SAID}`);
});

onDebian('serve: an import that fails for the missing package is refused with check\'s words and fix', async () => {
  const app = join(work.path, 'served');
  writeApp(app, 'import apppkg_no_such_module');
  const served = await runCli(['serve', app, '--port', '0', '--state-dir', join(work.path, 'state')]);
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, "ModuleNotFoundError: No module named 'apppkg_no_such_module'");
  assert.match(served.stderr, `${join(app, 'app.yaml')}:2:21: ${SAID}\n  ${FIX}\n`);
});

// PyYAML from Debian (python3-yaml, as the apps above list it) seen by /usr/bin/python3 alone.
const systemYaml = hasProgram('dpkg') && spawnSync('/usr/bin/python3', ['-I', '-c', 'import yaml'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const withSystemYaml = runIf(test, systemYaml, 'needs python3-yaml for /usr/bin/python3 and dpkg (a Debian host)');

/**
 * An environment file naming a virtualenv's python, which stands for pyenv's python3 first on
 * PATH: neither looks in /usr/lib/python3/dist-packages, where apt put the module.
 */
function venvEnvironment(): string {
  const venv = join(work.path, 'venv');
  const environment = join(work.path, 'venv-environment.yaml');
  if (existsSync(environment)) return environment;
  const made = spawnSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8', timeout: 60_000 });
  assert.is(made.status, 0, made.stderr);
  writeFileSync(environment, `python: ${join(venv, 'bin', 'python3')}\n`);
  return environment;
}

withSystemYaml('no deb: listed, on an interpreter without a module Debian gave the system one: check and serve name the package and the deb: line', async () => {
  const environment = venvEnvironment();
  const venv = join(work.path, 'venv');
  const app = join(work.path, 'no-deb');
  mkdirSync(app);
  writeFileSync(join(app, 'app.yaml'), 'app: wsgi:application\n');
  writeFileSync(join(app, 'wsgi.py'), 'import yaml\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n');
  const python = join(venv, 'bin', 'python3');
  const said = `ModuleNotFoundError: No module named 'yaml'; /usr/bin/python3 imports yaml from Debian's python3-yaml, but the app runs on ${python}`;
  const fix = `fix: add \`deb: python3-yaml\` to app.yaml: an app that lists deb packages runs on /usr/bin/python3, where they are importable (or install yaml for ${python})`;
  const state = join(work.path, 'state');
  const checked = await runCli(['check', app, '--environment', environment, '--state-dir', state]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, said);
  assert.match(checked.stdout, `${fix}\n`);
  const served = await runCli(['serve', app, '--port', '0', '--environment', environment, '--state-dir', state]);
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, said);
  assert.match(served.stderr, `  ${fix}\n`);
  // A module no interpreter has keeps the traceback's fix.
  writeFileSync(join(app, 'wsgi.py'), 'import apppkg_no_such_module\n');
  const missing = await runCli(['check', app, '--environment', environment, '--state-dir', state]);
  assert.is(missing.status, 1, missing.stdout + missing.stderr);
  assert.match(missing.stdout, "ModuleNotFoundError: No module named 'apppkg_no_such_module'\n");
  assert.match(missing.stdout, 'fix: fix the error shown in the traceback');
});

// Mercurial's Python is in mercurial-common, its C extensions (which it imports) in mercurial,
// which depends on mercurial-common: the package a user installs, and the one `deb:` needs.
const systemMercurial = hasProgram('dpkg') && spawnSync('/usr/bin/python3', ['-I', '-c', 'import mercurial.hgweb'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const withMercurial = runIf(test, systemMercurial, 'needs mercurial for /usr/bin/python3 and dpkg (npm test installs it as root)');

withMercurial('a module two Debian packages share (hgweb: mercurial-common\'s Python, mercurial\'s C extensions): check names the one that depends on the other, deb: mercurial', async () => {
  const environment = venvEnvironment();
  const app = join(work.path, 'hgweb');
  mkdirSync(app);
  writeFileSync(join(app, 'app.yaml'), 'app: hgweb:application\n');
  writeFileSync(join(app, 'hgweb.py'), 'from mercurial.hgweb import hgweb\napplication = hgweb(b"hgweb.config")\n');
  const checked = await runCli(['check', app, '--environment', environment, '--state-dir', join(work.path, 'state')]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, "/usr/bin/python3 imports mercurial from Debian's mercurial, but the app runs on");
  assert.match(checked.stdout, 'fix: add `deb: mercurial` to app.yaml');
});

test.run();
