// gateway.restart() beside or after gateway.stop() (SPEC 5.7: `await gateway.stop()` leaves no
// process behind, and a restart held at the same time must not say otherwise): it resolved, as
// if fresh workers served, while the stop had stopped them all and started none.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Gateway, isGatewayError } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, within } from '../helpers/process.js';

const test = suite('Gateway.restart once stop() began');
const work = tempDir('apppkg-lib-restart-stop-');
let gateway: Gateway | null = null;
let pids: number[] = [];

test.after(async () => {
  await gateway?.stop();
  await assertNoOrphans(pids);
  work.remove();
});

test('a restart during the stop and one after it reject, naming the stop; no process is left', async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'hello', {
    'app.yaml': 'platform: python, wsgi\napp: hello:application\n',
    'hello.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hello"]\n',
  });
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: join(work.path, 'state'), watchIntervalMs: 0, say: () => {} }));
  pids = gateway.pids;
  assert.ok(pids.length > 0, 'workers');
  const stopping = gateway.stop();
  const outcome = (p: Promise<void>) => p.then(() => 'resolved', (err: unknown) => (isGatewayError(err) ? `${err.code}: ${err.message}` : String(err)));
  const during = await outcome(gateway.restart('hello'));
  assert.is(gateway.status().state, 'stopping', 'while it stops');
  await within(60_000, 'the stop', stopping);
  // It said `stopping` for good: a program could not tell a finished stop from one under way.
  assert.is(gateway.status().state, 'stopped', 'once stop() resolved');
  const after = await outcome(gateway.restart());
  assert.match(during, /^APPPKG_ADMIN_ACTION_FAILED: restart of hello failed: this gateway's stop\(\) began at \S+; a stopped gateway starts nothing$/);
  assert.match(after, /^APPPKG_ADMIN_ACTION_FAILED: restart of every app failed: this gateway's stop\(\) began at /);
  assert.equal(gateway.pids, []);
  await assertNoOrphans(pids);
});

// The name was judged first: a stopped gateway answered "has no app named nope; its apps: hello",
// and restart('hello'), which that named, failed in its turn for the stop.
test('after the stop, a name it has no app of is refused for the stop too, not with its apps', async () => {
  assert.ok(gateway !== null, 'the first test started a gateway');
  const outcome = (p: Promise<unknown>) => p.then(() => 'resolved', (err: unknown) => (isGatewayError(err) ? `${err.code}: ${err.message} | ${err.hint ?? ''}` : String(err)));
  const g = gateway;
  for (const [call, p] of [['restart', () => g.restart('nope')], ['restartApp', () => g.restartApp('nope')], ['rollback', () => g.rollback('nope')]] as const) {
    assert.match(await outcome(p()), /^APPPKG_ADMIN_ACTION_FAILED: \w+ of nope failed: .*stop.* \| start a new gateway \(Gateway\.start\)/, call);
  }
});

test.run();
