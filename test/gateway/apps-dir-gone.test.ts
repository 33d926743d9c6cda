// The --apps directory moved away while the gateway runs (a deploy that swaps it, a mistake):
// the log says so in words, the apps keep serving, and it is read again once it is back.
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { EXAMPLES, startCli, tempDir, waitFor } from '../helpers/process.js';
import { appStatus } from '../helpers/status.js';

const test = suite('the apps directory moved away');
const work = tempDir('apppkg-apps-gone-');
test.after(() => work.remove());

test('said in words (no stack), the apps keep serving, and it is read again when back', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--watch-interval', '0.3']);
  try {
    renameSync(apps, `${apps}.away`);
    await waitFor(() => gw.output().includes('cannot read the apps directory'), 15_000, 'the log line');
    assert.match(gw.output(), `cannot read the apps directory ${apps} (ENOENT); the apps keep serving as they are`);
    assert.not.match(gw.output(), /at readdirSync|reconcile failed/);
    assert.is((await request(`${gw.url}/hello/`)).statusCode, 200);
    cpSync(join(EXAMPLES, 'hello'), join(`${apps}.away`, 'second'), { recursive: true });
    renameSync(`${apps}.away`, apps);
    await waitFor(async () => (await request(`${gw.url}/second/`)).statusCode === 200, 20_000, 'the directory read again');
  } finally {
    await gw.stop();
  }
});

test('an app asleep meanwhile cannot wake: its problem says its directory is gone, not that the interpreter is missing', async () => {
  const apps = join(work.path, 'sleepers');
  mkdirSync(apps);
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const envFile = join(work.path, 'sleepers.yaml');
  writeFileSync(envFile, 'defaults:\n  idle_timeout: 1\n  workers: 1\n', { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'sleepers-state'), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  try {
    await waitFor(async () => (await appStatus(gw, 'hello'))?.state === 'idle', 20_000, 'hello asleep');
    renameSync(apps, `${apps}.away`);
    const res = await request(`${gw.url}/hello/`);
    await res.body.text();
    assert.is(res.statusCode, 503);
    const problem = (await appStatus(gw, 'hello')).problem;
    assert.match(problem.message, `in ${join(apps, 'hello')}: that directory is gone`);
    assert.not.match(problem.message, /python3?: spawn .* ENOENT/);
    renameSync(`${apps}.away`, apps);
    await waitFor(async () => (await request(`${gw.url}/hello/`)).statusCode === 200, 20_000, 'hello to wake once its directory is back');
  } finally {
    await gw.stop();
  }
});

test.run();
