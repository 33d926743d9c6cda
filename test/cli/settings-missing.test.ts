// A setting that app.yaml requires and nobody gives (SPEC §1.1 `settings:`): the fix says where
// it may come from for the command at hand. A command (test, run, check, serve) also takes it
// from its shell; the gateway under --apps never does (one app's secret must not reach another),
// so its refusal must not send a user to `export` a variable that would change nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('cli: a missing setting');
const work = tempDir('apppkg-settings-missing-');
test.after(() => work.remove());

test('a command offers its shell as well as the environment file; the gateway under --apps only the file', async () => {
  const apps = join(work.path, 'apps');
  const app = join(apps, 'needy');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\nsettings: [NEEDED]\ncommands:\n  test: "true"\n');
  writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');
  const state = join(work.path, 'state');
  const env = { NEEDED: undefined } as NodeJS.ProcessEnv;

  const ran = await runCli(['test', app, '--state-dir', state], { env });
  assert.is(ran.status, 1, ran.stderr);
  assert.match(ran.stderr, '  fix: set NEEDED in the environment file (apps: {needy: {settings: {...}}}) or as environment variables of the shell that runs this command\n');
  assert.is((await runCli(['test', app, '--state-dir', state], { env: { NEEDED: 'x' } })).status, 0, 'the shell\'s variable is taken');

  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off'], { env: { NEEDED: 'x' } });
  try {
    const fix = '  fix: set NEEDED in the environment file (apps: {needy: {settings: {...}}}) that the gateway is given with --environment FILE: the gateway\'s own environment variables never reach an app under --apps\n';
    await waitFor(() => gw.output().includes(fix), 15_000, () => `the refusal in:\n${gw.output()}`);
  } finally {
    await gw.stop();
  }
});

test.run();
