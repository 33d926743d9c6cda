// The run helpers of an app (STATE/apps/NAME/run/<hash>, one per configuration it was started
// with: app-env.ts) are pruned once no version uses them (supervisor/prune-run-helpers.ts):
// deploys and edits of app.yaml leave only the serving version's, whose restarted worker still
// finds its own; one written since the gateway started by someone else (a `run` beside it) stays.
// Driven through the real CLI, a real Python app and real requests.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('run helpers pruned');

const dir = tempDir('apppkg-run-helpers-');
const apps = join(dir.path, 'apps');
const runRoot = join(dir.path, 'state', 'apps', 'blog', 'run');
let gw: RunningGateway | null = null;

test.after(() => stopGatewayChecked(gw, dir));

/** Answers with the version its process's description.json (APPPKG_DESCRIPTION) records, read at each request. */
const APP = `import json, os

def application(environ, start_response):
    with open(os.environ["APPPKG_DESCRIPTION"]) as f:
        body = json.dumps(json.load(f)["description"].get("version")).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
`;

function blog(version: string, note = ''): void {
  writePackage(apps, `blog.${version}`, { 'app.yaml': `platform: python, wsgi\napp: app:application\n${note}`, 'app.py': APP });
}

async function answer(): Promise<{ status: number; body: string }> {
  const res = await request(`${gw!.url}/blog/`);
  return { status: res.statusCode, body: await res.body.text() };
}

/** The versions the helper directories left are for. */
function helperVersions(): string[] {
  return readdirSync(runRoot).map((d) => JSON.parse(readFileSync(join(runRoot, d, 'description.json'), 'utf8')).description.version).sort();
}

/** Resolves once `version` serves and nothing drains. */
async function serving(version: string): Promise<void> {
  await waitFor(async () => {
    const app = await appStatus(gw!, 'blog');
    return app?.version === version && app.workers.every((w: { state: string }) => w.state === 'ready') && (await answer()).body === `"${version}"`;
  }, 30_000, `blog ${version} serving alone`);
}

test('deploys and edits leave the serving version\'s helpers only; its restarted worker finds them', async () => {
  blog('1.0');
  // One left by an earlier run of the gateway (an hour old), and one written by a command run beside it.
  const earlier = join(runRoot, '0123456789abcdef');
  const beside = join(runRoot, 'fedcba9876543210');
  const helpers = (d: string) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'description.json'), '{"description": {"version": "other"}}\n');
  };
  helpers(earlier);
  utimesSync(earlier, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  blog:\n    workers: 1\n    drain: 1\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'),
    '--environment', envFile, '--watch-interval', '0', '--settle', '0', '--access-log', 'off'], { ms: 60_000 });
  helpers(beside);
  await serving('1.0');

  blog('1.1');
  gw.child.kill('SIGHUP');
  await serving('1.1');
  blog('1.2');
  gw.child.kill('SIGHUP');
  await serving('1.2');
  writeFileSync(join(apps, 'blog.1.2', 'app.yaml'), 'platform: python, wsgi\napp: app:application\nx-edited: yes\n');
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await appStatus(gw!, 'blog')).history.some((e: { kind: string }) => e.kind === 'restarted'), 30_000, 'the edited app.yaml restarting blog');
  await serving('1.2');
  await waitFor(() => helperVersions().join() === '1.2,other', 10_000, () => `only 1.2's helpers and the one beside, found ${helperVersions()}`);
  assert.equal(readdirSync(runRoot).includes('fedcba9876543210'), true, 'the helpers of a command run beside the gateway stay');

  const [worker] = (await appStatus(gw, 'blog')).workers;
  process.kill(worker.pid, 'SIGKILL');
  await waitFor(async () => (await appStatus(gw!, 'blog')).workers.some((w: { pid: number; state: string }) => w.pid !== worker.pid && w.state === 'ready'), 30_000, 'a restarted worker');
  assert.equal(await answer(), { status: 200, body: '"1.2"' });
});

test.run();
