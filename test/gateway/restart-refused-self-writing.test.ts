// H318: a refused restart of the serving version kept its files' signature from before the
// restart. An app that writes into its own directory while that restart fails looked mended to
// the watcher at its next look, and was restarted again, and again, at every poll. Through the
// real CLI, a real Python import and the admin's restart command.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('a refused restart of an app that writes into its own directory');

const APP_YAML = 'platform: python, wsgi\napp: wsgi:application\n';
const SERVES = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

test('is not restarted again at every look of the watcher for its own writes', async () => {
  const apps = tempDir('apppkg-restart-refused-apps-');
  const state = warmStateDir('apppkg-restart-refused-state-');
  const marks = tempDir('apppkg-restart-refused-marks-');
  const imports = join(marks.path, 'imports');
  const token = join(marks.path, 'admin-token');
  writeFileSync(token, 'secret\n', { mode: 0o600 });
  const dir = writePackage(apps.path, 'blog', { 'app.yaml': APP_YAML, 'wsgi.py': SERVES });
  const count = () => (existsSync(imports) ? readFileSync(imports, 'utf8').split('\n').filter(Boolean).length : 0);
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', token, '--state-dir', state.path, ...oneWorkerEach(state.path), '--settle', '0.3', '--watch-interval', '0.2', '--access-log', 'off']);
    const running = gw;
    // Each import from now on is counted (outside its directory), rewrites a file inside it (a
    // cache, a log the app keeps there), then fails.
    writeFileSync(join(dir, 'wsgi.py'), `import os, time\nwith open(${JSON.stringify(imports)}, "a") as f:\n    f.write("import\\n")\nwith open(os.path.join(os.path.dirname(__file__), "last-try.txt"), "w") as f:\n    f.write(repr(time.time()))\nraise RuntimeError("the database is not configured")\n`);
    const restarted = await runCli(['restart', 'blog', '--admin', new URL(running.adminUrl!).host, '--admin-token', token], { ms: 60_000 });
    assert.is.not(restarted.status, 0, restarted.stdout + restarted.stderr);
    await waitFor(() => count() >= 1 && /RuntimeError: the database is not configured/.test(running.output()), 20_000, () => `the restart to be refused (${count()} imports)\n${running.output()}`);
    // Many of the watcher's looks (0.2 s), and each try takes well under this: a loop would be
    // several tries in. One more try is allowed: its files did change during the restart.
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok(count() <= 2, `${count()} imports after one restart\n${running.output()}`);
    // A fix still restarts it: what it wrote is no longer taken for a change, a real one is.
    writeFileSync(join(dir, 'wsgi.py'), SERVES);
    await waitFor(() => /blog: .* restarted/.test(running.output()), 20_000, () => `the fixed version to restart\n${running.output()}`);
  } finally {
    await gw?.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
});

test.run();
