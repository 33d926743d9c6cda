// The two rules that replace an ASGI worker whose event loop is held (docs/architecture.md,
// "Timeouts"; src/supervisor/worker-pool.ts judgeTimedOut): the link's silence past the app's
// timeout, and a PING unanswered after a request's 504. They overlap, but not wholly: a view that
// awaits most of its timeout and only then holds the loop (sync code after an await) is silent
// for too short a time when its 504 comes, and its worker is replaced by the PING after that 504,
// long before the silence would have lasted the timeout. Real CLI, real Python worker; the
// heartbeat's beat and the PING's wait lowered (test knobs), the app's timeout 6 s.
// Fixture: test/fixtures/apps/asgi-timeout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('asgi worker whose loop is held late in a request');
const work = tempDir('apppkg-asgi-late-block-');
let gw: RunningGateway;
const pids = new Set<number>();

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${gw.url}/lb${path}`, { headersTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-timeout', 'lb');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  lb:\n    workers: 1\n    timeout: 6\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], {
    // A beat of 300 ms; the PING after a 504 (and an idle worker's hung check) waits 2 s.
    env: { APPPKG_TEST_HEARTBEAT_MS: '300', APPPKG_TEST_HUNG_AFTER_MS: '2000' },
  });
  pids.add(Number((await get('/pid')).body));
});

test.after(async () => {
  await gw?.stop(30_000);
  await assertNoOrphans([...pids], 10_000);
  work.remove();
});

test('a loop held 5.5 s into a 6 s timeout: the 504, then the worker replaced for the PING it left unanswered, not for its silence', async () => {
  const [pid] = pids;
  const from = gw.output().length;
  // Silent from about 5.5 s on: its silence would pass the timeout at about 12 s; the PING after
  // the 504 (at 6 s) goes unanswered by 8 s.
  const answer = await get('/late-block?5.5,30');
  assert.is(answer.status, 504, answer.body);
  const line = await waitFor(() => new RegExp(`lb: recycling worker ${pid}: .*`).exec(gw.output().slice(from)), 15_000, () => `the recycle line, in:\n${gw.output().slice(from)}`);
  assert.match(line[0], 'a request got no response head within 6 s, and its event loop did not answer for 2 s');
  assert.not.match(line[0], 'it has not answered the heartbeat within the app\'s timeout');
  const next = await waitFor(async () => {
    const got = await get('/pid');
    return got.status === 200 && Number(got.body) !== pid && Number(got.body);
  }, 15_000, 'the replacement serving');
  pids.add(next);
  await waitFor(() => !isAlive(pid), 20_000, `the held worker ${pid} gone`);
});

test.run();
