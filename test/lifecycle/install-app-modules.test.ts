// An app's own modules named as the standard library's do not run in install's builds: `-m
// venv` ran in the app directory and pip in its requirements file's, each with that directory
// first on sys.path, so an app's venv.py (or ensurepip.py) ran in place of the venv module, and
// its email.py or logging.py in place of what pip imports: the install failed with whatever
// the app's module did. Through the real CLI, as the user running it (root or not).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { inTreeBackend } from './lifecycle-apps.js';


test('an app whose venv.py, ensurepip.py, email.py and logging.py would stop a build installs its requirements', async () => {
  const work = tempDir('apppkg-install-app-modules-');
  try {
    const app = join(work.path, 'modules');
    mkdirSync(join(app, 'ownpkg'), { recursive: true });
    writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
    writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    writeFileSync(join(app, 'requirements.txt'), './ownpkg\n');
    writeFileSync(join(app, 'ownpkg', 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "ownbackend"\nbackend-path = ["."]\n');
    // pip builds it offline, importing email and logging on the way.
    writeFileSync(join(app, 'ownpkg', 'ownbackend.py'), inTreeBackend('ownpkg'));
    for (const module of ['venv', 'ensurepip', 'email', 'logging']) {
      writeFileSync(join(app, `${module}.py`), `raise SystemExit("the app's ${module}.py ran")\n`);
    }
    const state = join(work.path, 'state');
    const install = await runCli(['install', app, '--state-dir', state], { ms: 240_000 });
    const out = install.stdout + install.stderr;
    assert.is(install.status, 0, out);
    assert.not.match(out, /the app's \w+\.py ran/);
    const python = join(state, 'apps', 'modules', 'venv', 'bin', 'python');
    assert.ok(existsSync(python), out);
    const imported = spawnSync(python, ['-c', 'import ownpkg; print(ownpkg.VERSION)'], { cwd: '/', encoding: 'utf8' });
    assert.is(imported.stdout.trim(), '1.0', imported.stderr);
  } finally {
    work.remove();
  }
});

test.run();
