// `check` of an ASGI app says what its lifespan answered, not that the app's startup ran:
// Debian bookworm's FastAPI 0.92 keeps `FastAPI(lifespan=...)` as an unknown keyword (lifespan=
// came in 0.93) and answers startup `complete` with the function never run. check warns of
// that, through the real CLI on Debian's python3-fastapi, and stays quiet for on_startup=; a
// worker of serve (and --apps) says it in the app's output as it starts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

// Debian's FastAPI before 0.93, the one that ignores lifespan= (0.93 and later run it).
const OLD_FASTAPI = spawnSync('/usr/bin/python3', ['-c', 'import fastapi, sys; sys.exit(0 if tuple(int(p) for p in fastapi.__version__.split(".")[:2]) < (0, 93) else 1)'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const test = suite('check and an ignored lifespan');
const ifOld = runIf(test, OLD_FASTAPI, 'needs python3-fastapi before 0.93 (Debian bookworm\'s 0.92)');
const apps = tempDir('apppkg-check-lifespan-apps-');
const state = tempDir('apppkg-check-lifespan-state-');
test.after(() => {
  apps.remove();
  state.remove();
});

// A mark the startup code leaves beside the app: check shows no output of the app's.
const RAN = "open(os.path.join(os.path.dirname(__file__), 'ran'), 'w').close()";
const APP_YAML = 'platform: python, asgi\ndeb: python3-fastapi\napp: main:app\n';

ifOld('FastAPI 0.92 given lifespan=: check warns that the function never ran, and claims no lifespan of the app\'s', async () => {
  const dir = writePackage(apps.path, 'ignored', {
    'app.yaml': APP_YAML,
    'main.py': `import os\nfrom contextlib import asynccontextmanager\nfrom fastapi import FastAPI\n\n\n@asynccontextmanager\nasync def lifespan(app):\n    ${RAN}\n    yield\n\napp = FastAPI(lifespan=lifespan)\n`,
  });
  const r = await runCli(['check', dir, '--state-dir', state.path], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  // What the warning says: the function never ran (it would have left its mark).
  assert.not.ok(existsSync(join(dir, 'ran')), 'the lifespan function ran');
  assert.match(r.stdout, /ok\s+app\s+main:app imports and is callable \(FastAPI, Python [\d.]+\); it answered lifespan startup and shutdown \(complete\)\n/);
  assert.match(r.stdout, /ok\s+app\s+\S+app\.yaml:3:\d+: WARNING: main:app is FastAPI 0\.\d+\.\d+, which takes no lifespan= \(FastAPI reads it from 0\.93; [^)]*\): the function given as lifespan= did not run at this startup, nor will it under the gateway\. Give its startup and shutdown as on_startup=\[\.\.\.\] and on_shutdown=\[\.\.\.\], or use FastAPI 0\.93 or later/);
});

ifOld('serve says it too, once, in the app\'s output at the start of its workers: under the gateway nothing else would', async () => {
  const dir = writePackage(apps.path, 'served', {
    'app.yaml': APP_YAML,
    'main.py': `import os\nfrom contextlib import asynccontextmanager\nfrom fastapi import FastAPI\n\n\n@asynccontextmanager\nasync def lifespan(app):\n    ${RAN}\n    yield\n\napp = FastAPI(lifespan=lifespan)\n`,
  });
  const gw = await startCli(['serve', dir, '--port', '0', '--workers', '3', '--state-dir', state.path], { ms: 60_000 });
  const warning = /main:app: WARNING: FastAPI 0\.\d+\.\d+ takes no lifespan= \(FastAPI reads it from 0\.93\): the function given as lifespan= did not run at this startup; give its startup and shutdown as on_startup=\[\.\.\.\] and on_shutdown=\[\.\.\.\], or use FastAPI 0\.93 or later/;
  try {
    await waitFor(() => warning.test(gw.output()), 10_000, 'the warning in serve\'s output');
    assert.not.ok(existsSync(join(dir, 'ran')), 'the lifespan function ran');
    // Said once for the app, not once a worker: all three are up when serve says it listens.
    await waitFor(() => gw.output().includes('listening on'), 60_000, 'the three workers to be ready');
    assert.is(gw.output().match(new RegExp(warning.source, 'g'))?.length, 1, gw.output());
  } finally {
    assert.is(await gw.stop(), 0);
  }
});

ifOld('FastAPI 0.92 with on_startup=: its startup runs, and check has nothing to warn of', async () => {
  const dir = writePackage(apps.path, 'startup', {
    'app.yaml': APP_YAML,
    'main.py': `import os\nfrom fastapi import FastAPI\n\n\ndef started():\n    ${RAN}\n\napp = FastAPI(on_startup=[started])\n`,
  });
  const r = await runCli(['check', dir, '--state-dir', state.path], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(existsSync(join(dir, 'ran')), 'check ran the startup handler');
  assert.match(r.stdout, /; it answered lifespan startup and shutdown \(complete\)\n/);
  assert.not.match(r.stdout, /WARNING/);
});

test.run();
