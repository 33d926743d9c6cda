// A venv build kept for a version still running on it (an `install` beside the gateway switched
// the link to a new build, or a deploy with other requirements) goes once that version has ended
// (registry.ts pruneVenvBuilds). A version that ended with the gateway's stop left it for good:
// the next gateway's versions start on the link's build and never ran on the old one. One that
// drained while the app was being judged (the next deploy's pip running) left it until that
// judging ended. Real CLI, real venv and pip, offline from local wheels and an in-tree backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';
import { inTreeBackend, makeWheel, WSGI } from '../lifecycle/lifecycle-apps.js';

test('the build an install kept for the serving version is removed once that version ends with the gateway; the link\'s stays', async () => {
  const apps = tempDir('apppkg-venv-prune-stop-apps-');
  const state = warmStateDir('apppkg-venv-prune-stop-state-');
  const dir = writePackage(apps.path, 'shop.1.0', { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n', 'wsgi.py': WSGI });
  makeWheel(dir, 'thepkg', '1.0');
  writeFileSync(join(dir, 'requirements.txt'), 'thepkg==1.0\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--access-log', 'off', '--settle', '0'], { ms: 120_000 });
  let stopped = false;
  try {
    await waitFor(async () => (await request(`${gw.url}/shop/`)).statusCode === 200, 120_000, () => `shop to serve\n${gw.output()}`);
    const appState = join(state.path, 'apps', 'shop');
    const serving = readlinkSync(join(appState, 'venv'));
    const r = await runCli(['install', dir, '--rebuild', '--state-dir', state.path], { ms: 120_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /==> the previous venv build \S+ is kept: the app runs on it/);
    const next = readlinkSync(join(appState, 'venv'));
    assert.is.not(next, serving);
    assert.ok(existsSync(join(appState, serving)), 'kept while its version runs');
    await gw.stop();
    stopped = true;
    assert.not.ok(existsSync(join(appState, serving)), `the build its version ran on is left after the version ended:\n${gw.output()}`);
    assert.ok(existsSync(join(appState, next, 'bin', 'python')), 'the build the link leads to, the next start\'s, stays');
  } finally {
    if (!stopped) await gw.stop();
    apps.remove();
    state.remove();
  }
});

/** A WSGI app whose /held request waits (60 s at most) for `release`, having made `started`. */
function holdingApp(started: string, release: string): string {
  return `import os, time
def application(environ, start_response):
    if environ["PATH_INFO"] == "/held":
        open(${JSON.stringify(started)}, "w").close()
        deadline = time.time() + 60
        while not os.path.exists(${JSON.stringify(release)}) and time.time() < deadline:
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [os.path.basename(os.path.dirname(os.path.abspath(__file__))).encode()]
`;
}

test('a build whose last version drains while the next deploy is judged goes at the drain, not when that judging ends', async () => {
  const apps = tempDir('apppkg-venv-prune-judged-apps-');
  const state = warmStateDir('apppkg-venv-prune-judged-state-');
  const marks = tempDir('apppkg-venv-prune-judged-marks-');
  const mark = (name: string) => join(marks.path, name);
  const version = (name: string, requirements: string, extra: (dir: string) => void = () => {}) => {
    const dir = writePackage(apps.path, name, { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n', 'wsgi.py': holdingApp(mark(`started-${name}`), mark(`release-${name}`)) });
    extra(dir);
    writeFileSync(join(dir, 'requirements.txt'), requirements);
    return dir;
  };
  version('shop.1.0', 'thepkg==1.0\n', (dir) => makeWheel(dir, 'thepkg', '1.0'));
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--access-log', 'off', '--settle', '0.3', '--watch-interval', '0.2'], { ms: 120_000 });
  try {
    const body = async (path: string) => (await request(`${gw.url}/shop${path}`)).body.text();
    await waitFor(async () => (await body('/')) === 'shop.1.0', 120_000, () => `shop 1.0 to serve\n${gw.output()}`);
    const appState = join(state.path, 'apps', 'shop');
    const first = readlinkSync(join(appState, 'venv'));
    const held = body('/held').catch((err: unknown) => `failed: ${String(err)}`);
    await waitFor(() => existsSync(mark('started-shop.1.0')), 30_000, 'version 1.0 to hold the request');
    // 2.0, with other requirements, takes over on a new build while 1.0 drains on its own.
    version('shop.2.0', 'thepkg==2.0\n', (dir) => makeWheel(dir, 'thepkg', '2.0'));
    await waitFor(async () => (await body('/')) === 'shop.2.0', 120_000, () => `shop 2.0 to serve\n${gw.output()}`);
    assert.ok(existsSync(join(appState, first)), 'the draining version keeps its build');
    // 3.0's pip builds a source requirement whose backend waits for a mark: the app is judged meanwhile.
    version('shop.3.0', './slowpkg\n', (dir) => {
      mkdirSync(join(dir, 'slowpkg'));
      writeFileSync(join(dir, 'slowpkg', 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "slowbackend"\nbackend-path = ["."]\n');
      writeFileSync(join(dir, 'slowpkg', 'slowbackend.py'), inTreeBackend('slowpkg', `    open(${JSON.stringify(mark('building'))}, 'w').close()\n    import time\n    deadline = time.time() + 60\n    while not os.path.exists(${JSON.stringify(mark('built'))}) and time.time() < deadline:\n        time.sleep(0.05)\n`));
    });
    await waitFor(() => existsSync(mark('building')), 120_000, () => `3.0's pip to build slowpkg\n${gw.output()}`);
    writeFileSync(mark('release-shop.1.0'), '');
    assert.is(await held, 'shop.1.0');
    await waitFor(() => !existsSync(join(appState, first)), 20_000, () => `1.0's build to go once it drained, while 3.0 is judged (${readdirSync(appState).join(', ')})\n${gw.output()}`);
    writeFileSync(mark('built'), '');
    await waitFor(async () => (await body('/')) === 'shop.3.0', 120_000, () => `shop 3.0 to serve\n${gw.output()}`);
  } finally {
    writeFileSync(mark('built'), '');
    await gw.stop();
    apps.remove();
    state.remove();
    marks.remove();
  }
});

test.run();
