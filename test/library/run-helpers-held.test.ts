// AppPackage.run (SPEC 5.7) in the same process as a running Gateway.start: the gateway prunes
// an app's run-helper directories no version of its own uses (supervisor/prune-run-helpers.ts),
// and a hold left by its own process counts for nothing there (its own starts hold theirs too).
// A run the library began before the gateway, with another configuration of the app, lost its
// directory at the first prune; a command this process runs keeps it while it runs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AppPackage, Gateway } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor } from '../helpers/process.js';

const test = suite('AppPackage.run beside Gateway.start: run helpers');
const work = tempDir('apppkg-lib-run-helpers-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const runRoot = join(state, 'apps', 'blog', 'run');
let gateway: Gateway | null = null;

const APP = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';
const blog = (parent: string, version: string): void => {
  writePackage(parent, `blog.${version}`, { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': APP });
};

test.after(() => stopGatewayAndWork(gateway, work));

/** The versions the helper directories other than `except` are for. */
const versionsBut = (except: string): string[] =>
  readdirSync(runRoot)
    .filter((d) => join(runRoot, d) !== except)
    .map((d) => JSON.parse(readFileSync(join(runRoot, d, 'description.json'), 'utf8')).description.version);

test('a run begun before the gateway, with another version of the app, keeps its helpers while it runs', async () => {
  const runs = join(work.path, 'runs');
  blog(runs, '1.0');
  blog(apps, '1.2');
  let out = '';
  const output = new Writable({ write: (chunk, _encoding, done) => ((out += chunk), done()) });
  const pkg = await AppPackage.open(join(runs, 'blog.1.0'), { stateDir: state });
  const ran = pkg.run(['sh', '-c', 'dirname "$APPPKG_DESCRIPTION"; while [ ! -e go ]; do sleep 0.02; done; test -f "$APPPKG_DESCRIPTION" && echo kept || echo removed'], { output });
  const helperDir = await waitFor(() => /^(\/.*)\n/.exec(out)?.[1], 30_000, 'the run\'s helper directory');
  // An hour old, as a run begun long before the gateway.
  utimesSync(helperDir, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));

  const go = (): void => writeFileSync(join(runs, 'blog.1.0', 'go'), '');
  try {
    gateway = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, stateDir: state, watchIntervalMs: 0, say: () => {} });
    blog(apps, '1.3');
    await gateway.rescan();
    // 1.2's helpers pruned: a prune has run since 1.3 serves.
    await waitFor(() => versionsBut(helperDir).every((v) => v === '1.3'), 20_000, () => `only 1.3's helpers beside the run's, found ${versionsBut(helperDir).join(', ')}`);
    assert.ok(existsSync(helperDir), 'the helpers of the run still running stay');
  } finally {
    go(); // else the run, and this process, wait for good
  }
  assert.is(await ran, 0);
  assert.is(out.split('\n')[1], 'kept');
});

test.run();
