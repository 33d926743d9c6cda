import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, childPids, EXAMPLES, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('cli serve --reload: a save during the first start');
const state = warmStateDir('apppkg-serve-first-start-state-');
const running: RunningGateway[] = [];

test.after(async () => {
  for (const g of running) await g.stop();
  state.remove();
});

// H318: the watcher began only once the first start was judged, so a fix saved while that
// start still ran was never seen: 503 "waiting for a fix" with the fixed file on disk, until
// the next save.
test('serve --reload: a fix saved while the first start still imports the broken module is tried once that start fails', async () => {
  const work = tempDir('apppkg-reload-first-start-');
  try {
    const app = join(work.path, 'app');
    cpSync(join(EXAMPLES, 'hello'), app, { recursive: true, filter: (p) => !p.includes('__pycache__') });
    const file = join(app, 'hello.py');
    const good = readFileSync(file, 'utf8');
    // Outside the app's directory: the mark is no change to it.
    const importing = join(work.path, 'importing');
    writeFileSync(file, `${good}\nimport time\nopen(${JSON.stringify(importing)}, "w").close()\ntime.sleep(2)\nraise RuntimeError("broken while the fix is saved")\n`);
    const starting = startCli(['serve', app, '--port', '0', '--state-dir', state.path, '--workers', '1', '--reload']);
    // Not awaited before the save: startCli returns once the start is judged, too late.
    starting.then((g) => running.push(g), () => {});
    await waitFor(() => existsSync(importing), 30000, 'the broken module to be imported');
    writeFileSync(file, good);
    const gw = await starting;
    assert.match(gw.output(), /broken while the fix is saved/);
    await waitFor(
      async () => {
        const res = await request(`${gw.url}/`);
        return (await res.body.text()) === 'Hello, world!\n';
      },
      20000,
      () => `the fix saved during the first start to be served, with no save after it:\n${gw.output()}`,
      ASK_GATEWAY_EVERY_MS,
    );
    const workers = await childPids(gw.child.pid!);
    assert.is(await gw.stop(), 0);
    await assertNoOrphans(workers);
  } finally {
    work.remove();
  }
});

test.run();
