// Two Gateways in one Node process (SPEC 5.7: `await Gateway.start(...)` is a library call, and
// a program may make two): on two state roots both serve and both stop with nothing left; a
// second one given the first's address is refused before any app starts, with a fix that
// names this process, not "another process listens ... `ss -ltnp` names it" (which names us).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Gateway, isGatewayError } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, within } from '../helpers/process.js';

const test = suite('two Gateways in one process');
const work = tempDir('apppkg-lib-two-gateways-');
const apps = join(work.path, 'apps');
const started: Gateway[] = [];
const say = () => {};

test.after(async () => {
  const pids = started.flatMap((g) => g.pids);
  await Promise.all(started.map((g) => g.stop()));
  await assertNoOrphans(pids);
  work.remove();
});

writePackage(apps, 'hello', {
  'app.yaml': 'platform: python, wsgi\napp: hello:application\n',
  'hello.py': 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"hello"]\n',
});

const start = (stateDir: string, listen: string, admin: string | false) =>
  within(60_000, `Gateway.start on ${listen}`, Gateway.start({ apps, listen, admin, stateDir: join(work.path, stateDir), watchIntervalMs: 0, say }));

test('two state roots serve side by side; the first one\'s address, TCP or unix, is refused naming this process', async () => {
  const [one, two] = await Promise.all([start('one', '127.0.0.1:0', '127.0.0.1:0'), start('two', '127.0.0.1:0', false)]);
  started.push(one, two);
  for (const g of [one, two]) {
    const res = await fetch(`${g.urls[0]}/hello/`, { signal: AbortSignal.timeout(15_000) });
    assert.is(await res.text(), 'hello');
  }
  const socket = join(work.path, 'one.sock');
  const three = await start('three', `unix:${socket}`, false);
  started.push(three);

  const taken: Array<[string, string | false, string, string]> = [
    // Named as the program gave them (listen, admin), not as the CLI's flags.
    [one.urls[0].replace('http://', ''), false, 'listen', one.urls[0].replace('http://', '')],
    ['127.0.0.1:0', one.adminUrl!.replace('http://', ''), 'admin', one.adminUrl!.replace('http://', '')],
    [`unix:${socket}`, false, 'listen', `unix:${socket}`],
  ];
  for (const [listen, admin, flag, address] of taken) {
    const err = await start('four', listen, admin).then(
      (g) => {
        started.push(g);
        return null;
      },
      (e: unknown) => e,
    );
    assert.ok(isGatewayError(err), `${flag} ${address}: started`);
    assert.is(err.code, 'APPPKG_LISTEN_FAILED');
    assert.is(err.message, `${flag}: cannot listen on ${address}: EADDRINUSE`);
    assert.is(err.hint, `this very process (pid ${process.pid}) listens on ${address} already: a gateway it started and has not stopped, or another of its listeners; give ${flag} another address, or stop what listens there first (await gateway.stop())`);
  }
  // The first one's state root: the fix is its stop(), not `kill PID` of this very process.
  const sameRoot = await start('one', '127.0.0.1:0', false).then(
    (g) => {
      started.push(g);
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(isGatewayError(sameRoot), 'started on the state root in use');
  assert.is(sameRoot.code, 'APPPKG_STATE_ROOT_IN_USE');
  assert.is(sameRoot.hint, "this very process holds it: a gateway it started and has not stopped; await that gateway's stop() first, or give this one a state root of its own with stateDir: DIR (or APPPKG_STATE_DIR)");
  // So for one app served twice (serve's lock is its app's).
  const serveOne = () => within(60_000, 'Gateway.start({ app })', Gateway.start({ app: join(apps, 'hello'), listen: '127.0.0.1:0', stateDir: join(work.path, 'serve'), say }));
  started.push(await serveOne());
  const served = await serveOne().then(
    (g) => {
      started.push(g);
      return null;
    },
    (e: unknown) => e,
  );
  assert.ok(isGatewayError(served), 'served twice');
  assert.is(served.code, 'APPPKG_APP_SERVED');
  assert.match(served.hint, /^this very process serves it: a Gateway\.start\(\{ app \}\) it made and has not stopped/);
  // Stopped, its address is free again for the next one in this process, given as the URL the
  // first one reported (urls, adminUrl), as the CLI takes its own `listening on` line.
  const [url, adminUrl] = [one.urls[0], one.adminUrl!];
  const pids = one.pids;
  await one.stop();
  await assertNoOrphans(pids);
  const again = await start('one', url, adminUrl);
  started.push(again);
  assert.equal([again.urls[0], again.adminUrl], [url, adminUrl]);
});

test.run();
