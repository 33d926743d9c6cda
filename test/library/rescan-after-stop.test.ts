// gateway.rescan() and reload() once stop() has begun (SPEC 5.7: `await gateway.stop()` leaves
// no process behind, and status() is what the program reads): a look at the apps directory was
// still begun, and a package put there during or after the stop was listed in status() as
// `starting` for good, by a gateway that would start nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, within } from '../helpers/process.js';

const test = suite('Gateway.rescan once stopped');
const work = tempDir('apppkg-lib-rescan-stop-');
let gateway: Gateway | null = null;
let pids: number[] = [];

test.after(async () => {
  await gateway?.stop();
  await assertNoOrphans(pids);
  work.remove();
});

const wsgi = {
  'app.yaml': 'platform: python, wsgi\napp: hello:application\n',
  'hello.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hello"]\n',
};

for (const when of ['during', 'after'] as const) {
  test(`a package added ${when} the stop is not listed by a rescan() or reload() then; no process is started`, async () => {
    const apps = join(work.path, `apps-${when}`);
    writePackage(apps, 'hello', wsgi);
    gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: join(work.path, `state-${when}`), watchIntervalMs: 0, say: () => {} }));
    pids = gateway.pids;
    assert.ok(pids.length > 0, 'workers');
    const looks = gateway.status().scan?.started;
    const stopping = gateway.stop();
    if (when === 'after') await within(60_000, 'the stop', stopping);
    writePackage(apps, 'greet', wsgi);
    await within(30_000, 'rescan()', gateway.rescan());
    await within(30_000, 'reload()', gateway.reload());
    await within(60_000, 'the stop', stopping);
    assert.equal(gateway.status().apps.map((a) => `${a.name} ${a.state}`), ['hello stopped']);
    assert.equal(gateway.status().scan?.started, looks, 'no look at the apps directory begun');
    assert.equal(gateway.pids, []);
    await assertNoOrphans(pids);
  });
}

test.run();
