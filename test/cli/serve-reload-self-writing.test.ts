// serve --reload and an app that writes a .py file into its own directory as it imports (a
// generated settings module, a cache kept as code): each import's write was a change, which
// restarted the workers, whose import wrote it again, for as long as serve ran. Now a restart
// for files changed during the one before is made once; what it writes again, the same files,
// is the app's own and restarts nothing from then on, while a save still restarts it, once.
// Through a real serve --reload and real Python imports, counted in a file outside the app's
// directory.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, childPids, EXAMPLES, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('cli serve --reload: an app that writes into its own directory as it imports');

async function answer(gw: RunningGateway): Promise<string> {
  const res = await request(`${gw.url}/`);
  return res.body.text();
}

test('is restarted once more for its own write, not at each import; a save still restarts it, once', async () => {
  const work = tempDir('apppkg-reload-self-writing-');
  const state = warmStateDir('apppkg-reload-self-writing-state-');
  let gw: RunningGateway | null = null;
  try {
    const app = join(work.path, 'app');
    cpSync(join(EXAMPLES, 'hello'), app, { recursive: true, filter: (p) => !p.includes('__pycache__') });
    const file = join(app, 'hello.py');
    const imports = join(work.path, 'imports');
    const writing = `\nimport os, time\nwith open(${JSON.stringify(imports)}, "a") as f:\n    f.write("import\\n")\nwith open(os.path.join(os.path.dirname(__file__), "generated_settings.py"), "w") as f:\n    f.write("STAMP = %r\\n" % time.time())\n`;
    writeFileSync(file, readFileSync(file, 'utf8') + writing);
    const count = () => (existsSync(imports) ? readFileSync(imports, 'utf8').split('\n').filter(Boolean).length : 0);
    gw = await startCli(['serve', app, '--port', '0', '--state-dir', state.path, '--workers', '1', '--reload']);
    const running = gw;
    assert.is(await answer(running), 'Hello, world!\n');
    // Each restart takes about a second: a loop would be several imports in by the end of this.
    await new Promise((r) => setTimeout(r, 6000));
    const atStart = count();
    assert.ok(atStart <= 2, `${atStart} imports in 6 s with no save\n${running.output()}`);
    assert.match(running.output(), /generated_settings\.py changed again during the restart made for it: taken for the app's own writes/);
    // A save restarts it; what that restart writes is known for the app's own by now.
    writeFileSync(file, readFileSync(file, 'utf8').replace('Hello, world!', 'Hello, again!'));
    await waitFor(async () => (await answer(running)) === 'Hello, again!\n', 20_000, () => `the saved change to serve\n${running.output()}`, ASK_GATEWAY_EVERY_MS);
    await new Promise((r) => setTimeout(r, 5000));
    assert.is(count(), atStart + 1, running.output());
    const workers = await childPids(running.child.pid!);
    assert.is(await running.stop(), 0);
    gw = null;
    await assertNoOrphans(workers);
  } finally {
    await gw?.stop();
    work.remove();
    state.remove();
  }
});

test.run();
