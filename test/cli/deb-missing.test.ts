// `deb:` packages not installed (SPEC 1.3: what the app imports from the system interpreter):
// `check` names them, and a start says the same in the app's log and the gateway's, without
// refusing an app that still imports; one whose import fails is refused naming the packages,
// with check's fix, rather than with the bare ModuleNotFoundError.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
const FIX = `fix: run \`apt-get install -y ${ABSENT}\` (or \`apppkg-gateway install --system\` as root)`;

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

test.run();
