// An app's log rotated by size while the gateway runs (app.log -> app.log.1 .. app.log.5, at
// 10 MB: README "rotated at 10 MB (5 kept)"), through the real CLI: a gateway whose app prints
// what it is asked to, and `logs NAME -f` following it across each rotation. The rotation point
// is lowered to 4 KiB for the test alone (APPPKG_TEST_APP_LOG_ROTATE_BYTES, src/log/app-log.ts):
// at its real 10 MB, an app writes at 1 MiB/s at most (output-throttle.ts), 10 s a rotation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, BIN, ROOT, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('an app log rotated by size, followed by logs -f');
const work = tempDir('apppkg-log-rotation-');
const TOKEN = 'test-token-9d41c07b2e6a';
const tokenFile = join(work.path, 'admin-token');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const ROTATE_AT = 4096;
const KEPT = 5;
const appLog = join(state, 'apps', 'blog', 'log', 'app.log');
let gw: RunningGateway | null = null;
let follower: ChildProcess | null = null;
const pids = new Set<number>();

/** Prints each /say/TEXT to stdout. */
const APP = `def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/say/"):
        print(path[5:], flush=True)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
`;

test.before(async () => {
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  writePackage(apps, 'blog', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': APP });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state, '--access-log', 'off'], {
    env: { APPPKG_TEST_APP_LOG_ROTATE_BYTES: String(ROTATE_AT) },
    ms: 60_000,
  });
});

test.after(async () => {
  try {
    if (follower !== null && follower.exitCode === null && follower.signalCode === null) follower.kill('SIGKILL');
    const code = await gw?.stop();
    await assertNoOrphans([...pids, follower?.pid ?? 0].filter(Boolean), 15_000);
    assert.is(code, 0, 'the gateway stops cleanly');
  } finally {
    work.remove();
  }
});

async function say(text: string): Promise<void> {
  const res = await request(`${gw!.url}/blog/say/${text}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  assert.is(res.statusCode, 200, `GET /blog/say/${text}`);
  await res.body.dump();
}

async function workerPids(): Promise<void> {
  const res = await request(`${gw!.adminUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` }, headersTimeout: 5000, bodyTimeout: 5000 });
  const status = (await res.body.json()) as { apps: Array<{ workers: Array<{ pid: number | null }> }> };
  for (const app of status.apps) for (const w of app.workers) if (w.pid) pids.add(w.pid);
}

const rotated = (n: number) => `${appLog}.${n}`;

test('logs NAME -f across size rotations of app.log: every line once, in order; each file at most the rotation size, five kept', async () => {
  await say('before-following');
  await workerPids();
  const out = { stdout: '', stderr: '' };
  follower = spawn(BIN, ['logs', 'blog', '-f', '--lines', '0', '--admin', new URL(gw!.adminUrl!).host, '--admin-token', tokenFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  follower.stdout!.on('data', (c) => (out.stdout += c));
  follower.stderr!.on('data', (c) => (out.stderr += c));
  const exited = new Promise<void>((resolve) => follower!.once('exit', () => resolve()));
  // `--lines 0` follows from the end as the follower finds it: lines until it shows one are before it.
  let warmup = 0;
  await waitFor(async () => {
    await say(`warmup-${++warmup}`);
    return /^warmup-\d+$/m.test(out.stdout) || undefined;
  }, 20_000, () => `logs -f to follow: ${out.stdout}${out.stderr}`);
  const said: string[] = [];
  // Batches under the rotation size, each waited for: the log crosses at most one rotation
  // point between two looks of the follower, as under the real size and the output's rate.
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 30; i++) {
      const line = `seq-${String(batch * 30 + i).padStart(4, '0')}-${'x'.repeat(90)}`;
      said.push(line);
      await say(line);
    }
    const last = said[said.length - 1];
    await waitFor(() => out.stdout.includes(last) || undefined, 20_000, () => `${last} through logs -f; it printed:\n${out.stdout}${out.stderr}`);
  }
  assert.is(follower.exitCode, null, 'logs -f still follows');
  const seen = out.stdout.split('\n').filter((l) => l.startsWith('seq-'));
  assert.equal(seen, said, 'each line once, in order');
  assert.is(out.stderr, '');
  // ~31 KB written at 4 KiB a file: rotated seven times or more, five generations kept.
  for (const file of [appLog, ...Array.from({ length: KEPT }, (_, i) => rotated(i + 1))]) {
    assert.ok(existsSync(file), `${file} exists`);
    assert.ok(statSync(file).size <= ROTATE_AT, `${file}: ${statSync(file).size} bytes, at most ${ROTATE_AT}`);
  }
  assert.not.ok(existsSync(rotated(KEPT + 1)), `no ${rotated(KEPT + 1)}: ${KEPT} kept`);
  assert.match(readFileSync(appLog, 'utf8'), `${said[said.length - 1]}\n`);
  // The oldest kept file holds lines of this run, not the first ones (rotated out).
  assert.not.match(readFileSync(rotated(KEPT), 'utf8'), said[0]);
  // `logs` without -f: the last lines, from the file written now.
  const last = await runCli(['logs', 'blog', '--lines', '2', '--admin', new URL(gw!.adminUrl!).host, '--admin-token', tokenFile], { ms: 30_000 });
  assert.is(last.status, 0, last.stderr);
  assert.equal(last.stdout.trim().split('\n'), said.slice(-2));
  follower.kill('SIGTERM');
  await within(5000, 'logs -f to exit', exited);
});

test.run();
