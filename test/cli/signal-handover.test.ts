// Node gives a signal back to the kernel's default, which kills, when its last listener is
// removed. The gateway hands each stop signal from one listener to the next (the first SIGTERM's
// to the "again" one, SIGHUP's while starting to the reload's, the reload's to the stopping
// one's); done off-then-on, a copy arriving between the two ended it with no word, its apps'
// workers left behind: under load, a SIGTERM to `npm start`'s process group, which the script
// passes on, met that gap in 1 run of 5 (test/cli/npm-start). The gap is microseconds wide, so
// this test does not race a signal into it: it reads the process's own caught-signal mask
// (/proc/self/status SigCgt) after every removal of a listener, through a preload module in the
// real gateway, and the gateway must never stand without a handler for a signal it listened to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { assertNoOrphans, ROOT, startCli, tempDir, waitFor, within } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const PRELOAD = `
import { readFileSync, writeFileSync } from 'node:fs';
const WATCHED = { SIGHUP: 1, SIGINT: 2, SIGUSR1: 10, SIGTERM: 15 };
const caught = () => BigInt('0x' + /SigCgt:\\s*(\\w+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const listened = new Set();
const gaps = [];
for (const name of ['on', 'addListener', 'once', 'prependListener']) {
  const add = process[name];
  process[name] = function (event, listener) {
    if (event in WATCHED) listened.add(event);
    return add.call(this, event, listener);
  };
}
for (const name of ['off', 'removeListener']) {
  const remove = process[name];
  process[name] = function (event, listener) {
    const result = remove.call(this, event, listener);
    if (listened.has(event) && ((caught() >> BigInt(WATCHED[event] - 1)) & 1n) === 0n) {
      gaps.push(event + ' uncaught after process.' + name + ', ' + (new Error().stack.split('\\n')[2] ?? '').trim());
    }
    return result;
  };
}
process.on('exit', () => writeFileSync(process.env.APPPKG_TEST_SIGNAL_GAPS, JSON.stringify(gaps)));
`;

test('the gateway is never without a handler for SIGHUP, SIGINT, SIGTERM or SIGUSR1 while it hands one over: starting, reloading on SIGHUP, stopping on SIGTERM', async () => {
  const work = tempDir('apppkg-signal-handover-');
  try {
    const preload = join(work.path, 'signal-gaps.mjs');
    writeFileSync(preload, PRELOAD);
    const gapsFile = join(work.path, 'gaps.json');
    const apps = join(work.path, 'apps');
    addPackage(apps, 'examples/hello', 'hello');
    const gw = await startCli(['--import', preload, join(ROOT, 'dist', 'cli', 'main.js'), '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', ...oneWorkerEach(work.path)], {
      bin: process.execPath,
      env: { APPPKG_TEST_SIGNAL_GAPS: gapsFile },
    });
    let pids: number[] = [];
    try {
      await waitFor(async () => (await fetch(`${gw.url}/hello/`)).status === 200, 30_000, 'hello to serve');
      pids = statusPids(await gatewayStatus(gw));
      gw.child.kill('SIGHUP');
      await waitFor(() => gw.output().includes('rescanning the apps directory'), 10_000, () => `the reload's line:\n${gw.output()}`);
      const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
      gw.child.kill('SIGTERM');
      assert.is(await within(30_000, 'the gateway to stop', exited), 0, gw.output());
      assert.ok(existsSync(gapsFile), `the preload wrote nothing:\n${gw.output()}`);
      assert.equal(JSON.parse(readFileSync(gapsFile, 'utf8')), [], gw.output());
      await assertNoOrphans(pids);
    } finally {
      await gw.stop();
    }
  } finally {
    work.remove();
  }
});

test.run();
