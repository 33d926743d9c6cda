// Worker uid/gid: when the gateway runs as root, a worker runs as the app's user (SPEC §2
// `user:`); the options go to spawn. Skipped when the tests do not run as root.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { Worker } from '../../src/supervisor/worker.js';
import { fixtureApp } from '../helpers/link-harness.js';
import { assertNoOrphans } from '../helpers/process.js';

const test = suite('worker user');
const NOBODY = 65534;
const PYTHON = '/usr/bin/python3'; // an interpreter any user may run (pyenv's under /root is not)
let worker: Worker | null = null;

test.after(async () => {
  const pid = worker?.pid;
  await worker?.stop(3000);
  if (pid) await assertNoOrphans([pid]);
});

test('uid and gid reach spawn: the worker runs as that user and serves', async () => {
  if (process.getuid?.() !== 0 || !existsSync(PYTHON)) {
    console.log('  (skipped: needs root and /usr/bin/python3)');
    return;
  }
  const { dir, app } = fixtureApp('faults');
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
