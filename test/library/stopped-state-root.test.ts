// A stopped gateway writes nothing more under its state root. While it runs, the interpreters'
// answers are kept in STATE/cache (environment/probe-cache.ts), named process-wide; after its
// stop a probe in the same process (the library's runCommand, a check) went on writing there,
// and made the directory again once the state root had been removed.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { clearInterpreterCache, discoverInterpreters } from '../../src/environment/interpreter-discovery.js';
import { addPackage } from '../helpers/apps-dir.js';
import { withDeadline } from '../helpers/link-harness.js';
import { assertNoOrphans, pathWithoutPyenvShims, tempDir } from '../helpers/process.js';

const test = suite('library: a stopped gateway\'s state root');
const work = tempDir('apppkg-lib-stopped-');
test.after(() => work.remove());

test('after stop, an interpreter probe in the same process writes nothing under the stopped gateway\'s state root', async () => {
  const apps = join(work.path, 'apps');
  const state = join(work.path, 'state');
  addPackage(apps, 'environ', 'blog');
  // Debian's Python: pyenv's python3 on PATH is a shim, ~0.5 s of bash to probe.
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'python: /usr/bin/python3\n');
  // Probed afresh: the files before it in this process have asked already (kept in memory).
  clearInterpreterCache();
  const gateway = await withDeadline(Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, environment, stateDir: state, watchIntervalMs: 0, say: () => {} }), 90_000, 'Gateway.start');
  const pids = gateway.pids;
  try {
    assert.ok(existsSync(join(state, 'cache')), 'the running gateway keeps its interpreters\' answers under its state root');
  } finally {
    await gateway.stop();
  }
  await assertNoOrphans(pids);
  rmSync(state, { recursive: true, force: true });
  clearInterpreterCache();
  // Any probe writes the cache: pyenv's shims, a dozen bash probes of ~0.4 s of CPU each, add none.
  assert.ok((await discoverInterpreters({ pathEnv: pathWithoutPyenvShims() })).length > 0);
  assert.not.ok(existsSync(state), 'a probe after the stop wrote under the removed state root');
});

test.run();
