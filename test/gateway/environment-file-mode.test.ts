// The environment file holds every app's settings and the services' admin passwords. As root the
// apps run as other users of the host (SPEC 2.1: one app's settings are never visible to
// another), so a file they may read (a 0644 left by the umask) gives each app all of them: the
// gateway says so in its log at the start and at each SIGHUP, with the chmod that closes it. A
// file only root's group may read is closed to them (the apps run without root's groups). Needs
// root: skipped otherwise, as the gateway then runs the apps as its own user.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('gateway: environment file mode');
const ifRoot = runIf(test, isRoot, 'needs root: only then do the apps run as other users who could read the file');
const work = tempDir('apppkg-envmode-');
test.after(() => work.remove());

const WARNING = /WARNING: the environment file (\S+) \(mode (\d+)\) can be read by users other than its owner.*chmod 600 \1/g;

ifRoot('an environment file others may read is said at the start and at SIGHUP; one closed to them is not', async () => {
  const apps = join(work.path, 'apps');
  const state = join(work.path, 'state');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'settings:\n  SHARED: x\n');
  chmodSync(env, 0o644);
  mkdirSync(apps);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', env]);
  try {
    const warnings = () => [...gw.output().matchAll(WARNING)].map((m) => `${m[1]} ${m[2]}`);
    await waitFor(() => warnings().length === 1, 5000, 'the warning at the start');
    assert.equal(warnings(), [`${env} 0644`]);
    const sighups = () => gw.output().split('SIGHUP: reading').length - 1;
    // Closed to the apps: 0600, and 0640 with root's group. The reloads run one after another, so
    // a warning they gave wrongly comes before the next one's, and the last check sees its mode.
    for (const mode of [0o600, 0o640]) {
      chmodSync(env, mode);
      const before = sighups();
      gw.child.kill('SIGHUP');
      await waitFor(() => sighups() > before, 5000, 'the SIGHUP to be taken');
    }
    chmodSync(env, 0o604);
    gw.child.kill('SIGHUP');
    await waitFor(() => warnings().length === 2, 5000, 'the warning at the SIGHUP');
    assert.equal(warnings(), [`${env} 0644`, `${env} 0604`], gw.output());
  } finally {
    await stopGatewayChecked(gw);
  }
});

// /dev/null is 0666, as every user must write to it: its mode says nothing of settings (it has
// none), and `chmod 600 /dev/null`, the fix the warning gave, breaks the host for every user but
// root. A device is never the file the warning is about; a file or a FIFO still is.
ifRoot('an environment file that is a device (/dev/null) gets no warning and no chmod to run', async () => {
  const apps = join(work.path, 'apps-devnull');
  mkdirSync(apps);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state-devnull'), '--environment', '/dev/null']);
  try {
    // Said before the listeners, when it is said at all: startCli has read past it.
    assert.not.match(gw.output(), /WARNING: the environment file|chmod 600 \/dev\/null/, gw.output());
  } finally {
    await stopGatewayChecked(gw);
  }
});

test.run();
