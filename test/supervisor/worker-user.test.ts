// Worker uid/gid: when the gateway runs as root, a worker runs as the app's user (SPEC §2
// `user:`); the options go to spawn. Skipped when the tests do not run as root.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker as WorkerClass } from '../../src/supervisor/worker.js';
import { fixtureApp } from '../helpers/link-harness.js';
import { assertNoOrphans, installForOtherUsers, sharedPath } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('worker user');
const NOBODY = 65534;
const PYTHON = '/usr/bin/python3'; // an interpreter any user may run (pyenv's under /root is not)
const ifRootAndPython = runIf(
  test,
  isRoot && existsSync(PYTHON),
  isRoot ? `needs ${PYTHON}, an interpreter any user may run` : 'needs root to start a worker as another user',
);
// Nobody must read python-shim, which a Worker finds beside its own module, and the app. From a
// checkout closed to other users (under /root, in a mktemp -d dir) both come from the shared
// copy: the built Worker (dist/) and a copy of the fixture.
const shared = isRoot ? installForOtherUsers() : null;
const { Worker } = (await import(
  shared?.copied ? pathToFileURL(join(shared.root, 'dist', 'supervisor', 'worker.js')).href : '../../src/supervisor/worker.js'
)) as typeof import('../../src/supervisor/worker.js');
let worker: WorkerClass | null = null;

test.after(async () => {
  const pid = worker?.pid;
  await worker?.stop(3000);
  if (pid) await assertNoOrphans([pid]);
});

ifRootAndPython('uid and gid reach spawn: the worker runs as that user and serves', async () => {
  const { dir: fixtureDir, app } = fixtureApp('faults');
  const dir = sharedPath(fixtureDir);
  worker = new Worker({
    python: PYTHON,
    env: { PATH: '/usr/bin:/bin', HOME: '/' },
    cwd: dir,
    app,
    sysPath: [dir],
    threads: 2,
    multiprocess: false,
    development: false,
    name: 'faults',
    stdout: () => undefined,
    stderr: () => undefined,
    uid: NOBODY,
    gid: NOBODY,
  });
  await worker.start(15_000);
  const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`\\nUid:\\t${NOBODY}\\t${NOBODY}\\t`));
  assert.match(status, new RegExp(`\\nGid:\\t${NOBODY}\\t${NOBODY}\\t`));
  assert.is(await worker.probe('/status/200', 5000), 200);
});

test.run();
