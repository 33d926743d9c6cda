// Two of an AppPackage's commands at once (SPEC 5.7: `.runCommand(name)` and `.run(argv)`, each a
// promise a caller may hold beside another): both write the app's run helpers on a fresh state
// root, and shared one temporary name for each file, so the second rename found it gone and the
// command rejected with APPPKG_STATE_DIR_FAILED instead of running.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AppPackage } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { tempDir, within } from '../helpers/process.js';

const test = suite('AppPackage: commands at once');
const work = tempDir('apppkg-lib-concurrent-');
test.after(() => work.remove());

const quiet = () => new Writable({ write: (_chunk, _enc, done) => done() });

test('runCommand and run of one app at once, on a fresh state root, each resolve with its own exit status', async () => {
  const dir = writePackage(work.path, 'blog.1.0', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\ncommands:\n  test: python -c "import sys; sys.exit(3)"\n  check: "true"\n',
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  // Each round on a root of its own: the race is in writing the helpers the first time.
  for (const round of [1, 2, 3]) {
    const app = await AppPackage.open(dir, { stateDir: join(work.path, `state-${round}`), output: quiet() });
    const results = await within(60_000, 'the three commands', Promise.allSettled([app.runCommand('test'), app.runCommand('check'), app.run(['python', '-c', 'raise SystemExit(5)'])]));
    const shown = results.map((r) => (r.status === 'fulfilled' ? r.value : `${(r.reason as { code?: string }).code}: ${(r.reason as Error).message}`));
    assert.equal(shown, [3, 0, 5], `round ${round}`);
  }
});

test.run();
