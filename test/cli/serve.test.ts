import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { assertNoOrphans, childPids, EXAMPLES, FIXTURES, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('cli serve');
const state = tempDir('apppkg-serve-state-');
const running: RunningGateway[] = [];

test.after(async () => {
  for (const g of running) await g.stop();
  state.remove();
});

async function serve(dir: string, extra: string[] = []): Promise<RunningGateway> {
  const g = await startCli(['serve', dir, '--port', '0', '--state-dir', state.path, ...extra]);
  running.push(g);
  return g;
}

test('the guestbook keeps an entry across a restart of the gateway', async () => {
  let gw = await serve(join(EXAMPLES, 'guestbook'));
  let home = await request(`${gw.url}/`);
  assert.is(home.statusCode, 200);
  assert.match(String(home.headers['content-type']), /text\/html/);
  await home.body.text();

  const signed = await request(`${gw.url}/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'name=Ada&message=persisted+across+restarts',
  });
  assert.is(signed.statusCode, 303);
  assert.is(signed.headers.location, '/');
  await signed.body.text();

  const css = await request(`${gw.url}/static/style.css`);
  assert.is(css.statusCode, 200);
  assert.match(String(css.headers['content-type']), /text\/css/);
  await css.body.text();

  const workers = await childPids(gw.child.pid!);
  assert.ok(workers.length >= 2, `expected 2 workers, found ${workers.join(',')}`);
  assert.is(await gw.stop(), 0);
  await assertNoOrphans(workers);

  gw = await serve(join(EXAMPLES, 'guestbook'));
  home = await request(`${gw.url}/`);
  const html = await home.body.text();
  assert.match(html, /persisted across restarts/);
  await gw.stop();
});

test('an app that fails to import: exit 1, the traceback, and the file and line', async () => {
  const r = await runCli(['serve', join(FIXTURES, 'apps', 'crash-on-import'), '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /Traceback/);
  assert.match(r.stderr, /APPPKG_APP_IMPORT_FAILED|cannot import/);
  assert.match(r.stderr, /helper\.py:4/);
  assert.match(r.stderr, /fix:/);
});

test('--reload restarts the workers when a .py file changes', async () => {
  const work = tempDir('apppkg-reload-');
  try {
    cpSync(join(EXAMPLES, 'hello'), work.path, { recursive: true });
    const gw = await serve(work.path, ['--reload']);
    const first = await request(`${gw.url}/`);
    assert.is(await first.body.text(), 'Hello, world!\n');
    const file = join(work.path, 'hello.py');
    writeFileSync(file, readFileSync(file, 'utf8').replace('Hello, world!', 'Hello, reloaded!'));
    await waitFor(
      async () => (await (await request(`${gw.url}/`)).body.text()) === 'Hello, reloaded!\n',
      20000,
      'the reloaded answer',
    );
    await gw.stop();
  } finally {
    work.remove();
  }
});

test('serve refuses a busy port with a clear error and exit 1', async () => {
  const gw = await serve(join(EXAMPLES, 'hello'));
  const port = new URL(gw.url).port;
  const r = await runCli(['serve', join(EXAMPLES, 'hello'), '--port', port, '--state-dir', state.path]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
  await gw.stop();
});

test.run();
