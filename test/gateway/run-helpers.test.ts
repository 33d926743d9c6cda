// The run helpers of an app (STATE/apps/NAME/run/<hash>, one per configuration it was started
// with: app-env.ts) are pruned once no version uses them (supervisor/prune-run-helpers.ts):
// deploys and edits of app.yaml leave only the serving version's, whose restarted worker still
// finds its own; one written since the gateway started by someone else (a `run` beside it) stays,
// and so does one a `run` begun before the gateway still holds (environment/run-helper-holds.ts).
// Driven through the real CLI, a real Python app and real requests.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { BIN, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('run helpers pruned');

const dir = tempDir('apppkg-run-helpers-');
const apps = join(dir.path, 'apps');
const runRoot = join(dir.path, 'state', 'apps', 'blog', 'run');
let gw: RunningGateway | null = null;
const runs: ChildProcess[] = [];

test.after(async () => {
  // A failed test's run still waits for its line.
  for (const run of runs) if (run.exitCode === null && run.signalCode === null) run.kill('SIGTERM');
  await stopGatewayChecked(gw, dir);
});

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

/** `apppkg-gateway run` of blog 1.0 with a PATH of its own (so helpers of their own); prints its helper directory, then waits for a line. */
function startRun(): { child: ChildProcess; out: () => string } {
  const child = spawn(BIN, ['run', join(apps, 'blog.1.0'), '--state-dir', join(dir.path, 'state'), '--', 'sh', '-c',
    'dirname "$APPPKG_DESCRIPTION"; read line; test -f "$APPPKG_DESCRIPTION" && echo kept || echo removed'], {
    env: { ...process.env, PATH: `${process.env.PATH}:${join(dir.path, 'bin')}` },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  runs.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  return { child, out: () => out };
}

test('a run begun before the gateway keeps its helpers while it runs, and only then', async () => {
  await stopGatewayChecked(gw);
  gw = null;
  const held = startRun();
  const killed = startRun();
  const helperDir = await waitFor(() => /^(\/.*)\n/.exec(held.out())?.[1], 30_000, 'the run\'s helper directory');
  await waitFor(() => killed.out().includes('\n'), 30_000, 'the second run started');
  // An hour old, as a run begun long before the gateway; the other run was killed with -9.
  utimesSync(helperDir, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  killed.child.kill('SIGKILL');
  await once(killed.child, 'exit');

  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'),
    '--environment', join(dir.path, 'environment.yaml'), '--watch-interval', '0', '--settle', '0', '--access-log', 'off'], { ms: 60_000 });
  await serving('1.2');
  blog('1.3');
  gw.child.kill('SIGHUP');
  await serving('1.3');
  const others = () => readdirSync(runRoot).filter((d) => join(runRoot, d) !== helperDir);
  await waitFor(() => others().every((d) => JSON.parse(readFileSync(join(runRoot, d, 'description.json'), 'utf8')).description.version === '1.3'), 10_000, 'the old versions\' helpers pruned');
  assert.ok(existsSync(helperDir), 'the helpers of the run still running stay');
  held.child.stdin!.end('go\n');
  const [status] = await once(held.child, 'exit');
  assert.equal(held.out().split('\n')[1], 'kept');
  assert.equal(status, 0);

  // Its process gone, nothing holds it: not the killed run's hold, nor one naming a pid now another process's.
  writeFileSync(join(helperDir, 'holds', `${process.pid}-1`), '');
  blog('1.4');
  gw.child.kill('SIGHUP');
  await serving('1.4');
  await waitFor(() => !existsSync(helperDir), 10_000, 'the run\'s helpers pruned once it ended');
});

test.run();
